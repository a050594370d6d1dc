"""The node: the process table, names, the event stream, and the doors into it.

``async with rt.Node() as node`` runs a node on the current loop; ``Node.start_in_thread``
runs one on its own loop in a daemon thread and hands back a ``NodeThread`` for other threads.
Leaving a node shuts down every process (supervisors in their own order) and waits for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import logging
import reprlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import context
from .errors import NoProcess
from .events import EventStream
from .names import Via
from .pid import Pid
from .process import _STARTING, STEPPING, Process, crash_text, run_function

log = logging.getLogger("supervision.runtime")

_new_pid = object.__new__
_new_info = tuple.__new__  # ProcessInfo(...) minus the named tuple's Python-level __new__
_MAX_EAGER_DEPTH = 24  # nested eager task starts before we fall back to scheduling


class ProcessInfo(NamedTuple):
    """A read-only view of one process at one moment.

    A named tuple, like ``Event``: a snapshot of a busy node makes one per process, and a
    frozen dataclass costs ten times as much to build (2.4 µs; 100,000 of them stall the loop).
    """

    pid: Pid
    name: Any
    parent: Pid | None
    type: str  # "worker" | "supervisor"
    kind: str  # the GenServer class or spawned function
    links: tuple[Pid, ...]
    monitors: tuple[Pid, ...]
    mailbox_len: int
    restarts: int
    started_at: float
    trap_exit: bool
    status: str  # "running" (handling a message or running code) | "waiting" (idle)
    last_exit: Any = None
    state: str | None = None  # repr of a GenServer's state, truncated (process_info only)
    details: dict[str, Any] | None = None  # a supervisor's strategy and budget, a registry's size


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every process and registry entry as of event ``seq``."""

    seq: int
    processes: list[ProcessInfo]
    registries: dict[Any, list[tuple[Any, Pid, Any]]]


STATE_LIMIT = 2_000  # characters of a GenServer's state that process_info shows


class _StateRepr(reprlib.Repr):
    """A bounded repr for process_info: a supervisor's books may hold 100,000 children.

    reprlib already cuts long sequences and strings; its dicts and sets are sorted first,
    which costs O(n log n) for a repr that shows twenty entries, so these take the first ones.
    """

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = itertools.islice(x.items(), self.maxdict)
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in items]
        if len(x) > self.maxdict:
            pieces.append(f"... ({len(x)} entries)")
        return "{" + ", ".join(pieces) + "}"

    def repr_set(self, x: set[Any], level: int) -> str:
        if not x:
            return "set()"
        if level <= 0:
            return "{...}"
        pieces = [self.repr1(v, level - 1) for v in itertools.islice(x, self.maxset)]
        if len(x) > self.maxset:
            pieces.append(f"... ({len(x)} items)")
        return "{" + ", ".join(pieces) + "}"


_STATE_REPR = _StateRepr(
    maxlevel=4, maxdict=20, maxset=20, maxlist=20, maxtuple=20, maxdeque=20, maxstring=300, maxother=300
)


def _reason_label(reason: Any) -> str:
    if type(reason) is str:
        return reason
    if type(reason) is tuple and reason and reason[0] == "shutdown":
        return "shutdown"
    return "crash"


