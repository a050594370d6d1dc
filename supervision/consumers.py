"""The dashboard's websocket: a full frame on connect, then what changed, at most ~10 a second.

Each consumer holds one ``View`` (its searches, pages, log filter and selected process) and
what it last sent. A feed tick (``dashboard.changed``) or a view change from the browser asks
for a frame; frames go out at most once per ``SUPERVISION_FRAME_INTERVAL``, however many
asks arrive, and each renders only the parts that changed, as htmx out-of-band fragments with
an id and an explicit ``hx-swap-oob``. Frames are renders of the mirror's current state (the
log sends the rows not sent yet), so a frame that is held back loses nothing: the next one
carries it.

A browser sends little: acks, clicks and searches. A socket that sends more than
``RATE`` messages a second on average (bursts of ``BURST``), or one message over
``MAX_MESSAGE`` bytes, is closed (4008 / 4009), so a flood costs the server a bounded amount
of work and memory; a user holds at most ``SUPERVISION_WS_PER_USER`` sockets at once, and a
socket whose session has ended (a log-out, a password change) is closed (4012) within
``AUTH_RECHECK`` seconds, or before it answers the browser's next request; the page then
reconnects if its browser is still logged in, and says "logged out" otherwise.

A browser acknowledges each frame (``{"ack": 1}``, sent by ``static/dashboard.js``). At most
``SUPERVISION_WS_WINDOW`` frames may be unacknowledged; beyond that the consumer holds back and
sends one fresh frame when the browser catches up. A stalled browser therefore costs the
server a few frames of buffer, however many events or messages arrive meanwhile.

When the feed ends (the node stopped, or the feed failed) every socket is closed with 4011, so
the page reconnects and resyncs from whatever runs now.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import QueryDict
from django.template.loader import render_to_string

from supervision import dashboard
from supervision import host as hosting
from supervision.feed import Feed
from supervision.host import NodeDown
from supervision.mirror import reason_text

log = logging.getLogger("supervision.consumers")

MAX_MESSAGE = 8_192  # bytes of one message from a browser; a longer one closes the socket
RATE = 30.0  # messages a second a browser may send on average (it acks at most ~10 frames a second)
BURST = 90.0  # messages it may send at once
AUTH_RECHECK = 5.0  # seconds between checks that the socket's session is still logged in
TEMPLATE = "supervision/dashboard.html"
ALL_PARTS = frozenset({"tree", "registry", "log", "panel", "status"})
TREE_REFRESH = 1.0  # seconds after which the tree is looked at again without changes (budgets decay)
PANEL_REFRESH = 1.0  # seconds between fetches of the selected process's details from the node
REJOIN = 3600.0  # seconds between group re-joins (channel layers expire group members after a day)
# Close codes. daphne lets an application send only 1000 or 3000-4999, so ours mirror the
# standard ones in the 4000s; static/dashboard.js reconnects (with backoff) after the first two.
TRY_AGAIN = 4013  # the node is down: try again later
FEED_ENDED = 4011  # the node stopped or the feed failed: reconnect and resync
POLICY_VIOLATION = 4008  # a flood: not reconnected
TOO_BIG = 4009  # a message longer than any browser sends: not reconnected
REFUSED = 4401  # refused at the handshake (the browser sees HTTP 403)
SESSION_CHANGED = 4012  # the socket's session is gone: a log-out, or a new key (password change, new log-in);
# the page's script asks the server which, and reconnects (with its current cookie) or says "logged out"

_sockets_by_user: dict[Any, int] = {}  # open dashboard sockets per user id, in this process


class DashboardConsumer(AsyncWebsocketConsumer):
    """One browser tab's live dashboard."""

    feed: Feed | None = None
    user_id: Any = None  # set while this socket counts against its user's limit
    counted = False  # in feed.clients (the connected-dashboards gauge)
    closing = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when the server gives up on a consumer and cancels it: no gauge leaks
            await self._leave()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=REFUSED)  # refused before the handshake completes: HTTP 403
            return
        if _sockets_by_user.get(user.pk, 0) >= settings.SUPERVISION_WS_PER_USER:
            log.warning("refused a dashboard socket: %s already has %d open", user, _sockets_by_user[user.pk])
            await self.close(code=REFUSED)
            return
        self.user_id = user.pk
        _sockets_by_user[user.pk] = _sockets_by_user.get(user.pk, 0) + 1
        self.tokens = BURST
        self.tokens_at = self.auth_checked_at = time.monotonic()
        try:
            self.feed = await hosting.feed()
        except NodeDown:
            self.closing = True  # what the browser sends meanwhile (its ack) goes unread
            await self.accept()  # say so on the page, then let htmx try again later
            await self.send(text_data=render_to_string(f"{TEMPLATE}#status", {"node_down": True, "oob": True}))
            await self.close(code=TRY_AGAIN)
            return
        self.view = dashboard.View.from_query(_query(self.scope))
        self.dirty: set[str] = set(ALL_PARTS)  # parts the next frame must draw whatever changed
        self.unacked = 0
        self.held_back = False
        self.last_frame_at = 0.0
        self.frame_lock = asyncio.Lock()
        self.pending_frame: asyncio.Task[None] | None = None
        self.sent_generation = -1
        self.sent_tree = -1
        self.sent_tree_at = 0.0
        self.sent_tree_sig: tuple[Any, ...] | None = None
        self.sent_registry: tuple[str, int] = ("", -1)
        self.sent_log_seq = 0
        self.sent_panel_at = 0.0
        self.sent_panel_sig: tuple[Any, ...] | None = None
        await self.channel_layer.group_add(self.feed.group, self.channel_name)
        self.joined_at = time.monotonic()
        self.feed.clients += 1
        self.counted = True
        await self.accept()
        await self.send_frame()

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        """Give back what this socket held; runs once, however the socket ends."""
        self.closing = True
        if self.user_id is not None:
            left = _sockets_by_user.get(self.user_id, 1) - 1
            if left > 0:
                _sockets_by_user[self.user_id] = left
            else:
                _sockets_by_user.pop(self.user_id, None)
            self.user_id = None
        if self.counted:
            self.counted = False
            self.feed.clients -= 1  # type: ignore[union-attr]
            if self.pending_frame is not None:
                self.pending_frame.cancel()
            await self.channel_layer.group_discard(self.feed.group, self.channel_name)  # type: ignore[union-attr]

    async def _refuse(self, code: int, why: str) -> None:
        """Close the socket and end this consumer: what the browser sent meanwhile goes unread."""
        log.warning("closing a dashboard socket of user %s: %s", self.scope["user"], why)
        self.closing = True
        if code != SESSION_CHANGED:  # (for that one the page's script finds out what to say)
            told = {"closed_why": "disconnected: reload the page", "oob": True}
            try:
                await self.send(text_data=render_to_string(f"{TEMPLATE}#status", told))
            except Exception:  # the browser has gone already
                pass
        await self.close(code=code)
        raise StopConsumer

    # -- from the browser ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return  # what was queued before the close: dropped unread
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.tokens_at) * RATE) - 1
        self.tokens_at = now
        if self.tokens < 0:
            await self._refuse(POLICY_VIOLATION, f"more than {RATE:g} messages a second")
            return
        if text_data is None:
            return
        if len(text_data) > MAX_MESSAGE:
            await self._refuse(TOO_BIG, f"a message of {len(text_data)} characters")
            return
        try:
            msg = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        if not isinstance(msg, dict):
            return
        if "ack" in msg:
            self.unacked = max(0, self.unacked - 1)
            if self.held_back:
                await self.request_frame()
            return
        await self._check_session()  # before it is shown anything new (acks are not asked for anything)
        parts = self.view.update(msg)
        if parts:
            self.dirty |= parts
            await self.request_frame()

    # -- from the feed --------------------------------------------------------------------------

    async def dashboard_changed(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        now = time.monotonic()
        if now - self.auth_checked_at >= AUTH_RECHECK:
            await self._check_session()
        if message.get("heartbeat") and now - self.joined_at > REJOIN:
            await self.channel_layer.group_add(self.feed.group, self.channel_name)  # type: ignore[union-attr]
            self.joined_at = now
        await self.request_frame()

    async def _check_session(self) -> None:
        """Close the socket (and end this consumer) if its session is no longer logged in."""
        self.auth_checked_at = time.monotonic()
        if not await self._still_logged_in():
            await self._refuse(SESSION_CHANGED, "its session has ended or changed")

    async def _still_logged_in(self) -> bool:
        """Is the session this socket opened with still logged in as the same user?

        The scope's user was read once, at the handshake; reading the session afresh from its
        store sees a log-out (the session is flushed) or a password change (its hash differs).
        """
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        if key is None:
            return False
        fresh = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        user = await get_user({"session": fresh})
        return user.is_authenticated and user.pk == self.scope["user"].pk

    async def dashboard_closed(self, message: dict[str, Any]) -> None:
        self.closing = True
        await self.send(text_data=render_to_string(f"{TEMPLATE}#status", {"node_down": True, "oob": True}))
        await self.close(code=FEED_ENDED)

    # -- frames ---------------------------------------------------------------------------------

    async def request_frame(self) -> None:
        """Send a frame now, or once the interval since the last one has passed, or on an ack."""
        feed = self.feed
        assert feed is not None
        if self.unacked >= settings.SUPERVISION_WS_WINDOW:
            if not self.held_back:
                feed.frames_skipped += 1
            self.held_back = True
            return
        wait = feed.interval - (time.monotonic() - self.last_frame_at)
        if wait > 0:
            if self.pending_frame is None:
                self.pending_frame = asyncio.ensure_future(self._frame_later(wait))
            return
        await self.send_frame()

    async def _frame_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.pending_frame = None
        await self.request_frame()

    async def send_frame(self) -> None:
        """Render and send what changed since the last frame (and every dirty part)."""
        async with self.frame_lock:
            self.held_back = False
            self.last_frame_at = time.monotonic()
            if self.closing:
                return
            parts = await self._render()
            self.unacked += 1
            self.feed.frames_sent += 1  # type: ignore[union-attr]
            try:
                await self.send(text_data="".join(parts))
            except Exception as e:  # the browser went away before the server heard: stop sending
                log.debug("a dashboard socket closed under a frame: %r", e)
                self.closing = True

    async def _render(self) -> list[str]:
        feed = self.feed
        assert feed is not None
        mirror, view = feed.mirror, self.view
        force, self.dirty = self.dirty, set()
        if mirror.generation != self.sent_generation:  # a resync: redraw everything
            force |= ALL_PARTS
            self.sent_generation = mirror.generation
        now = time.monotonic()
        parts: list[str] = []
        if "tree" in force or mirror.tree_version != self.sent_tree or now - self.sent_tree_at >= TREE_REFRESH:
            # Resend only when what it shows changed: a row replaced under a pointer loses its click.
            ctx = dashboard.tree_context(mirror, view)
            sig = dashboard.tree_signature(ctx["tree"])
            if "tree" in force or sig != self.sent_tree_sig:
                parts.append(render_to_string(f"{TEMPLATE}#tree", {**ctx, "oob": True}))
                self.sent_tree_sig = sig
            self.sent_tree, self.sent_tree_at = mirror.tree_version, now
        reg_name = mirror.find_registry(view.registry)
        reg_state = (view.registry, mirror.registry_versions.get(reg_name, -1) if reg_name is not None else -2)
        if "registry" in force or reg_state != self.sent_registry:
            ctx = dashboard.registry_context(mirror, view)
            parts.append(render_to_string(f"{TEMPLATE}#registry", {**ctx, "oob": True}))
            self.sent_registry = reg_state
        if "log" in force or mirror.seq > self.sent_log_seq:
            parts.append(self._log_fragment(full="log" in force))
        if "panel" in force or (view.pid is not None and now - self.sent_panel_at >= PANEL_REFRESH):
            self.sent_panel_at = now
            panel = await self._panel_fragment(force="panel" in force)
            if panel:
                parts.append(panel)
        parts.append(render_to_string(f"{TEMPLATE}#status", {**dashboard.status_context(mirror, feed), "oob": True}))
        return parts

    def _log_fragment(self, full: bool) -> str:
        """New rows go on top (the page's script trims the bottom); a new filter redraws the rows.

        Either way the ``<ol>`` itself stays, so whatever watches it keeps watching. When more
        events happened than a frame shows, the newest ``LOG_ROWS`` are sent: a log is a view.
        """
        mirror, view = self.feed.mirror, self.view  # type: ignore[union-attr]
        after = 0 if full else self.sent_log_seq
        rows = dashboard.events_for(mirror, view, after=after)
        self.sent_log_seq = mirror.seq
        body = render_to_string(f"{TEMPLATE}#log_rows", dashboard.log_context(rows))
        return f'<ol id="event-log" class="log" hx-swap-oob="{"innerHTML" if full else "afterbegin"}">{body}</ol>'

    async def _panel_fragment(self, force: bool) -> str:
        """The process panel, or "" when what it shows has not changed."""
        feed, view = self.feed, self.view
        assert feed is not None
        info = None
        if view.pid is not None:
            try:
                info = await feed.host.run(hosting.process_info(view.pid), timeout=2.0)
            except (NodeDown, TimeoutError):
                info = None
        sig = dashboard.panel_signature(view, info)
        if not force and sig == self.sent_panel_sig:
            return ""
        self.sent_panel_sig = sig
        ctx = dashboard.panel_context(info, view, feed.mirror)
        ctx["info_last_exit"] = reason_text(info.last_exit) if info is not None and info.last_exit is not None else ""
        return render_to_string(f"{TEMPLATE}#panel", {**ctx, "oob": True})


def _query(scope: dict[str, Any]) -> QueryDict:
    """The socket URL's query string: the view the page was showing when it connected."""
    raw = scope.get("query_string", b"")
    if not isinstance(raw, bytes) or len(raw) > MAX_MESSAGE:
        return QueryDict()
    return QueryDict(raw.decode("utf-8", errors="replace"))
