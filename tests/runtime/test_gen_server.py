"""GenServer conformance: otp-catalogue GS01-GS15 and GSO01-GSO14, plus the GenServer
contract details of DESIGN.md §3 and otp-semantics.md §2.

Elixir milliseconds are seconds here (scaled down so the suite stays fast).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from supervision import runtime as rt

from .conftest import eventually, in_process

call = rt.GenServer.call
cast = rt.GenServer.cast
stop = rt.GenServer.stop


# -- helpers ---------------------------------------------------------------------------------


def info(node, pid):
    for i in node.processes():
        if i.pid == pid:
            return i
    raise AssertionError(f"{pid} is not alive")


async def watch(node, pid):
    """A task that resolves to ``pid``'s exit reason, registered before this returns."""
    task = asyncio.ensure_future(node.join(pid))
    await asyncio.sleep(0)
    return task


def crash_records(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("supervision")]


class Stack(rt.GenServer):
    """Elixir's test Stack: pop takes the head, push prepends."""

    async def init(self, items):
        self.items = list(items)

    async def handle_call(self, request, caller):
        if request == "pop":
            return self.items.pop(0)
        if request == "noreply":
            return rt.NoReply()
        if request == "ping":
            return "pong"
        raise ValueError(f"unexpected call {request!r}")

    async def handle_cast(self, request):
        if request[0] == "push":
            self.items.insert(0, request[1])


class Recorder(rt.GenServer):
    """Records every callback in a shared list; behaviour chosen by the request."""

    async def init(self, log, trap=False):
        self.log = log
        if trap:
            rt.trap_exit(True)

    async def handle_call(self, request, caller):
        self.log.append(("call", request))
        if request == "ping":
            return "pong"
        if request == "raise":
            raise ValueError("boom in call")
        if isinstance(request, tuple) and request[0] == "stop":
            return rt.Stop(request[1])
        if isinstance(request, tuple) and request[0] == "stop_reply":
            return rt.Stop(request[1], reply=request[2])
        if isinstance(request, tuple) and request[0] == "block":
            await request[1].wait()
            return "unblocked"
        return request

    async def handle_cast(self, request):
        self.log.append(("cast", request))
        if isinstance(request, tuple) and request[0] == "stop":
            return rt.Stop(request[1])
        if request == "raise":
            raise ValueError("boom in cast")
        if request == "continue_stop":
            return rt.Continue("stop")
        if isinstance(request, tuple) and request[0] == "block":
            await request[1].wait()
        return None

    async def handle_info(self, msg):
        self.log.append(("info", msg))
        if isinstance(msg, tuple) and msg[0] == "stop":
            return rt.Stop(msg[1])
        return None

    async def handle_continue(self, arg):
        self.log.append(("continue", arg))
        if arg == "stop":
            return rt.Stop("continue_stopped")
        return None

    async def terminate(self, reason):
        self.log.append(("terminate", reason))


def terminations(log):
    return [entry for entry in log if entry[0] == "terminate"]


# -- catalogue: gen_server_test.exs --------------------------------------------------------------


async def test_GS01_child_spec_without_options_has_id_start_and_default_fields(node):
    spec = Stack.child_spec(["hello"])
    assert spec == rt.ChildSpec(id=Stack, start=(Stack.start_link, (["hello"],)))
    assert spec.id is Stack
    assert spec.start == (Stack.start_link, (["hello"],))
    # no overrides: the supervisor's defaults (permanent / 5 s / worker)
    assert spec.restart == "permanent"
    assert spec.shutdown is None
    assert spec.shutdown_value == 5.0
    assert spec.type == "worker"
    pid = await spec.start[0](*spec.start[1])
    assert await call(pid, "pop") == "hello"


class CustomStack(Stack):
    restart = "temporary"
    shutdown = "infinity"
    type = "supervisor"


async def test_GS02_child_spec_carries_class_overrides_verbatim(node):
    spec = CustomStack.child_spec(["hello"], name="custom_id")
    assert spec.id == "custom_id"
    assert spec.restart == "temporary"
    assert spec.shutdown == "infinity"
    assert spec.type == "supervisor"
    assert spec.start[0] == CustomStack.start_link
    assert tuple(spec.start[1]) == (["hello"],)
    kwargs = spec.start[2] if len(spec.start) == 3 else {}
    pid = await spec.start[0](*spec.start[1], **kwargs)
    assert node.whereis("custom_id") == pid
    assert await call("custom_id", "pop") == "hello"


@pytest.mark.parametrize("start", ["start_link", "start"])
@pytest.mark.parametrize("bad", [42, ("local", "name"), ("via", "Via", "x"), ["x"], b"bytes", 1.5])
async def test_GS03_invalid_name_raises_type_error_before_any_process_starts(node, start, bad):
    seq = node.events.seq
    count = len(node.processes())
    with pytest.raises(TypeError) as ei:
        await getattr(Stack, start)([], name=bad)
    msg = str(ei.value)
    assert "None" in msg and "str" in msg and "via" in msg  # the allowed forms
    assert repr(bad) in msg  # echoes the bad value
    assert node.events.seq == seq  # no process was ever started
    assert len(node.processes()) == count


async def test_GS04_call_by_local_name_and_by_via_name(node):
    await Stack.start_link(["hello"], name="stack")
    assert await call("stack", "pop") == "hello"

    await rt.Registry.start_link(keys="unique", name="gs04_reg")
    name = rt.via("gs04_reg", "stack")
    await Stack.start_link(["hello"], name=name)
    assert await call(name, "pop") == "hello"


async def test_GS05_start_link_links_caller_and_serves_calls(node):
    async def body():
        me = rt.self_pid()
        pid = await Stack.start_link(["hello"])
        assert pid in info(node, me).links
        assert me in info(node, pid).links
        assert await call(pid, "pop") == "hello"
        assert cast(pid, ("push", "world")) is None
        assert await call(pid, "pop") == "world"
        assert await stop(pid) is None
        assert not node.is_alive(pid)
        return "done"

    assert await in_process(body) == "done"


