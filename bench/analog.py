"""analog-nasbench (PyPI, optional) as an NB201 ground truth: an independent
200-epoch CIFAR-10 training of all 15,625 NB201 cells by the AnalogNAS-Bench
authors. It is NOT the official NAS-Bench-201 data (other code, recipe and seed).

The package's ``analognasbench/data.py`` imports ``pkg_resources`` (gone in
setuptools >= 81), so the package is never imported here: its pickle
(``analognasbench/data.anb``, a dict {6-tuple of op indices: Architecture}) is
found through ``importlib.metadata`` and unpickled with stand-in classes for
``analognasbench.data.Architecture`` / ``DriftMeasurement`` (plain attribute
bags; nothing of the package runs).

Encoding (verified, see tests/test_analog.py): the package trains cells with
NASLib's ``NasBench201SearchSpace.set_spec(op_indices)`` (its upstream
training_script.py); NASLib's ``conversions.py`` defines the op indices as
``['skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1', 'avg_pool_3x3']``
and the six positions as the edges (0->1), (0->2), (0->3), (1->2), (1->3),
(2->3) (source-major). Ours (spaces.nb201) are ops
``('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')`` on
edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3) (target-major). Hence

    our op  = OP_MAP[their op],  OP_MAP = (1, 0, 3, 2, 4)
    our edge position p reads their position EDGE_MAP[p],  EDGE_MAP = (0, 1, 3, 2, 4, 5)

The data confirm it: exactly the 341 cells whose output is disconnected under
this mapping sit at 10.0 % (chance), and isomorphic cells agree closely.

Converted to a plain GTTable (lmreg-gt/1): one row per cell, seed 0, one
"epoch" column holding the final ``baseline_accuracy`` (%) as test_acc (the
CIFAR-10 test set); the other curves and the scalars are NaN.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np

from lmreg.bench.gt_table import CURVES, SCALARS, GTFileError, GTTable

DIST = "analog-nasbench"
ENV_PATH = "LMREG_ANALOG_H5"
OP_MAP = (1, 0, 3, 2, 4)          # their op index -> ours
EDGE_MAP = (0, 1, 3, 2, 4, 5)     # our edge position -> their tuple position


def default_path() -> Path:
    env = os.environ.get(ENV_PATH)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lmreg" / "analog_nb201.h5"


def to_ours(their: tuple) -> tuple:
    """Their 6-tuple of op indices -> our spaces.nb201 op tuple."""
    return tuple(OP_MAP[their[j]] for j in EDGE_MAP)


def data_file() -> Path:
    """The installed package's pickle, without importing the package."""
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if str(f).replace("\\", "/").endswith("analognasbench/data.anb"):
                p = Path(dist.locate_file(f))
                if p.is_file():
                    return p
    spec = importlib.util.find_spec("analognasbench")  # finds without executing __init__
    if spec is not None and spec.origin:
        p = Path(spec.origin).parent / "data.anb"
        if p.is_file():
            return p
    raise GTFileError(f"the optional package {DIST!r} is not installed (pip install {DIST}); "
                      "it ships the analog-nb201 ground truth")


def version() -> str | None:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


class _Bag:
    """Stand-in for the package's classes: unpickling only sets __dict__."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] == "analognasbench":
            return type(name, (_Bag,), {"__module__": __name__})
        if module in ("builtins", "copyreg", "collections", "numpy", "numpy.core.multiarray",
                      "numpy._core.multiarray", "_codecs"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the analog-nasbench pickle")


def read_raw(path: str | Path | None = None) -> dict:
    """{their op tuple: baseline_accuracy (%)} from the package's pickle."""
    path = Path(path) if path is not None else data_file()
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f).load()
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError) as e:
        raise GTFileError(f"{path}: unreadable analog-nasbench pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or not data:
        raise GTFileError(f"{path}: not an analog-nasbench table (expected a dict of architectures)")
    out = {}
    for key, rec in data.items():
        acc = getattr(rec, "baseline_accuracy", None)
        if not (isinstance(key, tuple) and len(key) == 6) or acc is None:
            raise GTFileError(f"{path}: entry {key!r} is not (6-tuple -> Architecture with baseline_accuracy)")
        out[tuple(int(k) for k in key)] = float(acc)
    return out


def analog_table(path: str | Path | None = None) -> GTTable:
    from lmreg.spaces import nb201
    raw = read_raw(path)
    rows = sorted((nb201.to_str(to_ours(k)), acc) for k, acc in raw.items())
    n = len(rows)
    nan = np.full((n, 1), np.nan)
    curves = {c: nan.copy() for c in CURVES}
    curves["test_acc"][:, 0] = [a for _, a in rows]
    return GTTable(space="nb201", task="analog-nasbench/cifar10",
                   recipe={"source": DIST, "version": version(), "dataset": "cifar10", "epochs": 200,
                           "metric": "baseline_accuracy (%) on the CIFAR-10 test set"},
                   archs=[a for a, _ in rows], seeds=np.zeros(n, np.int64), curves=curves,
                   scalars={s: np.full(n, np.nan) for s in SCALARS},
                   meta={"complete": True, "note": "independent of the official NAS-Bench-201 data; one run "
                         "per cell; only test_acc at the final epoch is known",
                         "op_map_theirs_to_ours": OP_MAP, "edge_map_ours_from_theirs": EDGE_MAP})


def convert_analog(out: str | Path | None = None) -> dict:
    """Write the analog-nb201 GTTable (atomic) to ``out`` (default: $LMREG_ANALOG_H5
    or ~/.cache/lmreg/analog_nb201.h5). Returns a short summary."""
    out = Path(out) if out is not None else default_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    table = analog_table()
    table.write(out)
    acc = table.curves["test_acc"][:, 0]
    return {"out": str(out), "archs": len(table), "source": str(data_file()), "version": version(),
            "test_acc_min": float(acc.min()), "test_acc_max": float(acc.max())}


def load_analog(path: str | Path | None = None) -> GTTable:
    """The converted table; converted on first use when the package is installed."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        try:
            data_file()
        except GTFileError as e:
            raise GTFileError(f"{path}: no analog-nb201 table, and {e}") from None
        convert_analog(path)
    return GTTable.read(path)
