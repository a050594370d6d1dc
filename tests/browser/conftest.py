"""Real-browser tests: Debian's chromium driven by Playwright against daphne on 127.0.0.1.

Run them in their own pytest process (``make test-browser``): Playwright's sync API keeps an
event loop running in the main thread, which pytest-asyncio tests cannot share.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from daphne.testing import DaphneProcess

# Playwright's sync API runs a loop in this thread; Django's test DB setup is sync code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine's network is closed: no phoning home
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a-browser-test-password"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.fail("the browser tests need Debian's chromium (apt-get install chromium); .ci/run installs it")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


def _application():
    """Built in the server's (forked) process: importing project.asgi starts its node there."""
    from project.asgi import application

    return application


def _use_test_database() -> None:
    from channels.testing.live import set_database_connection

    set_database_connection()


def start_server(port: int | None = None) -> DaphneProcess:
    server = DaphneProcess("127.0.0.1", _application, setup=_use_test_database, port=port)
    server.daemon = True
    server.start()
    if not server.ready.wait(timeout=20):
        raise RuntimeError("daphne did not start")
    if not server.errors.empty():
        error, tb = server.errors.get(timeout=1)
        raise RuntimeError(f"daphne failed: {error}\n{tb}")
    return server


def stop_server(server: DaphneProcess) -> None:
    server.terminate()
    server.join(timeout=10)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker) -> Iterator[str]:
    """One daphne (with its node) for the session; tests use names of their own."""
    with django_db_blocker.unblock():  # the forked server inherits pytest-django's DB guard
        server = start_server()
    try:
        yield f"http://127.0.0.1:{server.port.value}"
    finally:
        stop_server(server)


@pytest.fixture
def staff_user(transactional_db, django_user_model):
    return django_user_model.objects.create_user("ops", password=PASSWORD, is_staff=True)


def log_in(page, base: str, username: str = "ops") -> None:
    page.goto(f"{base}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