class Node:
    """A runtime node on one event loop."""

    def __init__(self, name: str = "node", *, shutdown_timeout: float = 30.0) -> None:
        self.name = name
        self.shutdown_timeout = shutdown_timeout
        self.events = EventStream()
        self.exits: dict[str, int] = {}  # exit counts by reason label, for metrics
        self.restarts = 0  # restarts performed by every supervisor, for metrics
        self._procs: dict[Pid, Process] = {}
        self._names: dict[str, Process] = {}
        self._registries: dict[Any, Any] = {}
        self._ids = itertools.count(1)
        self._depth = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: Any = None
        self._context = contextvars.copy_context()  # replaced on entry (see __aenter__)
        self._stopped = False
        self._stopping = False

    def __repr__(self) -> str:
        return f"<Node {self.name!r} processes={len(self._procs)} seq={self.events.seq}>"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        self._loop = asyncio.get_running_loop()
        self._token = context.current_node.set(self)
        # Every process task starts from this context, not from whoever woke the process: a
        # message may come from a loop callback (call_soon_threadsafe) that knows no node.
        self._context = contextvars.copy_context()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
        finally:
            context.current_node.reset(self._token)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the node is not running")
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._stopped

    async def stop(self) -> None:
        """Shut down every process: roots one at a time, newest first, then stragglers."""
        if self._stopping:
            return
        self._stopping = True
        roots = sorted(
            (p for p in self._procs.values() if p.parent is None or p.parent not in self._procs),
            key=lambda p: p.pid,
            reverse=True,
        )
        for p in roots:
            if not p.alive:
                continue
            done = p.join_future()
            p.signal(None, "shutdown", True)
            try:
                await asyncio.wait_for(done, self.shutdown_timeout)
            except TimeoutError:
                log.warning("%s did not stop within %ss; killing it", p.pid, self.shutdown_timeout)
                p.die("killed")
        tasks = []
        for p in list(self._procs.values()):
            t = p.task
            p.die("killed")
            if t is not None and t is not _STARTING and t is not STEPPING:
                tasks.append(t)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        self.events.close()
        self._stopped = True

    @classmethod
    def start_in_thread(cls, name: str = "node", **kwargs: Any) -> NodeThread:
        """Run a node on its own loop in a daemon thread; returns once it is up."""
        node = cls(name, **kwargs)
        handle = NodeThread(node)
        handle._start()
        return handle

    # -- the table ------------------------------------------------------------------------

    def _new_process(self, parent: Pid | None, name: Any, type: str, kind: str) -> Process:
        pid = _new_pid(Pid)  # Pid(n), minus a Python-level __init__ call: one per process
        pid.node = 0
        pid.id = pid._hash = next(self._ids)
        proc = Process(self, pid, parent, name, type, kind)
        self._procs[pid] = proc
        ev = self.events
        if ev._subscribers:
            ev.emit_data("started", pid, {"parent": parent, "name": name, "type": type, "behaviour": kind})
        else:
            ev.seq += 1
        return proc

    def _remove(self, proc: Process, reason: Any, crashed: bool) -> None:
        del self._procs[proc.pid]
        exits = self.exits
        label = reason if type(reason) is str else _reason_label(reason)
        exits[label] = exits.get(label, 0) + 1
        ev = self.events
        if crashed:
            # Formatting a traceback costs more than the rest of a restart: do it once, and
            # only when it is read (an enabled error log, or a subscriber's "exited" event).
            logged = log.isEnabledFor(logging.ERROR)
            tb = crash_text(reason) if logged or ev._subscribers else ""
            if logged:
                log.error("process %s (%s) crashed: %r\n%s", proc.pid, proc.kind, reason, tb)
            ev.emit("exited", proc.pid, reason=reason, traceback=tb)
        elif ev._subscribers:
            ev.emit_data("exited", proc.pid, {"reason": reason})
        else:
            ev.seq += 1

    def _start_task(self, proc: Process, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the process's task, eagerly (to its first suspension) when shallow."""
        loop = self._loop or asyncio.get_running_loop()
        ctx = self._context.copy()
        if self._depth >= _MAX_EAGER_DEPTH:
            proc.task = loop.create_task(coro, context=ctx)
            return
        proc.task = _STARTING
        self._depth += 1
        try:
            task = asyncio.Task(coro, loop=loop, eager_start=True, context=ctx)
        finally:
            self._depth -= 1
        if not task.done():
            if proc.task is _STARTING:
                proc.task = task
            if not proc.alive:
                task.cancel()
        elif proc.task is _STARTING:
            proc.task = None

    def _step(self, proc: Process, coro: Coroutine[Any, Any, None]) -> None:
        """Run an internal server's ``coro`` inline, with no task until it first suspends.

        For the runtime's own servers only (``GenServer._steps_inline``): the code run here
        is never a user's, because user code may capture ``asyncio.current_task()`` (as
        ``asyncio.timeout`` does), and until the coroutine suspends that is the caller's task.
        It runs in a context of its own, as a task would; once it suspends, a task takes it
        over from there. Most calls to a supervisor never suspend, so they cost no task.
        """
        if self._depth >= _MAX_EAGER_DEPTH:
            self._start_task(proc, coro)
            return
        ctx = self._context.copy()
        proc.task = STEPPING
        self._depth += 1
        try:
            yielded = ctx.run(coro.send, None)
        except StopIteration:
            if proc.task is STEPPING:
                proc.task = None
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # as a task would, keep it from the process that delivered
            log.exception("%s failed outside its message loop", proc.pid)
            if proc.task is STEPPING:
                proc.task = None
            return
        finally:
            self._depth -= 1
        task = (self._loop or asyncio.get_running_loop()).create_task(_resume(coro, yielded), context=ctx)
        if proc.task is STEPPING:
            proc.task = task
        if not proc.alive:
            task.cancel()

    def _lookup_pid(self, pid: Any) -> Process | None:
        return self._procs.get(pid)

    def _resolve(self, dest: Any) -> Process | None:
        """The live process behind a pid or name, or None."""
        t = type(dest)
        if t is Pid:
            return self._procs.get(dest)
        if t is str:
            return self._names.get(dest)
        if t is Via:
            return self._registry_table(dest.registry).whereis_proc(dest.key)
        if dest is None:
            return None
        raise TypeError(f"expected a Pid, a str name or rt.via(...), got {dest!r}")

    def _registry_table(self, name: Any) -> Any:
        table = self._registries.get(name)
        if table is None:
            raise ValueError(f"unknown registry: {name!r}")
        return table

    def _register_name(self, proc: Process, name: Any) -> Pid | None:
        """Claim ``name`` for ``proc``; returns the holder's pid if it is taken."""
        if type(name) is str:
            holder = self._names.get(name)
            if holder is not None:
                return holder.pid
            self._names[name] = proc
            return None
        table = self._registries.get(name.registry)
        if table is None:
            raise ValueError(f"unknown registry: {name.registry!r}")
        return table.register_via(proc, name.key, name.value)

    # -- the public process API -----------------------------------------------------------

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any, link: bool = False) -> Pid:
        """Start ``fn(*args)`` (an ``async def``) as a new process; returning exits it normal."""
        if not callable(fn):
            raise TypeError(f"expected an async function, got {fn!r}")
        caller = context.current_process.get()
        if link and caller is None:
            raise RuntimeError("spawn(link=True) must be called from inside a process")
        if caller is not None and not caller.alive:
            context.raise_dead(caller)
        kind = getattr(fn, "__qualname__", type(fn).__name__)
        proc = self._new_process(caller.pid if caller else None, None, "worker", kind)
        if link:
            caller.link(proc)
        self._start_task(proc, run_function(proc, fn, args))
        return proc.pid

    def send(self, dest: Any, msg: Any) -> None:
        """Send ``msg``. A dead pid is a no-op; a name nobody holds raises NoProcess."""
        if type(dest) is Pid:
            proc = self._procs.get(dest)
            if proc is not None:
                proc.deliver(msg)
            return
        proc = self._resolve(dest)
        if proc is None:
            raise NoProcess(f"no process is named {dest!r}")
        proc.deliver(msg)

    def exit(self, dest: Any, reason: Any) -> None:
        """Send an exit signal to ``dest`` (``"kill"`` is untrappable); from a process, it is the sender."""
        proc = self._resolve(dest)
        if proc is None:
            return
        me = context.current_process.get()
        sender = me.pid if me is not None and me.node is self else None
        proc.signal(sender, reason, True)

    def send_after(self, dest: Any, msg: Any, delay: float) -> asyncio.TimerHandle:
        """Send ``msg`` to ``dest`` after ``delay`` seconds (dropped if nobody holds it then); ``.cancel()`` to stop."""

        def fire() -> None:
            try:
                self.send(dest, msg)
            except NoProcess:
                pass

        return self.loop.call_later(delay, fire)

    def whereis(self, name: Any) -> Pid | None:
        """A pid comes back unchanged; a name gives its holder's pid or None."""
        if type(name) is Pid:
            return name
        proc = self._resolve(name)
        return proc.pid if proc is not None else None

    def is_alive(self, pid: Pid) -> bool:
        return pid in self._procs

    async def join(self, pid: Pid) -> Any:
        """Wait for ``pid`` to exit and return its reason (``"noproc"`` if already gone)."""
        proc = self._procs.get(pid)
        if proc is None:
            return "noproc"
        return await proc.join_future()

    def _info(self, p: Process, with_state: bool = False) -> ProcessInfo:
        links = p.links
        links = tuple([o.pid for o in links]) if links else ()
        # a registry a process is registered with is linked to it, in the registry's books
        reg_pids = {t.pid for t, _ in p.registrations} if p.registrations else None
        name = p.name
        if type(name) is Via:  # registered under its via name (held once it has started)
            table = self._registries.get(name.registry)
            if table is not None and table.unique and table.holds(p, name.key):
                if reg_pids is None:
                    reg_pids = {table.pid}
                else:
                    reg_pids.add(table.pid)
        if reg_pids:
            links = links + tuple([x for x in reg_pids if x not in links])
        state = None
        server = p.server
        if with_state and server is not None:
            try:
                state = _STATE_REPR.repr(vars(server))
            except Exception as e:  # a user's __repr__ must not break the inspector
                state = f"<unrepresentable: {e!r}>"
            if len(state) > STATE_LIMIT:
                state = state[:STATE_LIMIT] + "…"
        details = None
        if server is not None and p.type == "supervisor":
            try:
                details = server.details()
            except AttributeError:  # its init has not finished building the books yet
                details = None
        return _new_info(
            ProcessInfo,
            (
                p.pid,
                name,
                p.parent,
                p.type,
                p.kind,
                links,
                tuple([t.pid for t in p.monitors.values()]) if p.monitors else (),
                len(p.mailbox) if p.mailbox else 0,
                p.restarts,
                p.started_at,
                p.trap,
                "running" if p.task is not None and p.waiter is None else "waiting",
                p.last_exit,
                state,
                details,
            ),
        )

    def processes(self) -> list[ProcessInfo]:
        """Every live process, oldest first."""
        return [self._info(p) for p in self._procs.values()]

    def process_info(self, pid: Pid) -> ProcessInfo | None:
        """One process in detail (with its GenServer state's repr), or None if it is dead."""
        p = self._procs.get(pid)
        return self._info(p, with_state=True) if p is not None else None

    def process_count(self) -> int:
        return len(self._procs)

    def registry_names(self) -> list[Any]:
        return list(self._registries)

    def snapshot(self) -> Snapshot:
        """Every process and registry entry, consistent with event ``seq``."""
        return Snapshot(
            seq=self.events.seq,
            processes=self.processes(),
            registries={name: t.select(None) for name, t in self._registries.items()},
        )


