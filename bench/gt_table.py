"""Ground-truth tables in a compact HDF5 file: one row per (architecture, seed)
with per-epoch curves, costs and the full recipe that produced them."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lmreg.bench.errors import UnknownNameError, UserError
from lmreg.bench.fileio import write_bytes

FORMAT = "lmreg-gt/1"
CURVES = ("train_acc", "train_loss", "valid_acc", "valid_loss", "test_acc", "test_loss")
# Present when the task has the extra evaluation split (final epoch only, NaN before):
# extra_* on that split, eval_acc over test and extra together.
OPTIONAL_CURVES = ("extra_acc", "extra_loss", "eval_acc")
SCALARS = ("params", "flops", "wall_time")


class GTFileError(UserError, ValueError):
    """A ground-truth file that is missing, truncated or not in this format."""


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
        """Atomic and durable (bench.fileio): readers see the old table or the new one."""
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["space"] = self.space
            f.attrs["task"] = self.task
            f.attrs["recipe"] = json.dumps(self.recipe, sort_keys=True)
            f.attrs["meta"] = json.dumps(self.meta, sort_keys=True)
            f.create_dataset("arch", data=np.array(self.archs, dtype=h5py.string_dtype()))
            f.create_dataset("seed", data=self.seeds)
            for name, arr in {**self.curves, **self.scalars}.items():
                f.create_dataset(name, data=arr, compression="gzip", shuffle=True)
        write_bytes(path, buf.getvalue())

    @classmethod
    def read(cls, path: str | Path) -> "GTTable":
        path = Path(path)
        if not path.is_file():
            raise GTFileError(f"{path}: no such ground-truth file")
        try:
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
        except (OSError, KeyError, ValueError) as e:
            raise GTFileError(f"{path}: unreadable ground-truth table ({type(e).__name__}: {e})") from None
        n = len(table.archs)
        bad = [k for k, v in {**table.curves, **table.scalars, "seed": table.seeds}.items() if len(v) != n]
        if bad:
            raise GTFileError(f"{path}: columns {bad} do not have {n} rows (corrupt table)")
        if n == 0 or table.curves["test_acc"].ndim != 2 or table.epochs == 0:
            raise GTFileError(f"{path}: the table holds no results ({n} rows, "
                              f"{table.curves['test_acc'].shape[-1] if n else 0} epochs); rebuild it")
        return table

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
