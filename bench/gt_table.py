"""Ground-truth tables in a compact HDF5 file: one row per (architecture, seed)
with per-epoch curves, costs and the full recipe that produced them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lmreg.core.errors import UnknownNameError, UserError
from lmreg.core.fileio import write_bytes
from lmreg.core.sealed import damage, sealed_bytes

FORMAT = "lmreg-gt/1"
CURVES = ("train_acc", "train_loss", "valid_acc", "valid_loss", "test_acc", "test_loss")
# Present when the task has the extra evaluation split (final epoch only, NaN before):
# extra_* on that split, eval_acc over test and extra together.
OPTIONAL_CURVES = ("extra_acc", "extra_loss", "eval_acc")
SCALARS = ("params", "flops", "wall_time")


class GTFileError(UserError, ValueError):
    """A ground-truth file that is missing, truncated or not in this format."""


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def row_problem(row) -> str | None:
    """Why ``row`` is not a row ``GTTable.from_rows`` takes (None when it is): a string
    arch, a whole-number seed >= 0, every curve a list of numbers of one length, every
    scalar a number (NaN allowed: not evaluated)."""
    if not isinstance(row, dict):
        return "not an object"
    if not isinstance(row.get("arch"), str):
        return "arch is not a string"
    seed = row.get("seed")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        return f"seed {seed!r} is not a whole number >= 0"
    curves = [c for c in CURVES if not (isinstance(row.get(c), list) and row[c] and all(map(_is_number, row[c])))]
    if curves:
        return f"{', '.join(curves)} not a list of numbers"
    if len({len(row[c]) for c in CURVES}) != 1:
        return "curves of different lengths"
    scalars = [s for s in SCALARS if not _is_number(row.get(s))]
    if scalars:
        return f"{', '.join(scalars)} not a number"
    return None


@dataclass
class GTTable:
    space: str
    task: str
    recipe: dict
    archs: list[str]
    seeds: np.ndarray
    curves: dict[str, np.ndarray]      # name -> (rows, epochs), NaN where not evaluated
    scalars: dict[str, np.ndarray]     # name -> (rows,)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def epochs(self) -> int:
        return self.curves["test_acc"].shape[1]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The curves per_arch and seed_matrix accept (bench.ground_truth.GroundTruth)."""
        return tuple(self.curves)

    @classmethod
    def from_rows(cls, rows: list[dict], space: str, task: str, recipe: dict, meta: dict,
                  sort_key=None) -> "GTTable":
        rows = sorted(rows, key=sort_key or (lambda r: (r["arch"], r["seed"])))
        optional = [c for c in OPTIONAL_CURVES if rows and all(c in r for r in rows)]
        return cls(space=space, task=task, recipe=recipe,
                   archs=[r["arch"] for r in rows],
                   seeds=np.array([r["seed"] for r in rows], dtype=np.int64),
                   curves={c: np.array([r[c] for r in rows], dtype=np.float64).reshape(len(rows), -1)
                           for c in (*CURVES, *optional)},
                   scalars={s: np.array([r[s] for r in rows], dtype=np.float64) for s in SCALARS},
                   meta=meta)

    def rows(self) -> list[dict]:
        out = []
        for i, (arch, seed) in enumerate(zip(self.archs, self.seeds)):
            row = {"arch": arch, "seed": int(seed)}
            row.update({c: self.curves[c][i].tolist() for c in self.curves})
            row.update({s: float(self.scalars[s][i]) for s in SCALARS})
            out.append(row)
        return out

    def write(self, path: str | Path) -> None:
        """Atomic and durable (core.fileio): readers see the old table or the new one;
        sealed (core.sealed): a damaged copy is refused."""
        def fill(f: h5py.File) -> None:
            f.attrs["format"] = FORMAT
            f.attrs["space"] = self.space
            f.attrs["task"] = self.task
            f.attrs["recipe"] = json.dumps(self.recipe, sort_keys=True)
            f.attrs["meta"] = json.dumps(self.meta, sort_keys=True)
            f.create_dataset("arch", data=np.array(self.archs, dtype=h5py.string_dtype()))
            f.create_dataset("seed", data=self.seeds)
            for name, arr in {**self.curves, **self.scalars}.items():
                f.create_dataset(name, data=arr, compression="gzip", shuffle=True)
        write_bytes(path, sealed_bytes(fill))

    @classmethod
    def read(cls, path: str | Path) -> "GTTable":
        path = Path(path)
        if not path.is_file():
            raise GTFileError(f"{path}: no such ground-truth file")
        try:
            why = damage(path)
            if why:
                raise GTFileError(f"{path}: damaged ground-truth table ({why}); rebuild or restore it")
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise GTFileError(f"{path}: not an lmreg ground-truth table (format "
                                      f"{f.attrs.get('format')!r}, expected {FORMAT!r})")
                archs = [a.decode() if isinstance(a, bytes) else a for a in f["arch"][()]]
                table = cls(space=str(f.attrs["space"]), task=str(f.attrs["task"]),
                            recipe=json.loads(f.attrs["recipe"]), archs=archs,
                            seeds=f["seed"][()],
                            curves={c: f[c][()] for c in (*CURVES, *OPTIONAL_CURVES) if c in f},
                            scalars={s: f[s][()] for s in SCALARS},
                            meta=json.loads(f.attrs["meta"]))
        except GTFileError:
            raise
        except Exception as e:  # h5py, HDF5 and JSON errors of an unsealed damaged file all mean: unreadable
            raise GTFileError(f"{path}: unreadable ground-truth table ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from None
        why = table.problem()
        if why:
            raise GTFileError(f"{path}: {why} (corrupt table); rebuild it")
        return table

    def problem(self) -> str | None:
        """What makes the columns unusable as a table, if anything: the row counts, the
        types (string keys, integer seeds >= 0, numeric curves of one length), and one row
        per (architecture, seed)."""
        n = len(self.archs)
        bad = [k for k, v in {**self.curves, **self.scalars, "seed": self.seeds}.items() if len(v) != n]
        if bad:
            return f"columns {bad} do not have {n} rows"
        if n == 0 or self.curves["test_acc"].ndim != 2 or self.epochs == 0:
            return f"the table holds no results ({n} rows, {self.curves['test_acc'].shape[-1] if n else 0} epochs)"
        if not all(isinstance(a, str) for a in self.archs):
            return "the arch column does not hold strings"
        if self.seeds.dtype.kind not in "iu" or self.seeds.ndim != 1 or (self.seeds < 0).any():
            return f"the seed column does not hold whole numbers >= 0 (dtype {self.seeds.dtype})"
        odd = [k for k, v in {**self.curves, **self.scalars}.items()
               if v.dtype.kind not in "fiu" or v.ndim != (2 if k in self.curves else 1)
               or (k in self.curves and v.shape[1] != self.epochs)]
        if odd:
            return f"columns {odd} are not numeric with one value per row (and epoch)"
        if len(set(zip(self.archs, self.seeds.tolist()))) != n:
            return "an (architecture, seed) pair is listed twice"
        return None

    # Views ---------------------------------------------------------------
    def _check_epoch(self, epoch: int) -> None:
        if not -self.epochs <= epoch < self.epochs:
            raise IndexError(f"epoch {epoch} out of range for {self.epochs} epoch(s) (indices 0..{self.epochs - 1}, "
                             "or -1 for the last)")

    def _check_metric(self, metric: str) -> None:
        if metric not in self.curves:
            raise UnknownNameError(f"unknown metric {metric!r}; valid metrics: {', '.join(self.metrics)}")

    def frame(self, epoch: int = -1) -> pd.DataFrame:
        """One row per (arch, seed): the curves at ``epoch`` plus the scalars."""
        self._check_epoch(epoch)
        data = {"arch": self.archs, "seed": self.seeds}
        data.update({c: self.curves[c][:, epoch] for c in self.curves})
        data.update(self.scalars)
        return pd.DataFrame(data)

    def per_arch(self, metric: str = "test_acc", epoch: int = -1) -> pd.Series:
        """Mean over seeds of one metric at one epoch, indexed by architecture."""
        self._check_metric(metric)
        return self.frame(epoch).groupby("arch", sort=True)[metric].mean()

    def seed_matrix(self, metric: str = "test_acc", epoch: int = -1) -> pd.DataFrame:
        """Architectures x seeds (NaN where a seed is missing)."""
        self._check_metric(metric)
        return self.frame(epoch).pivot(index="arch", columns="seed", values=metric)
