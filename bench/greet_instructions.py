"""Instructions per greeter, counted by valgrind: a figure the machine's noise cannot move.

    python bench/greet_instructions.py              # needs valgrind (apt-get install valgrind)
    python bench/greet_instructions.py --tree PATH  # another checkout's runtime, for a before/after

Wall-clock figures on a shared 2-core VM move by up to 2x from one minute to the next, so a
change worth 5% is invisible in them. callgrind counts the instructions the interpreter runs,
the same from run to run; the greet workload (with one subscriber) runs for two sizes and the
difference, divided by the difference in greeters, leaves out start-up. Instructions are not
time (cache misses and allocation are under-weighted), so confirm a gain with the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workload(tree: str, n: int) -> None:
    """The greet benchmark's loop, with one subscriber draining the event stream."""
    sys.path.insert(0, tree)
    from supervision import runtime as rt
    from supervision.greeter import REGISTRY, spawn_greeter, start_app

    async def main() -> None:
        async with rt.Node() as node:
            await start_app()
            sub = node.events.subscribe()

            async def drain() -> None:
                while await sub.next_batch():
                    pass

            drainer = asyncio.ensure_future(drain())
            for i in range(n):
                await spawn_greeter(f"p{i}")
                if i % 500 == 499:
                    await asyncio.sleep(0)
            while rt.Registry.count(REGISTRY):
                await asyncio.sleep(0)
            drainer.cancel()

    asyncio.run(main())


def count(tree: str, n: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += [sys.executable, __file__, "--workload", str(n), "--tree", tree]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    m = re.search(r"Collected : (\d+)", out)
    if m is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{out[-2000:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default=str(ROOT), help="a checkout whose supervision/ to measure")
    ap.add_argument("--workload", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workload is not None:
        workload(args.tree, args.workload)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    small, large = 1_000, 6_000
    per = (count(args.tree, large) - count(args.tree, small)) / (large - small)
    print(f"greet with one subscriber: {per:,.0f} instructions per greeter ({args.tree})")


if __name__ == "__main__":
    main()
