"""The event stream and snapshots (DESIGN.md §3 "Events")."""

from __future__ import annotations

import asyncio
import importlib
import logging

from supervision import runtime as rt

from .conftest import drain, eventually, in_process


class Worker(rt.GenServer):
    async def handle_call(self, request, caller):
        if request == "crash":
            raise ValueError("boom")
        if isinstance(request, tuple) and request[0] == "register":
            rt.Registry.register(request[1], request[2], request[3])
        if isinstance(request, tuple) and request[0] == "update":
            return rt.Registry.update_value(request[1], request[2], request[3])
        return "ok"


async def test_seq_is_gap_free_across_every_kind(node):
    sub = node.events.subscribe()
    await rt.Registry.start_link(keys="unique", name="R")
    sup = await rt.Supervisor.start_link([Worker.child_spec(name=rt.via("R", "w"))])
    with_crash = rt.GenServer.call(rt.via("R", "w"), "crash")
    try:
        await with_crash
    except rt.CallExit:
        pass
    await eventually(lambda: node.whereis(rt.via("R", "w")) is not None)
    node.events.emit("custom", None, note="x")
    await rt.GenServer.stop(sup)
    events = drain(sub)
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events)))
    assert {"started", "exited", "restarted", "registered", "unregistered", "custom"} <= {e.kind for e in events}


async def test_a_subscription_sees_only_events_after_it_was_made(node):
    await Worker.start()
    seq_before = node.events.seq
    sub = node.events.subscribe()
    pid = await Worker.start()
    events = drain(sub)
    assert events[0].seq == seq_before + 1
    assert events[0].kind == "started" and events[0].pid == pid


async def test_slow_subscriber_gets_one_overflow_with_the_exact_dropped_count_then_new_events(node):
    sub = node.events.subscribe(maxsize=5)
    for i in range(12):
        node.events.emit("tick", None, i=i)
    assert sub.pending() == 6  # maxsize events + one overflow marker, never more
    items = drain(sub)
    assert [e.data["i"] for e in items[:5]] == [0, 1, 2, 3, 4]
    assert isinstance(items[5], rt.Overflow) and items[5].dropped == 7
    node.events.emit("tick", None, i=99)
    (after,) = drain(sub)
    assert after.data["i"] == 99 and after.seq == items[4].seq + 8


async def test_overflow_keeps_memory_bounded_and_never_blocks_the_node(node):
    sub = node.events.subscribe(maxsize=100)
    for i in range(100_000):
        node.events.emit("tick", None, i=i)
    assert sub.pending() == 101
    items = drain(sub)
    assert items[-1].dropped == 100_000 - 100


async def test_subscription_ends_when_the_node_stops():
    async with rt.Node() as n:
        sub = n.events.subscribe()
        await Worker.start()

        async def consume():
            return [e async for e in sub]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
    seen = await asyncio.wait_for(task, 2)
    assert seen[0].kind == "started" and seen[-1].kind == "exited"


async def test_a_subscription_taken_after_the_node_stopped_ends_at_once():
    async with rt.Node() as n:
        pass
    sub = n.events.subscribe()
    assert await asyncio.wait_for(sub.next_batch(), 1) == []
    assert [e async for e in sub] == []


async def test_crash_event_carries_the_exception_and_traceback_text(node):
    sub = node.events.subscribe()
    pid = await Worker.start()
    try:
        await rt.GenServer.call(pid, "crash")
    except rt.CallExit as e:
        assert isinstance(e.reason, ValueError)
    (exited,) = [e for e in drain(sub) if e.kind == "exited"]
    assert exited.pid == pid
    assert isinstance(exited.data["reason"], ValueError)
    assert "ValueError: boom" in exited.data["traceback"]
    first_frame = exited.data["traceback"].splitlines()[1]
    assert "in handle_call" in first_frame  # from the crashing callback down, no runtime frame


async def crash_a_worker():
    pid = await Worker.start()
    try:
        await rt.GenServer.call(pid, "crash")
    except rt.CallExit:
        pass
    return pid


