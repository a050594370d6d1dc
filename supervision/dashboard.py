"""What one dashboard is looking at (``View``) and the template contexts drawn from a Mirror.

The page (``views.index``) and the websocket (``consumers.DashboardConsumer``) render the same
template partials from the same contexts, so a live update looks exactly like a reload.
A ``View`` is parsed from a query string or a websocket message, and everything in it is
bounded: a browser cannot make the server hold more than a few hundred bytes of view state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import QueryDict

from supervision import runtime as rt
from supervision.greeter import REGISTRY
from supervision.mirror import LogRow, Mirror, Page, TreeNode, reason_text

Q_MAX = 200  # characters of a search
MAX_PAGES_TRACKED = 64  # supervisors whose page a view remembers
EVENT_KINDS = ("started", "exited", "restarted", "registered", "unregistered", "updated", "greeted", "gave_up")
LOG_ROWS = 100  # events a page shows at once
ROOT_GROUP = "-"  # the pager key of "processes without a supervisor"


def page_size() -> int:
    return settings.SUPERVISION_PAGE_SIZE


def _int(value: Any, default: int = 1) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return min(max(n, 1), 10**9)


def _q(value: Any) -> str:
    return str(value or "")[:Q_MAX].strip() if isinstance(value, (str, int, float)) else ""


def _pid(value: Any) -> rt.Pid | None:
    if not isinstance(value, str):
        return None
    try:
        return rt.Pid.parse(value)
    except ValueError:
        return None


@dataclass
class View:
    """One dashboard's searches, pages, log filter and selected process."""

    tree_q: str = ""
    tree_pages: dict[str, int] = field(default_factory=dict)  # supervisor pid text (or "") -> page
    registry: str = REGISTRY  # the registry's display label
    reg_q: str = ""
    reg_page: int = 1
    kinds: tuple[str, ...] = ()  # () means every kind
    pid: rt.Pid | None = None

    @classmethod
    def from_query(cls, q: Any) -> View:
        """From a QueryDict (the page's GET parameters, or the websocket URL's)."""
        view = cls()
        view.tree_q = _q(q.get("tree_q"))
        sup = q.get("sup")
        if isinstance(sup, str) and (sup == ROOT_GROUP or _pid(sup)):
            view.set_tree_page(sup, _int(q.get("page")))
        reg = q.get("registry")
        if isinstance(reg, str) and reg.strip():
            view.registry = reg.strip()[:Q_MAX]
        view.reg_q = _q(q.get("reg_q"))
        view.reg_page = _int(q.get("reg_page"))
        view.kinds = tuple(k for k in EVENT_KINDS if k in set(q.getlist("kind")))
        view.pid = _pid(q.get("pid"))
        return view

    def set_tree_page(self, sup: str, page: int) -> None:
        pages = self.tree_pages
        pages.pop(sup, None)
        if page > 1:
            pages[sup] = page
        while len(pages) > MAX_PAGES_TRACKED:
            pages.pop(next(iter(pages)))

    def update(self, msg: dict[str, Any]) -> set[str]:
        """Apply a websocket message; returns the parts of the page to redraw."""
        action = msg.get("action")
        if action == "tree":
            self.tree_q = _q(msg.get("tree_q"))
            self.tree_pages.clear()
            return {"tree"}
        if action == "tree_page":
            sup = msg.get("sup")
            if isinstance(sup, str) and (sup == ROOT_GROUP or _pid(sup)):
                self.set_tree_page(sup, _int(msg.get("page")))
            return {"tree"}
        if action == "registry":
            reg = msg.get("registry")
            if isinstance(reg, str) and reg.strip():
                self.registry = reg.strip()[:Q_MAX]
            self.reg_q = _q(msg.get("reg_q"))
            self.reg_page = _int(msg.get("reg_page"))
            return {"registry"}
        if action == "events":
            kinds = msg.get("kind") or []
            if isinstance(kinds, str):
                kinds = [kinds]
            wanted = {k for k in kinds if isinstance(k, str)} if isinstance(kinds, list) else set()
            self.kinds = tuple(k for k in EVENT_KINDS if k in wanted)
            return {"log"}
        if action == "select":
            self.pid = _pid(msg.get("pid"))
            return {"panel"}
        return set()

    def query(self, **changes: Any) -> str:
        """This view as a query string (links that work without JavaScript, the socket's URL)."""
        fields: dict[str, Any] = {
            "tree_q": self.tree_q,
            "registry": self.registry if self.registry != REGISTRY else "",
            "reg_q": self.reg_q,
            "reg_page": self.reg_page if self.reg_page > 1 else "",
            "pid": str(self.pid) if self.pid else "",
        }
        fields.update(changes)
        params = QueryDict(mutable=True)
        for key, value in fields.items():
            if value not in ("", None):
                params[key] = str(value)
        params.setlist("kind", list(self.kinds))
        return params.urlencode()


