"""Process names: a ``str`` (node-local) or ``rt.via(registry, key[, value])``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_NO_VALUE: Any = None


@dataclass(frozen=True, slots=True)
class Via:
    """A name held through a registry. Build it with ``rt.via``; the registry is checked on use."""

    registry: Any
    key: Any
    value: Any = field(default=None, compare=False)

    def __init__(self, registry: Any, key: Any, value: Any = None) -> None:
        # one per named start: set the slots directly (a frozen dataclass's own __init__
        # goes through object.__setattr__, at twice the cost)
        _set_registry(self, registry)
        _set_key(self, key)
        _set_value(self, value)

    def __str__(self) -> str:
        return f"via({self.registry!r}, {self.key!r})"


_set_registry = Via.registry.__set__  # type: ignore[attr-defined]
_set_key = Via.key.__set__  # type: ignore[attr-defined]
_set_value = Via.value.__set__  # type: ignore[attr-defined]


def via(registry: Any, key: Any, value: Any = _NO_VALUE) -> Via:
    """Name a process through ``registry`` under ``key`` (storing ``value``, default None)."""
    hash(key)  # an unhashable key is a TypeError here, not deep inside a start
    return Via(registry, key, value)


def check_name(name: Any) -> None:
    """Raise TypeError unless ``name`` is None, a str or ``rt.via(...)``."""
    if name is None or type(name) is str or type(name) is Via:
        return
    raise TypeError(f"expected name= to be None, a str or rt.via(...), got {name!r}")
