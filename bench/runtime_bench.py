"""Runtime benchmarks (issue 2), each figure beside a raw-asyncio baseline from the same run.

    python bench/runtime_bench.py            # every figure, 5 runs each
    python bench/runtime_bench.py --runs 3 --n 50000
    python bench/runtime_bench.py --only greet,lookup
    python bench/runtime_bench.py --only snapshot  # a resync's stall with 100,000 live greeters
    python bench/runtime_bench.py --only million   # 1,000,000 uniquely named greeters (bench/million_names.py)

Baselines do the same work with no supervision: asyncio tasks with a deque mailbox and a
dict registry. Figures are min/median/max over runs; ratios compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import random
import time
import tracemalloc
from collections import deque
from typing import Any

import million_names
from _common import Timer, report, rss_bytes, runs

from supervision import runtime as rt
from supervision.greeter import REGISTRY, spawn_greeter, start_app

# -- greet throughput -----------------------------------------------------------------------


async def greet_ours(n: int, subscriber: bool) -> float:
    async with rt.Node() as node:
        await start_app()
        drained = 0
        drain_task = None
        if subscriber:
            sub = node.events.subscribe()

            async def drain() -> None:
                nonlocal drained
                while batch := await sub.next_batch():
                    drained += len(batch)

            drain_task = asyncio.ensure_future(drain())
        with Timer() as t:
            for i in range(n):
                await spawn_greeter(f"p{i}")
                if i % 500 == 499:
                    await asyncio.sleep(0)  # let the subscriber drain, as the dashboard's pump would
            while rt.Registry.count(REGISTRY):
                await asyncio.sleep(0)
        if drain_task:
            drain_task.cancel()
        return n / t.elapsed


async def greet_raw(n: int, eager: bool) -> float:
    registry: dict[str, Any] = {}
    greeted = 0
    loop = asyncio.get_running_loop()
    if eager:
        loop.set_task_factory(asyncio.eager_task_factory)

    async def greeter(name: str) -> None:
        nonlocal greeted
        mailbox: deque[Any] = deque()
        greeted += 1  # greet
        mailbox.clear()
        del registry[name]

    with Timer() as t:
        for i in range(n):
            name = f"greeter_for_p{i}"
            registry[name] = None  # claimed before it runs, as a via name is
            loop.create_task(greeter(name))
            if i % 500 == 499:
                await asyncio.sleep(0)
        while registry:
            await asyncio.sleep(0)
    loop.set_task_factory(None)
    return n / t.elapsed


# -- memory per idle registered GenServer ---------------------------------------------------


class Idle(rt.GenServer):
    async def init(self, i: int) -> None:
        self.i = i


async def memory_ours(n: int) -> float:
    async with rt.Node():
        await rt.Registry.start_link(keys="unique", name="R")
        await Idle.start(-1, name=rt.via("R", -1))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            await Idle.start(i, name=rt.via("R", i))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / n


async def memory_raw(n: int) -> float:
    registry: dict[int, Any] = {}
    loop = asyncio.get_running_loop()

    async def server(i: int) -> None:
        mailbox: deque[Any] = deque()
        state = {"i": i}
        while True:
            fut = loop.create_future()
            await fut
            mailbox.popleft()
            _ = state

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        registry[i] = loop.create_task(server(i))
    await asyncio.sleep(0)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for t in registry.values():
        t.cancel()
    await asyncio.sleep(0)
    return (after - before) / n


# -- snapshot (a dashboard's resync) ---------------------------------------------------------


async def snapshot_ours(n: int, times: int) -> list[float]:
    """Seconds per ``node.snapshot()`` with ``n`` live registered greeters (the loop stalls that long)."""
    async with rt.Node() as node:
        await start_app()
        for i in range(n):
            await spawn_greeter(f"p{i}", lifetime=3600, every=3600)
        out = []
        for _ in range(times):
            with Timer() as t:
                snap = node.snapshot()
            out.append(t.elapsed)
        assert len(snap.processes) == n + 3
        return out


def snapshot_raw(n: int, times: int) -> list[float]:
    """The same rows built from a plain dict of plain records: one tuple of 15 fields each."""

    class Rec:
        __slots__ = ("pid", "name", "links")

        def __init__(self, i: int) -> None:
            self.pid, self.name, self.links = i, f"greeter_for_p{i}", {0}

    table = {i: Rec(i) for i in range(n)}
    out = []
    for _ in range(times):
        with Timer() as t:
            rows = [
                (
                    r.pid,
                    r.name,
                    0,
                    "worker",
                    "Greeter",
                    tuple(r.links),
                    (),
                    0,
                    0,
                    0.0,
                    False,
                    "waiting",
                    None,
                    None,
                    None,
                )
                for r in table.values()
            ]
        out.append(t.elapsed)
    assert len(rows) == n
    return out


# -- Registry.lookup ------------------------------------------------------------------------


class Holder(rt.GenServer):
    async def handle_call(self, keys: Any, caller: Any) -> None:
        for k in keys:
            rt.Registry.register("L", k, k)


async def lookup_ours(n: int) -> float:
    async with rt.Node():
        await rt.Registry.start_link(keys="unique", name="L")
        holder = await Holder.start()
        await rt.GenServer.call(holder, list(range(n)))
        keys = [random.randrange(n) for _ in range(200_000)]
        lookup = rt.Registry.lookup
        with Timer() as t:
            for k in keys:
                lookup("L", k)
        return len(keys) / t.elapsed


async def lookup_raw(n: int) -> float:
    table = {i: (object(), i) for i in range(n)}
    keys = [random.randrange(n) for _ in range(200_000)]
    with Timer() as t:
        for k in keys:
            held = table.get(k)
            _ = [held] if held is not None else []
    return len(keys) / t.elapsed


# -- GenServer.call round trip --------------------------------------------------------------


class Echo(rt.GenServer):
    async def handle_call(self, request: Any, caller: Any) -> Any:
        return request


async def call_ours(n: int, by_name: bool) -> float:
    async with rt.Node():
        await rt.Registry.start_link(keys="unique", name="E")
        pid = await Echo.start(name=rt.via("E", "echo"))
        dest = rt.via("E", "echo") if by_name else pid
        call = rt.GenServer.call
        with Timer() as t:
            for i in range(n):
                await call(dest, i)
        return n / t.elapsed


async def call_raw(n: int) -> float:
    """A server task with a deque mailbox; each call is a future the server resolves."""
    loop = asyncio.get_running_loop()
    mailbox: deque[tuple[Any, asyncio.Future[Any]]] = deque()
    wake: list[asyncio.Future[None] | None] = [None]

    async def server() -> None:
        while True:
            while mailbox:
                req, fut = mailbox.popleft()
                fut.set_result(req)
            w = wake[0] = loop.create_future()
            await w

    task = loop.create_task(server())
    await asyncio.sleep(0)
    with Timer() as t:
        for i in range(n):
            fut = loop.create_future()
            mailbox.append((i, fut))
            w = wake[0]
            if w is not None and not w.done():
                w.set_result(None)
            await fut
    task.cancel()
    return n / t.elapsed


# -- stopping a DynamicSupervisor with registered children ----------------------------------


async def stop_ours(n: int) -> float:
    async with rt.Node():
        await rt.Registry.start_link(keys="unique", name="S")
        sup = await rt.DynamicSupervisor.start_link()
        for i in range(n):
            await rt.DynamicSupervisor.start_child(sup, Idle.child_spec(i, name=rt.via("S", i)))
        assert rt.Registry.count("S") == n
        with Timer() as t:
            await rt.GenServer.stop(sup, "shutdown")
            while rt.Registry.count("S"):
                await asyncio.sleep(0)
        return t.elapsed


async def stop_raw(n: int) -> float:
    registry: dict[int, asyncio.Task[Any]] = {}
    loop = asyncio.get_running_loop()

    async def child(i: int) -> None:
        try:
            await loop.create_future()
        finally:
            del registry[i]

    for i in range(n):
        registry[i] = loop.create_task(child(i))
    await asyncio.sleep(0)
    with Timer() as t:
        for task in list(registry.values()):
            task.cancel()
        while registry:
            await asyncio.sleep(0)
    return t.elapsed


# -- crash and restart ----------------------------------------------------------------------


class Crasher(rt.GenServer):
    async def handle_cast(self, request: Any) -> None:
        raise RuntimeError("boom")


async def restart_ours(n: int, log_crashes: bool = False) -> float:
    """Crash a permanent child n times. The crash log is off, or (``log_crashes``) on and
    written, traceback and all, to /dev/null: a crash's traceback is formatted only when
    something reads it (the log or an event subscriber), so the two figures differ."""
    logger = logging.getLogger("supervision.runtime")
    devnull = open(os.devnull, "w")
    handler = logging.StreamHandler(devnull)
    if log_crashes:
        logger.addHandler(handler)
        logger.propagate = False
    else:
        logger.disabled = True
    try:
        async with rt.Node() as node:
            await rt.Supervisor.start_link([Crasher.child_spec(name="c")], max_restarts=n * 10, max_seconds=3600)
            with Timer() as t:
                for _ in range(n):
                    before = node.restarts
                    rt.GenServer.cast("c", "crash")
                    while node.restarts == before:
                        await asyncio.sleep(0)
            return n / t.elapsed
    finally:
        logger.removeHandler(handler)
        devnull.close()
        logger.propagate = True
        logger.disabled = False


async def restart_raw(n: int) -> float:
    loop = asyncio.get_running_loop()
    restarts = 0
    done = asyncio.Event()

    async def child() -> None:
        raise RuntimeError("boom")

    def on_done(task: asyncio.Task[Any]) -> None:
        nonlocal restarts
        task.exception()
        restarts += 1
        if restarts < n:
            loop.create_task(child()).add_done_callback(on_done)
        else:
            done.set()

    with Timer() as t:
        loop.create_task(child()).add_done_callback(on_done)
        await done.wait()
    return n / t.elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument(
        "--only", default="", help="comma-separated: greet,memory,lookup,call,stop,restart,snapshot,million"
    )
    ap.add_argument("--names", type=int, default=1_000_000, help="greeters for --only million")
    a = ap.parse_args()
    n, r = a.n, a.runs
    print(f"supervision runtime benchmarks: N={n:,}, {r} runs each, {time.strftime('%Y-%m-%d %H:%M')}")

    def want(name: str) -> bool:
        return not a.only or name in a.only.split(",")

    if want("greet"):
        report(
            "greet throughput, with one subscriber draining the event stream",
            runs(r, lambda: asyncio.run(greet_ours(n, True))),
            runs(r, lambda: asyncio.run(greet_raw(n, False))),
            "greeters/s",
            ">= 100,000/s (BEAM ~105,000/s); baseline: ordinary tasks",
        )
        report(
            "greet throughput, no subscriber",
            runs(r, lambda: asyncio.run(greet_ours(n, False))),
            runs(r, lambda: asyncio.run(greet_raw(n, True))),
            "greeters/s",
            ">= 100,000/s; baseline: eager tasks",
        )
    if want("memory"):
        report(
            "memory per idle GenServer registered under a unique key",
            runs(max(1, r // 2), lambda: asyncio.run(memory_ours(n))),
            runs(max(1, r // 2), lambda: asyncio.run(memory_raw(n))),
            "bytes",
            "<= 1,536 bytes (BEAM ~3.6 KB)",
            higher_is_better=False,
        )
    if want("lookup"):
        report(
            "Registry.lookup on random keys",
            runs(r, lambda: asyncio.run(lookup_ours(n))),
            runs(r, lambda: asyncio.run(lookup_raw(n))),
            "lookups/s",
            ">= 2,000,000/s (BEAM ~0.9 M/s); baseline: dict.get",
        )
    if want("call"):
        base = runs(r, lambda: asyncio.run(call_raw(n)))
        report(
            "GenServer.call round trip by pid",
            runs(r, lambda: asyncio.run(call_ours(n, False))),
            base,
            "calls/s",
            ">= 0.5x the raw future round trip (BEAM ~0.84 M/s)",
        )
        report(
            "GenServer.call round trip by via name",
            runs(r, lambda: asyncio.run(call_ours(n, True))),
            base,
            "calls/s",
            ">= 0.5x the raw future round trip",
        )
    if want("stop"):
        ours = runs(max(1, r // 2), lambda: asyncio.run(stop_ours(n)))
        base = runs(max(1, r // 2), lambda: asyncio.run(stop_raw(n)))
        report(
            f"stop a DynamicSupervisor with {n:,} registered children until the registry is empty",
            [x * 1000 for x in ours],
            [x * 1000 for x in base],
            "ms",
            "< 2,000 ms (BEAM ~40 s)",
            higher_is_better=False,
        )
    if want("restart"):
        m = max(1000, n // 10)
        base = runs(r, lambda: asyncio.run(restart_raw(m)))
        report(
            "crash-and-restart of a permanent child (crash log off)",
            runs(r, lambda: asyncio.run(restart_ours(m))),
            base,
            "restarts/s",
            "as high as it goes",
        )
        report(
            "crash-and-restart of a permanent child (crash log on, traceback written to /dev/null)",
            runs(r, lambda: asyncio.run(restart_ours(m, log_crashes=True))),
            base,
            "restarts/s",
            "as high as it goes; each crash's traceback is formatted once",
        )
    if want("snapshot"):
        report(
            f"node.snapshot() with {n:,} live registered greeters (a resync; the node's loop waits for it)",
            [x * 1000 for x in asyncio.run(snapshot_ours(n, r))],
            [x * 1000 for x in snapshot_raw(n, r)],
            "ms",
            "as short as it goes (it is synchronous by contract)",
            higher_is_better=False,
        )
    if "million" in a.only.split(","):  # minutes with tracemalloc: only when asked for
        million_names.report(asyncio.run(million_names.million(a.names, True)))
    print(f"\npeak RSS of this run: {rss_bytes() / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
