"""One super-net run from config to record: pick landmarks and the evaluation
pool from the ground truth, train with checkpoints after every epoch, score the
pool, write the record. A finished run is skipped; an interrupted one resumes
from its last checkpoint and ends with the same record (bit-for-bit on CPU).

Everything that can fail without training is checked before the run folder is
created. While a process writes a run folder it holds a lock on it; every file
in it is written atomically and durably (`core.fileio`)."""

from __future__ import annotations

import platform
import queue
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from lmreg.algorithms import distributed
from lmreg.algorithms.base import get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.algorithms.scoring import score
from lmreg.algorithms.search import SupernetQueries, regularized_evolution
from lmreg.bench import registry
from lmreg.bench.datasets.tasks import load_task
from lmreg.bench.landmarks import select_landmarks, select_pool
from lmreg.core.errors import UserError
from lmreg.core.fileio import ensure_dir, locked, temp_files, torch_save
from lmreg.experiments import growing
from lmreg.experiments.checks import check_config, check_runnable, check_task_sizes
from lmreg.experiments.executor import run_jobs, spawn_context
from lmreg.experiments.gt_build import train_cell
from lmreg.experiments.run_folders import finished_record, ground_truth_info, preflight
from lmreg.experiments.runconfig import RunConfig, draw_seeds, run_name, same_setting, to_dict
from lmreg.paper_figures.metrics import all_metrics, gt_rank_ids, official_percentiles
from lmreg.results.records import RECORD_NAME, read_record, write_record
from lmreg.spaces.base import SearchSpace, get_space

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "supernet.pt"  # final super-net weights, for `lmreg evaluate`


class RunError(UserError):
    pass


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict:
    import h5py
    import scipy
    # CPU kernels (AVX2 vs AVX-512) and threads change float paths: runs are bit-identical
    # on one machine only, so a record says where it ran.
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__, "platform": platform.platform(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else ""}


@dataclass
class RunPlan:
    """Everything a run needs besides training, found before its folder exists."""
    space: SearchSpace
    task: object
    gt: pd.Series                 # the GT metric per architecture key
    landmarks: list[str]          # GT-ascending keys
    pool: list[str]
    gt_info: dict                 # benchmark, metric, cells and digest of `gt`


def choose_archs(cfg: RunConfig):
    """GT series, landmarks (GT-ascending) and pool: table look-ups, no training.
    Both variants of a seed see the same pool, so their difference is paired."""
    gt = registry.load(cfg.benchmark).per_arch(cfg.gt_metric)
    seeds = draw_seeds(cfg)
    landmarks = select_landmarks(gt, cfg.landmarks.m, cfg.landmarks.selection, seeds["landmarks"])
    pool = select_pool(gt, cfg.eval.pool_size, exclude=landmarks, seed=seeds["pool"])
    return gt, landmarks, pool


def prepare(cfg: RunConfig) -> RunPlan:
    """Checks, data and the architecture draws; fails before anything is written."""
    check_runnable(cfg)
    torch.set_num_threads(cfg.threads)
    task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
    check_task_sizes(cfg, task)
    gt, landmarks, pool = choose_archs(cfg)
    return RunPlan(get_space(cfg.space), task, gt, landmarks, pool, ground_truth_info(cfg, gt))


def build_supernet(cfg: RunConfig, task, space: SearchSpace | None = None) -> torch.nn.Module:
    space = space or get_space(cfg.space)
    model = space.build_supernet(cfg.net, task.spec.in_channels, task.spec.num_classes).to(task.device)
    if task.device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # ~15% faster with oneDNN
    return model


