"""Fixtures for the Django host: a real node in its thread, users, logged-in clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.layers import channel_layers
from django.test import AsyncClient

from supervision import host as hosting


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """The in-memory layer binds queues to a loop; every test has its own loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
async def host():
    """A started host (node thread + the seed's tree), installed as the process's host."""
    h = hosting.from_settings(name="test").start()
    previous = hosting.install(h)
    try:
        yield h
    finally:
        await h.stop_feed()
        h.stop(10)
        hosting.install(previous)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="pw", is_staff=True)


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password="pw")


@pytest.fixture
async def staff_client(staff):
    c = AsyncClient()
    await c.aforce_login(staff)
    return c


@pytest.fixture
async def viewer_client(viewer):
    c = AsyncClient()
    await c.aforce_login(viewer)
    return c


async def eventually(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``pred`` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
