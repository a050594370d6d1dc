"""Run the seed's Greeter tree: ``python -m supervision.runtime.example Ann Bob``.

Starts GreeterRegistry and GreeterSupervisor, spawns one greeter per name, waits for every
greeter to finish, and shows that the registry is empty afterwards.
"""

from __future__ import annotations

import asyncio
import sys

from supervision import runtime as rt
from supervision.greeter import REGISTRY, spawn_greeter, start_app


async def main(names: list[str]) -> int:
    async with rt.Node() as node:
        events = node.events.subscribe()
        await start_app()
        pids = [await spawn_greeter(name) for name in names]
        for pid in pids:
            await node.join(pid)
        while (e := events.get_nowait()) is not None:
            if isinstance(e, rt.Event) and e.kind == "greeted":
                print(f"Hello, {e.data['person']}!  (from {e.pid})")
        print(f"registry entries left: {rt.Registry.count(REGISTRY)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:] or ["world"])))