async def test_GS06_cast_never_fails(node):
    await rt.Registry.start_link(keys="unique", name="gs06_reg")
    dead = await Stack.start([])
    await stop(dead)
    assert cast("not_registered", "hello") is None
    assert cast(rt.via("gs06_reg", "unknown"), "hello") is None
    assert cast(rt.via("no_such_registry", "foo"), "hello") is None  # Python stand-in for {:global, :foo}
    assert cast(dead, "hello") is None
    assert cast(None, "hello") is None


class SelfCaller(rt.GenServer):
    async def handle_call(self, dest, caller):
        if dest == "self":
            dest = rt.self_pid()
        try:
            await call(dest, "pop")
        except rt.CallExit as e:
            return ("exit", e.reason)
        return "no exit"


async def test_GS07_call_to_self_by_name_via_or_pid_exits_calling_self(node):
    await SelfCaller.start_link(name="self_caller")
    assert await call("self_caller", "self_caller") == ("exit", "calling_self")
    assert await call("self_caller", "self") == ("exit", "calling_self")

    await rt.Registry.start_link(keys="unique", name="gs07_reg")
    via = rt.via("gs07_reg", "me")
    pid = await SelfCaller.start_link(name=via)
    assert await call(via, via) == ("exit", "calling_self")
    assert await call(pid, "self") == ("exit", "calling_self")
    assert node.is_alive(pid)


async def test_GS07_call_to_self_from_a_plain_process_exits_calling_self(node):
    async def body():
        with pytest.raises(rt.CallExit) as ei:
            await call(rt.self_pid(), "pop")
        return ei.value.reason

    assert await in_process(body) == "calling_self"


async def test_GS08_call_timeout_leaves_server_alive(node):
    pid = await Stack.start_link([])
    with pytest.raises(rt.CallTimeout):
        await call(pid, "noreply", timeout=0.001)
    assert node.is_alive(pid)
    assert await call(pid, "ping") == "pong"


async def test_GS09_call_to_none_or_stopped_pid_raises_no_process_at_once(node):
    with pytest.raises(rt.NoProcess):
        await asyncio.wait_for(call(None, "pop"), 0.5)
    pid = await Stack.start([])
    await stop(pid)
    with pytest.raises(rt.NoProcess):
        await asyncio.wait_for(call(pid, "pop"), 0.5)
    with pytest.raises(rt.NoProcess):
        await asyncio.wait_for(call("nobody_has_this_name", "pop"), 0.5)


async def test_GS10_name_none_registers_no_name(node):
    pid = await Stack.start_link([], name=None)
    assert info(node, pid).name is None
    assert all(i.name is None for i in node.processes())


async def test_GS11_start_does_not_link(node):
    async def body():
        me = rt.self_pid()
        pid = await Stack.start([])
        assert pid not in info(node, me).links
        assert me not in info(node, pid).links
        return pid

    pid = await in_process(body)
    assert node.is_alive(pid)  # the caller's exit did not touch it


async def test_GS12_whereis(node):
    pid = await Stack.start_link([], name="gs12")
    assert rt.GenServer.whereis("gs12") == pid
    assert rt.GenServer.whereis(pid) == pid
    assert rt.GenServer.whereis("unknown") is None

    await rt.Registry.start_link(keys="unique", name="gs12_reg")
    vpid = await Stack.start_link([], name=rt.via("gs12_reg", "s"))
    assert rt.GenServer.whereis(rt.via("gs12_reg", "s")) == vpid
    assert rt.GenServer.whereis(rt.via("gs12_reg", "unknown")) is None

    await stop(vpid)
    assert rt.GenServer.whereis(vpid) == vpid  # a pid comes back unchanged, no liveness check


async def test_GS13_stop_then_stop_again_and_stop_none_raise_no_process(node):
    pid = await Stack.start([])
    assert await stop(pid, "normal") is None
    assert not node.is_alive(pid)
    with pytest.raises(rt.NoProcess):
        await stop(pid)
    with pytest.raises(rt.NoProcess):
        await stop(None)


class SelfStopper(rt.GenServer):
    async def handle_call(self, request, caller):
        if request == "stop_self":
            try:
                await stop(rt.self_pid())
            except rt.CallExit as e:
                return ("exit", e.reason)
            return "no exit"
        return "pong"


async def test_GS14_stop_self_from_handle_call_is_calling_self(node):
    pid = await SelfStopper.start_link()
    assert await call(pid, "stop_self") == ("exit", "calling_self")
    assert node.is_alive(pid)
    assert await call(pid, "ping") == "pong"


async def test_GS15_stop_by_local_name(node):
    pid = await Stack.start_link([], name="gs15")
    assert await stop("gs15", "normal") is None
    assert not node.is_alive(pid)
    assert node.whereis("gs15") is None


# -- catalogue: gen_server_SUITE.erl (OTP) -------------------------------------------------------


class SlowInit(rt.GenServer):
    async def init(self, seconds, **kwargs):
        self.kwargs = kwargs
        await asyncio.sleep(seconds)

    async def handle_call(self, request, caller):
        return self.kwargs


@pytest.mark.parametrize("start", ["start", "start_link"])
async def test_GSO01_start_timeout_kills_a_slow_init_and_frees_its_name(node, start):
    async def body():
        with pytest.raises(rt.StartError) as ei:
            await getattr(SlowInit, start)(1.0, name="gso01", timeout=0.1)
        assert ei.value.reason == "timeout"
        assert node.whereis("gso01") is None
        assert not any(p.kind == "SlowInit" for p in node.processes())
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):  # unlinked before the kill: no exit signal comes
            await rt.receive(timeout=0)
        return "survived"

    assert await in_process(body, trap=True) == "survived"
    assert await in_process(body) == "survived"  # a non-trapping caller is not killed either


