"""Run records: one HDF5 file per run, written atomically and durably (a uniquely
named temp file, fsynced, renamed, folder fsynced: `core.fileio`), holding
everything needed to analyse the run without re-running it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lmreg.core.errors import UserError
from lmreg.core.fileio import write_bytes
from lmreg.core.sealed import damage, sealed_bytes

FORMAT = "lmreg-run/1"
RECORD_NAME = "record.h5"


class RecordError(UserError, ValueError):
    pass


def _table(group: h5py.Group, rows: list[dict]) -> None:
    """A list of flat dicts as one dataset per column."""
    if not rows:
        return
    for key in rows[0]:
        values = [r[key] for r in rows]
        if isinstance(values[0], str):
            group.create_dataset(key, data=np.array(values, dtype=h5py.string_dtype()))
        else:
            group.create_dataset(key, data=np.asarray(values, dtype=np.float64))


def _read_table(group: h5py.Group) -> pd.DataFrame:
    cols = {}
    for key, ds in group.items():
        data = ds[()]
        if data.dtype.kind in "SO":
            data = [v.decode() if isinstance(v, bytes) else v for v in data]
        cols[key] = data
    return pd.DataFrame(cols)


def write_record(path: str | Path, record: dict) -> Path:
    """record: attrs (JSON-able dict) and tables (name -> list of flat dicts). Built in
    memory (a full disk fails in one place, with its errno) and sealed (core.sealed)."""
    def fill(f: h5py.File) -> None:
        f.attrs["format"] = FORMAT
        for key, value in record["attrs"].items():
            f.attrs[key] = json.dumps(value, sort_keys=True)
        for name, rows in record["tables"].items():
            _table(f.create_group(name), rows)
    return write_bytes(path, sealed_bytes(fill))


RUN_ATTRS = ("config", "final_metrics", "timings")
_SCORED = ("arch", "gt", "score_acc", "score_loss")
RUN_TABLES = {"curves": ("epoch",), "evals": ("epoch",), "landmarks": _SCORED, "pool": _SCORED}


def read_record(path: str | Path, run: bool = True) -> dict:
    """A record as written by write_record. With ``run`` (the default) it must have
    the structure of a super-net run record, or a RecordError names what is missing."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such run record")
    try:
        why = damage(path)
        if why:
            raise RecordError(f"{path}: damaged run record ({why}); rerun it or restore it from a copy")
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise RecordError(f"{path}: not an lmreg run record")
            attrs = {k: json.loads(v) for k, v in f.attrs.items() if k != "format"}
            tables = {name: _read_table(group) for name, group in f.items()}
    except RecordError:
        raise
    except Exception as e:  # h5py, HDF5 and JSON errors of an unsealed damaged file all mean: unreadable
        raise RecordError(f"{path}: unreadable run record ({type(e).__name__}: {' '.join(str(e).split())[:200]})") \
            from None
    if run:
        missing = [k for k in RUN_ATTRS if not isinstance(attrs.get(k), dict)] + \
                  [k for k in RUN_TABLES if k not in tables] + \
                  [f"{k}.{c}" for k, cols in RUN_TABLES.items() if k in tables and len(tables[k].columns)
                   for c in cols if c not in tables[k]]  # a table with rows has all its columns
        if missing:
            raise RecordError(f"{path}: not a super-net run record (lacks {', '.join(missing)})")
    return {"attrs": attrs, "tables": tables, "path": str(path)}


def find_records(paths) -> list[Path]:
    """Record files named directly or found under folders."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob(RECORD_NAME)))
        elif p.is_file():
            found.append(p)
        else:
            raise RecordError(f"{p}: no such run record or folder")
    return found


def load_runs(paths) -> pd.DataFrame:
    """One row per run: identity, final ranking metrics and costs, for pandas analysis."""
    rows = []
    for path in find_records(paths):
        rec = read_record(path)
        a = rec["attrs"]
        cfg = a["config"]
        rows.append({"path": str(path), "name": cfg["name"], "seed": cfg["seed"],
                     "landmarks": cfg["use_landmarks"], "task": cfg["task"],
                     "benchmark": cfg["benchmark"], "epochs": cfg["train"]["epochs"],
                     **{k: v for k, v in a["final_metrics"].items()},
                     "train_time_s": a["timings"]["train_s"], "score_time_s": a["timings"]["score_s"]})
    return pd.DataFrame(rows)
