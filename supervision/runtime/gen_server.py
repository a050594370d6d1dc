"""GenServer: a process that handles calls, casts and other messages one at a time.

State lives on the instance and every (re)start builds a fresh one (a class's own
``__init__``, if it has one, runs in the new process just before ``init``). The process is
*driven*: it has an asyncio task only while it handles messages, so an idle server holds none.

Callbacks and their allowed returns (anything else crashes the server with
``("bad_return_value", value)``; ``init``'s bad return is a ``StartError``):

- ``init(*args)``: ``None`` (ok) | ``Continue(arg)`` | ``Ignore()`` | ``Stop(reason)``.
- ``handle_call(request, caller)``: any value is the reply | ``Reply(value, continue_=x,
  timeout=t)`` | ``NoReply(timeout=t)`` (answer later with ``GenServer.reply``) |
  ``Stop(reason, reply=value)`` (without ``reply=`` the caller gets ``CallExit(reason)``).
- ``handle_cast(request)``, ``handle_info(msg)``, ``handle_continue(arg)``: ``None`` |
  ``Continue(x)`` | ``NoReply(timeout=t)`` | ``Stop(reason)``.
- ``terminate(reason)``: runs when a callback stops or crashes, on ``GenServer.stop``, and
  when a trapping server gets an exit signal from its parent; never after a failed init,
  a kill, or a signal that kills a non-trapping server. Its return value is ignored.

``start``/``start_link`` pass their arguments to ``init`` except the reserved keywords
``name=`` and ``timeout=`` (seconds for ``init`` to finish; past it the server is killed and
``StartError("timeout")`` raised, as OTP's ``:timeout`` start option does).

A ``timeout`` returned by a callback (seconds) delivers ``"timeout"`` to ``handle_info``
unless another message arrives first, as OTP's idle timeout does. A missing
``handle_call``/``handle_cast`` crashes on the first call/cast; the default ``handle_info``
drops the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, ClassVar

from . import context
from .child_spec import ChildSpec, new_spec
from .errors import AlreadyStarted, CallExit, CallTimeout, NoProcess, ProcessExit, StartError
from .messages import Exit
from .names import Via, check_name
from .pid import Pid
from .process import Process, _Died

log = logging.getLogger("supervision.runtime")

_UNSET: Any = object()


class Continue:
    """Run ``handle_continue(arg)`` before reading the next message."""

    __slots__ = ("arg",)

    def __init__(self, arg: Any = None) -> None:
        self.arg = arg

    def __repr__(self) -> str:
        return f"Continue({self.arg!r})"


class Ignore:
    """From ``init``: do not start; ``start_link`` returns None and the process exits normal."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Ignore()"


class Stop:
    """Stop with ``reason`` (after ``terminate``); from ``handle_call``, ``reply=`` answers first."""

    __slots__ = ("reason", "reply")

    def __init__(self, reason: Any = "normal", reply: Any = _UNSET) -> None:
        self.reason = reason
        self.reply = reply

    def __repr__(self) -> str:
        extra = "" if self.reply is _UNSET else f", reply={self.reply!r}"
        return f"Stop({self.reason!r}{extra})"


