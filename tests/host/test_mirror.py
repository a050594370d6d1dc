"""The dashboard's Mirror: snapshot + events must equal a fresh snapshot; queries page and search."""

from __future__ import annotations

import asyncio

from supervision import runtime as rt
from supervision.greeter import REGISTRY, SUPERVISOR, Greeter, greeter_name, start_app
from supervision.mirror import Mirror, name_text, text


class Sleeper(rt.GenServer):
    restart = "transient"

    async def init(self, tag: str) -> None:
        self.tag = tag


def drain(sub: rt.Subscription) -> list[rt.Event]:
    out = []
    while (e := sub.get_nowait()) is not None:
        assert isinstance(e, rt.Event)
        out.append(e)
    return out


def shape(m: Mirror) -> tuple:
    """What the dashboard shows: processes with parents, and every registry's rows."""

    def placement(p):  # which list of the tree the process sits in
        if p.parent is None:
            return "root-sups" if p.pid in m.root_sups else "root-workers" if p.pid in m.root_workers else "lost"
        owner = m.procs[p.parent]
        return "sups" if p.pid in (owner.sups or {}) else "workers" if p.pid in (owner.workers or {}) else "lost"

    procs = sorted(
        (str(p.pid), p.name, str(p.parent), p.type, p.kind, p.restarts, p.last_exit, placement(p))
        for p in m.procs.values()
    )
    regs = {
        r.label: sorted((row.key, row.pid_text, row.value) for row in r.rows.values()) for r in m.registries.values()
    }
    return procs, regs


async def test_snapshot_plus_events_equals_a_fresh_snapshot():
    async with rt.Node() as node:
        await start_app()
        mirror = Mirror()
        sub = node.events.subscribe()
        mirror.load(node.snapshot())
        # a busy minute: spawns, registrations, crashes and restarts, normal stops, a kill
        pids = [
            await rt.DynamicSupervisor.start_child(
                SUPERVISOR, Sleeper.child_spec(f"s{i}", name=rt.via(REGISTRY, f"s{i}"))
            )
            for i in range(20)
        ]
        for p in pids[:2]:  # (the default intensity allows 3 restarts in 5 s)
            node.exit(p, RuntimeError("boom"))  # transient: restarted under a new pid
        for p in pids[5:10]:
            await rt.GenServer.stop(p)  # normal: gone, and its name with it
        node.exit(pids[10], "kill")
        await rt.DynamicSupervisor.start_child(SUPERVISOR, Greeter.child_spec("Ann", 0, name=greeter_name("Ann")))
        await asyncio.sleep(0.05)
        for e in drain(sub):
            mirror.apply(e)
        fresh = Mirror()
        fresh.load(node.snapshot())
        assert mirror.seq == node.events.seq == fresh.seq
        assert shape(mirror) == shape(fresh)
        assert len(mirror.registries[REGISTRY].rows) == 20 - 5  # 5 stopped normally; restarted ones re-registered
        restarted = [p for p in mirror.procs.values() if p.restarts]
        assert len(restarted) == 3  # 2 crashes and a kill
        assert all(p.last_exit for p in restarted)


async def test_events_already_in_the_snapshot_are_not_applied_twice():
    async with rt.Node() as node:
        await start_app()
        sub = node.events.subscribe()
        await rt.DynamicSupervisor.start_child(SUPERVISOR, Sleeper.child_spec("x", name=rt.via(REGISTRY, "x")))
        mirror = Mirror()
        mirror.load(node.snapshot())  # already reflects the events queued in `sub`
        for e in drain(sub):
            mirror.apply(e)
        assert len(mirror.registries[REGISTRY].rows) == 1
        assert sum(1 for p in mirror.procs.values() if p.kind == "Sleeper") == 1


