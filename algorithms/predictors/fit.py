"""Training a predictor on the landmarks and predicting the pool.

Targets are the landmarks' ground truth, standardised. Losses: "mse" (regression) or
"pairwise" (for every pair of landmarks with different ground truth, the logistic
loss log(1 + exp(-(s_better - s_worse))) averaged over pairs: a ranking loss, like
the landmark regulariser's but on a predictor). Full-batch Adam; everything seeded."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lmreg.algorithms.predictors import LOSSES, PREDICTORS
from lmreg.spaces.base import SearchSpace, get_space


def pairwise_loss(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    diff_t = target[:, None] - target[None, :]
    better = diff_t > 0                                   # better[i, j]: i has the higher GT
    margin = scores[:, None] - scores[None, :]
    return F.softplus(-margin[better]).mean()


def _width(x) -> int:
    """Input features of an encoding: the last axis of the MLP's vectors or the GCN's node features."""
    return (x[-1] if isinstance(x, tuple) else x).shape[-1]


def as_space(space: SearchSpace | str) -> SearchSpace:
    """A space given by its registered name or as the object."""
    return get_space(space) if isinstance(space, str) else space


def fit_predict(name: str, train_archs: Sequence, train_gt: Sequence[float], test_archs: Sequence,
                loss: str = "mse", seed: int = 0, epochs: int = 300, lr: float = 1e-3,
                weight_decay: float = 1e-4, *, space: SearchSpace | str) -> np.ndarray:
    """Scores of test_archs (higher: predicted better) from a predictor fit on the training
    set; the architectures are of ``space`` (a SearchSpace or its registered name), which
    encodes them (ConfigError when it has no predictor encodings)."""
    space = as_space(space)
    if loss not in LOSSES:
        raise KeyError(f"unknown predictor loss {loss!r}; valid: {', '.join(LOSSES)}")
    if len(train_archs) < 2:
        raise ValueError(f"a predictor needs at least 2 training architectures, got {len(train_archs)}")
    kind = PREDICTORS.get(name)
    # the space's encoding sets the input width; encoding draws no random numbers
    x_train, x_test = kind.encode(space, train_archs), kind.encode(space, test_archs)
    if _width(x_train) != _width(x_test):
        raise ValueError(f"space {space.name}'s encodings of the training and test architectures differ in width")
    torch.manual_seed(seed)
    model = kind(_width(x_train))
    y = torch.tensor(np.asarray(train_gt, dtype=np.float64), dtype=torch.float32)
    y = (y - y.mean()) / y.std().clamp(min=1e-8)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        s = model(x_train)
        (F.mse_loss(s, y) if loss == "mse" else pairwise_loss(s, y)).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return model(x_test).double().numpy()