async def test_GSO01_start_within_its_timeout_starts_and_timeout_is_not_passed_to_init(node):
    pid = await SlowInit.start_link(0.01, timeout=1.0, other=1)
    assert await call(pid, "kwargs") == {"other": 1}  # name= and timeout= are reserved
    assert await InitReturns.start(None, timeout=0) is not None  # an init that never waits beats any timeout


class InitReturns(rt.GenServer):
    async def init(self, value):
        return value


async def test_GSO02_init_ignore_and_init_stop(node):
    assert await InitReturns.start(rt.Ignore()) is None
    with pytest.raises(rt.StartError) as ei:
        await InitReturns.start(rt.Stop("stopped"))
    assert ei.value.reason == "stopped"


async def test_GSO03_failed_init_frees_the_name_before_start_returns(node):
    for i in range(100):
        value = rt.Ignore() if i % 2 == 0 else rt.Stop("stopped")
        try:
            res = await InitReturns.start(value, name="gso03")
        except rt.StartError:
            res = "error"
        assert res == (None if i % 2 == 0 else "error")
        assert node.whereis("gso03") is None
    pid = await InitReturns.start(None, name="gso03")
    assert node.whereis("gso03") == pid


async def test_GSO04_name_taken_gives_already_started_then_dead_pid_noproc(node):
    pid1 = await Stack.start([], name="gso04")
    with pytest.raises(rt.AlreadyStarted) as ei:
        await Stack.start([], name="gso04")
    assert ei.value.pid == pid1
    assert await stop(pid1) is None
    with pytest.raises(rt.NoProcess):
        await call(pid1, "ping")


async def test_GSO05_stop_with_other_reason_is_ok_and_named_stop_twice(node):
    async def body():
        pid = await Stack.start([])
        ref = rt.monitor(pid)
        assert await stop(pid, "other_reason", None) is None
        assert not node.is_alive(pid)
        assert await rt.receive(timeout=1) == rt.Down(ref, pid, "other_reason")

        await Stack.start([], name="gso05")
        assert await stop("gso05") is None
        with pytest.raises(rt.NoProcess):
            await stop("gso05")
        return "done"

    assert await in_process(body) == "done"


async def test_GSO06_stop_with_reply_answers_then_linked_caller_gets_exit(node):
    log = []

    async def body():
        pid = await Recorder.start_link(log)
        assert await call(pid, ("stop_reply", "stopped", "ok")) == "ok"
        assert await rt.receive(timeout=1) == rt.Exit(pid, "stopped")
        return "done"

    assert await in_process(body, trap=True) == "done"
    assert terminations(log) == [("terminate", "stopped")]


class ShutdownCaller(rt.GenServer):
    async def handle_call(self, request, caller):
        kind, reason = request
        if kind == "exit":
            rt.exit(reason)
        return rt.Stop(reason)


@pytest.mark.parametrize(
    "request_",
    [
        ("exit", ("shutdown", "reason")),
        ("stop", ("shutdown", "stop_reason")),
        ("exit", "shutdown"),
        ("stop", "shutdown"),
    ],
)
async def test_GSO07_shutdown_reasons_reach_caller_and_link_without_crash_report(node, caplog, request_):
    reason = request_[1]

    async def body():
        pid = await ShutdownCaller.start_link()
        with pytest.raises(rt.CallExit) as ei:
            await call(pid, request_)
        assert ei.value.reason == reason
        assert await rt.receive(timeout=1) == rt.Exit(pid, reason)
        return pid

    with caplog.at_level(logging.DEBUG):
        await in_process(body, trap=True)
    assert crash_records(caplog) == []


class DelayedReplier(rt.GenServer):
    """OTP's {delayed_answer, T}: no reply now, answer from handle_info(timeout)."""

    async def init(self):
        self.reply_to = None

    async def handle_call(self, request, caller):
        if request[0] == "delayed_answer":
            self.reply_to = caller
            return rt.NoReply(timeout=request[1])
        return "pong"

    async def handle_info(self, msg):
        if msg == "timeout" and self.reply_to is not None:
            caller, self.reply_to = self.reply_to, None
            rt.GenServer.reply(caller, "delayed")


async def test_GSO08_deferred_reply_from_handle_info_timeout(node):
    pid = await DelayedReplier.start_link()
    assert await call(pid, ("delayed_answer", 0.001)) == "delayed"


class CallWithin(rt.GenServer):
    async def init(self):
        self.state = None

    async def handle_call(self, request, caller):
        if request[0] == "call_within":
            self.state = "call_within"
            return rt.Reply("ok", timeout=request[1])
        if request == ("next_call",):
            if self.state == "call_within":
                self.state = None
                return "ok"
            return False
        raise ValueError(request)

    async def handle_info(self, msg):
        if msg == "timeout" and self.state == "call_within":
            self.state = None


async def test_GSO09_idle_timeout_after_reply(node):
    pid = await CallWithin.start_link()
    assert await call(pid, ("call_within", 0.1)) == "ok"
    await asyncio.sleep(0.05)
    assert await call(pid, ("next_call",)) == "ok"  # within the window: state untouched
    assert await call(pid, ("call_within", 0.1)) == "ok"
    await asyncio.sleep(0.15)
    assert await call(pid, ("next_call",)) is False  # the timeout fired and reset the state


async def test_GSO10_call_timeout_vs_delayed_answer(node):
    pid = await DelayedReplier.start_link()
    assert await call(pid, ("delayed_answer", 0.001), timeout=0.1) == "delayed"
    with pytest.raises(rt.CallTimeout):
        await call(pid, ("delayed_answer", 0.05), timeout=0.001)
    assert node.is_alive(pid)


