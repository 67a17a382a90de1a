"""The error families of the harness, as the `lmreg` command sorts them.

* ``UserError``: something the user can act on (bad input, a missing or corrupt
  file, a busy run folder, a write that failed for a reason the message names).
  The command prints one line and exits non-zero.
* Everything else is a bug in the harness (or, e.g., CUDA running out of memory):
  the command says so, keeps the traceback and exits 70.

Each module keeps its own precise class (``ConfigError``, ``GTFileError``, ...);
they all derive from ``UserError``.
"""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; reported as one line."""


class UnknownNameError(UserError, KeyError):
    """A registry look-up with a name that does not exist; the message lists the valid names.
    A KeyError too, for callers that catch that; printed without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(UserError, ValueError):
    """A registration under a name that is already taken."""


class PluginError(UserError):
    """An installed plugin (entry point group ``lmreg.plugins``) failed to load."""


class WriteError(UserError):
    """A file or folder could not be written: names the path and the cause."""


class BusyError(UserError):
    """Another process is writing the same run folder or table."""


class ConfigError(UserError, ValueError):
    """A config value, option or name that is out of range or unknown."""


class WorkerDied(UserError):
    """A worker process was killed (e.g. by the kernel's out-of-memory killer)."""
