"""Property-based tests: random operation sequences against a model of OTP supervision.

Each example runs on a fresh node inside its own ``asyncio.run``. A static ``Supervisor``
("sup", one_for_one) and a ``DynamicSupervisor`` ("dsup") supervise ``Worker`` GenServers
(permanent / transient / temporary; unnamed, ``str``-named or named through the unique
Registry "reg"). Operations: start children, crash them (a call that raises), stop them
normally / with ``shutdown`` / ``("shutdown", x)`` / an abnormal reason, send exit signals
(``kill`` included), register and unregister registry keys from inside the workers (the same
keys that via names use, so a restart can fail on a taken name), make the next starts of a
child fail, ``terminate_child`` / ``restart_child`` / ``delete_child`` / ``start_child``, and
restart a supervisor that gave up.

A model (otp-semantics.md §1, §3-§6) predicts, per step: which children start, which exit and
with what reason, which restarts happen, when a supervisor reaches its intensity and exits
``"shutdown"``, every supervisor's books, every registry entry and every str name. After each
step (once the loop has settled) the test checks the runtime against the model and checks the
model-free invariants:

- every live child is in its supervisor's books and every Pid in the books is a live process
  whose parent is that supervisor; ``count_children`` agrees with ``which_children``;
- no registry entry and no str name points at a dead process;
- the event stream's ``seq`` is gap-free with no ``Overflow``; a restart's old ``exited``, new
  ``started`` and ``restarted`` come in that order; ``gave_up`` precedes the supervisor's
  ``exited``;
- the first snapshot plus every later event replayed equals the current snapshot.

The intensity window is long (1 h) so that the model can predict give-ups exactly; a second
property uses a short window and checks the event-counted form of the rule.

Failures print the operation list (hypothesis' falsifying example) and a step trace.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from supervision import runtime as rt

REG = "reg"
KEYS = [("n", i) for i in range(4)]  # registry keys: used by via names *and* explicit registers
STR_NAMES = [f"n{i}" for i in range(4)]
IDS = [f"c{i}" for i in range(4)]
RESTARTS = ["permanent", "transient", "temporary"]
NEVER = rt.Pid(10**9)  # a pid that never existed
LONG_WINDOW = 3600


def is_abnormal(reason: Any) -> bool:
    if reason == "normal" or reason == "shutdown":
        return False
    return not (type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown")


def restarts_on(restart: str, reason: Any) -> bool:
    """OTP's rule, written out independently of the runtime's ``should_restart``."""
    if restart == "permanent":
        return True
    if restart == "transient":
        return is_abnormal(reason)
    return False


def same_reason(actual: Any, expected: Any) -> bool:
    if isinstance(expected, type):  # a crash: the exception's type
        return isinstance(actual, expected)
    return type(actual) is type(expected) and actual == expected


# -- the worker -------------------------------------------------------------------------------


class Book:
    """Shared by the workers of one example: start failures to inject and a log of starts."""

    def __init__(self) -> None:
        self.fail: dict[int, int] = {}
        self.started: list[tuple[int, rt.Pid]] = []


class Worker(rt.GenServer):
    async def init(self, book: Book, cid: int) -> None:
        if book.fail.get(cid, 0) > 0:
            book.fail[cid] -= 1
            raise RuntimeError("init failure requested")
        self.cid = cid
        book.started.append((cid, rt.self_pid()))

    async def handle_call(self, req: Any, caller: Any) -> Any:
        op = req[0]
        if op == "crash":
            raise RuntimeError("crash requested")
        if op == "stop":
            return rt.Stop(req[1], reply="bye")
        if op == "register":
            try:
                rt.Registry.register(REG, req[1], req[2])
            except rt.AlreadyRegistered as e:
                return ("already", e.pid)
            return "ok"
        if op == "unregister":
            rt.Registry.unregister(REG, req[1])
            return "ok"
        if op == "whoami":
            return self.cid
        raise ValueError(req)


# -- the model --------------------------------------------------------------------------------


class MChild:
    def __init__(self, cid: int, kind: str, id: Any, restart: str, name: Any, shutdown: Any) -> None:
        self.cid = cid
        self.shutdown = shutdown
        self.kind = kind
        self.id = id
        self.restart = restart
        self.name = name  # None | str | ("via", key)
        self.pid: rt.Pid | None = None  # the current (or last) incarnation's pid
        self.running = False

    @property
    def shutdown_reason(self) -> str:
        """How a supervisor's shutdown of this (non-trapping) worker ends it."""
        return "killed" if self.shutdown == "brutal_kill" else "shutdown"

    def __repr__(self) -> str:
        return f"<child {self.cid} {self.kind} id={self.id} {self.restart} name={self.name} pid={self.pid} running={self.running}>"