class BadCallReturn(rt.GenServer):
    async def init(self, log):
        self.log = log

    async def handle_call(self, request, caller):
        return rt.Ignore()  # not a handle_call form (Elixir's bare :badreturn)

    async def terminate(self, reason):
        self.log.append(("terminate", reason))


async def test_GSO11_bad_return_from_handle_call_exits_caller_with_bad_return_value(node):
    # In Python any plain value is a reply, so the bad return is a runtime marker that
    # handle_call may not return (rt.Ignore()).
    log = []
    pid = await BadCallReturn.start(log)
    with pytest.raises(rt.CallExit) as ei:
        await call(pid, "badreturn")
    reason = ei.value.reason
    assert type(reason) is tuple and reason[0] == "bad_return_value"
    assert isinstance(reason[1], rt.Ignore)
    assert not node.is_alive(pid)
    assert log == [("terminate", reason)]  # an invalid return runs terminate


class CastInfo(rt.GenServer):
    async def init(self):
        self.pending = None

    async def handle_cast(self, request):
        sender, what = request
        if what == "handle_cast":
            rt.send(sender, "handled_cast")
            return None
        if what == "delayed_cast":
            self.pending = (sender, "delayed")
            return rt.NoReply(timeout=0.001)
        raise ValueError(request)

    async def handle_info(self, msg):
        if msg == "timeout":
            sender, answer = self.pending
            self.pending = None
            rt.send(sender, answer)
            return None
        sender, what = msg
        if what == "handle_info":
            rt.send(sender, "handled_info")
            return None
        if what == "delayed_info":
            self.pending = (sender, "delayed_info")
            return rt.NoReply(timeout=0.001)
        raise ValueError(msg)


async def test_GSO12_cast_and_info_with_idle_timeouts(node):
    async def body():
        me = rt.self_pid()
        pid = await CastInfo.start_link()
        assert cast(pid, (me, "handle_cast")) is None
        assert await rt.receive(timeout=1) == "handled_cast"
        cast(pid, (me, "delayed_cast"))
        assert await rt.receive(timeout=1) == "delayed"
        rt.send(pid, (me, "handle_info"))
        assert await rt.receive(timeout=1) == "handled_info"
        rt.send(pid, (me, "delayed_info"))
        assert await rt.receive(timeout=1) == "delayed_info"
        return "done"

    assert await in_process(body) == "done"


class StopsWithSender(rt.GenServer):
    async def handle_cast(self, request):
        return rt.Stop((request, "stopped"))

    async def handle_info(self, msg):
        return rt.Stop((msg, "stopped_info"))

    async def terminate(self, reason):
        sender, what = reason
        rt.send(sender, (rt.self_pid(), what))


async def test_GSO13_terminate_runs_with_stop_reason_from_cast_and_info(node):
    async def body():
        me = rt.self_pid()
        pid = await StopsWithSender.start()
        cast(pid, me)
        assert await rt.receive(timeout=1) == (pid, "stopped")
        pid2 = await StopsWithSender.start()
        rt.send(pid2, me)
        assert await rt.receive(timeout=1) == (pid2, "stopped_info")
        return "done"

    assert await in_process(body) == "done"


class TerminateCrash(rt.GenServer):
    async def handle_call(self, request, caller):
        return rt.Stop("stopped", reply="ok")

    async def terminate(self, reason):
        raise RuntimeError("crash terminate")


async def test_GSO14_terminate_raising_becomes_exit_reason_and_is_logged(node, caplog):
    async def body():
        pid = await TerminateCrash.start_link()
        assert await call(pid, "stop") == "ok"
        msg = await rt.receive(timeout=1)
        assert type(msg) is rt.Exit and msg.pid == pid
        return msg.reason

    with caplog.at_level(logging.DEBUG):
        reason = await in_process(body, trap=True)
    assert isinstance(reason, RuntimeError) and str(reason) == "crash terminate"
    assert crash_records(caplog), "a crash in terminate is logged as an error"


# -- init forms ------------------------------------------------------------------------------


async def test_init_returning_none_starts_the_server(node):
    pid = await InitReturns.start_link(None)
    assert isinstance(pid, rt.Pid) and node.is_alive(pid)


class ContinueInit(rt.GenServer):
    async def init(self, log, gate):
        self.log = log
        self.gate = gate
        return rt.Continue("arg")

    async def handle_continue(self, arg):
        await self.gate.wait()
        self.log.append(("continue", arg))

    async def handle_cast(self, request):
        self.log.append(("cast", request))


async def test_init_continue_returns_before_handle_continue_which_runs_before_the_mailbox(node):
    log = []
    gate = asyncio.Event()
    # start_link must return while handle_continue is still blocked on the gate
    pid = await asyncio.wait_for(ContinueInit.start_link(log, gate), 1)
    assert log == []
    cast(pid, "first")
    await asyncio.sleep(0.01)
    assert log == []
    gate.set()
    await eventually(lambda: len(log) == 2)
    assert log == [("continue", "arg"), ("cast", "first")]


async def test_init_ignore_returns_none_and_process_exits_normal(node):
    async def body():
        assert await InitReturns.start_link(rt.Ignore()) is None
        msg = await rt.receive(timeout=1)
        assert type(msg) is rt.Exit and isinstance(msg.pid, rt.Pid)
        assert msg.reason == "normal"
        assert not node.is_alive(msg.pid)
        return "done"

    assert await in_process(body, trap=True) == "done"


async def test_init_stop_raises_start_error_and_exits_with_the_reason(node):
    async def body():
        with pytest.raises(rt.StartError) as ei:
            await InitReturns.start_link(rt.Stop("bad_thing"))
        assert ei.value.reason == "bad_thing"
        msg = await rt.receive(timeout=1)
        assert type(msg) is rt.Exit and msg.reason == "bad_thing"
        assert not node.is_alive(msg.pid)
        return "done"

    assert await in_process(body, trap=True) == "done"


