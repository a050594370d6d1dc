"""Processes: a mailbox, links, monitors and exit signals, on asyncio.

A process is a record on its node plus, while it runs code, an asyncio task. A spawned
function keeps its task until it returns. A GenServer is *driven*: its task exists only
while it handles messages, so an idle server costs a few hundred bytes and no task.

Death follows OTP's order (otp-semantics.md §1): (1) the process is marked dead and leaves
the process table; (2) its names and registry entries are freed; (3) link signals and DOWN
messages are delivered. It happens synchronously in whoever causes it, so ``kill`` is final
even if user code catches ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from . import context
from .errors import ProcessExit
from .messages import Down, Exit
from .pid import Pid, Ref

if TYPE_CHECKING:
    from .node import Node

_STARTING = object()  # a task placeholder while an eagerly started task takes its first step
STEPPING = object()  # the same while Node._step runs an internal server inline, with no task
_refs = itertools.count(1)


class Process:
    """The node's record of one process (internal; users see ``Pid`` and ``ProcessInfo``)."""

    __slots__ = (
        "node", "pid", "alive", "reason", "parent", "name", "type", "kind",
        "trap", "links", "monitors", "watchers", "mailbox", "waiter", "task",
        "server", "calls", "joiners", "registrations", "on_death",
        "started_at", "restarts", "last_exit", "drops_foreign_exits", "ticks",
    )  # fmt: skip

    def __init__(self, node: Node, pid: Pid, parent: Pid | None, name: Any, type: str, kind: str) -> None:
        self.node = node
        self.pid = pid
        self.alive = True
        self.reason: Any = None
        self.parent = parent
        self.name = name
        self.type = type
        self.kind = kind
        self.trap = False
        self.links: set[Process] | None = None
        self.monitors: dict[Ref, Process] | None = None  # monitors this process holds
        self.watchers: dict[Ref, tuple[Process, Any]] | None = None  # monitors held on it
        self.mailbox: deque[Any] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.task: Any = None
        self.server: Any = None  # the GenServer instance of a driven process
        self.calls: set[Any] | None = None  # the From of each caller waiting on a reply
        self.joiners: list[asyncio.Future[Any]] | None = None
        self.registrations: list[Any] | None = None  # (registry table, key) per entry
        self.on_death: list[Any] | None = None  # hooks at death, step (2); each may return a step (3) callable
        self.started_at = time.time()
        self.restarts = 0
        self.last_exit: Any = None
        self.drops_foreign_exits = False
        self.ticks = 0  # messages handled by a GenServer (idle-timeout bookkeeping)

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"dead {self.reason!r}"
        return f"<Process {self.pid} {self.kind} {state}>"

    # -- mailbox --------------------------------------------------------------------------

    def deliver(self, msg: Any) -> None:
        """Append to the mailbox and wake whoever waits for it."""
        if not self.alive:
            return
        mb = self.mailbox
        if mb is None:
            mb = self.mailbox = deque()
        mb.append(msg)
        w = self.waiter
        if w is not None:
            if not w.done():
                w.set_result(None)
        elif self.server is not None and self.task is None:
            self.drive()

    def drive(self, res: Any = None) -> None:
        """Run an idle server's message loop (following up ``res``, a callback's return)."""
        server = self.server
        if server._steps_inline:
            self.node._step(self, server._loop(self, res))
        else:
            self.node._start_task(self, server._loop(self, res))

    async def receive(self, timeout: float | None) -> Any:
        """The next message in arrival order; TimeoutError if none comes in time."""
        while True:
            mb = self.mailbox
            if mb:
                return mb.popleft()
            if timeout is not None and timeout <= 0:
                raise TimeoutError("no message")
            loop = asyncio.get_running_loop()
            w = self.waiter = loop.create_future()
            handle = loop.call_later(timeout, _expire, w) if timeout is not None else None
            try:
                await w
            finally:
                self.waiter = None
                if handle is not None:
                    handle.cancel()
            if w.result() is _EXPIRED:
                mb = self.mailbox
                if mb:
                    return mb.popleft()
                raise TimeoutError("no message")

    def flush_exits(self, pid: Pid) -> None:
        """Drop queued ``Exit`` messages from ``pid`` (a supervisor after it unlinks a child)."""
        mb = self.mailbox
        if mb:
            kept = [m for m in mb if not (type(m) is Exit and m.pid == pid)]
            if len(kept) != len(mb):
                mb.clear()
                mb.extend(kept)

    # -- signals --------------------------------------------------------------------------

    def signal(self, sender: Pid | None, reason: Any, explicit: bool) -> None:
        """Receive an exit signal (otp-semantics.md §1). ``explicit``: sent by ``exit``, not a link."""
        if not self.alive:
            return
        if explicit and reason == "kill":
            self.die("killed")
            return
        if self.trap:
            if self.drops_foreign_exits and sender != self.parent:
                return
            self.deliver(Exit(sender, reason))
            return
        if reason == "normal" and sender != self.pid:
            return
        self.die(reason)

    def die(self, reason: Any, crashed: bool = False) -> None:
        """End this process with ``reason``, in OTP's order; a no-op if it is already dead.

        ``crashed``: ``reason`` is an exception raised by the process's own code, so the exit
        is a crash report (logged, with its traceback text in the ``exited`` event).
        """
        if not self.alive:
            return
        self.alive = False
        self.reason = reason
        node = self.node
        # (2) names and registry entries; their "unregistered" events precede "exited"
        name = self.name
        if name is not None:
            if type(name) is str:
                if node._names.get(name) is self:
                    del node._names[name]
            else:  # a via name: its entry is in the registry, not in self.registrations
                table = node._registries.get(name.registry)
                if table is not None and table.unique:
                    table.drop_owner_entry(self, name.key)
        if self.registrations:
            regs, self.registrations = self.registrations, None
            for table, key in regs:
                table.drop_owner_entry(self, key)
        node._remove(self, reason, crashed)
        linked_in_effect = None  # what on_death hooks leave for step (3), e.g. a registry's registrants
        if self.on_death:
            linked_in_effect = [fn(self, reason) for fn in self.on_death]
        # (3) callers, monitors, links, joiners
        if self.calls:
            calls, self.calls = self.calls, None
            for caller in calls:  # each a gen_server.From
                caller._answer(_Died(reason))
        if self.monitors:
            for ref, target in self.monitors.items():
                if target.watchers:
                    target.watchers.pop(ref, None)
            self.monitors = None
        if self.links:
            links, self.links = self.links, None
            for other in links:
                if other.links:
                    other.links.discard(self)
                other.signal(self.pid, reason, False)
        if linked_in_effect:
            for send_signals in linked_in_effect:
                if send_signals is not None:
                    send_signals()
        if self.watchers:
            watchers, self.watchers = self.watchers, None
            for ref, (watcher, dest) in watchers.items():
                if watcher.monitors:
                    watcher.monitors.pop(ref, None)
                watcher.deliver(Down(ref, dest, reason))
        if self.joiners:
            joiners, self.joiners = self.joiners, None
            for fut in joiners:
                if not fut.done():
                    fut.set_result(reason)
        self.mailbox = None
        t = self.task
        if t is not None and t is not _STARTING and t is not STEPPING:
            # Not a process's own task while its own code ends it; but an inline step of
            # another process (Node._step) runs in its caller's task, and may kill that caller.
            if t is not asyncio.current_task() or context.current_process.get() is not self:
                t.cancel()

    # -- links and monitors ---------------------------------------------------------------

    def link(self, other: Process) -> None:
        if other is self:
            return
        if self.links is None:
            self.links = set()
        if other.links is None:
            other.links = set()
        self.links.add(other)
        other.links.add(self)

    def unlink(self, other: Process) -> None:
        if self.links:
            self.links.discard(other)
        if other.links:
            other.links.discard(self)

    def monitor(self, target: Process | None, dest: Any) -> Ref:
        ref = Ref(next(_refs))
        if target is None or not target.alive:
            self.deliver(Down(ref, dest, "noproc"))
            return ref
        if self.monitors is None:
            self.monitors = {}
        if target.watchers is None:
            target.watchers = {}
        self.monitors[ref] = target
        target.watchers[ref] = (self, dest)
        return ref

    def demonitor(self, ref: Ref) -> None:
        """Remove the monitor and flush its DOWN if one is already queued."""
        target = self.monitors.pop(ref, None) if self.monitors else None
        if target is not None and target.watchers:
            target.watchers.pop(ref, None)
        mb = self.mailbox
        if mb:
            for m in mb:
                if type(m) is Down and m.ref == ref:
                    mb.remove(m)
                    break

    def join_future(self) -> asyncio.Future[Any]:
        fut = asyncio.get_running_loop().create_future()
        if self.joiners is None:
            self.joiners = []
        self.joiners.append(fut)
        return fut


