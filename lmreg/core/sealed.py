"""HDF5 files that carry the SHA-256 of their own bytes in the HDF5 user block (a
header the HDF5 library skips), so that a damaged file is refused before the HDF5
library parses it: a flipped byte can otherwise change a number silently, raise any
exception type, or crash the library outright. Files written without a seal (older
records and tables) are read as before."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Callable

import h5py

BLOCK = 512  # the smallest user block HDF5 allows
MAGIC = b"lmreg-sha256 "


def sealed_bytes(fill: Callable[[h5py.File], None]) -> bytes:
    """The bytes of a new HDF5 file written by ``fill(file)``, sealed."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=BLOCK) as f:
        fill(f)
    data = bytearray(buf.getvalue())
    data[:BLOCK] = (MAGIC + hashlib.sha256(data[BLOCK:]).hexdigest().encode() + b"\n").ljust(BLOCK, b"\0")
    return bytes(data)


def damage(path: str | Path) -> str | None:
    """Why the file at ``path`` is damaged (its seal does not match its bytes), or None
    when it matches or has no seal."""
    with open(path, "rb") as f:
        head = f.read(BLOCK)
        if not head.startswith(MAGIC):
            return None
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    stored = head[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace")
    return None if stored == digest.hexdigest() else "its bytes do not match the checksum it was written with"