def _load_torch(path: Path, device, what: str, weights_only: bool):
    try:
        return torch.load(path, map_location=device, weights_only=weights_only)
    except Exception as e:  # pickle, zip and torch errors all mean: not a file this harness wrote
        raise RunError(f"{path}: unreadable {what} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                       "delete it to start this run over") from None


def run(cfg: RunConfig, out_dir: str | Path, on_epoch: Callable[[dict], None] | None = None,
        max_steps: int | None = None) -> Path:
    """``max_steps`` cuts every epoch to that many steps: a smoke run, never a result
    (`lmreg train --smoke` runs it in a temporary folder and records it as such)."""
    run_dir = Path(out_dir) / run_name(cfg)
    record_path = run_dir / RECORD_NAME
    if finished_record(record_path, cfg):
        return record_path
    shard = distributed.current()
    if shard is not None:
        if not get_algorithm(cfg.algorithm).supports_distributed:
            raise RunError(f"algorithm {cfg.algorithm} cannot train over several torchrun ranks yet; "
                           "run it in one process")
        if cfg.use_landmarks and cfg.landmarks.grow_rounds:
            raise RunError("landmark growing (landmarks.grow_rounds) runs in one process only, not over "
                           "torchrun ranks")
        if shard.rank != 0:  # rank 0 owns the folder; the others train with it and write nothing
            return _train_as_helper(cfg, run_dir, max_steps)
    plan = prepare(cfg)  # everything that can fail without training fails here, before the folder exists
    created = not run_dir.exists()
    ensure_dir(run_dir)
    try:
        with locked(run_dir, "this run"):
            if finished_record(record_path, cfg, plan.gt_info):  # finished by another process meanwhile
                return record_path
            for stale in temp_files(run_dir):  # left by a killed writer
                stale.unlink(missing_ok=True)
            path = _train_and_record(cfg, run_dir, plan, on_epoch, max_steps)
        if shard is not None:
            torch.distributed.barrier()  # the helpers wait for the record
        return path
    except BaseException:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # failed before writing anything: leave no empty folder behind
        raise


def _train_as_helper(cfg: RunConfig, run_dir: Path, max_steps: int | None) -> Path:
    """A torchrun rank other than 0: the same training steps on its share of every
    batch (gradients summed over ranks), from the same checkpoint; no scoring, no files."""
    plan = prepare(cfg)
    trainer = make_trainer(cfg, plan)
    state = _resume(trainer, run_dir / CHECKPOINT_NAME, cfg, plan.task.device)
    for epoch in range(state["epoch"], cfg.train.epochs):
        trainer.train_epoch(epoch, max_steps)
    torch.distributed.barrier()
    return run_dir / RECORD_NAME


def make_trainer(cfg: RunConfig, plan: RunPlan):
    """The configured algorithm's trainer on a fresh super-net (seeded by the run seed)."""
    torch.manual_seed(cfg.seed)
    model = build_supernet(cfg, plan.task, plan.space)
    algorithm = get_algorithm(cfg.algorithm)
    reg = (LandmarkRegularizer(cfg.landmarks, [plan.space.parse(a) for a in plan.landmarks],
                               cfg.train.warmup_epochs, algorithm.landmark_horizon(cfg)) if cfg.use_landmarks else None)
    tables = {"path_archs": [plan.space.parse(a) for a in plan.gt.index]} if cfg.train.path_sampler == "table" else {}
    return algorithm(model, plan.task, cfg.train, cfg.seed, plan.space, reg, cfg.algo, **tables)


def _resume(trainer, ckpt: Path, cfg: RunConfig, device, gt_info: dict | None = None) -> dict:
    """The run state of the last checkpoint (its trainer state loaded), or a fresh one."""
    if not ckpt.exists():
        return {"epoch": 0, "curves": [], "evals": [], "train_s": 0.0, "score_s": 0.0}
    saved = _load_torch(ckpt, device, "checkpoint", weights_only=False)
    if not isinstance(saved, dict) or not {"config", "trainer", "state"} <= saved.keys():
        raise RunError(f"{ckpt}: not an lmreg checkpoint (wrong structure); delete it to start this run over")
    if not same_setting(saved["config"], cfg):
        raise RunError(f"{ckpt} belongs to a run with a different config; use another --out")
    if gt_info is not None and saved.get("ground_truth", gt_info)["digest"] != gt_info["digest"]:
        raise RunError(f"{ckpt} was trained against another version of {cfg.benchmark!r} (its landmarks "
                       "and pool are stale); delete it to start this run over")
    try:
        trainer.load_state_dict(saved["trainer"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise RunError(f"{ckpt}: checkpoint does not fit this run's super-net or optimiser "
                       f"({type(e).__name__}); delete it to start this run over") from None
    return saved["state"]


def _train_and_record(cfg: RunConfig, run_dir: Path, plan: RunPlan, on_epoch, max_steps: int | None = None) -> Path:
    trainer = make_trainer(cfg, plan)
    model, task = trainer.model, plan.task
    ckpt = run_dir / CHECKPOINT_NAME
    state = _resume(trainer, ckpt, cfg, task.device, plan.gt_info)
    state.setdefault("landmarks", list(plan.landmarks))
    state.setdefault("grow", [])
    if trainer.reg is not None:  # a resumed run continues with the landmarks it had grown
        trainer.reg.set_landmarks([plan.space.parse(a) for a in state["landmarks"]])
    lm = cfg.landmarks
    rounds = growing.grow_epochs(cfg.train.warmup_epochs, cfg.train.epochs, lm.grow_rounds) \
        if cfg.use_landmarks else []
    pool_archs = [plan.space.parse(a) for a in plan.pool]
    gt_pool = plan.gt.loc[plan.pool].to_numpy()

    def checkpoint() -> None:
        torch_save({"config": to_dict(cfg), "trainer": trainer.state_dict(), "state": state,
                    "ground_truth": plan.gt_info}, ckpt)

    for epoch in range(state["epoch"], cfg.train.epochs):
        curve = trainer.train_epoch(epoch, max_steps)
        state["train_s"] += curve["epoch_time"]
        state["curves"].append(curve)
        last = epoch == cfg.train.epochs - 1
        if last or (epoch + 1) % cfg.eval.every == 0:
            t0 = time.perf_counter()
            acc, loss = _score(model, pool_archs, task, cfg)
            state["score_s"] += time.perf_counter() - t0
            state["evals"].append({"epoch": epoch, **all_metrics(acc, gt_pool, loss)})
            if last:
                state["pool_scores"] = (acc, loss)
        if epoch in rounds:
            t0 = time.perf_counter()
            _grow(trainer, plan, state, cfg, epoch, rounds.index(epoch) + 1)
            state["score_s"] += time.perf_counter() - t0
        state["epoch"] = epoch + 1
        checkpoint()
        if on_epoch:
            on_epoch(curve)

    t0 = time.perf_counter()
    lm_acc, lm_loss = _score(model, [plan.space.parse(a) for a in state["landmarks"]], task, cfg)
    # The search and the training of the cell it finds take minutes: each is checkpointed when
    # done, so a killed run resumes after the last of them (the search leaves the weights as they were).
    if "search" not in state:
        state["search"] = search_result(trainer, plan, state["pool_scores"][0], cfg, state, checkpoint)
        checkpoint()
    search = state["search"]
    state["score_s"] += time.perf_counter() - t0
    torch_save(model.state_dict(), run_dir / WEIGHTS_NAME)
    record_path = run_dir / RECORD_NAME
    record = _record(cfg, plan, state, lm_acc, lm_loss, search)
    if max_steps is not None:
        record["attrs"]["smoke_max_steps"] = max_steps
    write_record(record_path, record)
    ckpt.unlink(missing_ok=True)  # the record is durable; the checkpoint is no longer needed
    return record_path


def _grow(trainer, plan: RunPlan, state: dict, cfg: RunConfig, epoch: int, round_index: int) -> None:
    """One growing round (experiments/growing.py): score the candidates, label grow_k of
    them, add them to the landmarks the regulariser draws its pairs from."""
    lm = cfg.landmarks
    keys = growing.candidates(plan.gt, state["landmarks"], plan.pool)
    scores = None
    if lm.grow_select == "top":
        scores = _score(trainer.model, [plan.space.parse(a) for a in keys], plan.task, cfg)[0]
    rng = np.random.default_rng([cfg.seed, round_index, 2021])
    chosen = growing.pick(keys, scores, lm.grow_k, lm.grow_select, rng)
    state["landmarks"], row = growing.grow_round(plan.gt, state["landmarks"], chosen, epoch, round_index, len(keys))
    pool_acc, pool_loss = _score(trainer.model, [plan.space.parse(a) for a in plan.pool], plan.task, cfg)
    row.update({f"pool_{k}": v for k, v in all_metrics(pool_acc, plan.gt.loc[plan.pool].to_numpy(), pool_loss).items()})
    state["grow"].append(row)
    trainer.reg.set_landmarks([plan.space.parse(a) for a in state["landmarks"]])


def search_result(trainer, plan: RunPlan, pool_acc, cfg: RunConfig, state: dict | None = None,
                  checkpoint: Callable[[], None] = lambda: None) -> dict:
    """The architecture the trained super-net would return as its search result, by the
    algorithm's procedure (`search_candidates`), else by `cfg.search` (the official
    regularised evolution, or the best-scored pool cell), with its ground truth and GT
    percentile among all cells of the table (100 * cells with lower GT / (cells - 1))."""
    proposal = trainer.search_candidates(set(plan.gt.index))
    if proposal is None and cfg.search.method == "evolution":
        return evolution_result(trainer, plan, cfg, {} if state is None else state, checkpoint)
    if proposal is None or not proposal[1]:
        method = "best-scored pool architecture" + ("" if proposal is None else
                                                    f" ({proposal[0]}: no candidate had ground truth)")
        keys, accs = plan.pool, np.asarray(pool_acc)
    else:
        method, archs = proposal
        keys = [plan.space.key(a) for a in archs]
        accs, _ = _score(trainer.model, archs, plan.task, cfg)
    best = keys[int(np.argmax(accs))]
    gt_all = np.sort(plan.gt.to_numpy())
    gt = float(plan.gt[best])
    out = {"method": method, "arch": best, "gt": gt, "supernet_acc": float(np.max(accs)),
           "gt_percentile": float(100.0 * np.searchsorted(gt_all, gt, side="left") / (len(gt_all) - 1)),
           "candidates": len(keys)}
    derived = trainer.argmax_arch()
    if derived is not None:
        key = plan.space.key(derived)
        out.update(alpha_argmax=key, alpha_argmax_gt=float(plan.gt.get(key, np.nan)))
    return out


def table_key(space, arch, index) -> str | None:
    """The key under which ``index`` (a table's or a score file's) lists ``arch``: its own
    key, else its isomorphism-class representative's (the key harness-built tables use);
    None when it holds neither."""
    keys = [space.key(arch), space.key(space.representative(arch))]
    return next((k for k in keys if k in index), None)


def evolution_result(trainer, plan: RunPlan, cfg: RunConfig, state: dict | None = None,
                     checkpoint: Callable[[], None] = lambda: None) -> dict:
    """Regularised evolution over the trained super-net (algorithms/search.py), its best
    cell looked up in the table; a cell the table lacks is trained stand-alone with the
    table's recipe and seeds (`gt_source` says which), so the result is never restricted
    to the cells a table happens to cover. The evolution's outcome is kept in ``state``
    (then ``checkpoint()``), so a run killed while training the found cell does not search again."""
    s, space = cfg.search, plan.space
    state = {} if state is None else state
    best = None
    if "evolution" not in state:
        t0 = time.perf_counter()
        queries = SupernetQueries(trainer.model, plan.task, s.batches, s.batch_size,
                                  torch.Generator().manual_seed(cfg.seed + 7), cfg.train.landmark_augment)
        # its first population is drawn as the steps' paths are (official random_topology)
        found = regularized_evolution(trainer.path_sampler, space.mutate, queries.fitness, random.Random(cfg.seed + 7),
                                      s.population, s.tournament, s.budget, queries.rescore, s.top)
        state["evolution"] = {"top": [[space.key(a), float(v)] for a, v in found.top], "queries": found.queries,
                              "candidates": len({space.key(a) for a, _ in found.history}),
                              "search_s": time.perf_counter() - t0, "query_s": queries.seconds}
        checkpoint()
        best = found.top[0][0]
    ev = state["evolution"]
    best = space.parse(ev["top"][0][0]) if best is None else best  # resumed: the found cell from its key
    best_score = ev["top"][0][1]
    key = table_key(space, best, plan.gt.index)
    known = [key] if key is not None else []
    keys = [space.key(best)]
    gt_all = np.sort(plan.gt.to_numpy())
    t0 = time.perf_counter()
    if known:
        gt, source, n_cells = float(plan.gt[known[0]]), "table", len(gt_all)
    elif not s.train_missing:
        gt, source, n_cells = float("nan"), "missing (search.train_missing=false)", len(gt_all) + 1
    else:
        table = registry.load(cfg.benchmark)
        if not hasattr(table, "recipe") or not table.recipe:
            raise RunError(f"the search found {keys[0]}, which {cfg.benchmark!r} lacks and cannot train "
                           "(no stand-alone recipe); set search.method=pool")
        gt, seeds = train_cell(table, best, cfg.gt_metric, cfg.device)
        source, n_cells = f"trained (the table's recipe, seeds {', '.join(map(str, seeds))})", len(gt_all) + 1
    lower = int(np.searchsorted(gt_all, gt, side="left")) if np.isfinite(gt) else np.nan
    return {"method": f"regularised evolution (population {s.population}, tournament {s.tournament}, "
                      f"{s.budget} queries of {s.batches} batches)",
            "arch": known[0] if known else keys[0], "gt": gt, "gt_source": source,
            "gt_percentile": 100.0 * lower / (n_cells - 1), "supernet_acc": float(best_score),
            "queries": ev["queries"], "candidates": ev["candidates"], "top": ev["top"],
            "search_s": ev["search_s"], "query_s": ev["query_s"], "gt_train_s": time.perf_counter() - t0}


def official_pool_percentiles(plan: RunPlan, acc, loss) -> dict:
    """The official top-K percentiles of the final pool scores (K = 3, 5, 10, 20): GT rank
    among all cells of the table / cells, min, median and max (paper_figures.metrics)."""
    ranks = pd.Series(gt_rank_ids(plan.gt.to_numpy()), index=plan.gt.index).loc[plan.pool].to_numpy()
    return {f"top{k}": official_percentiles(acc, ranks, len(plan.gt), k, loss)
            for k in (3, 5, 10, 20) if k <= len(plan.pool)}


def _record(cfg: RunConfig, plan: RunPlan, state: dict, lm_acc, lm_loss, search: dict) -> dict:
    acc, loss = state["pool_scores"]
    gt_pool = plan.gt.loc[plan.pool].to_numpy()
    return {
        "attrs": {"config": to_dict(cfg), "versions": _versions(), "git_commit": _git_commit(),
                  "seeds": {"run": cfg.seed, "draws": cfg.draws,
                            **{k: -1 if v is None else v for k, v in draw_seeds(cfg).items()}},
                  "final_metrics": {**state["evals"][-1], "search_gt_percentile": search["gt_percentile"]},
                  "search_result": search, "official_percentiles": official_pool_percentiles(plan, acc, loss),
                  "ground_truth": plan.gt_info,
                  "timings": {"train_s": state["train_s"], "score_s": state["score_s"]}},
        "tables": {
            "curves": state["curves"],
            "evals": state["evals"],
            "landmarks": [{"arch": a, "gt": float(plan.gt[a]), "score_acc": float(s), "score_loss": float(l)}
                          for a, s, l in zip(state["landmarks"], lm_acc, lm_loss)],
            **({"grow": state["grow"]} if state["grow"] else {}),  # only runs that grew their landmarks
            "pool": [{"arch": a, "gt": float(g), "score_acc": float(s), "score_loss": float(l)}
                     for a, g, s, l in zip(plan.pool, gt_pool, acc, loss)],
        },
    }


def evaluate(run_dir: str | Path, changes: list[str] = ()) -> dict:
    """Re-score a finished run's pool with other evaluation settings (`eval.*` keys):
    e.g. another BN mode or more images. Returns the metrics and the settings used."""
    from lmreg.experiments.config import ConfigError, override
    from lmreg.experiments.runconfig import from_dict

    run_dir = Path(run_dir)
    if run_dir.is_file() and run_dir.name == RECORD_NAME:
        run_dir = run_dir.parent  # a record path names its run folder
    rec = read_record(run_dir / RECORD_NAME)
    cfg = from_dict(rec["attrs"]["config"])
    finished_record(run_dir / RECORD_NAME, cfg)  # refuses a run whose ground truth has been rebuilt since
    bad = [c for c in changes if not c.startswith("eval.")]
    if bad:
        raise ConfigError(f"evaluate only changes eval.* keys, got {', '.join(bad)}")
    try:
        cfg = override(cfg, list(changes))
    except (ValueError, KeyError) as e:  # a sub-config's own validation
        raise e if isinstance(e, ConfigError) else ConfigError(str(e.args[0] if e.args else e)) from None
    check_config(cfg)
    weights = run_dir / WEIGHTS_NAME
    if not weights.exists():
        raise RunError(f"{weights}: no super-net weights saved for this run")
    plan = prepare(cfg)
    model = build_supernet(cfg, plan.task, plan.space)
    state = _load_torch(weights, plan.task.device, "super-net weights", weights_only=True)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise RunError(f"{weights}: not the super-net weights of this run (wrong structure: "
                       f"{' '.join(str(e).split())[:150]})") from None
    t0 = time.perf_counter()
    # The losses break accuracy ties in kendall_tau_official, as in the run itself.
    acc, loss = _score(model, [plan.space.parse(a) for a in plan.pool], plan.task, cfg)
    metrics = all_metrics(acc, plan.gt.loc[plan.pool].to_numpy(), loss)
    return {"metrics": metrics, "eval": to_dict(cfg)["eval"], "score_s": time.perf_counter() - t0}


def _score(model, archs, task, cfg: RunConfig):
    e = cfg.eval
    return score(model, archs, task, split=e.split, n=e.n_images, batch_size=e.batch_size,
                 bn_mode=e.bn_mode, recal_batches=e.recal_batches, recal_seed=cfg.seed)


# Many runs at once -------------------------------------------------------------
_PROGRESS = None  # the worker's end of the progress queue (set by its initializer)


def _init_worker(progress_q) -> None:
    global _PROGRESS
    _PROGRESS = progress_q


def _run_in_worker(cfg: RunConfig, out_dir: str) -> str:
    name = run_name(cfg)
    return str(run(cfg, out_dir, on_epoch=lambda curve: _PROGRESS.put(name)))


def run_many(configs: list[RunConfig], out_dir: Path, workers: int, progress: bool = True) -> list[Path]:
    """Run configs in parallel processes (one torch thread each), with one progress
    bar over all epochs. Finished runs are skipped, interrupted ones resume.

    Everything that can be checked without training is checked first, in this
    process: two configs with the same run folder, a folder another process is
    writing, landmark and pool sizes against the ground truth, the device, the
    data. A run that fails later does not stop the others; the first failure is
    raised once they are done. SIGTERM and Ctrl-C stop the workers at once (their
    last checkpoints stay) and are re-raised (experiments.executor)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if not configs:
        return []
    preflight(configs, out_dir)
    progress_q = spawn_context().Queue()
    names = [run_name(c) for c in configs]
    counted = dict.fromkeys(names, 0)
    paths = {}
    try:
        with tqdm(total=sum(c.train.epochs for c in configs), unit="epoch", disable=not progress,
                  dynamic_ncols=True, desc=f"{len(configs)} super-net runs") as bar:
            def drain():
                while True:
                    try:
                        counted[progress_q.get_nowait()] += 1
                    except queue.Empty:
                        return
                    bar.update(1)

            def finished(i: int, path: str):
                drain()
                paths[names[i]] = Path(path)
                # skipped or resumed runs report fewer epochs than they hold
                bar.update(max(0, configs[i].train.epochs - counted[names[i]]))
                counted[names[i]] = configs[i].train.epochs

            errors = run_jobs(_run_in_worker, [(c, str(out_dir)) for c in configs], workers=workers,
                              on_done=finished, init=_init_worker, init_args=(progress_q,), on_poll=drain,
                              keep_going=True,
                              died_message=f"a worker process died (killed by the system, e.g. out of memory?); "
                                           f"finished runs and the last checkpoints are kept in {out_dir}: rerun "
                                           "the same command to resume")
    finally:
        progress_q.close()
        progress_q.join_thread()
    if errors:
        i, first = errors[0]
        if len(errors) > 1 or len(configs) > 1:
            print(f"lmreg: {len(errors)} of {len(configs)} runs failed ({', '.join(names[j] for j, _ in errors)}); "
                  f"{len(paths)} finished. First failure, in {names[i]}:", file=sys.stderr)
        raise first
    return [paths[n] for n in names]