class _Died:
    """What a pending call's future holds when the server died before replying."""

    __slots__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason


_EXPIRED = object()


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(_EXPIRED)


def crash_text(exc: BaseException) -> str:
    """The traceback text of a crash report, from the crashing callback down.

    The first entry is the runtime frame that caught the exception (the message loop, say),
    which tells the reader nothing and is the costliest to format (a long function's code
    positions are walked): it is left out. The node formats this only when it is read.
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


async def run_function(proc: Process, fn: Any, args: tuple[Any, ...]) -> None:
    """The body of a spawned process: returning exits normal, raising exits with the exception."""
    context.current_process.set(proc)
    try:
        await fn(*args)
    except ProcessExit as e:
        proc.die(e.reason)
    except asyncio.CancelledError:
        proc.die("killed")  # cancelled from outside the runtime (e.g. the loop closing)
    except Exception as e:
        proc.die(e, True)
    else:
        proc.die("normal")
    finally:
        if proc.task is not None and proc.task is not _STARTING:
            proc.task = None


# -- the calling-process API (rt.self_pid, rt.link, ...) -----------------------------------


def self_pid() -> Pid:
    """The calling process's pid."""
    p = context.current_process.get()  # context.this_process, inlined: greeters call it often
    if p is not None and p.node is context.current_node.get():
        return p.pid
    raise RuntimeError("self_pid() must be called from inside a process")


