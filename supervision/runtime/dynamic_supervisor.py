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
from .child_spec import ChildCounts, ChildInfo, ChildSpec, check_spec, start_child, to_spec
from .errors import AlreadyStarted, CallExit, MaxChildren, NotFound, ProcessExit, StartError
from .gen_server import _PENDING, Continue, From, GenServer, Stop
from .messages import Exit
from .names import check_name
from .pid import Pid
from .process import STEPPING, Process, _Died
from .reasons import should_restart
from .shutdown import Intensity, check_flags, report_child_exit, report_give_up, shutdown_child, shutdown_many
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
        max_seconds: int = 5,
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
        max_seconds: int = 5,
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

    async def init(self, max_children: int | None, max_restarts: int, max_seconds: int, extra: tuple[Any, ...]) -> None:
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
            full = self._full()
            if full is not None:
                return full
            return self._started(spec, await self._start_spec(spec))
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
            spec = self._forget(msg.pid, msg.reason)
            if spec is not None:
                return await self._restart(msg.pid, spec, msg.reason)
            return None
        if type(msg) is _Retry:
            pid = msg.pid
            if pid not in self.restarting:
                return None
            self.restarting.discard(pid)
            return await self._restart(pid, self.children.pop(pid), None)
        return await super().handle_info(msg)

    async def handle_continue(self, arg: Any) -> Any:
        return await self._restart(*arg)  # (old pid, spec, reason) from _start_inline's drain

    async def _start_spec(self, spec: ChildSpec) -> Any:
        """Run the spec's start function: the child's pid, None (ignored) or the error."""
        if _runtime_start(spec.start[0]):
            res = self._start_now(spec)
            if type(res) is From:  # the child's init is waiting for something: so do we, as OTP's
                res = await res._wait_start(True)
            return res
        if self._steps_inline:
            self._steps_inline = False  # a user's start function runs here: from now on, in a task
            if self._me.task is STEPPING:
                await asyncio.sleep(0)  # suspend, so that a task carries this call on
        try:
            return await start_child(spec, self.extra)
        except (StartError, AlreadyStarted) as e:
            return e

    # -- the synchronous core: shared by the message loop and _start_inline ----------------

    def _start_now(self, spec: ChildSpec) -> Any:
        """Start a child whose start function is ``GenServer.start_link``, with no coroutine.

        Returns its pid, None (ignored), the error, or the child's start ``From`` if its init
        has not finished yet (wait for it with ``_wait_start``).
        """
        start = spec.start
        me = self._me
        try:
            if len(start) == 2:
                ack = start[0].__self__._spawn(me, me, *self.extra, *start[1])
            else:
                ack = start[0].__self__._spawn(me, me, *self.extra, *start[1], **start[2])
        except ProcessExit as e:
            return StartError(e.reason)
        except Exception as e:  # a bad name, an unknown registry: what start_link would raise
            return StartError(e)
        res = ack.answer
        return ack if res is _PENDING else res

    def _full(self) -> MaxChildren | None:
        """The error for a start_child past ``max_children`` (children being restarted count too)."""
        if self.max_children is not None and len(self.children) >= self.max_children:
            return MaxChildren(f"max_children ({self.max_children}) reached")
        return None

    def _started(self, spec: ChildSpec, res: Any) -> Any:
        if type(res) is Pid:
            self.children[res] = spec
        return res

    def _forget(self, pid: Pid, reason: Any) -> ChildSpec | None:
        """A child exited: drop it from the books; returns its spec if it is to be restarted."""
        if self.restarting and pid in self.restarting:  # its old pid's exit, already handled
            return None
        spec = self.children.pop(pid, None)
        if spec is None:
            return None
        if should_restart(spec.restart, reason):
            report_child_exit(self._me, pid, None, spec.restart, reason)
            return spec
        if spec.restart == "temporary":
            report_child_exit(self._me, pid, None, spec.restart, reason)
        if self.restarts:
            self.restarts.pop(pid, None)
        return None

    def _start_inline(self, me: Process, spec: ChildSpec) -> Any:
        """``start_child`` handled in the caller's task, while this supervisor is idle.

        Only for a plain DynamicSupervisor and a child started by ``GenServer.start_link``: no
        user code runs here (the child's init runs in the child's own task). It is what a
        message to an idle supervisor would do (``Node._step``), without the message loop's
        coroutines. Returns what the loop's reply would be, or a From to wait on if the
        child's init suspended (the supervisor then waits for it in a task of its own).
        It holds even after a user's start function has put the message loop on tasks for
        good (``_steps_inline``), since this path never runs a start function of a user's.
        """
        full = self._full()
        if full is not None:
            return full
        me.task = STEPPING
        res = self._start_now(spec)
        if not me.alive:  # the child's init killed this supervisor
            if me.task is STEPPING:
                me.task = None
            return _Died(me.reason)
        if type(res) is From:
            waiter = From(me)  # the caller's: answered once the child has started, or on our death
            calls = me.calls
            if calls is None:
                calls = me.calls = set()
            calls.add(waiter)
            node = me.node
            me.task = node.loop.create_task(self._finish_start(me, res, spec, waiter), context=node._context.copy())
            return waiter
        self._started(spec, res)
        # What the start queued (a child that has already ended sent its Exit): handle exits
        # that need no restart here; anything else goes to the message loop, as it would have.
        mb = me.mailbox
        follow = None
        while mb:
            msg = mb[0]
            if type(msg) is not Exit or msg.pid == me.parent:
                break
            mb.popleft()
            me.ticks += 1
            spec = self._forget(msg.pid, msg.reason)
            if spec is not None:
                follow = Continue((msg.pid, spec, msg.reason))
                break
        me.task = None
        if mb or follow is not None:
            me.drive(follow)
        # else the empty mailbox stays: one supervisor's deque costs less to keep than to
        # make anew for the next child's exit (an idle GenServer drops its own)
        return res

    async def _finish_start(self, me: Process, ack: From, spec: ChildSpec, waiter: From) -> None:
        """_start_inline's child suspended in init: wait for it as the supervisor, then go on."""
        context.current_process.set(me)
        try:
            waiter._answer(self._started(spec, await ack._wait_start(True)))
        except asyncio.CancelledError:
            if me.alive:  # cancelled from outside the runtime
                me.die("killed")
            me.task = None
            return
        await self._loop(me)  # what came meanwhile (it clears me.task)

    async def _restart(self, old: Pid, spec: ChildSpec, reason: Any) -> Any:
        node = self._me.node
        if not self.intensity.add():
            report_give_up(self._me, self.intensity)
            node.events.emit(
                "gave_up",
                self._me.pid,
                child_pid=old,
                restarts=len(self.intensity.stamps),
                max_restarts=self.intensity.max_restarts,
                max_seconds=self.intensity.max_seconds,
            )
            return Stop("shutdown")
        pid = await self._start_spec(spec)
        if pid is not None and type(pid) is not Pid:  # the restart failed
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
        if type(child) is ChildSpec:
            check_spec(child, False)
            spec = child
        else:
            spec = to_spec(child, keyed=False)
        node = context.current_node.get() or context.node()  # (the latter raises)
        proc = node._names.get(sup) if type(sup) is str else node._resolve(sup)
        server = proc.server if proc is not None else None
        if (
            type(server) is DynamicSupervisor  # a subclass's callbacks are user code
            and proc.task is None  # idle, its init done
            and _runtime_start(spec.start[0])
            and context.current_process.get() is not proc
        ):
            res = server._start_inline(proc, spec)
            if type(res) is From:
                res = await res._wait(None)
            if type(res) is _Died:
                raise CallExit(res.reason)
        else:
            res = await GenServer.call(sup, ("start_child", spec), None)
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
