"""The dashboard's copy of a node: processes, the supervision tree, registries, recent events.

A ``Mirror`` is loaded from a runtime ``Snapshot`` and kept current by applying the node's
``Event``s in ``seq`` order (DESIGN.md §3: take a snapshot, apply only later events, take a
fresh snapshot after a gap or an ``Overflow``). It lives on the web server's event loop, so
rendering, searching and paginating 100,000 processes never runs on the node's loop: the node
only pays for pushing events. Values from the node are turned into text once, on arrival.

This module imports only the runtime; it knows nothing of Django.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from supervision import runtime as rt

TEXT_LIMIT = 200  # characters of a key, value or name shown in a table cell
REASON_LIMIT = 2_000
TRACEBACK_LIMIT = 20_000
LOAD_STEP = 5_000  # processes or entries loaded between yields to the loop


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A short, safe display text: strings as they are, anything else by its repr."""
    if type(value) is str:
        s = value
    else:
        try:
            s = repr(value)
        except Exception as e:  # a user's __repr__ must not break the dashboard
            s = f"<unrepresentable {type(value).__name__}: {type(e).__name__}>"
    return s if len(s) <= limit else s[: limit - 1] + "…"


def reason_text(reason: Any) -> str:
    """An exit reason as a line of text: ``normal``, ``('shutdown', x)``, ``RuntimeError('boom')``."""
    return text(reason, REASON_LIMIT)


def name_text(name: Any) -> str:
    """A process name for display: a via name shows its key, a str itself."""
    if name is None:
        return ""
    if type(name) is rt.Via:
        return text(name.key)
    return text(name)


@dataclass(slots=True)
class Proc:
    """One live process as the dashboard sees it."""

    pid: rt.Pid
    pid_text: str
    name: str  # display text ("" when unnamed)
    via: str  # the registry of a via name, else ""
    parent: rt.Pid | None
    type: str  # "worker" | "supervisor"
    kind: str  # the GenServer class or function
    started_at: float
    restarts: int = 0
    last_exit: str | None = None
    details: dict[str, Any] | None = None  # a supervisor's strategy and budget, a registry's size
    strategy: str | None = None  # a supervisor's
    max_restarts: int | None = None
    max_seconds: float | None = None
    registry_keys: str | None = None  # a registry's "unique" | "duplicate"
    restart_times: deque[float] | None = None  # a supervisor's recent restarts (wall clock)
    sups: dict[rt.Pid, None] | None = None  # child supervisors, in start order
    workers: dict[rt.Pid, None] | None = None  # child workers, in start order
    search: str = ""

    def budget_used(self, now: float) -> int | None:
        """Restarts within the supervisor's intensity window (None for a non-supervisor)."""
        if self.max_seconds is None:
            return None
        times = self.restart_times
        if not times:
            return 0
        horizon = int(now) - self.max_seconds  # whole seconds, as the runtime's Intensity counts
        while times and int(times[0]) < horizon:
            times.popleft()
        return len(times)


@dataclass(slots=True)
class RegRow:
    """One registry entry."""

    key: str
    pid: rt.Pid
    pid_text: str
    value: str
    at: float
    search: str