class _Resume:
    """Awaiting it carries on a coroutine that ``Node._step`` ran up to its first suspension."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded  # what the coroutine yielded: the future it waits on, or None

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self.coro, self.yielded
        self.coro = self.yielded = None
        while True:  # what ``yield from coro`` would do, from where the coroutine stopped
            try:
                sent = yield yielded
            except BaseException as e:  # a cancel, thrown in by the task
                try:
                    yielded = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration:
                    return


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    await _Resume(coro, yielded)


class NodeThread:
    """A node on its own loop in a daemon thread: the door for code on other threads."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"supervision-{node.name}", daemon=True)

    def _start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.node:
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as e:  # surfaced to the starter if the node never came up
            self._error = e
            log.exception("node thread %s failed", self.node.name)
        finally:
            self._ready.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.node.running

    async def _in_node(self, coro: Awaitable[Any]) -> Any:
        context.current_node.set(self.node)
        return await coro

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the node's loop; returns a thread-safe future of its result."""
        if self.loop is None or not self._thread.is_alive():
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError("the node thread is not running")
        return asyncio.run_coroutine_threadsafe(self._in_node(coro), self.loop)

    def run(self, coro: Awaitable[Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the node and block for its result."""
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"the node did not answer within {timeout}s") from None

    async def run_async(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` on the node from another event loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout: float | None = None) -> None:
        """Shut the node down in order and join its thread."""
        if self.loop is not None and self._thread.is_alive() and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