class MSup:
    def __init__(self, kind: str, pid: rt.Pid, max_restarts: int, max_children: int | None) -> None:
        self.kind = kind
        self.pid = pid
        self.alive = True
        self.attempts = 0
        self.max_restarts = max_restarts
        self.max_children = max_children
        self.children: list[MChild] = []  # start order


class Model:
    def __init__(self) -> None:
        self.sups: dict[str, MSup] = {}
        self.reg: dict[Any, tuple[int, Any]] = {}  # key -> (owner cid, value)
        self.names: dict[str, int] = {}  # str name -> cid
        self.children: dict[int, MChild] = {}
        self.fail: dict[int, int] = {}
        self.next_cid = 0
        self.reset_step()

    def reset_step(self) -> None:
        self.exp_starts: list[int] = []  # cids that start a new incarnation
        self.exp_restarts: list[tuple[str, int, rt.Pid | None]] = []  # (sup kind, cid, old pid)
        self.exp_exits: list[tuple[rt.Pid, Any]] = []  # (pid, reason) of known processes
        self.exp_gave_up: list[str] = []

    def pid_of(self, cid: int) -> rt.Pid | None:
        return self.children[cid].pid

    def running(self) -> list[MChild]:
        return sorted(
            (c for s in self.sups.values() if s.alive for c in s.children if c.running),
            key=lambda c: c.cid,
        )

    # what a start does (GenServer._start: the name first, then init)
    def start(self, child: MChild) -> tuple[str, Any]:
        name = child.name
        if type(name) is str and name in self.names:
            return ("already", self.names[name])
        if type(name) is tuple and name[1] in self.reg:
            return ("already", self.reg[name[1]][0])
        if self.fail.get(child.cid, 0) > 0:
            self.fail[child.cid] -= 1
            return ("fail", None)
        child.running = True
        if type(name) is str:
            self.names[name] = child.cid
        elif type(name) is tuple:
            self.reg[name[1]] = (child.cid, None)
        self.exp_starts.append(child.cid)
        return ("ok", None)

    def die(self, child: MChild, reason: Any) -> rt.Pid | None:
        """The current incarnation exits: its names and registry entries go."""
        assert child.running
        old = child.pid
        self.exp_exits.append((old, reason))
        child.running = False
        for k in [k for k, (cid, _) in self.reg.items() if cid == child.cid]:
            del self.reg[k]
        for n in [n for n, cid in self.names.items() if cid == child.cid]:
            del self.names[n]
        return old

    def exited(self, child: MChild, reason: Any) -> None:
        """An unrequested exit: the supervisor applies the restart rule."""
        old = self.die(child, reason)
        sup = self.sups[child.kind]
        if not restarts_on(child.restart, reason):
            if child.kind == "dsup" or child.restart == "temporary":
                sup.children.remove(child)
            return
        while True:
            sup.attempts += 1
            if sup.attempts > sup.max_restarts:
                self.give_up(sup, child)
                return
            if self.start(child)[0] == "ok":
                self.exp_restarts.append((sup.kind, child.cid, old))
                return
            # a failed restart: the child is "restarting" and the supervisor retries

    def give_up(self, sup: MSup, failing: MChild) -> None:
        sup.children.remove(failing)
        for c in reversed(sup.children):
            if c.running:
                self.die(c, c.shutdown_reason)
        sup.children = []
        sup.alive = False
        self.exp_gave_up.append(sup.kind)
        self.exp_exits.append((sup.pid, "shutdown"))


# -- operations -------------------------------------------------------------------------------