# -- contexts -------------------------------------------------------------------------------


@dataclass
class TreeRow:
    """A tree node ready for the template: its pager's hx-vals and no-JS links precomputed."""

    node: TreeNode
    key: str  # the pager key: the supervisor's pid text, or "" for the root group
    children: list[TreeRow]
    prev_vals: str = ""
    next_vals: str = ""
    prev_href: str = ""
    next_href: str = ""


def tree_context(mirror: Mirror, view: View) -> dict[str, Any]:
    pages: dict[Any, int] = {}
    for key, page in view.tree_pages.items():
        pid = _pid(key)
        pages[pid if pid is not None else None] = page
    nodes = mirror.tree(view.tree_q, pages, page_size())
    now = time.time()
    return {
        "tree": [_tree_row(n, view) for n in nodes],
        "tree_q": view.tree_q,
        "now": now,
        "process_count": mirror.process_count(),
    }


def _tree_row(node: TreeNode, view: View) -> TreeRow:
    key = node.proc.pid_text if node.proc is not None else ROOT_GROUP
    row = TreeRow(node, key, [_tree_row(c, view) for c in node.children])
    page = node.workers
    if page.has_previous:
        row.prev_vals = json.dumps({"action": "tree_page", "sup": key, "page": page.number - 1})
        row.prev_href = "?" + view.query(sup=key, page=page.number - 1)
    if page.has_next:
        row.next_vals = json.dumps({"action": "tree_page", "sup": key, "page": page.number + 1})
        row.next_href = "?" + view.query(sup=key, page=page.number + 1)
    return row


def tree_signature(rows: list[TreeRow]) -> tuple[Any, ...]:
    """What the tree shows, uptimes aside (the browser ticks those): unchanged means no resend."""

    def sig(row: TreeRow) -> tuple[Any, ...]:
        n, p, page = row.node, row.node.proc, row.node.workers
        return (
            p.pid if p else None,
            p.strategy if p else None,
            n.budget_used,
            page.total,
            page.number,
            page.pages,
            page.q,
            tuple((w.pid, w.name, w.restarts, w.last_exit) for w in page.items),
            tuple(sig(c) for c in row.children),
        )

    return tuple(sig(r) for r in rows)


def registry_context(mirror: Mirror, view: View) -> dict[str, Any]:
    name = mirror.find_registry(view.registry)
    page: Page | None = None
    if name is not None:
        page = mirror.registry_page(name, view.reg_q, view.reg_page, page_size())
    ctx: dict[str, Any] = {
        "registry_label": view.registry,
        "registry_known": name is not None,
        "registry_page": page,
        "registries": sorted(r.label for r in mirror.registries.values()),
        "reg_q": view.reg_q,
    }
    if page is not None:
        base = {"action": "registry", "registry": view.registry, "reg_q": view.reg_q}
        if page.has_previous:
            ctx["reg_prev_vals"] = json.dumps({**base, "reg_page": page.number - 1})
            ctx["reg_prev_href"] = "?" + view.query(reg_page=page.number - 1)
        if page.has_next:
            ctx["reg_next_vals"] = json.dumps({**base, "reg_page": page.number + 1})
            ctx["reg_next_href"] = "?" + view.query(reg_page=page.number + 1)
    return ctx


def log_context(rows: list[LogRow]) -> dict[str, Any]:
    return {"events": rows}


def events_for(mirror: Mirror, view: View, after: int = 0) -> list[LogRow]:
    return mirror.events(view.kinds, after=after, limit=LOG_ROWS)


def panel_context(info: rt.ProcessInfo | None, view: View, mirror: Mirror) -> dict[str, Any]:
    proc = mirror.procs.get(info.pid) if info is not None else None
    return {
        "selected": view.pid,
        "info": info,
        "info_name": proc.name if proc else "",
        "info_uptime": (time.time() - info.started_at) if info is not None else None,
        "now": time.time(),
    }


def panel_signature(view: View, info: rt.ProcessInfo | None) -> tuple[Any, ...]:
    """What the process panel shows, uptime aside."""
    if info is None:
        return (view.pid, None)
    return (view.pid, info.links, info.monitors, info.mailbox_len, info.restarts, info.status, info.trap_exit,
            reason_text(info.last_exit) if info.last_exit is not None else None, info.state)  # fmt: skip


def status_context(mirror: Mirror, feed: Any) -> dict[str, Any]:
    return {"node_name": feed.host.name, "seq": mirror.seq, "process_count": mirror.process_count()}


def select_vals(pid_text: str) -> str:
    return json.dumps({"action": "select", "pid": pid_text})
