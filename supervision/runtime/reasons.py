"""Exit reasons and the restart rule that reads them.

Reasons are values: ``"normal"``, ``"shutdown"``, ``("shutdown", term)``, ``"kill"`` (a signal
only; the victim exits ``"killed"``), ``"noproc"``, or anything else, which is a crash (in
Python, usually the exception object).
"""

from __future__ import annotations

from typing import Any, Literal

RestartType = Literal["permanent", "transient", "temporary"]


def is_shutdown(reason: Any) -> bool:
    """True for ``"shutdown"`` and ``("shutdown", term)``."""
    if reason == "shutdown":
        return True
    return type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"


def is_normal(reason: Any) -> bool:
    """True for the reasons OTP does not treat as abnormal: normal, shutdown, {shutdown, _}."""
    if type(reason) is str:
        return reason == "normal" or reason == "shutdown"
    return is_shutdown(reason)


def should_restart(restart: str, reason: Any) -> bool:
    """OTP's restart rule: permanent always, transient only on an abnormal reason, temporary never."""
    if restart == "permanent":
        return True
    if restart == "transient":  # is_normal, inlined: a transient child's every exit asks
        if type(reason) is str:
            return reason != "normal" and reason != "shutdown"
        return not is_shutdown(reason)
    return False
