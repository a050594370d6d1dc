"""Process identifiers and monitor references: small, hashable, ordered by creation."""

from __future__ import annotations

import re
from typing import Any

_PID_TEXT = re.compile(r"^<(\d+)\.(\d+)\.(\d+)>$")


class Pid:
    """An opaque process id. ``str(pid)`` looks like ``<0.42.0>``; pids are never reused."""

    __slots__ = ("node", "id", "_hash")

    def __init__(self, id: int, node: int = 0) -> None:
        self.node = node
        self.id = id
        self._hash = hash((node, id)) if node else id  # local pids (node 0) hash as their number

    @classmethod
    def parse(cls, text: str) -> Pid:
        """Parse ``"<0.42.0>"`` back into a Pid; raises ValueError on anything else."""
        m = _PID_TEXT.match(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"expected a pid like '<0.42.0>', got {text!r}")
        return cls(int(m.group(2)), int(m.group(1)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return type(other) is Pid and other.id == self.id and other.node == self.node

    def __lt__(self, other: Pid) -> bool:
        if type(other) is not Pid:
            return NotImplemented
        return (self.node, self.id) < (other.node, other.id)

    def __le__(self, other: Pid) -> bool:
        return self == other or self < other

    def __gt__(self, other: Pid) -> bool:
        if type(other) is not Pid:
            return NotImplemented
        return other < self

    def __ge__(self, other: Pid) -> bool:
        return self == other or self > other

    def __str__(self) -> str:
        return f"<{self.node}.{self.id}.0>"

    def __repr__(self) -> str:
        return f"Pid<{self.node}.{self.id}.0>"

    def __reduce__(self):  # picklable, so pids can cross a channel layer
        return (Pid, (self.id, self.node))


class Ref:
    """A unique monitor reference."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __hash__(self) -> int:
        return hash(("ref", self.id))

    def __eq__(self, other: Any) -> bool:
        return type(other) is Ref and other.id == self.id

    def __repr__(self) -> str:
        return f"#Ref<{self.id}>"
