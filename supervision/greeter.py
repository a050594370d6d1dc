"""The seed's example: Greeter, GreeterSupervisor and GreeterRegistry on the runtime.

A greeter is started by name under ``GreeterSupervisor`` and named
``via(GreeterRegistry, "greeter_for_<name>")``. It greets in ``handle_continue``; with a
lifetime of 0 it then stops ``normal`` at once, as in the seed, and with a positive lifetime
it greets every second until the lifetime is up. Greeters are transient: a crash restarts
them, a normal stop does not. This module imports only the runtime (no Django).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from supervision import runtime as rt

log = logging.getLogger("supervision.greeter")

REGISTRY = "GreeterRegistry"
SUPERVISOR = "GreeterSupervisor"
MAX_LIFETIME = 86_400.0
TICK = 1.0


def greeter_name(name: str) -> rt.Via:
    """The via name of the greeter for ``name``."""
    return rt.via(REGISTRY, f"greeter_for_{name}")


class Greeter(rt.GenServer):
    """Greets ``person``; transient, so only an abnormal exit restarts it."""

    restart = "transient"

    async def init(self, person: str, lifetime: float = 0, every: float = TICK) -> rt.Continue:
        self.person = person
        self.lifetime = lifetime
        self.every = every  # seconds between greetings
        self.greetings = 0
        self.until = time.monotonic() + lifetime
        return rt.Continue("greet")

    async def handle_continue(self, arg: Any) -> Any:
        return self._greet()

    async def handle_info(self, msg: Any) -> Any:
        if msg == "tick":
            return self._greet()
        return None

    def _greet(self) -> Any:
        self.greetings += 1
        node = rt.node()
        node.events.emit("greeted", rt.self_pid(), person=self.person, count=self.greetings)
        log.info("Hello, %s!", self.person)
        remaining = self.until - time.monotonic()
        if remaining <= 0:
            return rt.Stop("normal")
        node.send_after(rt.self_pid(), "tick", min(self.every, remaining))
        return None


def app_children(max_greeters: int | None = None) -> list[rt.ChildSpec]:
    """The seed's application tree: the registry first, so greeters can always name themselves.

    ``max_greeters`` caps the greeters running at once (GreeterSupervisor's ``max_children``).
    """
    return [
        rt.Registry.child_spec(keys="unique", name=REGISTRY),
        rt.DynamicSupervisor.child_spec(name=SUPERVISOR, max_children=max_greeters),
    ]


async def start_app(name: str = "GreeterApp") -> rt.Pid | None:
    """Start the tree under a rest_for_one root: if the registry restarts, so do the greeters."""
    return await rt.Supervisor.start_link(app_children(), strategy="rest_for_one", name=name)


async def spawn_greeter(person: str, lifetime: float = 0, every: float = TICK) -> rt.Pid | None:
    """Start a greeter for ``person``; raises ``rt.AlreadyStarted(pid)`` if one is running."""
    spec = Greeter.child_spec(person, lifetime, every, name=greeter_name(person))
    return await rt.DynamicSupervisor.start_child(SUPERVISOR, spec)
