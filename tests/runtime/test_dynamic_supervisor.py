"""DynamicSupervisor conformance: catalogue entries DS01..DS38 (otp-catalogue.md).

Ported from elixir `lib/elixir/test/elixir/dynamic_supervisor_test.exs`. Elixir terms map to
DESIGN.md §3: `{:ok, pid}` is a Pid, `:ignore` is None, `{:error, r}` is `StartError(r)` (or
`MaxChildren` / `AlreadyStarted` / `NotFound`), timeouts are seconds. A Task child is a
spawned function linked to the supervisor (the start function runs in the supervisor).
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from supervision import runtime as rt

from .conftest import drain, eventually, in_process

DS = rt.DynamicSupervisor


# -- helpers -------------------------------------------------------------------------------


async def _sleep_forever() -> None:
    await asyncio.sleep(3600)


async def task_start(fun, *args):
    """Elixir's Task.start_link: run ``fun(*args)`` as a process linked to the caller."""
    return rt.spawn(fun, *args, link=True)


def sleepy_worker(**overrides) -> rt.ChildSpec:
    """Elixir's sleepy_worker: a Task that sleeps forever (does not trap exits)."""
    return rt.ChildSpec(id="Task", start=(task_start, (_sleep_forever,)), **overrides)


def task_spec(fun, *args, **overrides) -> rt.ChildSpec:
    return rt.ChildSpec(id="Task", start=(task_start, (fun, *args)), **overrides)


async def _start_ok():
    return rt.spawn(_sleep_forever, link=True)


async def _start_ignore():
    return None


async def _start_error():
    raise rt.StartError("found")


async def _start_unknown():
    return "unknown"


def restart_worker(then, restart: str = "permanent", calls: dict | None = None) -> rt.ChildSpec:
    """Elixir's current_module_worker([:restart, value]): a sleeper the first time, then ``then()``.

    ``calls["n"]`` counts the starts (pass a dict to read it).
    """
    calls = {"n": 0} if calls is None else calls
    calls["n"] = 0

    async def start():
        calls["n"] += 1
        if calls["n"] == 1:
            return rt.spawn(_sleep_forever, link=True)
        return await then()

    return rt.ChildSpec(id="Worker", start=(start, ()), restart=restart)


async def assert_kill(node: rt.Node, pid: rt.Pid, reason) -> None:
    """Send ``reason`` to ``pid`` and wait until it is gone (Elixir's assert_kill)."""
    assert node.is_alive(pid)
    node.exit(pid, reason)
    await eventually(lambda: not node.is_alive(pid))


def counts(c: rt.ChildCounts) -> dict:
    return {"specs": c.specs, "active": c.active, "supervisors": c.supervisors, "workers": c.workers}


async def collect_downs(n: int, timeout: float = 2.0) -> dict:
    """Receive until ``n`` Down messages arrived (other messages are skipped): {pid: reason}."""
    downs = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(downs) < n:
        msg = await rt.receive(timeout=max(0.0, deadline - loop.time()))
        if isinstance(msg, rt.Down):
            downs[msg.pid] = msg.reason
    return downs


class Stack(rt.GenServer):
    async def init(self, items=()):
        self.items = list(items)

    async def handle_call(self, request, caller):
        if request == "pop":
            return self.items.pop(0)
        return None


# -- DS01..DS08: starting -----------------------------------------------------------------


async def test_DS01_dynamic_supervisor_as_named_child_of_supervisor(node):
    top = await rt.Supervisor.start_link([DS.child_spec(name="dyn_sup")])
    assert isinstance(top, rt.Pid)
    assert isinstance(node.whereis("dyn_sup"), rt.Pid)
    assert await DS.which_children("dyn_sup") == []


async def test_DS02_named_local_and_via_children_and_default_id_clash(node):
    children = [
        rt.Registry.child_spec(keys="unique", name="ds02_reg"),
        DS.child_spec(name="dyn_local"),
        DS.child_spec(name=rt.via("ds02_reg", "dyn_via")),
    ]
    supsup = await rt.Supervisor.start_link(children)
    assert await DS.which_children("dyn_local") == []
    assert await DS.which_children(rt.via("ds02_reg", "dyn_via")) == []

    p = await rt.Supervisor.start_child(supsup, DS.child_spec())
    assert isinstance(p, rt.Pid)
    assert await DS.which_children(p) == []
    with pytest.raises(rt.AlreadyStarted) as e:
        await rt.Supervisor.start_child(supsup, DS.child_spec())
    assert e.value.pid == p


async def test_DS03_child_spec_of_dynamic_supervisor_and_overrides(node):
    class MyDyn(rt.DynamicSupervisor):
        pass

    spec = MyDyn.child_spec()
    assert isinstance(spec, rt.ChildSpec)
    assert spec.id is MyDyn
    assert spec.type == "supervisor"
    assert spec.restart == "permanent"
    assert spec.shutdown in (None, "infinity")  # None means "infinity" for a supervisor
    assert spec.start[0] == MyDyn.start_link
    assert MyDyn.child_spec(name="named").id == "named"

    over = spec.replace(id="id", restart="temporary", shutdown="infinity")
    assert (over.id, over.restart, over.shutdown, over.type) == ("id", "temporary", "infinity", "supervisor")

    # the generated spec really starts a MyDyn (a supervisor) under a Supervisor
    top = await rt.Supervisor.start_link([MyDyn.child_spec(name="my_dyn")])
    [child] = await rt.Supervisor.which_children(top)
    assert child.id == "my_dyn" and child.type == "supervisor"
    assert child.pid == node.whereis("my_dyn")
    assert await DS.count_children("my_dyn") == rt.ChildCounts(0, 0, 0, 0)


