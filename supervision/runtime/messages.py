"""Messages the runtime itself puts in a mailbox.

Exit and Down are made on every exit, so they are named tuples (immutable, and about a third
of a frozen dataclass's cost to build); the rarer listener messages stay dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .pid import Pid, Ref


class Exit(NamedTuple):
    """A trapped exit signal: ``pid`` (the sender, or None from outside any process) ended or sent ``reason``."""

    pid: Pid | None
    reason: Any


class Down(NamedTuple):
    """A monitor fired: ``pid`` (or the name monitored) exited with ``reason``."""

    ref: Ref
    pid: Any
    reason: Any


new_message = tuple.__new__  # new_message(Exit, (pid, reason)): the runtime's own, cheaper build


@dataclass(frozen=True, slots=True)
class Registered:
    """Sent to registry listeners after a successful explicit register."""

    registry: Any
    key: Any
    pid: Pid
    value: Any


@dataclass(frozen=True, slots=True)
class Unregistered:
    """Sent to registry listeners after an explicit unregister."""

    registry: Any
    key: Any
    pid: Pid
