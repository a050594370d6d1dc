"""The dashboard benchmark's server: daphne with the real application, driven over stdin.

Started by ``bench/dashboard_bench.py`` with its own SQLite file. Commands, one per line;
each answers one JSON line on stdout:

    load RATE SECONDS     spawn RATE greeters a second (lifetime 0) for SECONDS
    fill N EVERY          spawn N greeters living a day, greeting every EVERY seconds
    burst N               spawn N greeters with lifetime 0 as fast as the node takes them
    rss                   this process's resident memory, bytes
    seq                   the node's last event seq
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import daphne.server  # noqa: E402,F401  (installs Twisted's asyncio reactor first)
from daphne.endpoints import build_endpoint_description_strings  # noqa: E402
from daphne.server import Server  # noqa: E402

from project.asgi import application  # noqa: E402  (starts the node)
from supervision import greeter  # noqa: E402
from supervision import host as hosting  # noqa: E402
from supervision import runtime as rt  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def load(rate: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while (now := loop.time()) - start < seconds:
        due = int((now - start) * rate)
        while n < due:
            await greeter.spawn_greeter(f"load-{n}", 0)
            n += 1
        await asyncio.sleep(0.005)
    return {"spawned": n, "seconds": loop.time() - start}


async def fill(n: int, every: float) -> dict:
    t = time.perf_counter()
    for start in range(0, n, 1000):
        await asyncio.gather(
            *(greeter.spawn_greeter(f"idle-{i}", 86_400, every) for i in range(start, min(n, start + 1000)))
        )
    return {"spawned": n, "seconds": time.perf_counter() - t}


async def burst(n: int) -> dict:
    t = time.perf_counter()
    before = rt.node().events.seq
    for start in range(0, n, 1000):
        await asyncio.gather(*(greeter.spawn_greeter(f"burst-{i}", 0) for i in range(start, min(n, start + 1000))))
    return {"events": rt.node().events.seq - before, "seconds": time.perf_counter() - t}


async def seq() -> int:
    return rt.node().events.seq


def commands() -> None:
    host = hosting.current()
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "load":
            out = host.run_sync(load(float(args[0]), float(args[1])), timeout=None)
        elif cmd == "fill":
            out = host.run_sync(fill(int(args[0]), float(args[1])), timeout=None)
        elif cmd == "burst":
            out = host.run_sync(burst(int(args[0])), timeout=None)
        elif cmd == "rss":
            out = rss()
        elif cmd == "seq":
            out = host.run_sync(seq())
        else:
            out = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(out), flush=True)


def main() -> None:
    port = int(sys.argv[1])
    threading.Thread(target=commands, daemon=True).start()
    endpoints = build_endpoint_description_strings(host="127.0.0.1", port=port)
    print(json.dumps({"ready": port}), flush=True)
    Server(application=application, endpoints=endpoints, signal_handlers=True).run()


if __name__ == "__main__":
    main()