targets = st.integers(0, 7)
stop_reasons = st.sampled_from(["normal", "shutdown", ("shutdown", "x"), "boom"])
signal_reasons = st.sampled_from(["kill", "shutdown", ("shutdown", 1), "normal", "boom"])

ops = st.one_of(
    st.tuples(
        st.just("start"),
        st.sampled_from(["sup", "dsup"]),
        st.sampled_from(RESTARTS),
        st.sampled_from(["none", "none", "str", "via"]),
        st.integers(0, 3),  # name index
        st.integers(0, 3),  # id index (static supervisor)
        st.sampled_from([0, 0, 0, 0, 1, 2]),  # failing starts before it works
    ),
    st.tuples(st.just("crash"), targets),
    st.tuples(st.just("stop"), targets, stop_reasons),
    st.tuples(st.just("gs_stop"), targets, stop_reasons),
    st.tuples(st.just("signal"), targets, signal_reasons),
    st.tuples(st.just("register"), targets, st.integers(0, 3), st.integers(0, 9)),
    st.tuples(st.just("unregister"), targets, st.integers(0, 3)),
    st.tuples(st.just("poison"), targets, st.integers(1, 4)),
    st.tuples(st.just("terminate_child"), st.integers(0, 3)),
    st.tuples(st.just("restart_child"), st.integers(0, 3)),
    st.tuples(st.just("delete_child"), st.integers(0, 3)),
    st.tuples(st.just("dsup_terminate"), targets, st.booleans()),
    st.tuples(st.just("respawn"), st.sampled_from(["sup", "dsup"])),
)

configs = st.fixed_dictionaries(
    {
        "sup_max_restarts": st.integers(0, 4),
        "dsup_max_restarts": st.integers(0, 4),
        "max_children": st.sampled_from([None, None, 2, 3]),
    }
)


class Failure(AssertionError):
    pass


_failure_kinds: dict[int, type[Failure]] = {}


def check(cond: Any, msg: str) -> None:
    """Assert; each calling line raises its own Failure subclass, so that hypothesis keeps
    distinct properties apart (it reports and shrinks each distinct failure separately)."""
    if not cond:
        line = sys._getframe(1).f_lineno
        kind = _failure_kinds.get(line)
        if kind is None:
            kind = _failure_kinds[line] = type(f"Failure_line{line}", (Failure,), {})
        raise kind(msg)


async def settle(node: rt.Node) -> None:
    """Yield until no process has queued messages or runs code, for a few rounds in a row."""
    quiet = 0
    for _ in range(5000):
        await asyncio.sleep(0)
        busy = any(p.mailbox_len or p.status == "running" for p in node.processes())
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return
    raise Failure("the node did not settle")