async def test_DS04_default_flags(node):
    params = inspect.signature(DS.start_link).parameters
    assert params["name"].default is None
    assert params["max_children"].default is None
    assert params["max_restarts"].default == 3
    assert params["max_seconds"].default == 5
    assert tuple(params["extra_arguments"].default) == ()

    # and behaviourally: one_for_one, no child limit, no extra args, 3 restarts in 5 s
    seen = []

    async def start(*args):
        seen.append(args)
        return rt.spawn(_sleep_forever, link=True)

    sup = await DS.start_link()
    pids = [await DS.start_child(sup, rt.ChildSpec(id=i, start=(start, (i,)))) for i in range(50)]
    assert all(isinstance(p, rt.Pid) for p in pids)
    assert seen == [(i,) for i in range(50)]  # nothing prepended
    victim = pids[0]
    for _ in range(3):
        await assert_kill(node, victim, "boom")
        live = {c.pid for c in await DS.which_children(sup)}
        assert set(pids[1:]) <= live  # one_for_one: the others keep their pids
        assert len(live) == 50
        [victim] = live - set(pids[1:])
    node.exit(victim, "boom")  # the 4th restart within 5 s exceeds the intensity
    await eventually(lambda: not node.is_alive(sup))


async def test_DS05_invalid_flags_raise_before_starting(node):
    before = node.process_count()
    with pytest.raises((ValueError, TypeError)):
        await DS.start_link(strategy="unknown")
    with pytest.raises(ValueError):
        await DS.start_link(max_restarts=-1)
    with pytest.raises(ValueError):
        await DS.start_link(max_seconds=0)
    with pytest.raises(ValueError):
        await DS.start_link(max_children=-1)
    with pytest.raises(ValueError):
        await DS.start_link(extra_arguments=-1)
    with pytest.raises((ValueError, TypeError)):
        await DS.start_link(auto_shutdown="any_significant")
    assert node.process_count() == before


# DS06 (module init returning :unknown / :ignore) is not ported: DESIGN §3 has no
# module-based DynamicSupervisor init callback; options go straight to start_link.


async def test_DS07_start_link_links_names_and_stops(node):
    async def body():
        sup = await DS.start_link(name="ds07")
        assert sup in node.process_info(rt.self_pid()).links
        assert node.whereis("ds07") == sup
        assert await DS.stop("ds07") is None
        assert not node.is_alive(sup)
        assert node.whereis("ds07") is None
        return True

    assert await in_process(body)


async def test_DS08_start_child_accepts_spec_class_and_tuple(node):
    sup = await DS.start_link()
    p1 = await DS.start_child(sup, sleepy_worker(restart="temporary"))
    p2 = await DS.start_child(sup, Stack)
    p3 = await DS.start_child(sup, (Stack, ["hello"]))
    for p in (p1, p2, p3):
        assert isinstance(p, rt.Pid) and node.is_alive(p)
    assert len({p1, p2, p3}) == 3
    assert await rt.GenServer.call(p3, "pop") == "hello"
    assert counts(await DS.count_children(sup)) == {"specs": 3, "active": 3, "supervisors": 0, "workers": 3}


async def test_DS09_extra_arguments_are_prepended(node):
    async def body():
        parent = rt.self_pid()

        async def fun():
            rt.send(parent, "from_child")
            await _sleep_forever()

        sup = await DS.start_link(extra_arguments=[fun])
        child = await DS.start_child(sup, rt.ChildSpec(id="Task", start=(task_start, ())))
        assert isinstance(child, rt.Pid)
        assert await rt.receive(timeout=1) == "from_child"
        return True

    assert await in_process(body)


async def test_DS10_specs_are_validated_in_the_caller(node):
    # no supervisor named "not_used" exists: validation happens before any message is sent
    with pytest.raises(ValueError):
        await DS.start_child("not_used", {})
    with pytest.raises(ValueError):
        await DS.start_child("not_used", rt.ChildSpec(id=1, start=2))
    with pytest.raises(ValueError):
        await DS.start_child("not_used", rt.ChildSpec(id=1, start=("foo", "bar")))
    with pytest.raises(ValueError):
        await DS.start_child("not_used", sleepy_worker(shutdown=-1))
    # `significant: true` has no Python form (ChildSpec has no such field).


