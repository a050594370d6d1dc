"""The dashboard websocket, driven by channels' WebsocketCommunicator against a real node."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from supervision import greeter
from supervision import runtime as rt
from supervision.routing import websocket_application
from tests.host.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


async def session_cookie(user) -> bytes:
    c = AsyncClient()
    await c.aforce_login(user)
    return f"sessionid={c.cookies['sessionid'].value}".encode()


async def connect(user, query: str = "", origin=ORIGIN) -> tuple[WebsocketCommunicator, str]:
    headers = [(b"host", b"127.0.0.1")]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    if origin is not None:
        headers.append(origin)
    comm = WebsocketCommunicator(websocket_application(), f"/ws/dashboard/?{query}", headers=headers)
    connected, _ = await comm.connect()
    if not connected:
        return comm, ""
    first = await comm.receive_from(timeout=5)
    return comm, first


async def frames_until(comm: WebsocketCommunicator, pred, timeout: float = 5.0, ack: bool = True) -> str:
    """Receive frames (acknowledging each, as the page's script does) until one satisfies pred."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await comm.receive_from(timeout=max(0.01, deadline - loop.time()))
        if ack:
            await comm.send_to(text_data='{"ack": 1}')
        if pred(frame):
            return frame
        if loop.time() > deadline:
            raise AssertionError("no such frame")


async def spawn(host, name: str, lifetime: float = 60) -> rt.Pid:
    return await host.run(greeter.spawn_greeter(name, lifetime))


def oob_ids(frame: str) -> list[str]:
    return re.findall(r'<(?:div|span|ol) id="([\w-]+)"[^>]*hx-swap-oob=', frame)


PARTS = (
    '<span id="node-status"',
    '<div id="tree"',
    '<div id="registry"',
    '<ol id="event-log"',
    '<div id="process-panel"',
)


def split(frame: str) -> dict[str, str]:
    """A frame is our fragments one after another: cut it at each fragment's opening tag."""
    starts = sorted((frame.index(p), p.split('"')[1]) for p in PARTS if p in frame)
    ends = [i for i, _ in starts[1:]] + [len(frame)]
    return {name: frame[i:end] for (i, name), end in zip(starts, ends, strict=True)}


class Screen:
    """What the browser shows: the latest version of each fragment (the log accumulates)."""

    def __init__(self, comm: WebsocketCommunicator) -> None:
        self.comm = comm
        self.parts: dict[str, str] = {}

    def apply(self, frame: str) -> None:
        for name, html in split(frame).items():
            if name == "event-log" and 'hx-swap-oob="afterbegin"' in html:
                self.parts[name] = html + self.parts.get(name, "")
            else:
                self.parts[name] = html

    async def until(self, pred, timeout: float = 5.0) -> None:
        """Apply frames (acknowledging each, as the page's script does) until pred(screen) holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not pred(self):
            try:
                frame = await self.comm.receive_from(timeout=max(0.01, deadline - loop.time()))
            except TimeoutError:
                raise AssertionError(f"the screen never got there: {self.parts}") from None
            await self.comm.send_to(text_data='{"ack": 1}')
            self.apply(frame)

    def __getitem__(self, name: str) -> str:
        return self.parts.get(name, "")


async def test_anonymous_and_foreign_origin_sockets_are_refused(host, staff):
    comm, first = await connect(None)
    assert first == ""
    for origin in (b"http://evil.example", b"http://127.0.0.1:9999", b"https://127.0.0.1", b"null"):
        comm, first = await connect(staff, origin=(b"origin", origin))  # another site, port or scheme
        assert first == "", origin
    comm, first = await connect(staff, origin=None)  # no Origin header at all: refused as well
    assert first == ""
    comm, first = await connect(staff)  # this very server
    assert first


async def test_a_trusted_origin_may_connect(host, staff, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://dash.example.com"]
    comm, first = await connect(staff, origin=(b"origin", b"https://dash.example.com"))
    assert first
    await comm.disconnect()


async def test_connect_sends_a_full_frame_of_oob_fragments(host, staff):
    comm, first = await connect(staff)
    assert set(oob_ids(first)) >= {"tree", "registry", "event-log", "process-panel", "node-status"}
    assert 'hx-swap-oob="true"' in first and "GreeterSupervisor" in first
    await comm.disconnect()


async def test_a_spawned_greeter_appears_live_and_its_restart_and_stop_show(host, staff):
    comm, first = await connect(staff)
    screen = Screen(comm)
    screen.apply(first)
    pid = await spawn(host, "Ann")
    escaped = str(pid).replace("<", "&lt;").replace(">", "&gt;")
    await screen.until(lambda s: "greeter_for_Ann" in s["tree"] and "greeter_for_Ann" in s["registry"])
    assert escaped in s_tree(screen)
    await host.run(_exit(pid, RuntimeError("boom")))
    await screen.until(lambda s: "restarted child" in s["event-log"] and 'class="restarts">1<' in s["tree"])
    assert escaped not in s_tree(screen)  # a new pid, same name
    new = await host.run(_whereis("greeter_for_Ann"))
    await host.run(rt.GenServer.stop(new))
    await screen.until(lambda s: "greeter_for_Ann" not in s["registry"] and "greeter_for_Ann" not in s["tree"])
    await comm.disconnect()


def s_tree(screen: Screen) -> str:
    return screen["tree"]


async def _exit(pid, reason):
    rt.node().exit(pid, reason)


async def _whereis(key):
    return rt.whereis(rt.via(greeter.REGISTRY, key))


async def test_events_arrive_newest_first_and_the_log_filter_applies(host, staff):
    comm, _ = await connect(staff)
    await comm.send_to(text_data=json.dumps({"action": "events", "kind": ["greeted"]}))
    full = await frames_until(comm, lambda f: '<ol id="event-log" class="log" hx-swap-oob="innerHTML">' in f)
    assert "ev-started" not in full
    await spawn(host, "Bo", 0)
    frame = await frames_until(comm, lambda f: "ev-greeted" in f)
    log = frame[frame.index('id="event-log"') :]
    assert 'hx-swap-oob="afterbegin"' in log and "ev-started" not in log and "greeted Bo" in log
    await comm.disconnect()


async def test_frames_are_coalesced_to_about_ten_a_second(host, staff):
    comm, _ = await connect(staff)
    feed = await host.feed()
    stop = asyncio.Event()

    async def burst():
        i = 0
        while not stop.is_set():
            await spawn(host, f"burst-{i}", 0)
            i += 1

    task = asyncio.ensure_future(burst())
    frames = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 1.0:
        if await comm.receive_nothing(timeout=0.05):
            continue
        await comm.receive_from()
        frames += 1
        await comm.send_to(text_data='{"ack": 1}')
    stop.set()
    await task
    assert feed.mirror.seq > 200  # hundreds of events happened...
    assert 3 <= frames <= 14  # ...in at most ~10 frames (plus a heartbeat or two)
    await comm.disconnect()


async def test_a_browser_that_does_not_acknowledge_gets_at_most_the_window(host, staff, settings):
    settings.SUPERVISION_WS_WINDOW = 3
    comm, _ = await connect(staff)  # the connect frame is unacknowledged: 1 of 3
    feed = await host.feed()
    for i in range(30):
        await spawn(host, f"stall-{i}", 0)
        await asyncio.sleep(0.05)
    got = []
    while not await comm.receive_nothing(timeout=0.5):  # (a receive timeout would cancel the app)
        got.append(await comm.receive_from())
    assert len(got) == 2  # the window is full: the consumer holds back
    assert feed.frames_skipped >= 1
    await comm.send_to(text_data='{"ack": 1}')  # catching up: one fresh frame with everything since
    frame = await comm.receive_from(timeout=2)
    assert "stall-29" in frame
    await comm.disconnect()


async def test_search_paging_and_selection_over_the_socket(host, staff):
    for i in range(25):
        await spawn(host, f"w{i}")
    comm, _ = await connect(staff)
    await comm.send_to(
        text_data=json.dumps({"action": "tree", "tree_q": "greeter_for_w1", "HEADERS": {"HX-Request": "true"}})
    )
    frame = await frames_until(comm, lambda f: 'id="tree"' in f and "greeter_for_w1" in f)
    tree = frame[frame.index('id="tree"') :]
    assert tree.count('class="worker"') == 11 and "greeter_for_w2<" not in tree  # w1, w10..w19
    await comm.send_to(
        text_data=json.dumps({"action": "registry", "registry": greeter.REGISTRY, "reg_q": "", "reg_page": "2"})
    )
    frame = await frames_until(comm, lambda f: "page 2 of 2" in f and 'id="registry"' in f)
    pid = await host.run(_whereis("greeter_for_w3"))
    await comm.send_to(text_data=json.dumps({"action": "select", "pid": str(pid)}))
    frame = await frames_until(
        comm, lambda f: 'id="process-panel"' in f and "greeter_for_w3" in f.split('id="process-panel"')[1]
    )
    assert "Greeter (worker)" in frame
    await comm.disconnect()


@pytest.mark.parametrize(
    "junk",
    [
        "not json",
        "[1, 2, 3]",
        "null",
        json.dumps({"action": "select", "pid": {"a": 1}}),
        json.dumps({"action": "tree", "tree_q": ["x"] * 1000}),
        json.dumps({"action": "tree_page", "sup": "<0.1.0>", "page": "-5"}),
        json.dumps({"action": "tree_page", "sup": 7, "page": 10**30}),
        json.dumps({"action": "events", "kind": 12}),
        json.dumps({"action": "registry", "registry": 5, "reg_page": None}),
        json.dumps({"action": "__init__"}),
        json.dumps({"ack": "many"}),
        "[" * 8_000,  # nested deeper than Python parses
    ],
)
async def test_junk_from_a_browser_never_breaks_the_socket_or_the_node(host, staff, junk):
    comm, _ = await connect(staff)
    await comm.send_to(text_data=junk)
    await spawn(host, "still-alive")
    await frames_until(comm, lambda f: "greeter_for_still-alive" in f)
    assert host.node.is_alive(host.root)
    await comm.disconnect()


def test_view_state_is_bounded():
    from supervision.dashboard import MAX_PAGES_TRACKED, View

    v = View()
    for i in range(500):
        v.update({"action": "tree_page", "sup": f"<0.{i}.0>", "page": 2})
    assert len(v.tree_pages) == MAX_PAGES_TRACKED
    v.update({"action": "tree", "tree_q": "q" * 10_000})
    assert len(v.tree_q) == 200
    v.update({"action": "events", "kind": ["greeted"] * 10_000 + ["nonsense"]})
    assert v.kinds == ("greeted",)


async def test_after_an_overflow_the_feed_resyncs_and_dashboards_redraw(host, staff):
    host.feed_queue = 50  # a tiny queue: a burst overflows it
    await host.stop_feed()
    comm, _ = await connect(staff)
    feed = await host.feed()
    generation = feed.mirror.generation

    async def burst():
        for i in range(300):
            await greeter.spawn_greeter(f"of-{i}", 0)

    await host.run(burst())
    await eventually(lambda: feed.overflows >= 1 and feed.mirror.generation > generation)
    frame = await frames_until(comm, lambda f: '<div id="tree" hx-swap-oob="true">' in f and "ev-" in f)
    assert frame
    await eventually(lambda: feed.mirror.seq == host.node.events.seq)
    await comm.disconnect()


async def test_an_unchanged_tree_or_panel_is_not_resent(host, staff):
    pid = await host.run(greeter.spawn_greeter("steady", 60, 3600))  # greets once, then idles
    comm, first = await connect(staff, f"pid={pid}")
    assert 'id="tree"' in first and "greeter_for_steady" in first.split('id="process-panel"')[1]
    frames = []
    for _ in range(2):  # heartbeats come once a second
        frames.append(await comm.receive_from(timeout=3))
        await comm.send_to(text_data='{"ack": 1}')
    assert all('id="tree"' not in f and 'id="process-panel"' not in f for f in frames)
    assert all('id="node-status"' in f for f in frames)
    await spawn(host, "newcomer")
    await frames_until(comm, lambda f: 'id="tree"' in f and "greeter_for_newcomer" in f)
    await comm.disconnect()


async def test_a_flood_of_view_messages_gets_at_most_the_window_of_frames_then_the_socket_is_closed(host, staff):
    comm, _ = await connect(staff)  # 1 frame unacknowledged
    feed = await host.feed()
    sent, clients = feed.frames_sent, feed.clients
    for i in range(2_000):
        await comm.send_to(text_data=json.dumps({"action": "tree", "tree_q": f"q{i}"}))
    frames = []
    while (out := await comm.receive_output(timeout=2))["type"] == "websocket.send":
        frames.append(out["text"])
    assert out == {"type": "websocket.close", "code": 4008}  # a policy violation: the page does not reconnect
    assert "disconnected: reload the page" in frames.pop()  # said last, before the close
    assert len(frames) <= 2 and feed.frames_sent - sent <= 2  # the window (3) held meanwhile
    await eventually(lambda: feed.clients == clients - 1)
    assert host.node.is_alive(host.root)


async def test_a_browser_within_the_rate_keeps_its_socket(host, staff):
    comm, _ = await connect(staff)
    for i in range(60):  # a burst, then 20 a second: a fast typist with every frame acked
        await comm.send_to(text_data=json.dumps({"action": "tree", "tree_q": f"q{i}"}))
    for _ in range(20):
        await comm.send_to(text_data='{"ack": 1}')
        await asyncio.sleep(0.05)
    await spawn(host, "rate-ok")
    await frames_until(comm, lambda f: "greeter_for_rate-ok" in f)
    await comm.disconnect()


async def test_a_message_longer_than_any_browser_sends_closes_the_socket(host, staff):
    comm, _ = await connect(staff)
    await comm.send_to(text_data="x" * 100_000)
    out = await comm.receive_output(timeout=2)
    while out["type"] == "websocket.send":
        out = await comm.receive_output(timeout=2)
    assert out == {"type": "websocket.close", "code": 4009}
    assert host.node.is_alive(host.root)


async def test_a_user_holds_at_most_the_limit_of_sockets(host, staff, settings):
    settings.SUPERVISION_WS_PER_USER = 2
    feed = await host.feed()
    a, _ = await connect(staff)
    b, _ = await connect(staff)
    c, first = await connect(staff)
    assert first == ""  # refused at the handshake
    assert feed.clients == 2
    await a.disconnect()
    await eventually(lambda: feed.clients == 1)
    d, first = await connect(staff)
    assert 'id="tree"' in first
    await b.disconnect()
    await d.disconnect()


async def test_a_consumer_the_server_cancels_gives_back_its_place(host, staff):
    # daphne cancels an application that does not finish soon after its client left
    feed = await host.feed()
    comm, _ = await connect(staff)
    assert feed.clients == 1
    comm.future.cancel()
    await eventually(lambda: feed.clients == 0)
    comm, first = await connect(staff)
    assert 'id="tree"' in first
    await comm.disconnect()


async def test_a_socket_is_closed_once_its_session_logs_out(host, staff, monkeypatch):
    from supervision import consumers

    monkeypatch.setattr(consumers, "AUTH_RECHECK", 0.0)  # check at every tick
    client = AsyncClient()
    await client.aforce_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"host", b"127.0.0.1"), (b"cookie", cookie), ORIGIN]
    comm = WebsocketCommunicator(websocket_application(), "/ws/dashboard/", headers=headers)
    assert (await comm.connect())[0]
    await comm.receive_from(timeout=5)
    await spawn(host, "before-logout")
    await frames_until(comm, lambda f: "greeter_for_before-logout" in f)
    await client.alogout()
    out = await comm.receive_output(timeout=5)
    while out["type"] == "websocket.send":
        await comm.send_to(text_data='{"ack": 1}')
        out = await comm.receive_output(timeout=5)
    assert out == {"type": "websocket.close", "code": 4012}  # the page's script finds out why


async def test_frames_are_at_most_one_per_interval_even_when_a_browser_acks_everything(host, staff):
    comm, _ = await connect(staff)
    feed = await host.feed()
    sent = feed.frames_sent
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 1.0:
        await comm.send_to(text_data=json.dumps({"action": "registry", "reg_q": str(loop.time())}))
        await comm.send_to(text_data='{"ack": 1}')
        await asyncio.sleep(0.04)  # 25 view changes a second, acked: within the rate a browser may send
    assert feed.frames_sent - sent <= 12  # ~10 a second
    await comm.disconnect()


async def test_when_the_node_stops_dashboards_are_told_and_closed_to_reconnect(host, staff):
    comm, _ = await connect(staff)
    host.stop(10)
    frame = await comm.receive_from(timeout=5)
    while "node down" not in frame:
        frame = await comm.receive_from(timeout=5)
    assert (await comm.receive_output(timeout=5))["type"] == "websocket.close"
    comm, first = await connect(staff)  # a reconnect while the node is down: told so, then closed
    assert "node down" in first


async def test_a_dashboard_open_longer_than_the_group_expiry_keeps_updating(host, staff, settings, monkeypatch):
    from channels.layers import channel_layers

    from supervision import consumers

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    }
    channel_layers.backends.clear()
    monkeypatch.setattr(consumers, "REJOIN", 0.5)  # re-join long before the layer forgets us
    await host.stop_feed()
    comm, first = await connect(staff)
    screen = Screen(comm)
    screen.apply(first)
    await asyncio.sleep(3)  # three expiries
    await spawn(host, "late")
    await screen.until(lambda s: "greeter_for_late" in s["tree"], timeout=5)
    await comm.disconnect()
