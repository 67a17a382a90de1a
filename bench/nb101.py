"""NAS-Bench-101 ground truth: the official tfrecord (no TensorFlow, no protobuf package)
converted once into a compact HDF5 file, read back as a GT table.

A record's data is the JSON list

    [module_hash, epochs, adjacency, operations, base64(ModelMetrics protobuf)]

adjacency: the n*n upper-triangular matrix as a string of '0'/'1', row-major;
operations: comma-separated, 'input' first, 'output' last, the others from OPS.
ModelMetrics (nasbench/lib/model_metrics.proto, proto2): 1 repeated EvaluationData
evaluation_data, 2 int32 trainable_parameters (a varint), 3 double total_time.
EvaluationData: 1 double current_epoch, 2 double training_time, 3 double train_accuracy,
4 double validation_accuracy, 5 double test_accuracy, 6 string checkpoint_path.
Every (cell, epochs) has 3 records, one per repeat.

Which evaluations: "final" is the evaluation with the largest current_epoch, "halfway"
the one with the next largest current_epoch if that is > 0 (an evaluation at epoch 0,
where present, is ignored); accuracies are stored as in the source (fractions) and
``NB101Table.per_arch`` returns them in % like every other GT table of the harness.

GT (paper): mean final test accuracy over the 3 repeats at 108 epochs:
``NB101Table.read(path).per_arch("test_acc")``.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import os
import struct
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pandas as pd

from lmreg.bench.gt_table import GTFileError
from lmreg.bench.tfrecord import TFRecordError, iter_records
from lmreg.core.errors import UnknownNameError
from lmreg.spaces.nb201 import ArchError
from lmreg.spaces.nb101 import _load_graph_util, cell_hash, labeling  # noqa: F401  (cell hashing lives with the space)

FORMAT = "lmreg-nb101/1"
INPUT, OUTPUT = "input", "output"
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
# op codes in the HDF5 file = the labels of graph_util.hash_module; PAD fills unused vertices
OP_CODES = {INPUT: -1, OUTPUT: -2, **{op: i for i, op in enumerate(OPS)}}
PAD = -3
MAX_VERTICES = 7
METRICS = ("train_acc", "valid_acc", "test_acc", "train_time")
WHEN = ("final", "halfway")
ENV_H5 = "LMREG_NB101_H5"
DEFAULT_H5 = Path("~/.cache/lmreg/nb101.h5")


class NB101FormatError(GTFileError):
    """An NB101 record or file that is not in the expected format (one line, with the file
    and the record's byte offset where there is one)."""


class NB101HashError(ArchError):
    """Text that is not an NB101 module hash."""


_HEX_DIGITS = frozenset("0123456789abcdef")


def parse_module_hash(text: str) -> str:
    """An NB101 cell as a user names it: its module hash, 32 hex digits (the md5 that
    graph_util.hash_module gives the cell; case and surrounding blanks ignored)."""
    h = text.strip().lower() if isinstance(text, str) else ""
    if len(h) != 32 or not _HEX_DIGITS.issuperset(h):
        shown = text if isinstance(text, str) and len(text) <= 80 else f"{str(text)[:80]}..."
        raise NB101HashError(f"{shown!r} is not an NB101 module hash: expected 32 hex digits "
                             f"(got {len(h)} characters{'' if _HEX_DIGITS.issuperset(h) else ', not all hex'})")
    return h


def h5_path() -> Path:
    """Where the converted file lives: $LMREG_NB101_H5, else ~/.cache/lmreg/nb101.h5."""
    return Path(os.environ.get(ENV_H5) or DEFAULT_H5).expanduser()


def missing_message(path: Path | None = None) -> str:
    path = path or h5_path()
    return (f"NB101 ground truth not converted yet: {path} does not exist. Download "
            f"nasbench_only108.tfrecord (499 MB) and run `lmreg bench convert nb101 PATH/TO/"
            f"nasbench_only108.tfrecord` (or set {ENV_H5} to a converted file)")


# --- protobuf wire format ----------------------------------------------------------------
# The official schema, nasbench/lib/model_metrics.proto (proto2):
#   message ModelMetrics { repeated EvaluationData evaluation_data = 1;
#                          optional int32 trainable_parameters = 2; optional double total_time = 3; }
#   message EvaluationData { optional double current_epoch = 1; optional double training_time = 2;
#                            optional double train_accuracy = 3; optional double validation_accuracy = 4;
#                            optional double test_accuracy = 5; optional string checkpoint_path = 6; }
# Decoding follows protobuf: unknown fields are skipped by their wire type (groups included),
# a repeated occurrence of a scalar field overwrites the earlier one, int32 is a varint taken
# modulo 2**32 as a signed value. It is stricter where a protobuf parser would silently drop
# data: a known field with the wrong wire type is an error, not an unknown field.
@dataclass
class EvaluationData:
    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass
class ModelMetrics:
    evaluation_data: list[EvaluationData] = field(default_factory=list)
    trainable_parameters: int = 0
    total_time: float = 0.0


VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
_WIRE_NAMES = {VARINT: "varint", I64: "64-bit", LEN: "length-delimited", SGROUP: "start-group",
               EGROUP: "end-group", I32: "32-bit"}
# field number -> (name, wire type, declared type)
EVAL_FIELDS = {1: ("current_epoch", I64, "double"), 2: ("training_time", I64, "double"),
               3: ("train_accuracy", I64, "double"), 4: ("validation_accuracy", I64, "double"),
               5: ("test_accuracy", I64, "double"), 6: ("checkpoint_path", LEN, "string")}
METRICS_FIELDS = {1: ("evaluation_data", LEN, "EvaluationData"),
                  2: ("trainable_parameters", VARINT, "int32"), 3: ("total_time", I64, "double")}
_EVAL_DOUBLES = {num: name for num, (name, _, kind) in EVAL_FIELDS.items() if kind == "double"}
_double = struct.Struct("<d")
_MAX_DEPTH = 64       # nested unknown groups, as protobuf's recursion limit


class _ProtoError(ValueError):
    def __init__(self, at: int, msg: str):
        super().__init__(f"{msg} (at byte {at} of the message)")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end and buf[pos] < 0x80:   # one byte: every key and most lengths
        return buf[pos], pos + 1
    start = pos
    result = shift = 0
    while True:
        if pos >= end:
            raise _ProtoError(start, "varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise _ProtoError(start, "varint longer than 10 bytes")


def _int32(v: int) -> int:
    """A varint read as int32 (protobuf truncates to the low 32 bits; negatives are
    written sign-extended to 64 bits)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _read_field(buf: bytes, pos: int, end: int, depth: int = 0) -> tuple[int, int, int, int, int]:
    """One field at ``pos``: (field number, wire type, value, offset of its key, next pos).
    value: the integer of a varint, else the offset where the field's bytes start."""
    at = pos
    key, pos = _varint(buf, pos, end)
    num, wt = key >> 3, key & 7
    if not 0 < num < 1 << 29:
        raise _ProtoError(at, f"invalid field number {num}")
    if wt == VARINT:
        value, pos = _varint(buf, pos, end)
    elif wt == I64:
        value, pos = pos, pos + 8
    elif wt == LEN:
        n, value = _varint(buf, pos, end)
        pos = value + n
    elif wt == I32:
        value, pos = pos, pos + 4
    elif wt == SGROUP:
        value, pos = pos, _skip_group(buf, pos, end, num, at, depth + 1)
    elif wt == EGROUP:
        value = pos
    else:
        raise _ProtoError(at, f"invalid wire type {wt} (field {num})")
    if pos > end:
        raise _ProtoError(at, f"field {num} runs past the end of the message")
    return num, wt, value, at, pos


def _skip_group(buf: bytes, pos: int, end: int, num: int, at: int, depth: int) -> int:
    if depth > _MAX_DEPTH:
        raise _ProtoError(at, f"groups nested more than {_MAX_DEPTH} deep")
    while pos < end:
        n, wt, _, inner_at, pos = _read_field(buf, pos, end, depth)
        if wt == EGROUP:
            if n != num:
                raise _ProtoError(inner_at, f"end-group for field {n} inside the group of field {num}")
            return pos
    raise _ProtoError(at, f"group (field {num}) has no end-group")


def _wrong_type(at: int, message: str, num: int, name: str, wt: int, want: int, kind: str) -> _ProtoError:
    return _ProtoError(at, f"{message}.{name} (field {num}, {kind}) has wire type {wt} "
                           f"({_WIRE_NAMES.get(wt, '?')}), expected {want} ({_WIRE_NAMES[want]})")


def _check_known(at: int, message: str, num: int, wt: int, fields: dict):
    """The field's name for a known field of the right wire type, None for an unknown field."""
    if wt == EGROUP:
        raise _ProtoError(at, f"end-group (field {num}) without a start-group")
    spec = fields.get(num)
    if spec is None:
        return None
    name, want, kind = spec
    if wt != want:
        raise _wrong_type(at, message, num, name, wt, want, kind)
    return name


_EVAL_TAGS = bytes([1 << 3 | 1, 2 << 3 | 1, 3 << 3 | 1, 4 << 3 | 1, 5 << 3 | 1])
_EVAL_FIVE = struct.Struct("<xdxdxdxdxd")


def _decode_eval(buf: bytes, pos: int, end: int) -> EvaluationData:
    if end - pos >= 45 and buf[pos:pos + 45:9] == _EVAL_TAGS:
        # fast path for the usual encoding: fields 1..5 in order, each a tag byte + 8 bytes
        ev = EvaluationData(*_EVAL_FIVE.unpack_from(buf, pos))
        pos += 45
    else:
        ev = EvaluationData()
    while pos < end:
        num, wt, value, at, pos = _read_field(buf, pos, end)
        name = _check_known(at, "EvaluationData", num, wt, EVAL_FIELDS)
        if name is None:
            continue
        if num == 6:
            try:
                ev.checkpoint_path = bytes(buf[value:pos]).decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtoError(at, "EvaluationData.checkpoint_path (field 6, string) is not UTF-8") from None
        else:
            setattr(ev, name, _double.unpack_from(buf, value)[0])
    return ev


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Decode a serialized NASBench ModelMetrics message (nasbench/lib/model_metrics.proto).
    Raises ValueError with a one-line reason naming the byte offset in the message."""
    buf = bytes(buf)
    m = ModelMetrics()
    pos, end = 0, len(buf)
    while pos < end:
        num, wt, value, at, pos = _read_field(buf, pos, end)
        name = _check_known(at, "ModelMetrics", num, wt, METRICS_FIELDS)
        if name is None:
            continue
        if num == 1:
            m.evaluation_data.append(_decode_eval(buf, value, pos))
        elif num == 2:
            m.trainable_parameters = _int32(value)
        else:
            m.total_time = _double.unpack_from(buf, value)[0]
    return m


_EVAL_ORDER = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_u8 = struct.Struct("<d").unpack_from
_first = operator.itemgetter(0)


def _values_of(m: ModelMetrics) -> tuple[list[tuple], int, float]:
    return ([tuple(getattr(e, a) for a in _EVAL_ORDER) for e in m.evaluation_data],
            m.trainable_parameters, m.total_time)


def metric_values(raw: bytes) -> tuple[list[tuple], int, float]:
    """What conversion needs from a ModelMetrics message, fast: ([(current_epoch,
    training_time, train_accuracy, validation_accuracy, test_accuracy) per evaluation],
    trainable_parameters, total_time). Same result as decode_model_metrics; messages laid
    out other than the usual way (fields in number order, evaluations of five doubles and
    optionally a checkpoint path) go through it."""
    evals = []
    params, total = 0, 0.0
    pos, end = 0, len(raw)
    try:
        while pos < end:
            key = raw[pos]
            if key == 0x0A:                                  # evaluation_data
                n, start = _varint(raw, pos + 1, end)
                pos = start + n
                if pos > end:
                    break
                if n == 45 and raw[start:pos:9] == _EVAL_TAGS:
                    evals.append(_EVAL_FIVE.unpack_from(raw, start))
                else:
                    e = _decode_eval(raw, start, pos)
                    evals.append(tuple(getattr(e, a) for a in _EVAL_ORDER))
            elif key == 0x10:                                # trainable_parameters, varint int32
                v, pos = _varint(raw, pos + 1, end)
                params = _int32(v)
            elif key == 0x19 and pos + 9 <= end:             # total_time, double
                total = _u8(raw, pos + 1)[0]
                pos += 9
            else:
                break
        else:
            return evals, params, total
    except _ProtoError:
        pass
    return _values_of(decode_model_metrics(raw))   # the general decoder, and its error message


def _key(num: int, wt: int) -> bytes:
    return _encode_varint(num << 3 | wt)


def _encode_varint(v: int) -> bytes:
    v &= 0xFFFFFFFFFFFFFFFF          # negatives as 64-bit two's complement, as protobuf writes int32
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    """Serialize (for fixtures) as a protobuf encoder does, fields in number order: the five
    doubles of every evaluation, checkpoint_path when not empty, trainable_parameters as a
    varint int32, total_time as a double."""
    params = int(m.trainable_parameters)
    if params != m.trainable_parameters or not -(1 << 31) <= params < 1 << 31:
        raise ValueError(f"trainable_parameters {m.trainable_parameters!r} is not an int32")
    out = bytearray()
    for ev in m.evaluation_data:
        body = bytearray()
        for num, name in _EVAL_DOUBLES.items():
            body += _key(num, I64) + _double.pack(getattr(ev, name))
        if ev.checkpoint_path:
            path = ev.checkpoint_path.encode("utf-8")
            body += _key(6, LEN) + _encode_varint(len(path)) + path
        out += _key(1, LEN) + _encode_varint(len(body)) + body
    out += _key(2, VARINT) + _encode_varint(params)
    out += _key(3, I64) + _double.pack(m.total_time)
    return bytes(out)


# --- records -------------------------------------------------------------------------------
@dataclass
class NB101Record:
    module_hash: str
    epochs: int
    matrix: np.ndarray          # (n, n) uint8
    ops: list[str]              # n labels, 'input' ... 'output'
    metrics: ModelMetrics


def _split_record(data: bytes) -> tuple[str, int, str, str, bytes]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON ({type(e).__name__}: {str(e).splitlines()[0][:80]})") from None
    if not (isinstance(obj, list) and len(obj) == 5):
        raise ValueError("expected the JSON list [module_hash, epochs, adjacency, operations, metrics]")
    h, epochs, adj, ops, b64 = obj
    if not (isinstance(h, str) and isinstance(epochs, int) and isinstance(adj, str)
            and isinstance(ops, str) and isinstance(b64, str)):
        raise ValueError("expected [str, int, str, str, str] for [module_hash, epochs, adjacency, "
                         "operations, metrics]")
    if len(h) != 32:
        raise ValueError(f"module_hash {h[:40]!r} is not 32 hex digits")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"metrics are not base64 ({e})") from None
    return h, epochs, adj, ops, raw


def _check_cell(adj: str, ops: str) -> tuple[int, list[str]]:
    n = int(round(len(adj) ** 0.5))
    if n * n != len(adj) or n < 2 or adj.strip("01"):
        raise ValueError(f"adjacency {adj[:60]!r} is not a square 0/1 matrix")
    labels = ops.split(",")
    if len(labels) != n or labels[0] != INPUT or labels[-1] != OUTPUT \
            or any(op not in OP_CODES for op in labels[1:-1]) or INPUT in labels[1:-1] or OUTPUT in labels[1:-1]:
        raise ValueError(f"operations {ops[:120]!r} are not 'input', {n - 2} of {list(OPS)}, 'output'")
    return n, labels


def parse_record(data: bytes) -> NB101Record:
    """One record's data -> NB101Record. Raises ValueError with a one-line reason."""
    h, epochs, adj, ops, raw = _split_record(data)
    n, labels = _check_cell(adj, ops)
    try:
        metrics = decode_model_metrics(raw)
    except ValueError as e:
        raise ValueError(f"bad ModelMetrics protobuf: {e}") from None
    matrix = (np.frombuffer(adj.encode(), dtype=np.uint8) - ord("0")).reshape(n, n)
    return NB101Record(h, epochs, matrix, labels, metrics)


def encode_record(module_hash: str, epochs: int, matrix, ops: list[str], metrics: ModelMetrics) -> bytes:
    """A record's data as the official file has it (for fixtures and the benchmark)."""
    adj = "".join(str(int(v)) for v in np.asarray(matrix).reshape(-1))
    b64 = base64.b64encode(encode_model_metrics(metrics)).decode("ascii")
    return json.dumps([module_hash, int(epochs), adj, ",".join(ops), b64]).encode("utf-8")


def iter_nb101(path: str | Path, verify: bool = True) -> Iterator[tuple[int, NB101Record]]:
    """(byte offset, record) for every record of an NB101 tfrecord file."""
    try:
        for off, data in iter_records(path, verify=verify):
            try:
                yield off, parse_record(data)
            except ValueError as e:
                raise NB101FormatError(f"{path}: record at byte offset {off}: {e}") from None
    except TFRecordError as e:
        raise NB101FormatError(str(e)) from None


# --- conversion --------------------------------------------------------------------------------
_COLUMNS = [f"{w}_{m}" for w in WHEN for m in METRICS]
# one record's values as conversion collects them (evaluation tuples are epoch, time, train, valid, test)
_VALUES = [f"{w}_{m}" for w in WHEN for m in ("train_time", "train_acc", "valid_acc", "test_acc")] \
    + ["trainable_parameters", "total_time"]


def convert_nb101(tfrecord_path: str | Path, out: str | Path | None = None, *, epochs: int = 108,
                  verify_crc: bool = True, verify_hashes: bool = False, progress=None) -> Path:
    """Convert an NB101 tfrecord (nasbench_only108.tfrecord or the full file) into the compact
    HDF5 file ``out`` (default: h5_path()). Only records trained for ``epochs`` epochs are kept.

    The file is written beside ``out`` under a temporary name and renamed when complete, so an
    error leaves nothing half-written. ``verify_hashes`` recomputes every cell's module hash
    with graph_util (slow: about a minute for the 423,624 cells). ``progress``, if given, is
    called as progress(records_read, byte_offset). Returns the path written.
    """
    src = Path(tfrecord_path)
    if not src.is_file():
        raise NB101FormatError(f"{src}: no such tfrecord file")
    out = Path(out) if out is not None else h5_path()
    t0 = time.perf_counter()
    hashes: list[str] = []
    values = array("d")      # per record: _VALUES
    cells: dict[str, tuple[str, str]] = {}
    n_read = skipped = 0
    nan4 = (float("nan"),) * 4
    try:
        for off, data in iter_records(src, verify=verify_crc):
            n_read += 1
            if progress is not None and n_read % 100_000 == 0:
                progress(n_read, off)
            try:
                h, ep, adj, ops, raw = _split_record(data)
                if ep != epochs:
                    skipped += 1
                    continue
                seen = cells.get(h)
                if seen is None:
                    _check_cell(adj, ops)
                    cells[h] = (adj, ops)
                elif seen != (adj, ops):
                    raise ValueError(f"module_hash {h} appeared before with another cell")
                try:
                    evals, params, total = metric_values(raw)
                except ValueError as e:
                    raise ValueError(f"bad ModelMetrics protobuf: {e}") from None
                if not evals:
                    raise ValueError("bad ModelMetrics protobuf: no evaluation_data")
            except ValueError as e:
                raise NB101FormatError(f"{src}: record at byte offset {off}: {e}") from None
            if len(evals) > 1:
                evals = sorted(evals, key=_first)
            final = evals[-1]
            half = evals[-2] if len(evals) >= 2 and evals[-2][0] > 0 else None
            hashes.append(h)
            values.extend(final[1:] + (half[1:] if half is not None else nan4) + (params, total))
    except TFRecordError as e:
        raise NB101FormatError(str(e)) from None
    if not hashes:
        raise NB101FormatError(f"{src}: no records with epochs={epochs} ({n_read} records read)")
    t_read = time.perf_counter() - t0

    rec_hash = np.array(hashes, dtype="S32")
    del hashes
    uniq, first, inv = np.unique(rec_hash, return_index=True, return_inverse=True)
    order = np.argsort(inv, kind="stable")             # records grouped by cell, file order inside
    counts = np.bincount(inv, minlength=len(uniq))
    starts = np.cumsum(counts) - counts
    rep = np.empty(len(inv), dtype=np.int64)
    rep[order] = np.arange(len(inv)) - starts[inv[order]]
    n_rep = int(counts.max())

    table = np.frombuffer(values, dtype=np.float64).reshape(len(rec_hash), len(_VALUES))
    del values

    def per_repeat(name: str) -> np.ndarray:
        m = np.full((len(uniq), n_rep), np.nan)
        m[inv, rep] = table[:, _VALUES.index(name)]
        return m

    n_cells = len(uniq)
    names = uniq.astype(str).tolist()
    adjacency = np.zeros((n_cells, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    op_codes = np.full((n_cells, MAX_VERTICES), PAD, dtype=np.int8)
    n_vertices = np.zeros(n_cells, dtype=np.uint8)
    by_size: dict[int, list[int]] = {}
    for i, h in enumerate(names):
        adj, ops = cells[h]
        labels = ops.split(",")
        n = len(labels)
        if n > MAX_VERTICES:
            raise NB101FormatError(f"{src}: cell {h} has {n} vertices (at most {MAX_VERTICES} supported)")
        n_vertices[i] = n
        op_codes[i, :n] = [OP_CODES[o] for o in labels]
        by_size.setdefault(n, []).append(i)
    for n, idx in by_size.items():
        flat = np.frombuffer("".join(cells[names[i]][0] for i in idx).encode(), dtype=np.uint8) - ord("0")
        adjacency[np.array(idx)[:, None, None], np.arange(n)[None, :, None], np.arange(n)[None, None, :]] = \
            flat.reshape(len(idx), n, n)
    del cells
    if verify_hashes:
        for i, h in enumerate(names):
            n = n_vertices[i]
            got = cell_hash(adjacency[i, :n, :n], [_OP_NAMES[c] for c in op_codes[i, :n]])
            if got != h:
                raise NB101FormatError(f"{src}: module_hash {h} does not match its cell (graph_util gives {got})")

    p = table[first, _VALUES.index("trainable_parameters")].astype(np.int64)   # int32 in the source
    attrs = {"format": FORMAT, "space": "nb101", "task": "cifar10", "epochs": epochs,
             "repeats": n_rep, "source": src.name, "source_bytes": src.stat().st_size,
             "records_read": n_read, "records_used": len(rec_hash), "records_skipped_other_epochs": skipped,
             "ops": json.dumps(OP_CODES), "pad_code": PAD, "accuracy_unit": "fraction (as in the source)",
             "halfway": "evaluation with the largest current_epoch below the final one, if > 0",
             "hashes_verified": bool(verify_hashes), "crc_verified": bool(verify_crc),
             "read_seconds": round(t_read, 3)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(attrs)
            f.create_dataset("hash", data=uniq)
            f.create_dataset("n_vertices", data=n_vertices)
            f.create_dataset("adjacency", data=adjacency, compression="gzip", shuffle=True, chunks=True)
            f.create_dataset("ops", data=op_codes, compression="gzip", shuffle=True, chunks=True)
            f.create_dataset("trainable_parameters", data=p)
            f.create_dataset("n_repeats", data=counts.astype(np.uint8))
            f.create_dataset("total_time", data=per_repeat("total_time"))
            for c in _COLUMNS:
                f.create_dataset(c, data=per_repeat(c))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


_OP_NAMES = {v: k for k, v in OP_CODES.items()}


# --- reading the converted file -----------------------------------------------------------------
def is_nb101_file(path: str | Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


class NB101Table:
    """The converted NB101 file. Loads the cell hashes at once and every other array on
    first use, so the GT of all cells is a few milliseconds of I/O.

    A bench.ground_truth.GroundTruth: per_arch, seed_matrix, frame, space, task, metrics,
    epochs, seeds, scalars, recipe, meta, len (rows = cell x repeat with data). Epochs are
    halfway (``epochs // 2``) and final (-1, ``epochs - 1`` or ``epochs``) only."""

    space = "nb101"
    task = "cifar10"

    def __init__(self, path: Path, attrs: dict, hashes: np.ndarray):
        self.path = path
        self.attrs = attrs
        self.hashes = hashes                      # (cells,) S32, sorted
        self._cache: dict[str, np.ndarray] = {}
        self._index: pd.Index | None = None

    @classmethod
    def read(cls, path: str | Path | None = None) -> "NB101Table":
        path = Path(path) if path is not None else h5_path()
        if not path.is_file():
            raise NB101FormatError(missing_message(path))
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise NB101FormatError(f"{path}: not a converted NB101 file (format "
                                           f"{f.attrs.get('format')!r}, expected {FORMAT!r})")
                attrs = dict(f.attrs)
                hashes = f["hash"][()]
        except NB101FormatError:
            raise
        except (OSError, KeyError, ValueError) as e:
            raise NB101FormatError(f"{path}: unreadable NB101 file ({type(e).__name__}: {e})") from None
        return cls(path, attrs, hashes)

    def array(self, name: str) -> np.ndarray:
        """A stored dataset (cached): hash, n_vertices, adjacency, ops, trainable_parameters,
        n_repeats, total_time, {final,halfway}_{train_acc,valid_acc,test_acc,train_time}."""
        if name not in self._cache:
            try:
                with h5py.File(self.path, "r") as f:
                    self._cache[name] = f[name][()]
            except KeyError:
                raise KeyError(f"{self.path} has no dataset {name!r}") from None
        return self._cache[name]

    # GTTable-like views ----------------------------------------------------------------
    @property
    def index(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(self.hashes.astype(str), dtype=object, name="arch")
        return self._index

    @property
    def archs(self) -> list[str]:
        return self.index.tolist()

    @property
    def epochs(self) -> int:
        return int(self.attrs["epochs"])

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS

    @property
    def recipe(self) -> dict:
        return {"source": "NAS-Bench-101 (Ying et al. 2019), CIFAR-10", "epochs": self.epochs,
                "repeats": int(self.attrs["repeats"]), "converted_from": str(self.attrs["source"])}

    @property
    def meta(self) -> dict:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in self.attrs.items()}

    def _when(self, epoch) -> str:
        if epoch in (-1, self.epochs - 1, self.epochs, "final"):
            return "final"
        if epoch in (self.epochs // 2, "halfway"):
            return "halfway"
        raise KeyError(f"NB101 has evaluations at epochs {self.epochs // 2} (halfway) and "
                       f"{self.epochs} (final, also -1 or {self.epochs - 1}), not {epoch!r}")

    def repeats(self, metric: str = "test_acc", epoch=-1) -> np.ndarray:
        """(cells, repeats) in the source's unit (accuracies as fractions, times in s), NaN
        where a repeat is missing."""
        if metric not in METRICS:
            raise UnknownNameError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
        return self.array(f"{self._when(epoch)}_{metric}")

    def _pct(self, metric: str, values: np.ndarray) -> np.ndarray:
        return values * 100.0 if metric.endswith("_acc") else values

    def per_arch(self, metric: str = "test_acc", epoch=-1) -> pd.Series:
        """Mean over repeats, indexed by module hash; accuracies in %. Cells with no value
        are dropped. per_arch('test_acc') is the paper's NB101 GT."""
        m = self.repeats(metric, epoch)
        missing = np.isnan(m)
        if not missing.any():
            n = np.full(len(m), m.shape[1])
            mean = m.mean(axis=1)
        else:
            n = m.shape[1] - missing.sum(axis=1)
            mean = np.where(n > 0, np.where(missing, 0.0, m).sum(axis=1) / np.maximum(n, 1), np.nan)
        s = pd.Series(self._pct(metric, mean), index=self.index, name=metric)
        return s if n.all() else s[n > 0]

    def seed_matrix(self, metric: str = "test_acc", epoch=-1) -> pd.DataFrame:
        m = self._pct(metric, self.repeats(metric, epoch))
        return pd.DataFrame(m, index=self.index, columns=pd.RangeIndex(m.shape[1], name="seed"))

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        have = ~np.isnan(self.array("final_test_acc"))
        return np.nonzero(have)

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.array("final_test_acc"))))

    @property
    def seeds(self) -> np.ndarray:
        return self._rows()[1]

    @property
    def scalars(self) -> dict[str, np.ndarray]:
        cell, rep = self._rows()
        return {"wall_time": self.array("final_train_time")[cell, rep],
                "params": self.array("trainable_parameters")[cell]}

    def frame(self, epoch=-1) -> pd.DataFrame:
        """One row per (cell, repeat): accuracies in %, training time, parameters."""
        cell, rep = self._rows()
        data = {"arch": self.index[cell], "seed": rep}
        for m in METRICS:
            data[m] = self._pct(m, self.repeats(m, epoch)[cell, rep])
        data["params"] = self.array("trainable_parameters")[cell]
        return pd.DataFrame(data)

    def find(self, module_hash: str) -> int | None:
        """Row of a cell hash, None if the file has no such cell."""
        key = module_hash.encode()
        i = int(np.searchsorted(self.hashes, key))
        return i if i < len(self.hashes) and self.hashes[i] == key else None

    def rows(self, module_hash: str, epoch=-1) -> pd.DataFrame:
        """One row per repeat with data of one cell (none if the hash is not in the file):
        seed, accuracies in %, training time, parameters."""
        i = self.find(module_hash)
        cols = ["seed", *METRICS, "params"]
        if i is None:
            return pd.DataFrame(columns=cols)
        have = np.flatnonzero(~np.isnan(self.repeats("test_acc", epoch)[i]))
        data = {"seed": have}
        for m in METRICS:
            data[m] = self._pct(m, self.repeats(m, epoch)[i, have])
        data["params"] = np.full(len(have), int(self.array("trainable_parameters")[i]))
        return pd.DataFrame(data, columns=cols)

    def cell(self, module_hash: str) -> dict:
        """Matrix, ops and all metrics of one cell."""
        i = self.find(module_hash)
        if i is None:
            raise KeyError(f"{module_hash!r} is not an NB101 cell hash in {self.path}")
        n = int(self.array("n_vertices")[i])
        out = {"hash": module_hash, "matrix": self.array("adjacency")[i, :n, :n].copy(),
               "ops": [_OP_NAMES[int(c)] for c in self.array("ops")[i, :n]],
               "trainable_parameters": int(self.array("trainable_parameters")[i])}
        for c in _COLUMNS:
            out[c] = self.array(c)[i].tolist()
        return out

    def __repr__(self) -> str:
        return f"NB101Table({self.path}, {len(self.hashes)} cells, epochs={self.epochs})"