class InitRaises(rt.GenServer):
    async def init(self, exc):
        raise exc


async def test_init_exception_raises_start_error_carrying_the_exception(node):
    exc = ValueError("init failed")
    with pytest.raises(rt.StartError) as ei:
        await InitRaises.start(exc)
    assert ei.value.reason is exc
    assert node.processes() == []


async def test_init_rt_exit_raises_start_error_with_that_reason(node):
    class InitExits(rt.GenServer):
        async def init(self):
            rt.exit("init_exit")

    with pytest.raises(rt.StartError) as ei:
        await InitExits.start()
    assert ei.value.reason == "init_exit"


@pytest.mark.parametrize("bad", [42, "ok", ("ok", 1), rt.Reply(1), rt.NoReply()])
async def test_init_bad_return_raises_start_error_bad_return_value(node, bad):
    with pytest.raises(rt.StartError) as ei:
        await InitReturns.start(bad)
    assert ei.value.reason == ("bad_return_value", bad)
    assert node.processes() == []


async def test_init_failure_under_start_link_kills_non_trapping_caller(node):
    exc = ValueError("init failed")

    reached = []

    async def caller():
        await asyncio.sleep(0.01)
        try:
            await InitRaises.start_link(exc)
        except rt.StartError:
            pass
        await asyncio.sleep(1)  # not survived: the exit signal kills the caller
        reached.append("survived")

    pid = node.spawn(caller)
    done = await watch(node, pid)
    assert await asyncio.wait_for(done, 0.5) is exc
    assert reached == []


async def test_init_stop_normal_under_start_link_leaves_non_trapping_caller_alive(node):
    async def body():
        with pytest.raises(rt.StartError) as ei:
            await InitReturns.start_link(rt.Stop("normal"))
        assert ei.value.reason == "normal"
        await asyncio.sleep(0.01)
        return "alive"

    assert await in_process(body) == "alive"


async def test_start_link_outside_a_process_links_to_nothing(node):
    pid = await Stack.start_link([])
    i = info(node, pid)
    assert i.links == ()
    assert i.parent is None


async def test_already_started_carries_the_holder_for_local_and_via_names(node):
    holder = await Stack.start_link([], name="taken")
    seq_before = len(node.processes())
    with pytest.raises(rt.AlreadyStarted) as ei:
        await Stack.start_link([], name="taken")
    assert ei.value.pid == holder
    assert len(node.processes()) == seq_before  # the loser is gone

    await rt.Registry.start_link(keys="unique", name="as_reg")
    vholder = await Stack.start_link([], name=rt.via("as_reg", "k"))
    with pytest.raises(rt.AlreadyStarted) as ei:
        await Stack.start([], name=rt.via("as_reg", "k"))
    assert ei.value.pid == vholder


async def test_already_started_does_not_run_init(node):
    log = []

    class CountsInit(rt.GenServer):
        async def init(self):
            log.append("init")

    await CountsInit.start(name="once")
    with pytest.raises(rt.AlreadyStarted):
        await CountsInit.start(name="once")
    assert log == ["init"]


# -- terminate: when it runs and when it does not ----------------------------------------------


@pytest.mark.parametrize(
    "how, reason",
    [
        ("call_stop", "call_stopped"),
        ("cast_stop", "cast_stopped"),
        ("info_stop", "info_stopped"),
        ("continue_stop", "continue_stopped"),
    ],
)
async def test_terminate_runs_when_a_callback_returns_stop(node, how, reason):
    log = []
    pid = await Recorder.start(log)
    done = await watch(node, pid)
    if how == "call_stop":
        with pytest.raises(rt.CallExit):
            await call(pid, ("stop", reason))
    elif how == "cast_stop":
        cast(pid, ("stop", reason))
    elif how == "info_stop":
        rt.send(pid, ("stop", reason))
    else:
        cast(pid, "continue_stop")
    assert await asyncio.wait_for(done, 1) == reason
    assert terminations(log) == [("terminate", reason)]


async def test_terminate_runs_with_the_exception_when_a_callback_raises(node):
    log = []
    pid = await Recorder.start(log)
    with pytest.raises(rt.CallExit) as ei:
        await call(pid, "raise")
    exc = ei.value.reason
    assert isinstance(exc, ValueError)
    assert terminations(log) == [("terminate", exc)]

    log2 = []
    pid2 = await Recorder.start(log2)
    ref_done = await watch(node, pid2)
    cast(pid2, "raise")
    reason = await asyncio.wait_for(ref_done, 1)
    assert isinstance(reason, ValueError)
    assert terminations(log2) == [("terminate", reason)]


async def test_terminate_runs_on_genserver_stop(node):
    log = []
    pid = await Recorder.start(log)
    assert await stop(pid, ("shutdown", "asked")) is None
    assert terminations(log) == [("terminate", ("shutdown", "asked"))]


@pytest.mark.parametrize("reason", ["normal", "shutdown", "crashed"])
async def test_terminate_runs_when_trapping_server_gets_exit_from_its_parent(node, reason):
    log = []
    box = {}

    async def parent():
        box["server"] = await Recorder.start_link(log, trap=True)
        box["done"] = await watch(node, box["server"])
        await asyncio.sleep(0.01)
        rt.exit(reason)

    ppid = node.spawn(parent)
    parent_done = await watch(node, ppid)
    assert await parent_done == reason
    server = box["server"]
    assert await asyncio.wait_for(box["done"], 1) == reason
    assert not node.is_alive(server)
    assert terminations(log) == [("terminate", reason)]


