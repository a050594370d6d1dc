"""Small display helpers for the dashboard's templates."""

from __future__ import annotations

import json
import time

from django import template

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """``3725`` -> ``1h 2m``; ``42.5`` -> ``42s``."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


@register.filter
def since(started_at: float, now: float | None = None) -> str:
    """Uptime from a start time (wall clock seconds)."""
    return duration((now or time.time()) - started_at)


@register.filter
def clock(at: float) -> str:
    """A wall-clock time of day, ``14:03:07.123`` (UTC)."""
    t = time.gmtime(at)
    return time.strftime("%H:%M:%S", t) + f".{int(at * 1000) % 1000:03d}"


@register.filter
def select_vals(pid_text: str) -> str:
    """The hx-vals that select a process over the websocket."""
    return json.dumps({"action": "select", "pid": pid_text})


@register.filter
def dom_id(pid_text: str) -> str:
    """``<0.42.0>`` -> ``proc-0-42-0``: a stable element id derived from a pid."""
    return "proc-" + pid_text.strip("<>").replace(".", "-")