async def test_crash_traceback_is_in_the_event_even_with_the_crash_log_off(node, caplog):
    logger = logging.getLogger("supervision.runtime")
    sub = node.events.subscribe()
    logger.disabled = True
    try:
        pid = await crash_a_worker()
    finally:
        logger.disabled = False
    (exited,) = [e for e in drain(sub) if e.kind == "exited" and e.pid == pid]
    assert "ValueError: boom" in exited.data["traceback"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_crash_is_logged_with_its_traceback(node, caplog):
    with caplog.at_level(logging.ERROR, logger="supervision.runtime"):
        pid = await crash_a_worker()
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert str(pid) in record.getMessage() and "ValueError: boom" in record.getMessage()


async def test_a_crash_traceback_is_formatted_once_and_only_when_read(node, monkeypatch):
    node_module = importlib.import_module("supervision.runtime.node")  # rt.node is the function
    formatted = []
    real = node_module.crash_text
    monkeypatch.setattr(node_module, "crash_text", lambda exc: formatted.append(exc) or real(exc))
    logger = logging.getLogger("supervision.runtime")
    logger.disabled = True
    try:
        await crash_a_worker()  # nobody reads it: no log, no subscriber
        assert formatted == []
        sub = node.events.subscribe()
        logger.disabled = False
        await crash_a_worker()  # read twice (the log and the event): formatted once
        assert len(formatted) == 1
        assert [e for e in drain(sub) if e.kind == "exited"][0].data["traceback"]
    finally:
        logger.disabled = False


async def test_restart_story_order_old_exited_new_started_then_restarted(node):
    sub = node.events.subscribe()
    sup = await rt.Supervisor.start_link([Worker.child_spec(name="w")])
    old = node.whereis("w")
    try:
        await rt.GenServer.call("w", "crash")
    except rt.CallExit:
        pass
    await eventually(lambda: node.whereis("w") not in (None, old))
    new = node.whereis("w")
    kinds = [(e.kind, e.pid) for e in drain(sub) if e.kind in ("started", "exited", "restarted")]
    i = kinds.index(("exited", old))
    assert kinds[i + 1] == ("started", new)
    assert kinds[i + 2] == ("restarted", sup)


async def test_restarted_event_names_child_and_both_pids(node):
    sub = node.events.subscribe()
    sup = await rt.Supervisor.start_link([Worker.child_spec(name="w")])
    old = node.whereis("w")
    node.exit(old, "boom")
    await eventually(lambda: node.whereis("w") not in (None, old))
    (ev,) = [e for e in drain(sub) if e.kind == "restarted"]
    assert ev.pid == sup
    assert ev.data["child_id"] == "w" and ev.data["old_pid"] == old and ev.data["new_pid"] == node.whereis("w")


async def test_gave_up_comes_before_the_supervisors_exit(node):
    sub = node.events.subscribe()

    async def body():
        sup = await rt.Supervisor.start_link([Worker.child_spec(name="w")], max_restarts=0)
        node.exit(node.whereis("w"), "boom")
        msg = await rt.receive(timeout=2)
        return sup, msg

    sup, msg = await in_process(body, trap=True)
    assert msg == rt.Exit(sup, "shutdown")
    kinds = [(e.kind, e.pid) for e in drain(sub) if e.pid == sup]
    assert kinds.index(("gave_up", sup)) < kinds.index(("exited", sup))
    (gave_up,) = [e for e in drain(sub) or [] if e.kind == "gave_up"] or [None]


async def test_register_events_for_explicit_via_and_implicit_unregister(node):
    sub = node.events.subscribe()
    await rt.Registry.start_link(keys="duplicate", name="D")
    await rt.Registry.start_link(keys="unique", name="U")
    w = await Worker.start(name=rt.via("U", "named", "v0"))
    await rt.GenServer.call(w, ("register", "D", "topic", 1))
    await rt.GenServer.call(w, ("register", "D", "topic", 2))
    await rt.GenServer.stop(w)
    regs = [(e.kind, e.data["registry"], e.data["key"], e.data["value"]) for e in drain(sub) if "registered" in e.kind]
    assert regs[:3] == [
        ("registered", "U", "named", "v0"),
        ("registered", "D", "topic", 1),
        ("registered", "D", "topic", 2),
    ]
    assert sorted(regs[3:], key=repr) == sorted(
        [("unregistered", "U", "named", "v0"), ("unregistered", "D", "topic", 1), ("unregistered", "D", "topic", 2)],
        key=repr,
    )


async def test_update_value_emits_updated(node):
    sub = node.events.subscribe()
    await rt.Registry.start_link(keys="unique", name="U")
    w = await Worker.start(name=rt.via("U", "k", 1))
    assert await rt.GenServer.call(w, ("update", "U", "k", lambda v: v + 1)) == (2, 1)
    (ev,) = [e for e in drain(sub) if e.kind == "updated"]
    assert ev.pid == w and ev.data == {"registry": "U", "key": "k", "value": 2}


async def test_started_event_names_parent_name_and_type(node):
    sub = node.events.subscribe()
    sup = await rt.Supervisor.start_link([Worker.child_spec(name="w")], name="top")
    started = {e.pid: e.data for e in drain(sub) if e.kind == "started"}
    assert started[sup]["type"] == "supervisor" and started[sup]["name"] == "top" and started[sup]["parent"] is None
    w = node.whereis("w")
    assert started[w] == {"parent": sup, "name": "w", "type": "worker", "behaviour": "Worker"}


async def test_snapshot_lists_processes_and_every_registry_even_empty(node):
    await rt.Registry.start_link(keys="unique", name="U")
    await rt.Registry.start_link(keys="duplicate", name="Empty")
    sup = await rt.Supervisor.start_link([Worker.child_spec(name=rt.via("U", "w", "val"))])
    snap = node.snapshot()
    assert snap.seq == node.events.seq
    w = node.whereis(rt.via("U", "w"))
    assert snap.registries == {"U": [("w", w, "val")], "Empty": []}
    info = {p.pid: p for p in snap.processes}
    assert info[w].parent == sup and info[w].type == "worker" and info[w].restarts == 0
    assert info[sup].type == "supervisor" and w in info[sup].links


async def test_snapshot_plus_later_events_equals_a_later_snapshot(node):
    await rt.Registry.start_link(keys="unique", name="U")
    sup = await rt.DynamicSupervisor.start_link()
    for i in range(5):
        await rt.DynamicSupervisor.start_child(sup, Worker.child_spec(name=rt.via("U", i)))
    before = node.snapshot()
    sub = node.events.subscribe()
    live = {p.pid for p in before.processes}
    entries = {(k, p) for k, p, _ in before.registries["U"]}
    node.exit(node.whereis(rt.via("U", 0)), "kill")
    for i in range(5, 8):
        await rt.DynamicSupervisor.start_child(sup, Worker.child_spec(name=rt.via("U", i)))
    await eventually(lambda: rt.Registry.count("U") == 8)
    for e in drain(sub):
        assert e.seq > before.seq
        if e.kind == "started":
            live.add(e.pid)
        elif e.kind == "exited":
            live.discard(e.pid)
        elif e.kind == "registered":
            entries.add((e.data["key"], e.pid))
        elif e.kind == "unregistered":
            entries.discard((e.data["key"], e.pid))
    after = node.snapshot()
    assert live == {p.pid for p in after.processes}
    assert entries == {(k, p) for k, p, _ in after.registries["U"]}


async def test_next_batch_returns_what_is_queued_and_empty_after_the_end():
    async with rt.Node() as n:
        sub = n.events.subscribe()
        for i in range(3):
            n.events.emit("tick", None, i=i)
        batch = await sub.next_batch(limit=2)
        assert [e.data["i"] for e in batch] == [0, 1]
    assert [e.data["i"] for e in await sub.next_batch()] == [2]
    assert await sub.next_batch() == []
