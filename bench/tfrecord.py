"""TFRecord files without TensorFlow: a checked reader and a writer.

Framing of one record (all integers little-endian):

    uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

with masked_crc(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32) and CRC32C the
Castagnoli CRC (reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF).

CRC32C comes from the `google-crc32c` or `crc32c` package when one is installed; otherwise
from this module: one record at a time with a 256-entry table, and many records at once
with numpy (all records of a block advance together, 8 bytes per step through four
65,536-entry tables), which is what makes checking a 500 MB file practical in pure Python.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

POLY = 0x82F63B78
MASK_DELTA = 0xA282EAD8
HEADER = 12           # uint64 length + uint32 crc
FOOTER = 4            # uint32 crc
BLOCK_SIZE = 1 << 25  # bytes read (and checked with numpy) at a time
_BATCH_BYTES = 1 << 23
_LONG_RECORD = 1 << 16  # records longer than this are checked one by one


class TFRecordError(ValueError):
    """A TFRecord file that is truncated or fails a CRC check; the message names the
    file and the byte offset of the record."""


# --- CRC32C ----------------------------------------------------------------------------
def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint64)


def _crc32c_py(data: bytes, crc: int = 0) -> int:
    c = crc ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _find_backend():
    try:
        import google_crc32c  # type: ignore
        if getattr(google_crc32c, "implementation", "c") == "c":
            return "google-crc32c", google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c as _crc32c  # type: ignore
        return "crc32c", _crc32c.crc32c
    except ImportError:
        pass
    return "python", _crc32c_py


BACKEND, _crc32c_native = _find_backend()


def crc32c(data: bytes, pure_python: bool = False) -> int:
    """CRC32C (Castagnoli) of ``data``, e.g. crc32c(b"123456789") == 0xE3069283."""
    return _crc32c_py(data) if pure_python else _crc32c_native(bytes(data))


def mask(crc) -> int:
    """TFRecord's masked CRC; works on ints and on numpy uint64 arrays."""
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return mask(crc32c(data))


# numpy, many records at once ------------------------------------------------------------
# Linearity over GF(2): crc(data) = raw(data) ^ start(len(data)) ^ 0xFFFFFFFF, where raw is the
# register run from 0 (leading zero bytes leave it at 0, so records of different lengths can be
# right-aligned in a zero-padded matrix) and start(L) is the register after L zero bytes run
# from 0xFFFFFFFF.
def _make_word_tables() -> np.ndarray:
    """tables[j][v]: raw CRC of the 8 bytes holding the 16-bit little-endian value v at
    bytes 2j, 2j+1 and zeros elsewhere."""
    v = np.arange(1 << 16, dtype=np.uint64)
    tables = np.empty((4, 1 << 16), dtype=np.uint64)
    for j in range(4):
        c = np.zeros(1 << 16, dtype=np.uint64)
        for pos in range(8):
            byte = (v >> np.uint64(8 * (pos - 2 * j))) & np.uint64(0xFF) if pos in (2 * j, 2 * j + 1) \
                else np.zeros_like(v)
            c = _TABLE_NP[(c ^ byte) & np.uint64(0xFF)] ^ (c >> np.uint64(8))
        tables[j] = c
    return tables


_WORD_TABLES: np.ndarray | None = None
_START: list[int] = [0xFFFFFFFF]


def _start_states(max_len: int) -> np.ndarray:
    while len(_START) <= max_len:
        c = _START[-1]
        _START.append(_TABLE[c & 0xFF] ^ (c >> 8))
    return np.array(_START[:max_len + 1], dtype=np.uint64)


def _crc_rows(mat: np.ndarray) -> np.ndarray:
    """Raw CRC (from 0, no final xor) of each row of a C-contiguous uint8 matrix whose
    width is a multiple of 8."""
    global _WORD_TABLES
    if _WORD_TABLES is None:
        _WORD_TABLES = _make_word_tables()
    t0, t1, t2, t3 = _WORD_TABLES
    words = np.ascontiguousarray(mat.view("<u8").T)      # (columns, rows)
    crc = np.zeros(mat.shape[0], dtype=np.uint64)
    for col in words:
        x = (crc ^ col).view(np.uint16).reshape(-1, 4)
        crc = t0[x[:, 0]] ^ t1[x[:, 1]] ^ t2[x[:, 2]] ^ t3[x[:, 3]]
    return crc