class Harness:
    def __init__(self, node: rt.Node, cfg: dict[str, Any], trace: list[str]) -> None:
        self.node = node
        self.cfg = cfg
        self.trace = trace
        self.book = Book()
        self.model = Model()
        self.sub = node.events.subscribe(maxsize=1_000_000)
        self.last_seq = 0
        self.events: list[rt.Event] = []
        self.started_at: dict[rt.Pid, int] = {}
        self.exited_at: dict[rt.Pid, int] = {}
        self.exit_reason: dict[rt.Pid, Any] = {}
        self.replay_procs: dict[rt.Pid, tuple[Any, Any]] | None = None
        self.replay_reg: dict[Any, Counter] | None = None
        self.log_pos = 0

    # -- setup ----------------------------------------------------------------------------

    async def setup(self) -> None:
        await rt.Registry.start_link(keys="unique", name=REG)
        await self.spawn_sup("sup")
        await self.spawn_sup("dsup")
        await settle(self.node)
        self.drain_events()
        snap = self.node.snapshot()
        check(snap.seq == self.last_seq, f"snapshot seq {snap.seq} != last event seq {self.last_seq}")
        self.replay_procs = {p.pid: (p.parent, p.name) for p in snap.processes}
        self.replay_reg = {name: Counter(entries) for name, entries in snap.registries.items()}
        self.model.reset_step()

    async def spawn_sup(self, kind: str) -> None:
        if kind == "sup":
            m = self.cfg["sup_max_restarts"]
            pid = await rt.Supervisor.start_link(
                [], strategy="one_for_one", max_restarts=m, max_seconds=LONG_WINDOW, name="sup"
            )
            self.model.sups["sup"] = MSup("sup", pid, m, None)
        else:
            m = self.cfg["dsup_max_restarts"]
            mc = self.cfg["max_children"]
            pid = await rt.DynamicSupervisor.start_link(
                name="dsup", max_children=mc, max_restarts=m, max_seconds=LONG_WINDOW
            )
            self.model.sups["dsup"] = MSup("dsup", pid, m, mc)

    # -- one step -------------------------------------------------------------------------

    async def step(self, op: tuple[Any, ...]) -> None:
        m = self.model
        m.reset_step()
        self.known_live = {c.pid for c in m.running()} | {s.pid for s in m.sups.values() if s.alive}
        self.pending: list[tuple[str, Any, Any]] = []  # (what, actual, expected) checked after the sync
        desc = await self.apply(op)
        self.trace.append(f"{op!r}: {desc}")
        await settle(self.node)
        self.sync_starts()
        for what, actual, expected in self.pending:
            self.check_result(what, actual, expected)
        self.check_events()
        await self.check_books()
        self.check_names()
        self.check_snapshot()

    async def apply(self, op: tuple[Any, ...]) -> str:
        m = self.model
        kind = op[0]
        if kind == "start":
            return await self.op_start(*op[1:])
        if kind in ("crash", "stop", "gs_stop", "signal", "register", "unregister", "poison"):
            running = m.running()
            if not running:
                return "skipped: nothing running"
            child = running[op[1] % len(running)]
            pid = child.pid
            if kind == "crash":
                res = await self.attempt(rt.GenServer.call(pid, ("crash",)))
                m.exited(child, RuntimeError)
                self.expect("crash call", res, ("raises", rt.CallExit))
            elif kind == "stop":
                res = await self.attempt(rt.GenServer.call(pid, ("stop", op[2])))
                m.exited(child, op[2])
                self.expect("stop call", res, ("eq", "bye"))
            elif kind == "gs_stop":
                res = await self.attempt(rt.GenServer.stop(pid, op[2]))
                m.exited(child, op[2])
                self.expect("GenServer.stop", res, ("eq", None))
            elif kind == "signal":
                self.node.exit(pid, op[2])
                if op[2] == "kill":
                    m.exited(child, "killed")
                elif op[2] != "normal":  # a non-trapping process ignores "normal" from others
                    m.exited(child, op[2])
            elif kind == "register":
                key = KEYS[op[2]]
                res = await self.attempt(rt.GenServer.call(pid, ("register", key, op[3])))
                if key in m.reg:
                    self.expect("register", res, ("already", m.reg[key][0]))
                else:
                    m.reg[key] = (child.cid, op[3])
                    self.expect("register", res, ("eq", "ok"))
            elif kind == "unregister":
                key = KEYS[op[2]]
                res = await self.attempt(rt.GenServer.call(pid, ("unregister", key)))
                if key in m.reg and m.reg[key][0] == child.cid:
                    del m.reg[key]
                self.expect("unregister", res, ("eq", "ok"))
            elif kind == "poison":
                self.book.fail[child.cid] = op[2]
                m.fail[child.cid] = op[2]
            return f"on {child!r}"
        if kind in ("terminate_child", "restart_child", "delete_child"):
            return await self.op_static(kind, IDS[op[1]])
        if kind == "dsup_terminate":
            return await self.op_dsup_terminate(op[1], op[2])
        if kind == "respawn":
            sup = m.sups[op[1]]
            if sup.alive:
                return "skipped: alive"
            await self.spawn_sup(op[1])
            return "respawned"
        raise AssertionError(op)

    async def attempt(self, coro: Any) -> Any:
        try:
            return await coro
        except Exception as e:
            return e

    def expect(self, what: str, actual: Any, expected: Any) -> None:
        self.pending.append((what, actual, expected))

    def check_result(self, what: str, actual: Any, expected: tuple[str, Any]) -> None:
        how, val = expected
        m = self.model
        if how == "eq":
            check(type(actual) is type(val) and actual == val, f"{what}: expected {val!r}, got {actual!r}")
        elif how == "raises":
            check(isinstance(actual, val), f"{what}: expected {val.__name__}, got {actual!r}")
        elif how == "reason":  # an exception type with .reason
            cls, reason = val
            check(
                isinstance(actual, cls) and actual.reason == reason,
                f"{what}: expected {cls.__name__}({reason!r}), got {actual!r}",
            )
        elif how == "started":  # the pid of the child's new incarnation
            check(
                type(actual) is rt.Pid and actual == m.pid_of(val),
                f"{what}: expected the new pid {m.pid_of(val)}, got {actual!r}",
            )
        elif how == "already_started":  # AlreadyStarted(pid of cid's incarnation)
            check(
                isinstance(actual, rt.AlreadyStarted) and actual.pid == m.pid_of(val),
                f"{what}: expected AlreadyStarted({m.pid_of(val)}), got {actual!r}",
            )
        elif how == "already":  # a register inside a worker that found the key taken
            check(
                actual == ("already", m.pid_of(val)), f"{what}: expected ('already', {m.pid_of(val)}), got {actual!r}"
            )
        else:
            raise AssertionError(how)

    async def op_start(self, kind: str, restart: str, name_kind: str, name_idx: int, id_idx: int, fail: int) -> str:
        m = self.model
        sup = m.sups[kind]
        cid = m.next_cid
        m.next_cid += 1
        if name_kind == "str":
            name, rt_name = STR_NAMES[name_idx], STR_NAMES[name_idx]
        elif name_kind == "via":
            name, rt_name = ("via", KEYS[name_idx]), rt.via(REG, KEYS[name_idx])
        else:
            name = rt_name = None
        id = IDS[id_idx] if kind == "sup" else cid
        start = (
            (Worker.start_link, (self.book, cid), {"name": rt_name})
            if rt_name is not None
            else (Worker.start_link, (self.book, cid))
        )
        shutdown = [1.0, "brutal_kill", "infinity"][cid % 3]
        spec = rt.ChildSpec(id=id, start=start, restart=restart, shutdown=shutdown)
        child = MChild(cid, kind, id if kind == "sup" else None, restart, name, shutdown)
        m.children[cid] = child
        if fail:
            self.book.fail[cid] = fail
            m.fail[cid] = fail
        api = rt.Supervisor if kind == "sup" else rt.DynamicSupervisor
        res = await self.attempt(api.start_child(kind, spec))
        if not sup.alive:
            self.expect("start_child on a dead supervisor", res, ("raises", rt.NoProcess))
            return "supervisor dead"
        if kind == "sup":
            existing = next((c for c in sup.children if c.id == id), None)
            if existing is not None:
                if existing.running:
                    self.expect("start_child (id running)", res, ("already_started", existing.cid))
                else:
                    self.expect("start_child (id present)", res, ("reason", (rt.StartError, "already_present")))
                return f"id {id} taken by {existing!r}"
        elif sup.max_children is not None and len(sup.children) >= sup.max_children:
            self.expect("start_child (max_children)", res, ("raises", rt.MaxChildren))
            return "max_children"
        outcome, holder = m.start(child)
        if outcome == "ok":
            sup.children.append(child)
            self.expect("start_child", res, ("started", cid))
        elif outcome == "already":
            self.expect("start_child (name taken)", res, ("already_started", holder))
        else:
            self.expect("start_child (init fails)", res, ("raises", rt.StartError))
        return f"{child!r}: {outcome}"

    async def op_static(self, kind: str, id: Any) -> str:
        m = self.model
        sup = m.sups["sup"]
        fn = getattr(rt.Supervisor, kind)
        res = await self.attempt(fn("sup", id))
        if not sup.alive:
            self.expect(kind, res, ("raises", rt.NoProcess))
            return "supervisor dead"
        child = next((c for c in sup.children if c.id == id), None)
        if child is None:
            self.expect(kind, res, ("raises", rt.NotFound))
            return "not found"
        if kind == "terminate_child":
            if child.running:
                m.die(child, child.shutdown_reason)
            if child.restart == "temporary":
                sup.children.remove(child)
            self.expect(kind, res, ("eq", None))
        elif kind == "restart_child":
            if child.running:
                self.expect(kind, res, ("reason", (rt.SupervisorError, "running")))
            else:
                outcome, holder = m.start(child)  # not counted toward intensity
                if outcome == "ok":
                    self.expect(kind, res, ("started", child.cid))
                elif outcome == "already":
                    self.expect(kind, res, ("already_started", holder))
                else:
                    self.expect(kind, res, ("raises", rt.StartError))
        else:
            if child.running:
                self.expect(kind, res, ("reason", (rt.SupervisorError, "running")))
            else:
                sup.children.remove(child)
                self.expect(kind, res, ("eq", None))
        return f"on {child!r}"

    async def op_dsup_terminate(self, i: int, bogus: bool) -> str:
        m = self.model
        sup = m.sups["dsup"]
        kids = sorted((c for c in sup.children if c.running), key=lambda c: c.cid) if sup.alive else []
        if bogus or not kids:
            # not a child: a pid that never existed, or a static supervisor's child
            others = [c for c in m.running() if c.kind == "sup"]
            pid = others[i % len(others)].pid if others and not bogus else NEVER
            res = await self.attempt(rt.DynamicSupervisor.terminate_child("dsup", pid))
            self.expect(
                "dsup terminate_child (not a child)", res, ("raises", rt.NotFound if sup.alive else rt.NoProcess)
            )
            return f"not a child: {pid}"
        child = kids[i % len(kids)]
        res = await self.attempt(rt.DynamicSupervisor.terminate_child("dsup", child.pid))
        m.die(child, child.shutdown_reason)
        sup.children.remove(child)
        self.expect("dsup terminate_child", res, ("eq", None))
        return f"on {child!r}"

    # -- checks ---------------------------------------------------------------------------

    def sync_starts(self) -> None:
        new = self.book.started[self.log_pos :]
        self.log_pos = len(self.book.started)
        check(
            Counter(c for c, _ in new) == Counter(self.model.exp_starts),
            f"children started this step: expected cids {sorted(self.model.exp_starts)}, got {sorted(c for c, _ in new)}",
        )
        for cid, pid in new:
            self.model.children[cid].pid = pid

    def drain_events(self) -> list[rt.Event]:
        out = []
        while True:
            item = self.sub.get_nowait()
            if item is None:
                break
            check(not isinstance(item, rt.Overflow), f"unexpected {item!r}")
            check(item.seq == self.last_seq + 1, f"event seq gap: {self.last_seq} then {item.seq} ({item.kind})")
            self.last_seq = item.seq
            out.append(item)
            if item.kind == "started":
                check(item.pid not in self.started_at, f"{item.pid} started twice")
                self.started_at[item.pid] = item.seq
            elif item.kind == "exited":
                check(item.pid in self.started_at, f"{item.pid} exited without a started event")
                check(item.pid not in self.exited_at, f"{item.pid} exited twice")
                self.exited_at[item.pid] = item.seq
                self.exit_reason[item.pid] = item.data.get("reason")
        self.events.extend(out)
        return out

    def check_events(self) -> None:
        m = self.model
        evs = self.drain_events()
        check(
            self.node.events.seq == self.last_seq,
            f"node seq {self.node.events.seq} but last event seen {self.last_seq}",
        )
        # exits: every expected exit happened with its reason; no known live process died otherwise
        exited = {e.pid: e.data.get("reason") for e in evs if e.kind == "exited"}
        expected = dict(m.exp_exits)
        for pid, reason in m.exp_exits:
            check(pid in exited, f"{pid} should have exited {reason!r} but did not (alive: {self.node.is_alive(pid)})")
            check(same_reason(exited[pid], reason), f"{pid} exited {exited[pid]!r}, expected {reason!r}")
        for pid in exited:
            if pid in self.known_live:
                check(pid in expected, f"{pid} exited {exited[pid]!r} unexpectedly")
        # restarts: exactly the predicted ones, each after the old exited and the new started
        restarted = [e for e in evs if e.kind == "restarted"]
        got = Counter((e.pid, e.data.get("new_pid")) for e in restarted)
        want = Counter((m.sups[k].pid, m.pid_of(cid)) for k, cid, _ in m.exp_restarts)
        check(
            got == want,
            f"restarted events (sup, new_pid): expected {sorted(want.items(), key=str)}, got {sorted(got.items(), key=str)}",
        )
        by_new = {e.data.get("new_pid"): e for e in restarted}
        for kind, cid, old in m.exp_restarts:
            e = by_new[m.pid_of(cid)]
            child = m.children[cid]
            check(
                e.data.get("old_pid") == old,
                f"restarted event for {child!r}: old_pid {e.data.get('old_pid')}, expected {old}",
            )
            if kind == "sup":
                check(
                    e.data.get("child_id") == child.id,
                    f"restarted event child_id {e.data.get('child_id')!r}, expected {child.id!r}",
                )
            new = m.pid_of(cid)
            check(
                self.exited_at.get(old, 1 << 60) < self.started_at.get(new, -1) < e.seq,
                f"restart of {child!r}: old exited at {self.exited_at.get(old)}, new started at {self.started_at.get(new)}, restarted at {e.seq}",
            )
        # intensity: gave_up exactly when predicted, with restarts = max_restarts + 1, before the exit
        gave = [e for e in evs if e.kind == "gave_up"]
        check(
            sorted(e.pid for e in gave) == sorted(m.sups[k].pid for k in m.exp_gave_up),
            f"gave_up from {[e.pid for e in gave]}, expected from {[m.sups[k].pid for k in m.exp_gave_up]}",
        )
        for e in gave:
            sup = next(s for s in m.sups.values() if s.pid == e.pid)
            check(
                e.data.get("restarts") == sup.max_restarts + 1,
                f"gave_up restarts {e.data.get('restarts')}, expected {sup.max_restarts + 1}",
            )
            check(e.data.get("max_restarts") == sup.max_restarts, f"gave_up max_restarts {e.data.get('max_restarts')}")
            check(
                e.seq < self.exited_at.get(e.pid, -1),
                f"gave_up (seq {e.seq}) must precede the supervisor's exited ({self.exited_at.get(e.pid)})",
            )

    async def check_books(self) -> None:
        m = self.model
        procs = self.node.processes()
        alive = {p.pid for p in procs}
        for kind, sup in m.sups.items():
            check(
                self.node.is_alive(sup.pid) == sup.alive,
                f"{kind} {sup.pid} alive={self.node.is_alive(sup.pid)}, model says {sup.alive}",
            )
            check(
                self.node.whereis(kind) == (sup.pid if sup.alive else None),
                f"whereis({kind!r}) = {self.node.whereis(kind)}",
            )
            kids_in_table = {p.pid for p in procs if p.parent == sup.pid}
            if not sup.alive:
                check(not kids_in_table, f"dead {kind} {sup.pid} leaves live children {kids_in_table}")
                continue
            api = rt.Supervisor if kind == "sup" else rt.DynamicSupervisor
            which = await api.which_children(kind)
            counts = await api.count_children(kind)
            pids = [w.pid for w in which if type(w.pid) is rt.Pid]
            check(counts.specs == len(which), f"{kind} count_children.specs {counts.specs} != {len(which)} rows")
            check(
                counts.active == len(pids), f"{kind} count_children.active {counts.active} != {len(pids)} running rows"
            )
            check(counts.workers + counts.supervisors == counts.specs, f"{kind} count_children {counts}")
            check(
                counts.workers == sum(1 for w in which if w.type == "worker"), f"{kind} count_children.workers {counts}"
            )
            for pid in pids:
                check(pid in alive, f"{kind} books hold dead pid {pid}")
            check(
                set(pids) == kids_in_table,
                f"{kind} books {sorted(pids)} vs live processes whose parent is {kind}: {sorted(kids_in_table)}",
            )
            if kind == "sup":
                got = [(w.id, w.pid, w.restart) for w in which]
                want = [(c.id, c.pid if c.running else None, c.restart) for c in reversed(sup.children)]
                check(got == want, f"sup which_children (newest first): expected {want}, got {got}")
            else:
                got = sorted((str(w.pid), w.id, w.restart) for w in which)
                want = sorted((str(c.pid), None, c.restart) for c in sup.children)
                check(all(c.running for c in sup.children), "model: a dsup entry not running")
                check(got == want, f"dsup which_children: expected {want}, got {got}")
        # every running model child is alive and answers as itself
        for c in m.running():
            check(c.pid in alive, f"{c!r} should be running")
            who = await rt.GenServer.call(c.pid, ("whoami",))
            check(who == c.cid, f"{c.pid} answers as {who}, expected {c.cid}")
        # no live worker outside the model
        workers = {p.pid for p in procs if p.kind == Worker.__qualname__}
        check(
            workers == {c.pid for c in m.running()},
            f"live workers {sorted(workers)} vs model {sorted(c.pid for c in m.running())}",
        )

    def check_names(self) -> None:
        m = self.model
        entries = rt.Registry.select(REG)
        for key, pid, _ in entries:
            check(self.node.is_alive(pid), f"registry entry {key!r} -> dead {pid}")
        got = sorted(((k, str(p), v) for k, p, v in entries), key=repr)
        want = sorted(((k, str(m.pid_of(cid)), v) for k, (cid, v) in m.reg.items()), key=repr)
        check(got == want, f"registry entries: expected {want}, got {got}")
        for key in KEYS:
            via = self.node.whereis(rt.via(REG, key))
            want_pid = m.pid_of(m.reg[key][0]) if key in m.reg else None
            check(via == want_pid, f"whereis(via {key!r}) = {via}, expected {want_pid}")
        for name in STR_NAMES:
            pid = self.node.whereis(name)
            check(pid is None or self.node.is_alive(pid), f"name {name!r} -> dead {pid}")
            want_pid = m.pid_of(m.names[name]) if name in m.names else None
            check(pid == want_pid, f"whereis({name!r}) = {pid}, expected {want_pid}")

    def check_snapshot(self) -> None:
        """The setup snapshot plus every later event replayed equals a fresh snapshot."""
        procs, regs = self.replay_procs, self.replay_reg
        assert procs is not None and regs is not None
        for e in self.events:
            if e.seq <= self.replayed_to:
                continue
            if e.kind == "started":
                procs[e.pid] = (e.data.get("parent"), e.data.get("name"))
            elif e.kind == "exited":
                procs.pop(e.pid, None)
            elif e.kind == "registered":
                regs.setdefault(e.data["registry"], Counter())[(e.data["key"], e.pid, e.data["value"])] += 1
            elif e.kind == "unregistered":
                c = regs.setdefault(e.data["registry"], Counter())
                t = (e.data["key"], e.pid, e.data["value"])
                check(c[t] > 0, f"event {e.seq} unregisters {t}, which the replay does not hold")
                c[t] -= 1
                if c[t] == 0:
                    del c[t]
            self.replayed_to = e.seq
        snap = self.node.snapshot()
        check(snap.seq == self.last_seq, f"snapshot seq {snap.seq} != last event {self.last_seq}")
        got = {p.pid: (p.parent, p.name) for p in snap.processes}
        check(got == procs, f"snapshot processes {got} != replayed {procs}")
        got_regs = {name: Counter(entries) for name, entries in snap.registries.items()}
        check(
            got_regs == {k: v for k, v in regs.items() if v or k in got_regs},
            f"snapshot registries {got_regs} != replayed {regs}",
        )

    replayed_to = 0


async def run_example(cfg: dict[str, Any], operations: list[tuple[Any, ...]], trace: list[str]) -> None:
    async with rt.Node() as node:
        h = Harness(node, cfg, trace)
        await h.setup()
        h.replayed_to = h.last_seq
        for op in operations:
            await h.step(op)


def run(cfg: dict[str, Any], operations: list[tuple[Any, ...]]) -> None:
    trace: list[str] = []
    try:
        asyncio.run(run_example(cfg, operations, trace))
    except BaseException:
        note(f"config: {cfg}")
        note("trace:\n  " + "\n  ".join(trace))
        raise


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cfg=configs, operations=st.lists(ops, min_size=1, max_size=40))
def test_supervision_matches_the_model(cfg: dict[str, Any], operations: list[tuple[Any, ...]]) -> None:
    run(cfg, operations)
