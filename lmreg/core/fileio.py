"""Writing files so that nothing is lost and nothing is half-written.

One helper for every file the harness produces (records, checkpoints, weights,
ground-truth tables, stores, journals' folders):

* ``atomic_path(path)`` yields a temporary path with a unique name beside the
  target; when the block ends the file is fsynced, renamed over the target, and
  the folder is fsynced, so the file survives a power loss once the call returns,
  and a reader sees either the old file or the new one. Two writers never share
  a temporary file. On failure the temporary file is removed.
* Every ``OSError`` on the way (read-only folder, a file where a folder should
  be, a full disk) becomes a ``WriteError`` naming the path and the cause.
* ``read_json(path, what, error)`` reads a JSON file the harness did not just
  write, turning a missing, unreadable or damaged file into one ``error`` line.
* ``locked(folder)`` holds an exclusive ``fcntl.flock`` while a process writes a
  run folder or a table; a second writer is refused at once (``BusyError``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from lmreg.core.errors import BusyError, WriteError

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    try:  # Linux: read it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cause(e: OSError) -> str:
    """'no space left on device', 'read-only file system', ...: the reason in words."""
    if e.errno is not None:
        return os.strerror(e.errno).lower()
    return str(e)


def write_error(path: Path, e: OSError, what: str = "cannot write") -> WriteError:
    culprit = Path(e.filename) if getattr(e, "filename", None) else Path(path)
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and culprit != Path(path):
        # mkdir of a parent met a file: name the file that is in the way
        return WriteError(f"{what} {path}: {culprit} is a file, not a folder")
    if e.errno == errno.ENOTDIR:
        return WriteError(f"{what} {path}: a file is in the way where a folder should be")
    if e.errno == errno.EEXIST:
        return WriteError(f"{what} {path}: {culprit} exists and is not a folder")
    if e.errno == errno.EISDIR:
        return WriteError(f"{what} {path}: it is a folder, expected a file")
    return WriteError(f"{what} {path}: {cause(e)}")


@contextlib.contextmanager
def translated(path: str | Path, what: str = "cannot write") -> Iterator[None]:
    """Turn OSError inside the block into a one-line WriteError about ``path``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        raise write_error(Path(path), e, what) from None


def check_dir_path(path: str | Path) -> Path:
    """The one-line error ensure_dir would give for a file in the way of ``path`` or of a
    folder above it, without creating anything (a dry run answers as the real run would)."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise WriteError(f"cannot create folder {path}: a file of that name is in the way"
                                 if folder == path else f"cannot create folder {path}: {folder} is a file")
            break
    return path


def ensure_dir(path: str | Path) -> Path:
    """mkdir -p with a one-line error when a file is in the way or the disk says no."""
    path = Path(path)
    with translated(path, "cannot create folder"):
        if path.exists() and not path.is_dir():
            raise WriteError(f"cannot create folder {path}: a file of that name is in the way")
        path.mkdir(parents=True, exist_ok=True)
    return path


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)


def temp_files(folder: str | Path, target_name: str | None = None) -> list[Path]:
    """Temporary files left in ``folder`` by writers that were killed (of one target, or all)."""
    prefix = f".{target_name}." if target_name else "."
    try:
        return [p for p in Path(folder).iterdir() if is_temp(p) and p.name.startswith(prefix)]
    except OSError:
        return []


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; write it inside the block.
    On success it becomes ``path`` (fsynced file, rename, fsynced folder)."""
    path = Path(path)
    ensure_dir(path.parent)
    with translated(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        finally:
            os.close(fd)
    tmp = Path(tmp)
    try:
        with translated(path):
            yield tmp
            fsync_file(tmp)
            os.replace(tmp, path)
            fsync_dir(path.parent)
    finally:
        if tmp.exists():
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def torch_save(obj, path: str | Path) -> Path:
    """torch.save through memory: a failed write is an ordinary OSError with a cause
    (torch's own file writer reports a full disk as '[enforce fail at inline_container.cc]')."""
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def locked(path: str | Path, what: str = "this folder") -> Iterator[None]:
    """Exclusive flock on ``path`` (a folder, or a lock file created on demand) for the
    duration of the block; refuses at once if another process holds it. The lock goes
    with the process: a killed writer never leaves a stale lock."""
    path = Path(path)
    with translated(path, "cannot lock"):
        if path.is_dir():
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"{path}: another process is writing {what} right now; wait for it "
                            "to finish or use another output") from None
        yield
    finally:
        os.close(fd)


def is_locked(path: str | Path) -> bool:
    """Whether another process holds ``locked(path)`` now (False if path is absent)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        with locked(path):
            return False
    except BusyError:
        return True


def read_json(path: str | Path, what: str, error: type[Exception]) -> tuple[str, object]:
    """The text of a JSON file and what it parses to; a missing, unreadable or damaged file
    raises ``error`` with one line naming ``path`` and ``what`` it should have been."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: damaged {what}: not valid JSON, truncated or corrupt ({e.msg} at line "
                    f"{e.lineno} column {e.colno})") from None
