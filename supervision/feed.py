"""The dashboard feed: keeps a Mirror of the host's node current and tells dashboards so.

It runs on the web server's loop. It subscribes to the node's event stream and takes a
snapshot in one step on the node's loop (so nothing falls between them), then pulls batches
of events, applies them to the mirror and, at most every ``frame_interval`` seconds, sends one
``dashboard.changed`` message to the process's dashboard group on the channel layer. Each
websocket consumer then renders what changed for its own view. An ``Overflow`` (the feed fell
``queue_size`` events behind) or a gap in ``seq`` makes it resync from a fresh snapshot.

Memory is bounded on both sides: the node keeps at most ``queue_size`` events for the feed,
and the mirror holds the live state plus a fixed-length event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from supervision import runtime as rt
from supervision.host import NodeDown
from supervision.mirror import Mirror

if TYPE_CHECKING:
    from supervision.host import Host

log = logging.getLogger("supervision.feed")

HEARTBEAT = 1.0  # seconds between "still here" ticks (uptimes and budgets age on the page)


class Feed:
    """One node's event stream, mirrored for the dashboards of this web process."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.mirror = Mirror(log_size=host.log_size)
        self.group = f"supervision.dashboard.{os.getpid()}.{id(self):x}"
        self.interval = host.frame_interval
        self.queue_size = host.feed_queue
        self.layer = get_channel_layer()
        self._sub: rt.Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        # for /metrics
        self.overflows = 0
        self.dropped_events = 0
        self.resyncs = 0
        self.frames_sent = 0
        self.frames_skipped = 0
        self.clients = 0
        self.last_notify = 0.0

    def __repr__(self) -> str:
        return f"<Feed of {self.host.name!r} seq={self.mirror.seq} running={self.running}>"

    @property
    def running(self) -> bool:
        return not self._stopped and bool(self._tasks) and not self._tasks[0].done()

    async def start(self) -> None:
        """Load the first snapshot, then keep the mirror current in the background."""
        await self._resync()
        self._tasks = [
            self.loop.create_task(self._pump(), name="supervision-feed"),
            self.loop.create_task(self._heartbeat(), name="supervision-feed-heartbeat"),
        ]

    async def stop(self) -> None:
        self._stopped = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._close_subscription()

    def abandon(self) -> None:
        """Forget a feed whose loop is gone: free its subscription on the node."""
        self._stopped = True
        self._close_subscription()

    def _close_subscription(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None and self.host.alive:
            with contextlib.suppress(RuntimeError):
                self.host.thread.loop.call_soon_threadsafe(sub.close)  # type: ignore[union-attr]

    # -- keeping the mirror current -----------------------------------------------------------

    async def _resync(self) -> None:
        """Subscribe anew and rebuild the mirror from a snapshot taken in the same step.

        The new mirror is built beside the old one, yielding to the loop every few thousand
        rows (100,000 processes take a second or so), then swapped in whole.
        """
        self._close_subscription()
        sub, snap = await self.host.run(_subscribe_and_snapshot(self.queue_size), timeout=60)
        self._sub = sub
        fresh = Mirror(log_size=self.host.log_size)
        for _ in fresh.loading(snap, previous=self.mirror if self.resyncs else None):
            await asyncio.sleep(0)
        self.mirror = fresh
        await self._refresh_details([p.pid for p in snap.processes if p.type == "supervisor"])
        self.resyncs += 1

    async def _pump(self) -> None:
        try:
            while True:
                sub = self._sub
                assert sub is not None
                # everything pending: the node never holds more than queue_size for us
                batch = await self.host.run(sub.next_batch(self.queue_size + 1), timeout=None)
                if not batch:
                    log.info("the node's event stream ended")
                    break
                if await self._apply(batch):
                    await self._resync()
                await self._notify()
                await asyncio.sleep(self.interval)  # coalesce: at most one frame per interval
        except asyncio.CancelledError:
            raise
        except NodeDown:
            log.info("the node stopped; the dashboard feed ends")
        except Exception:
            log.exception("the dashboard feed failed; dashboards reconnect to a new one")
        await self._end()

    async def _end(self) -> None:
        """The feed is over: free the node's subscription and make every dashboard reconnect."""
        self._stopped = True
        self._close_subscription()
        for t in self._tasks[1:]:
            t.cancel()
        with contextlib.suppress(Exception):
            await self.layer.group_send(self.group, {"type": "dashboard.closed"})

    async def _apply(self, batch: list[Any]) -> bool:
        """Apply a batch; True when the mirror must resync (an overflow, a gap, a bad event)."""
        mirror = self.mirror
        refresh: set[rt.Pid] = set()
        for item in batch:
            if type(item) is rt.Overflow:
                self.overflows += 1
                self.dropped_events += item.dropped
                log.warning("dashboard feed fell %d events behind; resyncing", item.dropped)
                return True
            if item.seq != mirror.seq + 1:
                log.warning("event gap: %d then %d; resyncing", mirror.seq, item.seq)
                return True
            try:
                mirror.apply(item)
            except Exception:  # an event the mirror cannot read: start again from the truth
                log.exception("could not apply event %r; resyncing", item[:3])
                return True
            kind = item.kind
            if (kind == "started" and item.data.get("type") == "supervisor") or kind in ("restarted", "gave_up"):
                refresh.add(item.pid)
        if refresh:
            await self._refresh_details(list(refresh))
        return False

    async def _refresh_details(self, pids: list[rt.Pid]) -> None:
        """Fetch supervisors' strategy and restart budget (not carried by events) from the node."""
        if not pids:
            return
        try:
            found = await self.host.run(_details(pids))
        except TimeoutError:  # a saturated node: the budgets catch up with the next refresh
            log.warning("no supervisor details from the node within the timeout")
            return
        now = time.time()
        for pid, details in found:
            self.mirror.set_details(pid, details, now)

    # -- telling dashboards -------------------------------------------------------------------

    async def _notify(self, heartbeat: bool = False) -> None:
        self.last_notify = time.monotonic()
        await self.layer.group_send(
            self.group, {"type": "dashboard.changed", "seq": self.mirror.seq, "heartbeat": heartbeat}
        )

    async def _heartbeat(self) -> None:
        """A tick when nothing else happened for a while (frames stay at most one per interval)."""
        while True:
            await asyncio.sleep(HEARTBEAT - (time.monotonic() - self.last_notify))
            if time.monotonic() - self.last_notify >= HEARTBEAT - 0.01:
                await self._notify(heartbeat=True)

    # -- what /metrics reports ----------------------------------------------------------------

    def pending(self) -> int:
        """Events waiting on the node for this feed (read without a hop: a length is atomic)."""
        sub = self._sub
        return sub.pending() if sub is not None else 0


async def _subscribe_and_snapshot(maxsize: int) -> tuple[rt.Subscription, rt.Snapshot]:
    node = rt.node()
    sub = node.events.subscribe(maxsize=maxsize)
    return sub, node.snapshot()


async def _details(pids: list[rt.Pid]) -> list[tuple[rt.Pid, dict[str, Any] | None]]:
    node = rt.node()
    out = []
    for pid in pids:
        info = node.process_info(pid)
        if info is not None:
            out.append((pid, info.details))
    return out
