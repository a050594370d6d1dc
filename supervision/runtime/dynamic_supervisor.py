"""DynamicSupervisor: children started on demand, restarted one_for_one, stopped all at once.

Specs are checked in the caller (errors come back even for a supervisor that does not
exist); ``extra_arguments`` are prepended to each child's start args, at every restart too.
A restart that fails keeps the entry, under the old pid, as ``"restarting"`` and retries by
self-message; every retry counts toward the intensity and toward ``max_children``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import context
from .child_spec import ChildCounts, ChildInfo, ChildSpec, start_child, to_spec
from .errors import AlreadyStarted, MaxChildren, NotFound, StartError
from .gen_server import GenServer, Stop
from .messages import Exit
from .names import check_name
from .pid import Pid
from .process import STEPPING
from .reasons import should_restart
from .shutdown import Intensity, check_flags, shutdown_child, shutdown_many
from .supervisor import _call


class _Retry:
    __slots__ = ("pid",)

    def __init__(self, pid: Pid) -> None:
        self.pid = pid


class DynamicSupervisor(GenServer):
    """``await rt.DynamicSupervisor.start_link(name=..., max_children=...)``, then ``start_child``."""

    type = "supervisor"

    @classmethod
    async def start_link(  # type: ignore[override]
        cls,
        name: Any = None,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5,
        extra_arguments: tuple[Any, ...] | list[Any] = (),
        strategy: str = "one_for_one",
    ) -> Pid | None:
        """Start an empty DynamicSupervisor; ValueError for a bad option."""
        cls._check(name, max_children, max_restarts, max_seconds, extra_arguments, strategy)
        return await cls._start((max_children, max_restarts, max_seconds, tuple(extra_arguments)), {}, name, True)

    @classmethod
    def child_spec(  # type: ignore[override]
        cls,
        name: Any = None,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5,
        extra_arguments: tuple[Any, ...] | list[Any] = (),
        strategy: str = "one_for_one",
    ) -> ChildSpec:
        """A supervisor-type spec whose id is ``name``, else the class."""
        cls._check(name, max_children, max_restarts, max_seconds, extra_arguments, strategy)
        kwargs = {
            "name": name,
            "max_children": max_children,
            "max_restarts": max_restarts,
            "max_seconds": max_seconds,
            "extra_arguments": tuple(extra_arguments),
        }
        return ChildSpec(
            id=name if name is not None else cls,
            start=(cls.start_link, (), kwargs),
            restart=cls.restart,
            shutdown=cls.shutdown,
            type="supervisor",
        )

    @staticmethod
    def _check(name: Any, max_children: Any, max_restarts: Any, max_seconds: Any, extra: Any, strategy: Any) -> None:
        check_name(name)
        if strategy != "one_for_one":
            raise ValueError(f"invalid strategy {strategy!r}: a DynamicSupervisor only supports 'one_for_one'")
        check_flags(max_restarts, max_seconds)
        if max_children is not None and not (type(max_children) is int and max_children >= 0):
            raise ValueError(f"invalid max_children {max_children!r}: expected None or an integer >= 0")
        if not isinstance(extra, (tuple, list)):
            raise ValueError(f"invalid extra_arguments {extra!r}: expected a tuple or list")

    # -- the server ---------------------------------------------------------------------------

    async def init(
        self, max_children: int | None, max_restarts: int, max_seconds: float, extra: tuple[Any, ...]
    ) -> None:
        me = context.this_process("DynamicSupervisor")
        me.trap = True
        self._me = me
        # Handle messages inline (no task per call) while every child starts through one of
        # the runtime's own start functions; a subclass's callbacks are user code, so not then.
        self._steps_inline = type(self) is DynamicSupervisor
        self.max_children = max_children
        self.extra = extra
        self.intensity = Intensity(max_restarts, max_seconds)
        # The books: each child's spec, by live pid (or by its old pid while a failed restart is
        # retried); the pids being retried; and restarts so far of children that have restarted.
        self.children: dict[Pid, ChildSpec] = {}
        self.restarting: set[Pid] = set()
        self.restarts: dict[Pid, int] = {}

    async def terminate(self, reason: Any) -> None:
        retrying = self.restarting
        children = [(pid, spec.shutdown_value) for pid, spec in self.children.items() if pid not in retrying]
        self.children = {}
        self.restarting = set()
        self.restarts = {}
        await shutdown_many(self._me, children)

    async def handle_call(self, request: tuple[Any, ...], caller: Any) -> Any:
        op = request[0]
        if op == "start_child":
            spec: ChildSpec = request[1]
            if self.max_children is not None and len(self.children) >= self.max_children:
                return MaxChildren(f"max_children ({self.max_children}) reached")
            if self._steps_inline and not _runtime_start(spec.start[0]):
                self._steps_inline = False  # a user's start function runs here: from now on, in a task
                if self._me.task is STEPPING:
                    await asyncio.sleep(0)  # suspend, so that a task carries this call on
            try:
                pid = await start_child(spec, self.extra)
            except (StartError, AlreadyStarted) as e:
                return e
            if pid is not None:
                self.children[pid] = spec
            return pid
        if op == "terminate_child":
            pid = request[1]
            spec = self.children.pop(pid, None) if type(pid) is Pid else None
            if spec is None:
                return NotFound(f"{pid!r} is not a child of this supervisor")
            self.restarts.pop(pid, None)
            if pid in self.restarting:
                self.restarting.discard(pid)
            else:
                await shutdown_child(self._me, pid, spec.shutdown_value)
            return None
        if op == "which_children":
            retrying = self.restarting
            return [
                ChildInfo(None, "restarting" if pid in retrying else pid, spec.type, spec.restart)
                for pid, spec in self.children.items()
            ]
        if op == "count_children":
            sups = sum(1 for spec in self.children.values() if spec.type == "supervisor")
            n = len(self.children)
            return ChildCounts(n, n - len(self.restarting), sups, n - sups)
        if op == "stats":
            return self.details()
        raise ValueError(f"unknown supervisor request {request!r}")

    def details(self) -> dict[str, Any]:
        """Strategy, intensity, restarts used in the current window and the child limit."""
        return {
            "strategy": "one_for_one",
            "max_restarts": self.intensity.max_restarts,
            "max_seconds": self.intensity.max_seconds,
            "restarts_in_window": self.intensity.used(),
            "children": len(self.children),
            "max_children": self.max_children,
        }

    async def handle_info(self, msg: Any) -> Any:
        if type(msg) is Exit:
            pid = msg.pid
            if pid in self.restarting:  # its old pid's exit, already handled: keep retrying
                return None
            spec = self.children.pop(pid, None)
            if spec is None:
                return None
            if should_restart(spec.restart, msg.reason):
                return await self._restart(pid, spec, msg.reason)
            self.restarts.pop(pid, None)
            return None
        if type(msg) is _Retry:
            pid = msg.pid
            if pid not in self.restarting:
                return None
            self.restarting.discard(pid)
            return await self._restart(pid, self.children.pop(pid), None)
        return await super().handle_info(msg)

    async def _restart(self, old: Pid, spec: ChildSpec, reason: Any) -> Any:
        node = self._me.node
        if not self.intensity.add():
            node.events.emit(
                "gave_up",
                self._me.pid,
                child_pid=old,
                restarts=len(self.intensity.stamps),
                max_restarts=self.intensity.max_restarts,
                max_seconds=self.intensity.max_seconds,
            )
            return Stop("shutdown")
        try:
            pid = await start_child(spec, self.extra)
        except (StartError, AlreadyStarted):
            self.children[old] = spec
            self.restarting.add(old)
            self._me.deliver(_Retry(old))  # a message to itself, as OTP does: queued requests go first
            return None
        restarts = self.restarts.pop(old, 0) + 1
        node.restarts += 1
        if pid is not None:
            self.children[pid] = spec
            self.restarts[pid] = restarts
            proc = node._procs.get(pid)
            if proc is not None:
                proc.restarts = restarts
                if reason is not None:
                    proc.last_exit = reason
        node.events.emit(
            "restarted",
            self._me.pid,
            child_id=None,
            old_pid=old,
            new_pid=pid,
            restarts=restarts,
            reason=reason,
        )
        return None

    # -- client API ---------------------------------------------------------------------------

    @staticmethod
    async def start_child(sup: Any, child: Any) -> Pid | None:
        """Start a child: its Pid, None (ignored), or MaxChildren / AlreadyStarted / StartError."""
        res = await GenServer.call(sup, ("start_child", to_spec(child, keyed=False)), None)
        if type(res) is Pid or res is None:
            return res
        raise res  # MaxChildren, AlreadyStarted or StartError

    @staticmethod
    async def terminate_child(sup: Any, pid: Pid) -> None:
        """Stop and forget a child (live or restarting); NotFound otherwise."""
        return await _call(sup, ("terminate_child", pid))

    @staticmethod
    async def which_children(sup: Any) -> list[ChildInfo]:
        return await _call(sup, ("which_children",))

    @staticmethod
    async def count_children(sup: Any) -> ChildCounts:
        return await _call(sup, ("count_children",))

    @staticmethod
    async def stats(sup: Any) -> dict[str, Any]:
        return await _call(sup, ("stats",))


def _runtime_start(fn: Any) -> bool:
    """Is ``fn`` GenServer's own start_link, which runs no user code in the supervisor?

    (Supervisor's and Registry's also check arguments a user may have subclassed, such as a
    child's ``child_spec()``, in the caller: they count as user code.)
    """
    return getattr(fn, "__func__", None) is _GENSERVER_START_LINK


_GENSERVER_START_LINK = GenServer.start_link.__func__  # type: ignore[attr-defined]
