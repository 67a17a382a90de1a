"""Plugins: installed packages that add search spaces, tasks, datasets, algorithms,
rankers, predictors or benchmarks without an edit of this repository.

A plugin declares an entry point in the group ``lmreg.plugins``. Its value is a module
(importing it registers, e.g. ``SPACES.register("toy", ToySpace())`` at module level) or
a callable (``pkg.mod:register``), called once with no arguments. The `lmreg` command
and every worker process it starts load all plugins before they resolve a name."""

from __future__ import annotations

import importlib.metadata
import types

from lmreg.core.errors import PluginError

GROUP = "lmreg.plugins"

_loaded: list[str] | None = None     # the plugin names, once every plugin has loaded
_failure: PluginError | None = None  # a plugin that failed stays failed: no partial second try


def load_plugins() -> list[str]:
    """Load every plugin of the group (once per process); the names of the plugins loaded.
    A plugin that fails to import or to register raises ``PluginError`` naming it."""
    global _loaded, _failure
    if _failure is not None:
        raise _failure
    if _loaded is None:
        names = []
        for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
            try:
                _load(ep)
            except Exception as e:
                _failure = PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: "
                                       f"{type(e).__name__}: {' '.join(str(e).split())}")
                raise _failure from e
            names.append(ep.name)
        _loaded = names
    return list(_loaded)


def _load(ep: importlib.metadata.EntryPoint) -> None:
    target = ep.load()
    if isinstance(target, types.ModuleType):
        return  # importing the module was its registration
    if not callable(target):
        raise TypeError(f"{ep.value} is neither a module nor a callable")
    target()
