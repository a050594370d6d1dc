"""Supervisor conformance: catalogue entries S01..S20 and SO01..SO47 (otp-catalogue.md), plus
the DESIGN.md §3 contract details on restart events, intensity, give-up and ordered shutdown.

Python forms (DESIGN.md §3): `{:ok, pid}` is a Pid, `:ignore` is None, a bad spec or option is
a ValueError raised in the caller, `:already_present` is StartError("already_present"),
`:running` / `:restarting` are SupervisorError, `:not_found` is NotFound, exit `:noproc` is
NoProcess. Timings are in seconds and scaled down where an entry's timing allows it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from supervision import runtime as rt

from .conftest import eventually, in_process

Sup = rt.Supervisor


# -- helpers -----------------------------------------------------------------------------------


async def _loop() -> None:
    """A plain worker: exits with a reason, or crashes, when asked to."""
    while True:
        msg = await rt.receive()
        if type(msg) is tuple and msg[0] == "exit":
            rt.exit(msg[1])
        if msg == "crash":
            raise RuntimeError("crash on request")


async def _trapping_sleeper() -> None:
    """A busy worker that traps exits and never reacts to them."""
    rt.trap_exit(True)
    await asyncio.sleep(3600)


async def start_worker(body: Any = None, *args: Any) -> rt.Pid:
    """A start function: spawn a worker linked to the caller (the supervisor)."""
    return rt.spawn(body or _loop, *args, link=True)


def spec(
    id: Any, restart: str = "permanent", shutdown: Any = None, type: str = "worker", start: Any = None
) -> rt.ChildSpec:
    return rt.ChildSpec(
        id, start=start if start is not None else (start_worker, ()), restart=restart, shutdown=shutdown, type=type
    )


class Starts:
    """A start function that records its calls and the pids it started, failing on chosen calls."""

    def __init__(self, fail: Any = lambda n: False, body: Any = _loop) -> None:
        self.fail = fail
        self.body = body
        self.calls = 0
        self.pids: list[rt.Pid] = []

    async def __call__(self) -> rt.Pid:
        self.calls += 1
        if self.fail(self.calls):
            raise RuntimeError(f"start #{self.calls} failed")
        pid = rt.spawn(self.body, link=True)
        self.pids.append(pid)
        return pid


class Looping:
    """A start function that, while ``fail`` is set, fails after a short delay (a restart loop)."""

    def __init__(self) -> None:
        self.fail = False
        self.calls = 0

    async def __call__(self) -> rt.Pid:
        self.calls += 1
        if self.fail:
            await asyncio.sleep(0.005)
            raise RuntimeError("still failing")
        return rt.spawn(_loop, link=True)


class Stack(rt.GenServer):
    """Elixir's test Stack: pop / push, and a call that stops the server normally."""

    async def init(self, items: Any = ()) -> None:
        self.items = list(items)

    async def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "pop":
            return self.items.pop(0)
        if request == "stop":
            return rt.Stop("normal", reply="ok")
        if request == "arg":
            return self.items
        raise ValueError(request)

    async def handle_cast(self, request: Any) -> None:
        self.items.insert(0, request[1])


class TaskLike(rt.GenServer):
    """The closest Python form of an Elixir Task child: a temporary GenServer."""

    restart = "temporary"

    async def init(self, arg: Any = None) -> None:
        self.arg = arg

    async def handle_call(self, request: Any, caller: Any) -> Any:
        return self.arg


async def rows(sup: Any) -> list[tuple[Any, Any, str]]:
    return [(c.id, c.pid, c.type) for c in await Sup.which_children(sup)]


async def counts(sup: Any) -> tuple[int, int, int, int]:
    c = await Sup.count_children(sup)
    return (c.specs, c.active, c.supervisors, c.workers)


async def pid_of(sup: Any, id: Any) -> Any:
    for c in await Sup.which_children(sup):
        if c.id == id:
            return c.pid
    raise KeyError(id)


async def end_child(node: rt.Node, pid: rt.Pid, how: Any) -> Any:
    """Make a `_loop` child exit: "killed", "crash", or a reason it exits with; returns the reason."""
    if how == "killed":
        node.exit(pid, "kill")
    elif how == "crash":
        node.send(pid, "crash")
    else:
        node.send(pid, ("exit", how))
    return await node.join(pid)


async def recv_exit(pid: Any, timeout: float = 2.0) -> Any:
    """In a trapping process: the reason of the next Exit from ``pid`` (other messages skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msg = await rt.receive(timeout=max(0.0, deadline - loop.time()))
        if type(msg) is rt.Exit and msg.pid == pid:
            return msg.reason


def drain(sub: Any) -> list[rt.Event]:
    out = []
    while (e := sub.get_nowait()) is not None:
        assert type(e) is rt.Event
        out.append(e)
    return out


def exit_reasons(events: list[rt.Event]) -> dict[Any, Any]:
    return {e.pid: e.data["reason"] for e in events if e.kind == "exited"}


def alive_count(node: rt.Node) -> int:
    return len(node.processes())


async def until(coro_fn: Any, timeout: float = 2.0) -> None:
    """Poll an async predicate."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await coro_fn():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


# -- S: Elixir's supervisor_test.exs ----------------------------------------------------------


async def test_S01_supervisor_child_spec_is_a_supervisor_spec_starting_start_link(node):
    class MySup(rt.Supervisor):
        pass

    cs = MySup.child_spec([spec("w")])
    assert cs.id is MySup
    assert cs.type == "supervisor"
    assert cs.restart == "permanent"
    assert cs.start[0] == MySup.start_link
    # The args reach start_link: started under a supervisor, it runs with child "w".
    top = await Sup.start_link([cs])
    [(cid, sub, ctype)] = await rows(top)
    assert (cid, ctype) == (MySup, "supervisor") and isinstance(sub, rt.Pid)
    assert [r[0] for r in await rows(sub)] == ["w"]


async def test_S02_supervisor_subclass_overrides_restart_and_shutdown_type_stays_supervisor(node):
    # `use Supervisor, restart: :temporary, ...` is, in Python, class attributes (as for GenServer).
    class TempSup(rt.Supervisor):
        restart = "temporary"
        shutdown = 7.0

    cs = TempSup.child_spec([])
    assert cs.restart == "temporary"
    assert cs.shutdown == 7.0
    assert cs.type == "supervisor"
    renamed = cs.replace(id="id")
    assert (renamed.id, renamed.restart, renamed.type) == ("id", "temporary", "supervisor")
    assert Sup.child_spec([], name="s1").id == "s1"


async def test_S03_genserver_class_and_class_arg_forms_expand_to_their_child_spec(node):
    # Elixir's Task is not in Python; a temporary GenServer class is the closest form.
    cs = TaskLike.child_spec()
    assert (cs.id, cs.restart, cs.type) == (TaskLike, "temporary", "worker")
    assert cs.start[0] == TaskLike.start_link and tuple(cs.start[1]) == ()
    assert tuple(TaskLike.child_spec("foo").start[1]) == ("foo",)

    sup = await Sup.start_link([TaskLike])
    [info] = await Sup.which_children(sup)
    assert (info.id, info.type, info.restart) == (TaskLike, "worker", "temporary")
    sup2 = await Sup.start_link([(TaskLike, "foo")])
    assert await rt.GenServer.call(await pid_of(sup2, TaskLike), "arg") == "foo"


