"""The commands every door shares (dashboard form, JSON API, command line): spawn and exit.

Each command runs on the node through the host, turns the runtime's answer into an
``Outcome`` (an HTTP status and a sentence a person can read), and writes the audit log.
Input has already been validated (``forms.py``); nothing here trusts it to be anything but
what the form says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from supervision import greeter
from supervision import runtime as rt
from supervision.host import Host, NodeDown
from supervision.models import AuditLog

log = logging.getLogger("supervision.commands")

EXIT_REASONS = ("normal", "shutdown", "kill", "crash")
STOP_TIMEOUT = 5.0  # seconds a GenServer gets to run terminate on "normal" or "shutdown"
ANSWER_GRACE = 5.0  # seconds more the node gets to answer an exit command


class Crash(Exception):
    """The abnormal exit reason of a crash requested by a person (a transient child restarts)."""


@dataclass(frozen=True)
class Outcome:
    """What a command did: ``status`` is the HTTP status the API answers with."""

    ok: bool
    status: int
    message: str
    pid: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "message": self.message}
        if self.pid is not None:
            body["pid"] = self.pid
        if not self.ok:
            body["error"] = self.message
        return body


async def spawn_greeter(host: Host, user: Any, source: str, name: str, lifetime: float) -> Outcome:
    """Start the greeter for ``name`` under GreeterSupervisor (409 with the pid if it runs)."""
    try:
        pid = await host.run(greeter.spawn_greeter(name, lifetime))
    except rt.AlreadyStarted as e:
        out = Outcome(False, 409, f"a greeter for {name!r} is already running as {e.pid}", str(e.pid))
    except rt.MaxChildren:
        out = Outcome(False, 503, "GreeterSupervisor is at its max_children limit")
    except TimeoutError:  # the request may still be carried out: say so rather than "failed"
        out = Outcome(False, 504, f"the node did not answer in time; the greeter for {name!r} may still start")
    except (NodeDown, rt.NoProcess, rt.CallExit) as e:
        out = Outcome(False, 503, f"the node cannot start greeters right now: {_why(e)}")
    except rt.StartError as e:
        out = Outcome(False, 500, f"the greeter failed to start: {e.reason!r}")
    else:
        if pid is None:
            out = Outcome(False, 500, "the greeter chose not to start (ignore)")
        else:
            lived = "greets once and stops" if not lifetime else f"greets every second for {lifetime:g} s"
            out = Outcome(True, 201, f"started the greeter for {name!r} as {pid}; it {lived}", str(pid))
    await _audit(user, source, AuditLog.Action.SPAWN, name, f"lifetime {lifetime:g} s", out)
    return out


async def exit_process(host: Host, user: Any, source: str, pid: rt.Pid, reason: str) -> Outcome:
    """Stop (``normal``/``shutdown``), ``kill`` or ``crash`` the process ``pid``."""
    who = getattr(user, "get_username", lambda: "")() or "someone"
    if pid == host.root:
        out = Outcome(
            False, 409, f"{pid} is the root supervisor: nothing would restart it; stop the server instead", str(pid)
        )
        await _audit(user, source, AuditLog.Action.EXIT, str(pid), reason, out)
        return out
    try:
        message = await host.run(_exit(pid, reason, who), timeout=STOP_TIMEOUT + ANSWER_GRACE)
    except rt.NoProcess:
        out = Outcome(False, 404, f"no process {pid} is running", str(pid))
    except rt.CallTimeout:
        out = Outcome(False, 504, f"{pid} did not stop within {STOP_TIMEOUT:g} s; it is still running", str(pid))
    except TimeoutError:
        out = Outcome(False, 504, f"the node did not answer in time; {pid} may still exit", str(pid))
    except NodeDown as e:
        out = Outcome(False, 503, f"the node cannot reach {pid} right now: {_why(e)}", str(pid))
    else:
        out = Outcome(True, 200, message, str(pid))
    await _audit(user, source, AuditLog.Action.EXIT, str(pid), reason, out)
    return out


async def _exit(pid: rt.Pid, reason: str, who: str) -> str:
    """Runs on the node. ``normal``/``shutdown`` go through GenServer.stop, so terminate runs."""
    node = rt.node()
    if not node.is_alive(pid):
        raise rt.NoProcess(pid)
    if reason in ("normal", "shutdown"):
        try:
            await rt.GenServer.stop(pid, reason, timeout=STOP_TIMEOUT)
        except rt.CallExit as e:
            return f"{pid} stopped, with reason {e.reason!r} rather than {reason!r}"
        except rt.NoProcess:
            return f"{pid} had already exited"
        return f"stopped {pid} with reason {reason!r}"
    if reason == "kill":
        node.exit(pid, "kill")
        return f"killed {pid}"
    node.exit(pid, Crash(f"crash requested by {who}"))
    if node.is_alive(pid):
        return f"sent a crash to {pid}; it traps exits, so it received it as a message and lives on"
    return f"crashed {pid}"


def _why(e: BaseException) -> str:
    return str(e) or type(e).__name__


async def refused(user: Any, source: str, action: str, target: str, detail: str, message: str) -> Outcome:
    """A command refused for want of permission: answered 403, and audited like any other."""
    out = Outcome(False, 403, message)
    await _audit(user, source, action, target, detail, out)
    return out


async def _audit(user: Any, source: str, action: str, target: str, detail: str, out: Outcome) -> None:
    is_user = getattr(user, "is_authenticated", False)
    username = user.get_username() if is_user else str(user or "")
    try:
        await AuditLog.objects.acreate(
            user=user if is_user else None,
            username=username[:150],
            source=source,
            action=action,
            target=target[:300],
            detail=detail[:200],
            ok=out.ok,
            result=out.message[:500],
        )
    except Exception:  # the command happened; a failed audit write must be loud, not fatal
        log.exception("could not write the audit log for %s %s %s", username, action, target)
