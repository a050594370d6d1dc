"""The node of this server process, and the thread-safe door Django code uses to reach it.

The node runs on its own event loop in a daemon thread (``rt.Node.start_in_thread``), so
requests and websockets never share a loop with the processes they watch. ``Host.run``
carries a coroutine onto the node's loop from the web server's loop and awaits its result;
``Host.run_sync`` does the same from a plain thread. The host starts the application tree
(``SUPERVISION_CHILDREN``: by default the seed's GreeterRegistry and GreeterSupervisor)
under one root supervisor, and stops it in order when the process exits.

Settings (read here, once per host): ``SUPERVISION_NODE_NAME``, ``SUPERVISION_CHILDREN``,
``SUPERVISION_SHUTDOWN_TIMEOUT``, ``SUPERVISION_FRAME_INTERVAL``, ``SUPERVISION_FEED_QUEUE``,
``SUPERVISION_EVENT_LOG_SIZE``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.module_loading import import_string

from supervision import runtime as rt
from supervision.greeter import app_children

if TYPE_CHECKING:
    from supervision.feed import Feed

log = logging.getLogger("supervision.host")

ROOT = "supervision.root"  # the root supervisor's name
COMMAND_TIMEOUT = 10.0  # seconds a dashboard or API command may take on the node


class NodeDown(Exception):
    """The node is not running (never started, stopped, or its thread died)."""


class Host:
    """One node in a thread, its application tree, and the feed that mirrors it for dashboards."""

    def __init__(
        self,
        name: str = "web",
        children: Callable[[], list[Any]] | None = None,
        shutdown_timeout: float = 30.0,
        frame_interval: float = 0.1,
        feed_queue: int = 100_000,
        log_size: int = 500,
    ) -> None:
        self.name = name
        self.children = children if children is not None else _default_children
        self.shutdown_timeout = shutdown_timeout
        self.frame_interval = frame_interval  # seconds between dashboard frames (at most ~10/s)
        self.feed_queue = feed_queue  # events the feed may lag on the node before it resyncs
        self.log_size = log_size  # events the dashboard's log keeps
        self.thread: rt.NodeThread | None = None
        self.root: rt.Pid | None = None
        self._feed_task: asyncio.Task[Feed] | None = None
        self._stop_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Host {self.name!r} {'alive' if self.alive else 'down'}>"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Host:
        """Start the node thread and the application tree; returns once the tree is up."""
        if self.thread is not None:
            raise RuntimeError(f"{self!r} is already started")
        self.thread = rt.Node.start_in_thread(self.name, shutdown_timeout=self.shutdown_timeout)
        try:
            self.root = self.thread.run(self._start_tree(), timeout=self.shutdown_timeout)
        except BaseException:
            self.thread.stop(self.shutdown_timeout)
            raise
        atexit.register(self.stop)
        log.info("node %r is up: root supervisor %s", self.name, self.root)
        return self

    async def _start_tree(self) -> rt.Pid | None:
        # rest_for_one: if a registry restarts, what was started after it (and named in it) restarts too.
        return await rt.Supervisor.start_link(self.children(), strategy="rest_for_one", name=ROOT)

    def stop(self, timeout: float | None = None) -> None:
        """Shut the tree down in order (newest first) and join the node thread; idempotent."""
        with self._stop_lock:
            thread = self.thread
            if thread is None or not thread.alive:
                return
            log.info("stopping node %r", self.name)
            thread.stop(self.shutdown_timeout + 5 if timeout is None else timeout)
            atexit.unregister(self.stop)

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.alive

    @property
    def node(self) -> rt.Node:
        if self.thread is None:
            raise NodeDown("the node was never started")
        return self.thread.node

    # -- doors into the node ------------------------------------------------------------------

    async def run(self, coro: Awaitable[Any], timeout: float | None = COMMAND_TIMEOUT) -> Any:
        """Run ``coro`` on the node's loop from another loop; NodeDown if the node is not running."""
        if not self.alive:
            _close(coro)
            raise NodeDown(f"node {self.name!r} is not running")
        try:
            fut = asyncio.wrap_future(self.thread.submit(coro))  # type: ignore[union-attr]
        except RuntimeError as e:  # the thread ended between the check and the submit
            raise NodeDown(str(e)) from None
        if timeout is None:
            return await fut
        return await asyncio.wait_for(fut, timeout)

    def run_sync(self, coro: Awaitable[Any], timeout: float | None = COMMAND_TIMEOUT) -> Any:
        """Run ``coro`` on the node's loop and block this (non-node) thread for its result."""
        if not self.alive:
            _close(coro)
            raise NodeDown(f"node {self.name!r} is not running")
        return self.thread.run(coro, timeout)  # type: ignore[union-attr]

    async def ping(self, timeout: float = 2.0) -> bool:
        """True if the node's loop answers within ``timeout`` seconds and the root supervisor lives."""
        try:
            return await self.run(_root_alive(self.root), timeout)
        except (NodeDown, TimeoutError):
            return False

    # -- the dashboard feed -------------------------------------------------------------------

    async def feed(self) -> Feed:
        """The feed that mirrors this node for the running (web) loop, started on first use."""
        loop = asyncio.get_running_loop()
        task = self._feed_task
        if task is None or task.get_loop() is not loop or _dead_feed(task):
            if task is not None and task.done() and not _dead_feed(task):
                task.result().abandon()  # a feed for a loop that is gone (tests make one a test)
            task = self._feed_task = loop.create_task(self._start_feed())
        return await asyncio.shield(task)

    async def _start_feed(self) -> Feed:
        from supervision.feed import Feed

        feed = Feed(self)
        await feed.start()
        return feed

    async def stop_feed(self) -> None:
        """Stop this loop's feed (tests, and an orderly server stop)."""
        task, self._feed_task = self._feed_task, None
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            return
        try:
            feed = await task
        except Exception:  # it never started (the node was down): nothing to stop
            return
        await feed.stop()


