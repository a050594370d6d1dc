"""How fast can the greet workload be on this interpreter? A floor, beside our figure.

    python bench/greet_floor.py            # 100,000 greeters, 3 runs each

The floor does only the work the contract requires of one greeter, written flat, with no
checks, no error paths and no abstractions: a supervisor process started eagerly for the
call (as ours is, so a caller never waits a loop turn), a process record and a pid, a via
name in a dict, a link both ways, the greeter's own eager task (its code must run in a
task of its own), init and continue, five events with their data dicts and timestamps to
one subscriber, and on exit the entry dropped, the exit message queued to the supervisor
and the supervisor's books updated. Whatever our runtime costs beyond it is the price of
its checks, its error paths and its layers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import itertools
import statistics
import time
from collections import deque
from typing import Any

import _common  # noqa: F401 - puts the project on sys.path
from runtime_bench import greet_ours  # our figure, exactly as runtime_bench measures it

from supervision.greeter import REGISTRY

_current = contextvars.ContextVar("floor_process", default=None)


class _Proc:
    __slots__ = ("pid", "parent", "name", "links", "mailbox", "task", "trap", "books")

    def __init__(self, pid: int, parent: int | None, name: Any) -> None:
        self.pid = pid
        self.parent = parent
        self.name = name
        self.links: set[_Proc] = set()
        self.mailbox: deque[Any] = deque()
        self.task: Any = None
        self.trap = False
        self.books: dict[int, Any] = {}


class _Floor:
    """One node's worth of tables, and the greet flow written flat."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ctx = contextvars.copy_context()
        self.ids = itertools.count(1)
        self.procs: dict[int, _Proc] = {}
        self.names: dict[str, int] = {}
        self.seq = 0
        self.queue: deque[tuple[Any, ...]] = deque()  # the one subscriber's

    def emit(self, kind: str, pid: int, data: dict[str, Any]) -> None:
        self.seq += 1
        self.queue.append((self.seq, kind, pid, data, time.time()))

    def eager(self, proc: _Proc, coro: Any) -> None:
        proc.task = True
        task = asyncio.Task(coro, loop=self.loop, eager_start=True, context=self.ctx.copy())
        proc.task = None if task.done() else task

    def die(self, proc: _Proc, reason: str) -> None:
        del self.names[proc.name]
        self.emit("unregistered", proc.pid, {"registry": REGISTRY, "key": proc.name, "value": None})
        del self.procs[proc.pid]
        self.emit("exited", proc.pid, {"reason": reason})
        for other in proc.links:
            other.links.discard(proc)
            other.mailbox.append(("EXIT", proc.pid, reason))

    async def greeter(self, proc: _Proc, person: str, ack: list[Any]) -> None:
        _current.set(proc)
        self.names[proc.name] = proc.pid
        self.emit("registered", proc.pid, {"registry": REGISTRY, "key": proc.name, "value": None})
        ack.append(proc.pid)  # init done: the starter may go on
        self.emit("greeted", proc.pid, {"person": person, "count": 1})  # handle_continue
        self.die(proc, "normal")

    async def supervisor(self, sup: _Proc) -> None:
        _current.set(sup)
        while sup.mailbox:
            msg = sup.mailbox.popleft()
            if msg[0] == "START":
                person, reply = msg[1], msg[2]
                proc = _Proc(next(self.ids), sup.pid, f"greeter_for_{person}")
                self.procs[proc.pid] = proc
                self.emit("started", proc.pid, {"parent": sup.pid, "name": proc.name, "type": "worker"})
                sup.links.add(proc)
                proc.links.add(sup)
                ack: list[Any] = []
                self.eager(proc, self.greeter(proc, person, ack))
                sup.books[ack[0]] = person
                reply.append(ack[0])
            else:  # an exit: a normal one, so no restart
                sup.books.pop(msg[1], None)
        sup.task = None

    async def spawn(self, sup: _Proc, person: str) -> int:
        reply: list[Any] = []
        sup.mailbox.append(("START", person, reply))
        if sup.task is None:
            self.eager(sup, self.supervisor(sup))
        return reply[0]


async def floor_run(n: int) -> float:
    floor = _Floor(asyncio.get_running_loop())
    sup = _Proc(0, None, "GreeterSupervisor")
    sup.trap = True
    with _common.Timer() as t:
        for i in range(n):
            await floor.spawn(sup, f"p{i}")
            if i % 500 == 499:
                floor.queue.clear()  # the subscriber drains
                await asyncio.sleep(0)
    assert not floor.names and not floor.procs and not sup.books
    return n / t.elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    floor, ours = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine
        floor.append(asyncio.run(floor_run(args.n)))
        ours.append(asyncio.run(greet_ours(args.n, subscriber=True)))
    print(f"greet floor vs ours, N={args.n:,}, {args.runs} runs each, {time.strftime('%Y-%m-%d %H:%M')}")
    for label, xs in (("floor (essential work only)", floor), ("supervision", ours)):
        print(f"   {label:28}: {min(xs):,.0f} / {statistics.median(xs):,.0f} / {max(xs):,.0f} greeters/s")
    print(f"   ratio                       : {statistics.median(ours) / statistics.median(floor):.2f}x of the floor")


if __name__ == "__main__":
    main()
