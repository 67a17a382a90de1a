"""A landmark predictor combined with another ranker's score (a super-net's accuracy, or any
score file) on the same landmarks, two ways:

* ``rank_ensemble``: the mean of the two rankings' normalised ranks (no labels used beyond
  the predictor's own);
* ``stacked_predict``: the ranker's score as an extra input. A linear model on the landmarks
  maps (predictor score, ranker score) to the standardised GT; the predictor's scores on the
  landmarks come from a K-fold cross-fit (each landmark predicted by a predictor that did not
  see it), so the weight of the ranker is not learnt against in-sample fits; the pool is then
  scored with the predictor fit on all landmarks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from lmreg.algorithms.predictors.fit import as_space, fit_predict
from lmreg.spaces.base import SearchSpace


def normalised_ranks(scores) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties averaged); higher score, higher rank."""
    s = np.asarray(scores, dtype=float)
    return (stats.rankdata(s) - 1) / max(len(s) - 1, 1)


def rank_ensemble(*scores) -> np.ndarray:
    """Mean normalised rank of several score vectors of the same architectures."""
    if len(scores) < 2 or len({len(s) for s in scores}) != 1:
        raise ValueError("rank_ensemble needs at least two score vectors of one length")
    return np.mean([normalised_ranks(s) for s in scores], axis=0)


def _standardise(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return (x - ref.mean()) / max(ref.std(), 1e-12)


def stacked_predict(name: str, loss: str, train_archs: Sequence, train_gt: Sequence[float],
                    train_other: Sequence[float], test_archs: Sequence, test_other: Sequence[float],
                    seed: int = 0, folds: int = 5, *, space: SearchSpace | str, **fit) -> np.ndarray:
    """Scores of test_archs (architectures of ``space``, an object or its name) from the
    predictor ``name``/``loss`` and the other ranker's scores (``train_other`` on the
    landmarks, ``test_other`` on the test architectures)."""
    space = as_space(space)
    y = np.asarray(train_gt, dtype=float)
    other_train, other_test = np.asarray(train_other, dtype=float), np.asarray(test_other, dtype=float)
    n = len(y)
    if n < 2 * folds:
        raise ValueError(f"stacking with {folds} folds needs at least {2 * folds} landmarks, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    cross = np.empty(n)
    for k in range(folds):
        held = order[k::folds]
        kept = np.setdiff1d(order, held)
        pred = fit_predict(name, [train_archs[i] for i in kept], y[kept], [train_archs[i] for i in held],
                           loss=loss, seed=seed + k + 1, space=space, **fit)
        cross[held] = _standardise(pred, pred)  # each fold's scale is its own (pairwise scores have none)
    full = fit_predict(name, train_archs, y, list(test_archs), loss=loss, seed=seed, space=space, **fit)
    design = np.column_stack([np.ones(n), cross, _standardise(other_train, other_train)])
    coef, *_ = np.linalg.lstsq(design, _standardise(y, y), rcond=None)
    return coef[0] + coef[1] * _standardise(full, full) + coef[2] * _standardise(other_test, other_train)