async def test_S04_child_spec_with_only_id_and_start_keeps_unset_fields_unfilled(node):
    cs = rt.ChildSpec("only_id", start=(start_worker, ()))
    assert cs.replace() == cs
    assert cs.shutdown is None  # the supervisor supplies the default, the spec does not


async def test_S05_child_spec_overrides_are_all_applied(node):
    cs = TaskLike.child_spec().replace(id="x", start=(start_worker, ()), restart="permanent", shutdown="infinity")
    assert (cs.id, cs.start, cs.restart, cs.shutdown) == ("x", (start_worker, ()), "permanent", "infinity")
    sup = await Sup.start_link([cs])
    [info] = await Sup.which_children(sup)
    assert (info.id, info.restart) == ("x", "permanent") and isinstance(info.pid, rt.Pid)


async def test_S06_non_child_values_raise_value_error_naming_them(node):
    # ("a nonexistent module" has no Python counterpart.)
    class NotAServer:
        pass

    before = alive_count(node)
    for bad in (NotAServer, "a plain string"):
        with pytest.raises(ValueError) as e:
            await Sup.start_link([bad])
        assert repr(bad) in str(e.value) or str(bad) in str(e.value)
    assert alive_count(node) == before
    sup = await Sup.start_link([])
    for bad in (NotAServer, "a plain string"):
        with pytest.raises(ValueError):
            await Sup.start_child(sup, bad)
    assert await rows(sup) == []


async def test_S07_default_flags_are_one_for_one_3_restarts_in_5_seconds(node):
    # Elixir's Supervisor.init/2 flag map has no Python form; the start_link defaults are checked
    # by behaviour, with a GenServer class child expanded to its own spec.
    async def body():
        sub = node.events.subscribe()
        sup = await Sup.start_link([Stack, spec("other")])
        infos = {c.id: c for c in await Sup.which_children(sup)}
        assert (infos[Stack].type, infos[Stack].restart) == ("worker", "permanent")
        other = infos["other"].pid
        for _ in range(3):
            node.exit(await pid_of(sup, Stack), "kill")
            assert await pid_of(sup, "other") == other  # one_for_one: the sibling is untouched
        assert node.is_alive(sup)
        node.exit(await pid_of(sup, Stack), "kill")  # the 4th restart within 5 s is fatal
        assert await recv_exit(sup) == "shutdown"
        [gave_up] = [e for e in drain(sub) if e.kind == "gave_up"]
        assert (gave_up.data["max_restarts"], gave_up.data["max_seconds"]) == (3, 5)

    await in_process(body, trap=True)


async def test_S08_one_for_all_with_max_restarts_1_in_2_seconds(node):
    # Elixir's init/2 flags map to start_link options.
    async def body():
        sub = node.events.subscribe()
        sup = await Sup.start_link(
            [(Stack, ["foo"]), spec("other")], strategy="one_for_all", max_restarts=1, max_seconds=2
        )
        stack, other = await pid_of(sup, Stack), await pid_of(sup, "other")
        node.exit(stack, "kill")
        new_other = await pid_of(sup, "other")
        assert new_other != other and isinstance(new_other, rt.Pid)  # one_for_all
        assert await rt.GenServer.call(await pid_of(sup, Stack), "pop") == "foo"
        node.exit(await pid_of(sup, Stack), "kill")  # the 2nd restart exceeds 1
        assert await recv_exit(sup) == "shutdown"
        [gave_up] = [e for e in drain(sub) if e.kind == "gave_up"]
        assert (gave_up.data["max_restarts"], gave_up.data["max_seconds"]) == (1, 2)

    await in_process(body, trap=True)


async def test_S09_strategy_must_be_a_known_strategy(node):
    # In Python `strategy` defaults to "one_for_one" (DESIGN §3), so it cannot be missing;
    # the closest check is that an absent (None) strategy is refused before anything starts.
    before = alive_count(node)
    with pytest.raises(ValueError, match="strategy"):
        await Sup.start_link([], strategy=None)
    assert alive_count(node) == before


async def test_S10_supervisor_named_locally_or_via_a_registry(node):
    await rt.Registry.start_link(keys="unique", name="S10reg")
    await Sup.start_link([], name="S10sup")
    assert await Sup.which_children("S10sup") == []
    await Sup.start_link([], name=rt.via("S10reg", "sup"))
    assert await Sup.which_children(rt.via("S10reg", "sup")) == []


async def test_S11_permanent_named_child_stopped_normally_is_restarted_under_its_name(node):
    sup = await Sup.start_link([Stack.child_spec(["hello"], name="S11stack")])
    old = node.whereis("S11stack")
    assert await rt.GenServer.call("S11stack", "pop") == "hello"
    assert await rt.GenServer.call("S11stack", "stop") == "ok"
    assert await node.join(old) in ("normal", "noproc")
    [(cid, new, _)] = await rows(sup)
    assert cid == "S11stack" and isinstance(new, rt.Pid) and new != old
    assert node.whereis("S11stack") == new
    assert await rt.GenServer.call("S11stack", "pop") == "hello"  # fresh state


async def test_S12_invalid_name_raises_listing_the_allowed_forms(node):
    before = alive_count(node)
    with pytest.raises(TypeError) as e:
        await Sup.start_link([], name=("not", "a", "name"))
    msg = str(e.value)
    assert "str" in msg and "via" in msg and "None" in msg
    assert alive_count(node) == before


async def test_S13_named_child_given_in_the_init_list_is_reachable(node):
    # Module-based `init/1` maps to the children list given to start_link.
    await Sup.start_link([Stack.child_spec(["hello"], name="S13stack")], strategy="one_for_one")
    assert await rt.GenServer.call("S13stack", "pop") == "hello"


async def test_S14_start_child_with_temporary_spec_and_class_arg_form(node):
    sup = await Sup.start_link([])
    p1 = await Sup.start_child(sup, spec("task", restart="temporary"))
    p2 = await Sup.start_child(sup, (TaskLike, "fun"))
    assert isinstance(p1, rt.Pid) and isinstance(p2, rt.Pid)
    assert await rt.GenServer.call(p2, "arg") == "fun"


async def test_S15_start_child_with_invalid_specs_raises_value_error(node):
    sup = await Sup.start_link([])
    bad = [
        {},  # a map spec (missing id): not a ChildSpec
        rt.ChildSpec("a", start=(Stack.start_link,) * 6),  # not (fn, args)
        rt.ChildSpec("b", start=("Task", "foo", "bar")),  # not callable
        spec("c", shutdown=-1),
    ]
    for b in bad:
        with pytest.raises(ValueError):
            await Sup.start_child(sup, b)
    with pytest.raises(ValueError, match="shutdown"):
        await Sup.start_child(sup, spec("c", shutdown=-1))
    assert await rows(sup) == []


async def test_S16_fresh_supervisor_has_no_children(node):
    sup = await Sup.start_link([])
    assert await Sup.which_children(sup) == []
    assert await counts(sup) == (0, 0, 0, 0)


