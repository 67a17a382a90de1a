"""NAS-Bench-201 ground truth from the official ``.pth`` files, converted once
into a compact HDF5 store that opens in milliseconds.

Source layout (read from ``nas_201_api`` 2.1, ``api_201.py`` / ``api_utils.py``)
---------------------------------------------------------------------------
``torch.load(path)`` gives a dict with ``meta_archs`` (list: official index ->
architecture string), ``arch2infos`` ({index: {'less': ..., 'full': ...}}:
ArchResults state dicts for hp '12' and hp '200'), ``evaluated_indexes`` and,
in later files, ``total_archs``. An ArchResults state dict holds
``dataset_seed`` ({dataset: sorted seeds}) and ``all_results``
({(dataset, seed): ResultsCount state dict}). A ResultsCount holds ``epochs``,
``train_acc1es`` / ``train_losses`` ({epoch: value}), ``eval_acc1es`` /
``eval_losses`` ({'<split>@<epoch>': value}), ``eval_names``, ``params`` (MB),
``flop`` (M), ``train_times`` and ``latency``.

Both published files are handled:

* v1_0 (NAS-Bench-201-v1_0-e61699.pth): results written by the API's
  ``update_OLD_eval``: some splits are evaluated at the last epoch only (e.g.
  cifar10-valid 'ori-test', cifar100 'x-valid'/'x-test'), ``train_times`` is
  None and ``eval_times`` is empty; hp '12' ('less') covers cifar10-valid only.
* v1_1 (NAS-Bench-201-v1_1-096897.pth): ``update_eval``: every split at every
  epoch, pseudo train/eval times; hp '12' covers all four datasets.

Epochs with no evaluation are NaN in the store; a dataset that an hp lacks has
no group. Each (dataset, hp) keeps one row per (architecture, seed): the values
of that trial, never the API's random choice of seed, and never an average.

Metric names (shared with :mod:`bench.gt_table`) and the NB201 split behind them
(the same choice as ``NASBench201API.get_more_info``):

================  ===========  ===========  ===========  ==============
dataset           train_*      valid_*      test_*       valtest_*
================  ===========  ===========  ===========  ==============
cifar10-valid     train        x-valid      ori-test     --
cifar10           train(+val)  --           ori-test     --
cifar100          train        x-valid      x-test       ori-test
ImageNet16-120    train        x-valid      x-test       ori-test
================  ===========  ===========  ===========  ==============

('--': NaN. cifar10's validation numbers live under cifar10-valid.)
Scalars per row: params (MB), flops (M), wall_time (sum of ``train_times``, s;
pseudo times in v1_1, NaN in v1_0) and latency (s; NaN when absent).

Store layout (one HDF5 file, ``lmreg-nb201/1``)::

    /                 attrs: format, source, source_bytes, summary (JSON)
    /archs            (n,) fixed-length bytes: meta_archs, position = official index
    /<dataset>/<hp>/  attrs: epochs, seeds, splits, summary (JSON)
        arch_index    (rows,) int32, official index, rows sorted by (index, seed)
        seed          (rows,) int64
        train_acc ... (rows, epochs) float64, chunked one epoch column per chunk,
                      so a GT query at one epoch reads one chunk
        params, flops, wall_time, latency   (rows,) float64

Loading the real v1_1 file needs tens of GB of RAM (it is one pickle); the
conversion frees each architecture's entry as soon as it is copied.
"""

from __future__ import annotations

import json
import math
import os
import time
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Mapping

import h5py
import numpy as np
import pandas as pd

from lmreg.bench.gt_table import CURVES, GTFileError, GTTable
from lmreg.core.errors import UnknownNameError
from lmreg.core.fileio import atomic_path