def exit(reason: Any) -> None:  # noqa: A001 - mirrors Erlang's exit/1
    """End the calling process with ``reason``; never returns."""
    context.this_process("exit()")
    raise ProcessExit(reason)


def trap_exit(flag: bool = True) -> bool:
    """Turn exit trapping on or off for the calling process; returns the old setting."""
    p = context.this_process("trap_exit()")
    old, p.trap = p.trap, bool(flag)
    return old


def link(pid: Pid) -> None:
    """Link the calling process to ``pid``; a dead pid sends a ``noproc`` exit signal."""
    me = context.this_process("link()")
    other = me.node._lookup_pid(pid)
    if other is None:
        me.signal(pid, "noproc", False)
        return
    me.link(other)


def unlink(pid: Pid) -> None:
    """Remove the link both ways (an Exit already queued stays queued)."""
    me = context.this_process("unlink()")
    other = me.node._lookup_pid(pid)
    if other is not None:
        me.unlink(other)


def monitor(dest: Any) -> Ref:
    """Monitor ``dest`` (pid or name); a dead or unknown target gives ``Down(ref, dest, "noproc")``."""
    me = context.this_process("monitor()")
    target = me.node._resolve(dest)
    return me.monitor(target, dest)


def demonitor(ref: Ref) -> None:
    """Stop monitoring; no ``Down`` for ``ref`` arrives afterwards."""
    context.this_process("demonitor()").demonitor(ref)


async def receive(timeout: float | None = None) -> Any:
    """The calling process's next message; ``TimeoutError`` if none comes within ``timeout`` s."""
    return await context.this_process("receive()").receive(timeout)
