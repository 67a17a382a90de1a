"""Dataclass configs overridden from the command line as ``key=value``, with
unknown keys and ill-typed values rejected by name."""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing

from lmreg.core.errors import ConfigError  # noqa: F401  (defined there so bench/ can raise it too)


def _coerce(text: str, kind, key: str):
    origin = typing.get_origin(kind)
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} takes true or false, got {text!r}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null") and len(args) < len(typing.get_args(kind)):
            return None
        return _coerce(text, args[0], key)
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} takes a {getattr(kind, '__name__', kind)}, got {text!r}") from None
    check_number(value, key)
    return value


INT64_MAX = 2**63 - 1  # seeds and counts reach numpy, torch and HDF5 as int64


def check_number(value, key: str) -> None:
    """The rule for every number a user types: a float must be finite (NaN or infinity
    would only show up as a NaN loss or an infinite estimate later), an integer must fit
    in int64. Ranges are each field's own check."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
        raise ConfigError(f"{key} must fit in 64 bits (|value| <= {INT64_MAX}), got {value}")


def override(cfg, assignments: list[str], prefix: str = ""):
    """A copy of dataclass ``cfg`` with ``key=value`` (dotted for nested dataclasses) applied."""
    hints = typing.get_type_hints(type(cfg))
    changes: dict = {}
    nested: dict[str, list[str]] = {}
    names = [f.name for f in dataclasses.fields(cfg)]
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {prefix + item!r} must look like key=value")
        head, dot, rest = key.partition(".")
        if head not in names:
            valid = ', '.join(names) if names else f"none ({prefix.rstrip('.')} has no options)"
            raise ConfigError(f"unknown config key {prefix + head!r}; valid keys: {valid}")
        if dot:
            if not dataclasses.is_dataclass(getattr(cfg, head)):
                raise ConfigError(f"config key {prefix + head!r} has no sub-keys")
            nested.setdefault(head, []).append(f"{rest}={value}")
        elif dataclasses.is_dataclass(getattr(cfg, head)):
            raise ConfigError(f"config key {prefix + head!r} is a section; set its keys as "
                              f"{prefix + head}.KEY=VALUE")
        else:
            changes[head] = _coerce(value, hints[head], prefix + head)
    for head, items in nested.items():
        changes[head] = override(getattr(cfg, head), items, prefix + head + ".")
    return dataclasses.replace(cfg, **changes)


def positive_int(text: str) -> int:
    """argparse type for counts (workers, architectures, threads)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type for seeds, indices and counts that may be 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value