FORMAT = "lmreg-nb201/1"
ENV_STORE = "LMREG_NB201_H5"
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = ("12", "200")
HP_KEYS = {"12": ("less", "12"), "200": ("full", "200")}  # file key(s) for each hp
EXTRA_CURVES = ("valtest_acc", "valtest_loss")
ALL_CURVES = CURVES + EXTRA_CURVES
STORE_SCALARS = ("params", "flops", "wall_time", "latency")
# Which NB201 evaluation split each of our metric prefixes reads, per dataset.
SPLITS = {
    "cifar10-valid": {"train": "train", "valid": "x-valid", "test": "ori-test", "valtest": None},
    "cifar10": {"train": "train", "valid": None, "test": "ori-test", "valtest": None},
    "cifar100": {"train": "train", "valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
    "ImageNet16-120": {"train": "train", "valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
}


def default_store_path() -> Path:
    """``$LMREG_NB201_H5``, else ``~/.cache/lmreg/nb201.h5``."""
    env = os.environ.get(ENV_STORE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lmreg" / "nb201.h5"


# --------------------------------------------------------------------------- reading the .pth
def load_pth(path: str | Path) -> dict:
    """torch.load with weights_only=False (these are pickles of plain Python
    objects, which torch >= 2.6 refuses by default), as a one-line GTFileError
    when the file is missing, truncated or not a torch file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise GTFileError(f"{path}: no such NAS-Bench-201 file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated zip, bad pickle, EOF, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise GTFileError(f"{path}: not a readable NAS-Bench-201 .pth file "
                          f"({type(e).__name__}: {msg[:160]})") from None
    if not isinstance(data, dict):
        raise GTFileError(f"{path}: not a NAS-Bench-201 file (holds a {type(data).__name__}, "
                          "expected a dict with meta_archs and arch2infos)")
    missing = [k for k in ("meta_archs", "arch2infos") if k not in data]
    if missing:
        keys = ", ".join(map(str, list(data)[:6]))
        raise GTFileError(f"{path}: not a NAS-Bench-201 file (no {' or '.join(missing)}; "
                          f"its keys: {keys or 'none'})")
    return data


def _as_state(obj, what: str, path: Path) -> dict:
    """A state dict, whether the file holds state dicts (the official files) or
    pickled ArchResults / ResultsCount objects."""
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "__dict__"):
        return vars(obj)
    raise GTFileError(f"{path}: {what} is a {type(obj).__name__}, not an ArchResults/ResultsCount state")


def _hp_state(info, hp: str, index, path: Path):
    info = _as_state(info, f"arch2infos[{index}]", path)
    for key in HP_KEYS[hp]:
        if key in info:
            return _as_state(info[key], f"arch2infos[{index}][{key!r}]", path)
    return None


class _Keys:
    """Cached per-epoch key lists ('x-valid@0', ...) so that reading a curve is a
    C-level dict look-up per epoch, without formatting strings each time."""

    def __init__(self):
        self._cache: dict = {}

    def __call__(self, split: str, epochs: int) -> list:
        key = (split, epochs)
        if key not in self._cache:
            self._cache[key] = [f"{split}@{e}" for e in range(epochs)]
        return self._cache[key]


def _curve(values, keys, out: np.ndarray) -> int:
    """Fill ``out`` from a {key: value} dict (or a list); NaN where absent.
    Returns how many epochs had a value."""
    if values is None:
        return 0
    if isinstance(values, (list, tuple)):
        n = min(len(values), len(out))
        out[:n] = [math.nan if v is None else v for v in values[:n]]
        return n
    got = [values.get(k) for k in keys]
    n = sum(v is not None for v in got)
    out[:len(got)] = [math.nan if v is None else v for v in got]
    return n


def _mean_or_nan(x) -> float:
    if x is None:
        return math.nan
    if isinstance(x, Mapping):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        x = [v for v in x if v is not None]
        return float(sum(x) / len(x)) if x else math.nan
    return float(x)


def _sum_or_nan(x) -> float:
    if not x:
        return math.nan
    vals = list(x.values()) if isinstance(x, Mapping) else list(x)
    return float(sum(vals))


def convert_nb201(path: str | Path, out: str | Path | None = None, *,
                  datasets: Iterable[str] | None = None, hps: Iterable[str] = HPS,
                  seeds: Iterable[int] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  data: dict | None = None) -> dict:
    """Convert an official NAS-Bench-201 .pth (v1_0 or v1_1 layout) into the
    compact store at ``out`` (default :func:`default_store_path`). Written to a
    temp file beside ``out`` and renamed when complete.

    datasets / hps / seeds restrict what is converted; a requested one that the
    file does not have is a GTFileError. ``data`` (an already loaded dict) skips
    the torch.load. Returns a summary (also stored in the file): per group the
    rows, architectures, seeds and how many architectures have fewer seeds than
    the most any architecture has there.
    """
    t0 = time.perf_counter()
    path = Path(path)
    out = Path(out) if out is not None else default_store_path()
    src = load_pth(path) if data is None else data
    meta_archs = list(src["meta_archs"])
    arch2infos = src["arch2infos"]
    if not isinstance(arch2infos, dict) or not arch2infos:
        raise GTFileError(f"{path}: arch2infos is empty or not a dict; nothing to convert")
    from lmreg.spaces import nb201
    for i, a in enumerate(meta_archs):
        try:
            nb201.parse(a)
        except nb201.ArchError as e:
            raise GTFileError(f"{path}: meta_archs[{i}] is not an NB201 architecture ({e})") from None
    hps = [str(h) for h in hps]
    bad_hp = [h for h in hps if h not in HP_KEYS]
    if bad_hp:
        raise GTFileError(f"{path}: unknown hp {bad_hp}; NAS-Bench-201 has hp {', '.join(HPS)}")
    want_ds = None if datasets is None else list(datasets)
    want_seeds = None if seeds is None else {int(s) for s in seeds}
    indexes = sorted(arch2infos, key=int)

    # Pass 1: which (dataset, hp) groups exist, their rows and epochs -------------
    plan: dict = {}      # (dataset, hp) -> {"rows": n, "epochs": max}
    present_ds, present_seeds = set(), set()
    for idx in indexes:
        if not 0 <= int(idx) < len(meta_archs):
            raise GTFileError(f"{path}: arch2infos has index {idx}, outside meta_archs (0..{len(meta_archs) - 1})")
        for hp in hps:
            st = _hp_state(arch2infos[idx], hp, idx, path)
            if st is None:
                continue
            try:
                dseeds, results = st["dataset_seed"], st["all_results"]
            except (KeyError, TypeError):
                raise GTFileError(f"{path}: arch2infos[{idx}] hp {hp} is not an ArchResults state "
                                  "(no dataset_seed/all_results)") from None
            for ds, sds in dseeds.items():
                present_ds.add(ds)
                present_seeds.update(int(s) for s in sds)
                if ds not in SPLITS or (want_ds is not None and ds not in want_ds):
                    continue
                sel = [s for s in sds if want_seeds is None or int(s) in want_seeds]
                g = plan.setdefault((ds, hp), {"rows": 0, "epochs": 0})
                g["rows"] += len(sel)
                for s in sel:
                    rc = results.get((ds, s))
                    if rc is None:
                        raise GTFileError(f"{path}: arch {idx} hp {hp}: dataset_seed lists seed {s} on {ds} "
                                          "but all_results has no such trial")
                    g["epochs"] = max(g["epochs"], int(_as_state(rc, "trial", path)["epochs"]))
    if want_ds is not None:
        absent = [d for d in want_ds if d not in present_ds]
        if absent:
            raise GTFileError(f"{path}: dataset {', '.join(map(repr, absent))} not in this file "
                              f"(it has: {', '.join(sorted(present_ds))})")
    if want_seeds is not None:
        absent = sorted(want_seeds - present_seeds)
        if absent:
            raise GTFileError(f"{path}: seed {', '.join(map(str, absent))} not in this file "
                              f"(it has: {', '.join(map(str, sorted(present_seeds)))})")
    plan = {k: v for k, v in plan.items() if v["rows"]}
    if not plan:
        raise GTFileError(f"{path}: no trials for the requested datasets/hps/seeds")

    # Pass 2: fill preallocated arrays -----------------------------------------------
    arrays = {}
    for key, g in plan.items():
        n, e = g["rows"], g["epochs"]
        arrays[key] = {"arch_index": np.empty(n, np.int32), "seed": np.empty(n, np.int64),
                       **{c: np.full((n, e), np.nan) for c in ALL_CURVES},
                       **{s: np.full(n, np.nan) for s in STORE_SCALARS}}
        g.update(filled=0, short_runs=0, sparse_eval=0, missing_split=0, seed_hist={},
                 seeds=set())
    keys = _Keys()
    total = len(indexes)
    for done, idx in enumerate(indexes):
        info = arch2infos[idx]
        for hp in hps:
            st = _hp_state(info, hp, idx, path)
            if st is None:
                continue
            results = st["all_results"]
            for ds, sds in st["dataset_seed"].items():
                if (ds, hp) not in plan:
                    continue
                g, arr = plan[(ds, hp)], arrays[(ds, hp)]
                sel = sorted(int(s) for s in sds if want_seeds is None or int(s) in want_seeds)
                g["seed_hist"][len(sel)] = g["seed_hist"].get(len(sel), 0) + 1
                for s in sel:
                    rc = _as_state(results[(ds, s)], f"trial {idx}/{hp}/{ds}/{s}", path)
                    r, E = g["filled"], int(rc["epochs"])
                    g["filled"] += 1
                    g["seeds"].add(s)
                    arr["arch_index"][r], arr["seed"][r] = int(idx), s
                    if E < g["epochs"]:
                        g["short_runs"] += 1
                    ep = list(range(E))
                    sparse = False
                    try:
                        _curve(rc["train_acc1es"], ep, arr["train_acc"][r])
                        _curve(rc["train_losses"], ep, arr["train_loss"][r])
                        for prefix in ("valid", "test", "valtest"):
                            split = SPLITS[ds][prefix]
                            if split is None:
                                continue
                            if split not in (rc.get("eval_names") or ()):
                                g["missing_split"] += 1
                                continue
                            k = keys(split, E)
                            got = _curve(rc["eval_acc1es"], k, arr[f"{prefix}_acc"][r])
                            _curve(rc["eval_losses"], k, arr[f"{prefix}_loss"][r])
                            sparse |= got < E
                        g["sparse_eval"] += sparse
                        arr["params"][r] = _mean_or_nan(rc.get("params"))
                        arr["flops"][r] = _mean_or_nan(rc.get("flop"))
                        arr["wall_time"][r] = _sum_or_nan(rc.get("train_times"))
                        lat = _mean_or_nan(rc.get("latency"))
                        arr["latency"][r] = lat if lat > 0 else math.nan
                    except (KeyError, TypeError, ValueError, AttributeError) as e:
                        raise GTFileError(f"{path}: trial arch {idx} hp {hp} {ds} seed {s} is malformed "
                                          f"({type(e).__name__}: {e})") from None
        if data is None:
            arch2infos[idx] = None  # free the Python objects as we go
        if progress:
            progress(done + 1, total)

    # Order rows by (official index, seed); summarise ------------------------------
    summary = {"source": path.name, "source_bytes": path.stat().st_size if path.is_file() else None,
               "layout": _guess_layout(path, plan), "archs_in_file": len(meta_archs),
               "archs_with_results": len(indexes),
               "skipped_datasets": sorted(present_ds - set(SPLITS)), "groups": {}}
    for key, arr in arrays.items():
        order = np.lexsort((arr["seed"], arr["arch_index"]))
        for name, a in arr.items():
            arr[name] = a[order]
        g = plan[key]
        hist = {str(k): v for k, v in sorted(g["seed_hist"].items())}
        most = max(g["seed_hist"])
        summary["groups"][f"{key[0]}/{key[1]}"] = {
            "rows": g["filled"], "archs": int(len(np.unique(arr["arch_index"]))), "epochs": g["epochs"],
            "seeds": sorted(g["seeds"]), "archs_by_seed_count": hist,
            "archs_with_fewer_seeds": sum(v for k, v in g["seed_hist"].items() if k < most),
            "short_runs": g["short_runs"], "trials_with_sparse_eval": g["sparse_eval"],
            "trials_missing_a_split": g["missing_split"]}
    summary["seconds_to_read"] = round(time.perf_counter() - t0, 3)
    _write_store(out, meta_archs, arrays, summary)
    summary["out"] = str(out)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def _guess_layout(path: Path, plan: dict) -> str:
    name = path.name
    if "v1_0" in name:
        return "v1_0"
    if "v1_1" in name:
        return "v1_1"
    if any(g.get("sparse_eval") for g in plan.values()):
        return "v1_0-style (final-epoch-only splits)"
    return "v1_1-style (every split every epoch)"


def _write_store(out: Path, meta_archs: list, arrays: dict, summary: dict) -> None:
    with atomic_path(out) as tmp:  # unique temp name, fsync, rename, folder fsync; errors name the path
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["summary"] = json.dumps(summary, sort_keys=True)
            f.create_dataset("archs", data=np.array([a.encode() for a in meta_archs]))
            for (ds, hp), arr in arrays.items():
                g = f.require_group(ds).create_group(hp)
                n, e = arr["train_acc"].shape
                g.attrs["epochs"] = e
                g.attrs["seeds"] = json.dumps(sorted(set(arr["seed"].tolist())))
                g.attrs["splits"] = json.dumps(SPLITS[ds])
                g.attrs["summary"] = json.dumps(summary["groups"][f"{ds}/{hp}"], sort_keys=True)
                g.create_dataset("arch_index", data=arr["arch_index"])
                g.create_dataset("seed", data=arr["seed"])
                for c in ALL_CURVES:
                    g.create_dataset(c, data=arr[c], chunks=(max(n, 1), 1), compression="gzip",
                                     compression_opts=1, shuffle=True)
                for s in STORE_SCALARS:
                    g.create_dataset(s, data=arr[s])


# --------------------------------------------------------------------------- reading the store
class NB201Store:
    """The converted file: which groups it has, and a table per (dataset, hp)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        if not self.path.is_file():
            raise GTFileError(f"{self.path}: no converted NAS-Bench-201 store; convert the official file "
                              f"once with `lmreg bench convert nb201 NAS-Bench-201-v1_1-096897.pth` "
                              f"(or bench.nb201_official.convert_nb201), or point ${ENV_STORE} at a store")
        try:
            with h5py.File(self.path, "r") as f:
                fmt = f.attrs.get("format")
                if fmt != FORMAT:
                    raise GTFileError(f"{self.path}: not a NAS-Bench-201 store (format {fmt!r}, expected {FORMAT!r})")
                self.summary = json.loads(f.attrs["summary"])
                self.groups = sorted(f"{ds}/{hp}" for ds in f if isinstance(f[ds], h5py.Group) for hp in f[ds])
                raw = f["archs"][()]
        except GTFileError:
            raise
        except (OSError, KeyError, ValueError) as e:
            raise GTFileError(f"{self.path}: unreadable NAS-Bench-201 store ({type(e).__name__}: {e})") from None
        self.arch_strings = raw.astype(str)  # official index -> string

    def table(self, dataset: str, hp: str | int = "200") -> "NB201Table":
        key = f"{dataset}/{hp}"
        if key not in self.groups:
            raise GTFileError(f"{self.path}: no {dataset!r} with hp {hp!r} in this store "
                              f"(it has: {', '.join(self.groups)})")
        return NB201Table(self, dataset, str(hp))


def open_nb201(dataset: str, hp: str | int = "200", path: str | Path | None = None) -> "NB201Table":
    """GT table for one dataset and hp from the converted store."""
    return NB201Store(path).table(dataset, hp)


class _LazyCurves(Mapping):
    def __init__(self, table: "NB201Table"):
        self._t, self._cache = table, {}

    def __getitem__(self, name):
        if name not in ALL_CURVES:
            raise KeyError(name)
        if name not in self._cache:
            with self._t._open() as g:
                self._cache[name] = g[name][()]
        return self._cache[name]

    def __iter__(self):
        return iter(ALL_CURVES)

    def __len__(self):
        return len(ALL_CURVES)


class NB201Table(GTTable):
    """A GTTable over one (dataset, hp) group of the store. Row-level arrays
    (archs, seeds, scalars) load on open; curves load on first use, and the
    views (per_arch, seed_matrix, frame) read only the one epoch they need."""

    def __init__(self, store: NB201Store, dataset: str, hp: str):
        self.store, self.dataset, self.hp = store, dataset, hp
        self.space = "nb201"
        self.task = f"nb201-official/{dataset}"
        with self._open() as g:
            self._epochs = int(g.attrs["epochs"])
            self.meta = json.loads(g.attrs["summary"])
            self.arch_index = g["arch_index"][()]
            self.seeds = g["seed"][()]
            self.scalars = {s: g[s][()] for s in STORE_SCALARS}
        self.recipe = {"benchmark": "NAS-Bench-201", "dataset": dataset, "hp": hp, "epochs": self._epochs,
                       "splits": SPLITS[dataset], "source": store.summary.get("source")}
        self.curves = _LazyCurves(self)
        # architectures of this group, ordered by string; row -> position in that order
        present = np.unique(self.arch_index)
        names = store.arch_strings[present]
        order = np.argsort(names, kind="stable")
        self._arch_sorted = names[order]
        pos = np.empty(len(store.arch_strings), np.int64)
        pos[present[order]] = np.arange(len(present))
        self._row_pos = pos[self.arch_index]

    def _open(self):
        class _G:
            def __enter__(s):
                s.f = h5py.File(self.store.path, "r")
                return s.f[f"{self.dataset}/{self.hp}"]

            def __exit__(s, *exc):
                s.f.close()
        return _G()

    def __repr__(self) -> str:
        return (f"NB201Table({self.dataset!r}, hp={self.hp!r}, rows={len(self)}, "
                f"archs={len(self._arch_sorted)}, epochs={self.epochs}, store={str(self.store.path)!r})")

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def epochs(self) -> int:
        return self._epochs

    @cached_property
    def archs(self) -> list[str]:
        return self.store.arch_strings[self.arch_index].tolist()

    def _epoch(self, epoch: int) -> int:
        if not -self._epochs <= epoch < self._epochs:
            raise IndexError(f"epoch {epoch} out of range for {self._epochs} epochs ({self.dataset}, hp {self.hp})")
        return epoch % self._epochs

    def _check_metric(self, metric: str) -> None:
        if metric not in ALL_CURVES:
            raise UnknownNameError(f"unknown metric {metric!r}; valid metrics: {', '.join(ALL_CURVES)}")

    def column(self, metric: str, epoch: int = -1) -> np.ndarray:
        """One metric at one epoch for every row (reads one chunk)."""
        self._check_metric(metric)
        e = self._epoch(epoch)
        if metric in self.curves._cache:
            return self.curves._cache[metric][:, e]
        with self._open() as g:
            return g[metric][:, e]

    def _check_seed(self, seed) -> np.ndarray:
        mask = self.seeds == int(seed)
        if not mask.any():
            raise GTFileError(f"{self.store.path}: seed {seed} not in {self.dataset} hp {self.hp} "
                              f"(seeds: {', '.join(map(str, sorted(set(self.seeds.tolist()))))})")
        return mask

    def per_arch(self, metric: str = "test_acc", epoch: int = -1, seed: int | None = None) -> pd.Series:
        """Mean over the seeds an architecture has (NaN-skipping), or the value of
        one ``seed``; indexed by architecture string, sorted, like GTTable."""
        col = self.column(metric, epoch)
        n = len(self._arch_sorted)
        pos = self._row_pos
        if seed is not None:
            mask = self._check_seed(seed)
            col, pos = col[mask], pos[mask]
            out = np.full(n, np.nan)
            out[pos] = col
            keep = np.zeros(n, bool)
            keep[pos] = True
            return pd.Series(out[keep], index=pd.Index(self._arch_sorted[keep], name="arch"), name=metric)
        ok = ~np.isnan(col)
        sums = np.bincount(pos, weights=np.where(ok, col, 0.0), minlength=n)
        cnt = np.bincount(pos, weights=ok.astype(np.float64), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / cnt
        return pd.Series(mean, index=pd.Index(self._arch_sorted, name="arch"), name=metric)

    def seed_matrix(self, metric: str = "test_acc", epoch: int = -1) -> pd.DataFrame:
        col = self.column(metric, epoch)
        seeds = np.unique(self.seeds)
        mat = np.full((len(self._arch_sorted), len(seeds)), np.nan)
        mat[self._row_pos, np.searchsorted(seeds, self.seeds)] = col
        return pd.DataFrame(mat, index=pd.Index(self._arch_sorted, name="arch"),
                            columns=pd.Index(seeds.tolist(), name="seed"))

    def frame(self, epoch: int = -1) -> pd.DataFrame:
        e = self._epoch(epoch)
        with self._open() as g:
            cols = {c: g[c][:, e] for c in ALL_CURVES}
        data = {"arch": self.archs, "seed": self.seeds, **cols, **self.scalars}
        return pd.DataFrame(data)
