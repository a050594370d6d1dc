"""The node's event stream: one event per state change, with a gap-free ``seq``.

Subscribers each own a bounded queue. A subscriber that falls ``maxsize`` behind gets one
``Overflow(dropped)`` in place of the events it missed and then continues with new ones;
the node never waits for it and never holds more than ``maxsize + 1`` items for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from .pid import Pid

EventKind = Literal[
    "started",  # parent, name, type ("worker" | "supervisor")
    "exited",  # reason (+ traceback text for a crash)
    "restarted",  # pid is the supervisor: child_id, old_pid, new_pid
    "gave_up",  # pid is the supervisor: restarts, max_restarts, max_seconds
    "registered",  # pid is the owner: registry, key, value
    "unregistered",  # pid is the owner: registry, key, value
    "updated",  # update_value: registry, key, value
]


class Event(NamedTuple):
    """One state change. ``kind`` is an ``EventKind`` or an application's own kind.

    A named tuple rather than a frozen dataclass: a busy node makes hundreds of thousands of
    these a second, and a tuple is the cheapest immutable record Python builds.
    """

    seq: int
    kind: str
    pid: Pid | None
    data: dict[str, Any]
    at: float


@dataclass(slots=True)
class Overflow:
    """Stands in for ``dropped`` events a slow subscriber missed; resync from a snapshot."""

    dropped: int = 0


_END = object()
_new_event = tuple.__new__  # Event(...) minus the named tuple's Python-level __new__: emit's hot path


class Subscription:
    """An async iterator of events in ``seq`` order (see the module docstring for overflow)."""

    __slots__ = ("_stream", "_queue", "_maxsize", "_waiter", "_closed", "__weakref__")

    def __init__(self, stream: EventStream, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"expected maxsize >= 1, got {maxsize!r}")
        self._stream = stream
        self._queue: deque[Any] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _push(self, item: Any) -> None:
        q = self._queue
        if len(q) >= self._maxsize and item is not _END:
            last = q[-1]
            if type(last) is Overflow:
                last.dropped += 1
            else:
                q.append(Overflow(1))
        else:
            q.append(item)
        w = self._waiter
        if w is not None:
            self._waiter = None  # woken once; later pushes before it runs need not look again
            if not w.done():
                w.set_result(None)

    def pending(self) -> int:
        """How many items wait in this subscriber's queue (a lag figure for metrics)."""
        return len(self._queue)

    def close(self) -> None:
        """Stop receiving; iteration ends once the queue is drained."""
        if not self._closed:
            self._closed = True
            stream = self._stream
            stream._subscribers.discard(self)
            stream._fanout = tuple(stream._subscribers)
            self._push(_END)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event | Overflow:
        while True:
            q = self._queue
            if q:
                item = q.popleft()
                if item is _END:
                    q.appendleft(_END)
                    raise StopAsyncIteration
                return item
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def next_batch(self, limit: int = 1000) -> list[Event | Overflow]:
        """Wait for at least one item, then return up to ``limit`` (empty once the stream ended)."""
        q = self._queue
        while not q:
            if self._closed:
                return []
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self._closed:  # no end marker can be queued: take the batch in one go
            if len(q) <= limit:
                batch = list(q)
                q.clear()
                return batch
            popleft = q.popleft
            return [popleft() for _ in range(limit)]
        batch = []
        while q and len(batch) < limit:
            item = q[0]
            if item is _END:
                break
            batch.append(q.popleft())
        return batch

    def get_nowait(self) -> Event | Overflow | None:
        """The next item, or None when the queue is empty (for batch consumers)."""
        q = self._queue
        if q and q[0] is not _END:
            return q.popleft()
        return None


class EventStream:
    """Numbers and fans out events; free when nobody listens (only ``seq`` advances)."""

    def __init__(self) -> None:
        self.seq = 0
        self.closed = False
        self._subscribers: set[Subscription] = set()
        self._fanout: tuple[Subscription, ...] = ()  # the same, as a tuple: quicker to iterate per event

    def emit(self, kind: str, pid: Pid | None = None, **data: Any) -> int:
        """Record one event and return its seq."""
        if self._subscribers:
            self.emit_data(kind, pid, data)
        else:
            self.seq += 1
        return self.seq

    def emit_data(self, kind: str, pid: Pid | None, data: dict[str, Any]) -> None:
        """``emit`` for the runtime's hot paths: callers skip building ``data`` when nobody listens."""
        seq = self.seq = self.seq + 1
        event = _new_event(Event, (seq, kind, pid, data, time.time()))
        for sub in self._fanout:  # Subscription._push, its common case inlined
            q = sub._queue
            if sub._waiter is None and len(q) < sub._maxsize:
                q.append(event)
            else:
                sub._push(event)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        """A live subscription: it sees every event emitted after this call returns."""
        sub = Subscription(self, maxsize)
        self._subscribers.add(sub)
        self._fanout = tuple(self._subscribers)
        if self.closed:  # the node has stopped: nothing more will come
            sub.close()
        return sub

    def close(self) -> None:
        """End every subscription, and any taken later (the node is stopping)."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()
