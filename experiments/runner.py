"""One super-net run from config to record: pick landmarks and the evaluation
pool from the ground truth, train with checkpoints after every epoch, score the
pool, write the record. A finished run is skipped; an interrupted one resumes
from its last checkpoint and ends with the same record (bit-for-bit on CPU).

Everything that can fail without training is checked before the run folder is
created. While a process writes a run folder it holds a lock on it; every file
in it is written atomically and durably (`bench.fileio`)."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.algorithms.scoring import score
from lmreg.algorithms.spos import SPOSTrainer
from lmreg.bench import registry
from lmreg.bench.datasets.tasks import load_task
from lmreg.bench.errors import UserError
from lmreg.bench.fileio import ensure_dir, locked, temp_files, torch_save
from lmreg.bench.landmarks import select_landmarks, select_pool
from lmreg.experiments.checks import check_config, check_runnable, check_task_sizes
from lmreg.experiments.runconfig import RunConfig, draw_seeds, run_name, to_dict
from lmreg.paper_figures.metrics import all_metrics
from lmreg.results.records import RECORD_NAME, read_record, write_record
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig

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


def choose_archs(cfg: RunConfig):
    """GT series, landmarks (GT-ascending) and pool: table look-ups, no training.
    Both variants of a seed see the same pool, so their difference is paired."""
    gt = registry.load(cfg.benchmark).per_arch(cfg.gt_metric)
    seeds = draw_seeds(cfg)
    landmarks = select_landmarks(gt, cfg.landmarks.m, cfg.landmarks.selection, seeds["landmarks"])
    pool = select_pool(gt, cfg.eval.pool_size, exclude=landmarks, seed=seeds["pool"])
    return gt, landmarks, pool


def build_supernet(cfg: RunConfig, task) -> NB201Net:
    net_cfg = NetConfig(C=cfg.net.C, N=cfg.net.N, in_channels=task.spec.in_channels,
                        num_classes=task.spec.num_classes, bn_affine=cfg.net.bn_affine,
                        bn_track_running_stats=cfg.net.bn_track_running_stats, cell=cfg.net.cell)
    model = NB201Net(net_cfg).to(task.device)
    if task.device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # ~15% faster with oneDNN
    return model


def _load_torch(path: Path, device, what: str, weights_only: bool):
    try:
        return torch.load(path, map_location=device, weights_only=weights_only)
    except Exception as e:  # pickle, zip and torch errors all mean: not a file this harness wrote
        raise RunError(f"{path}: unreadable {what} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                       "delete it to start this run over") from None


def _finished(record_path: Path, cfg: RunConfig) -> bool:
    if not record_path.exists():
        return False
    if read_record(record_path)["attrs"]["config"] != to_dict(cfg):
        raise RunError(f"{record_path} holds a run with a different config; use another --out")
    return True


def run(cfg: RunConfig, out_dir: str | Path, on_epoch: Callable[[dict], None] | None = None) -> Path:
    run_dir = Path(out_dir) / run_name(cfg)
    record_path = run_dir / RECORD_NAME
    if _finished(record_path, cfg):
        return record_path
    # Everything that can fail without training fails here, before the folder exists.
    check_runnable(cfg)
    torch.set_num_threads(cfg.threads)
    task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
    check_task_sizes(cfg, task)
    gt, landmarks, pool = choose_archs(cfg)
    created = not run_dir.exists()
    ensure_dir(run_dir)
    try:
        with locked(run_dir, "this run"):
            if _finished(record_path, cfg):  # finished by another process meanwhile
                return record_path
            for stale in temp_files(run_dir):  # left by a killed writer
                stale.unlink(missing_ok=True)
            return _train_and_record(cfg, run_dir, task, gt, landmarks, pool, on_epoch)
    except BaseException:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # failed before writing anything: leave no empty folder behind
        raise


def _train_and_record(cfg, run_dir, task, gt, landmarks, pool, on_epoch) -> Path:
    record_path = run_dir / RECORD_NAME
    torch.manual_seed(cfg.seed)
    model = build_supernet(cfg, task)
    landmark_archs = [nb201.parse(a) for a in landmarks]
    pool_archs = [nb201.parse(a) for a in pool]
    reg = (LandmarkRegularizer(cfg.landmarks, landmark_archs, cfg.train.warmup_epochs, cfg.train.epochs)
           if cfg.use_landmarks else None)
    trainer = SPOSTrainer(model, task, cfg.train, cfg.seed, reg)
    state = {"epoch": 0, "curves": [], "evals": [], "train_s": 0.0, "score_s": 0.0}

    ckpt = run_dir / CHECKPOINT_NAME
    if ckpt.exists():
        saved = _load_torch(ckpt, task.device, "checkpoint", weights_only=False)
        if not isinstance(saved, dict) or not {"config", "trainer", "state"} <= saved.keys():
            raise RunError(f"{ckpt}: not an lmreg checkpoint (wrong structure); delete it to start this run over")
        if saved["config"] != to_dict(cfg):
            raise RunError(f"{ckpt} belongs to a run with a different config; use another --out")
        try:
            trainer.load_state_dict(saved["trainer"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise RunError(f"{ckpt}: checkpoint does not fit this run's super-net or optimiser "
                           f"({type(e).__name__}); delete it to start this run over") from None
        state = saved["state"]

    gt_pool = gt.loc[pool].to_numpy()
    for epoch in range(state["epoch"], cfg.train.epochs):
        curve = trainer.train_epoch(epoch)
        state["train_s"] += curve["epoch_time"]
        state["curves"].append(curve)
        last = epoch == cfg.train.epochs - 1
        if last or (epoch + 1) % cfg.eval.every == 0:
            t0 = time.perf_counter()
            acc, loss = _score(model, pool_archs, task, cfg)
            state["score_s"] += time.perf_counter() - t0
            state["evals"].append({"epoch": epoch, **all_metrics(acc, gt_pool)})
            if last:
                state["pool_scores"] = (acc, loss)
        state["epoch"] = epoch + 1
        torch_save({"config": to_dict(cfg), "trainer": trainer.state_dict(), "state": state}, ckpt)
        if on_epoch:
            on_epoch(curve)

    t0 = time.perf_counter()
    lm_acc, lm_loss = _score(model, landmark_archs, task, cfg)
    state["score_s"] += time.perf_counter() - t0
    acc, loss = state["pool_scores"]
    record = {
        "attrs": {"config": to_dict(cfg), "versions": _versions(), "git_commit": _git_commit(),
                  "seeds": {"run": cfg.seed, "draws": cfg.draws,
                            **{k: -1 if v is None else v for k, v in draw_seeds(cfg).items()}},
                  "final_metrics": state["evals"][-1],
                  "timings": {"train_s": state["train_s"], "score_s": state["score_s"]}},
        "tables": {
            "curves": state["curves"],
            "evals": state["evals"],
            "landmarks": [{"arch": a, "gt": float(gt[a]), "score_acc": float(s), "score_loss": float(l)}
                          for a, s, l in zip(landmarks, lm_acc, lm_loss)],
            "pool": [{"arch": a, "gt": float(g), "score_acc": float(s), "score_loss": float(l)}
                     for a, g, s, l in zip(pool, gt_pool, acc, loss)],
        },
    }
    torch_save(model.state_dict(), run_dir / WEIGHTS_NAME)
    write_record(record_path, record)
    ckpt.unlink(missing_ok=True)  # the record is durable; the checkpoint is no longer needed
    return record_path


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
    check_runnable(cfg)
    torch.set_num_threads(cfg.threads)
    task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
    check_task_sizes(cfg, task)
    model = build_supernet(cfg, task)
    state = _load_torch(weights, task.device, "super-net weights", weights_only=True)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise RunError(f"{weights}: not the super-net weights of this run (wrong structure: "
                       f"{' '.join(str(e).split())[:150]})") from None
    gt, _, pool = choose_archs(cfg)
    t0 = time.perf_counter()
    acc, _ = _score(model, [nb201.parse(a) for a in pool], task, cfg)
    metrics = all_metrics(acc, gt.loc[pool].to_numpy())
    return {"metrics": metrics, "eval": to_dict(cfg)["eval"], "score_s": time.perf_counter() - t0}


def _score(model, archs, task, cfg: RunConfig):
    e = cfg.eval
    return score(model, archs, task, split=e.split, n=e.n_images, batch_size=e.batch_size,
                 bn_mode=e.bn_mode, recal_batches=e.recal_batches, recal_seed=cfg.seed)