async def test_a_server_started_unlinked_is_its_own_parent_so_its_starters_exit_is_a_message(node):
    # OTP's gen:start(nolink): the starter is not the parent; a trapping server gets its EXIT in
    # handle_info and lives on (otp-semantics §2: terminate is not called for a non-parent's EXIT)
    log = []
    box = {}

    async def starter():
        box["server"] = await Recorder.start(log, trap=True)
        rt.node().exit(box["server"], "shutdown")

    await watch(node, node.spawn(starter))
    server = box["server"]
    await eventually(lambda: log)
    assert node.is_alive(server)
    [(what, msg)] = log
    assert what == "info" and type(msg) is rt.Exit and msg.reason == "shutdown"
    assert terminations(log) == []
    info = next(p for p in node.snapshot().processes if p.pid == server)
    assert info.parent is None
    node.exit(server, "crash-from-outside")  # no sender, and the node is not stopping: a message too
    await eventually(lambda: len(log) == 2)
    assert node.is_alive(server) and log[1] == ("info", rt.Exit(None, "crash-from-outside"))


async def test_the_nodes_stop_is_a_top_level_trapping_servers_parent_exit():
    log = []
    async with rt.Node():
        await Recorder.start_link(log, trap=True)  # from outside any process: the node is its parent
    assert terminations(log) == [("terminate", "shutdown")]


async def test_terminate_runs_after_messages_queued_before_the_parents_exit(node):
    log = []
    box = {}
    gate = asyncio.Event()

    async def parent():
        server = box["server"] = await Recorder.start_link(log, trap=True)
        box["done"] = await watch(node, server)
        cast(server, ("block", gate))  # keeps the server busy so the rest queues up
        rt.send(server, "queued_1")
        cast(server, "queued_2")
        rt.exit("shutdown")

    ppid = node.spawn(parent)
    await eventually(lambda: not node.is_alive(ppid))
    await asyncio.sleep(0.01)
    assert terminations(log) == []  # still busy with the first message
    gate.set()
    assert await asyncio.wait_for(box["done"], 1) == "shutdown"
    assert log == [
        ("cast", ("block", gate)),
        ("info", "queued_1"),
        ("cast", "queued_2"),
        ("terminate", "shutdown"),
    ]


async def test_trapping_server_gets_non_parent_exit_in_handle_info_without_terminate(node):
    log = []
    pid = await Recorder.start(log, trap=True)

    async def other():
        rt.link(pid)
        rt.exit("other_died")

    opid = node.spawn(other)
    await node.join(opid)
    await eventually(lambda: ("info", rt.Exit(opid, "other_died")) in log)
    assert node.is_alive(pid)
    assert terminations(log) == []


@pytest.mark.parametrize("bad", [rt.Stop("init_stop"), 42, ValueError("init raised")])
async def test_terminate_not_called_after_failed_init(node, bad):
    log = []

    class FailsInit(rt.GenServer):
        async def init(self):
            if isinstance(bad, Exception):
                raise bad
            return bad

        async def terminate(self, reason):
            log.append(("terminate", reason))

    with pytest.raises(rt.StartError):
        await FailsInit.start()
    await asyncio.sleep(0.01)
    assert log == []


@pytest.mark.parametrize("trap", [False, True])
async def test_terminate_not_called_when_killed(node, trap):
    log = []
    pid = await Recorder.start(log, trap=trap)
    done = await watch(node, pid)
    node.exit(pid, "kill")
    assert not node.is_alive(pid)
    assert await done == "killed"
    await asyncio.sleep(0.01)
    assert terminations(log) == []


async def test_terminate_not_called_when_non_trapping_server_gets_abnormal_signal(node):
    log = []
    pid = await Recorder.start(log)
    done = await watch(node, pid)
    node.exit(pid, "shutdown")
    assert await done == "shutdown"
    await asyncio.sleep(0.01)
    assert terminations(log) == []


async def test_terminate_not_called_for_kill_while_handling_a_call(node):
    log = []
    gate = asyncio.Event()
    pid = await Recorder.start(log)
    task = asyncio.ensure_future(call(pid, ("block", gate)))
    await eventually(lambda: ("call", ("block", gate)) in log)
    node.exit(pid, "kill")
    with pytest.raises(rt.CallExit) as ei:
        await task
    assert ei.value.reason == "killed"  # the server died mid-call
    gate.set()
    await asyncio.sleep(0.01)
    assert terminations(log) == []


# -- calls and replies ----------------------------------------------------------------------


class Deferred(rt.GenServer):
    async def init(self):
        self.waiting = []

    async def handle_call(self, request, caller):
        if request == "wait":
            self.waiting.append(caller)
            return rt.NoReply()
        if request == "waiting":
            return list(self.waiting)
        if request == "ping":
            return "pong"
        if isinstance(request, tuple) and request[0] == "release":
            caller_, self.waiting = self.waiting[0], self.waiting[1:]
            assert rt.GenServer.reply(caller_, request[1]) is None
            return "released"
        raise ValueError(request)


async def test_deferred_reply_from_another_process(node):
    pid = await Deferred.start_link()
    task = asyncio.ensure_future(call(pid, "wait"))
    await asyncio.sleep(0.01)
    assert not task.done()
    [waiting] = await call(pid, "waiting")

    async def replier():
        assert rt.GenServer.reply(waiting, "from elsewhere") is None

    node.spawn(replier)
    assert await asyncio.wait_for(task, 1) == "from elsewhere"


async def test_late_reply_after_call_timeout_is_dropped_and_never_answers_a_later_call(node):
    async def body():
        pid = await Deferred.start_link()
        with pytest.raises(rt.CallTimeout):
            await call(pid, "wait", timeout=0.01)
        assert node.is_alive(pid)
        # the server now answers the abandoned call
        assert await call(pid, ("release", "late")) == "released"
        assert await call(pid, "ping") == "pong"
        assert info(node, rt.self_pid()).mailbox_len == 0
        with pytest.raises(TimeoutError):
            await rt.receive(timeout=0.01)
        return "done"

    assert await in_process(body) == "done"


