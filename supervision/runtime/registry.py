"""Registry: names and groups of processes under any hashable key.

A ``unique`` registry maps each key to at most one process; a ``duplicate`` one to any
number of entries (pubsub, groups). Reads and writes are plain synchronous calls on the
node loop, like Elixir's ETS reads: no message hop. A process registers only itself.

An owner's entries vanish the moment it exits (a stricter version of Elixir's asynchronous
purge: no window where a dead pid shows). Registering links the caller to the registry, so
the registry's death takes non-trapping registrants with it; that link is kept in the
registry's books rather than in a link set, which is what keeps an idle named process small.

Deliberate difference from Elixir: keys compare by Python equality and hash, so ``1``,
``1.0`` and ``True`` are one key. ``partitions`` is accepted for compatibility; one event
loop needs no partitioning, so a registry behaves as a single partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import context
from .child_spec import ChildSpec
from .context import current_node
from .errors import AlreadyRegistered, AlreadyStarted
from .gen_server import GenServer
from .messages import Registered, Unregistered
from .names import Via, check_name
from .node import Node
from .pid import Pid
from .process import Process

KEYS = ("unique", "duplicate")


def _hashable(key: Any) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"registry keys must be hashable, got {key!r}") from None


class RegistryTable:
    """The entries of one registry (internal: use the ``Registry`` functions)."""

    __slots__ = ("name", "proc", "unique", "partitions", "listeners", "meta", "entries", "unique_entries", "size")

    def __init__(
        self, name: Any, proc: Process, unique: bool, partitions: int, listeners: tuple[Any, ...], meta: dict[Any, Any]
    ) -> None:
        self.name = name
        self.proc = proc
        self.unique = unique
        self.partitions = partitions
        self.listeners = listeners
        self.meta = meta
        # unique: key -> (owner pid, value), the very tuple lookup returns (a lookup touches
        # nothing else); duplicate: key -> {owner: [values in registration order]}
        self.entries: dict[Any, Any] = {}
        self.unique_entries = self.entries if unique else None  # for Registry.lookup: one read, no branch
        self.size = 0

    @property
    def pid(self) -> Pid:
        return self.proc.pid

    # -- writes -----------------------------------------------------------------------------

    def _add(self, owner: Process, key: Any, value: Any) -> None:
        if self.unique:
            self.entries[key] = (owner.pid, value)
        else:
            by_owner = self.entries.get(key)
            if by_owner is None:
                by_owner = self.entries[key] = {}
            values = by_owner.get(owner)
            if values is None:
                by_owner[owner] = [value]
            else:
                values.append(value)
        self.size += 1
        regs = owner.registrations
        if regs is None:
            owner.registrations = [(self, key)]
        else:
            regs.append((self, key))
        ev = owner.node.events
        if ev._subscribers:
            ev.emit_data("registered", owner.pid, {"registry": self.name, "key": key, "value": value})
        else:
            ev.seq += 1
        if self.listeners:
            self._tell(Registered(self.name, key, owner.pid, value))

    def _tell(self, msg: Any) -> None:
        if self.listeners:
            node = self.proc.node
            for name in self.listeners:
                listener = node._names.get(name) if type(name) is str else node._resolve(name)
                if listener is not None:
                    listener.deliver(msg)

    def register(self, owner: Process, key: Any, value: Any) -> None:
        _hashable(key)
        if self.unique:
            held = self.entries.get(key)
            if held is not None:
                raise AlreadyRegistered(held[0])
        self._add(owner, key, value)

    def register_via(self, owner: Process, key: Any, value: Any) -> Pid | None:
        """Claim ``key`` as the owner's via name; returns the holder's pid if it is taken.

        The owner's ``name`` records this entry (``die`` drops it from there), so unlike
        ``register`` it adds nothing to ``owner.registrations``: one start, one entry.
        """
        entries = self.entries
        held = entries.get(key)
        if held is not None:
            return held[0]
        pid = owner.pid
        entries[key] = (pid, value)
        self.size += 1
        ev = owner.node.events
        if ev._subscribers:
            ev.emit_data("registered", pid, {"registry": self.name, "key": key, "value": value})
        else:
            ev.seq += 1
        if self.listeners:
            self._tell(Registered(self.name, key, pid, value))
        return None

    def _forget(self, owner: Process, key: Any, count: int) -> None:
        """Drop ``count`` of the owner's (self, key) bookkeeping pairs."""
        regs = owner.registrations
        if not regs:
            return
        kept = []
        for r in regs:
            if count and r[0] is self and r[1] == key:
                count -= 1
            else:
                kept.append(r)
        owner.registrations = kept or None

    def unregister(self, owner: Process, key: Any, where: Callable[[Any], bool] | None = None) -> None:
        """Remove the owner's entries under ``key`` (those whose value passes ``where``)."""
        _hashable(key)
        removed: list[Any] = []
        if self.unique:
            held = self.entries.get(key)
            if held is not None and held[0] is owner.pid and (where is None or where(held[1])):
                del self.entries[key]
                removed.append(held[1])
        else:
            by_owner = self.entries.get(key)
            values = by_owner.get(owner) if by_owner else None
            if values:
                if where is None:
                    removed, keep = values, []
                else:
                    removed = [v for v in values if where(v)]
                    keep = [v for v in values if not where(v)]
                if keep:
                    by_owner[owner] = keep
                else:
                    del by_owner[owner]
                    if not by_owner:
                        del self.entries[key]
        if removed:
            self.size -= len(removed)
            self._forget(owner, key, len(removed))
            events = owner.node.events
            for v in removed:
                events.emit("unregistered", owner.pid, registry=self.name, key=key, value=v)
        if where is None or not self.holds(owner, key):  # as Elixir: also when none was held
            self._tell(Unregistered(self.name, key, owner.pid))

    def holds(self, owner: Process, key: Any) -> bool:
        """Does ``owner`` hold an entry under ``key`` (an explicit one or its via name)?"""
        if self.unique:
            held = self.entries.get(key)
            return held is not None and held[0] is owner.pid
        by_owner = self.entries.get(key)
        return bool(by_owner and owner in by_owner)

    def drop_owner_entry(self, owner: Process, key: Any) -> None:
        """The owner died: drop its entries under ``key`` (once per bookkeeping pair or via name)."""
        entries = self.entries
        if self.unique:
            held = entries.get(key)
            if held is not None and held[0] is owner.pid:
                del entries[key]
                self.size -= 1
                ev = owner.node.events
                if ev._subscribers:
                    ev.emit_data("unregistered", owner.pid, {"registry": self.name, "key": key, "value": held[1]})
                else:
                    ev.seq += 1
            return
        by_owner = entries.get(key)
        values = by_owner.pop(owner, None) if by_owner else None
        if values:
            if not by_owner:
                del entries[key]
            self.size -= len(values)
            for v in values:
                owner.node.events.emit("unregistered", owner.pid, registry=self.name, key=key, value=v)

    def on_registry_death(self, proc: Process, reason: Any) -> Callable[[], None]:
        """The registry exited: drop every entry; returns the signals to its registrants.

        Registrants are linked to the registry in effect, so ``Process.die`` sends these with
        the registry's other link signals (OTP's step 3), after its supervisor's: a supervisor
        then hears of the registry's death before that of anything the signals take down.
        Registrants get ``killed`` if the registry was killed and ``shutdown`` otherwise, as
        from Elixir's partitions, which their supervisor shuts down even on a ``normal`` stop.
        """
        node = proc.node
        if node._registries.get(self.name) is self:
            del node._registries[self.name]
        owners: list[Process] = []
        seen: set[Pid] = set()
        for key, pid, value in self._triples():
            node.events.emit("unregistered", pid, registry=self.name, key=key, value=value)
            if pid not in seen:
                seen.add(pid)
                owner = node._procs.get(pid)
                if owner is not None:
                    owners.append(owner)
                    if owner.registrations:
                        owner.registrations = [r for r in owner.registrations if r[0] is not self] or None
        self.entries = {}
        self.unique_entries = self.entries if self.unique else None
        self.size = 0
        signal = "killed" if reason == "killed" else "shutdown"

        def signal_registrants() -> None:
            for owner in owners:
                owner.signal(proc.pid, signal, False)

        return signal_registrants

    # -- reads ------------------------------------------------------------------------------

    def _triples(self) -> Iterable[tuple[Any, Pid, Any]]:
        if self.unique:
            for key, (pid, value) in self.entries.items():
                yield key, pid, value
        else:
            for key, by_owner in self.entries.items():
                for owner, values in by_owner.items():
                    for value in values:
                        yield key, owner.pid, value

    def whereis_proc(self, key: Any) -> Process | None:
        if not self.unique:
            raise ValueError("via names are not supported for duplicate registries")
        held = self.entries.get(key)
        return self.proc.node._procs.get(held[0]) if held is not None else None

    def lookup(self, key: Any) -> list[tuple[Pid, Any]]:
        try:
            held = self.entries.get(key)
        except TypeError:
            _hashable(key)  # raises the TypeError that names the key
            raise
        if self.unique:
            return [held] if held is not None else []
        by_owner = held
        if not by_owner:
            return []
        return [(owner.pid, v) for owner, values in by_owner.items() for v in values]

    def select(self, where: Callable[[Any, Pid, Any], bool] | None) -> list[tuple[Any, Pid, Any]]:
        if where is None:
            return list(self._triples())
        return [t for t in self._triples() if where(*t)]


