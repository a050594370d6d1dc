"""supervision.runtime: Erlang/OTP's process and supervision model on asyncio.

``from supervision import runtime as rt``. Everything public is re-exported here; the
modules behind it hold one OTP concept each (layered bottom-up: pid, messages, events,
process, node, gen_server, child_spec, supervisor, dynamic_supervisor, registry). This
package never imports Django.
"""

from __future__ import annotations

from typing import Any

from .child_spec import ChildCounts, ChildInfo, ChildSpec
from .context import node
from .dynamic_supervisor import DynamicSupervisor
from .errors import (
    AlreadyRegistered,
    AlreadyStarted,
    CallExit,
    CallTimeout,
    MaxChildren,
    NoProcess,
    NotFound,
    ProcessExit,
    StartError,
    SupervisorError,
)
from .events import Event, EventKind, EventStream, Overflow, Subscription
from .gen_server import Continue, From, GenServer, Ignore, NoReply, Reply, Stop
from .messages import Down, Exit, Registered, Unregistered
from .names import Via, via
from .node import Node, NodeThread, ProcessInfo, Snapshot
from .pid import Pid, Ref
from .process import demonitor, exit, link, monitor, receive, self_pid, trap_exit, unlink
from .reasons import is_normal, is_shutdown, should_restart
from .registry import Registry
from .supervisor import Supervisor


def spawn(fn: Any, *args: Any, link: bool = False) -> Pid:
    """``rt.node().spawn(...)``: start ``fn(*args)`` as a process on the current node."""
    return node().spawn(fn, *args, link=link)


def send(dest: Any, msg: Any) -> None:
    """``rt.node().send(...)``: a dead pid is a no-op; an unheld name raises NoProcess."""
    node().send(dest, msg)


def send_after(dest: Any, msg: Any, delay: float) -> Any:
    """``rt.node().send_after(...)``: deliver ``msg`` after ``delay`` seconds; returns a cancellable handle."""
    return node().send_after(dest, msg, delay)


def whereis(name: Any) -> Pid | None:
    """``rt.node().whereis(...)``."""
    return node().whereis(name)


__all__ = [
    "AlreadyRegistered", "AlreadyStarted", "CallExit", "CallTimeout", "ChildCounts", "ChildInfo",
    "ChildSpec", "Continue", "Down", "DynamicSupervisor", "Event", "EventKind", "EventStream", "Exit",
    "From", "GenServer", "Ignore", "MaxChildren", "NoProcess", "NoReply", "Node", "NodeThread",
    "NotFound", "Overflow", "Pid", "ProcessExit", "ProcessInfo", "Ref", "Registered", "Registry",
    "Reply", "Snapshot", "StartError", "Stop", "Subscription", "Supervisor", "SupervisorError",
    "Unregistered", "Via", "demonitor", "exit", "is_normal", "is_shutdown", "link", "monitor", "node",
    "receive", "self_pid", "send", "send_after", "should_restart", "spawn", "trap_exit", "unlink", "via", "whereis",
]  # fmt: skip

# Importing the ``node`` submodule above bound the package attribute ``node`` to it; bind
# the public ``rt.node()`` function back (the submodule stays reachable via sys.modules).
from .context import node  # noqa: E402,F811