def crc32c_many(buf: np.ndarray, offsets, lengths) -> np.ndarray:
    """CRC32C of ``buf[o:o+n]`` for each (o, n), as a uint64 array."""
    buf = np.asarray(buf, dtype=np.uint8)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.empty(len(offsets), dtype=np.uint64)
    if BACKEND != "python" or sys.byteorder != "little":
        raw = buf.tobytes() if BACKEND == "python" else memoryview(buf)
        for i, (o, n) in enumerate(zip(offsets.tolist(), lengths.tolist())):
            out[i] = crc32c(raw[o:o + n])
        return out
    long = lengths > _LONG_RECORD
    for i in np.flatnonzero(long).tolist():
        out[i] = _crc32c_py(buf[offsets[i]:offsets[i] + lengths[i]].tobytes())
    short = np.flatnonzero(~long)
    if len(short) == 0:
        return out
    # records of similar length together, so little of each matrix is padding
    short = short[np.argsort(lengths[short], kind="stable")]
    sorted_lens = lengths[short]
    pad = int(-(-sorted_lens[-1] // 8) * 8) or 8
    padded = np.concatenate([np.zeros(pad, dtype=np.uint8), buf])
    i = 0
    while i < len(short):
        rows = len(short) - i
        while True:  # largest batch whose padded matrix stays under _BATCH_BYTES
            width = int(-(-sorted_lens[i + rows - 1] // 8) * 8) or 8
            if rows == 1 or rows * width <= _BATCH_BYTES:
                break
            rows = max(1, min(rows - 1, _BATCH_BYTES // width))
        idx = short[i:i + rows]
        lens = lengths[idx]
        # row r: the `width` bytes ending where record r ends, then the bytes before it zeroed
        mat = sliding_window_view(padded, width)[offsets[idx] + lens - width + pad]
        mat *= np.arange(width)[None, :] >= (width - lens)[:, None]
        start = _start_states(int(lens.max()))
        out[idx] = _crc_rows(mat) ^ start[lens] ^ np.uint64(0xFFFFFFFF)
        i += rows
    return out


def _u32_at(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    b = [buf[offsets + k].astype(np.uint64) for k in range(4)]
    return b[0] | (b[1] << np.uint64(8)) | (b[2] << np.uint64(16)) | (b[3] << np.uint64(24))


# --- reading ---------------------------------------------------------------------------------
def _check_block(path, buf: np.ndarray, base: int, offs: list[int], lens: list[int]) -> None:
    """Raise TFRecordError for the first record of the block whose length or data CRC fails."""
    if not offs:
        return
    o = np.array(offs, dtype=np.int64)
    n = np.array(lens, dtype=np.int64)
    bad_len = mask(crc32c_many(buf, o, np.full(len(o), 8))) != _u32_at(buf, o + 8)
    bad_data = mask(crc32c_many(buf, o + HEADER, n)) != _u32_at(buf, o + HEADER + n)
    bad = np.flatnonzero(bad_len | bad_data)
    if len(bad):
        i = int(bad[0])
        what = ("length field fails its CRC (corrupt length)" if bad_len[i]
                else f"data ({lens[i]} bytes) fails its CRC (corrupt data)")
        raise TFRecordError(f"{path}: corrupt TFRecord: record at byte offset {base + offs[i]}: {what}")


def iter_records(path: str | Path, verify: bool = True, block_size: int = BLOCK_SIZE
                 ) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset of the record, data) for every record of a TFRecord file.

    With ``verify`` (default) every CRC is checked, a block at a time, before any record
    of that block is yielded. Truncation is always detected. Errors are TFRecordError
    naming the file and the record's byte offset.
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        yield from _iter_open(f, path, size, verify, block_size)


def _iter_open(f: BinaryIO, path: Path, size: int, verify: bool, block_size: int):
    buf = b""
    base = 0          # file offset of buf[0]
    need = HEADER
    unpack = struct.Struct("<Q").unpack_from
    while True:
        chunk = f.read(max(block_size, need - len(buf)))
        buf += chunk
        n = len(buf)
        arr = np.frombuffer(buf, dtype=np.uint8)
        offs: list[int] = []
        lens: list[int] = []
        pos = 0
        problem = None
        while pos + HEADER <= n:
            (length,) = unpack(buf, pos)
            end = pos + HEADER + length + FOOTER
            if end > n:
                if base + end > size or (verify and not _header_ok(buf, pos)):
                    problem = pos
                break
            offs.append(pos)
            lens.append(length)
            pos = end
        if verify:
            _check_block(path, arr, base, offs, lens)
        for o, length in zip(offs, lens):
            yield base + o, buf[o + HEADER:o + HEADER + length]
        at_eof = not chunk or base + n >= size
        if problem is not None or (at_eof and pos < n):
            _raise_truncated(path, buf, base, pos, size)
        if at_eof:
            return
        need = HEADER if pos + HEADER > n else HEADER + unpack(buf, pos)[0] + FOOTER
        buf = buf[pos:]
        base += pos


def _header_ok(buf: bytes, pos: int) -> bool:
    return mask(crc32c(buf[pos:pos + 8])) == struct.unpack_from("<I", buf, pos + 8)[0]


def _raise_truncated(path, buf, base, pos, size):
    left = len(buf) - pos
    if left < HEADER:
        raise TFRecordError(f"{path}: truncated TFRecord: record at byte offset {base + pos} has "
                            f"{left} of the {HEADER} header bytes (file ends at byte {size})")
    if not _header_ok(buf, pos):
        raise TFRecordError(f"{path}: corrupt TFRecord: record at byte offset {base + pos}: "
                            "length field fails its CRC (corrupt length)")
    (length,) = struct.unpack_from("<Q", buf, pos)
    raise TFRecordError(f"{path}: truncated TFRecord: record at byte offset {base + pos} needs "
                        f"{HEADER + length + FOOTER} bytes but the file ends at byte {size} "
                        f"({left} bytes left)")


def read_records(path: str | Path, verify: bool = True) -> list[bytes]:
    return [data for _, data in iter_records(path, verify)]


# --- writing ---------------------------------------------------------------------------------
def frame_records(records: list[bytes]) -> bytes:
    """The TFRecord bytes of a list of records (CRCs computed together)."""
    if not records:
        return b""
    lens = np.array([len(r) for r in records], dtype=np.int64)
    heads = np.array(lens, dtype="<u8").tobytes()
    head_arr = np.frombuffer(heads, dtype=np.uint8)
    len_crc = mask(crc32c_many(head_arr, np.arange(len(records)) * 8, np.full(len(records), 8)))
    data = b"".join(records)
    data_arr = np.frombuffer(data, dtype=np.uint8)
    data_crc = mask(crc32c_many(data_arr, np.cumsum(lens) - lens, lens))
    len_crc = len_crc.astype("<u4").tolist()
    data_crc = data_crc.astype("<u4").tolist()
    pack = struct.Struct("<QI").pack
    pack_crc = struct.Struct("<I").pack
    parts = []
    for r, n, lc, dc in zip(records, lens.tolist(), len_crc, data_crc):
        parts += (pack(n, lc), r, pack_crc(dc))
    return b"".join(parts)


class TFRecordWriter:
    """Writes records with valid framing; buffers ``batch`` records so CRCs are computed
    together. Use as a context manager (or call close())."""

    def __init__(self, path: str | Path, batch: int = 8192):
        self.path = Path(path)
        self._f = open(self.path, "wb")
        self._pending: list[bytes] = []
        self._batch = batch
        self.count = 0

    def write(self, record: bytes) -> None:
        self._pending.append(bytes(record))
        self.count += 1
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        self._f.write(frame_records(self._pending))
        self._pending = []
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_records(path: str | Path, records: Iterable[bytes]) -> int:
    """Write all records to ``path``; returns how many."""
    with TFRecordWriter(path) as w:
        for r in records:
            w.write(r)
    return w.count
