"""The rankers of table B1 (`lmreg reproduce B1`): for every finished super-net run of the
grid (one per space and seed: both arms of a seed share pool and landmarks), every
training-free ranker and every landmark predictor scores exactly that run's evaluation
pool. Each (space, ranker, seed) becomes its own small record,
OUT/B1-rankers/<ranker>-seed<N>/record.h5 for NB201 and
OUT/B1-rankers/<space>-<ranker>-seed<N>/record.h5 for another space (nb101-...), with the
source run and the digest of the GT it was scored against; finished ones are skipped, one
that no longer matches its source run is refused. Rendering is paper_figures/b1.py's; a
summary set (paper_figures/summaries.py) carries these records as derived records named
B1-rankers/<folder>, read and checked by the same ``collect``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmreg.core.errors import ConfigError
from lmreg.paper_figures.definitions import EntryResult, GridEntry
from lmreg.results.records import RECORD_NAME, RecordError, read_record, write_record

RANKER_DIR = "B1-rankers"
RECORD_KIND = "b1-ranker"
BATCH_SIZE = 64                     # images per ranker batch (zero-cost-nas nasbench2_pred.py:36)
# Both losses of both predictors: the fair comparison for the landmark super-net (same M labels).
PREDICTORS = ("gcn-pairwise", "gcn-mse", "mlp-pairwise", "mlp-mse")
PREDICTOR_FIT = {"epochs": 300, "lr": 1e-3, "weight_decay": 1e-4}  # fit_predict's defaults, stated
# The dry-run's ranker costs at the micro preset's size (C=8, N=1, 16x16 images, batch 64, one CPU
# thread): seconds per architecture, averaged over the training-free rankers, and per predictor
# fit (50 landmarks, 100 cells predicted); the measurements behind them are in docs/rankers.md.
# Other sizes and devices get no estimate rather than a scaled guess.
RANKER_S_PER_ARCH = 0.03
PREDICTOR_FIT_S = 1.0
ESTIMATE_NOTE = (f"Ranker estimate: {RANKER_S_PER_ARCH} s per architecture per training-free ranker and "
                 f"{PREDICTOR_FIT_S} s per predictor fit, measured at the micro preset's size on one CPU core "
                 "of the development machine; other sizes and devices have no estimate.")


def ranker_ids() -> list[str]:
    from lmreg.algorithms.rankers import ranker_names
    return [*ranker_names(), *PREDICTORS]


def kind_of(ranker: str) -> str:
    return "predictor" if ranker in PREDICTORS else "training-free"


def record_name(space: str, ranker: str, seed: int) -> str:
    """The record's folder under OUT (and its name in a summary set). ``space`` as the grid names
    it (GridEntry.space). NB201 was B1's only space when its first records were written: its
    paths stay as they were, so those records are still found."""
    prefix = "" if space == "NB201" else f"{space.lower()}-"
    return f"{RANKER_DIR}/{prefix}{ranker}-seed{seed}"


def record_path(out_dir: str | Path, space: str, ranker: str, seed: int) -> Path:
    return Path(out_dir) / record_name(space, ranker, seed) / RECORD_NAME


def settings(ranker: str, config: dict, batch_size: int = BATCH_SIZE) -> dict:
    """Everything besides the pool and the landmarks that decides a ranker's scores
    (JSON-normalised, as stored)."""
    from lmreg.experiments.runconfig import draw_seeds, from_dict
    if kind_of(ranker) == "predictor":
        model, _, loss = ranker.partition("-")
        out = {"model": model, "loss": loss, "seed": config["seed"], **PREDICTOR_FIT}
    else:
        out = {"ranker": ranker, "batch_size": batch_size, "seed": config["seed"], "net": config["net"],
               "task": config["task"], "split_seed": draw_seeds(from_dict(config))["split"],
               "space": config["space"], "device": config["device"]}
    return json.loads(json.dumps(out))


def sources(results: list[EntryResult]) -> dict[tuple[str, int], dict]:
    """Per (space, seed), in grid order, the super-net record whose pool and landmarks the rankers
    use: the landmarks arm's when finished, else the baseline's (both arms share them; checked)."""
    by_seed: dict[tuple[str, int], list[dict]] = {}
    for er in results:
        if er.entry.kind != "supernet":
            continue
        for rec in er.records:
            by_seed.setdefault((er.entry.space, rec["attrs"]["config"]["seed"]), []).append(rec)
    spaces = list(dict.fromkeys(space for space, _ in by_seed))
    out = {}
    for (space, seed), recs in sorted(by_seed.items(), key=lambda kv: (spaces.index(kv[0][0]), kv[0][1])):
        recs.sort(key=lambda r: not r["attrs"]["config"]["use_landmarks"])
        first = recs[0]
        for other in recs[1:]:
            for table in ("pool", "landmarks"):
                if list(first["tables"][table]["arch"]) != list(other["tables"][table]["arch"]):
                    raise RecordError(f"{first['path']} and {other['path']} ({space}, seed {seed}) have different "
                                      f"{table} architectures; B1 needs both arms of a seed on one pool")
        out[(space, seed)] = first
    return out


def _run_folder(source: dict) -> str:
    return Path(source["path"]).parent.name


def _source_gt(source: dict) -> dict:
    """The source run's ground-truth info; records older than the digest were checked against
    today's table by finished_record, so today's digest stands for theirs."""
    stored = source["attrs"].get("ground_truth")
    if stored and stored.get("digest"):
        return stored
    from lmreg.experiments.run_folders import ground_truth_info
    from lmreg.experiments.runconfig import from_dict
    return ground_truth_info(from_dict(source["attrs"]["config"]))


OUT_FIX = "move it away or use another --out"


def check_ranker(rec: dict, source: dict, batch_size: int = BATCH_SIZE, fix: str = OUT_FIX) -> None:
    """A ConfigError (ending in ``fix``) unless ``rec`` (a record or its summary) is a ranker
    record for ``source``'s seed: the same settings, pool, landmarks (predictors) and GT digest;
    which arm of the seed it was taken from does not matter (they share pool and landmarks)."""
    a, tables, path = rec["attrs"], rec["tables"], rec["path"]
    if a.get("kind") != RECORD_KIND:
        raise ConfigError(f"{path} is not a B1 ranker record; {fix}")
    ranker, run = a["ranker"], _run_folder(source)
    gt = _source_gt(source)
    if a.get("ground_truth", {}).get("digest") != gt["digest"]:
        raise ConfigError(f"{path} was scored against another version of {gt['benchmark']!r} than its super-net "
                          f"run {run}; {fix}")
    same = (a.get("settings") == settings(ranker, source["attrs"]["config"], batch_size)
            and all(list(tables[t]["arch"]) == list(source["tables"][t]["arch"]) for t in tables))
    if not same:
        raise ConfigError(f"{path} holds {ranker} scores of another pool, landmarks or settings than its super-net "
                          f"run {run}; {fix}")


def finished_ranker(path: str | Path, source: dict, batch_size: int = BATCH_SIZE) -> bool:
    """True when ``path`` holds this ranker's record for ``source``'s seed (check_ranker); False
    when there is none; anything else in the way is a ConfigError."""
    path = Path(path)
    if not path.exists():
        return False
    check_ranker(read_record(path, run=False), source, batch_size)
    return True


@dataclass
class RankerJob:
    space: str                   # as the grid names it (GridEntry.space)
    ranker: str
    seed: int
    path: Path
    source: dict | None          # the super-net record (None: not finished yet)
    pool_size: int
    m: int                       # landmarks (the predictors' training set)
    done: bool
    cost_s: float | None         # estimated seconds (None: no estimate for this size or device)


def _estimate(ranker: str, config: dict, pool_size: int) -> float | None:
    if kind_of(ranker) == "predictor":
        return PREDICTOR_FIT_S
    micro_size = config["device"] == "cpu" and config["net"]["C"] <= 8 and config["net"]["N"] == 1 \
        and config["task"] in ("micro-fmnist", "smoke-fmnist")
    return RANKER_S_PER_ARCH * pool_size if micro_size else None


def plan(runs, results: list[EntryResult], out_dir: str | Path, batch_size: int = BATCH_SIZE) -> list[RankerJob]:
    """One job per (space, ranker, seed) of the grid (``runs``: reproduce.plan's PlannedRuns), in
    grid order; a seed whose super-net runs are not finished has jobs with no source yet."""
    from lmreg.experiments.runconfig import to_dict

    found = sources(results)
    configs = {}
    for r in runs:
        if r.config is not None:
            configs.setdefault((r.entry.space, r.seed), to_dict(r.config))
    jobs = []
    for space, seed in [*configs, *(k for k in found if k not in configs)]:
        source = found.get((space, seed))
        config = source["attrs"]["config"] if source else configs[(space, seed)]
        pool_size = len(source["tables"]["pool"]) if source else config["eval"]["pool_size"]
        m = len(source["tables"]["landmarks"]) if source else config["landmarks"]["m"]
        for ranker in ranker_ids():
            path = record_path(out_dir, space, ranker, seed)
            done = finished_ranker(path, source, batch_size) if source else False
            jobs.append(RankerJob(space, ranker, seed, path, source, pool_size, m, done,
                                  _estimate(ranker, config, pool_size)))
    return jobs


def format_plan(jobs: list[RankerJob], out_dir: str | Path) -> str:
    from lmreg.experiments.reproduce import _fmt_s

    todo = [j for j in jobs if not j.done]
    waiting = [j for j in todo if j.source is None]
    lines = [f"B1 rankers: {len(jobs)} records ({sum(j.done for j in jobs)} finished, {len(todo) - len(waiting)} "
             f"to compute, {len(waiting)} waiting for their super-net run) in {Path(out_dir) / RANKER_DIR}", ""]
    width = max([len(j.path.parent.name) for j in jobs] + [6])
    lines.append(f"  {'record':{width}s}  {'state':13s} {'pool':>5s} {'GT labels':>9s}  estimate")
    for j in jobs:
        state = "finished" if j.done else "to compute" if j.source else "waits for run"
        labels = j.m if kind_of(j.ranker) == "predictor" else 0
        lines.append(f"  {j.path.parent.name:{width}s}  {state:13s} {j.pool_size:5d} {labels:9d}  "
                     f"{_fmt_s(j.cost_s) if not j.done else '-'}")
    lines.append("")
    if todo:
        known = [j.cost_s for j in todo if j.cost_s is not None]
        total = _fmt_s(sum(known)) if len(known) == len(todo) else \
            f"unknown ({len(todo) - len(known)} without an estimate; the other {len(known)}: {_fmt_s(sum(known))})"
        lines.append(f"Estimated cost of the {len(todo)} ranker records to compute: {total} (one process, in "
                     "order, after the super-net runs). " + ESTIMATE_NOTE)
    else:
        lines.append("No ranker record to compute.")
    return "\n".join(lines)


def _record(job: RankerJob, batch_size: int, on_arch) -> dict:
    """Score the source run's pool with the job's ranker: the record to write."""
    import torch

    from lmreg.core.devices import check_available
    from lmreg.experiments.runconfig import draw_seeds, from_dict
    from lmreg.experiments.runner import _git_commit, _versions
    from lmreg.paper_figures.b1 import ranking_scores
    from lmreg.paper_figures.metrics import all_metrics
    from lmreg.spaces.base import get_space

    source = job.source
    cfg = from_dict(source["attrs"]["config"])
    space = get_space(cfg.space)
    pool, lms = source["tables"]["pool"], source["tables"]["landmarks"]
    archs = [space.parse(a) for a in pool["arch"]]
    gt = pool["gt"].to_numpy(float)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        if kind_of(job.ranker) == "predictor":
            from lmreg.algorithms.predictors.fit import fit_predict
            model, _, loss = job.ranker.partition("-")
            t0 = time.perf_counter()
            scores = fit_predict(model, [space.parse(a) for a in lms["arch"]], lms["gt"].to_numpy(float), archs,
                                 loss=loss, seed=cfg.seed, space=space, **PREDICTOR_FIT)
            total = time.perf_counter() - t0
            on_arch(len(archs))
            labels, timings = len(lms), {"total_s": total, "train_s": total}
        else:
            from lmreg.algorithms.rankers.pool import score_pool
            from lmreg.bench.datasets.tasks import load_task
            check_available(cfg.device)
            task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
            scores, seconds = score_pool(space, archs, task, cfg.net, job.ranker, seed=cfg.seed,
                                         batch_size=batch_size, on_arch=lambda: on_arch(1))
            labels, timings = 0, {"total_s": float(seconds.sum()), "per_arch_s": float(seconds.mean())}
    finally:
        torch.set_num_threads(threads)
    scores = np.asarray(scores, dtype=float)
    tables = {"pool": [{"arch": a, "gt": float(g), "score": float(s)} for a, g, s in zip(pool["arch"], gt, scores)]}
    if labels:  # a predictor's training set
        tables["landmarks"] = [{"arch": a, "gt": float(g)} for a, g in zip(lms["arch"], lms["gt"])]
    return {"attrs": {"kind": RECORD_KIND, "ranker": job.ranker, "ranker_kind": kind_of(job.ranker),
                      "settings": settings(job.ranker, source["attrs"]["config"], batch_size),
                      "source_run": _run_folder(source), "ground_truth": _source_gt(source),
                      "final_metrics": all_metrics(ranking_scores(scores), gt), "gt_labels": labels,
                      "nonfinite_scores": int((~np.isfinite(scores)).sum()), "timings": timings,
                      "versions": _versions(), "git_commit": _git_commit()},
            "tables": tables}


def compute(jobs: list[RankerJob], progress: bool = True, batch_size: int = BATCH_SIZE) -> list[Path]:
    """Write the record of every job that has a source and is not finished, in this process
    (they take about a minute at micro scale); one progress bar over pool architectures."""
    from tqdm import tqdm

    todo = [j for j in jobs if j.source is not None and not j.done]
    written = []
    with tqdm(total=sum(j.pool_size for j in todo), unit="arch", disable=not progress or not todo,
              dynamic_ncols=True, desc=f"B1: {len(todo)} ranker records") as bar:
        for job in todo:
            bar.set_postfix_str(f"{job.space} {job.ranker} seed {job.seed}", refresh=False)
            written.append(write_record(job.path, _record(job, batch_size, bar.update)))
    return written


def collect(results: list[EntryResult], out_dir: str | Path | None, batch_size: int = BATCH_SIZE,
            records: dict[str, dict] | None = None) -> list[EntryResult]:
    """One EntryResult per space of the grid and ranker (GridEntry kind "training-free" or
    "predictor"): its records for the seeds whose super-net runs are finished, each checked
    against its source run. Read from out_dir, or with ``records`` (a summary set's derived
    records by record_name) from those."""
    found = sources(results)
    presets = {}  # space -> its super-nets' preset, in grid order
    for er in results:
        if er.entry.kind == "supernet":
            presets.setdefault(er.entry.space, er.entry.preset)
    out = []
    for space, preset in presets.items():
        seeds = tuple(seed for s, seed in found if s == space)
        for ranker in ranker_ids():
            found_records = []
            for seed in seeds:
                if records is None:
                    path = record_path(out_dir, space, ranker, seed)
                    rec = read_record(path, run=False) if path.exists() else None
                    fix = OUT_FIX
                else:
                    rec, fix = records.get(record_name(space, ranker, seed)), "export the set again"
                if rec is not None:
                    check_ranker(rec, found[(space, seed)], batch_size, fix)
                    found_records.append(rec)
            out.append(EntryResult(GridEntry(ranker, preset, seeds=seeds, space=space, kind=kind_of(ranker)),
                                   found_records))
    return out
