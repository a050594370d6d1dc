"""Who may do what: viewing needs a login; spawning and killing need control (staff by default)."""

from __future__ import annotations

from typing import Any

CONTROL_PERMISSION = "supervision.control_processes"


async def can_control(user: Any) -> bool:
    """Staff may spawn and kill; so may anyone granted ``supervision.control_processes``."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_staff) or await user.ahas_perm(CONTROL_PERMISSION)
