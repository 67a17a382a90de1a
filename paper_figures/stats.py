"""Aggregation over training seeds with uncertainty, so figures show whether differences are real.

Bootstrap results are deterministic for a fixed ``seed`` (numpy's default_rng).
"""

import operator

import numpy as np

from paper_figures.metrics import finite_1d


def _as_values(values, name: str = "values") -> np.ndarray:
    array = finite_1d(values, name)
    if len(array) == 0:
        raise ValueError(f"{name} is empty")
    return array


def _validated_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
    return level


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``."""
    n_boot = operator.index(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    resample_indices = rng.integers(0, len(values), size=(n_boot, len(values)))
    return values[resample_indices].mean(axis=1)


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1); std is 0.0 for a single value, not NaN."""
    values = _as_values(values)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Two-sided percentile-bootstrap confidence interval ``(lo, hi)`` of the mean.

    Makes no normality assumption, which matters for a handful of seeds of a bounded metric.
    """
    values = _as_values(values)
    tail = 100.0 * (1.0 - _validated_level(level)) / 2.0
    lo, hi = np.percentile(_bootstrap_means(values, n_boot, seed), [tail, 100.0 - tail])
    return float(lo), float(hi)


def paired_bootstrap_diff(a, b, level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``b - a`` over paired per-seed values, with a percentile-bootstrap interval.

    Seed indices are resampled jointly for ``a`` and ``b`` (equivalently, the per-seed
    differences are resampled), so variation shared by both runs of a seed cancels.
    Returns ``(mean_diff, lo, hi)``.
    """
    a, b = _as_values(a, "a"), _as_values(b, "b")
    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} != {len(b)}")
    differences = b - a
    lo, hi = bootstrap_ci(differences, level=level, n_boot=n_boot, seed=seed)
    return float(np.mean(differences)), lo, hi


def one_sided_lower_bound(values, level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> float:
    """Percentile-bootstrap lower bound of the mean: the mean exceeds it with confidence ``level``.

    For claims such as "the regularised super-net's tau is at least X".
    """
    values = _as_values(values)
    tail = 100.0 * (1.0 - _validated_level(level))
    return float(np.percentile(_bootstrap_means(values, n_boot, seed), tail))