def _table(reg: Any) -> RegistryTable:
    """The table of the registry named ``reg`` (or with pid ``reg``) on the current node."""
    try:
        return current_node.get()._registries[reg]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):  # no node, a registry's pid, or unknown
        pass
    node = context.node()  # raises the RuntimeError outside a node
    if type(reg) is Pid:
        for t in node._registries.values():
            if t.proc.pid == reg:
                return t
    raise ValueError(f"unknown registry: {reg!r}")


def _is_hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


class Registry(GenServer):
    """A registry process and the functions that read and write its table.

    ``reg`` arguments are the registry's name (or its pid). Results are lists in no
    particular order, except that one process's duplicate entries keep registration order.
    """

    type = "supervisor"

    @classmethod
    async def start_link(  # type: ignore[override]
        cls,
        keys: str = "unique",
        name: Any = None,
        partitions: int = 1,
        listeners: Iterable[Any] = (),
        meta: dict[Any, Any] | None = None,
    ) -> Pid | None:
        """Start a registry; ValueError for bad options, AlreadyStarted if the name is taken."""
        listeners, meta = cls._check(keys, name, partitions, listeners, meta)
        node = context.node()
        existing = node._registries.get(name)
        if existing is not None:
            raise AlreadyStarted(existing.pid)
        return await cls._start(
            (keys, name, partitions, listeners, meta), {}, name if type(name) is str else None, True
        )

    @classmethod
    def child_spec(  # type: ignore[override]
        cls,
        keys: str = "unique",
        name: Any = None,
        partitions: int = 1,
        listeners: Iterable[Any] = (),
        meta: dict[Any, Any] | None = None,
    ) -> ChildSpec:
        """A supervisor-type spec with id = the registry's name."""
        listeners, meta = cls._check(keys, name, partitions, listeners, meta)
        kwargs = {"keys": keys, "name": name, "partitions": partitions, "listeners": listeners, "meta": meta}
        return ChildSpec(id=name, start=(cls.start_link, (), kwargs), type="supervisor")

    @staticmethod
    def _check(
        keys: Any, name: Any, partitions: Any, listeners: Any, meta: Any
    ) -> tuple[tuple[Any, ...], dict[Any, Any]]:
        if keys not in KEYS:
            raise ValueError(f"expected keys= to be one of {KEYS}, got {keys!r}")
        if name is None or not _is_hashable(name):
            raise ValueError(f"expected name= to be given and hashable, got {name!r}")
        if not (type(partitions) is int and partitions >= 1):
            raise ValueError(f"expected partitions= to be a positive integer, got {partitions!r}")
        try:
            listeners = tuple(listeners)
        except TypeError:
            raise ValueError(f"expected listeners= to be a list of process names, got {listeners!r}") from None
        for listener in listeners:
            check_name(listener)
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise ValueError(f"expected meta= to be a dict, got {meta!r}")
        return listeners, dict(meta)

    async def init(
        self, keys: str, name: Any, partitions: int, listeners: tuple[Any, ...], meta: dict[Any, Any]
    ) -> None:
        me = context.this_process("Registry")
        me.trap = True
        me.drops_foreign_exits = True  # registrants' exits are handled by the synchronous purge
        node: Node = me.node
        if name in node._registries:
            raise AlreadyStarted(node._registries[name].pid)
        table = RegistryTable(name, me, keys == "unique", partitions, listeners, meta)
        node._registries[name] = table
        me.on_death = [table.on_registry_death]
        self.table = table

    def details(self) -> dict[str, Any]:
        """The registry's name, key kind, size and partitions (dashboards, ``ProcessInfo``)."""
        t = self.table
        return {
            "registry": t.name,
            "keys": "unique" if t.unique else "duplicate",
            "size": t.size,
            "partitions": t.partitions,
        }

    async def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "info":
            return self.details()
        return await super().handle_call(request, caller)

    # -- writes (by the calling process) ------------------------------------------------------

    @staticmethod
    def register(reg: Any, key: Any, value: Any = None) -> None:
        """Register the calling process under ``key``; AlreadyRegistered(pid) if a unique key is held."""
        me = context.this_process("Registry.register()")
        _table(reg).register(me, key, value)

    @staticmethod
    def unregister(reg: Any, key: Any) -> None:
        """Remove all of the caller's entries under ``key`` (nothing to remove is fine)."""
        me = context.this_process("Registry.unregister()")
        _table(reg).unregister(me, key)

    @staticmethod
    def unregister_match(reg: Any, key: Any, where: Callable[[Any], bool]) -> None:
        """Remove the caller's entries under ``key`` whose value passes ``where(value)``."""
        me = context.this_process("Registry.unregister_match()")
        _table(reg).unregister(me, key, where)

    @staticmethod
    def update_value(reg: Any, key: Any, fn: Callable[[Any], Any]) -> tuple[Any, Any] | None:
        """Set the caller's value under a unique ``key`` to ``fn(old)``: ``(new, old)``, or None if not held."""
        me = context.this_process("Registry.update_value()")
        table = _table(reg)
        if not table.unique:
            raise ValueError("update_value is not supported for duplicate registries")
        _hashable(key)
        held = table.entries.get(key)
        if held is None or held[0] is not me.pid:
            return None
        old = held[1]
        new = fn(old)
        table.entries[key] = (me.pid, new)
        me.node.events.emit("updated", me.pid, registry=table.name, key=key, value=new)
        return new, old

    # -- reads ----------------------------------------------------------------------------------

    @staticmethod
    def lookup(reg: Any, key: Any) -> list[tuple[Pid, Any]]:
        """``[(pid, value)]`` under ``key``: at most one for a unique registry."""
        try:  # the hottest read, inlined: two dict lookups, and the stored tuple is the answer
            held = current_node.get()._registries[reg].unique_entries.get(key)  # type: ignore[union-attr]
        except (AttributeError, KeyError, TypeError):  # no node, a pid, a duplicate registry, a bad key
            return _table(reg).lookup(key)  # raises, or answers the slow way
        return [held] if held is not None else []

    @staticmethod
    def keys(reg: Any, pid: Pid) -> list[Any]:
        """The keys ``pid`` holds, once per entry; [] for a dead or unknown pid."""
        table = _table(reg)
        owner = context.node()._procs.get(pid)
        if owner is None:
            return []
        keys = [k for t, k in owner.registrations if t is table] if owner.registrations else []
        name = owner.name
        if type(name) is Via and name.registry == table.name and name.key not in keys:
            if table.unique and table.holds(owner, name.key):  # held as its via name
                keys.append(name.key)
        return keys

    @staticmethod
    def values(reg: Any, key: Any, pid: Pid) -> list[Any]:
        """The values ``pid`` holds under ``key``."""
        return [v for p, v in _table(reg).lookup(key) if p == pid]

    @staticmethod
    def count(reg: Any) -> int:
        """How many entries the registry holds."""
        return _table(reg).size

    @staticmethod
    def select(reg: Any, where: Callable[[Any, Pid, Any], bool] | None = None) -> list[tuple[Any, Pid, Any]]:
        """``[(key, pid, value)]`` for the entries where ``where(key, pid, value)`` is true (all if None)."""
        return _table(reg).select(where)

    @staticmethod
    def match(reg: Any, key: Any, where: Callable[[Any], bool]) -> list[tuple[Pid, Any]]:
        """``[(pid, value)]`` under ``key`` whose value passes ``where(value)``."""
        return [(p, v) for p, v in _table(reg).lookup(key) if where(v)]

    @staticmethod
    def count_match(reg: Any, key: Any, where: Callable[[Any], bool]) -> int:
        return sum(1 for _, v in _table(reg).lookup(key) if where(v))

    @staticmethod
    def dispatch(reg: Any, key: Any, fn: Callable[[list[tuple[Pid, Any]]], Any]) -> None:
        """Call ``fn(entries)`` with the non-empty ``[(pid, value)]`` under ``key``; never when empty."""
        entries = _table(reg).lookup(key)
        if entries:
            fn(entries)

    @staticmethod
    def meta(reg: Any, key: Any, default: Any = None) -> Any:
        """The registry's metadata under ``key``, else ``default``."""
        return _table(reg).meta.get(key, default)

    @staticmethod
    def put_meta(reg: Any, key: Any, value: Any) -> None:
        _table(reg).meta[key] = value

    @staticmethod
    def delete_meta(reg: Any, key: Any) -> None:
        _table(reg).meta.pop(key, None)
