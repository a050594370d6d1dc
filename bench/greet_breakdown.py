"""Where a greeter's time goes: the greet benchmark taken apart, piece by piece.

    python bench/greet_breakdown.py            # without and with one event subscriber

Each line times one layer of ``spawn_greeter`` on its own (best of 25 batches of 2,000, so
a busy machine's noise mostly drops out); the differences between lines are the cost of
the layer added. ``runtime_bench.py --only greet`` is the throughput figure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _common  # noqa: F401 - puts the project on sys.path

from supervision import runtime as rt
from supervision.greeter import REGISTRY, Greeter, greeter_name, spawn_greeter, start_app

BATCH = 2_000


class ContinueThenStop(rt.GenServer):
    """A greeter without the greeting: init continues, handle_continue stops normal."""

    async def init(self) -> rt.Continue:
        return rt.Continue(None)

    async def handle_continue(self, arg: Any) -> rt.Stop:
        return rt.Stop("normal")


async def _returns_none() -> None:
    return None


async def best_of(step: Callable[[int], Awaitable[Any]], batches: int = 25) -> float:
    """Microseconds per step, best batch."""
    best, k = float("inf"), 0
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(BATCH):
            await step(k)
            k += 1
        best = min(best, (time.perf_counter() - started) / BATCH)
        await asyncio.sleep(0)  # the subscriber drains between batches
    return best * 1e6


async def in_trapping_process(step: Callable[[int], Awaitable[Any]]) -> float:
    """``best_of(step)`` from a trapping process that drops the exits it gets, as a supervisor would."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    node = rt.node()

    async def body() -> None:
        rt.trap_exit(True)
        me = node._procs[rt.self_pid()]

        async def step_and_forget_exit(k: int) -> None:
            await step(k)
            if me.mailbox:
                me.mailbox.clear()

        done.set_result(await best_of(step_and_forget_exit))

    node.spawn(body)
    return await done


async def breakdown(subscriber: bool) -> list[tuple[str, float]]:
    async with rt.Node() as node:
        await start_app()
        if subscriber:
            sub = node.events.subscribe()

            async def drain() -> None:
                while await sub.next_batch():
                    pass

            drainer = asyncio.ensure_future(drain())
        ignored = rt.ChildSpec(id=None, start=(_returns_none, ()))
        other = await rt.DynamicSupervisor.start_link()

        async def build_spec(k: int) -> None:
            Greeter.child_spec(f"p{k}", 0, name=greeter_name(f"p{k}"))

        rows = [
            ("build the spec (greeter_name + Greeter.child_spec)", await best_of(build_spec)),
            (
                "DynamicSupervisor.start_child round trip, user start fn returns None",
                # a supervisor of its own: a user's start function puts a supervisor on its
                # task path for good, and GreeterSupervisor must keep its inline path below
                await best_of(lambda k: rt.DynamicSupervisor.start_child(other, ignored)),
            ),
            (
                "a GenServer's life: start_link, init, continue, stop, exit signal",
                await in_trapping_process(lambda k: ContinueThenStop.start_link()),
            ),
            (
                "the same, named rt.via(GreeterRegistry, ...)",
                await in_trapping_process(lambda k: ContinueThenStop.start_link(name=rt.via(REGISTRY, f"q{k}"))),
            ),
            (
                "a Greeter's life (adds its init, greeted event, log call)",
                await in_trapping_process(lambda k: Greeter.start_link(f"g{k}", name=greeter_name(f"g{k}"))),
            ),
            ("spawn_greeter, everything", await best_of(lambda k: spawn_greeter(f"s{k}"))),
        ]
        if subscriber:
            drainer.cancel()
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    print(f"greet breakdown, best of 25 batches of {BATCH:,}, {time.strftime('%Y-%m-%d %H:%M')}")
    without = asyncio.run(breakdown(False))
    with_sub = asyncio.run(breakdown(True))
    print(f"\n   {'µs, no subscriber':>18} {'one subscriber':>15}")
    for (label, a), (_, b) in zip(without, with_sub, strict=True):
        print(f"   {a:18.2f} {b:15.2f}   {label}")
    total_a, total_b = without[-1][1], with_sub[-1][1]
    print(f"\n   spawn_greeter: {1e6 / total_a:,.0f}/s without a subscriber, {1e6 / total_b:,.0f}/s with one")


if __name__ == "__main__":
    main()