async def test_reply_to_a_caller_that_is_gone_does_nothing(node):
    pid = await Deferred.start_link()

    async def caller():
        await call(pid, "wait")

    cpid = node.spawn(caller)
    await asyncio.sleep(0.01)
    node.exit(cpid, "kill")
    assert await call(pid, ("release", "nobody")) == "released"
    assert node.is_alive(pid)


async def test_call_exit_when_the_server_crashes_mid_call(node):
    gate = asyncio.Event()

    class Crashy(rt.GenServer):
        async def handle_call(self, request, caller):
            await gate.wait()
            raise KeyError("mid-call")

    pid = await Crashy.start()
    task = asyncio.ensure_future(call(pid, "go"))
    await asyncio.sleep(0.01)
    gate.set()
    with pytest.raises(rt.CallExit) as ei:
        await asyncio.wait_for(task, 1)
    assert isinstance(ei.value.reason, KeyError)
    assert not node.is_alive(pid)


async def test_call_exit_when_an_exit_signal_ends_the_server_mid_call(node):
    gate = asyncio.Event()
    log = []
    pid = await Recorder.start(log)
    task = asyncio.ensure_future(call(pid, ("block", gate)))
    await asyncio.sleep(0.01)

    async def killer():
        node.exit(pid, ("custom", "reason"))

    node.spawn(killer)
    with pytest.raises(rt.CallExit) as ei:
        await asyncio.wait_for(task, 1)
    assert ei.value.reason == ("custom", "reason")


async def test_stop_from_handle_call_without_reply_gives_call_exit_with_reason(node):
    log = []
    pid = await Recorder.start(log)
    with pytest.raises(rt.CallExit) as ei:
        await call(pid, ("stop", "no_reply_stop"))
    assert ei.value.reason == "no_reply_stop"
    assert not node.is_alive(pid)


async def test_stop_with_reply_runs_terminate_before_the_reply_is_sent(node):
    log = []

    class SlowTerminate(rt.GenServer):
        async def handle_call(self, request, caller):
            return rt.Stop("normal", reply="bye")

        async def terminate(self, reason):
            await asyncio.sleep(0.01)
            log.append(("terminate", reason))

    pid = await SlowTerminate.start()
    assert await call(pid, "stop") == "bye"
    assert log == [("terminate", "normal")]


async def test_stop_past_its_timeout_raises_call_timeout_and_leaves_server_running(node):
    log = []
    gate = asyncio.Event()
    pid = await Recorder.start(log)
    task = asyncio.ensure_future(call(pid, ("block", gate)))
    await asyncio.sleep(0.01)
    with pytest.raises(rt.CallTimeout):
        await stop(pid, "normal", 0.02)
    assert node.is_alive(pid)
    gate.set()
    assert await task == "unblocked"
    assert await call(pid, "ping") == "pong"
    await asyncio.sleep(0.01)
    assert node.is_alive(pid)
    assert terminations(log) == []


async def test_stop_when_terminate_exits_differently_raises_call_exit_with_actual_reason(node):
    class BadTerminate(rt.GenServer):
        async def terminate(self, reason):
            rt.exit("other")

    pid = await BadTerminate.start()
    with pytest.raises(rt.CallExit) as ei:
        await stop(pid)
    assert ei.value.reason == "other"


async def test_call_noproc_for_free_name_and_dead_pid_is_immediate(node):
    with pytest.raises(rt.NoProcess):
        await call("free_name", "x")
    await rt.Registry.start_link(keys="unique", name="np_reg")
    with pytest.raises(rt.NoProcess):
        await call(rt.via("np_reg", "free"), "x")


# -- missing callbacks and bad returns ---------------------------------------------------------


class Bare(rt.GenServer):
    pass


async def test_missing_handle_call_crashes_the_server(node):
    pid = await Bare.start()
    with pytest.raises(rt.CallExit) as ei:
        await call(pid, "hello")
    assert isinstance(ei.value.reason, Exception)
    assert not node.is_alive(pid)


async def test_missing_handle_cast_crashes_the_server(node):
    pid = await Bare.start()
    done = await watch(node, pid)
    cast(pid, "hello")
    reason = await asyncio.wait_for(done, 1)
    assert isinstance(reason, Exception)


async def test_missing_handle_info_drops_the_message(node):
    class OnlyCalls(rt.GenServer):
        async def handle_call(self, request, caller):
            return "pong"

    pid = await OnlyCalls.start()
    rt.send(pid, "unexpected")
    assert await call(pid, "ping") == "pong"
    assert node.is_alive(pid)
    assert info(node, pid).mailbox_len == 0


@pytest.mark.parametrize("where", ["cast", "info"])
async def test_bad_return_from_cast_or_info_crashes_with_bad_return_value_and_runs_terminate(node, where):
    log = []

    class BadReturns(rt.GenServer):
        async def handle_cast(self, request):
            return 42

        async def handle_info(self, msg):
            return 42

        async def terminate(self, reason):
            log.append(("terminate", reason))

    pid = await BadReturns.start()
    done = await watch(node, pid)
    if where == "cast":
        cast(pid, "x")
    else:
        rt.send(pid, "x")
    assert await asyncio.wait_for(done, 1) == ("bad_return_value", 42)
    assert log == [("terminate", ("bad_return_value", 42))]


# -- message handling and idle timeouts --------------------------------------------------------


async def test_messages_are_handled_one_at_a_time_in_arrival_order(node):
    seen = []

    class Ordered(rt.GenServer):
        async def handle_cast(self, request):
            seen.append(("start", request))
            await asyncio.sleep(0)
            seen.append(("end", request))

        async def handle_info(self, msg):
            seen.append(("start", msg))
            await asyncio.sleep(0)
            seen.append(("end", msg))

        async def handle_call(self, request, caller):
            return list(seen)

    pid = await Ordered.start()
    for i in range(5):
        cast(pid, i)
        rt.send(pid, f"m{i}")
    result = await call(pid, "done")
    expected = []
    for i in range(5):
        expected += [("start", i), ("end", i), ("start", f"m{i}"), ("end", f"m{i}")]
    assert result == expected