def _dead_feed(task: asyncio.Task[Feed]) -> bool:
    if not task.done():
        return False
    return task.cancelled() or task.exception() is not None or not task.result().running


def _default_children() -> list[Any]:
    return import_string(settings.SUPERVISION_CHILDREN)()


def seed_tree() -> list[rt.ChildSpec]:
    """The default ``SUPERVISION_CHILDREN``: the seed's tree, with at most
    ``SUPERVISION_MAX_GREETERS`` greeters at once, so no number of spawns exhausts the server."""
    return app_children(max_greeters=settings.SUPERVISION_MAX_GREETERS)


async def _root_alive(root: rt.Pid | None) -> bool:
    return root is not None and rt.node().is_alive(root)


def _close(coro: Awaitable[Any]) -> None:
    if asyncio.iscoroutine(coro):
        coro.close()


# -- the process-wide host ----------------------------------------------------------------------

_current: Host | None = None


def current() -> Host | None:
    """The host of this process, if one was started or installed."""
    return _current


def install(host: Host | None) -> Host | None:
    """Make ``host`` the process's host (tests install their own); returns the previous one."""
    global _current
    previous, _current = _current, host
    return previous


def start_from_settings() -> Host:
    """Start (once) the host the settings describe; the ASGI application calls this."""
    global _current
    if _current is None or not _current.alive:
        _current = from_settings().start()
    return _current


def from_settings(**overrides: Any) -> Host:
    """A host configured by the ``SUPERVISION_*`` settings (not started)."""
    options = {
        "name": settings.SUPERVISION_NODE_NAME,
        "shutdown_timeout": settings.SUPERVISION_SHUTDOWN_TIMEOUT,
        "frame_interval": settings.SUPERVISION_FRAME_INTERVAL,
        "feed_queue": settings.SUPERVISION_FEED_QUEUE,
        "log_size": settings.SUPERVISION_EVENT_LOG_SIZE,
    }
    return Host(**{**options, **overrides})


async def feed() -> Feed:
    """The running host's feed for this loop (NodeDown if no node runs here)."""
    return await get().feed()


async def process_info(pid: rt.Pid) -> rt.ProcessInfo | None:
    """Runs on the node: one process in detail, or None."""
    return rt.node().process_info(pid)


def get() -> Host:
    """The running host; NodeDown if there is none."""
    if _current is None:
        raise NodeDown("no node runs in this process (SUPERVISION_AUTOSTART is off, or this is not the server)")
    return _current
