"""Child specs: how a supervisor starts, restarts and stops one child.

``start`` is ``(async_callable, args)`` or ``(async_callable, args, kwargs)``; it runs in the
supervisor's process (so what it ``start_link``s is linked to the supervisor) and returns a
``Pid`` or None (ignore). ``shutdown`` is in seconds, ``"brutal_kill"`` or ``"infinity"``;
None means 5.0 for a worker and ``"infinity"`` for a supervisor, as in OTP.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, NamedTuple

from .errors import AlreadyStarted, ProcessExit, StartError
from .pid import Pid

RESTART_TYPES = ("permanent", "transient", "temporary")
CHILD_TYPES = ("worker", "supervisor")


class ChildSpec(NamedTuple):
    """One child of a supervisor; ``spec.replace(restart=...)`` makes a variant.

    A named tuple, not a frozen dataclass: one is built per ``start_child``, and a tuple is
    the cheapest immutable record Python makes (a frozen dataclass costs about three times
    as much to build).
    """

    id: Any
    start: tuple[Any, ...]
    restart: str = "permanent"
    shutdown: float | str | None = None
    type: str = "worker"

    def replace(self, **changes: Any) -> ChildSpec:
        """A copy with ``changes`` applied (validated when a supervisor receives it)."""
        return self._replace(**changes)

    @property
    def shutdown_value(self) -> float | str:
        """The effective shutdown: the OTP default when ``shutdown`` is None."""
        if self.shutdown is None:
            return "infinity" if self.type == "supervisor" else 5.0
        return self.shutdown


new_spec = tuple.__new__  # new_spec(ChildSpec, (id, start, restart, shutdown, type)): the hot path's build


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children``: ``pid`` is a Pid, None (not running) or ``"restarting"``."""

    id: Any
    pid: Pid | str | None
    type: str
    restart: str


@dataclass(frozen=True, slots=True)
class ChildCounts:
    """``count_children``: specs, live children, and children by type (alive or not)."""

    specs: int
    active: int
    supervisors: int
    workers: int


def to_spec(child: Any, keyed: bool = True) -> ChildSpec:
    """Turn a ChildSpec, a GenServer class or ``(cls, arg)`` into a checked ChildSpec (ValueError if bad).

    ``keyed=False`` (a DynamicSupervisor's children) lets the id be anything: OTP ignores it there.
    """
    if type(child) is ChildSpec:
        spec = child
    elif inspect.isclass(child) and hasattr(child, "child_spec"):
        spec = child.child_spec()
    elif type(child) is tuple and len(child) == 2 and inspect.isclass(child[0]) and hasattr(child[0], "child_spec"):
        spec = child[0].child_spec(child[1])
    else:
        raise ValueError(
            f"supervisors expect each child to be a rt.ChildSpec, a GenServer class or (class, arg), got {child!r}"
        )
    if type(spec) is not ChildSpec:
        raise ValueError(f"child_spec() must return a rt.ChildSpec, got {spec!r}")
    check_spec(spec, keyed)
    return spec


# (restart, shutdown, type) of a spec with the default shutdown: checked by one set lookup
_DEFAULT_SHUTDOWN_FLAGS = frozenset((r, None, t) for r in RESTART_TYPES for t in CHILD_TYPES)


def check_spec(spec: ChildSpec, keyed: bool = True) -> None:
    """Raise ValueError naming the first invalid field (OTP's check_childspec)."""
    start = spec.start
    if not (
        type(start) is tuple
        and len(start) in (2, 3)
        and callable(start[0])
        and isinstance(start[1], (tuple, list))
        and (len(start) == 2 or isinstance(start[2], dict))
    ):
        raise ValueError(f"invalid start {start!r}: expected (async_callable, args) or (async_callable, args, kwargs)")
    try:
        common = spec[2:] in _DEFAULT_SHUTDOWN_FLAGS
    except TypeError:  # an unhashable field: the checks below name it
        common = False
    if common:  # every check below would pass
        if keyed:
            _check_id(spec.id)
        return
    if spec.restart not in RESTART_TYPES:
        raise ValueError(f"invalid restart type {spec.restart!r}: expected one of {RESTART_TYPES}")
    s = spec.shutdown
    if not (
        s is None
        or s == "brutal_kill"
        or s == "infinity"
        or (isinstance(s, (int, float)) and not isinstance(s, bool) and s >= 0)
    ):
        raise ValueError(f"invalid shutdown {s!r}: expected seconds >= 0, 'brutal_kill' or 'infinity'")
    if spec.type not in CHILD_TYPES:
        raise ValueError(f"invalid child type {spec.type!r}: expected one of {CHILD_TYPES}")
    if keyed:
        _check_id(spec.id)


def _check_id(id: Any) -> None:
    try:
        hash(id)
    except TypeError:
        raise ValueError(f"invalid child id {id!r}: ids must be hashable") from None


async def start_child(spec: ChildSpec, extra: tuple[Any, ...] = ()) -> Pid | None:
    """Run a spec's start function in the calling (supervisor) process.

    Returns a Pid or None; ``AlreadyStarted`` and ``StartError`` pass through; any other
    exception or return value becomes ``StartError``.
    """
    start = spec.start
    try:
        if len(start) == 2:
            res = start[0](*extra, *start[1])
        else:
            res = start[0](*extra, *start[1], **start[2])
        if type(res) is CoroutineType or inspect.isawaitable(res):
            res = await res
    except (AlreadyStarted, StartError):
        raise
    except ProcessExit as e:
        raise StartError(e.reason) from None
    except Exception as e:
        raise StartError(e) from e
    if res is None or type(res) is Pid:
        return res
    raise StartError(res)
