"""Shared helpers for the benchmarks: timing runs, memory, and the figure table."""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_bytes() -> int:
    """Resident memory of this process (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def spread(values: list[float]) -> str:
    """min / median / max, for the machine noise."""
    return f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f}"


class Timer:
    def __enter__(self) -> Timer:
        gc.collect()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.elapsed = time.perf_counter() - self.start


def report(
    title: str, ours: list[float], base: list[float], unit: str, goal: str, higher_is_better: bool = True
) -> None:
    """Print one figure beside its raw-asyncio baseline and the ratio of medians."""
    mo, mb = statistics.median(ours), statistics.median(base)
    ratio = mo / mb if mb else float("nan")
    print(f"\n== {title}")
    print(f"   supervision : {spread(ours)} {unit}  (min/median/max of {len(ours)} runs)")
    print(f"   raw asyncio : {spread(base)} {unit}")
    print(
        f"   ratio       : {ratio:.2f}x of baseline ({'higher' if higher_is_better else 'lower'} is better); goal: {goal}"
    )


def runs(n: int, fn: Callable[[], float]) -> list[float]:
    return [fn() for _ in range(n)]