async def test_child_id_is_ignored_so_it_may_be_unhashable(node):
    """OTP ignores a DynamicSupervisor child's id: an unhashable one starts (a Supervisor's must hash)."""
    sup = await DS.start_link()
    pid = await DS.start_child(sup, sleepy_worker().replace(id=["not", "hashable"]))
    assert isinstance(pid, rt.Pid)
    assert [c.pid for c in await DS.which_children(sup)] == [pid]
    with pytest.raises(ValueError, match="hashable"):
        await rt.Supervisor.start_link([sleepy_worker().replace(id=["not", "hashable"])])


async def test_a_users_start_function_runs_in_the_supervisors_own_task(node):
    """A supervisor handles calls inline, without a task, only while no user code runs in it.

    A user's start function may capture its task (``asyncio.timeout`` does), so it must run in
    a task of the supervisor's own, never in the caller's, even on the supervisor's first call.
    """
    seen = []

    async def start_with_timeout():
        seen.append(asyncio.current_task())
        async with asyncio.timeout(0.05):  # would cancel the wrong task if it were the caller's
            await asyncio.sleep(0.01)
        seen.append(asyncio.current_task())
        return rt.spawn(_sleep_forever, link=True)

    sup = await DS.start_link()
    assert isinstance(await DS.start_child(sup, (Stack, [])), rt.Pid)  # inline: only our code runs
    caller = asyncio.current_task()
    pid = await DS.start_child(sup, rt.ChildSpec(id=None, start=(start_with_timeout, ())))
    assert isinstance(pid, rt.Pid)
    assert seen[0] is not None and seen[0] is not caller and seen[1] is seen[0]
    await asyncio.sleep(0.1)  # past the timeout: the caller was not cancelled, the child lives
    assert node.is_alive(pid) and node.is_alive(node.whereis(sup) or sup)
    assert len(await DS.which_children(sup)) == 2


class SlowInit(rt.GenServer):
    async def init(self, delay):
        await asyncio.sleep(delay)


async def test_a_call_that_suspends_inline_is_carried_on_by_a_task(node):
    sup = await DS.start_link()
    assert isinstance(await DS.start_child(sup, (SlowInit, 0.02)), rt.Pid)
    pending = asyncio.ensure_future(DS.start_child(sup, (SlowInit, 5)))
    await asyncio.sleep(0.02)
    sup_task = node._procs[sup].task
    assert isinstance(sup_task, asyncio.Task)  # the suspended call now has a task of its own
    node.exit(sup, "kill")
    with pytest.raises(rt.CallExit) as e:
        await pending
    assert e.value.reason == "killed"
    await asyncio.sleep(0)
    assert sup_task.done() and not node.is_alive(sup) and node.process_count() == 0


class TerminatesItself(rt.GenServer):
    async def init(self, log):
        self.log = log

    async def handle_cast(self, sup):
        await asyncio.sleep(0)  # now in its own task, which the supervisor's inline step runs in
        me = rt.self_pid()
        await DS.terminate_child(sup, me)
        self.log.append("returned")
        await asyncio.sleep(0.01)
        self.log.append("ran on after its own death")


async def test_a_caller_killed_by_an_inline_step_runs_no_further(node):
    """The step runs in the caller's task: when it kills the caller, that task is still cancelled."""
    log = []
    sup = await DS.start_link()
    pid = await DS.start_child(sup, (TerminatesItself, log))
    rt.GenServer.cast(pid, sup)
    await asyncio.sleep(0.05)
    assert not node.is_alive(pid)
    assert "ran on after its own death" not in log

    async def parent():
        ds = await DS.start_link(max_restarts=1)
        child = await DS.start_child(ds, Stack)
        node.exit(child, "kill")
        node.exit((await DS.which_children(ds))[0].pid, "kill")  # past the intensity: ds gives up
        await asyncio.sleep(0.01)  # ds's "shutdown" reached this (linked, non-trapping) parent
        log.append("parent ran on")

    p = node.spawn(parent)
    await asyncio.sleep(0.05)
    assert not node.is_alive(p) and "parent ran on" not in log


class CountingSupervisor(DS):
    """A subclass: its callbacks are user code, so it never handles a message inline."""

    async def handle_info(self, msg):
        self.tasks = getattr(self, "tasks", [])
        self.tasks.append(asyncio.current_task())
        return await super().handle_info(msg)


async def test_a_subclassed_dynamic_supervisor_handles_messages_in_its_own_task(node):
    sup = await CountingSupervisor.start_link()
    caller = asyncio.current_task()
    node.send(sup, "hello")
    await eventually(lambda: getattr(node._procs[sup].server, "tasks", None))
    task = node._procs[sup].server.tasks[0]
    assert task is not None and task is not caller


async def test_DS11_start_function_results(node):
    sup = await DS.start_link()
    p = await DS.start_child(sup, rt.ChildSpec(id=1, start=(_start_ok, ())))
    assert isinstance(p, rt.Pid)
    assert await DS.start_child(sup, rt.ChildSpec(id=2, start=(_start_ignore, ()))) is None
    with pytest.raises(rt.StartError) as e:
        await DS.start_child(sup, rt.ChildSpec(id=3, start=(_start_error, ())))
    assert e.value.reason == "found"
    with pytest.raises(rt.StartError) as e:
        await DS.start_child(sup, rt.ChildSpec(id=4, start=(_start_unknown, ())))
    assert e.value.reason == "unknown"
    # only the started child is in the books (:ignore and errors record nothing)
    assert [c.pid for c in await DS.which_children(sup)] == [p]
    # `{:ok, pid, :extra}` has no Python form: start functions return a Pid or None.


