"""Landmark regularisation (Yu, Ranftl, Salzmann, CVPR 2021) as a piece any
super-net trainer can add to its step.

The super-net is pushed to keep the ground-truth order of a few landmark
architectures: for a pair (worse, better) evaluated on the same batch, the
better one should not have the higher cross-entropy. The defaults are what the
official code runs (docs/fidelity.md cites the lines): one pair per step drawn as
a = randint(0, M-2), b = randint(a+1, M-1); a zero-margin hinge; several pairs
are summed; lambda = 0 during the super-net warm-up, then a cosine increase
towards 10, updated once per epoch.

Landmark lists are sorted by GT ascending, so index i < j means i is worse.
"""

from __future__ import annotations

import inspect
import itertools
import math
import random
from dataclasses import dataclass
from functools import partial
from typing import Callable, Hashable, Sequence

import torch
import torch.nn.functional as F

from lmreg.bench.landmarks import SELECTION_METHODS

Pair = tuple[int, int]  # (worse_index, better_index) into the GT-ascending landmarks


def _check_m(m: int) -> None:
    if m < 2:
        raise ValueError(f"need at least 2 landmarks to form a pair, got {m}")


# Pair samplers ---------------------------------------------------------------
@dataclass(frozen=True)
class OfficialPairSampler:
    """n_pairs independent draws (1 in every official experiment), each as the official
    code draws it. Not uniform over pairs: P(a, b) = 1/(M-1) * 1/(M-1-a), so pairs of
    good architectures come up more often; the same pair can come up twice."""

    n_pairs: int = 1

    def __post_init__(self):
        if self.n_pairs < 1:
            raise ValueError(f"n_pairs must be >= 1, got {self.n_pairs}")

    def pairs(self, m: int, rng: random.Random) -> list[Pair]:
        _check_m(m)
        out = []
        for _ in range(self.n_pairs):
            a = rng.randint(0, m - 2)
            out.append((a, rng.randint(a + 1, m - 1)))
        return out


@dataclass(frozen=True)
class UniformPairSampler:
    """n_pairs distinct pairs, each unordered pair equally likely."""

    n_pairs: int = 1

    def __post_init__(self):
        if self.n_pairs < 1:
            raise ValueError(f"n_pairs must be >= 1, got {self.n_pairs}")

    def pairs(self, m: int, rng: random.Random) -> list[Pair]:
        _check_m(m)
        every = list(itertools.combinations(range(m), 2))
        if self.n_pairs > len(every):
            raise ValueError(f"cannot draw {self.n_pairs} distinct pairs from {m} landmarks ({len(every)} pairs)")
        return rng.sample(every, self.n_pairs)


class AllPairsSampler:
    """Every pair each step: M(M-1)/2 penalty terms over M forward passes."""

    def pairs(self, m: int, rng: random.Random) -> list[Pair]:
        _check_m(m)
        return list(itertools.combinations(range(m), 2))


class AdjacentPairsSampler:
    """Neighbours in the GT ranking: the M-1 comparisons that imply the whole order."""

    def pairs(self, m: int, rng: random.Random) -> list[Pair]:
        _check_m(m)
        return [(i, i + 1) for i in range(m - 1)]


PAIR_SAMPLERS = {
    "official": OfficialPairSampler,
    "uniform": UniformPairSampler,
    "all": AllPairsSampler,
    "adjacent": AdjacentPairsSampler,
}


def make_pair_sampler(name: str, **kw):
    if name not in PAIR_SAMPLERS:
        raise KeyError(f"unknown pair sampler {name!r}; valid samplers: {', '.join(PAIR_SAMPLERS)}")
    return PAIR_SAMPLERS[name](**kw)


# Loss forms: elementwise on the cross-entropies of the worse and the better landmark
def hinge(loss_worse: torch.Tensor, loss_better: torch.Tensor) -> torch.Tensor:
    """The paper's form: zero margin, so only the GT order matters, not the gap."""
    return F.relu(loss_better - loss_worse)


