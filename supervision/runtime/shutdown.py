"""What Supervisor and DynamicSupervisor share: restart intensity and the shutdown protocol."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from .pid import Pid
from .process import Process
from .reasons import is_normal, should_restart

log = logging.getLogger("supervision.runtime")


def _whole_seconds() -> int:
    return int(time.monotonic())


class Intensity:
    """OTP restart intensity: more than ``max_restarts`` within ``max_seconds`` means give up.

    As OTP's supervisor does, each attempt is stamped in whole monotonic seconds and a stamp
    counts while ``stamp >= now - max_seconds``: restarts 1.5 s apart can both fall in a 1 s
    period. ``clock`` is that whole-second clock (tests replace it).
    """

    __slots__ = ("max_restarts", "max_seconds", "stamps")
    clock = staticmethod(_whole_seconds)

    def __init__(self, max_restarts: int, max_seconds: int) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.stamps: deque[int] = deque()

    def add(self) -> bool:
        """Record one restart attempt; False when it exceeds the budget."""
        now = self.clock()
        stamps = self.stamps
        stamps.append(now)
        horizon = now - self.max_seconds
        while stamps and stamps[0] < horizon:
            stamps.popleft()
        return len(stamps) <= self.max_restarts

    def used(self) -> int:
        """Restarts within the current window (for the dashboard's budget gauge)."""
        horizon = self.clock() - self.max_seconds
        return sum(1 for t in self.stamps if t >= horizon)


def report_child_exit(sup: Process, pid: Pid, child_id: Any, restart: str, reason: Any) -> None:
    """OTP's supervisor report (``child_terminated``): logged for an exit a restart follows,
    and for a temporary child's abnormal exit; a child that ends as its restart type allows
    is not news. The child's own crash report, if it crashed, is logged apart (with its traceback).
    """
    if not log.isEnabledFor(logging.ERROR):
        return
    restarting = should_restart(restart, reason)
    if not restarting and (restart != "temporary" or is_normal(reason)):
        return
    what = "restarting it" if restarting else "not restarted (temporary)"
    child = f"{pid} ({child_id!r})" if child_id is not None else str(pid)
    log.error("supervisor %s: child %s terminated with reason %r; %s", _who(sup), child, reason, what)


def report_give_up(sup: Process, intensity: Intensity) -> None:
    """OTP's ``reached_max_restart_intensity`` report: the supervisor is about to shut down."""
    log.error(
        "supervisor %s: more than %d restarts in %gs; shutting down",
        _who(sup),
        intensity.max_restarts,
        intensity.max_seconds,
    )


def _who(sup: Process) -> str:
    return f"{sup.pid} ({sup.name})" if sup.name is not None else str(sup.pid)


def check_flags(max_restarts: Any, max_seconds: Any) -> None:
    """ValueError unless the intensity is an int >= 0 and the period a number > 0."""
    if not (type(max_restarts) is int and max_restarts >= 0):
        raise ValueError(f"invalid max_restarts {max_restarts!r}: expected an integer >= 0")
    if not (type(max_seconds) is int and max_seconds > 0):  # OTP's period: restarts are stamped in whole seconds
        raise ValueError(f"invalid max_seconds {max_seconds!r}: expected a whole number of seconds > 0")


def send_shutdown(me: Process, child: Process, shutdown: float | str) -> None:
    """Unlink ``child``, flush its queued Exit, and send it ``shutdown`` (or ``kill``)."""
    me.unlink(child)
    me.flush_exits(child.pid)
    child.signal(me.pid, "kill" if shutdown == "brutal_kill" else "shutdown", True)


async def shutdown_child(me: Process, pid: Pid | None, shutdown: float | str) -> Any:
    """Stop one child by OTP's protocol; returns its exit reason.

    ``brutal_kill`` kills at once; a number of seconds sends ``shutdown`` and kills after that
    long; ``infinity`` waits. Waiting on the child's death, not a link, means a child that
    unlinked itself cannot hang the supervisor.
    """
    child = me.node._procs.get(pid) if pid is not None else None
    if child is None:
        if pid is not None:
            me.flush_exits(pid)
        return "noproc"
    done = child.join_future()
    send_shutdown(me, child, shutdown)
    if not done.done():
        if shutdown == "infinity" or shutdown == "brutal_kill":
            await done
        else:
            finished, _ = await asyncio.wait({done}, timeout=shutdown)
            if not finished:
                child.signal(me.pid, "kill", True)
    return done.result()


async def shutdown_many(me: Process, children: list[tuple[Pid, float | str]]) -> None:
    """Stop children concurrently (a DynamicSupervisor): signal all, then wait, killing on timeout."""
    procs = me.node._procs
    waiting: dict[float | str, list[tuple[Process, asyncio.Future[Any]]]] = {}
    for pid, shutdown in children:
        child = procs.get(pid)
        if child is None:
            me.flush_exits(pid)
            continue
        send_shutdown(me, child, shutdown)
        if child.alive:  # a trapping child: wait for it
            waiting.setdefault(shutdown, []).append((child, child.join_future()))
    if not waiting:
        return

    async def wait_group(shutdown: float | str, group: list[tuple[Process, asyncio.Future[Any]]]) -> None:
        futs = {f for _, f in group}
        timeout = None if shutdown in ("infinity", "brutal_kill") else shutdown
        await asyncio.wait(futs, timeout=timeout)
        for child, f in group:
            if not f.done():
                child.signal(me.pid, "kill", True)

    await asyncio.gather(*(wait_group(s, g) for s, g in waiting.items()))
