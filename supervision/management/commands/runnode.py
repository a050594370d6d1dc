"""``manage.py runnode``: run a node and its application tree without the web server."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from supervision import host as hosting
from supervision import runtime as rt
from supervision.mirror import Mirror


class Command(BaseCommand):
    help = (
        "Run a supervision node (the SUPERVISION_CHILDREN tree) in the foreground until SIGTERM or "
        "Ctrl-C, then stop the tree in order. With --events, print every event as it happens."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="the node's name (default: SUPERVISION_NODE_NAME)")
        parser.add_argument("--events", action="store_true", help="print the event stream")

    def handle(self, *args, name=None, events=False, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        host = hosting.from_settings(**({"name": name} if name else {})).start()
        sub = host.run_sync(_subscribe()) if events else None
        self.stdout.write(f"node {host.name!r} is up; root supervisor {host.root}. Stop with Ctrl-C or SIGTERM.")
        printer = Mirror()
        while not stop.is_set():
            if sub is None:
                stop.wait()
                break
            try:
                self._print(printer, host.run_sync(sub.next_batch(1000), timeout=0.5))
            except TimeoutError:
                continue
        self.stdout.write("stopping the tree in order...")
        host.stop()
        if sub is not None:  # the node's thread is gone: what it left in the queue is ours to read
            self._print(printer, list(iter(sub.get_nowait, None)))
        self.stdout.write(self.style.SUCCESS(f"node {host.name!r} stopped"))

    def _print(self, printer: Mirror, batch: list) -> None:
        for ev in batch:
            if isinstance(ev, rt.Overflow):
                self.stdout.write(f"... {ev.dropped} events not shown (the printer fell behind)")
                continue
            row = printer.describe(ev)
            self.stdout.write(f"{row.seq:>8} {row.kind:<12} {row.pid:<12} {row.summary}")


async def _subscribe() -> rt.Subscription:
    return rt.node().events.subscribe(maxsize=100_000)