async def test_S17_start_child_lists_the_child_and_counts_it(node):
    sup = await Sup.start_link([])
    pid = await Sup.start_child(sup, (Stack, ["hello"]))
    assert await rows(sup) == [(Stack, pid, "worker")]
    assert await counts(sup) == (1, 1, 0, 1)
    assert await rt.GenServer.call(pid, "pop") == "hello"


async def test_S18_delete_child_of_a_running_child_is_refused(node):
    sup = await Sup.start_link([(Stack, ["hello"])])
    with pytest.raises(rt.SupervisorError) as e:
        await Sup.delete_child(sup, Stack)
    assert e.value.reason == "running"


async def test_S19_terminate_then_restart_child_gives_fresh_state(node):
    sup = await Sup.start_link([(Stack, ["hello"])])
    old = await pid_of(sup, Stack)
    assert await rt.GenServer.call(old, "pop") == "hello"
    assert await Sup.terminate_child(sup, Stack) is None
    new = await Sup.restart_child(sup, Stack)
    assert isinstance(new, rt.Pid) and new != old
    assert await rt.GenServer.call(new, "pop") == "hello"


async def test_S20_terminate_delete_then_stop(node):
    sup = await Sup.start_link([(Stack, ["hello"])])
    assert await Sup.terminate_child(sup, Stack) is None
    assert await Sup.delete_child(sup, Stack) is None
    assert await Sup.stop(sup) is None
    assert not node.is_alive(sup)


# -- SO: erlang/otp supervisor_SUITE ----------------------------------------------------------


class IgnoringSup(rt.Supervisor):
    async def init(self, *args: Any) -> Any:
        return rt.Ignore()


class BadReturnSup(rt.Supervisor):
    async def init(self, *args: Any) -> Any:
        return 42


class RaisingSup(rt.Supervisor):
    async def init(self, *args: Any) -> Any:
        raise KeyError("init failed")


async def test_SO01_init_ignore_gives_none_and_exit_normal(node):
    # A module-based init/1 maps to overriding init in a Supervisor subclass.
    async def body():
        assert await IgnoringSup.start_link([]) is None
        msg = await rt.receive(timeout=1)
        assert type(msg) is rt.Exit and msg.reason == "normal"

    await in_process(body, trap=True)


async def test_SO05_init_errors_give_start_error_with_the_exit_reason(node):
    async def body():
        for cls in (BadReturnSup, RaisingSup):
            with pytest.raises(rt.StartError) as e:
                await cls.start_link([])
            msg = await rt.receive(timeout=1)
            assert type(msg) is rt.Exit
            assert msg.reason == e.value.reason and e.value.reason not in (None, "normal")
        # init raising: the reason is the exception object itself
        assert isinstance(e.value.reason, KeyError)

    await in_process(body, trap=True)


async def test_SO02_ignored_permanent_child_is_kept_without_pid(node):
    sup = await Sup.start_link([])

    async def ignore():
        return None

    assert await Sup.start_child(sup, spec("child1", start=(ignore, ()))) is None
    pid2 = await Sup.start_child(sup, spec("child2"))
    assert await rows(sup) == [("child2", pid2, "worker"), ("child1", None, "worker")]
    assert await counts(sup) == (2, 1, 0, 2)


async def test_SO03_ignored_temporary_child_in_init_list_is_dropped(node):
    async def ignore():
        return None

    sup = await Sup.start_link(
        [spec("child1", restart="temporary", start=(ignore, ())), spec("child2", restart="temporary")]
    )
    [(cid, pid, _)] = await rows(sup)
    assert cid == "child2" and isinstance(pid, rt.Pid)
    assert await counts(sup) == (1, 1, 0, 1)


async def test_SO04_ignored_temporary_child_from_start_child_is_not_kept(node):
    async def ignore():
        return None

    sup = await Sup.start_link([])
    assert await Sup.start_child(sup, spec("child1", restart="temporary", start=(ignore, ()))) is None
    pid2 = await Sup.start_child(sup, spec("child2", restart="temporary"))
    assert await rows(sup) == [("child2", pid2, "worker")]
    assert await counts(sup) == (1, 1, 0, 1)


async def test_SO06_spec_defaults_permanent_worker_and_type_dependent_shutdown(node):
    cs = rt.ChildSpec("c", start=(start_worker, ()))
    assert (cs.restart, cs.type) == ("permanent", "worker")
    assert cs.shutdown is None  # None means 5.0 s for a worker, "infinity" for a supervisor
    assert Sup.child_spec([]).shutdown in (None, "infinity")
    assert Sup.child_spec([]).type == "supervisor"

    # Default worker shutdown is a grace period, not brutal_kill: a trapping child that never
    # exits is still running 0.3 s after terminate_child began.
    sup = await Sup.start_link([spec("c", start=(start_worker, (_trapping_sleeper,)))])
    child = await pid_of(sup, "c")
    term = asyncio.ensure_future(Sup.terminate_child(sup, "c"))
    await asyncio.sleep(0.3)
    assert node.is_alive(child) and not term.done()
    node.exit(child, "kill")
    assert await asyncio.wait_for(term, 1) is None

    # brutal_kill and a supervisor type are accepted
    sup2 = await Sup.start_link(
        [spec("bk", shutdown="brutal_kill"), rt.ChildSpec("s", start=(Sup.start_link, ([],)), type="supervisor")]
    )
    assert await counts(sup2) == (2, 2, 1, 1)


async def test_SO07_init_spec_errors_raise_value_error_before_anything_starts(node):
    with pytest.raises(TypeError):
        rt.ChildSpec(start=(start_worker, ()))  # id is required  # type: ignore[call-arg]
    # (An unknown map key has no Python form: ChildSpec is a fixed dataclass.)
    before = alive_count(node)
    for bad in (
        [spec("child1"), rt.ChildSpec("child2", start=None)],  # missing start
        [spec("child1"), "child4"],  # a bare value
        [spec("child1"), {"id": "child3", "start": (start_worker, ())}],  # a map is not a spec
    ):
        with pytest.raises(ValueError):
            await Sup.start_link(bad)
        assert alive_count(node) == before  # child1 was never started


async def test_SO08_infinity_children_exit_shutdown_when_the_supervisor_is_shut_down(node):
    async def body():
        sub = node.events.subscribe()
        sup = await Sup.start_link(
            [
                rt.ChildSpec("child1", start=(Sup.start_link, ([],)), type="supervisor", shutdown="infinity"),
                spec("child2", shutdown="infinity"),
            ]
        )
        c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
        node.exit(sup, "shutdown")
        assert await recv_exit(sup) == "shutdown"
        reasons = exit_reasons(drain(sub))
        assert reasons[c1] == "shutdown" and reasons[c2] == "shutdown"

    await in_process(body, trap=True)


async def test_SO09_busy_trapping_child_is_killed_after_its_shutdown_time(node):
    # 1000 ms scaled to 0.2 s.
    sub = node.events.subscribe()
    sup = await Sup.start_link(
        [spec("child1", shutdown=0.2), spec("child2", shutdown=0.2, start=(start_worker, (_trapping_sleeper,)))]
    )
    c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
    t0 = time.monotonic()
    await Sup.stop(sup)
    assert time.monotonic() - t0 >= 0.19
    reasons = exit_reasons(drain(sub))
    assert reasons[c1] == "shutdown"
    assert reasons[c2] == "killed"


