"""Messages the runtime itself puts in a mailbox.

Exit and Down are made on every exit, so their ``__init__`` sets the slots directly: a frozen
dataclass's generated one goes through ``object.__setattr__`` and costs twice as much. They
are not tuples, so that a ``case (a, b):`` pattern in a user's handle_info never takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .pid import Pid, Ref


@dataclass(frozen=True, slots=True)
class Exit:
    """A trapped exit signal: ``pid`` (the sender, or None from outside any process) ended or sent ``reason``."""

    pid: Pid | None
    reason: Any

    def __init__(self, pid: Pid | None, reason: Any) -> None:
        _set_exit_pid(self, pid)
        _set_exit_reason(self, reason)


@dataclass(frozen=True, slots=True)
class Down:
    """A monitor fired: ``pid`` (or the name monitored) exited with ``reason``."""

    ref: Ref
    pid: Any
    reason: Any

    def __init__(self, ref: Ref, pid: Any, reason: Any) -> None:
        _set_down_ref(self, ref)
        _set_down_pid(self, pid)
        _set_down_reason(self, reason)


_set_exit_pid = Exit.pid.__set__  # type: ignore[attr-defined]
_set_exit_reason = Exit.reason.__set__  # type: ignore[attr-defined]
_set_down_ref = Down.ref.__set__  # type: ignore[attr-defined]
_set_down_pid = Down.pid.__set__  # type: ignore[attr-defined]
_set_down_reason = Down.reason.__set__  # type: ignore[attr-defined]


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
