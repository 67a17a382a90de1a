"""NB101 ground truth: conversion time of an NB101-size tfrecord and load time of the
compact HDF5 file.

Generates a synthetic tfrecord with the official file's shape (423,624 cells x 3 repeats
at 108 epochs = 1,270,872 records, about 520 MB; each record the JSON list
[module_hash, 108, adjacency, operations, base64(ModelMetrics)] with three evaluations
(epochs 0, 54, 108), as in the real file) into --dir (default /tmp), with random but
well-formed content: random cells of 2..7 vertices (mostly 7) and random hashes that are
NOT graph_util hashes of their cells (conversion does not recompute hashes unless asked).
Then times, once:

  * reading the framing with CRC checks (bench.tfrecord.iter_records), and without;
  * convert_nb101 (read + parse + write the HDF5 file);
  * NB101Table.read (median of --repeats), the GT Series of all cells (per_arch, first
    call and cached), registry.load('nb101') through $LMREG_NB101_H5;
  * graph_util hashing of 2,000 cells, extrapolated to all cells (what verify_hashes costs).

With --fraction F < 1 only F of the cells are generated; conversion figures are then also
shown extrapolated linearly to the full size, and labelled so.

    python benchmarks/gt_load_nb101.py [--fraction 1.0] [--repeats 5] [--dir /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


from lmreg.bench import nb101, registry, tfrecord  # noqa: E402

N_CELLS = 423_624
REPEATS = 3
CHUNK = 20_000  # cells generated and written at a time


def _metrics_block(rng: np.random.Generator, k: int) -> list[bytes]:
    """k serialized ModelMetrics (3 evaluations of 5 doubles, parameters, total time), built as
    one numpy structured array with the exact wire layout of model_metrics.proto; 155 bytes each
    (trainable_parameters is a varint int32: 4 bytes for the 2,097,152 .. 49,999,999 drawn)."""
    ev_fields = []
    for e in range(3):
        ev_fields += [(f"k{e}", "u1"), (f"n{e}", "u1")]
        for f in range(1, 6):
            ev_fields += [(f"t{e}{f}", "u1"), (f"v{e}{f}", "<f8")]
    dt = np.dtype(ev_fields + [("tp", "u1"), ("p", "u1", (4,)), ("tt", "u1"), ("t", "<f8")])
    a = np.zeros(k, dtype=dt)
    final = rng.uniform(0.80, 0.95, k)
    for e, epoch in enumerate((0.0, 54.0, 108.0)):
        a[f"k{e}"] = 1 << 3 | 2
        a[f"n{e}"] = 45
        acc = np.full(k, 0.1) if epoch == 0 else final - (0.05 if epoch == 54 else 0.0)
        vals = (np.full(k, epoch), rng.uniform(500, 3000, k) * epoch / 108,
                np.minimum(acc + 0.05, 1.0), acc + rng.normal(0, 0.003, k), acc + rng.normal(0, 0.003, k))
        for f, v in enumerate(vals, start=1):
            a[f"t{e}{f}"] = f << 3 | 1
            a[f"v{e}{f}"] = np.asarray(v, dtype=np.float32).astype(np.float64)  # float32 values, as TF logs
    params = rng.integers(1 << 21, 50_000_000, k)
    a["tp"] = 2 << 3 | 0
    a["p"] = np.stack([(params >> (7 * i)) & 0x7F | (0x80 if i < 3 else 0) for i in range(4)], axis=1)
    a["tt"], a["t"] = 3 << 3 | 1, rng.uniform(1000, 5000, k)
    raw = memoryview(a.tobytes())
    size = dt.itemsize
    b64 = __import__("base64").b64encode
    return [b64(raw[i * size:(i + 1) * size]) for i in range(k)]


def _cells(rng: np.random.Generator, k: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    sizes = rng.choice([2, 3, 4, 5, 6, 7], size=k, p=[0.001, 0.002, 0.01, 0.05, 0.09, 0.847])
    hashes = rng.bytes(16 * k).hex().encode()
    hashes = [hashes[32 * i:32 * i + 32] for i in range(k)]
    ops_names = [o.encode() for o in nb101.OPS]
    adjs, opss = [], []
    for n in range(2, 8):
        idx = np.flatnonzero(sizes == n)
        m = np.triu(rng.random((len(idx), n, n)) < 0.3, 1).astype(np.uint8)
        m[:, np.arange(n - 1), np.arange(1, n)] = 1          # a path through every vertex
        flat = (m.reshape(len(idx), -1) + ord("0")).tobytes()
        codes = rng.integers(0, 3, (len(idx), n - 2))
        for j, i in enumerate(idx):
            adjs.append((i, flat[j * n * n:(j + 1) * n * n]))
            opss.append((i, b",".join([b"input", *(ops_names[c] for c in codes[j]), b"output"])))
    adjs = [a for _, a in sorted(adjs)]
    opss = [o for _, o in sorted(opss)]
    return hashes, adjs, opss


def generate(path: Path, n_cells: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    n = 0
    with open(path, "wb") as f:
        for start in range(0, n_cells, CHUNK):
            k = min(CHUNK, n_cells - start)
            hashes, adjs, opss = _cells(rng, k)
            metrics = _metrics_block(rng, k * REPEATS)
            recs = [b'["%s", 108, "%s", "%s", "%s"]' % (hashes[c], adjs[c], opss[c], metrics[c * REPEATS + r])
                    for c in range(k) for r in range(REPEATS)]
            f.write(tfrecord.frame_records(recs))
            n += len(recs)
    return n


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of the 423,624 cells (default 1)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of the load measurements")
    ap.add_argument("--dir", default="/tmp", help="where the generated files go (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated tfrecord and HDF5 file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not 0 < args.fraction <= 1:
        raise SystemExit(f"--fraction must be in (0, 1], got {args.fraction}")
    n_cells = max(1, round(N_CELLS * args.fraction))
    scale = N_CELLS / n_cells
    work = Path(tempfile.mkdtemp(prefix="lmreg_nb101_bench_", dir=args.dir))
    tfr, h5 = work / "nb101_synthetic.tfrecord", work / "nb101.h5"
    print("# gt_load_nb101: NB101 tfrecord -> HDF5 conversion and GT load")
    print(f"# {datetime.datetime.now().isoformat(timespec='seconds')}  python {platform.python_version()}  "
          f"numpy {np.__version__}  cpus {os.cpu_count()}  crc32c backend {tfrecord.BACKEND}  "
          f"fraction {args.fraction:g} ({n_cells:,} cells x {REPEATS})  dir {work}")
    try:
        t_gen, n_rec = timed(lambda: generate(tfr, n_cells, args.seed))
        size = tfr.stat().st_size
        rows = [("generate synthetic tfrecord", t_gen, f"{n_rec:,} records, {size / 1e6:,.0f} MB")]
        t_crc, n = timed(lambda: sum(1 for _ in tfrecord.iter_records(tfr)))
        rows.append(("read framing, CRCs checked", t_crc, f"{size / 1e6 / t_crc:,.0f} MB/s"))
        t_nocrc, _ = timed(lambda: sum(1 for _ in tfrecord.iter_records(tfr, verify=False)))
        rows.append(("read framing, no CRC check", t_nocrc, f"{size / 1e6 / t_nocrc:,.0f} MB/s"))
        t_conv, _ = timed(lambda: nb101.convert_nb101(tfr, h5))
        rows.append(("convert_nb101 (all of it)", t_conv, f"{n_rec / t_conv:,.0f} records/s; "
                     f"HDF5 {h5.stat().st_size / 1e6:.1f} MB"))

        loads, gts, cached = [], [], []
        for _ in range(args.repeats):
            t_read, table = timed(lambda: nb101.NB101Table.read(h5))
            t_gt, gt = timed(table.per_arch)
            t_gt2, _ = timed(table.per_arch)
            loads.append(t_read), gts.append(t_gt), cached.append(t_gt2)
        assert len(gt) == n_cells and not gt.isna().any()
        os.environ[nb101.ENV_H5] = str(h5)
        t_reg = statistics.median(timed(lambda: registry.load("nb101").per_arch())[0]
                                  for _ in range(args.repeats))
        med = statistics.median
        rows += [("NB101Table.read (median)", med(loads), "hashes only; other arrays on first use"),
                 ("per_arch('test_acc') first call (median)", med(gts), f"GT Series of {len(gt):,} cells"),
                 ("per_arch('test_acc') again (median)", med(cached), "arrays cached"),
                 ("registry.load('nb101').per_arch() (median)", t_reg, "read + GT, via $LMREG_NB101_H5")]

        table = nb101.NB101Table.read(h5)
        ns = table.array("n_vertices")
        sample = np.random.default_rng(1).choice(len(ns), min(2000, len(ns)), replace=False)
        mats = [table.array("adjacency")[i, :ns[i], :ns[i]] for i in sample]
        opss = [[nb101._OP_NAMES[int(c)] for c in table.array("ops")[i, :ns[i]]] for i in sample]
        t_hash, _ = timed(lambda: [nb101.cell_hash(m, o) for m, o in zip(mats, opss)])
        rows.append(("graph_util hash, per cell", t_hash / len(sample),
                     f"x {N_CELLS:,} cells = {t_hash / len(sample) * N_CELLS:,.0f} s (verify_hashes=True)"))
    finally:
        if not args.keep:
            for p in (tfr, h5):
                p.unlink(missing_ok=True)
            work.rmdir()

    print(f"{'step':44s} {'seconds':>10s}  note")
    print(f"{'-' * 44} {'-' * 10}  ----")
    for name, sec, note in rows:
        print(f"{name:44s} {sec:10.4f}  {note}")
    if scale != 1:
        print(f"\nEXTRAPOLATED to the full size ({N_CELLS:,} cells, x{scale:.2f}, linear): "
              f"generate {t_gen * scale:.0f} s, CRC read {t_crc * scale:.0f} s, convert {t_conv * scale:.0f} s")
    print(f"SUMMARY gt_load_nb101: convert {t_conv * scale:.1f} s{' (extrapolated)' if scale != 1 else ''} "
          f"for {N_CELLS * REPEATS:,} records; load {med(loads) * 1e3:.1f} ms; "
          f"GT Series of all cells {(med(loads) + med(gts)) * 1e3:.0f} ms (read + per_arch)")


if __name__ == "__main__":
    main()