async def test_SO10_brutal_kill_child_is_killed_and_timed_child_exits_shutdown(node):
    sub = node.events.subscribe()
    sup = await Sup.start_link(
        [
            spec("child1", shutdown=1.0),
            spec("child2", shutdown="brutal_kill", start=(start_worker, (_trapping_sleeper,))),
        ]
    )
    c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
    t0 = time.monotonic()
    await Sup.stop(sup)
    assert time.monotonic() - t0 < 0.5  # brutal_kill does not wait
    reasons = exit_reasons(drain(sub))
    assert (reasons[c1], reasons[c2]) == ("shutdown", "killed")


async def test_SO11_child_api_results_and_errors(node):
    # `{:ok, pid, info}` has no Python form: start/restart return the pid.
    sup = await Sup.start_link([])
    pid = await Sup.start_child(sup, spec("child1"))
    assert isinstance(pid, rt.Pid)
    for op in (Sup.terminate_child, Sup.delete_child, Sup.restart_child):
        with pytest.raises(rt.NotFound):
            await op(sup, "nope")
    for op in (Sup.delete_child, Sup.restart_child):
        with pytest.raises(rt.SupervisorError) as e:
            await op(sup, "child1")
        assert e.value.reason == "running"
    await Sup.terminate_child(sup, "child1")
    new = await Sup.restart_child(sup, "child1")
    assert isinstance(new, rt.Pid) and new != pid


async def test_SO12_terminate_child_keeps_spec_and_repeats_are_ok(node):
    sub = node.events.subscribe()
    sup = await Sup.start_link([spec("child1")])
    c1 = await pid_of(sup, "child1")
    assert await Sup.terminate_child(sup, "child1") is None
    assert not node.is_alive(c1)
    assert exit_reasons(drain(sub))[c1] == "shutdown"
    assert await rows(sup) == [("child1", None, "worker")]
    assert await counts(sup) == (1, 0, 0, 1)
    assert await Sup.terminate_child(sup, "child1") is None


async def test_SO13_deleted_child_is_gone_and_can_be_started_again(node):
    sup = await Sup.start_link([spec("child1")])
    await Sup.terminate_child(sup, "child1")
    assert await Sup.delete_child(sup, "child1") is None
    with pytest.raises(rt.NotFound):
        await Sup.restart_child(sup, "child1")
    assert await rows(sup) == []
    assert await counts(sup) == (0, 0, 0, 0)
    assert isinstance(await Sup.start_child(sup, spec("child1")), rt.Pid)


async def test_SO14_start_child_with_a_running_id_gives_already_started(node):
    sup = await Sup.start_link([spec("child1")])
    pid = await pid_of(sup, "child1")
    with pytest.raises(rt.AlreadyStarted) as e:
        await Sup.start_child(sup, spec("child1"))
    assert e.value.pid == pid


async def test_SO15_start_child_with_a_terminated_id_gives_already_present(node):
    sup = await Sup.start_link([spec("child1")])
    await Sup.terminate_child(sup, "child1")
    with pytest.raises(rt.StartError) as e:
        await Sup.start_child(sup, spec("child1"))
    assert e.value.reason == "already_present"


async def test_SO16_api_on_a_nonexistent_supervisor_raises_no_process(node):
    for call in (
        lambda: Sup.start_child("SO16nosup", spec("c")),
        lambda: Sup.terminate_child("SO16nosup", "c"),
        lambda: Sup.restart_child("SO16nosup", "c"),
        lambda: Sup.delete_child("SO16nosup", "c"),
        lambda: Sup.which_children("SO16nosup"),
        lambda: Sup.count_children("SO16nosup"),
    ):
        with pytest.raises(rt.NoProcess):
            await call()


async def test_SO17_terminate_child_by_pid_is_not_found_and_child_keeps_running(node):
    sup = await Sup.start_link([spec("child1")])
    pid = await pid_of(sup, "child1")
    with pytest.raises(rt.NotFound):
        await Sup.terminate_child(sup, pid)
    assert node.is_alive(pid)
    assert await rows(sup) == [("child1", pid, "worker")]


async def test_SO18_start_child_spec_field_errors_and_valid_shutdowns(node):
    sup = await Sup.start_link([])
    # (The `modules` field does not exist in Python.)
    for bad in (
        spec("a", start=(42, ())),
        spec("b", restart="sometimes"),
        spec("c", shutdown=-10),
        spec("d", type="manager"),
    ):
        with pytest.raises(ValueError):
            await Sup.start_child(sup, bad)
        with pytest.raises(ValueError):  # checked in the caller, before any message is sent
            await Sup.start_child("SO18nosup", bad)
    assert await rows(sup) == []
    for i, sd in enumerate(("infinity", 1.0, 1)):
        assert isinstance(await Sup.start_child(sup, spec(("w", i), shutdown=sd)), rt.Pid)
        s = rt.ChildSpec(("s", i), start=(Sup.start_link, ([],)), type="supervisor", shutdown=sd)
        assert isinstance(await Sup.start_child(sup, s), rt.Pid)
    assert await counts(sup) == (6, 6, 3, 3)


async def test_SO19_duplicate_ids_in_the_init_list_raise_before_anything_starts(node):
    before = alive_count(node)
    with pytest.raises(ValueError, match="duplicate"):
        await Sup.start_link([spec("child1"), spec("child1")])
    assert alive_count(node) == before


