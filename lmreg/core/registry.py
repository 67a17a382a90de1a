"""Named registries: one type for every name -> object table of the harness (search
spaces, algorithms, rankers, predictors, datasets, tasks, benchmarks, table
definitions, metrics).

An entry is the object itself or a "module:attribute" string, imported on first look-up
(so listing names imports nothing heavy). Names iterate in registration order. A name is
registered once; an unknown name raises ``UnknownNameError`` listing the valid ones."""

from __future__ import annotations

import importlib
from typing import Generic, Iterator, TypeVar

from lmreg.core.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, plural: str | None = None):
        self.kind = kind                      # what one entry is, for messages ("search space")
        self.plural = plural or kind + "s"
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, entry: T | str | None = None):
        """Register ``entry`` (an object or a "module:attribute" string) under ``name`` and
        return it; without ``entry``, a decorator that registers what it decorates."""
        if entry is None:
            return lambda obj: self.register(name, obj)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered; pick another name")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            valid = ", ".join(self._entries) or "none registered"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.plural}: {valid}")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = _import(entry)
        return entry

    __getitem__ = get

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return ((name, self.get(name)) for name in self.names())

    def values(self) -> Iterator[T]:
        return (self.get(name) for name in self.names())

    def copy(self) -> Registry[T]:
        """An independent registry with the same entries (for a scoped change, e.g. in a test)."""
        other = Registry(self.kind, self.plural)
        other._entries = dict(self._entries)
        return other

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


def _import(target: str):
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj

