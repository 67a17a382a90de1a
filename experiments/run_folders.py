"""Checks of the run folders a batch of runs writes into, before any run starts.

* ``preflight``: for a batch of runs into one folder, before any worker starts and
  before the folder is created: the config checks once per ground truth, each task's
  data loaded once (a missing or corrupt dataset is one line here, not one per
  worker), no two configs sharing a run folder, no run folder another process is
  writing, no record of another config in the way.
* ``finished_record``: whether a run folder already holds this run's record, for
  the same config *and* the same ground truth; anything else in the way is an error.
"""

from __future__ import annotations

from pathlib import Path

from lmreg.bench import registry
from lmreg.bench.datasets.tasks import load_task
from lmreg.core.errors import BusyError, ConfigError
from lmreg.core.fileio import ensure_dir, is_locked
from lmreg.experiments.checks import check_runnable, check_task_sizes
from lmreg.experiments.runconfig import run_name, same_setting
from lmreg.results.identity import ground_truth_digest
from lmreg.results.records import RECORD_NAME, read_record


def preflight(configs, out_dir: str | Path) -> None:
    """Checks for a batch of runs into ``out_dir`` before any of them starts."""
    out_dir = Path(out_dir)
    seen: dict[str, object] = {}
    for cfg in configs:
        name = run_name(cfg)
        if name in seen:
            raise ConfigError(f"two runs would share the folder {out_dir / name}: the same config and seed "
                              "listed twice")
        seen[name] = cfg
    checked, loaded = set(), {}
    for cfg in configs:
        key = (cfg.benchmark, cfg.gt_metric, cfg.landmarks.m, cfg.eval.pool_size, cfg.device)
        if key not in checked:
            check_runnable(cfg)
            checked.add(key)
        if cfg.task not in loaded:  # a missing or corrupt dataset fails here, not in every worker
            loaded[cfg.task] = load_task(cfg.task)
        check_task_sizes(cfg, loaded[cfg.task])
    del loaded
    for name, cfg in seen.items():
        run_dir = out_dir / name
        if is_locked(run_dir):
            raise BusyError(f"{run_dir}: another process is training this run right now; wait for it to "
                            "finish or use another --out")
        finished_record(run_dir / RECORD_NAME, cfg)
    ensure_dir(out_dir)  # a file in the way, a read-only folder: one line now, not in every worker


def ground_truth_info(cfg, gt=None) -> dict:
    """What a run is scored against: benchmark, GT metric, number of cells and the digest
    of the per-architecture values (`results.identity.ground_truth_digest`)."""
    if gt is None:
        gt = registry.load(cfg.benchmark).per_arch(cfg.gt_metric)
    return {"benchmark": cfg.benchmark, "metric": cfg.gt_metric, "cells": int(len(gt)),
            "digest": ground_truth_digest(gt)}


def finished_record(record_path: str | Path, cfg, gt_info: dict | None = None) -> bool:
    """True when ``record_path`` holds a finished run of ``cfg`` scored against the
    ground truth the config names now; False when there is no record. A record of another
    config, or of the same config scored against another version of the table (rebuilt
    since: its landmarks, pool and metrics are stale), raises ConfigError. Records written
    before the digest was stored are checked by their pool's and landmarks' GT values."""
    record_path = Path(record_path)
    if not record_path.exists():
        return False
    rec = read_record(record_path)
    if not same_setting(rec["attrs"]["config"], cfg):
        raise ConfigError(f"{record_path} holds a run with a different config; use another --out")
    stored = rec["attrs"].get("ground_truth", {}).get("digest")
    if stored is not None:
        info = gt_info or ground_truth_info(cfg)
        stale = stored != info["digest"]
    else:
        gt = registry.load(cfg.benchmark).per_arch(cfg.gt_metric)
        rows = [t for name in ("pool", "landmarks") if len(t := rec["tables"][name])]
        stale = any(not set(t["arch"]) <= set(gt.index) or
                    not (abs(gt.loc[list(t["arch"])].to_numpy() - t["gt"].to_numpy()) < 1e-9).all()
                    for t in rows)
    if stale:
        raise ConfigError(f"{record_path} was scored against another version of {cfg.benchmark!r} "
                          f"(the table has changed since); move that run folder away or use another --out")
    return True
