"""NB101 ground truth: TFRecord framing and CRCs, the ModelMetrics wire format, cell hashes
that agree with nasbench_pytorch's graph_util, conversion to HDF5 and the GT view.

The fixture tfrecord is written by the tests with bench.tfrecord's writer; the real
nasbench_only108.tfrecord is used only when LMREG_NB101_TFRECORD names it."""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmreg.bench import nb101, registry, tfrecord
from lmreg.bench.gt_table import GTFileError
from lmreg.bench.landmarks import select_landmarks, select_pool
from lmreg.bench.nb101 import EvaluationData, ModelMetrics

graph_util = pytest.importorskip("nasbench_pytorch.model.graph_util")

CONV3, CONV1, POOL = nb101.OPS

CELLS = [  # (matrix, ops)
    ([[0, 1], [0, 0]], ["input", "output"]),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV3, "output"]),
    ([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     ["input", CONV3, CONV1, POOL, "output"]),
    ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
     ["input", CONV3, CONV1, CONV3, POOL, CONV1, "output"]),
]


def gu_hash(matrix, ops) -> str:
    """The fixture's module hash, computed by nasbench_pytorch's graph_util itself."""
    labels = [-1] + [list(nb101.OPS).index(o) for o in ops[1:-1]] + [-2]
    return graph_util.hash_module(np.array(matrix), labels)


