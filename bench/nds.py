"""NDS (facebookresearch/nds, "On Network Design Spaces for Visual Recognition") DARTS
design space as a ground truth: `DARTS.json` converted once into a GTTable (lmreg-gt/1)
on the `darts-nds` space.

Layout read (as the official landmark loader `nasws/cnn/search_space/nds/nds_search_space.py`
reads it, `process_nds_entry` and `NDSDataset.preprocess_dataset_from_given_files`): the
file is a JSON list of jobs; a job has
  net.genotype  {normal, normal_concat, reduce, reduce_concat}, pairs written [op, input];
  net.width, net.depth, net.aux, net.drop_prob (recorded, not needed to key a job);
  optim         the training recipe (recorded);
  rng_seed      the job's seed;
  train_ep_top1, test_ep_top1   top-1 ERROR in % per epoch; train_ep_loss per epoch (optional);
  params, flops.
Conversion: accuracy = 100 - error (test_acc from test_ep_top1, train_acc from
train_ep_top1), so the final test accuracy is 100 - the last test error, as the official
`query_perf`. Jobs are merged per genotype, keyed by the canonical genotype (spaces.darts),
so genotypes that differ only in the order of a node's two pairs are one architecture,
and their seeds are rows of it. A later job with the same genotype and seed replaces the
earlier one (the official loader's overwrite); the table's meta counts them. Every job must
have the same number of epochs. valid_* and test_loss are NaN (NDS has no such values).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from lmreg.core.fileio import read_json
from lmreg.bench.gt_table import GTFileError, GTTable
from lmreg.spaces import darts
from lmreg.spaces.base import ArchError

SPACE = "darts-nds"
ENV_H5 = "LMREG_NDS_DARTS_H5"       # the converted table
ENV_JSON = "LMREG_NDS_DARTS_JSON"   # the downloaded DARTS.json, converted on first use
NET_FIELDS = ("width", "depth", "aux", "drop_prob")
ABOUT = (f"NDS DARTS design space (facebookresearch/nds DARTS.json), per seed; set ${ENV_JSON} to the "
         f"downloaded file to convert it on first use (${ENV_H5}: the table)")


def default_path() -> Path:
    env = os.environ.get(ENV_H5)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lmreg" / "nds_darts.h5"


def source_file() -> Path | None:
    """The DARTS.json named by $LMREG_NDS_DARTS_JSON, if set."""
    env = os.environ.get(ENV_JSON)
    if not env:
        return None
    path = Path(env).expanduser()
    if not path.is_file():
        raise GTFileError(f"{path}: no such NDS file (${ENV_JSON})")
    return path


def read_jobs(path: str | Path) -> list:
    _, jobs = read_json(path, "NDS file", GTFileError)
    if not isinstance(jobs, list):
        raise GTFileError(f"{path}: an NDS file is a JSON list of jobs, got a {type(jobs).__name__}")
    if not jobs:
        raise GTFileError(f"{path}: the NDS file holds no jobs")
    return jobs


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _errors(job: dict, field: str, required: bool = True) -> list[float] | None:
    values = job.get(field)
    if values is None and not required:
        return None
    if not isinstance(values, list) or not values:
        raise ValueError(f"{field} must be a non-empty list of per-epoch values, got {type(values).__name__}")
    out = [_number(v, f"{field}[{e}]") for e, v in enumerate(values)]
    if field.endswith("top1") and any(not 0 <= v <= 100 for v in out):
        raise ValueError(f"{field} must be top-1 errors in % (0..100), got {min(out)}..{max(out)}")
    return out


def job_row(job) -> tuple[str, dict, dict]:
    """(key, row, net fields) of one job; ValueError / ArchError for a malformed job."""
    if not isinstance(job, dict):
        raise ValueError(f"a job is a JSON object, got {type(job).__name__}")
    net = job.get("net")
    if not isinstance(net, dict) or "genotype" not in net:
        raise ValueError("a job needs net.genotype")
    genotype = net["genotype"]
    if not isinstance(genotype, dict):
        raise ValueError(f"net.genotype must be an object, got {type(genotype).__name__}")
    key = darts.key(darts.check(genotype, darts.NDS_OPS))
    if "rng_seed" not in job or isinstance(job["rng_seed"], bool) or not isinstance(job["rng_seed"], int):
        raise ValueError(f"rng_seed must be an int, got {job.get('rng_seed')!r}")
    test = _errors(job, "test_ep_top1")
    train = _errors(job, "train_ep_top1")
    loss = _errors(job, "train_ep_loss", required=False)
    for name, values in (("train_ep_top1", train), ("train_ep_loss", loss)):
        if values is not None and len(values) != len(test):
            raise ValueError(f"{name} has {len(values)} epochs, test_ep_top1 {len(test)}")
    nan = [math.nan] * len(test)
    row = {"arch": key, "seed": job["rng_seed"],
           "train_acc": [100.0 - v for v in train], "train_loss": loss if loss is not None else nan,
           "valid_acc": nan, "valid_loss": nan,
           "test_acc": [100.0 - v for v in test], "test_loss": nan,
           "params": _number(job.get("params"), "params"), "flops": _number(job.get("flops"), "flops"),
           "wall_time": math.nan}
    return key, row, {f: net.get(f) for f in NET_FIELDS}


def _sorted(values: set) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types (e.g. a null beside numbers)
        return sorted(values, key=repr)


def nds_table(path: str | Path) -> GTTable:
    """The GTTable of an NDS DARTS file (see the module docstring); GTFileError naming the
    first malformed job otherwise."""
    path = Path(path)
    jobs = read_jobs(path)
    rows: dict[tuple[str, int], dict] = {}
    nets: dict[str, set] = {}
    optims: set[str] = set()
    replaced = 0
    epochs = None
    for i, job in enumerate(jobs):
        try:
            key, row, net = job_row(job)
        except (ValueError, ArchError) as e:
            raise GTFileError(f"{path}: job {i}: {e}") from None
        n = len(row["test_acc"])
        if epochs is None:
            epochs = n
        elif n != epochs:
            raise GTFileError(f"{path}: job {i}: {n} epochs, but job 0 has {epochs} (every job must have "
                              "the same number)")
        replaced += (key, row["seed"]) in rows
        rows[key, row["seed"]] = row
        nets.setdefault(key, set()).add(json.dumps(net, sort_keys=True))
        optims.add(json.dumps(job.get("optim"), sort_keys=True))
    values = {f: _sorted({json.loads(s)[f] for ss in nets.values() for s in ss}) for f in NET_FIELDS}
    recipe = {"source": "facebookresearch/nds", "file": path.name, "epochs": epochs,
              "metric": "100 - top-1 error (%) per epoch (test_ep_top1, train_ep_top1)",
              "net": values, "optim": sorted(json.loads(s) for s in optims)
              if len(optims) <= 8 else f"{len(optims)} distinct recipes"}
    meta = {"jobs": len(jobs), "archs": len(nets), "replaced_same_seed": replaced,
            "archs_with_several_nets": sum(len(v) > 1 for v in nets.values()),
            "note": "seeds merged per canonical genotype, as the official NDS loader merges them"}
    return GTTable.from_rows(list(rows.values()), space=SPACE, task=f"nds/{path.stem}", recipe=recipe, meta=meta)


def convert_nds(path: str | Path, out: str | Path | None = None) -> dict:
    """Convert an NDS DARTS file into the compact table at ``out`` (default: $LMREG_NDS_DARTS_H5
    or ~/.cache/lmreg/nds_darts.h5), atomically. Returns a short summary."""
    table = nds_table(path)
    out = Path(out) if out is not None else default_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write(out)
    acc = table.per_arch("test_acc")
    return {"out": str(out), "jobs": table.meta["jobs"], "archs": len(acc), "rows": len(table),
            "epochs": table.epochs, "test_acc_min": float(acc.min()), "test_acc_max": float(acc.max())}


def load(path: str | Path | None = None) -> GTTable:
    """The converted table; converted on first use from $LMREG_NDS_DARTS_JSON when set."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        src = source_file()
        if src is None:
            raise GTFileError(f"{path}: no NDS DARTS table; set ${ENV_JSON} to the downloaded DARTS.json "
                              "(https://dl.fbaipublicfiles.com/nds/data.zip)")
        convert_nds(src, path)
    return GTTable.read(path)
