"""One super-net run from config to record: pick landmarks and the evaluation
pool from the ground truth, train with checkpoints after every epoch, score the
pool, write the record. A finished run is skipped; an interrupted one resumes
from its last checkpoint and ends with the same record (bit-for-bit on CPU)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from algorithms.landmark_reg import LandmarkRegularizer
from algorithms.scoring import score
from algorithms.spos import SPOSTrainer
from bench import registry
from bench.datasets.tasks import load_task
from bench.landmarks import select_landmarks, select_pool
from experiments.runconfig import RunConfig, draw_seeds, run_name, to_dict
from paper_figures.metrics import all_metrics
from results.records import RECORD_NAME, read_record, write_record
from spaces import nb201
from spaces.nb201_net import NB201Net, NetConfig

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "supernet.pt"  # final super-net weights, for `lmreg evaluate`


class RunError(RuntimeError):
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
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__, "platform": platform.platform()}


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


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def run(cfg: RunConfig, out_dir: str | Path, on_epoch: Callable[[dict], None] | None = None) -> Path:
    run_dir = Path(out_dir) / run_name(cfg)
    record_path = run_dir / RECORD_NAME
    if record_path.exists():
        if read_record(record_path)["attrs"]["config"] != to_dict(cfg):
            raise RunError(f"{record_path} holds a run with a different config; use another --out")
        return record_path
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"device {cfg.device!r} requested but CUDA is not available")
    task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
    gt, landmarks, pool = choose_archs(cfg)
    model = build_supernet(cfg, task)
    landmark_archs = [nb201.parse(a) for a in landmarks]
    pool_archs = [nb201.parse(a) for a in pool]
    reg = (LandmarkRegularizer(cfg.landmarks, landmark_archs, cfg.train.warmup_epochs, cfg.train.epochs)
           if cfg.use_landmarks else None)
    trainer = SPOSTrainer(model, task, cfg.train, cfg.seed, reg)
    state = {"epoch": 0, "curves": [], "evals": [], "train_s": 0.0, "score_s": 0.0}

    ckpt = run_dir / CHECKPOINT_NAME
    if ckpt.exists():
        saved = torch.load(ckpt, map_location=task.device, weights_only=False)
        if saved["config"] != to_dict(cfg):
            raise RunError(f"{ckpt} belongs to a run with a different config; use another --out")
        trainer.load_state_dict(saved["trainer"])
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
        _atomic_save({"config": to_dict(cfg), "trainer": trainer.state_dict(), "state": state}, ckpt)
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
    _atomic_save(model.state_dict(), run_dir / WEIGHTS_NAME)
    write_record(record_path, record)
    ckpt.unlink(missing_ok=True)
    return record_path


def evaluate(run_dir: str | Path, changes: list[str] = ()) -> dict:
    """Re-score a finished run's pool with other evaluation settings (`eval.*` keys):
    e.g. another BN mode or more images. Returns the metrics and the settings used."""
    from experiments.config import ConfigError, override
    from experiments.runconfig import from_dict

    run_dir = Path(run_dir)
    rec = read_record(run_dir / RECORD_NAME)
    cfg = from_dict(rec["attrs"]["config"])
    bad = [c for c in changes if not c.startswith("eval.")]
    if bad:
        raise ConfigError(f"evaluate only changes eval.* keys, got {', '.join(bad)}")
    cfg = override(cfg, list(changes))
    weights = run_dir / WEIGHTS_NAME
    if not weights.exists():
        raise RunError(f"{weights}: no super-net weights saved for this run")
    torch.set_num_threads(cfg.threads)
    task = load_task(cfg.task, cfg.device, split_seed=draw_seeds(cfg)["split"])
    model = build_supernet(cfg, task)
    model.load_state_dict(torch.load(weights, map_location=task.device, weights_only=True))
    gt, _, pool = choose_archs(cfg)
    t0 = time.perf_counter()
    acc, _ = _score(model, [nb201.parse(a) for a in pool], task, cfg)
    metrics = all_metrics(acc, gt.loc[pool].to_numpy())
    return {"metrics": metrics, "eval": to_dict(cfg)["eval"], "score_s": time.perf_counter() - t0}


def _score(model, archs, task, cfg: RunConfig):
    e = cfg.eval
    return score(model, archs, task, split=e.split, n=e.n_images, batch_size=e.batch_size,
                 bn_mode=e.bn_mode, recal_batches=e.recal_batches, recal_seed=cfg.seed)