async def test_DS12_start_function_raising_or_exiting(node):
    async def raises():
        raise RuntimeError("oops")

    async def exits():
        rt.exit("oops")

    sup = await DS.start_link()
    with pytest.raises(rt.StartError) as e:
        await DS.start_child(sup, rt.ChildSpec(id=1, start=(raises, ())))
    assert isinstance(e.value.reason, RuntimeError) and str(e.value.reason) == "oops"
    with pytest.raises(rt.StartError) as e:
        await DS.start_child(sup, rt.ChildSpec(id=2, start=(exits, ())))
    assert e.value.reason == "oops"
    # Elixir's throw has no Python counterpart. The supervisor survives:
    assert node.is_alive(sup)
    assert counts(await DS.count_children(sup)) == {"specs": 0, "active": 0, "supervisors": 0, "workers": 0}


async def test_DS13_max_children_zero(node):
    sup = await DS.start_link(max_children=0)
    with pytest.raises(rt.MaxChildren):
        await DS.start_child(sup, rt.ChildSpec(id=1, start=(_start_ok, ())))
    assert await DS.which_children(sup) == []


# -- DS14..DS26: restarts -----------------------------------------------------------------


async def test_DS14_temporary_child_never_restarted(node):
    sup = await DS.start_link()
    child = sleepy_worker(restart="temporary")
    pid = await DS.start_child(sup, child)
    await assert_kill(node, pid, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (0, 0)
    pid = await DS.start_child(sup, child)
    await assert_kill(node, pid, "whatever")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (0, 0)


async def test_DS15_transient_child_restarted_only_on_abnormal_exit(node):
    sup = await DS.start_link()
    child = sleepy_worker(restart="transient")
    pid = await DS.start_child(sup, child)
    await assert_kill(node, pid, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (0, 0)
    pid = await DS.start_child(sup, child)
    await assert_kill(node, pid, ("shutdown", "signal"))
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (0, 0)
    pid = await DS.start_child(sup, child)
    await assert_kill(node, pid, "whatever")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (1, 1)
    [info] = await DS.which_children(sup)
    assert isinstance(info.pid, rt.Pid) and info.pid != pid


async def test_DS16_permanent_child_restarted_regardless_of_reason(node):
    sup = await DS.start_link(max_restarts=100_000)
    child = sleepy_worker(restart="permanent")
    for n, reason in enumerate(["shutdown", ("shutdown", "signal"), "whatever"], start=1):
        pid = await DS.start_child(sup, child)
        await assert_kill(node, pid, reason)
        c = await DS.count_children(sup)
        assert (c.workers, c.active) == (n, n)
        assert pid not in {i.pid for i in await DS.which_children(sup)}


async def test_DS17_restart_returning_pid_replaces_entry(node):
    sup = await DS.start_link(max_restarts=100_000)
    child1 = await DS.start_child(sup, restart_worker(_start_ok))
    [info] = await DS.which_children(sup)
    assert (info.id, info.pid, info.type, info.restart) == (None, child1, "worker", "permanent")
    await assert_kill(node, child1, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (1, 1)
    [info] = await DS.which_children(sup)
    assert info.id is None and isinstance(info.pid, rt.Pid) and info.pid != child1
    assert node.is_alive(info.pid)

    child2 = await DS.start_child(sup, restart_worker(_start_ok))
    rows = await DS.which_children(sup)
    assert len(rows) == 2 and child2 in {r.pid for r in rows}
    assert all(r.id is None and r.type == "worker" for r in rows)
    await assert_kill(node, child2, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (2, 2)


async def test_DS18_restart_returning_none_removes_child(node):
    sup = await DS.start_link(max_restarts=100_000)
    await DS.start_child(sup, sleepy_worker())
    await DS.start_child(sup, sleepy_worker())
    child3 = await DS.start_child(sup, restart_worker(_start_ignore))
    assert len(await DS.which_children(sup)) == 3
    await assert_kill(node, child3, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (2, 2)
    assert child3 not in {r.pid for r in await DS.which_children(sup)}


async def test_DS19_restart_error_keeps_child_as_restarting(node):
    sup = await DS.start_link(max_restarts=100_000)
    await DS.start_child(sup, sleepy_worker())
    await DS.start_child(sup, sleepy_worker())
    child3 = await DS.start_child(sup, restart_worker(_start_error))
    await assert_kill(node, child3, "shutdown")
    assert node.is_alive(sup)
    c = await DS.count_children(sup)
    assert (c.specs, c.workers, c.active) == (3, 3, 2)


async def test_DS20_restart_bad_value_keeps_child_as_restarting(node):
    sup = await DS.start_link(max_restarts=100_000)
    await DS.start_child(sup, sleepy_worker())
    await DS.start_child(sup, sleepy_worker())
    child3 = await DS.start_child(sup, restart_worker(_start_error))
    await assert_kill(node, child3, "shutdown")
    rows = await DS.which_children(sup)
    assert len(rows) == 3
    assert [r.pid for r in rows].count("restarting") == 1
    child4 = await DS.start_child(sup, restart_worker(_start_unknown))
    await assert_kill(node, child4, "shutdown")
    assert node.is_alive(sup)
    rows = await DS.which_children(sup)
    assert len(rows) == 4
    assert [r.pid for r in rows].count("restarting") == 2
    for r in rows:
        assert r.id is None and r.type == "worker"
        assert r.pid == "restarting" or isinstance(r.pid, rt.Pid)
    c = await DS.count_children(sup)
    assert (c.specs, c.workers, c.active) == (4, 4, 2)


async def test_DS21_restarting_child_counts_toward_max_children(node):
    sup = await DS.start_link(max_children=1, max_restarts=100_000)
    pid = await DS.start_child(sup, restart_worker(_start_error))
    await assert_kill(node, pid, "shutdown")
    assert node.is_alive(sup)
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (1, 0)
    with pytest.raises(rt.MaxChildren):
        await DS.start_child(sup, restart_worker(_start_ok))


async def test_DS22_restarted_child_counts_toward_max_children(node):
    sup = await DS.start_link(max_children=1, max_restarts=100_000)
    pid = await DS.start_child(sup, sleepy_worker(restart="permanent"))
    await assert_kill(node, pid, "shutdown")
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (1, 1)
    with pytest.raises(rt.MaxChildren):
        await DS.start_child(sup, sleepy_worker(restart="permanent"))


async def test_DS23_restart_reapplies_extra_arguments(node):
    async def body():
        parent = rt.self_pid()

        async def fun():
            rt.send(parent, "from_child")
            await _sleep_forever()

        sup = await DS.start_link(extra_arguments=[fun])
        child = await DS.start_child(sup, rt.ChildSpec(id="Task", start=(task_start, ()), restart="transient"))
        assert isinstance(child, rt.Pid)
        assert await rt.receive(timeout=1) == "from_child"
        c = await DS.count_children(sup)
        assert (c.active, c.workers) == (1, 1)
        await assert_kill(node, child, "oops")
        assert await rt.receive(timeout=1) == "from_child"
        c = await DS.count_children(sup)
        assert (c.workers, c.active) == (1, 1)
        return True

    assert await in_process(body)


async def test_DS24_failed_restart_is_retried(node):
    notes = []
    state = {"try_again": False}

    async def start():
        if state["try_again"]:
            state["try_again"] = False
            notes.append(False)
            raise rt.StartError("try_again")
        state["try_again"] = True
        notes.append(True)
        return rt.spawn(_sleep_forever, link=True)

    sup = await DS.start_link(max_restarts=2)
    pid = await DS.start_child(sup, rt.ChildSpec(id="W", start=(start, ()), restart="permanent"))
    assert notes == [True]
    await assert_kill(node, pid, "shutdown")
    await eventually(lambda: len(notes) >= 3)
    assert notes == [True, False, True]
    assert node.is_alive(sup)
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (1, 1)


async def _failing_restarts_exhaust_intensity(node, max_restarts):
    calls: dict = {}

    async def body():
        sup = await DS.start_link(max_restarts=max_restarts)
        pid = await DS.start_child(sup, restart_worker(_start_error, calls=calls))
        await assert_kill(node, pid, "shutdown")
        while True:
            msg = await rt.receive(timeout=2)
            if isinstance(msg, rt.Exit) and msg.pid == sup:
                return msg.reason

    assert await in_process(body, trap=True) == "shutdown"
    assert calls["n"] - 1 == max_restarts  # the first start, then exactly max_restarts attempts (DESIGN §3)


async def test_DS25_failing_restart_exceeds_max_restarts_1(node):
    await _failing_restarts_exhaust_intensity(node, 1)


async def test_DS26_retries_exhaust_max_restarts_10(node):
    await _failing_restarts_exhaust_intensity(node, 10)


async def test_DS27_shutdown_zero_and_one_valid_negative_invalid(node):
    sup = await DS.start_link()
    for n in (0, 1):
        pid = await DS.start_child(sup, rt.ChildSpec(id=n, start=(task_start, (_sleep_forever,)), shutdown=n))
        assert isinstance(pid, rt.Pid)
        await assert_kill(node, pid, "shutdown")
    with pytest.raises(ValueError):
        await DS.start_child(sup, rt.ChildSpec(id=1, start=(task_start, (_sleep_forever,)), shutdown=-1))


# -- DS28..DS35: shutting the supervisor down ----------------------------------------------


async def _shutdown_sup_and_collect(node, specs, ready: int = 0) -> tuple[list, dict]:
    """As a trapping test process: start a sup, start ``specs``, monitor them, exit(sup, :shutdown)."""

    async def body():
        sup = await DS.start_link()
        pids = [await DS.start_child(sup, s) for s in specs]
        for _ in range(ready):
            assert await rt.receive(timeout=1) == "ready"
        for p in pids:
            rt.monitor(p)
        rt.node().exit(sup, "shutdown")
        downs = await collect_downs(len(pids))
        await eventually(lambda: not node.is_alive(sup))
        return pids, downs

    return await in_process(body, trap=True)


async def test_DS28_shutdown_brutal_kill_children_are_killed(node):
    pids, downs = await _shutdown_sup_and_collect(node, [sleepy_worker(shutdown="brutal_kill")] * 3)
    assert [downs[p] for p in pids] == ["killed"] * 3


async def test_DS29_shutdown_infinity_children_get_shutdown(node):
    pids, downs = await _shutdown_sup_and_collect(node, [sleepy_worker(shutdown="infinity")] * 3)
    assert [downs[p] for p in pids] == ["shutdown"] * 3


def _trapping_fun(parent, reason):
    async def fun():
        rt.trap_exit(True)
        rt.send(parent, "ready")
        await rt.receive()
        rt.exit(reason)

    return fun


async def test_DS30_shutdown_infinity_trapping_children_exit_their_reason(node):
    async def body():
        parent = rt.self_pid()
        spec = task_spec(_trapping_fun(parent, ("shutdown", "oops")), shutdown="infinity")
        sup = await DS.start_link()
        pids = [await DS.start_child(sup, spec) for _ in range(3)]
        for _ in range(3):
            assert await rt.receive(timeout=1) == "ready"
        for p in pids:
            rt.monitor(p)
        rt.node().exit(sup, "shutdown")
        downs = await collect_downs(3)
        return [downs[p] for p in pids]

    assert await in_process(body, trap=True) == [("shutdown", "oops")] * 3


async def test_DS31_shutdown_integer_children_get_shutdown(node):
    pids, downs = await _shutdown_sup_and_collect(node, [sleepy_worker(shutdown=1.0)] * 3)
    assert [downs[p] for p in pids] == ["shutdown"] * 3


async def test_DS32_shutdown_integer_trapping_children_exit_their_reason(node):
    async def body():
        parent = rt.self_pid()
        spec = task_spec(_trapping_fun(parent, ("shutdown", "oops")), shutdown=1.0)
        sup = await DS.start_link()
        pids = [await DS.start_child(sup, spec) for _ in range(3)]
        for _ in range(3):
            assert await rt.receive(timeout=1) == "ready"
        for p in pids:
            rt.monitor(p)
        rt.node().exit(sup, "shutdown")
        downs = await collect_downs(3)
        return [downs[p] for p in pids]

    assert await in_process(body, trap=True) == [("shutdown", "oops")] * 3


async def test_DS33_expired_shutdown_kills_trapping_child(node):
    async def body():
        parent = rt.self_pid()

        async def tmt():
            rt.trap_exit(True)
            rt.send(parent, "ready")
            await _sleep_forever()

        sup = await DS.start_link()
        c1 = await DS.start_child(sup, task_spec(_sleep_forever, shutdown=0.001))
        c2 = await DS.start_child(sup, task_spec(tmt, shutdown=0.001))
        c3 = await DS.start_child(sup, task_spec(_sleep_forever, shutdown=0.001))
        assert await rt.receive(timeout=1) == "ready"
        for p in (c1, c2, c3):
            rt.monitor(p)
        rt.node().exit(sup, "shutdown")
        downs = await collect_downs(3)
        return [downs[c1], downs[c2], downs[c3]]

    assert await in_process(body, trap=True) == ["shutdown", "killed", "shutdown"]


async def test_DS34_permanent_children_exiting_normal_during_shutdown_do_not_hang(node):
    async def body():
        parent = rt.self_pid()
        spec = task_spec(_trapping_fun(parent, "normal"), shutdown="infinity", restart="permanent")
        sup = await DS.start_link()
        pids = [await DS.start_child(sup, spec) for _ in range(3)]
        for _ in range(3):
            assert await rt.receive(timeout=1) == "ready"
        for p in pids:
            rt.monitor(p)
        sup_ref = rt.monitor(sup)
        rt.node().exit(sup, "shutdown")
        downs = await collect_downs(4)
        assert downs[sup] == "shutdown"
        assert sup_ref is not None
        return [downs[p] for p in pids]

    assert await in_process(body, trap=True) == ["normal"] * 3


async def test_DS35_shutdown_mixed_children(node):
    pids, downs = await _shutdown_sup_and_collect(
        node, [sleepy_worker(shutdown="infinity"), sleepy_worker(shutdown="brutal_kill")]
    )
    assert [downs[p] for p in pids] == ["shutdown", "killed"]


# -- DS36..DS38: terminate_child ----------------------------------------------------------


async def _terminate_twice(node, spec, expected_reason):
    async def body():
        sup = await DS.start_link()
        pid = await DS.start_child(sup, spec)
        rt.monitor(pid)
        assert await DS.terminate_child(sup, pid) is None
        downs = await collect_downs(1)
        assert downs == {pid: expected_reason}
        with pytest.raises(rt.NotFound):
            await DS.terminate_child(sup, pid)
        c = await DS.count_children(sup)
        assert (c.workers, c.active) == (0, 0)
        return True

    assert await in_process(body)


async def test_DS36_terminate_child_brutal_kill(node):
    await _terminate_twice(node, sleepy_worker(shutdown="brutal_kill"), "killed")


async def test_DS37_terminate_child_integer_shutdown(node):
    await _terminate_twice(node, sleepy_worker(shutdown=1.0), "shutdown")


async def test_DS38_terminate_restarting_child(node):
    sup = await DS.start_link(max_restarts=100_000)
    pid = await DS.start_child(sup, restart_worker(_start_error))
    await assert_kill(node, pid, "shutdown")
    assert node.is_alive(sup)
    assert [r.pid for r in await DS.which_children(sup)] == ["restarting"]
    assert await DS.terminate_child(sup, pid) is None
    with pytest.raises(rt.NotFound):
        await DS.terminate_child(sup, pid)
    c = await DS.count_children(sup)
    assert (c.workers, c.active) == (0, 0)
    assert node.is_alive(sup)  # the retries stopped with the entry


# -- a start handled in the caller's task (DynamicSupervisor._start_inline) -------------------


class Once(rt.GenServer):
    """Greets and stops in handle_continue, like the seed's Greeter."""

    restart = "transient"

    async def init(self, log):
        self.log = log
        return rt.Continue("go")

    async def handle_continue(self, arg):
        self.log.append(rt.self_pid())
        return rt.Stop("normal")


async def test_a_child_that_ends_during_its_start_leaves_the_supervisor_idle_and_its_books_empty(node):
    sup = await DS.start_link()
    log = []
    pid = await DS.start_child(sup, (Once, log))
    assert log == [pid] and not node.is_alive(pid)
    proc = node._procs[sup]
    assert proc.task is None and not proc.mailbox  # its exit was handled before start_child returned
    assert await DS.which_children(sup) == []
    assert (await DS.count_children(sup)).active == 0


class CrashesFirst(rt.GenServer):
    restart = "transient"
    crashed: list = []

    async def init(self, log):
        self.log = log
        return rt.Continue("go")

    async def handle_continue(self, arg):
        self.log.append(rt.self_pid())
        if not CrashesFirst.crashed:
            CrashesFirst.crashed.append(True)
            raise RuntimeError("first start crashes")
        return None  # the restarted one lives


async def test_a_child_that_crashes_during_its_start_is_restarted_before_start_child_returns(node):
    CrashesFirst.crashed = []
    sub = node.events.subscribe()
    sup = await DS.start_link()
    log = []
    first = await DS.start_child(sup, (CrashesFirst, log))
    assert len(log) == 2 and log[0] == first and not node.is_alive(first)
    second = log[1]
    assert node.is_alive(second)
    assert [c.pid for c in await DS.which_children(sup)] == [second]
    assert node.process_info(second).restarts == 1
    restarted = [e for e in drain(sub) if e.kind == "restarted"]
    assert [(e.data["old_pid"], e.data["new_pid"]) for e in restarted] == [(first, second)]


async def test_start_children_wait_in_order_for_a_child_whose_init_suspends(node):
    """OTP's supervisor is blocked while a child's init runs: later calls wait their turn."""
    sup = await DS.start_link()
    order = []

    async def start(arg):
        pid = await DS.start_child(sup, (SlowInit, arg))
        order.append(arg)
        return pid

    slow = asyncio.ensure_future(start(0.05))
    await asyncio.sleep(0)
    fast = asyncio.ensure_future(start(0))
    pids = await asyncio.gather(slow, fast)
    assert order == [0.05, 0] and all(isinstance(p, rt.Pid) for p in pids)
    assert sorted(c.pid for c in await DS.which_children(sup)) == sorted(pids)
    assert node._procs[sup].task is None  # idle again, with no task


async def test_a_start_timeout_kills_the_child_and_the_supervisor_lives_on(node):
    sup = await DS.start_link()
    spec = rt.ChildSpec(id=None, start=(SlowInit.start_link, (5,), {"timeout": 0.05}))
    with pytest.raises(rt.StartError) as e:
        await DS.start_child(sup, spec)
    assert e.value.reason == "timeout"
    assert node.is_alive(sup) and node.process_count() == 1  # the child was killed
    assert await DS.which_children(sup) == []


class KillsItsSupervisor(rt.GenServer):
    async def init(self, sup):
        rt.node().exit(sup, "kill")


async def test_a_child_whose_init_kills_the_supervisor_fails_the_start_with_call_exit(node):
    sup = await DS.start_link()
    with pytest.raises(rt.CallExit) as e:
        await DS.start_child(sup, (KillsItsSupervisor, sup))
    assert e.value.reason == "killed"
    await asyncio.sleep(0)
    assert not node.is_alive(sup) and node.process_count() == 0  # the linked child went with it


async def test_max_children_and_taken_names_hold_for_genserver_children(node):
    await rt.Registry.start_link(keys="unique", name="R")
    sup = await DS.start_link(max_children=2)
    a = await DS.start_child(sup, Stack.child_spec([], name=rt.via("R", "a")))
    with pytest.raises(rt.AlreadyStarted) as e:
        await DS.start_child(sup, Stack.child_spec([], name=rt.via("R", "a")))
    assert e.value.pid == a
    with pytest.raises(rt.StartError):  # a bad name fails the start, not the supervisor
        await DS.start_child(sup, Stack.child_spec([], name=rt.via("NoSuchRegistry", "d")))
    await DS.start_child(sup, Stack.child_spec([], name=rt.via("R", "b")))
    with pytest.raises(rt.MaxChildren):
        await DS.start_child(sup, Stack.child_spec([], name=rt.via("R", "c")))
    assert node.is_alive(sup) and rt.Registry.count("R") == 2
    assert (await DS.count_children(sup)).active == 2


class KillsTheCaller(rt.GenServer):
    async def init(self, victim):
        rt.node().exit(victim, "kill")


async def test_a_caller_killed_by_the_child_it_starts_can_not_register_link_or_start_anything(node):
    """Its code runs on until its next await (asyncio cannot stop it sooner), but the runtime
    refuses it everything that would outlive it, with the cancellation its task is about to get."""
    await rt.Registry.start_link(keys="unique", name="R")
    sup = await DS.start_link()
    refused = []

    async def caller():
        me = rt.self_pid()
        await DS.start_child(sup, (KillsTheCaller, me))  # returns: nothing in it awaited
        for attempt in (
            lambda: rt.Registry.register("R", "leak", None),
            lambda: rt.monitor(sup),
            lambda: rt.node().spawn(_sleep_forever, link=True),
        ):
            try:
                attempt()
            except asyncio.CancelledError:
                refused.append(True)
        try:
            await Stack.start_link([])
        except asyncio.CancelledError:
            refused.append(True)

    p = node.spawn(caller)
    await asyncio.sleep(0.02)
    assert refused == [True] * 4
    assert not node.is_alive(p) and rt.Registry.lookup("R", "leak") == []
    children = [c.pid for c in await DS.which_children(sup)]
    assert len(children) == 1  # the child that killed it; nothing the dead caller tried was started
    assert node.process_count() == 3  # the registry, the supervisor and that child


class Plain(rt.GenServer):
    async def init(self):
        return None


async def test_a_child_killed_before_its_task_ever_ran_fails_the_start_and_frees_the_supervisor(node):
    """Past the eager-start depth a child's task is only scheduled; killed before it runs, its
    init never answers, so the supervisor's wait must see the death (OTP: {:error, :killed})."""
    sup = await DS.start_link(name="dsup")
    outcome = asyncio.get_running_loop().create_future()

    def kill_the_child():  # queued before the child exists, so it runs before the child's task
        for info in node.processes():
            if info.kind == "Plain":
                node.exit(info.pid, "kill")

    async def nest(depth):
        if node._depth < 24:  # the eager-start depth limit (node._MAX_EAGER_DEPTH)
            node.spawn(nest, depth + 1)  # each spawn starts eagerly, inside this one
            await asyncio.sleep(3)
            return
        asyncio.get_running_loop().call_soon(kill_the_child)
        try:
            outcome.set_result(await asyncio.wait_for(DS.start_child("dsup", Plain), 1.0))
        except BaseException as e:
            outcome.set_result(e)

    node.spawn(nest, 0)
    res = await outcome
    assert isinstance(res, rt.StartError) and res.reason == "killed"
    assert await asyncio.wait_for(DS.count_children(sup), 1.0) == rt.ChildCounts(0, 0, 0, 0)


async def test_after_a_users_start_function_genserver_children_still_start_inline(node):
    """A user's start function puts the message loop on tasks for good; a GenServer child's
    start never runs user code in the supervisor, so it still needs no task of its own."""
    sup = await DS.start_link()
    await DS.start_child(sup, rt.ChildSpec(id=None, start=(_start_ok, ())))
    assert node._procs[sup].server._steps_inline is False
    await asyncio.sleep(0)
    seen = []
    original = node._start_task

    def spy(proc, coro):
        seen.append(proc.pid)
        return original(proc, coro)

    node._start_task = spy
    try:
        pid = await DS.start_child(sup, (Stack, []))
    finally:
        node._start_task = original
    assert seen == [pid]  # the child's own task, and none for the supervisor
    log = []
    gone = await DS.start_child(sup, (Once, log))  # ends at once: its exit is handled inline too
    assert log == [gone] and len(await DS.which_children(sup)) == 2


async def test_a_dynamic_supervisor_reports_a_crashed_child_it_restarts_but_not_a_normal_exit(node, caplog):
    import logging

    from supervision.greeter import REGISTRY, greeter_name, spawn_greeter, start_app

    await start_app()
    sup = node.whereis("GreeterSupervisor")
    with caplog.at_level(logging.ERROR, logger="supervision.runtime"):
        await spawn_greeter("once")  # greets and stops normal: no report
        await eventually(lambda: rt.Registry.count(REGISTRY) == 0)
        pid = await spawn_greeter("crashy", 30)
        node.exit(pid, RuntimeError("boom"))
        await eventually(lambda: rt.whereis(greeter_name("crashy")) not in (None, pid))
    assert caplog.messages == [
        f"supervisor {sup} (GreeterSupervisor): child {pid} terminated with reason RuntimeError('boom'); restarting it"
    ]
