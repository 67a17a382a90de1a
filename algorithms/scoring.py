"""Scoring architectures with a trained super-net, with an explicit BatchNorm mode:
  batch        batch statistics of each evaluation batch (the paper);
  recalibrate  statistics re-estimated on N training batches for each architecture;
  running      the running statistics accumulated during training.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lmreg.bench.datasets.tasks import Task

BN_MODES = ("batch", "recalibrate", "running")


def _bns(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def _bn_mode(model, mode: str):
    """Put every BatchNorm in the requested mode; restore the model afterwards."""
    if mode not in BN_MODES:
        raise KeyError(f"unknown BN mode {mode!r}; valid modes: {', '.join(BN_MODES)}")
    bns = _bns(model)
    saved = [(bn.running_mean, bn.running_var, bn.num_batches_tracked, bn.momentum, bn.track_running_stats)
             for bn in bns]
    was_training = model.training
    try:
        if mode == "running":
            if any(bn.running_mean is None for bn in bns):
                raise ValueError("BN mode 'running' needs a super-net built with "
                                 "net.bn_track_running_stats=true")
        else:
            for bn in bns:  # 'batch': no buffers, so even eval mode uses batch statistics
                bn.running_mean = bn.running_var = bn.num_batches_tracked = None
                bn.track_running_stats = mode == "recalibrate"
        model.eval()
        yield bns
    finally:
        for bn, (mean, var, count, momentum, track) in zip(bns, saved):
            bn.running_mean, bn.running_var, bn.num_batches_tracked = mean, var, count
            bn.momentum, bn.track_running_stats = momentum, track
        model.train(was_training)


def _recalibrate(model, bns, arch, batches) -> None:
    for bn in bns:
        dev = bn.weight.device if bn.weight is not None else batches[0][0].device
        bn.running_mean = torch.zeros(bn.num_features, device=dev)
        bn.running_var = torch.ones(bn.num_features, device=dev)
        bn.num_batches_tracked = torch.zeros((), dtype=torch.long, device=dev)
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    for x, _ in batches:
        model(x, arch)
    model.eval()


@torch.no_grad()
def score(model, archs: Sequence, task: Task, split: str = "test", n: int | None = None,
          batch_size: int = 500, bn_mode: str = "batch", recal_batches: int = 10,
          recal_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Super-net accuracy (%) and mean cross-entropy of each architecture on the
    first n images of a split."""
    limit = task.size(split) if n is None else min(n, task.size(split))
    # The evaluation batches are built once and reused for every architecture.
    x_all, y_all = task.normalize(task.x[split][:limit]), task.y[split][:limit]
    data = [(x_all[i: i + batch_size], y_all[i: i + batch_size]) for i in range(0, limit, batch_size)]
    calib = []
    if bn_mode == "recalibrate":
        gen = torch.Generator().manual_seed(recal_seed)
        calib = [b for _, b in zip(range(recal_batches), task.batches("train", batch_size, gen, shuffle=True))]
    accs = np.empty(len(archs))
    losses = np.empty(len(archs))
    with _bn_mode(model, bn_mode) as bns:
        for i, arch in enumerate(archs):
            if bn_mode == "recalibrate":
                _recalibrate(model, bns, arch, calib)
            correct = torch.zeros((), device=task.device)
            loss = torch.zeros((), device=task.device)
            for x, y in data:
                logits = model(x, arch)
                loss += F.cross_entropy(logits, y, reduction="sum")
                correct += (logits.argmax(1) == y).sum()
            accs[i] = 100.0 * correct.item() / limit
            losses[i] = loss.item() / limit
    return accs, losses