async def test_SO20_invalid_supervisor_flags_raise_value_error(node):
    # (An unknown extra flag has no Python form: start_link has fixed keyword arguments.)
    before = alive_count(node)
    for kwargs, word in (
        ({"strategy": "all_for_none"}, "strategy"),
        ({"max_restarts": "infinity"}, "max_restarts"),
        ({"max_restarts": -1}, "max_restarts"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": "infinity"}, "max_seconds"),
        ({"max_seconds": 0.5}, "max_seconds"),  # OTP's period is whole seconds
    ):
        with pytest.raises(ValueError, match=word):
            await Sup.start_link([spec("c")], **kwargs)
    assert alive_count(node) == before


async def test_SO21_permanent_child_exiting_normal_is_restarted(node):
    sup = await Sup.start_link([spec("child1")])
    old = await pid_of(sup, "child1")
    assert await end_child(node, old, "normal") == "normal"
    new = await pid_of(sup, "child1")
    assert isinstance(new, rt.Pid) and new != old
    assert await counts(sup) == (1, 1, 0, 1)


async def test_SO22_transient_child_exiting_normal_is_not_restarted(node):
    sup = await Sup.start_link([spec("child1", restart="transient")])
    await end_child(node, await pid_of(sup, "child1"), "normal")
    assert await rows(sup) == [("child1", None, "worker")]
    assert await counts(sup) == (1, 0, 0, 1)


async def test_SO23_temporary_child_exiting_normal_is_removed(node):
    sup = await Sup.start_link([spec("child1", restart="temporary")])
    await end_child(node, await pid_of(sup, "child1"), "normal")
    assert await rows(sup) == []
    assert await counts(sup) == (0, 0, 0, 0)


async def test_SO24_permanent_child_exiting_shutdown_is_restarted(node):
    sup = await Sup.start_link([spec("child1")])
    p1 = await pid_of(sup, "child1")
    await end_child(node, p1, "shutdown")
    p2 = await pid_of(sup, "child1")
    assert isinstance(p2, rt.Pid) and p2 != p1
    await end_child(node, p2, ("shutdown", "some_info"))
    p3 = await pid_of(sup, "child1")
    assert isinstance(p3, rt.Pid) and p3 not in (p1, p2)


async def test_SO25_transient_child_exiting_shutdown_is_not_restarted(node):
    sup = await Sup.start_link([spec("child1", restart="transient")])
    await end_child(node, await pid_of(sup, "child1"), "shutdown")
    assert await rows(sup) == [("child1", None, "worker")]
    p = await Sup.restart_child(sup, "child1")
    assert isinstance(p, rt.Pid)
    await end_child(node, p, ("shutdown", "some_info"))
    assert await rows(sup) == [("child1", None, "worker")]


async def test_SO26_temporary_child_exiting_shutdown_is_removed_each_time(node):
    sup = await Sup.start_link([spec("child1", restart="temporary")])
    await end_child(node, await pid_of(sup, "child1"), "shutdown")
    assert await rows(sup) == []
    p = await Sup.start_child(sup, spec("child1", restart="temporary"))
    assert isinstance(p, rt.Pid)
    await end_child(node, p, ("shutdown", "some_info"))
    assert await rows(sup) == []


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
async def test_SO27_abnormal_exit_restarts_permanent_and_transient_removes_temporary(node, restart):
    sup = await Sup.start_link([spec("child1", restart=restart)])
    old = await pid_of(sup, "child1")
    assert isinstance(await end_child(node, old, "crash"), RuntimeError)
    if restart == "temporary":
        assert await rows(sup) == []
    else:
        new = await pid_of(sup, "child1")
        assert isinstance(new, rt.Pid) and new != old


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_SO28_temporary_bystander_is_terminated_and_not_restarted(node, strategy):
    sub = node.events.subscribe()
    sup = await Sup.start_link([spec("child1"), spec("child2", restart="temporary")], strategy=strategy)
    c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
    await end_child(node, c1, "normal")
    [(cid, new, _)] = await rows(sup)
    assert cid == "child1" and isinstance(new, rt.Pid) and new != c1
    assert not node.is_alive(c2)
    assert exit_reasons(drain(sub))[c2] == "shutdown"
    assert node.is_alive(sup)


async def test_SO29_crashes_spaced_beyond_the_period_never_exceed_intensity(node, clock):
    sup = await Sup.start_link([spec("child1")], max_restarts=1, max_seconds=1)
    for i in range(4):
        if i:
            clock[0] += 2.1
        node.exit(await pid_of(sup, "child1"), "kill")
        assert isinstance(await pid_of(sup, "child1"), rt.Pid)
    assert node.is_alive(sup)


async def test_intensity_stamps_restarts_in_whole_seconds_as_otp_does(node, clock):
    # otp-semantics §4: crashes 1.3 s apart, at 1000.05 s and 1001.35 s, are stamped 1000 and 1001;
    # 1000 >= 1001 - 1, so both count against a period of 1 s and the second exceeds intensity 1.
    clock[0] = 1000.05

    async def body():
        sup = await Sup.start_link([spec("child1")], max_restarts=1, max_seconds=1)
        node.exit(await pid_of(sup, "child1"), "kill")
        assert isinstance(await pid_of(sup, "child1"), rt.Pid)
        clock[0] = 1001.35
        node.exit(await pid_of(sup, "child1"), "kill")
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO30_one_for_one_restarts_only_the_failed_child_until_intensity(node):
    async def body():
        sup = await Sup.start_link([spec("child1"), spec("child2")], max_restarts=2, max_seconds=3600)
        c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
        node.exit(c1, "kill")
        assert await pid_of(sup, "child2") == c2
        assert len(await rows(sup)) == 2
        assert await counts(sup) == (2, 2, 0, 2)
        node.exit(c2, "kill")
        assert node.is_alive(sup)
        node.exit(await pid_of(sup, "child2"), "kill")  # 3rd restart > 2
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO31_failing_restart_escalates_and_shuts_down_siblings(node):
    async def body():
        starts = Starts(fail=lambda n: n > 1)
        sup = await Sup.start_link(
            [spec("child1", start=(starts, ())), spec("child2")], max_restarts=4, max_seconds=3600
        )
        c2 = await pid_of(sup, "child2")
        rt.link(c2)
        node.exit(await pid_of(sup, "child1"), "kill")
        first = await rt.receive(timeout=2)
        second = await rt.receive(timeout=2)
        assert (first, second) == (rt.Exit(c2, "shutdown"), rt.Exit(sup, "shutdown"))

    await in_process(body, trap=True)


async def test_SO32_one_for_all_restarts_every_child(node):
    async def body():
        sup = await Sup.start_link(
            [spec("child1"), spec("child2")], strategy="one_for_all", max_restarts=2, max_seconds=3600
        )
        c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
        rt.link(c2)
        node.exit(c1, "kill")
        assert await recv_exit(c2) == "shutdown"
        now = await rows(sup)
        assert [r[0] for r in now] == ["child2", "child1"]
        assert all(isinstance(p, rt.Pid) for _, p, _ in now)
        assert not {c1, c2} & {p for _, p, _ in now}
        assert await counts(sup) == (2, 2, 0, 2)
        node.exit(await pid_of(sup, "child1"), "kill")
        assert node.is_alive(sup)
        node.exit(await pid_of(sup, "child2"), "kill")
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO33_one_for_all_failing_restart_escalates(node):
    async def body():
        starts = Starts(fail=lambda n: n > 1)
        sup = await Sup.start_link([spec("child1"), spec("child2", start=(starts, ()))], strategy="one_for_all")
        c2 = await pid_of(sup, "child2")
        rt.link(c2)
        node.exit(await pid_of(sup, "child1"), "kill")
        assert await rt.receive(timeout=2) == rt.Exit(c2, "shutdown")
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO34_one_for_all_retry_terminates_already_restarted_children_again(node):
    sub = node.events.subscribe()
    s1 = Starts()
    s2 = Starts(fail=lambda n: n == 2)  # the first restart of child2 fails once
    sup = await Sup.start_link(
        [spec("child1", start=(s1, ())), spec("child2", start=(s2, ()))],
        strategy="one_for_all",
        max_restarts=3,
        max_seconds=3600,
    )
    node.exit(s1.pids[0], "kill")
    await until(lambda: _all_running(sup))
    assert s1.calls == 3 and s2.calls == 3
    assert exit_reasons(drain(sub))[s1.pids[1]] == "shutdown"  # the restarted child1, stopped again
    assert await rows(sup) == [("child2", s2.pids[-1], "worker"), ("child1", s1.pids[-1], "worker")]
    assert node.is_alive(s1.pids[-1]) and node.is_alive(s2.pids[-1])


async def _all_running(sup: Any) -> bool:
    return all(isinstance(p, rt.Pid) for _, p, _ in await rows(sup))


async def test_SO35_rest_for_one_restarts_failed_child_and_later_ones(node):
    sup = await Sup.start_link([spec("child1"), spec("child2"), spec("child3")], strategy="rest_for_one")
    c1, c2, c3 = [await pid_of(sup, i) for i in ("child1", "child2", "child3")]
    node.exit(c2, "kill")
    assert await node.join(c3) in ("shutdown", "noproc")
    assert not node.is_alive(c3)
    now = await rows(sup)
    assert [r[0] for r in now] == ["child3", "child2", "child1"]
    d = {i: p for i, p, _ in now}
    assert d["child1"] == c1
    assert isinstance(d["child2"], rt.Pid) and d["child2"] != c2
    assert isinstance(d["child3"], rt.Pid) and d["child3"] != c3
    assert await counts(sup) == (3, 3, 0, 3)


async def test_SO36_rest_for_one_gives_up_past_intensity(node):
    async def body():
        sup = await Sup.start_link(
            [spec("child1"), spec("child2"), spec("child3")], strategy="rest_for_one", max_restarts=2, max_seconds=3600
        )
        node.exit(await pid_of(sup, "child2"), "kill")
        node.exit(await pid_of(sup, "child3"), "kill")
        assert node.is_alive(sup)
        node.exit(await pid_of(sup, "child2"), "kill")
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO37_rest_for_one_failing_restart_escalates(node):
    async def body():
        starts = Starts(fail=lambda n: n > 1)
        sup = await Sup.start_link([spec("child1"), spec("child2", start=(starts, ()))], strategy="rest_for_one")
        c2 = await pid_of(sup, "child2")
        rt.link(c2)
        node.exit(await pid_of(sup, "child1"), "kill")
        assert await rt.receive(timeout=2) == rt.Exit(c2, "shutdown")
        assert await recv_exit(sup) == "shutdown"

    await in_process(body, trap=True)


async def test_SO38_rest_for_one_retry_covers_only_the_failed_child_and_later_ones(node):
    s1 = Starts()
    s2 = Starts(fail=lambda n: n == 2)
    s3 = Starts()
    sup = await Sup.start_link(
        [spec("child1", start=(s1, ())), spec("child2", start=(s2, ())), spec("child3", start=(s3, ()))],
        strategy="rest_for_one",
        max_restarts=3,
        max_seconds=3600,
    )
    node.exit(s1.pids[0], "kill")
    await until(lambda: _all_running(sup))
    assert s1.calls == 2  # child1 restarted once, not again by the retry
    assert s2.calls == 3 and s3.calls == 2
    assert await pid_of(sup, "child1") == s1.pids[1] and node.is_alive(s1.pids[1])


async def test_SO39_child_that_unlinked_itself_cannot_hang_the_supervisor(node):
    async def unlinker(sup_pid: rt.Pid) -> None:
        rt.trap_exit(True)
        rt.unlink(sup_pid)
        await asyncio.sleep(3600)

    async def start_unlinker():
        return rt.spawn(unlinker, rt.self_pid(), link=True)

    sup = await Sup.start_link([spec("child1", shutdown=0.1, start=(start_unlinker, ()))])
    child = await pid_of(sup, "child1")
    await asyncio.wait_for(Sup.terminate_child(sup, "child1"), 2)
    assert not node.is_alive(child)
    node.send(sup, "a stray message")
    await eventually(lambda: next(p for p in node.processes() if p.pid == sup).mailbox_len == 0, timeout=5)
    assert await rows(sup) == [("child1", None, "worker")]


async def _tree(node: rt.Node) -> tuple[Any, ...]:
    child3 = Starts(fail=lambda n: n > 1)  # starts once, every restart fails
    sup1 = rt.ChildSpec(
        "supchild1",
        start=(Sup.start_link, ([spec("child1"), spec("child2")],), {"max_restarts": 4, "max_seconds": 3600}),
        type="supervisor",
    )
    sup2 = rt.ChildSpec(
        "supchild2", start=(Sup.start_link, ([],), {"max_restarts": 4, "max_seconds": 3600}), type="supervisor"
    )
    top = await Sup.start_link([], strategy="one_for_all", max_restarts=4, max_seconds=3600)
    s1 = await Sup.start_child(top, sup1)
    s2 = await Sup.start_child(top, sup2)
    assert await rows(top) == [("supchild2", s2, "supervisor"), ("supchild1", s1, "supervisor")]
    await Sup.start_child(s2, spec("child3", start=(child3, ())))
    await Sup.start_child(s2, spec("child4"))
    return top, s1, s2


async def test_SO40_tree_crash_of_a_grandchild_restarts_only_it(node):
    top, s1, s2 = await _tree(node)
    sup1_children = await rows(s1)
    c3, c4 = await pid_of(s2, "child3"), await pid_of(s2, "child4")
    node.exit(c4, "kill")
    assert await pid_of(s2, "child3") == c3
    new4 = await pid_of(s2, "child4")
    assert isinstance(new4, rt.Pid) and new4 != c4
    assert await rows(s1) == sup1_children
    assert await rows(top) == [("supchild2", s2, "supervisor"), ("supchild1", s1, "supervisor")]
    assert await counts(top) == (2, 2, 2, 0)
    assert await counts(s2) == (2, 2, 0, 2)


async def test_SO41_tree_escalation_restarts_subtrees_from_their_init_specs(node):
    top, s1, s2 = await _tree(node)
    node.exit(await pid_of(s2, "child3"), "kill")  # its restarts fail: sup2 gives up
    assert await node.join(s2) in ("shutdown", "noproc")
    await until(lambda: _all_running(top))
    new1, new2 = await pid_of(top, "supchild1"), await pid_of(top, "supchild2")
    assert new1 != s1 and new2 != s2
    assert not node.is_alive(s1)
    assert [r[0] for r in await rows(new1)] == ["child2", "child1"]
    assert await rows(new2) == []  # children added by start_child are lost
    assert await counts(new2) == (0, 0, 0, 0)


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
@pytest.mark.parametrize("how", ["killed", "normal", "crash", "terminate_child"])
async def test_SO42_temporary_spec_is_never_kept(node, strategy, how):
    sup = await Sup.start_link([spec("child0")], strategy=strategy)
    cs = spec("child1", restart="temporary")
    pid = await Sup.start_child(sup, cs)
    if how == "terminate_child":
        await Sup.terminate_child(sup, "child1")
    else:
        await end_child(node, pid, how)
    assert [r[0] for r in await rows(sup)] == ["child0"]
    again = await Sup.start_child(sup, cs)
    assert isinstance(again, rt.Pid) and again != pid


@pytest.mark.parametrize("how", ["killed", "normal", "crash", "terminate_child"])
async def test_SO43_permanent_spec_is_kept(node, how):
    cs = spec("child1")
    sup = await Sup.start_link([cs])
    pid = await pid_of(sup, "child1")
    if how == "terminate_child":
        await Sup.terminate_child(sup, "child1")
        with pytest.raises(rt.StartError) as e:
            await Sup.start_child(sup, cs)
        assert e.value.reason == "already_present"
        assert isinstance(await Sup.restart_child(sup, "child1"), rt.Pid)
    else:
        await end_child(node, pid, how)
        new = await pid_of(sup, "child1")
        with pytest.raises(rt.AlreadyStarted) as e:
            await Sup.start_child(sup, cs)
        assert e.value.pid == new and new != pid


@pytest.mark.parametrize("how", ["normal", "terminate_child"])
async def test_SO44_transient_spec_is_kept_after_normal_exit_or_terminate(node, how):
    cs = spec("child1", restart="transient")
    sup = await Sup.start_link([cs])
    pid = await pid_of(sup, "child1")
    if how == "terminate_child":
        await Sup.terminate_child(sup, "child1")
    else:
        await end_child(node, pid, "normal")
    with pytest.raises(rt.StartError) as e:
        await Sup.start_child(sup, cs)
    assert e.value.reason == "already_present"
    new = await Sup.restart_child(sup, "child1")
    assert isinstance(new, rt.Pid) and new != pid


async def _restart_loop(node: rt.Node, name: Any = None) -> tuple[Any, Looping, rt.ChildSpec]:
    """A supervisor whose only child keeps failing to restart (intensity high enough to keep looping)."""
    looping = Looping()
    cs = spec("child1", shutdown="brutal_kill", start=(looping, ()))
    sup = await Sup.start_link([cs], max_restarts=100_000, max_seconds=10, name=name)
    looping.fail = True
    node.exit(await pid_of(sup, "child1"), "kill")
    await until(lambda: _is_restarting(sup))
    calls = looping.calls
    await until(lambda: _calls_grew(looping, calls))  # it keeps retrying
    return sup, looping, cs


async def _is_restarting(sup: Any) -> bool:
    return await pid_of(sup, "child1") == "restarting"


async def _calls_grew(looping: Looping, calls: int) -> bool:
    return looping.calls > calls + 1


async def test_SO45_restarting_child_is_reported_and_protected(node):
    # Intensity 8/10 in OTP; here high enough that the loop outlasts the checks.
    sup, _, cs = await _restart_loop(node)
    with pytest.raises(rt.StartError) as e:
        await Sup.start_child(sup, cs)
    assert e.value.reason == "already_present"
    with pytest.raises(rt.SupervisorError) as e2:
        await Sup.restart_child(sup, "child1")
    assert e2.value.reason == "restarting"
    with pytest.raises(rt.SupervisorError) as e3:
        await Sup.delete_child(sup, "child1")
    assert e3.value.reason == "restarting"
    assert await rows(sup) == [("child1", "restarting", "worker")]
    assert await counts(sup) == (1, 0, 0, 1)


async def test_SO46_terminate_child_stops_the_restart_loop(node):
    sup, looping, _ = await _restart_loop(node)
    assert await Sup.terminate_child(sup, "child1") is None
    assert await rows(sup) == [("child1", None, "worker")]
    calls = looping.calls
    await asyncio.sleep(0.05)
    assert looping.calls == calls  # no more retries
    looping.fail = False
    pid = await Sup.restart_child(sup, "child1")
    assert isinstance(pid, rt.Pid) and node.is_alive(pid)


async def test_SO47_supervisor_in_a_restart_loop_stops_promptly_on_shutdown(node):
    async def body():
        sup, _, _ = await _restart_loop(node, name="SO47sup")
        t0 = time.monotonic()
        node.exit(sup, "shutdown")
        assert await recv_exit(sup, timeout=1) == "shutdown"
        assert time.monotonic() - t0 < 1
        assert node.whereis("SO47sup") is None

    await in_process(body, trap=True)


# -- DESIGN.md §3 contract details --------------------------------------------------------------


async def test_restart_events_old_exited_then_new_started_then_restarted(node):
    sub = node.events.subscribe()
    sup = await Sup.start_link([spec("child1")])
    old = await pid_of(sup, "child1")
    node.exit(old, "kill")
    new = await pid_of(sup, "child1")
    evs = drain(sub)
    exited = next(i for i, e in enumerate(evs) if e.kind == "exited" and e.pid == old)
    started = next(i for i, e in enumerate(evs) if e.kind == "started" and e.pid == new)
    restarted = next(i for i, e in enumerate(evs) if e.kind == "restarted")
    assert exited < started < restarted
    r = evs[restarted]
    assert r.pid == sup
    assert (r.data["child_id"], r.data["old_pid"], r.data["new_pid"]) == ("child1", old, new)
    assert evs[exited].data["reason"] == "killed"
    assert evs[started].data["parent"] == sup and evs[started].data["type"] == "worker"
    assert [e.seq for e in evs] == list(range(evs[0].seq, evs[0].seq + len(evs)))


async def test_one_for_all_restarted_events_name_each_childs_old_pid(node):
    sub = node.events.subscribe()
    sup = await Sup.start_link([spec("child1"), spec("child2")], strategy="one_for_all")
    c1, c2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
    node.exit(c1, "kill")
    n1, n2 = await pid_of(sup, "child1"), await pid_of(sup, "child2")
    restarted = {e.data["child_id"]: e.data for e in drain(sub) if e.kind == "restarted"}
    assert (restarted["child1"]["old_pid"], restarted["child1"]["new_pid"]) == (c1, n1)
    assert (restarted["child2"]["old_pid"], restarted["child2"]["new_pid"]) == (c2, n2)


async def test_gave_up_event_precedes_the_supervisors_exit_and_parent_sees_shutdown(node):
    async def body():
        sub = node.events.subscribe()
        sup = await Sup.start_link([spec("child1"), spec("child2")], max_restarts=0, max_seconds=7)
        c2 = await pid_of(sup, "child2")
        node.exit(await pid_of(sup, "child1"), "kill")
        assert await recv_exit(sup) == "shutdown"
        evs = drain(sub)
        gave_up = next(i for i, e in enumerate(evs) if e.kind == "gave_up")
        sup_exit = next(i for i, e in enumerate(evs) if e.kind == "exited" and e.pid == sup)
        c2_exit = next(i for i, e in enumerate(evs) if e.kind == "exited" and e.pid == c2)
        assert gave_up < c2_exit < sup_exit
        g = evs[gave_up]
        assert g.pid == sup
        assert (g.data["max_restarts"], g.data["max_seconds"]) == (0, 7)
        assert "restarts" in g.data
        assert evs[sup_exit].data["reason"] == "shutdown"
        assert not any(e.kind == "restarted" for e in evs)

    await in_process(body, trap=True)


@pytest.mark.parametrize("max_restarts", [1, 3, 5])
async def test_child_whose_restarts_keep_failing_gets_exactly_max_restarts_attempts(node, max_restarts):
    async def body():
        starts = Starts(fail=lambda n: n > 1)
        sup = await Sup.start_link([spec("child1", start=(starts, ()))], max_restarts=max_restarts, max_seconds=3600)
        node.exit(starts.pids[0], "kill")
        assert await recv_exit(sup) == "shutdown"
        assert starts.calls == 1 + max_restarts

    await in_process(body, trap=True)


async def test_start_function_runs_in_the_supervisor_process(node):
    seen = []

    async def start():
        seen.append(rt.self_pid())
        return rt.spawn(_loop, link=True)

    sup = await Sup.start_link([spec("child1", start=(start, ()))])
    assert seen == [sup]
    child = await pid_of(sup, "child1")
    assert child in next(p for p in node.processes() if p.pid == sup).links


async def test_failed_start_in_init_shuts_down_started_children_in_reverse_and_raises(node):
    sub = node.events.subscribe()
    boom = RuntimeError("no")

    async def failing():
        raise boom

    with pytest.raises(rt.StartError) as e:
        await Sup.start_link([spec("a"), spec("b"), spec("c", start=(failing, ())), spec("d")])
    assert e.value.reason == ("shutdown", ("failed_to_start_child", "c", boom))
    evs = drain(sub)
    started = [e.pid for e in evs if e.kind == "started"]
    sup, a, b = started[0], started[1], started[2]
    assert len(started) == 3  # "d" never started
    exits = [(e.pid, e.data["reason"]) for e in evs if e.kind == "exited"]
    assert exits[:2] == [(b, "shutdown"), (a, "shutdown")]
    assert exits[2][0] == sup
    assert not node.is_alive(sup)


async def test_start_child_failure_discards_the_spec(node):
    async def failing():
        raise RuntimeError("no")

    async def bad_value():
        return "not a pid"

    sup = await Sup.start_link([])
    with pytest.raises(rt.StartError):
        await Sup.start_child(sup, spec("c", start=(failing, ())))
    with pytest.raises(rt.StartError) as e:
        await Sup.start_child(sup, spec("c", start=(bad_value, ())))
    assert e.value.reason == "not a pid"
    assert await rows(sup) == []


def _recorder_start(log: list[Any], tag: str) -> tuple[Any, tuple[Any, ...]]:
    async def body() -> None:
        rt.trap_exit(True)
        while True:
            m = await rt.receive()
            if type(m) is rt.Exit:
                log.append(("got", tag, m.pid, m.reason))
                await asyncio.sleep(0.02)
                log.append(("done", tag))
                rt.exit(m.reason)

    return (start_worker, (body,))


async def test_stop_shuts_children_down_one_at_a_time_in_reverse_start_order(node):
    log: list[Any] = []
    sup = await Sup.start_link([spec(t, start=_recorder_start(log, t)) for t in ("c1", "c2", "c3")])
    await Sup.start_child(sup, spec("c4", start=_recorder_start(log, "c4")))
    kids = [await pid_of(sup, t) for t in ("c1", "c2", "c3", "c4")]
    assert await Sup.stop(sup) is None
    # stop returns only after the supervisor and every child have exited
    assert not node.is_alive(sup) and not any(node.is_alive(k) for k in kids)
    order = []
    for t in ("c4", "c3", "c2", "c1"):
        order += [("got", t, sup, "shutdown"), ("done", t)]
    assert log == order  # each child is sent Exit(sup, "shutdown") and finishes before the next


async def test_node_exit_shuts_supervised_children_down_in_reverse_start_order(node):
    log: list[Any] = []
    async with rt.Node() as n2:
        sup = await Sup.start_link([spec(t, start=_recorder_start(log, t)) for t in ("c1", "c2", "c3")])
        assert n2.is_alive(sup)
    assert [x[1] for x in log if x[0] == "got"] == ["c3", "c2", "c1"]


async def test_restart_child_is_not_counted_toward_intensity(node):
    sup = await Sup.start_link([spec("child1")], max_restarts=0)
    for _ in range(3):
        await Sup.terminate_child(sup, "child1")
        assert isinstance(await Sup.restart_child(sup, "child1"), rt.Pid)
    assert node.is_alive(sup)


async def test_exit_from_a_non_child_is_ignored_and_from_the_parent_stops_the_supervisor(node):
    sub = node.events.subscribe()

    async def body():
        sup = await Sup.start_link([spec("child1")])
        child = await pid_of(sup, "child1")

        async def stranger():
            rt.node().exit(sup, "boom")

        await node.join(node.spawn(stranger))
        assert await pid_of(sup, "child1") == child and node.is_alive(sup)
        return sup, child

    sup, child = await in_process(body)  # the parent returns: exits "normal"
    assert await node.join(sup) in ("normal", "noproc")
    reasons = exit_reasons(drain(sub))
    assert reasons[child] == "shutdown" and reasons[sup] == "normal"


async def test_which_children_rows_carry_restart_and_count_children_counts_dead_types(node):
    sup = await Sup.start_link(
        [spec("w", restart="transient"), rt.ChildSpec("s", start=(Sup.start_link, ([],)), type="supervisor")]
    )
    infos = {c.id: c for c in await Sup.which_children(sup)}
    assert (infos["w"].restart, infos["w"].type) == ("transient", "worker")
    assert (infos["s"].restart, infos["s"].type) == ("permanent", "supervisor")
    await Sup.terminate_child(sup, "s")
    assert await counts(sup) == (2, 1, 1, 1)


async def test_a_registry_killed_under_rest_for_one_costs_one_restart_though_its_registrants_die_too(node):
    # The root hears of the registry's death before the greeters' supervisor fails for want of
    # it (its restarts of them cannot register), so one kill is one restart, as in OTP.
    from supervision.greeter import REGISTRY, SUPERVISOR, spawn_greeter, start_app

    root = await start_app()
    for i in range(5):
        await spawn_greeter(f"r{i}", 30)
    old = node.whereis(SUPERVISOR)
    node.exit(node.whereis(REGISTRY), "kill")
    await eventually(lambda: node.whereis(SUPERVISOR) not in (None, old) and node.whereis(REGISTRY) is not None)
    assert (await Sup.stats(root))["restarts_in_window"] == 1
    assert (await rt.DynamicSupervisor.count_children(SUPERVISOR)).active == 0


async def test_supervisors_report_exits_a_restart_follows_and_temporary_crashes_as_otp(node, caplog):
    # OTP's child_terminated report: permanent (any reason) and transient abnormal exits, which a
    # restart follows, and a temporary child's abnormal exit; a transient normal exit is not news
    import logging

    sup = await Sup.start_link(
        [spec("perm"), spec("trans", restart="transient"), spec("temp", restart="temporary")],
        name="reporting_sup",
    )
    with caplog.at_level(logging.ERROR, logger="supervision.runtime"):
        await end_child(node, await pid_of(sup, "trans"), "normal")
        temp = await pid_of(sup, "temp")
        await end_child(node, temp, "killed")
        perm = await pid_of(sup, "perm")
        await end_child(node, perm, "normal")
        await pid_of(sup, "perm")  # the restart is done
    lines = [r.getMessage() for r in caplog.records if r.name == "supervision.runtime"]
    assert lines == [
        f"supervisor {sup} (reporting_sup): child {temp} ('temp') terminated with reason 'killed'; not restarted (temporary)",
        f"supervisor {sup} (reporting_sup): child {perm} ('perm') terminated with reason 'normal'; restarting it",
    ]
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="supervision.runtime"):
        for _ in range(3):  # with the restart above, the third is one too many
            node.exit(await pid_of(sup, "perm"), "kill")
        await eventually(lambda: not node.is_alive(sup))
    assert f"supervisor {sup} (reporting_sup): more than 3 restarts in 5s; shutting down" in caplog.messages
