"""Dashboard benchmarks (issue 3): a real browser against daphne serving the real application.

    python bench/dashboard_bench.py                 # every figure
    python bench/dashboard_bench.py --only latency  # latency | scale | stalled
    python bench/dashboard_bench.py --n 20000       # a smaller "100,000 live greeters"

1. latency: 1,000 greets/s for 10 s; for every event row the browser inserts into the log, the
   delay from the event (its server timestamp) to the DOM change (a MutationObserver's clock;
   same machine, same clock), p50/p95; and the frames/s the socket delivered.
2. scale: N live greeters (they greet once an hour, so the node idles): the time to the first
   full page (GET / and the socket's first frame), to a tree search result and to a registry
   search result, each from the browser's point of view.
3. stalled: the server's resident memory while a 100,000-event burst runs, once with no client
   (the baseline) and once with a websocket client that never reads and never acknowledges.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The benchmark server (bench/_dashboard_server.py) in a subprocess with its own database."""

    def __init__(self, db: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SQLITE_PATH": db,
            "DJANGO_DEBUG": "0",
            "SUPERVISION_LOG_LEVEL": "WARNING",
            "SUPERVISION_MAX_GREETERS": "10000000",
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_dashboard_server.py"), str(self.port)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        json.loads(self.proc.stdout.readline())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()

    def command(self, line: str) -> Any:
        with self.lock:
            self.proc.stdin.write(line + "\n")
            return json.loads(self.proc.stdout.readline())

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def prepare_db() -> str:
    db = os.path.join(tempfile.mkdtemp(prefix="supervision-bench-"), "bench.sqlite3")
    env = {**os.environ, "DJANGO_SQLITE_PATH": db}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    code = f"from django.contrib.auth.models import User; User.objects.create_user('bench', password={PASSWORD!r}, is_staff=True)"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return db


def log_in(page: Any, url: str) -> float:
    """Log in; returns seconds from requesting the page to the socket's first frame."""
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    t = time.perf_counter()
    page.click("button[type=submit]")
    page.wait_for_selector("#node-status[data-live]", timeout=60_000)
    return time.perf_counter() - t


OBSERVER = """() => {
  window.__lat = []; window.__frames = 0;
  document.addEventListener('htmx:wsAfterMessage', () => { window.__frames += 1; });
  new MutationObserver((muts) => {
    const now = Date.now();
    for (const m of muts) for (const n of m.addedNodes)
      if (n.nodeType === 1 && n.dataset && n.dataset.at) window.__lat.push(now - parseFloat(n.dataset.at) * 1000);
  }).observe(document.getElementById('event-log'), {childList: true});
}"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_latency(browser: Any, db: str, rate: int, seconds: int) -> None:
    server = Server(db)
    try:
        page = browser.new_page()
        log_in(page, server.url)
        page.evaluate(OBSERVER)
        t = time.perf_counter()
        out = server.command(f"load {rate} {seconds}")
        elapsed = time.perf_counter() - t
        page.wait_for_timeout(500)
        lat = page.evaluate("window.__lat")
        frames = page.evaluate("window.__frames")
        print(
            f"\n== event to browser at {rate:,} greets/s for {seconds} s ({out['spawned']:,} greeters, 5 events each)"
        )
        print(f"   rows observed : {len(lat):,} (the log shows the newest rows of each frame)")
        print(
            f"   delay         : p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, max {max(lat):.0f} ms  (goal: p95 < 250 ms)"
        )
        print(f"   frames        : {frames / elapsed:.1f} frames/s  (goal: at most ~10/s)")
        page.close()
    finally:
        server.stop()


def bench_scale(browser: Any, db: str, n: int) -> None:
    server = Server(db)
    try:
        out = server.command(f"fill {n} 3600")
        print(
            f"\n== {n:,} live greeters (spawned in {out['seconds']:.1f} s; server RSS {server.rss() / 2**20:.0f} MiB)"
        )
        context = browser.new_context()
        page = context.new_page()
        log_in(page, server.url)  # the first feed start loads the snapshot
        page.close()
        firsts, gets, loads, tree, reg = [], [], [], [], []
        for i in range(3):
            t = time.perf_counter()
            assert context.request.get(f"{server.url}/").ok
            gets.append(time.perf_counter() - t)
            page = context.new_page()
            t = time.perf_counter()
            page.goto(f"{server.url}/", wait_until="domcontentloaded")
            loads.append(time.perf_counter() - t)
            page.wait_for_selector("#node-status[data-live]")
            firsts.append(time.perf_counter() - t)
            key = f"idle-{n // 2 + i}"
            page.fill("#tree-search input[name=tree_q]", f"greeter_for_{key}")
            t = time.perf_counter()
            page.press("#tree-search input[name=tree_q]", "Enter")
            page.wait_for_function(
                "(k) => { const r = document.querySelectorAll('#tree tr.worker'); return r.length === 1 && r[0].dataset.name === k; }",
                arg=f"greeter_for_{key}",
            )
            tree.append(time.perf_counter() - t)
            page.fill("#registry-search input[name=reg_q]", f"greeter_for_{key}")
            t = time.perf_counter()
            page.press("#registry-search input[name=reg_q]", "Enter")
            page.wait_for_function("() => document.querySelector('#registry .total')?.textContent === '1'")
            reg.append(time.perf_counter() - t)
            page.close()

        def show(label: str, xs: list[float]) -> None:
            print(
                f"   {label:<28}: {min(xs) * 1000:,.0f} / {statistics.median(xs) * 1000:,.0f} / {max(xs) * 1000:,.0f} ms (min/median/max; goal < 1,000 ms)"
            )

        show("GET / (the server's answer)", gets)
        show("page loaded (DOMContentLoaded)", loads)
        show("page live (first full frame)", firsts)
        show("tree search result", tree)
        show("registry search result", reg)
    finally:
        server.stop()


def bench_stalled(db: str, events: int, bursts: int = 3) -> None:
    """RSS across repeated bursts: with one healthy dashboard, then with a stalled one added."""
    import asyncio

    import websockets

    greeters = events // 5

    def run_burst(server: Server) -> tuple[int, int, int, float]:
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(server.rss())
                time.sleep(0.05)

        before = server.rss()
        th = threading.Thread(target=sample)
        th.start()
        result = server.command(f"burst {greeters}")
        time.sleep(1.0)  # let the feed and the frames catch up
        done.set()
        th.join()
        return before, max(samples), server.rss(), result["seconds"]

    async def healthy(url: str, port: int, stop: asyncio.Event) -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/dashboard/", additional_headers={"Cookie": login_cookie(url), "Origin": url}
        ) as ws:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                await ws.send('{"ack": 1}')

    async def scenario(server: Server) -> None:
        stop = asyncio.Event()
        reader = asyncio.ensure_future(healthy(server.url, server.port, stop))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.command, "burst 2000")  # warm-up: first allocations, caches
        print(f"\n== server memory during {bursts} bursts of {greeters * 5:,} events each")

        def show(label: str, runs: list[tuple[int, int, int, float]]) -> None:
            for i, (before, peak, after, secs) in enumerate(runs, 1):
                print(
                    f"   {label} burst {i}: RSS {before / 2**20:.0f} -> peak {peak / 2**20:.0f} -> {after / 2**20:.0f} MiB ({secs:.1f} s)"
                )

        show("one healthy dashboard       ", [await asyncio.to_thread(run_burst, server) for _ in range(bursts)])
        stalled = await websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/dashboard/",
            additional_headers={"Cookie": login_cookie(server.url), "Origin": server.url},
            max_queue=1,
        )  # it never reads and never acknowledges: its TCP buffers fill, then the server holds back
        try:
            show("+ one stalled (never reads) ", [await asyncio.to_thread(run_burst, server) for _ in range(bursts)])
        finally:
            stalled.transport.abort()
            stop.set()
            await reader
        print("   (goal: flat and bounded: the stalled client's bursts look like the healthy ones)")

    server = Server(db)
    try:
        asyncio.run(scenario(server))
    finally:
        server.stop()


def login_cookie(url: str) -> str:
    """A session cookie for the bench user, by logging in with plain HTTP."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{url}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
    opener.open(
        urllib.request.Request(f"{url}/accounts/login/", data=data, headers={"Referer": f"{url}/accounts/login/"})
    )
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="latency,scale,stalled")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=100_000)
    a = ap.parse_args()
    want = set(a.only.split(","))
    print(f"supervision dashboard benchmarks, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
    db = prepare_db()
    if want & {"latency", "scale"}:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            if "latency" in want:
                bench_latency(browser, db, a.rate, a.seconds)
            if "scale" in want:
                bench_scale(browser, db, a.n)
            browser.close()
    if "stalled" in want:
        bench_stalled(db, a.events)


if __name__ == "__main__":
    main()
