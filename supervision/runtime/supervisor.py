"""Supervisor: starts children in order, restarts them by strategy, stops them in reverse.

Strategies (otp-semantics.md §4): ``one_for_one`` restarts the failed child in its slot;
``one_for_all`` stops every other live child (newest first) and starts them all again in
order; ``rest_for_one`` does that for the failed child and those started after it. Every
restart attempt, failed retries included, counts toward the intensity (default 3 in 5 s);
beyond it the supervisor stops its children and exits ``"shutdown"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import context
from .child_spec import ChildCounts, ChildInfo, ChildSpec, start_child, to_spec
from .errors import AlreadyStarted, NotFound, RuntimeErrorBase, StartError, SupervisorError
from .gen_server import GenServer, Stop
from .messages import Exit
from .names import check_name
from .pid import Pid
from .reasons import should_restart
from .shutdown import Intensity, check_flags, report_child_exit, report_give_up, shutdown_child

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


class _Child:
    __slots__ = ("spec", "pid", "last_pid", "restarts")

    def __init__(self, spec: ChildSpec, pid: Any) -> None:
        self.spec = spec
        self.pid = pid  # Pid | None | "restarting"
        self.last_pid: Pid | None = None  # the pid it last ran under (a restart event's old_pid)
        self.restarts = 0


class _Retry:
    __slots__ = ("id",)

    def __init__(self, id: Any) -> None:
        self.id = id


async def _call(sup: Any, request: tuple[Any, ...]) -> Any:
    res = await GenServer.call(sup, request, timeout=None)
    if isinstance(res, RuntimeErrorBase):
        raise res
    return res


class Supervisor(GenServer):
    """A static supervisor: ``await rt.Supervisor.start_link(children, strategy=...)``."""

    type = "supervisor"

    @classmethod
    async def start_link(  # type: ignore[override]
        cls,
        children: Iterable[Any] = (),
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: int = 5,
        name: Any = None,
    ) -> Pid | None:
        """Start the supervisor and its children in order; ValueError for a bad spec or option."""
        specs = cls._check(children, strategy, max_restarts, max_seconds, name)
        return await cls._start((specs, strategy, max_restarts, max_seconds), {}, name, True)

    @classmethod
    def child_spec(  # type: ignore[override]
        cls,
        children: Iterable[Any] = (),
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: int = 5,
        name: Any = None,
    ) -> ChildSpec:
        """A supervisor-type spec whose id is ``name``, else the class."""
        children = list(children)
        cls._check(children, strategy, max_restarts, max_seconds, name)
        kwargs = {"strategy": strategy, "max_restarts": max_restarts, "max_seconds": max_seconds, "name": name}
        return ChildSpec(
            id=name if name is not None else cls,
            start=(cls.start_link, (children,), kwargs),
            restart=cls.restart,
            shutdown=cls.shutdown,
            type="supervisor",
        )

    @staticmethod
    def _check(
        children: Iterable[Any], strategy: Any, max_restarts: Any, max_seconds: Any, name: Any
    ) -> list[ChildSpec]:
        check_name(name)
        if strategy not in STRATEGIES:
            raise ValueError(f"invalid strategy {strategy!r}: expected one of {STRATEGIES}")
        check_flags(max_restarts, max_seconds)
        specs = [to_spec(c) for c in children]
        seen: set[Any] = set()
        for s in specs:
            if s.id in seen:
                raise ValueError(f"duplicate child id {s.id!r}")
            seen.add(s.id)
        return specs

    # -- the server ---------------------------------------------------------------------------

    async def init(self, specs: list[ChildSpec], strategy: str, max_restarts: int, max_seconds: int) -> Any:
        me = context.this_process("Supervisor")
        me.trap = True
        self._me = me
        self.strategy = strategy
        self.intensity = Intensity(max_restarts, max_seconds)
        self.children: list[_Child] = []
        self.by_id: dict[Any, _Child] = {}
        self.by_pid: dict[Pid, _Child] = {}
        for spec in specs:
            try:
                pid = await start_child(spec)
            except (StartError, AlreadyStarted) as e:
                await self._stop_children(reversed(self.children))
                reason = e.reason if isinstance(e, StartError) else ("already_started", e.pid)
                return Stop(("shutdown", ("failed_to_start_child", spec.id, reason)))
            if pid is None and spec.restart == "temporary":
                continue
            self._add(_Child(spec, pid))
        return None

    def _add(self, ch: _Child) -> None:
        self.children.append(ch)
        self.by_id[ch.spec.id] = ch
        if type(ch.pid) is Pid:
            self.by_pid[ch.pid] = ch

    def _remove(self, ch: _Child) -> None:
        self.children.remove(ch)
        del self.by_id[ch.spec.id]
        if type(ch.pid) is Pid:
            self.by_pid.pop(ch.pid, None)

    def _set_pid(self, ch: _Child, pid: Any) -> None:
        if type(ch.pid) is Pid:
            self.by_pid.pop(ch.pid, None)
            ch.last_pid = ch.pid
        ch.pid = pid
        if type(pid) is Pid:
            self.by_pid[pid] = ch

    async def terminate(self, reason: Any) -> None:
        await self._stop_children(reversed(self.children))

    async def _stop_children(self, children: Iterable[_Child]) -> None:
        """Shut children down one at a time, in the order given."""
        for ch in list(children):
            if type(ch.pid) is Pid:
                pid = ch.pid
                self._set_pid(ch, None)
                await shutdown_child(self._me, pid, ch.spec.shutdown_value)
            elif ch.pid == "restarting":
                self._set_pid(ch, None)

    # -- requests -----------------------------------------------------------------------------

    async def handle_call(self, request: tuple[Any, ...], caller: Any) -> Any:
        op = request[0]
        if op == "which_children":
            return [ChildInfo(c.spec.id, c.pid, c.spec.type, c.spec.restart) for c in reversed(self.children)]
        if op == "count_children":
            return self._counts()
        if op == "start_child":
            return await self._start_new(request[1])
        if op == "stats":
            return self.details()
        ch = self.by_id.get(request[1])
        if ch is None:
            return NotFound(f"no child with id {request[1]!r}")
        if op == "terminate_child":
            if type(ch.pid) is Pid:
                pid = ch.pid
                self._set_pid(ch, None)
                await shutdown_child(self._me, pid, ch.spec.shutdown_value)
            else:
                self._set_pid(ch, None)  # a restarting child stops its retries
            if ch.spec.restart == "temporary":
                self._remove(ch)
            return None
        if op == "restart_child":
            if type(ch.pid) is Pid:
                return SupervisorError("running")
            if ch.pid == "restarting":
                return SupervisorError("restarting")
            try:
                pid = await start_child(ch.spec)
            except (StartError, AlreadyStarted) as e:
                return e
            self._set_pid(ch, pid)
            return pid
        if op == "delete_child":
            if type(ch.pid) is Pid:
                return SupervisorError("running")
            if ch.pid == "restarting":
                return SupervisorError("restarting")
            self._remove(ch)
            return None
        raise ValueError(f"unknown supervisor request {request!r}")

    def _counts(self) -> ChildCounts:
        sups = sum(1 for c in self.children if c.spec.type == "supervisor")
        active = sum(1 for c in self.children if type(c.pid) is Pid)
        return ChildCounts(len(self.children), active, sups, len(self.children) - sups)

    def details(self) -> dict[str, Any]:
        """Strategy, intensity and restarts used in the current window (dashboards, ``ProcessInfo``)."""
        return {
            "strategy": self.strategy,
            "max_restarts": self.intensity.max_restarts,
            "max_seconds": self.intensity.max_seconds,
            "restarts_in_window": self.intensity.used(),
            "children": len(self.children),
        }

    async def _start_new(self, spec: ChildSpec) -> Any:
        ch = self.by_id.get(spec.id)
        if ch is not None:
            if type(ch.pid) is Pid:
                return AlreadyStarted(ch.pid)
            return StartError("already_present")
        try:
            pid = await start_child(spec)
        except (StartError, AlreadyStarted) as e:
            return e
        if pid is None and spec.restart == "temporary":
            return None
        self._add(_Child(spec, pid))
        return pid

    # -- exits and restarts -------------------------------------------------------------------

    async def handle_info(self, msg: Any) -> Any:
        if type(msg) is Exit:
            ch = self.by_pid.get(msg.pid)
            if ch is None:
                return None  # not a child (e.g. a failed start's exit): ignored
            self._set_pid(ch, None)
            report_child_exit(self._me, msg.pid, ch.spec.id, ch.spec.restart, msg.reason)
            if not should_restart(ch.spec.restart, msg.reason):
                if ch.spec.restart == "temporary":
                    self._remove(ch)
                return None
            return await self._restart(ch, msg.reason)
        if type(msg) is _Retry:
            ch = self.by_id.get(msg.id)
            if ch is None or ch.pid != "restarting":
                return None
            return await self._restart(ch, None)
        return await super().handle_info(msg)

    async def _restart(self, ch: _Child, reason: Any) -> Any:
        """Count one attempt, then restart by strategy; a failed start is retried by message."""
        node = self._me.node
        if not self.intensity.add():
            report_give_up(self._me, self.intensity)
            node.events.emit(
                "gave_up",
                self._me.pid,
                child_id=ch.spec.id,
                restarts=len(self.intensity.stamps),
                max_restarts=self.intensity.max_restarts,
                max_seconds=self.intensity.max_seconds,
            )
            self._remove(ch)
            return Stop("shutdown")
        if self.strategy == "one_for_one":
            group = [ch]
        else:
            i = self.children.index(ch)
            group = list(self.children) if self.strategy == "one_for_all" else self.children[i:]
            others = [c for c in group if c is not ch]
            await self._stop_children(reversed(others))
            for c in others:
                if c.spec.restart == "temporary":
                    self._remove(c)
            group = [c for c in group if c is ch or c.spec.restart != "temporary"]
        for c in group:
            try:
                pid = await start_child(c.spec)
            except (StartError, AlreadyStarted):
                self._set_pid(c, "restarting")
                self._me.deliver(_Retry(c.spec.id))  # a message to itself, as OTP does: queued requests go first
                return None
            self._set_pid(c, pid)
            c.restarts += 1
            node.restarts += 1
            if pid is not None:
                proc = node._procs.get(pid)
                if proc is not None:
                    proc.restarts = c.restarts
                    proc.last_exit = reason if c is ch else "shutdown"
            node.events.emit(
                "restarted",
                self._me.pid,
                child_id=c.spec.id,
                old_pid=c.last_pid,
                new_pid=pid,
                restarts=c.restarts,
                reason=reason if c is ch else "shutdown",
            )
        return None

    # -- client API ---------------------------------------------------------------------------

    @staticmethod
    async def which_children(sup: Any) -> list[ChildInfo]:
        """Children newest first: ``.id .pid .type .restart`` (pid: Pid, None or "restarting")."""
        return await _call(sup, ("which_children",))

    @staticmethod
    async def count_children(sup: Any) -> ChildCounts:
        return await _call(sup, ("count_children",))

    @staticmethod
    async def start_child(sup: Any, child: Any) -> Pid | None:
        """Add and start a child at the end; AlreadyStarted / StartError("already_present") / StartError."""
        return await _call(sup, ("start_child", to_spec(child)))

    @staticmethod
    async def terminate_child(sup: Any, id: Any) -> None:
        """Stop a child and keep its spec (a temporary one is deleted); NotFound for an unknown id."""
        return await _call(sup, ("terminate_child", id))

    @staticmethod
    async def restart_child(sup: Any, id: Any) -> Pid | None:
        """Start a stopped child again (not counted toward intensity)."""
        return await _call(sup, ("restart_child", id))

    @staticmethod
    async def delete_child(sup: Any, id: Any) -> None:
        """Forget a stopped child's spec; SupervisorError("running"/"restarting") otherwise."""
        return await _call(sup, ("delete_child", id))

    @staticmethod
    async def stats(sup: Any) -> dict[str, Any]:
        """Strategy, intensity and restarts used in the current window (for dashboards)."""
        return await _call(sup, ("stats",))
