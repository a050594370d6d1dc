"""``/metrics`` in Prometheus text format (prometheus_client), read fresh at every scrape.

Figures come from two places: the node (exit and restart counters, its event ``seq``), asked
in one hop, and the feed's mirror on the web loop (processes by kind, registry sizes, the
dashboard's lag, frames sent and held back). Label values are bounded: exit reasons fold
into a fixed set, so a program inventing reasons cannot grow the metric set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from supervision import host as hosting
from supervision import runtime as rt
from supervision.host import NodeDown

REASON_LABELS = ("normal", "shutdown", "killed", "noproc", "crash")


def reason_label(label: str) -> str:
    return label if label in REASON_LABELS else "other"


async def _node_stats() -> dict[str, Any]:
    """Runs on the node: its counters, copied (small dicts)."""
    node = rt.node()
    return {
        "exits": dict(node.exits),
        "restarts": node.restarts,
        "seq": node.events.seq,
        "processes": node.process_count(),
    }


class _Figures:
    """A one-scrape collector over figures gathered beforehand."""

    def __init__(self, up: bool, stats: dict[str, Any] | None, feed: Any) -> None:
        self.up, self.stats, self.feed = up, stats, feed

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("supervision_node_up", "1 while the node answers", value=1 if self.up else 0)
        stats, feed = self.stats, self.feed
        if stats is not None:
            yield GaugeMetricFamily(
                "supervision_node_processes", "Live processes on the node", value=stats["processes"]
            )
            yield CounterMetricFamily(
                "supervision_restarts", "Restarts done by every supervisor", value=stats["restarts"]
            )
            exits = CounterMetricFamily("supervision_exits", "Process exits by reason", labels=["reason"])
            folded: dict[str, int] = {}
            for label, n in stats["exits"].items():
                folded[reason_label(label)] = folded.get(reason_label(label), 0) + n
            for label in (*REASON_LABELS, "other"):
                exits.add_metric([label], folded.get(label, 0))
            yield exits
            yield GaugeMetricFamily("supervision_event_seq", "The node's last event seq", value=stats["seq"])
        if feed is None:
            return
        mirror = feed.mirror
        kinds = GaugeMetricFamily("supervision_processes", "Live processes by kind (dashboard mirror)", labels=["kind"])
        for kind, n in sorted(mirror.kinds.items()):
            kinds.add_metric([kind], n)
        yield kinds
        sizes = GaugeMetricFamily("supervision_registry_entries", "Entries per registry", labels=["registry"])
        for reg in mirror.registries.values():
            sizes.add_metric([reg.label], len(reg.rows))
        yield sizes
        if stats is not None:
            yield GaugeMetricFamily(
                "supervision_event_lag",
                "Events the dashboard mirror is behind the node",
                value=max(0, stats["seq"] - mirror.seq),
            )
        yield GaugeMetricFamily(
            "supervision_feed_pending", "Events queued on the node for the feed", value=feed.pending()
        )
        yield CounterMetricFamily(
            "supervision_feed_overflows", "Times the feed fell too far behind", value=feed.overflows
        )
        yield CounterMetricFamily(
            "supervision_feed_dropped_events", "Events the feed skipped by resyncing", value=feed.dropped_events
        )
        yield CounterMetricFamily("supervision_feed_resyncs", "Snapshots the feed loaded", value=feed.resyncs)
        yield CounterMetricFamily(
            "supervision_ws_frames_sent", "Websocket frames sent to dashboards", value=feed.frames_sent
        )
        yield CounterMetricFamily(
            "supervision_ws_frames_dropped",
            "Frames held back from slow dashboards (coalesced later)",
            value=feed.frames_skipped,
        )
        yield GaugeMetricFamily("supervision_ws_clients", "Connected dashboards", value=feed.clients)


async def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    host = hosting.current()
    up, stats, feed = False, None, None
    if host is not None and host.alive:
        try:
            stats = await host.run(_node_stats(), timeout=2.0)
            up = True
            feed = await host.feed()
        except (NodeDown, TimeoutError):
            pass
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(up, stats, feed))
    return generate_latest(registry), CONTENT_TYPE_LATEST