async def test_tree_pages_and_searches_workers_under_their_supervisor():
    async with rt.Node() as node:
        await start_app()
        mirror = Mirror()
        sub = node.events.subscribe()
        mirror.load(node.snapshot())
        for i in range(45):
            await rt.DynamicSupervisor.start_child(
                SUPERVISOR, Sleeper.child_spec(f"t{i}", name=rt.via(REGISTRY, f"key-{i}"))
            )
        for e in drain(sub):
            mirror.apply(e)
        [app] = mirror.tree()
        assert app.proc.name == "GreeterApp"
        children = {c.proc.name: c for c in app.children}
        assert set(children) == {REGISTRY, SUPERVISOR}
        sup = children[SUPERVISOR]
        assert (sup.workers.total, sup.workers.pages, len(sup.workers.items)) == (45, 3, 20)
        dsup_pid = sup.proc.pid
        [app] = mirror.tree(pages={dsup_pid: 3})
        last = next(c for c in app.children if c.proc.name == SUPERVISOR).workers
        assert (last.number, [w.name for w in last.items]) == (3, [f"key-{i}" for i in range(40, 45)])
        [app] = mirror.tree(q="KEY-4")  # case-insensitive: key-4, key-40..44
        found = next(c for c in app.children if c.proc.name == SUPERVISOR).workers
        assert sorted(w.name for w in found.items) == ["key-4", "key-40", "key-41", "key-42", "key-43", "key-44"]
        [app] = mirror.tree(pages={dsup_pid: 99})  # past the end: the last page
        assert next(c for c in app.children if c.proc.name == SUPERVISOR).workers.number == 3


async def test_registry_page_searches_keys_values_and_pids():
    async with rt.Node() as node:
        await rt.Registry.start_link(keys="duplicate", name="topics")
        mirror = Mirror()
        sub = node.events.subscribe()
        mirror.load(node.snapshot())

        async def member(i: int) -> None:
            rt.Registry.register("topics", "news", {"n": i})
            rt.Registry.register("topics", "sport", i)
            await rt.receive()

        pids = [node.spawn(member, i) for i in range(30)]
        await asyncio.sleep(0.01)
        for e in drain(sub):
            mirror.apply(e)
        page = mirror.registry_page("topics")
        assert (page.total, page.pages, len(page.items)) == (60, 3, 20)
        assert mirror.registry_page("topics", q="sport").total == 30
        assert mirror.registry_page("topics", q="{'n': 7}").total == 1
        assert mirror.registry_page("topics", q=str(pids[3])).total == 2
        assert mirror.registry_page("nope") is None
        node.exit(pids[0], "kill")  # the owner's death removes its entries
        for e in drain(sub):
            mirror.apply(e)
        assert mirror.registry_page("topics").total == 58


async def test_log_is_bounded_newest_first_and_filterable():
    async with rt.Node() as node:
        mirror = Mirror(log_size=50)
        sub = node.events.subscribe()
        mirror.load(node.snapshot())
        for i in range(40):
            node.events.emit("greeted", None, person=f"p{i}", count=1)
            node.events.emit("custom", None, n=i)
        for e in drain(sub):
            mirror.apply(e)
        assert len(mirror.log) == 50
        rows = mirror.events(limit=10)
        assert [r.seq for r in rows] == list(range(80, 70, -1))
        greeted = mirror.events(kinds=["greeted"], limit=100)
        assert all(r.kind == "greeted" for r in greeted) and len(greeted) == 25
        assert mirror.events(after=78) == mirror.events(limit=2)


async def test_crash_rows_carry_the_traceback():
    async with rt.Node() as node:
        mirror = Mirror()
        sub = node.events.subscribe()
        mirror.load(node.snapshot())

        async def crashes() -> None:
            raise ValueError("bad value")

        pid = node.spawn(crashes)
        await node.join(pid)
        for e in drain(sub):
            mirror.apply(e)
        [row] = mirror.events(kinds=["exited"])
        assert "ValueError('bad value')" in row.summary
        assert "Traceback" in row.traceback and "bad value" in row.traceback


def test_display_text_is_bounded_and_never_raises():
    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert text("x" * 500).endswith("…") and len(text("x" * 500)) == 200
    assert text(Evil()).startswith("<unrepresentable Evil")
    assert name_text(rt.via("R", "greeter_for_Ann")) == "greeter_for_Ann"
    assert name_text(None) == ""
