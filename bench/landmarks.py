"""Landmark and evaluation-pool selection from a ground-truth table.

Works on architecture strings and GT accuracies only (no torch), so choosing
landmarks costs a table look-up, as on the tabular benchmarks of the paper. The
``gt`` argument is a GT vector, ``GroundTruth.per_arch(metric)`` of any table
(bench.ground_truth): keys in the table's space, one value per architecture.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

SELECTION_METHODS = ("random", "fixed", "even")


def _check_gt(gt: pd.Series) -> None:
    if gt.index.has_duplicates:
        raise ValueError("GT series has duplicate architectures; average seeds per architecture first")
    if gt.isna().any():
        raise ValueError(f"GT series has {int(gt.isna().sum())} missing accuracies; drop them first")


def _gt_ascending(gt: pd.Series, archs: Iterable[str]) -> list[str]:
    """Worst first, best last; equal accuracies ordered by string so the list is deterministic."""
    return sorted(archs, key=lambda a: (gt[a], a))


def select_landmarks(gt: pd.Series, m: int, method: str = "random", seed: int = 0) -> list[str]:
    """The m landmark architectures, sorted by GT ascending (worst first, best last).

    "random" draws uniformly without replacement (the paper's setting);
    "fixed" is the official rule: every (n // m)-th architecture of the GT ranking,
        counted back from the best, so the best is kept but not necessarily the worst;
    "even" (ours) spreads them evenly over the ranking, keeping the worst and the best.
    """
    if method not in SELECTION_METHODS:
        raise KeyError(f"unknown landmark selection {method!r}; valid methods: {', '.join(SELECTION_METHODS)}")
    _check_gt(gt)
    if not 2 <= m <= len(gt):
        raise ValueError(f"need 2 <= m <= {len(gt)} (architectures with GT), got m={m}")
    if method == "random":
        candidates = sorted(gt.index)  # independent of the series' row order
        picks = np.random.default_rng(seed).choice(len(candidates), size=m, replace=False)
        return _gt_ascending(gt, (candidates[i] for i in picks))
    ranking = _gt_ascending(gt, gt.index)
    n = len(ranking)
    if method == "fixed":
        step = n // m
        return ranking[n - (m - 1) * step - 1:: step][:m]
    # rank floor(i * (n-1) / (m-1) + 1/2) in exact integer arithmetic
    return [ranking[(2 * i * (n - 1) + m - 1) // (2 * (m - 1))] for i in range(m)]


def select_pool(gt: pd.Series, n: int | None, exclude: Iterable[str] = (), seed: int = 0) -> list[str]:
    """The architectures whose ranking is measured: n drawn uniformly from those not
    excluded (landmarks are never scored, as in the paper). n=None, or n at least the
    number available, gives all of them sorted by string."""
    if n is not None and n < 1:
        raise ValueError(f"pool size must be >= 1 or None, got {n}")
    _check_gt(gt)
    excluded = set(exclude)
    candidates = sorted(a for a in gt.index if a not in excluded)
    if n is None or n >= len(candidates):
        return candidates
    picks = np.random.default_rng(seed).choice(len(candidates), size=n, replace=False)
    return [candidates[i] for i in picks]
