"""Fixtures for runtime tests: a fresh node per test, and a way to run test code as a process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from supervision import runtime as rt
from supervision.runtime.shutdown import Intensity


@pytest.fixture
async def node():
    async with rt.Node() as n:
        yield n


async def in_process(fn: Callable[..., Awaitable[Any]], *args: Any, trap: bool = False) -> Any:
    """Run ``fn(*args)`` inside a fresh process on the current node and return its result.

    The process stays alive until ``fn`` returns, so links and monitors made by ``fn`` behave
    as they would for a long-lived test process (Elixir's test process).
    """
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def body() -> None:
        if trap:
            rt.trap_exit(True)
        try:
            value = await fn(*args)
        except BaseException as e:
            if not result.done():
                result.set_exception(e)
            raise
        if not result.done():
            result.set_result(value)

    pid = rt.node().spawn(body)

    async def watch() -> None:
        reason = await rt.node().join(pid)
        if not result.done():
            result.set_exception(AssertionError(f"test process exited {reason!r} before returning"))

    watcher = asyncio.ensure_future(watch())
    try:
        return await result
    finally:
        watcher.cancel()


async def eventually(pred: Callable[[], Any], timeout: float = 2.0) -> None:
    """Yield to the loop until ``pred()`` is true (supervisors act on messages, asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


def drain(sub: Any) -> list[Any]:
    """Everything queued for an event subscription right now, without waiting."""
    out = []
    while (item := sub.get_nowait()) is not None:
        out.append(item)
    return out


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Restart intensity's monotonic clock, moved by hand: ``clock[0] += 2.1`` is 2.1 s later."""
    now = [1000.0]
    monkeypatch.setattr(Intensity, "clock", staticmethod(lambda: int(now[0])))
    return now