class NoReply:
    """No reply now (from ``handle_call``: answer later with ``GenServer.reply``); optional idle timeout."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"NoReply(timeout={self.timeout!r})"


class Reply:
    """Reply ``value``, then optionally continue with ``continue_`` or arm an idle timeout."""

    __slots__ = ("value", "continue_", "timeout")

    def __init__(self, value: Any, continue_: Any = _UNSET, timeout: float | None = None) -> None:
        self.value = value
        self.continue_ = continue_
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Reply({self.value!r})"


_PENDING: Any = object()  # a From not answered yet
_INIT: Any = object()  # _loop's first ``res`` for a new server: run init first
_TIMED_OUT: Any = object()  # the answer of a wait that ran out of time


class From:
    """Who is waiting for a call's reply; pass it to ``GenServer.reply``.

    It is also the call's message in the server's mailbox (one object per call, not two).
    The first answer is kept here, and the waiter makes a future only if it has to wait: an
    idle server runs at once and answers before its caller would suspend, so that common
    round trip costs no future. A starter waits for its server's ``init`` the same way
    (``_spawn``'s From, whose ``request`` is then the start timeout).
    """

    __slots__ = ("proc", "request", "answer", "fut")

    def __init__(self, proc: Process, request: Any = None) -> None:
        self.proc = proc  # the server that owes the answer
        self.request = request
        self.answer: Any = _PENDING
        self.fut: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<call {self.request!r} to {self.proc.pid}>"

    def _answer(self, value: Any) -> None:
        """Record the answer (only the first counts: a late reply is dropped) and wake the waiter."""
        if self.answer is _PENDING:
            self.answer = value
            fut = self.fut
            if fut is not None and not fut.done():
                fut.set_result(None)
        calls = self.proc.calls
        if calls:
            calls.discard(self)

    async def _wait(self, timeout: float | None) -> Any:
        """The answer, or ``_TIMED_OUT`` if none came within ``timeout`` seconds (None: no limit)."""
        if self.answer is _PENDING:
            loop = self.proc.node.loop
            fut = self.fut = loop.create_future()
            handle = loop.call_later(timeout, self._answer, _TIMED_OUT) if timeout is not None else None
            try:
                await fut
            finally:
                if handle is not None:
                    handle.cancel()
        return self.answer

    async def _wait_start(self, link: bool) -> Any:
        """A starter's wait for init (``_spawn``'s From): its outcome, or StartError on timeout.

        While it waits, the server's death answers it too (as a call's), so a server killed
        before its task ever ran cannot leave its starter waiting.
        """
        proc = self.proc
        if not proc.alive:
            if self.answer is _PENDING:  # killed before its task could answer (or even run)
                return StartError(proc.reason)
        else:
            calls = proc.calls
            if calls is None:
                calls = proc.calls = set()
            calls.add(self)
        res = await self._wait(self.request)
        if res is _TIMED_OUT:
            # OTP's proc_lib: unlink, kill, and report the timeout (the link sends nothing)
            parent = proc.node._procs.get(proc.parent) if link and proc.parent is not None else None
            if parent is not None:
                parent.unlink(proc)
            proc.die("killed")
            return StartError("timeout")
        if type(res) is _Died:
            return StartError(res.reason)
        return res


class _Cast:
    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request

    def __repr__(self) -> str:
        return f"<cast {self.request!r}>"


class _StopRequest:
    __slots__ = ("reason", "cancelled")

    def __init__(self, reason: Any) -> None:
        self.reason = reason
        self.cancelled = False


class _IdleTimeout:
    __slots__ = ("tick",)

    def __init__(self, tick: int) -> None:
        self.tick = tick


_FAIR_BATCH = 64  # messages a busy server handles before it yields to the loop
_CALL_FORMS = frozenset({Reply, NoReply, Stop, Continue, Ignore})


class GenServer:
    """Subclass it and define the callbacks above; start it with ``start_link``."""

    restart: ClassVar[str] = "permanent"
    shutdown: ClassVar[float | str | None] = None
    type: ClassVar[str] = "worker"
    # Run without a task while a message is handled synchronously (Node._step): only for the
    # runtime's own servers, never while any user code can run in them.
    _steps_inline: ClassVar[bool] = False

    # -- callbacks (defaults) ---------------------------------------------------------------

    async def init(self, *args: Any, **kwargs: Any) -> Any:
        return None

    async def handle_call(self, request: Any, caller: From) -> Any:
        raise RuntimeError(f"{type(self).__qualname__} got a call but defines no handle_call: {request!r}")

    async def handle_cast(self, request: Any) -> Any:
        raise RuntimeError(f"{type(self).__qualname__} got a cast but defines no handle_cast: {request!r}")

    async def handle_info(self, msg: Any) -> Any:
        log.debug("%s dropped an unexpected message: %r", type(self).__qualname__, msg)
        return None

    async def handle_continue(self, arg: Any) -> Any:
        raise RuntimeError(f"{type(self).__qualname__} returned Continue but defines no handle_continue")

    async def terminate(self, reason: Any) -> None:
        return None

    def details(self) -> dict[str, Any] | None:
        """Structured facts for ``ProcessInfo.details`` (supervisors and registries give theirs)."""
        return None

    # -- starting ---------------------------------------------------------------------------

    @classmethod
    def start_link(
        cls, /, *args: Any, name: Any = None, timeout: float | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Pid | None]:
        """Start a server linked to the calling process; returns once ``init`` is done.

        Returns the pid, or None if ``init`` returned ``Ignore()``. Raises ``AlreadyStarted``
        if ``name`` is taken and ``StartError`` if ``init`` failed. With ``timeout`` (seconds),
        an ``init`` still running after that long is killed and ``StartError("timeout")`` is
        raised (OTP's ``:timeout`` start option). Other arguments go to ``init``, so ``name``
        and ``timeout`` are reserved: ``init`` can not take keyword arguments by those names.
        """
        return cls._start(args, kwargs, name, True, timeout)  # the coroutine itself: one frame less per start

    @classmethod
    def start(
        cls, /, *args: Any, name: Any = None, timeout: float | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Pid | None]:
        """As ``start_link``, without the link."""
        return cls._start(args, kwargs, name, False, timeout)

    @classmethod
    def child_spec(cls, /, *args: Any, name: Any = None, **kwargs: Any) -> ChildSpec:
        """A spec that starts ``cls.start_link(*args, name=name)``; its id is ``name``, else the class."""
        if name is None:
            start = (cls.start_link, args, kwargs) if kwargs else (cls.start_link, args)
            return new_spec(ChildSpec, (cls, start, cls.restart, cls.shutdown, cls.type))
        if type(name) is not Via:
            check_name(name)
        kwargs["name"] = name  # kwargs is this call's own dict
        return new_spec(ChildSpec, (name, (cls.start_link, args, kwargs), cls.restart, cls.shutdown, cls.type))

    @classmethod
    async def _start(
        cls, args: tuple[Any, ...], kwargs: dict[str, Any], name: Any, link: bool, timeout: float | None = None
    ) -> Pid | None:
        caller = context.current_process.get()
        if link:
            ack = cls._spawn(caller, caller, *args, name=name, timeout=timeout, **kwargs)
        else:  # OTP's nolink start: the server is its own parent, so its starter's exit is a message
            if caller is not None and not caller.alive:
                context.raise_dead(caller)
            ack = cls._spawn(None, None, *args, name=name, timeout=timeout, **kwargs)
        res = ack.answer
        if res is _PENDING:  # init is waiting for something
            res = await ack._wait_start(link)
        if type(res) is Pid or res is None:
            return res
        raise res

    @classmethod
    def _spawn(
        cls,
        link_to: Process | None,
        parent: Process | None,
        /,
        *args: Any,
        name: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> From:
        """Make the process, claim its name and start its task; returns the starter's ``From``.

        Synchronous, so that a supervisor can start a child without a coroutine of its own:
        the From holds init's outcome (the pid, None, or the error to raise) once init is
        done, which is at once unless init suspends. ``link_to`` is the process to link to;
        the rest is ``start_link``'s arguments (a supervisor's ``(start_link, args, kwargs)``
        start is ``cls._spawn(me, me, *args, **kwargs)``).
        """
        node = context.current_node.get() or context.node()  # (the latter raises)
        table = None
        if name is not None:
            if type(name) is Via:
                table = node._registries.get(name.registry) or node._registry_table(name.registry)  # (raises)
                if not table.unique:
                    raise ValueError("via names are not supported for duplicate registries")
            elif type(name) is not str:
                check_name(name)  # a TypeError before anything starts
        if parent is not None:
            if parent.node is not node:
                parent = link_to = None
            elif not parent.alive:  # a dead caller's child would be linked to nobody
                context.raise_dead(parent)
        proc = node._new_process(parent.pid if parent is not None else None, name, cls.type, cls.__qualname__)
        if link_to is not None:
            link_to.link(proc)
        ack = From(proc, timeout)
        if name is not None:  # OTP's order: the name is claimed before init runs
            holder = table.register_via(proc, name.key, name.value) if table else node._register_name(proc, name)
            if holder is not None:
                proc.name = None
                proc.die("normal")
                ack.answer = AlreadyStarted(holder)
                return ack
        # the instance's __init__ (if a class defines one) runs in the new process, as init does
        server = proc.server = cls.__new__(cls)
        node._start_task(proc, server._loop(proc, _INIT, (args, kwargs, ack)))
        if ack.answer is _PENDING and not proc.alive:  # killed before its task could run
            ack.answer = StartError(proc.reason)
        return ack

    # -- the message loop -------------------------------------------------------------------

    async def _loop(self, proc: Process, res: Any = None, start: Any = None) -> None:
        """Follow up ``res`` (what the last callback returned, e.g. init's ``Continue``), then
        handle queued messages one at a time until the mailbox is empty or the process dies.

        ``Process.deliver`` starts it as the task of an idle server that gets a message, and
        ``_spawn`` as a new server's first task, with ``res=_INIT`` and ``start=(args, kwargs,
        ack)``: it runs init, answers the starter, and goes on from init's result.
        Every return form is handled inline, not in helper coroutines: this loop is the hot
        path of every server, and each extra coroutine layer costs a frame per message.
        """
        context.current_process.set(proc)
        handled = 0
        try:
            if res is _INIT:
                args, kwargs, ack = start
                try:
                    if type(self).__init__ is not object.__init__:
                        self.__init__()
                    res = await self.init(*args, **kwargs)
                except ProcessExit as e:
                    ack._answer(StartError(e.reason))
                    proc.die(e.reason)
                    return
                except asyncio.CancelledError:
                    if ack.answer is _PENDING:
                        ack._answer(StartError(proc.reason if not proc.alive else "killed"))
                    if proc.alive:  # cancelled from outside the runtime
                        proc.die("killed")
                    return
                except Exception as e:
                    ack._answer(StartError(e))
                    proc.die(e, True)
                    return
                if not proc.alive:  # killed while init ran
                    ack._answer(StartError(proc.reason))
                    return
                t = type(res)
                if res is None or t is Continue:
                    ack._answer(proc.pid)
                elif t is Ignore:
                    ack._answer(None)
                    proc.die("normal")
                    return
                elif t is Stop:
                    ack._answer(StartError(res.reason))
                    proc.die(res.reason)
                    return
                else:
                    reason = ("bad_return_value", res)
                    ack._answer(StartError(reason))
                    proc.die(reason)
                    return
            while proc.alive:
                try:
                    if res is not None:  # the last callback asked for more before the next message
                        t = type(res)
                        if t is Continue:
                            res = await self.handle_continue(res.arg)
                            continue
                        if t is Stop:
                            if type(self).terminate is GenServer.terminate:  # nothing to run: exit now
                                proc.die(res.reason)
                            else:
                                await self._stop(proc, res.reason)
                            return
                        if t is not NoReply:
                            raise ProcessExit(("bad_return_value", res))
                        self._arm(proc, res.timeout)
                        res = None
                    mb = proc.mailbox
                    if not mb:
                        proc.mailbox = None  # an idle server holds no deque
                        return
                    handled += 1
                    if handled % _FAIR_BATCH == 0:
                        await asyncio.sleep(0)  # asyncio is not preemptive: let other processes run
                        continue
                    msg = mb.popleft()
                    t = type(msg)
                    if t is _IdleTimeout and msg.tick != proc.ticks:
                        continue  # stale: another message came after the timer was armed
                    proc.ticks += 1
                    if t is From:  # a call
                        res = await self.handle_call(msg.request, msg)
                        t = type(res)
                        if t not in _CALL_FORMS:  # a plain value is the reply
                            msg._answer(res)
                            res = None
                        elif t is Reply:
                            msg._answer(res.value)
                            if res.continue_ is not _UNSET:
                                res = Continue(res.continue_)
                            else:
                                self._arm(proc, res.timeout)
                                res = None
                        elif t is Stop:  # terminate first, then the reply, then the exit
                            reason, crashed = await self._run_terminate(res.reason)
                            if res.reply is not _UNSET:
                                msg._answer(res.reply)
                            proc.die(reason, crashed)
                            return
                        elif t is not NoReply:  # Continue or Ignore
                            raise ProcessExit(("bad_return_value", res))
                    elif t is _Cast:
                        res = await self.handle_cast(msg.request)
                    elif (
                        t is Exit
                        and proc.trap
                        and msg.pid == proc.parent
                        and (msg.pid is not None or proc.node._stopping)  # no sender: the node's own stop only
                    ):
                        await self._stop(proc, msg.reason)
                        return
                    elif t is _StopRequest:
                        if not msg.cancelled:
                            await self._stop(proc, msg.reason)
                            return
                    elif t is _IdleTimeout:
                        res = await self.handle_info("timeout")
                    else:
                        res = await self.handle_info(msg)
                except ProcessExit as e:
                    await self._crash(proc, e.reason, False)
                    return
                except asyncio.CancelledError:
                    if proc.alive:  # cancelled from outside the runtime
                        proc.die("killed")
                    return
                except Exception as e:
                    await self._crash(proc, e, True)
                    return
        finally:
            proc.task = None
            if start is not None and start[2].answer is _PENDING:  # (closed before init ended)
                start[2]._answer(StartError(proc.reason if not proc.alive else "killed"))

    def _arm(self, proc: Process, timeout: float | None) -> None:
        if timeout is not None:
            proc.node.loop.call_later(max(0.0, timeout), proc.deliver, _IdleTimeout(proc.ticks))

    async def _run_terminate(self, reason: Any) -> tuple[Any, bool]:
        """Run ``terminate``; returns the exit reason and whether it is a crash of terminate."""
        if type(self).terminate is GenServer.terminate:  # the default does nothing: skip the frame
            return reason, False
        try:
            await self.terminate(reason)
        except ProcessExit as e:
            return e.reason, False
        except Exception as e:
            return e, True
        return reason, False

    async def _stop(self, proc: Process, reason: Any) -> None:
        if type(self).terminate is GenServer.terminate:  # nothing to run: exit now
            proc.die(reason)
            return
        reason, crashed = await self._run_terminate(reason)
        proc.die(reason, crashed)

    async def _crash(self, proc: Process, reason: Any, crashed: bool) -> None:
        new_reason, new_crashed = await self._run_terminate(reason)
        if new_reason is reason:
            proc.die(reason, crashed)
        else:
            proc.die(new_reason, new_crashed)

    # -- client API -------------------------------------------------------------------------

    @staticmethod
    async def call(dest: Any, request: Any, timeout: float | None = 5.0) -> Any:
        """Send ``request`` and wait for the reply.

        Raises ``NoProcess`` (no such process, at once), ``CallExit(reason)`` (the server
        died first, or ``"calling_self"``) or ``CallTimeout`` after ``timeout`` seconds (None:
        wait forever); after a timeout the server lives on and its late reply is dropped.
        """
        node = context.current_node.get() or context.node()  # (the latter raises)
        t = type(dest)  # _resolve's two common cases first, without its frame
        proc = node._names.get(dest) if t is str else node._procs.get(dest) if t is Pid else node._resolve(dest)
        if proc is None:
            raise NoProcess(f"no process for {dest!r}")
        if context.current_process.get() is proc:
            raise CallExit("calling_self")
        caller = From(proc, request)
        calls = proc.calls
        if calls is None:
            calls = proc.calls = set()
        calls.add(caller)  # so that the server's death answers it
        proc.deliver(caller)
        res = caller.answer
        if res is _PENDING:
            try:
                res = await caller._wait(timeout)
            finally:
                if proc.calls:
                    proc.calls.discard(caller)
        if res is _TIMED_OUT:
            raise CallTimeout(f"no reply from {dest!r} within {timeout}s to {request!r}")
        if type(res) is _Died:
            raise CallExit(res.reason)
        return res

    @staticmethod
    def cast(dest: Any, request: Any) -> None:
        """Send ``request`` without waiting; never fails, even for a dead or unknown server."""
        node = context.node()
        try:
            proc = node._resolve(dest)
        except (ValueError, TypeError):
            return None
        if proc is not None:
            proc.deliver(_Cast(request))
        return None

    @staticmethod
    def reply(caller: From, value: Any) -> None:
        """Answer a call later (any process may); does nothing if the caller stopped waiting."""
        caller._answer(value)

    @staticmethod
    def whereis(name: Any) -> Pid | None:
        """A pid comes back unchanged; a name gives its holder's pid or None."""
        return context.node().whereis(name)

    @staticmethod
    async def stop(dest: Any, reason: Any = "normal", timeout: float | None = None) -> None:
        """Stop the server synchronously: it runs ``terminate(reason)`` and exits.

        Raises ``NoProcess`` for an unknown server, ``CallExit("calling_self")`` from inside
        it, ``CallExit(actual)`` if it exited with another reason, and ``CallTimeout`` past
        ``timeout`` seconds, in which case the server is left running.
        """
        node = context.node()
        proc = node._resolve(dest)
        if proc is None:
            raise NoProcess(f"no process for {dest!r}")
        me = context.current_process.get()
        if me is proc:
            raise CallExit("calling_self")
        done = proc.join_future()
        req = _StopRequest(reason)
        if proc.server is not None:
            proc.deliver(req)
        else:
            proc.signal(me.pid if me else None, reason, True)
        if not done.done():
            finished, _ = await asyncio.wait({done}, timeout=timeout)
            if not finished:
                req.cancelled = True
                raise CallTimeout(f"{dest!r} did not stop within {timeout}s")
        actual = done.result()
        if actual is reason or _same(actual, reason):
            return None
        raise CallExit(actual)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False
