"""Which node and which process the running code belongs to (contextvars).

Every process runs in its own asyncio task, whose context carries the process; the node is
carried by ``async with Node()`` and inherited by every task started under it.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .node import Node
    from .process import Process

current_node: ContextVar[Node | None] = ContextVar("supervision_node", default=None)
current_process: ContextVar[Process | None] = ContextVar("supervision_process", default=None)


def node() -> Node:
    """The node of the running code; RuntimeError outside ``async with rt.Node()``."""
    n = current_node.get()
    if n is None:
        raise RuntimeError("no supervision node here: run inside `async with rt.Node()` or a process")
    return n


def this_process(what: str) -> Process:
    """The calling process; RuntimeError (naming ``what``) outside any process.

    A process killed by something it did synchronously (a child it started, say) runs on
    until its next ``await``, where its task's cancellation lands: raise that cancellation
    here already, so that a dead process can not register, link or monitor anything.
    """
    p = current_process.get()
    if p is None or p.node is not current_node.get():
        raise RuntimeError(f"{what} must be called from inside a process")
    if not p.alive:
        raise_dead(p)
    return p


def raise_dead(p: Process) -> NoReturn:
    raise asyncio.CancelledError(f"{p.pid} has exited ({p.reason!r})")
