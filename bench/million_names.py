"""The atom-table lesson: a million greeters with unique names, and nothing left behind.

    python bench/million_names.py                  # 1,000,000 greeters, RSS and tracemalloc
    python bench/million_names.py --n 200000 --no-tracemalloc
    python bench/runtime_bench.py --only million   # the same, from the benchmark suite

Erlang's atoms are never freed, so naming processes with ``list_to_atom`` exhausts the atom
table; names here are ordinary values freed when their process exits (DESIGN.md §1). Each
greeter is started by ``spawn_greeter`` under ``start_app`` with a name no other greeter
uses, greets, and stops ``normal``. Afterwards the registry, the node's name and process
tables and the DynamicSupervisor's books must be back where they started; the script checks
that (an AssertionError if not) and prints memory before and after. tracemalloc slows every
allocation down, so the throughput printed with it on is not the runtime's speed
(``--no-tracemalloc`` measures that; ``runtime_bench.py --only greet`` is the speed figure).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
import tracemalloc

from _common import rss_bytes

from supervision import runtime as rt
from supervision.greeter import REGISTRY, SUPERVISOR, spawn_greeter, start_app

MiB = 2**20


def books(node: rt.Node) -> dict[str, int]:
    """The sizes of every table a greeter's name or life could leave an entry in."""
    sup = node.whereis(SUPERVISOR)
    server = node._procs[sup].server  # the DynamicSupervisor's own dict of children
    return {
        "registry entries": rt.Registry.count(REGISTRY),
        "registry rows (select)": len(rt.Registry.select(REGISTRY)),
        "node name table": len(node._names),
        "node process table": node.process_count(),
        "supervisor children": len(server.children),
    }


async def million(n: int, trace: bool) -> dict[str, float]:
    """Run ``n`` uniquely named greeters to completion; returns the figures (and checks the books)."""
    async with rt.Node() as node:
        await start_app()
        gc.collect()
        before = books(node)
        names_before = dict(node._names)
        if trace:
            tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0] if trace else 0
        rss_before = rss_bytes()
        blocks_before = sys.getallocatedblocks()
        started = time.perf_counter()
        for i in range(n):
            await spawn_greeter(f"unique person {i}")
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the loop breathe, as a real caller would
        while rt.Registry.count(REGISTRY):
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        gc.collect()
        after = books(node)
        counts = await rt.DynamicSupervisor.count_children(SUPERVISOR)
        figures = {
            "greeters": n,
            "seconds": elapsed,
            "greeters/s": n / elapsed,
            "RSS before (MiB)": rss_before / MiB,
            "RSS after (MiB)": rss_bytes() / MiB,
            "peak RSS, getrusage (MiB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "allocated blocks before": blocks_before,
            "allocated blocks after": sys.getallocatedblocks(),
        }
        if trace:
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            figures.update(
                {
                    "traced before (KiB)": traced_before / 1024,
                    "traced after (KiB)": current / 1024,
                    "traced peak (KiB)": peak / 1024,
                    "traced growth per greeter (B)": (current - traced_before) / n,
                }
            )
        print(f"books before: {before}")
        print(f"books after : {after}")
        assert after == before, f"something was left behind: {before} -> {after}"
        assert dict(node._names) == names_before, "the node's name table changed"
        assert rt.Registry.select(REGISTRY) == [] and rt.Registry.lookup(REGISTRY, "greeter_for_unique person 0") == []
        assert (counts.specs, counts.active) == (0, 0), counts
        assert await rt.DynamicSupervisor.which_children(SUPERVISOR) == []
        return figures


def report(figures: dict[str, float]) -> None:
    print(f"\n== {figures['greeters']:,.0f} greeters with unique names (the atom-table lesson)")
    for key, value in figures.items():
        if key != "greeters":
            print(f"   {key:30s}: {value:,.1f}" if isinstance(value, float) else f"   {key:30s}: {value:,}")
    print("   books: registry, name table, process table and supervisor children are as before: OK")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--no-tracemalloc", action="store_true", help="measure speed, not Python allocations")
    a = ap.parse_args(argv)
    print(
        f"million names: N={a.n:,}, tracemalloc {'off' if a.no_tracemalloc else 'on'}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    report(asyncio.run(million(a.n, not a.no_tracemalloc)))


if __name__ == "__main__":
    main()