def metrics_for(cell: int, rep: int, epochs: int = 108, halfway: bool = True) -> ModelMetrics:
    def ev(epoch, k):
        base = 0.5 + cell / 16 + rep / 128 + k / 1024          # exact binary fractions
        return EvaluationData(current_epoch=float(epoch), training_time=100.0 * cell + 10 * rep + k,
                              train_accuracy=base + 1 / 512, validation_accuracy=base,
                              test_accuracy=base - 1 / 256,
                              checkpoint_path=f"gs://bucket/{cell}/{rep}/model.ckpt-{epoch}")
    evals = [ev(0, 0)] + ([ev(epochs // 2, 1)] if halfway else []) + [ev(epochs, 2)]
    return ModelMetrics(evaluation_data=evals, trainable_parameters=1000 * (cell + 1) + 227_274,
                        total_time=1000.0 + cell)


def fixture_records() -> list[bytes]:
    """3 repeats of each cell at 108 epochs, interleaved, plus 12-epoch records to skip; the
    last cell has no halfway evaluation in repeat 2, and cell 2 only two repeats."""
    records = []
    for rep in range(3):
        for c, (m, ops) in enumerate(CELLS):
            if c == 2 and rep == 2:
                continue
            records.append(nb101.encode_record(gu_hash(m, ops), 108, m, ops,
                                               metrics_for(c, rep, halfway=not (c == 3 and rep == 2))))
            records.append(nb101.encode_record(gu_hash(m, ops), 12, m, ops, metrics_for(c, rep, 12)))
    return records


@pytest.fixture
def tfr(tmp_path) -> Path:
    path = tmp_path / "nb101_fixture.tfrecord"
    tfrecord.write_records(path, fixture_records())
    return path


@pytest.fixture
def h5(tfr, tmp_path) -> Path:
    return nb101.convert_nb101(tfr, tmp_path / "nb101.h5", verify_hashes=True)


# --- TFRecord framing ------------------------------------------------------------------------
def test_crc32c_known_values():
    assert tfrecord.crc32c(b"123456789") == 0xE3069283
    assert tfrecord.crc32c(b"123456789", pure_python=True) == 0xE3069283
    assert tfrecord.crc32c(b"") == 0
    # RFC 3720 (iSCSI) test vectors
    assert tfrecord.crc32c(bytes(32), pure_python=True) == 0x8A9136AA
    assert tfrecord.crc32c(b"\xff" * 32, pure_python=True) == 0x62A8AB43
    assert tfrecord.crc32c(bytes(range(32)), pure_python=True) == 0x46DD794E


def test_crc32c_many_matches_one_at_a_time():
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, 300_000, dtype=np.uint8)
    lens = np.concatenate([[0, 1, 7, 8, 9, 70_000], rng.integers(0, 3000, 600)])
    offs = rng.integers(0, len(buf) - lens)
    raw = buf.tobytes()
    expect = [tfrecord.crc32c(raw[o:o + n], pure_python=True) for o, n in zip(offs, lens)]
    assert tfrecord.crc32c_many(buf, offs, lens).tolist() == expect


def test_framing_layout_and_round_trip(tmp_path):
    records = [b"", b"x", b"hello world" * 3, os.urandom(5000), os.urandom(70_000)]
    path = tmp_path / "r.tfrecord"
    assert tfrecord.write_records(path, records) == len(records)
    raw = path.read_bytes()
    (length,) = struct.unpack_from("<Q", raw, 0)
    assert length == 0
    assert struct.unpack_from("<I", raw, 8)[0] == tfrecord.masked_crc32c(raw[:8])
    assert struct.unpack_from("<I", raw, 12)[0] == tfrecord.masked_crc32c(b"")
    assert tfrecord.read_records(path) == records
    # tiny blocks: every record straddles a block boundary
    got = list(tfrecord.iter_records(path, block_size=7))
    assert [d for _, d in got] == records
    assert got[1][0] == 16 and got[2][0] == 16 + 17


def _corrupt(src: Path, dst: Path, at: int) -> Path:
    raw = bytearray(src.read_bytes())
    raw[at] ^= 0x40
    dst.write_bytes(bytes(raw))
    return dst


def test_corruption_names_file_and_offset(tmp_path):
    records = [b"a" * 10, b"b" * 20, b"c" * 30]
    path = tmp_path / "ok.tfrecord"
    tfrecord.write_records(path, records)
    second = 12 + 10 + 4
    bad = _corrupt(path, tmp_path / "data.tfrecord", second + 12 + 5)          # a data byte
    with pytest.raises(tfrecord.TFRecordError, match=rf"data.tfrecord.*byte offset {second}\b.*corrupt data"):
        tfrecord.read_records(bad)
    bad = _corrupt(path, tmp_path / "len.tfrecord", second + 1)                # a length byte
    with pytest.raises(tfrecord.TFRecordError, match=rf"len.tfrecord.*byte offset {second}\b.*corrupt length"):
        tfrecord.read_records(bad)
    bad = _corrupt(path, tmp_path / "big.tfrecord", second + 6)                # length -> huge
    with pytest.raises(tfrecord.TFRecordError, match=rf"byte offset {second}\b.*corrupt length"):
        tfrecord.read_records(bad)
    bad = _corrupt(path, tmp_path / "crc.tfrecord", second + 12 + 20)          # the stored data CRC
    with pytest.raises(tfrecord.TFRecordError, match=rf"byte offset {second}\b"):
        tfrecord.read_records(bad)
    # without verification the corrupt data passes, as with TensorFlow's reader
    assert len(tfrecord.read_records(_corrupt(path, tmp_path / "nv.tfrecord", second + 14), verify=False)) == 3


def test_truncation_names_offset(tmp_path):
    path = tmp_path / "t.tfrecord"
    tfrecord.write_records(path, [b"a" * 10, b"b" * 20])
    raw = path.read_bytes()
    second = 12 + 10 + 4
    for cut, what in [(len(raw) - 1, "needs 36 bytes"), (second + 5, "5 of the 12 header bytes")]:
        (tmp_path / "cut.tfrecord").write_bytes(raw[:cut])
        with pytest.raises(tfrecord.TFRecordError) as err:
            tfrecord.read_records(tmp_path / "cut.tfrecord")
        msg = str(err.value)
        assert "cut.tfrecord" in msg and f"byte offset {second}" in msg and what in msg and "\n" not in msg


# --- ModelMetrics wire format -----------------------------------------------------------------
def test_model_metrics_round_trip_and_unknown_fields():
    m = metrics_for(3, 1)
    raw = nb101.encode_model_metrics(m)
    assert nb101.decode_model_metrics(raw) == m
    # trainable_parameters is a varint int32: 227_274 + 4000 takes 3 bytes after the key 0x10
    assert raw[-13:-9] == bytes([0x10]) + nb101._encode_varint(231_274) and len(raw[-12:-9]) == 3
    # unknown fields are skipped by wire type: varint 9, fixed32 10, bytes 11, fixed64 7, and
    # a group 12 holding a varint and a nested group
    group = bytes([12 << 3 | 3, 1 << 3 | 0, 5, 13 << 3 | 3, 13 << 3 | 4, 12 << 3 | 4])
    extra = bytes([9 << 3 | 0, 0x96, 0x01, 10 << 3 | 5, 1, 2, 3, 4, 11 << 3 | 2, 2, 0x41, 0x42]) + group
    ev = bytes([7 << 3 | 2, 16]) + struct.pack("<2d", 1.0, 2.0) + bytes([7 << 3 | 1]) + struct.pack("<d", 3.0) \
        + group + bytes([4 << 3 | 1]) + struct.pack("<d", 0.75)
    got = nb101.decode_model_metrics(extra + bytes([1 << 3 | 2, len(ev)]) + ev + bytes([2 << 3, 0x2A]))
    assert got.evaluation_data == [EvaluationData(validation_accuracy=0.75)]
    assert got.trainable_parameters == 42 and got.total_time == 0.0
    # int32 as protobuf writes a negative: ten bytes, sign-extended; the last occurrence wins
    neg = nb101.encode_model_metrics(ModelMetrics(trainable_parameters=-5))
    assert neg[:11] == bytes([0x10, 0xFB] + [0xFF] * 8 + [0x01])
    assert nb101.decode_model_metrics(bytes([0x10, 7]) + neg).trainable_parameters == -5
    with pytest.raises(ValueError, match="not an int32"):
        nb101.encode_model_metrics(ModelMetrics(trainable_parameters=1 << 31))


def test_fast_metric_values_agree_with_decoder():
    plain = metrics_for(2, 0)
    for ev in plain.evaluation_data:
        ev.checkpoint_path = ""                      # the 45-byte layout of the fast path
    with_paths = metrics_for(2, 1)
    raws = [nb101.encode_model_metrics(m) for m in (plain, with_paths, ModelMetrics())]
    raws.append(bytes([9 << 3, 1]) + raws[0])           # unknown field first: generic path
    raws.append(raws[0][47:] + raws[0][:47])            # an evaluation after the doubles
    for raw in raws:
        m = nb101.decode_model_metrics(raw)
        expect = ([(e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy,
                    e.test_accuracy) for e in m.evaluation_data], m.trainable_parameters, m.total_time)
        assert nb101.metric_values(raw) == expect
    assert nb101.metric_values(raws[0])[0][2] == (108.0, 202.0, *[getattr(plain.evaluation_data[2], a)
                                                  for a in ("train_accuracy", "validation_accuracy", "test_accuracy")])
    with pytest.raises(ValueError):
        nb101.metric_values(raws[0][:-3])


@pytest.mark.parametrize("raw, why", [
    (bytes([3 << 3 | 1, 1, 2]), r"field 3 runs past the end .*at byte 0"),   # truncated double
    (bytes([3 << 3 | 0, 5]), r"total_time \(field 3, double\) has wire type 0"),
    # the old mistake: trainable_parameters written as a double
    (bytes([2 << 3 | 1]) + struct.pack("<d", 1e6), r"trainable_parameters \(field 2, int32\) has wire type 1"),
    (bytes([1 << 3 | 2, 9, 1]), "past the end"),            # sub-message longer than the buffer
    (bytes([0x80] * 11), "varint"),
    (bytes([1 << 3 | 3, 1 << 3 | 4]), "wire type 3"),       # a known field as a group
    (bytes([0x10, 1, 9 << 3 | 3, 1 << 3, 1]), r"group \(field 9\) has no end-group \(at byte 2"),
    (bytes([9 << 3 | 4]), "end-group"),
    (bytes([9 << 3 | 6]), "invalid wire type 6"),
    (bytes([0x08 | 2, 3, 4 << 3 | 0, 1, 0]), r"EvaluationData.validation_accuracy.*wire type 0"),
    (bytes([1 << 3 | 2, 3, 6 << 3 | 2, 1, 0xFF]), r"checkpoint_path .*not UTF-8 \(at byte 2"),
])
def test_model_metrics_errors(raw, why):
    with pytest.raises(ValueError, match=why):
        nb101.decode_model_metrics(raw)


# --- against an independent reference: the protobuf package and the official schema ------------
# The message classes are built by the `protobuf` package from the field list of the official
# nasbench/lib/model_metrics.proto; records are framed here with a bitwise CRC32C. Neither
# bench.nb101's encoder nor bench.tfrecord's writer is used to make these files.
EVAL_SCHEMA = [("current_epoch", 1, "double"), ("training_time", 2, "double"),
               ("train_accuracy", 3, "double"), ("validation_accuracy", 4, "double"),
               ("test_accuracy", 5, "double"), ("checkpoint_path", 6, "string")]
METRICS_SCHEMA = [("evaluation_data", 1, "repeated EvaluationData"), ("trainable_parameters", 2, "int32"),
                  ("total_time", 3, "double")]


def _message_classes(package: str, extra: bool = False) -> dict:
    """{'ModelMetrics': class, 'EvaluationData': class} from the official field list; with
    ``extra``, fields the official schema lacks are added (a newer writer's message)."""
    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    from google.protobuf import descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    types = {"double": F.TYPE_DOUBLE, "string": F.TYPE_STRING, "int32": F.TYPE_INT32, "int64": F.TYPE_INT64}
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{package}/model_metrics.proto", package=package,
                                             syntax="proto2")
    ev = fdp.message_type.add(name="EvaluationData")
    for name, num, kind in EVAL_SCHEMA:
        ev.field.add(name=name, number=num, label=F.LABEL_OPTIONAL, type=types[kind])
    mm = fdp.message_type.add(name="ModelMetrics")
    for name, num, kind in METRICS_SCHEMA:
        if kind.startswith("repeated"):
            mm.field.add(name=name, number=num, label=F.LABEL_REPEATED, type=F.TYPE_MESSAGE,
                         type_name=f".{package}.EvaluationData")
        else:
            mm.field.add(name=name, number=num, label=F.LABEL_OPTIONAL, type=types[kind])
    if extra:
        f = ev.field.add(name="predictions", number=7, label=F.LABEL_REPEATED, type=F.TYPE_DOUBLE)
        f.options.packed = True
        mm.field.add(name="notes", number=9, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING)
        mm.field.add(name="steps", number=10, label=F.LABEL_REPEATED, type=F.TYPE_INT64)
        mm.field.add(name="loss", number=11, label=F.LABEL_OPTIONAL, type=F.TYPE_FLOAT)
        mm.field.add(name="sub", number=12, label=F.LABEL_OPTIONAL, type=F.TYPE_MESSAGE,
                     type_name=f".{package}.EvaluationData")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = getattr(message_factory, "GetMessageClass", None)
    out = {}
    for name in ("ModelMetrics", "EvaluationData"):
        desc = pool.FindMessageTypeByName(f"{package}.{name}")
        out[name] = get(desc) if get else message_factory.MessageFactory(pool).GetPrototype(desc)
    return out


@pytest.fixture(scope="module")
def pb():
    return _message_classes("nasbench")["ModelMetrics"]


def _crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    c = _crc32c_bitwise(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _frame(records: list[bytes]) -> bytes:
    """TFRecord framing: uint64 length, masked CRC32C of those 8 bytes, data, masked CRC32C of data."""
    out = b""
    for r in records:
        head = struct.pack("<Q", len(r))
        out += head + struct.pack("<I", _masked(head)) + r + struct.pack("<I", _masked(r))
    return out


def _unframe(raw: bytes) -> list[bytes]:
    records, pos = [], 0
    while pos < len(raw):
        head = raw[pos:pos + 8]
        assert struct.unpack_from("<I", raw, pos + 8)[0] == _masked(head)
        (n,) = struct.unpack("<Q", head)
        data = raw[pos + 12:pos + 12 + n]
        assert len(data) == n and struct.unpack_from("<I", raw, pos + 12 + n)[0] == _masked(data)
        records.append(data)
        pos += 16 + n
    return records


def _official_record(h: str, epochs: int, matrix, ops, msg) -> bytes:
    """A record as the official file holds it (what nasbench/api.py json.loads)."""
    adj = "".join(str(v) for row in matrix for v in row)
    return json.dumps([h, epochs, adj, ",".join(ops),
                       base64.b64encode(msg.SerializeToString()).decode("ascii")]).encode()


def _pb_metrics(cls, rng, cell: int, rep: int, epochs: int = 108, variant: int = 0):
    m = cls()
    for e, epoch in enumerate((0, epochs // 2, epochs)):
        ev = m.evaluation_data.add()
        ev.current_epoch = float(epoch)
        if not (variant == 1 and e == 0):                    # unset: the decoder's default 0.0
            ev.training_time = 0.0 if e == 0 else float(rng.uniform(100, 3000))
        ev.train_accuracy = float(np.float32(rng.uniform(0.05, 1.0)))   # float32 values, as TF logs
        ev.validation_accuracy = float(np.float32(rng.uniform(0.05, 0.95)))
        ev.test_accuracy = float(np.float32(rng.uniform(0.05, 0.95)))
        if variant == 2:
            ev.checkpoint_path = f"/path/to/model_dir/{cell}-{rep}/model.ckpt-{epoch * 391}"
    # 3- and 4-byte varints, as the real parameter counts (227,274 .. 49,979,274) need
    m.trainable_parameters = [227_274, 2_694_282, 49_979_274, 1_000_000][cell % 4] + rep
    m.total_time = float(rng.uniform(1000, 5000))
    return m


def test_independent_schema_is_the_official_one(pb):
    """The protobuf package agrees with the field types nasbench/lib/model_metrics.proto declares."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    d = pb.DESCRIPTOR
    assert d.full_name == "nasbench.ModelMetrics"
    assert [(f.name, f.number, f.type) for f in d.fields] == [
        ("evaluation_data", 1, FD.TYPE_MESSAGE), ("trainable_parameters", 2, FD.TYPE_INT32),
        ("total_time", 3, FD.TYPE_DOUBLE)]
    ev = d.fields_by_name["evaluation_data"].message_type
    assert [(f.name, f.number, f.type) for f in ev.fields] == [
        (name, num, FD.TYPE_STRING if kind == "string" else FD.TYPE_DOUBLE) for name, num, kind in EVAL_SCHEMA]
    assert _crc32c_bitwise(b"123456789") == 0xE3069283               # the CRC32C check value
    assert _crc32c_bitwise(bytes(32)) == 0x8A9136AA                   # RFC 3720


@pytest.fixture(scope="module")
def official(pb, tmp_path_factory):
    """A tfrecord written with protobuf-serialised messages and independent framing: 3
    repeats at 108 epochs of every cell (variants: plain, an unset field, checkpoint paths),
    plus 36-epoch records, as the full file has, to be skipped."""
    rng = np.random.default_rng(101)
    msgs, records = {}, []
    for rep in range(3):
        for c, (m, ops) in enumerate(CELLS):
            h = gu_hash(m, ops)
            msgs[h, rep] = _pb_metrics(pb, rng, c, rep, variant=(c + rep) % 3)
            records.append(_official_record(h, 108, m, ops, msgs[h, rep]))
            records.append(_official_record(h, 36, m, ops, _pb_metrics(pb, rng, c, rep, 36)))
    path = tmp_path_factory.mktemp("official") / "nasbench_only108.tfrecord"
    path.write_bytes(_frame(records))
    return path, msgs, records


def _same_as_pb(ours: ModelMetrics, msg) -> None:
    assert len(ours.evaluation_data) == len(msg.evaluation_data)
    for e, ev in zip(ours.evaluation_data, msg.evaluation_data):
        for name, _, _ in EVAL_SCHEMA:
            assert getattr(e, name) == getattr(ev, name), name
    assert ours.trainable_parameters == msg.trainable_parameters
    assert type(ours.trainable_parameters) is int
    assert ours.total_time == msg.total_time


def test_reads_protobuf_serialised_records(official, pb):
    path, msgs, records = official
    got = list(nb101.iter_nb101(path))
    assert [r.module_hash for _, r in got] == [json.loads(r)[0] for r in records]
    for (off, rec), raw in zip(got, records):
        # decoded as nasbench/api.py does, with the protobuf package
        h, epochs, adj, ops, b64 = json.loads(raw.decode("utf-8"))
        dim = int(np.sqrt(len(adj)))
        assert rec.epochs == epochs and rec.ops == ops.split(",")
        assert rec.matrix.tolist() == np.array([int(c) for c in adj], dtype=np.int8).reshape(dim, dim).tolist()
        msg = pb.FromString(base64.b64decode(b64))
        _same_as_pb(rec.metrics, msg)
        assert nb101.metric_values(base64.b64decode(b64)) == nb101._values_of(rec.metrics)
        assert nb101.cell_hash(rec.matrix, rec.ops) == h == graph_util.hash_module(
            np.asarray(rec.matrix), [-1] + [nb101.OPS.index(o) for o in rec.ops[1:-1]] + [-2])


def test_converts_protobuf_serialised_records_exactly(official, tmp_path):
    path, msgs, _ = official
    t = nb101.NB101Table.read(nb101.convert_nb101(path, tmp_path / "nb101.h5", verify_hashes=True))
    assert len(t.hashes) == len(CELLS) and t.attrs["records_skipped_other_epochs"] == 3 * len(CELLS)
    for c, (m, ops) in enumerate(CELLS):
        h = gu_hash(m, ops)
        info = t.cell(h)
        assert info["matrix"].tolist() == m and info["ops"] == ops
        assert info["trainable_parameters"] == msgs[h, 0].trainable_parameters
        for rep in range(3):
            msg = msgs[h, rep]
            # nasbench/api.py: evaluation_data[1] is the halfway point, [2] the end of training
            for when, ev in (("final", msg.evaluation_data[2]), ("halfway", msg.evaluation_data[1])):
                assert info[f"{when}_train_acc"][rep] == ev.train_accuracy
                assert info[f"{when}_valid_acc"][rep] == ev.validation_accuracy
                assert info[f"{when}_test_acc"][rep] == ev.test_accuracy
                assert info[f"{when}_train_time"][rep] == ev.training_time
            assert t.array("total_time")[list(t.archs).index(h), rep] == msg.total_time
        gt = np.mean([msgs[h, r].evaluation_data[2].test_accuracy for r in range(3)]) * 100
        assert t.per_arch()[h] == pytest.approx(gt, rel=1e-15)


def test_skips_fields_the_official_schema_lacks(pb):
    ext = _message_classes("nasbench_ext", extra=True)["ModelMetrics"]
    m = _pb_metrics(ext, np.random.default_rng(0), 1, 0, variant=2)
    m.evaluation_data[1].predictions.extend([0.5, -2.0, 1e300])
    m.notes, m.loss = "later writer", 0.25
    m.steps.extend([1, 1 << 40, -3])
    m.sub.test_accuracy = 0.5
    raw = m.SerializeToString()
    official_view = pb.FromString(raw)                 # what the official reader makes of it
    _same_as_pb(nb101.decode_model_metrics(raw), official_view)
    assert nb101.metric_values(raw) == nb101._values_of(nb101.decode_model_metrics(raw))


def test_our_encoder_is_read_by_protobuf(pb, tmp_path):
    """The other way round: what bench.nb101 writes, the protobuf package reads to the same
    values, and re-serialises to the same bytes (no field in an unexpected place)."""
    for c, rep in [(0, 0), (3, 2), (2, 1)]:
        ours = metrics_for(c, rep, halfway=c != 3)
        raw = nb101.encode_model_metrics(ours)
        msg = pb.FromString(raw)
        assert msg.HasField("trainable_parameters") and msg.HasField("total_time")
        _same_as_pb(ours, msg)
        assert msg.SerializeToString() == raw
    neg = ModelMetrics(trainable_parameters=-(1 << 31), total_time=-0.0)
    assert pb.FromString(nb101.encode_model_metrics(neg)).trainable_parameters == -(1 << 31)
    # whole records, framed by bench.tfrecord, checked with the independent CRC
    path = tmp_path / "ours.tfrecord"
    tfrecord.write_records(path, fixture_records())
    for data, expect in zip(_unframe(path.read_bytes()), fixture_records()):
        assert data == expect
        h, epochs, adj, ops, b64 = json.loads(data)
        c = next(i for i, (m, o) in enumerate(CELLS) if gu_hash(m, o) == h)
        assert pb.FromString(base64.b64decode(b64)).trainable_parameters == 1000 * (c + 1) + 227_274


# --- hashing --------------------------------------------------------------------------------
def test_record_hash_matches_graph_util(tfr):
    recs = [r for _, r in nb101.iter_nb101(tfr)]
    assert len(recs) == len(fixture_records())
    for r in recs:
        assert nb101.cell_hash(r.matrix, r.ops) == r.module_hash
    assert len({r.module_hash for r in recs}) == len(CELLS)


def test_isomorphic_relabellings_hash_alike():
    matrix, ops = np.array(CELLS[3][0]), CELLS[3][1]
    h = nb101.cell_hash(matrix, ops)
    assert h == gu_hash(matrix, ops)
    labels = nb101.labeling(ops)
    n = len(ops)
    for perm in itertools.islice(itertools.permutations(range(1, n - 1)), 0, None, 17):
        pm, pl = graph_util.permute_graph(matrix, labels, [0, *perm, n - 1])
        names = [{v: k for k, v in nb101.OP_CODES.items()}[c] for c in pl]
        assert nb101.cell_hash(np.asarray(pm, dtype=np.int8), names) == h
    changed = list(ops)
    changed[4] = CONV3
    assert nb101.cell_hash(matrix, changed) != h


# --- records with bad content -------------------------------------------------------------
def _write_with(tmp_path, bad: bytes) -> tuple[Path, int]:
    good = fixture_records()[:3]
    path = tmp_path / "bad.tfrecord"
    tfrecord.write_records(path, good + [bad] + good)
    return path, sum(16 + len(r) for r in good)


@pytest.mark.parametrize("bad, why", [
    (b"not json {", "not JSON"),
    (b'{"a": 1}', "expected the JSON list"),
    (json.dumps(["0" * 32, 108, "0100", "input,output", "!!!"]).encode(), "not base64"),
    (json.dumps(["0" * 32, 108, "0100", "input,output", "CAE="]).encode(), "bad ModelMetrics protobuf"),
    (json.dumps(["0" * 32, 108, "01000", "input,output", ""]).encode(), "not a square"),
    (json.dumps(["0" * 32, 108, "0100", "input,conv5x5", ""]).encode(), "operations"),
])
def test_bad_record_one_line_error(tmp_path, bad, why):
    path, offset = _write_with(tmp_path, bad)
    out = tmp_path / "out.h5"
    for run in (lambda: list(nb101.iter_nb101(path)), lambda: nb101.convert_nb101(path, out)):
        with pytest.raises(nb101.NB101FormatError) as err:
            run()
        msg = str(err.value)
        assert why in msg and f"byte offset {offset}" in msg and "bad.tfrecord" in msg and "\n" not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tfrecord"]   # nothing half-written


def test_convert_leaves_nothing_on_corrupt_file(tfr, tmp_path):
    raw = bytearray(tfr.read_bytes())
    raw[len(raw) // 2] ^= 1
    bad = tmp_path / "corrupt.tfrecord"
    bad.write_bytes(bytes(raw))
    with pytest.raises(nb101.NB101FormatError, match="corrupt.tfrecord.*byte offset"):
        nb101.convert_nb101(bad, tmp_path / "out" / "nb101.h5")
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())


# --- conversion and the GT view ---------------------------------------------------------------
def test_converted_values_exact(h5):
    t = nb101.NB101Table.read(h5)
    assert len(t.hashes) == len(CELLS) and t.epochs == 108 and t.attrs["repeats"] == 3
    assert t.attrs["records_skipped_other_epochs"] == 11 and t.attrs["hashes_verified"]
    assert list(t.hashes) == sorted(t.hashes)
    for c, (m, ops) in enumerate(CELLS):
        info = t.cell(gu_hash(m, ops))
        assert info["matrix"].tolist() == m and info["ops"] == ops
        assert info["trainable_parameters"] == 1000 * (c + 1) + 227_274
        assert type(info["trainable_parameters"]) is int
        reps = 2 if c == 2 else 3
        for rep in range(3):
            if rep >= reps:
                assert np.isnan(info["final_test_acc"][rep])
                continue
            mm = metrics_for(c, rep)
            assert info["final_test_acc"][rep] == mm.evaluation_data[2].test_accuracy
            assert info["final_valid_acc"][rep] == mm.evaluation_data[2].validation_accuracy
            assert info["final_train_acc"][rep] == mm.evaluation_data[2].train_accuracy
            assert info["final_train_time"][rep] == mm.evaluation_data[2].training_time
            if c == 3 and rep == 2:
                assert np.isnan(info["halfway_test_acc"][rep])
            else:
                assert info["halfway_valid_acc"][rep] == mm.evaluation_data[1].validation_accuracy
                assert info["halfway_test_acc"][rep] == mm.evaluation_data[1].test_accuracy
    with pytest.raises(KeyError, match="not an NB101 cell"):
        t.cell("f" * 32)


def test_gt_series_and_landmarks(h5):
    t = nb101.NB101Table.read(h5)
    gt = t.per_arch()          # paper: mean final test accuracy over the repeats, in %
    assert isinstance(gt, pd.Series) and len(gt) == len(CELLS) and not gt.index.has_duplicates
    for c, (m, ops) in enumerate(CELLS):
        reps = 2 if c == 2 else 3
        expect = np.mean([metrics_for(c, r).evaluation_data[2].test_accuracy for r in range(reps)]) * 100
        assert gt[gu_hash(m, ops)] == pytest.approx(expect, rel=1e-12)
    half = t.per_arch("valid_acc", epoch=54)
    assert len(half) == len(CELLS)
    assert t.per_arch("test_acc", epoch=108).equals(gt)
    with pytest.raises(KeyError, match="epochs 54"):
        t.per_arch("test_acc", epoch=12)
    with pytest.raises(KeyError, match="valid metrics"):
        t.per_arch("loss")
    lm = select_landmarks(gt, 3, "random", seed=0)
    assert len(lm) == 3 and [gt[a] for a in lm] == sorted(gt[a] for a in lm)
    assert select_landmarks(gt, 2, "even") == [gt.idxmin(), gt.idxmax()]
    assert set(select_pool(gt, None, exclude=lm)) == set(gt.index) - set(lm)
    assert t.seed_matrix().shape == (len(CELLS), 3)
    assert len(t) == 11 and len(t.frame()) == 11 and sorted(set(t.seeds.tolist())) == [0, 1, 2]


def test_registry(h5, tmp_path, monkeypatch):
    monkeypatch.setenv(nb101.ENV_H5, str(h5))
    t = registry.load("nb101")
    assert isinstance(t, nb101.NB101Table) and len(t.per_arch()) == len(CELLS)
    assert isinstance(registry.load(str(h5)), nb101.NB101Table)
    missing = tmp_path / "none" / "nb101.h5"
    monkeypatch.setenv(nb101.ENV_H5, str(missing))
    with pytest.raises(GTFileError, match=r"not converted yet.*lmreg bench convert nb101"):
        registry.load("nb101")
    assert "nb101" in registry.BENCHMARKS


def test_reconvert_replaces_atomically(tfr, h5):
    before = h5.stat().st_ino
    nb101.convert_nb101(tfr, h5)
    assert nb101.NB101Table.read(h5).per_arch().size == len(CELLS)
    assert h5.stat().st_ino != before           # a new file renamed over the old one
    assert [p.name for p in h5.parent.iterdir() if ".tmp" in p.name] == []


# --- the real file (only when LMREG_NB101_TFRECORD names it) -----------------------------------
REAL = os.environ.get("LMREG_NB101_TFRECORD")


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="set LMREG_NB101_TFRECORD to nasbench_only108.tfrecord")
def test_real_file(tmp_path):
    out = nb101.convert_nb101(REAL, tmp_path / "nb101.h5")
    t = nb101.NB101Table.read(out)
    gt = t.per_arch()
    assert len(t.hashes) == 423_624 and t.attrs["repeats"] == 3 and len(gt) == 423_624
    assert 0 < gt.min() and gt.max() < 100 and 85 < gt.median() < 95
    rng = np.random.default_rng(0)
    for i in rng.choice(len(t.hashes), 200, replace=False):
        info = t.cell(t.archs[i])
        assert nb101.cell_hash(info["matrix"], info["ops"]) == info["hash"]
        assert info["matrix"].sum() <= 9
    assert len(select_landmarks(gt, 50, "random", seed=0)) == 50
