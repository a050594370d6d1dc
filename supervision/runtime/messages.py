"""Messages the runtime itself puts in a mailbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .pid import Pid, Ref


@dataclass(frozen=True, slots=True)
class Exit:
    """A trapped exit signal: ``pid`` (the sender, or None from outside any process) ended or sent ``reason``."""

    pid: Pid | None
    reason: Any


@dataclass(frozen=True, slots=True)
class Down:
    """A monitor fired: ``pid`` (or the name monitored) exited with ``reason``."""

    ref: Ref
    pid: Any
    reason: Any


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
