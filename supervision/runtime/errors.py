"""Errors raised by the runtime.

Each class is one failure a caller can handle. Exit *reasons* are plain values (see
``reasons.py``); these exceptions are what an API call raises when OTP would return
``{:error, ...}`` or exit the caller.
"""

from __future__ import annotations

from typing import Any


class RuntimeErrorBase(Exception):
    """Base class of every error the runtime raises on purpose."""


class NoProcess(RuntimeErrorBase):
    """The destination is ``None``, a dead pid or a name nobody holds (OTP ``:noproc``)."""

    reason = "noproc"


class CallTimeout(RuntimeErrorBase):
    """No reply came in time; the server lives on and its late reply is dropped."""

    reason = "timeout"


class CallExit(RuntimeErrorBase):
    """The server exited before it replied (``.reason`` is its exit reason)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class AlreadyStarted(RuntimeErrorBase):
    """The name is held by another live process (``.pid``)."""

    def __init__(self, pid: Any) -> None:
        super().__init__(pid)
        self.pid = pid


class AlreadyRegistered(RuntimeErrorBase):
    """A unique registry key is held by a live process (``.pid``, possibly the caller)."""

    def __init__(self, pid: Any) -> None:
        super().__init__(pid)
        self.pid = pid


class StartError(RuntimeErrorBase):
    """A process or child failed to start (``.reason``)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class MaxChildren(RuntimeErrorBase):
    """A DynamicSupervisor already holds ``max_children`` children."""

    reason = "max_children"


class NotFound(RuntimeErrorBase):
    """No child with that id (Supervisor) or pid (DynamicSupervisor)."""

    reason = "not_found"


class SupervisorError(RuntimeErrorBase):
    """A supervisor refused a request (``.reason``: ``"running"`` or ``"restarting"``)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class ProcessExit(BaseException):
    """Raised inside a process by ``rt.exit(reason)`` to end it.

    It derives from ``BaseException`` so that ``except Exception`` in user code cannot
    swallow the end of a process, just as ``asyncio.CancelledError`` does.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason
