"""When the node runs: with the ASGI server, with runnode, never with migrate/shell/tests; and how it stops."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervision import greeter
from supervision import host as hosting
from supervision import runtime as rt

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "project.settings"}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def test_tests_and_management_commands_get_no_node():
    assert hosting.current() is None  # settings are loaded, the app is ready: still no node
    r = run("manage.py", "check")
    assert r.returncode == 0 and "node" not in r.stderr
    r = run("manage.py", "shell", "-c", "from supervision import host; print(host.current())")
    assert r.stdout.strip().splitlines()[-1] == "None"


def test_importing_the_asgi_application_starts_the_node_and_the_seed_tree():
    code = (
        "import project.asgi\n"
        "from supervision import host\n"
        "h = host.current()\n"
        "async def names():\n"
        "    from supervision import runtime as rt\n"
        "    return sorted(str(p.name) for p in rt.node().processes())\n"
        "print(h.alive, h.run_sync(names()))\n"
    )
    r = run("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True ['GreeterRegistry', 'GreeterSupervisor', 'supervision.root']"


def test_the_host_runs_the_tree_on_its_own_thread_and_stops_it_in_order():
    h = hosting.from_settings(name="order").start()
    try:
        assert h.thread._thread.name == "supervision-order"  # not this (the test's) thread

        async def tree():
            kids = await rt.Supervisor.which_children(hosting.ROOT)
            return [(c.id, c.type) for c in kids]

        # newest first, as which_children lists them; the registry starts first, so it stops last
        assert h.run_sync(tree()) == [(greeter.SUPERVISOR, "supervisor"), (greeter.REGISTRY, "supervisor")]

        async def watch():
            sub = rt.node().events.subscribe()
            await greeter.spawn_greeter("Ann", 60)
            return sub

        sub = h.run_sync(watch())
    finally:
        h.stop(10)
    assert not h.alive
    exits = []
    while (e := sub.get_nowait()) is not None:
        if isinstance(e, rt.Event) and e.kind == "exited":
            exits.append(e.pid)
    # the greeter, then its DynamicSupervisor, then the registry, then the root
    assert len(exits) == 4 and exits == sorted(exits, reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daphne_stops_the_tree_in_order_on_sigterm_and_ctrl_c(sig, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "node 'web' is up" in out
    assert "stopping node 'web'" in out


def test_runnode_runs_until_sigterm_then_stops_in_order():
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runnode", "--name", "worker-1", "--events"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        while "is up" not in line:
            line = proc.stdout.readline()
            assert line, "runnode exited early"
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "node 'worker-1' stopped" in out
    assert "exited: shutdown" in out  # the tree's own exits, printed by --events


def test_spawn_greeter_command_greets_and_audits(tmp_path):
    db = tmp_path / "cli.sqlite3"
    env = {**ENV, "DJANGO_SQLITE_PATH": str(db)}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    assert manage("migrate", "-v0").returncode == 0
    r = manage("spawn_greeter", "  Zoë ", "--user", "cron")
    assert r.returncode == 0, r.stderr
    assert "Hello, Zoë!" in r.stdout and "registry entries for it: 0" in r.stdout
    r = manage("spawn_greeter", "bad\tname")
    assert r.returncode == 1 and "control characters" in r.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select username, source, action, target, ok from supervision_auditlog").fetchall()
    assert rows == [("cron", "cli", "spawn", "Zoë", 1)]
