"""Scoring an evaluation pool with a training-free ranker: each architecture is built
as a freshly initialised stand-alone network (weights seeded by `seed`, the same for
every architecture) and scored on one batch of training images drawn with `seed`;
the time per architecture is measured. Networks are in train mode (BatchNorm with
batch statistics), as zero-cost-nas scores them."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from lmreg.algorithms.rankers import get_ranker
from lmreg.spaces.base import NetSpec, SearchSpace


def data_batch(task, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first batch of a shuffled pass over the training split (no augmentation)."""
    gen = torch.Generator().manual_seed(seed)
    return next(iter(task.batches("train", batch_size, gen, shuffle=True)))


def score_pool(space: SearchSpace, archs: Sequence, task, net: NetSpec, ranker: str, seed: int = 0,
               batch_size: int = 64, on_arch: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score per architecture, seconds per architecture); ``on_arch()`` after each one (a progress bar)."""
    fn = get_ranker(ranker)
    x, y = data_batch(task, batch_size, seed)
    scores, seconds = np.empty(len(archs)), np.empty(len(archs))
    for i, arch in enumerate(archs):
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = space.build_standalone(arch, net, task.spec.in_channels, task.spec.num_classes).to(task.device)
        model.train()
        scores[i] = fn(model, x, y)
        seconds[i] = time.perf_counter() - t0
        if on_arch is not None:
            on_arch()
    return scores, seconds