@dataclass(slots=True)
class Reg:
    """One registry's entries, in registration order."""

    name: Any
    label: str
    pid: rt.Pid | None
    keys: str | None  # "unique" | "duplicate" | None (not yet known)
    rows: dict[int, RegRow] = field(default_factory=dict)
    by_owner_key: dict[tuple[Any, rt.Pid], list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class LogRow:
    """One event as the log shows it."""

    seq: int
    kind: str
    at: float
    pid: str
    summary: str
    traceback: str | None = None


@dataclass(slots=True)
class Page:
    """One page of rows plus what the pager needs."""

    items: list[Any]
    number: int
    pages: int
    total: int
    q: str

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(slots=True)
class TreeNode:
    """A supervisor (or the group of processes without one) with a page of its workers."""

    proc: Proc | None
    workers: Page
    children: list[TreeNode]
    budget_used: int | None


def paginate(rows: Iterable[Any], total: int | None, page: int, size: int, q: str) -> Page:
    """Cut page ``page`` (1-based, clamped) out of ``rows``; ``total`` None means count them."""
    if total is None:
        rows = list(rows)
        total = len(rows)
    pages = max(1, math.ceil(total / size))
    number = min(max(1, page), pages)
    start = (number - 1) * size
    if isinstance(rows, list):
        items = rows[start : start + size]
    else:
        items = list(itertools.islice(rows, start, start + size))
    return Page(items, number, pages, total, q)


class Mirror:
    """A node's processes, tree, registries and recent events, rebuilt from snapshot + events."""

    def __init__(self, log_size: int = 500) -> None:
        # [event, its LogRow once described]: rows are built only for what a page shows
        self.log: deque[list[Any]] = deque(maxlen=log_size)
        self.reset()

    def reset(self) -> None:
        self.seq = 0  # the last event reflected here
        self.generation = 0  # bumped by every load: a consumer then redraws everything
        self.procs: dict[rt.Pid, Proc] = {}
        self.root_sups: dict[rt.Pid, None] = {}
        self.root_workers: dict[rt.Pid, None] = {}
        self.registries: dict[Any, Reg] = {}
        self.kinds: dict[str, int] = {}  # live processes by kind, for metrics
        self.tree_version = 0
        self.registry_versions: dict[Any, int] = {}
        self._versions = 0
        self._row_ids = itertools.count(1)

    # -- loading ----------------------------------------------------------------------------

    def load(self, snap: rt.Snapshot, now: float | None = None, previous: Mirror | None = None) -> None:
        """Replace everything with ``snap`` (see ``loading``)."""
        for _ in self.loading(snap, now, previous):
            pass

    def loading(self, snap: rt.Snapshot, now: float | None = None, previous: Mirror | None = None) -> Iterator[None]:
        """Replace everything with ``snap``, yielding every few thousand items.

        The event log is kept (it is history). A registry entry's registered-at comes from
        ``previous`` (the mirror this one replaces) when it held the same entry, else from
        its owner's start (true of a via name), else ``now``.
        """
        log, gen = self.log, (previous or self).generation
        self.reset()
        self.log = previous.log if previous is not None else log
        self.generation = gen + 1
        now = time.time() if now is None else now
        for i, info in enumerate(snap.processes, 1):
            self._add_proc(info.pid, info.name, info.parent, info.type, info.kind, info.started_at)
            p = self.procs[info.pid]
            p.restarts = info.restarts
            p.last_exit = reason_text(info.last_exit) if info.last_exit is not None else None
            if info.details is not None:
                self.set_details(info.pid, info.details, now)
            if i % LOAD_STEP == 0:
                yield
        for name, entries in snap.registries.items():
            reg = self._registry(name)
            old = previous.registries.get(name) if previous is not None else None
            for i, (key, pid, value) in enumerate(entries, 1):
                at = None
                if old is not None:
                    ids = old.by_owner_key.get((key, pid))
                    at = old.rows[ids[0]].at if ids else None
                if at is None:
                    owner = self.procs.get(pid)
                    at = owner.started_at if owner is not None else now
                self._add_row(reg, key, pid, value, at)
                if i % LOAD_STEP == 0:
                    yield
        self.seq = snap.seq

    def set_details(self, pid: rt.Pid, details: dict[str, Any] | None, now: float | None = None) -> None:
        """Record a supervisor's or registry's details (fetched from the node after it started)."""
        p = self.procs.get(pid)
        if p is None or details is None:
            return
        p.details = dict(details)
        p.strategy = details.get("strategy")
        p.max_restarts = details.get("max_restarts")
        p.max_seconds = details.get("max_seconds")
        p.registry_keys = details.get("keys")
        if "max_seconds" in details:
            # The node counts restarts in its window; seed our clock with that many at `now`.
            used = details.get("restarts_in_window", 0)
            now = time.time() if now is None else now
            known = p.restart_times or deque()
            while len(known) < used:
                known.appendleft(now)
            while len(known) > used:
                known.popleft()
            p.restart_times = known
        if "registry" in details:
            reg = self._registry(details["registry"])
            reg.pid, reg.keys = pid, details.get("keys")
        self.tree_version += 1

    # -- applying events --------------------------------------------------------------------

    def apply(self, ev: rt.Event) -> None:
        """Apply one event; events at or below ``seq`` are already reflected and are skipped."""
        if ev.seq <= self.seq:
            return
        self.seq = ev.seq
        handler = _HANDLERS.get(ev.kind)
        if handler is not None:
            handler(self, ev)
        self.log.append([ev, None])

    def _started(self, ev: rt.Event) -> None:
        d = ev.data
        if type(ev.pid) is not rt.Pid:
            return
        self._add_proc(ev.pid, d.get("name"), d.get("parent"), d.get("type", "worker"), d.get("behaviour", ""), ev.at)
        if d.get("behaviour") == "Registry" and d.get("name") is not None:
            reg = self._registry(d["name"])
            reg.pid = ev.pid

    def _exited(self, ev: rt.Event) -> None:
        p = self.procs.pop(ev.pid, None)
        if p is None:
            return
        self.kinds[p.kind] -= 1
        if not self.kinds[p.kind]:
            del self.kinds[p.kind]
        siblings = self._siblings(p)
        siblings.pop(p.pid, None)
        # Children outlive a parent only briefly (links take them down); show them at the root.
        for child in itertools.chain(p.sups or (), p.workers or ()):
            c = self.procs.get(child)
            if c is not None:
                c.parent = None
                (self.root_sups if c.type == "supervisor" else self.root_workers)[child] = None
        for name, reg in list(self.registries.items()):
            if reg.pid == p.pid:
                del self.registries[name]
                self.registry_versions.pop(name, None)
        self.tree_version += 1

    def _restarted(self, ev: rt.Event) -> None:
        d = ev.data
        sup = self.procs.get(ev.pid)
        if sup is not None:
            if sup.restart_times is None:
                sup.restart_times = deque()
            sup.restart_times.append(ev.at)
        new = self.procs.get(d.get("new_pid"))
        if new is not None:
            new.restarts = d.get("restarts", new.restarts + 1)
            if d.get("reason") is not None:
                new.last_exit = reason_text(d["reason"])
        self.tree_version += 1

    def _gave_up(self, ev: rt.Event) -> None:
        self.tree_version += 1

    def _registered(self, ev: rt.Event) -> None:
        d = ev.data
        if "registry" not in d or "key" not in d or type(ev.pid) is not rt.Pid:
            return  # an application's event of the same name, not the runtime's
        self._add_row(self._registry(d["registry"]), d["key"], ev.pid, d.get("value"), ev.at)

    def _unregistered(self, ev: rt.Event) -> None:
        d = ev.data
        reg = self.registries.get(d.get("registry"))
        if reg is None or "key" not in d:
            return
        ids = reg.by_owner_key.get((d["key"], ev.pid))
        if not ids:
            return
        value = text(d.get("value"))
        victim = next((i for i in ids if reg.rows[i].value == value), ids[0])
        ids.remove(victim)
        if not ids:
            del reg.by_owner_key[(d["key"], ev.pid)]
        del reg.rows[victim]
        self._touch_registry(reg)

    def _updated(self, ev: rt.Event) -> None:
        d = ev.data
        reg = self.registries.get(d.get("registry"))
        ids = reg.by_owner_key.get((d.get("key"), ev.pid)) if reg else None
        if reg is None or not ids:
            return
        row = reg.rows[ids[0]]
        row.value = text(d.get("value"))
        row.search = _search_text(row.key, row.pid_text, row.value)
        self._touch_registry(reg)

    # -- books ------------------------------------------------------------------------------

    def _add_proc(self, pid: rt.Pid, name: Any, parent: rt.Pid | None, type: str, kind: str, at: float) -> None:
        label = name_text(name)
        via = text(name.registry) if isinstance(name, rt.Via) else ""
        pid_text = str(pid)
        p = Proc(pid, pid_text, label, via, parent, type, kind, at, search=f"{label} {pid_text} {kind}".lower())
        self.procs[pid] = p
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        owner = self.procs.get(parent) if parent is not None else None
        if owner is None:
            p.parent = None
            (self.root_sups if type == "supervisor" else self.root_workers)[pid] = None
        elif type == "supervisor":
            if owner.sups is None:
                owner.sups = {}
            owner.sups[pid] = None
        else:
            if owner.workers is None:
                owner.workers = {}
            owner.workers[pid] = None
        self.tree_version += 1

    def _siblings(self, p: Proc) -> dict[rt.Pid, None]:
        owner = self.procs.get(p.parent) if p.parent is not None else None
        if owner is None:
            return self.root_sups if p.type == "supervisor" else self.root_workers
        books = owner.sups if p.type == "supervisor" else owner.workers
        return books if books is not None else {}

    def _registry(self, name: Any) -> Reg:
        reg = self.registries.get(name)
        if reg is None:
            reg = self.registries[name] = Reg(name, text(name), None, None)
            self._touch_registry(reg)
        return reg

    def _add_row(self, reg: Reg, key: Any, pid: rt.Pid, value: Any, at: float) -> None:
        key_text, pid_text, value_text = text(key), str(pid), text(value)
        row_id = next(self._row_ids)
        reg.rows[row_id] = RegRow(key_text, pid, pid_text, value_text, at, _search_text(key_text, pid_text, value_text))
        reg.by_owner_key.setdefault((key, pid), []).append(row_id)
        self._touch_registry(reg)

    def _touch_registry(self, reg: Reg) -> None:
        self._versions += 1  # one counter for all: a registry started anew never repeats a version
        self.registry_versions[reg.name] = self._versions

    def describe(self, ev: rt.Event) -> LogRow:
        """One event as a log row: a one-line summary (and a crash's traceback)."""
        d = ev.data
        pid = str(ev.pid) if ev.pid is not None else ""
        tb = d.get("traceback")
        return LogRow(ev.seq, ev.kind, ev.at, pid, self._summary(ev), text(tb, TRACEBACK_LIMIT) if tb else None)

    def _summary(self, ev: rt.Event) -> str:
        d, k = ev.data, ev.kind
        if k == "started":
            name = name_text(d.get("name"))
            who = f"{d.get('behaviour', '')} {name}".strip()
            return f"started {who} under {d['parent']}" if d.get("parent") else f"started {who}"
        if k == "exited":
            return f"exited: {reason_text(d.get('reason'))}"
        if k == "restarted":
            child = f" {text(d['child_id'])}" if d.get("child_id") is not None else ""
            return f"restarted child{child}: {d.get('old_pid') or '-'} → {d.get('new_pid') or '-'}"
        if k == "gave_up":
            return (
                f"gave up: {d.get('restarts')} restarts within {d.get('max_seconds')} s "
                f"(max_restarts {d.get('max_restarts')})"
            )
        if k in ("registered", "unregistered", "updated"):
            return f"{k} {text(d.get('key'))} = {text(d.get('value'))} in {text(d.get('registry'))}"
        if k == "greeted":
            return f"greeted {text(d.get('person'))} (#{d.get('count', 1)})"
        return " ".join(f"{key}={text(v)}" for key, v in d.items() if key != "traceback")

    # -- queries ----------------------------------------------------------------------------

    def tree(self, q: str = "", pages: dict[rt.Pid, int] | None = None, page_size: int = 20) -> list[TreeNode]:
        """Every supervisor, nested, each with one page of its workers (those matching ``q``)."""
        q = q.strip().lower()
        pages = pages or {}
        now = time.time()
        nodes = [self._node(self.procs[pid], q, pages, page_size, now) for pid in self.root_sups]
        if self.root_workers:
            page = self._workers_page(self.root_workers, q, pages.get(None, 1), page_size)
            nodes.append(TreeNode(None, page, [], None))
        return nodes

    def _node(self, p: Proc, q: str, pages: dict[rt.Pid, int] | dict[Any, int], size: int, now: float) -> TreeNode:
        children = [self._node(self.procs[c], q, pages, size, now) for c in (p.sups or ())]
        workers = self._workers_page(p.workers or {}, q, pages.get(p.pid, 1), size)
        return TreeNode(p, workers, children, p.budget_used(now))

    def _workers_page(self, books: dict[rt.Pid, None], q: str, page: int, size: int) -> Page:
        procs = self.procs
        if not q:
            return paginate((procs[pid] for pid in books), len(books), page, size, q)
        return paginate([procs[pid] for pid in books if q in procs[pid].search], None, page, size, q)

    def registry_page(self, name: Any, q: str = "", page: int = 1, page_size: int = 20) -> Page | None:
        """One page of a registry's entries (those matching ``q``), or None for an unknown registry."""
        reg = self.registries.get(name)
        if reg is None:
            return None
        q = q.strip().lower()
        if not q:
            return paginate(iter(reg.rows.values()), len(reg.rows), page, page_size, q)
        return paginate([r for r in reg.rows.values() if q in r.search], None, page, page_size, q)

    def find_registry(self, label: str) -> Any:
        """The registry whose name displays as ``label`` (names arrive from URLs as text)."""
        for name, reg in self.registries.items():
            if reg.label == label:
                return name
        return None

    def events(self, kinds: Iterable[str] = (), after: int = 0, limit: int = 100) -> list[LogRow]:
        """The newest events first (only ``kinds`` if given, only those after seq ``after``)."""
        wanted = set(kinds)
        out: list[LogRow] = []
        for entry in reversed(self.log):
            ev = entry[0]
            if ev.seq <= after or len(out) >= limit:
                break
            if not wanted or ev.kind in wanted:
                if entry[1] is None:
                    entry[1] = self.describe(ev)
                out.append(entry[1])
        return out

    def process_count(self) -> int:
        return len(self.procs)


def _search_text(*parts: str) -> str:
    return " ".join(parts).lower()


_HANDLERS = {
    "started": Mirror._started,
    "exited": Mirror._exited,
    "restarted": Mirror._restarted,
    "gave_up": Mirror._gave_up,
    "registered": Mirror._registered,
    "unregistered": Mirror._unregistered,
    "updated": Mirror._updated,
}