async def test_reply_with_continue_runs_handle_continue_before_the_next_message(node):
    log = []

    gate = asyncio.Event()

    class ReplyContinue(rt.GenServer):
        async def handle_call(self, request, caller):
            if request == "go":
                await gate.wait()
                return rt.Reply("went", continue_="after_go")
            return list(log)

        async def handle_continue(self, arg):
            log.append(("continue", arg))
            if arg == "after_go":
                return rt.Continue("chained")

        async def handle_cast(self, request):
            log.append(("cast", request))

    pid = await ReplyContinue.start()
    task = asyncio.ensure_future(call(pid, "go"))
    await asyncio.sleep(0.01)
    cast(pid, "queued")  # queued while handle_call("go") is still running
    gate.set()
    assert await task == "went"
    assert await call(pid, "log") == [("continue", "after_go"), ("continue", "chained"), ("cast", "queued")]


class IdleTimer(rt.GenServer):
    async def init(self, log):
        self.log = log

    async def handle_call(self, request, caller):
        self.log.append(("call", request))
        if isinstance(request, tuple) and request[0] == "arm":
            return rt.Reply("armed", timeout=request[1])
        if isinstance(request, tuple) and request[0] == "arm_after":
            await request[1].wait()
            return rt.Reply("armed", timeout=0)
        return "pong"

    async def handle_cast(self, request):
        self.log.append(("cast", request))

    async def handle_info(self, msg):
        self.log.append(("info", msg))


async def test_idle_timeout_delivers_timeout_to_handle_info(node):
    log = []
    pid = await IdleTimer.start(log)
    assert await call(pid, ("arm", 0.02)) == "armed"
    await eventually(lambda: ("info", "timeout") in log, timeout=1)
    await asyncio.sleep(0.05)
    assert log.count(("info", "timeout")) == 1  # it fires once, it does not repeat


async def test_any_message_cancels_the_idle_timeout(node):
    log = []
    pid = await IdleTimer.start(log)
    await call(pid, ("arm", 0.05))
    cast(pid, "interrupt")
    await asyncio.sleep(0.12)
    assert ("info", "timeout") not in log
    assert ("cast", "interrupt") in log


async def test_a_message_already_queued_wins_over_a_zero_idle_timeout(node):
    log = []
    gate = asyncio.Event()
    pid = await IdleTimer.start(log)
    task = asyncio.ensure_future(call(pid, ("arm_after", gate)))
    await asyncio.sleep(0.01)
    cast(pid, "queued")  # queued before the reply arms timeout=0
    gate.set()
    assert await task == "armed"
    await asyncio.sleep(0.05)
    assert ("cast", "queued") in log
    assert ("info", "timeout") not in log


async def test_idle_timeout_rearmed_by_a_later_reply_fires_after_the_last_one(node):
    # Timeline: arm(0.05) at t=0, arm(0.05) again at t~0.02; the first timer is cancelled by
    # the second call, the second one must fire at t~0.07.
    log = []
    pid = await IdleTimer.start(log)
    await call(pid, ("arm", 0.05))
    await asyncio.sleep(0.02)
    await call(pid, ("arm", 0.05))
    await asyncio.sleep(0.15)
    assert log.count(("info", "timeout")) == 1, log


async def test_idle_timeout_is_cancelled_by_a_message_then_rearmed(node):
    log = []
    pid = await IdleTimer.start(log)
    await call(pid, ("arm", 0.05))
    await call(pid, "plain")  # cancels the first timer, arms nothing
    await call(pid, ("arm", 0.05))  # arms a new one
    await asyncio.sleep(0.15)
    assert log.count(("info", "timeout")) == 1, log


class TakesAnyKeywords(rt.GenServer):
    async def init(self, cls=None, link_to=None, parent=None, args=None):
        self.got = (cls, link_to, parent, args)

    async def handle_call(self, request, caller):
        return self.got


async def test_init_keywords_never_clash_with_the_start_functions_own_parameters(node):
    """Only name= and timeout= are reserved; cls, parent and the like reach init, by every start."""
    pid = await TakesAnyKeywords.start_link(cls=1, link_to=2, parent=3, args=4)
    assert await rt.GenServer.call(pid, "got") == (1, 2, 3, 4)
    sup = await rt.DynamicSupervisor.start_link()
    spec = TakesAnyKeywords.child_spec(cls="a", link_to="b", parent="c", args="d")
    child = await rt.DynamicSupervisor.start_child(sup, spec)
    assert await rt.GenServer.call(child, "got") == ("a", "b", "c", "d")


class HasPythonInit(rt.GenServer):
    def __init__(self):
        self.made_in = rt.self_pid()

    async def handle_call(self, request, caller):
        return self.made_in


class PythonInitRaises(rt.GenServer):
    def __init__(self):
        raise ZeroDivisionError("in __init__")


async def test_a_servers_python_init_runs_in_the_new_process_and_its_errors_are_start_errors(node):
    pid = await HasPythonInit.start()
    assert await rt.GenServer.call(pid, "made_in") == pid
    sup = await rt.DynamicSupervisor.start_link()
    child = await rt.DynamicSupervisor.start_child(sup, HasPythonInit)
    assert await rt.GenServer.call(child, "made_in") == child
    before = node.process_count()
    with pytest.raises(rt.StartError) as e:
        await PythonInitRaises.start(name="boom")
    assert isinstance(e.value.reason, ZeroDivisionError)
    assert node.whereis("boom") is None and node.process_count() == before