def softplus(loss_worse: torch.Tensor, loss_better: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """A smooth hinge; tends to the hinge as beta grows."""
    if beta <= 0:
        raise ValueError(f"softplus beta must be > 0, got {beta}")
    return F.softplus(beta * (loss_better - loss_worse)) / beta


def logistic(loss_worse: torch.Tensor, loss_better: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of 'better beats worse' under P = sigmoid(loss_worse - loss_better).
    Numerically this equals softplus with beta = 1."""
    return -F.logsigmoid(loss_worse - loss_better)


LOSS_FORMS = {"hinge": hinge, "softplus": softplus, "logistic": logistic}
PAIR_REDUCTIONS = ("sum", "mean")


def make_loss_form(name: str, **kw) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in LOSS_FORMS:
        raise KeyError(f"unknown loss form {name!r}; valid forms: {', '.join(LOSS_FORMS)}")
    form = LOSS_FORMS[name]
    inspect.signature(form).bind(None, None, **kw)  # a wrong keyword fails here, not mid-training
    return partial(form, **kw)


# Coefficient schedules: lambda as a function of the 0-based epoch -------------
# The official code (adjust_landmark_coef) computes lambda once per epoch as
# max_coef * shape: 0 before the super-net warm-up (sw); then, for schedules
# without "increase", a ramp over the landmark warm-up (lw) epochs; then the
# schedule's shape over the remaining epochs. Its per-epoch call leaves the
# batch arguments at their defaults (batch_idx=1, total_batchs=1), which is
# why the ramp starts at 2/(lw+1) and the cosines are shifted by one epoch.
OFFICIAL_SCHEDULES = ("constant", "linear_step_decrease", "linear_step_increase",
                      "cosine_decrease", "cosine_increase")


def _step_shape(t: int, total: int, levels: tuple[float, float, float, float]) -> float:
    quarter = total // 4
    if t < quarter:
        return levels[0]
    if t < total // 2:
        return levels[1]
    if t < quarter * 3:
        return levels[2]
    return levels[3]


def official_schedule(name: str, epoch: int, warmup: int, epochs: int, max_coef: float,
                      landmark_warmup: int) -> float:
    """lambda at a 0-based epoch, as the official adjust_landmark_coef computes it."""
    if name not in OFFICIAL_SCHEDULES:
        raise KeyError(f"unknown official schedule {name!r}; valid: {', '.join(OFFICIAL_SCHEDULES)}")
    if epoch < warmup:
        return 0.0
    t = epoch - warmup
    lw = 0 if "increase" in name else landmark_warmup
    if t < lw:
        return max_coef * (t + 2) / (lw + 1)
    t -= lw
    total = epochs - lw - warmup
    if name == "constant":
        shape = 1.0
    elif name == "linear_step_decrease":
        shape = _step_shape(t, total, (1.0, 1e-1, 1e-2, 1e-3))
    elif name == "linear_step_increase":
        shape = _step_shape(t, total, (0.0, 1e-2, 1e-1, 1.0))
    elif name == "cosine_decrease":
        shape = 0.5 * (1 + math.cos(math.pi * (t + 1) / total))
    else:  # cosine_increase: the cosine runs over ALL epochs, so lambda ends below max_coef
        shape = 0.5 * (1 + math.cos(math.pi * ((t + 1) / epochs + 1)))
    return max_coef * shape


def linear(epoch: int, warmup: int, epochs: int, max_coef: float) -> float:
    """Ours, not in the official code: a line from 0 at the last warm-up epoch to
    max_coef at the last epoch (no landmark warm-up)."""
    if epoch < warmup:
        return 0.0
    return max_coef * (epoch - warmup + 1) / (epochs - warmup)


SCHEDULES = OFFICIAL_SCHEDULES + ("linear",)


def make_schedule(name: str, warmup: int, epochs: int, max_coef: float,
                  landmark_warmup: int = 0) -> Callable[[int], float]:
    """epoch -> lambda."""
    if name not in SCHEDULES:
        raise KeyError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    # The official schedules may end with the warm-up: a differentiable run regularises its
    # search epochs beyond the schedule's `epochs` (algorithms/differentiable.py).
    if name == "linear" and not 0 <= warmup < epochs:
        raise ValueError(f"need 0 <= warmup < epochs for the regulariser to ever act, "
                         f"got warmup={warmup}, epochs={epochs}")
    if epochs < 1 or not 0 <= warmup <= epochs:
        raise ValueError(f"need 0 <= warmup <= epochs and epochs >= 1, got warmup={warmup}, epochs={epochs}")
    if landmark_warmup < 0:
        raise ValueError(f"landmark warm-up must be >= 0, got {landmark_warmup}")
    if name == "linear":
        return partial(linear, warmup=warmup, epochs=epochs, max_coef=max_coef)
    if "increase" not in name and epochs - warmup - landmark_warmup < 1:
        raise ValueError(f"schedule {name!r} needs epochs > warmup + landmark_warmup_epochs, got "
                         f"{epochs} <= {warmup} + {landmark_warmup}")
    return partial(official_schedule, name, warmup=warmup, epochs=epochs, max_coef=max_coef,
                   landmark_warmup=landmark_warmup)


# Configuration and the regulariser -------------------------------------------
GROW_SELECT = ("top", "random")  # growing: the super-net's best-scored candidates, or random ones

@dataclass(frozen=True)
class LandmarkConfig:
    m: int = 50                        # number of landmarks
    selection: str = "random"          # bench.landmarks.SELECTION_METHODS
    selection_seed: int = 0            # used when RunConfig.draws = "fixed"
    pair_sampler: str = "official"     # PAIR_SAMPLERS
    n_pairs: int = 1                   # pairs per step; "official" and "uniform" samplers
    pair_reduction: str = "sum"        # sum (official) | mean (ours) over the pairs of a step
    loss_form: str = "hinge"           # LOSS_FORMS
    beta: float = 1.0                  # "softplus" only
    schedule: str = "cosine_increase"  # SCHEDULES
    max_coef: float = 10.0             # lambda's peak; the constant value for "constant"
    landmark_warmup_epochs: int = 10   # ramp for schedules without "increase" (official)
    # Cheaper variants (ours; the defaults are the official exact loss): the landmark loss on
    # every `every`-th step only, weighted by `every` so an epoch's expected landmark gradient
    # is unchanged; landmark batches of `batch_size` held-out images (0: the training batch size).
    every: int = 1
    batch_size: int = 0
    # Iterative landmark growing (the paper's Fig. 2 right; not in the official code): after
    # each of `grow_rounds` equal parts of the regularised epochs, label `grow_k` more cells
    # (the super-net's best-scored candidates, or random ones for the same label budget) and
    # add them to the landmarks (experiments/growing.py). 0 rounds: off.
    grow_rounds: int = 0
    grow_k: int = 10
    grow_select: str = "top"

    def __post_init__(self):
        for value, valid, what in ((self.selection, SELECTION_METHODS, "landmark selection"),
                                   (self.pair_sampler, PAIR_SAMPLERS, "pair sampler"),
                                   (self.loss_form, LOSS_FORMS, "loss form"),
                                   (self.schedule, SCHEDULES, "schedule")):
            if value not in valid:
                raise KeyError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
        _check_m(self.m)
        if self.n_pairs < 1:
            raise ValueError(f"n_pairs must be >= 1, got {self.n_pairs}")
        if self.n_pairs != 1 and self.pair_sampler not in ("official", "uniform"):
            raise ValueError(f"n_pairs={self.n_pairs} only applies to the 'official' and 'uniform' "
                             f"pair samplers, not {self.pair_sampler!r}")
        if self.pair_reduction not in PAIR_REDUCTIONS:
            raise ValueError(f"unknown pair_reduction {self.pair_reduction!r}; valid: {', '.join(PAIR_REDUCTIONS)}")
        if self.landmark_warmup_epochs < 0:
            raise ValueError(f"landmark_warmup_epochs must be >= 0, got {self.landmark_warmup_epochs}")
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.beta != 1.0 and self.loss_form != "softplus":
            raise ValueError(f"beta={self.beta} only applies to the 'softplus' loss form, not {self.loss_form!r}")
        if self.max_coef < 0:
            raise ValueError(f"max_coef must be >= 0, got {self.max_coef}")
        if self.every < 1:
            raise ValueError(f"landmarks.every must be >= 1 (1: a landmark pair on every step), got {self.every}")
        if self.grow_rounds < 0 or self.grow_k < 1:
            raise ValueError(f"landmarks.grow_rounds must be >= 0 and landmarks.grow_k >= 1, got "
                             f"{self.grow_rounds} and {self.grow_k}")
        if self.grow_select not in GROW_SELECT:
            raise KeyError(f"unknown landmarks.grow_select {self.grow_select!r}; valid: {', '.join(GROW_SELECT)}")
        if self.batch_size < 0:
            raise ValueError(f"landmarks.batch_size must be >= 0 (0: the training batch size), got {self.batch_size}")


def flat_hinge(loss_form: str, terms: torch.Tensor) -> bool:
    """True when the loss is the hinge at zero on every pair, so its backward would add
    exact zeros and the trainer may skip it. Decided only where reading the terms costs
    no device sync (the CPU); elsewhere False, so every backward runs, as the official
    loop does."""
    return loss_form == "hinge" and terms.device.type == "cpu" and not bool(terms.detach().any())


class LandmarkRegularizer:
    """Builds the landmark ranking loss for one training step.

    The caller backpropagates it next to the usual cross-entropy (gradients add up,
    one clip, one optimizer step) and keeps the super-net in train mode, as the
    official code does; the landmark batch should come from held-out training data.
    """

    def __init__(self, cfg: LandmarkConfig, landmarks: Sequence[Hashable],
                 warmup_epochs: int, epochs: int):
        self.cfg = cfg
        if len(landmarks) != cfg.m:
            raise ValueError(f"config says m={cfg.m} landmarks, got {len(landmarks)}")
        self.set_landmarks(landmarks)
        self.sampler = make_pair_sampler(
            cfg.pair_sampler, **({"n_pairs": cfg.n_pairs} if cfg.pair_sampler in ("official", "uniform") else {}))
        self.loss_form = make_loss_form(
            cfg.loss_form, **({"beta": cfg.beta} if cfg.loss_form == "softplus" else {}))
        self.schedule = make_schedule(cfg.schedule, warmup=warmup_epochs, epochs=epochs,
                                      max_coef=cfg.max_coef, landmark_warmup=cfg.landmark_warmup_epochs)

    def set_landmarks(self, landmarks: Sequence[Hashable]) -> None:
        """Set the landmarks (GT-ascending), also after a growing round. Architectures of any
        space (hashable values); lists, e.g. from JSON, become tuples."""
        landmarks = [tuple(a) if isinstance(a, list) else a for a in landmarks]
        if len(set(landmarks)) != len(landmarks):
            raise ValueError("landmark architectures must be distinct")
        _check_m(len(landmarks))
        self.landmarks = landmarks

    def coefficient(self, epoch: int) -> float:
        return self.schedule(epoch)

    def penalty(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int,
                rng: random.Random, share: float = 1.0,
                reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor | None, dict]:
        """lambda * the sum (official) or mean over sampled pairs of the loss form, or None while lambda is 0
        (then no forward pass runs, so a warm-up step costs nothing extra).

        info: coefficient, n_pairs, violated_fraction (a 0-d tensor: the share of pairs
        whose better landmark has the higher loss; NaN when no pair was evaluated),
        zero_gradient (`flat_hinge`: True when the gradient is known, without a device
        sync, to be exactly zero everywhere).

        Data-parallel (`reduce` sums a tensor over the ranks, `share` is this rank's share of
        the landmark batch): the loss form is applied to the global batch's cross-entropies
        (the sums of the ranks' share-weighted ones), as the official single-process
        DataParallel run computes it, with this rank's part of their gradient; summed over
        the ranks, the gradients are those of the global batch's loss."""
        coef = self.coefficient(epoch)
        if coef <= 0:
            return None, {"coefficient": coef, "n_pairs": 0, "violated_fraction": math.nan, "zero_gradient": True}
        pairs = self.sampler.pairs(len(self.landmarks), rng)
        ce = {i: F.cross_entropy(model(x, self.landmarks[i]), y)
              for i in sorted({i for pair in pairs for i in pair})}  # one forward per architecture
        worse = torch.stack([ce[w] for w, _ in pairs])
        better = torch.stack([ce[b] for _, b in pairs])
        if reduce is not None:  # the global values, with this rank's share of the gradient
            local = torch.stack([worse, better]) * share
            whole = reduce(local.detach())
            worse, better = local + (whole - local).detach()
        terms = self.loss_form(worse, better)
        loss = coef * (terms.sum() if self.cfg.pair_reduction == "sum" else terms.mean())
        violated = (better > worse).float().mean().detach()  # a tensor: no host sync per step
        return loss, {"coefficient": coef, "n_pairs": len(pairs), "violated_fraction": violated,
                      "zero_gradient": flat_hinge(self.cfg.loss_form, terms)}
