"""Aggregation over training seeds with uncertainty, so figures show whether differences are real.

Two kinds of interval hold up with a handful of seeds (see docs/analysis.md):

* Student-t intervals over seeds (``t_interval``, ``paired_t_diff``, ``t_upper_bound``,
  ``pooled_t_upper_diff``): exact for normal per-seed values, they widen as the seed count
  drops (t quantile with n - 1 degrees of freedom) instead of shrinking to the range of
  the values as a percentile bootstrap over 3 seeds does.
* A hierarchical bootstrap over seeds and pool architectures (``hierarchical_bootstrap``,
  ``hierarchical_bootstrap_diff``): also counts the error from measuring each super-net
  on a finite pool of architectures.

The plain percentile bootstrap over seeds (``bootstrap_ci`` and friends) is kept for
larger samples. Bootstrap results are deterministic for a fixed ``seed`` (numpy's default_rng).
"""

import math
import operator
from typing import Sequence

import numpy as np
from scipy import stats

from lmreg.paper_figures.metrics import batched_metric, finite_1d


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


# Student-t intervals over seeds ----------------------------------------------------
def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the two-sided Student-t interval of the mean,
    mean -/+ t_{(1 + level) / 2, n - 1} * s / sqrt(n) with s the sample std (ddof 1).

    Needs at least 2 values (a ValueError otherwise): one seed says nothing about the spread.
    """
    values = _as_values(values)
    level = _validated_level(level)
    if len(values) < 2:
        raise ValueError(f"a t interval needs at least 2 values, got {len(values)}")
    mean = float(np.mean(values))
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def paired_t_diff(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean_diff, lo, hi)``: Student-t interval of the mean of the per-seed differences ``b - a``."""
    a, b = _as_values(a, "a"), _as_values(b, "b")
    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} != {len(b)}")
    return t_interval(b - a, level)


def t_upper_bound(values, level: float = 0.95) -> float:
    """One-sided Student-t upper bound of the mean: mean + t_{level, n - 1} * s / sqrt(n)."""
    values = _as_values(values)
    level = _validated_level(level)
    if len(values) < 2:
        raise ValueError(f"a t bound needs at least 2 values, got {len(values)}")
    return float(np.mean(values) + stats.t.ppf(level, len(values) - 1) * np.std(values, ddof=1)
                 / math.sqrt(len(values)))


def pooled_t_upper_diff(new, base, level: float = 0.95) -> tuple[float, float, int]:
    """``(diff, upper, dof)`` for diff = mean(new) - mean(base), two independent samples assumed to
    share one variance (the same config run again): upper = diff + t_{level, dof} * s_p *
    sqrt(1/n_new + 1/n_base), s_p the pooled std, dof = n_new + n_base - 2.

    Works with a single new value when the baseline has two or more (dof >= 1). When every
    value in both samples is equal to its sample's mean (bit-identical reruns), upper = diff.
    """
    new, base = _as_values(new, "new"), _as_values(base, "base")
    level = _validated_level(level)
    dof = len(new) + len(base) - 2
    if dof < 1:
        raise ValueError("a pooled t bound needs at least 3 values in all (one sample with 2 or more)")
    squares = float(np.sum((new - new.mean()) ** 2) + np.sum((base - base.mean()) ** 2))
    pooled_std = math.sqrt(squares / dof)
    diff = float(new.mean() - base.mean())
    upper = diff + float(stats.t.ppf(level, dof)) * pooled_std * math.sqrt(1 / len(new) + 1 / len(base))
    return diff, upper, dof


# Hierarchical bootstrap over seeds and pool architectures -----------------------------
Pool = tuple  # (pred, gt): one run's super-net scores and GT on its evaluation pool


def _pools(runs: Sequence[Pool], name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i, run in enumerate(runs):
        try:
            pred, gt = run
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{i}] must be a (pred, gt) pair") from None
        pred, gt = finite_1d(pred, f"{name}[{i}] pred"), finite_1d(gt, f"{name}[{i}] gt")
        if len(pred) != len(gt) or len(pred) < 2:
            raise ValueError(f"{name}[{i}]: pred and gt need the same length >= 2, got {len(pred)} and {len(gt)}")
        out.append((pred, gt))
    if not out:
        raise ValueError(f"{name} is empty")
    return out


# A replicate whose metric is undefined (e.g. a resampled pool with constant scores or GT) is
# left out of the percentiles; past this share the rest no longer stand for the sampling
# distribution, and no interval is given.
MAX_UNDEFINED_SHARE = 0.05


def _hierarchical(values_for, sizes: list[int], shared_pool: bool, level: float, n_boot: int,
                  seed: int) -> tuple[float, float, int]:
    """(lo, hi, undefined): the percentile interval of the mean over resampled seeds of
    ``values_for(s, idx) -> (k,)`` (run s evaluated on k resampled pools, ``idx`` of shape
    (k, pool size)) and the number of replicates left out as undefined; (NaN, NaN) past
    MAX_UNDEFINED_SHARE of them."""
    level = _validated_level(level)
    n_boot = operator.index(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    n_seeds = len(sizes)
    if shared_pool and len(set(sizes)) != 1:
        raise ValueError(f"shared_pool needs pools of one size, got sizes {sorted(set(sizes))}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))       # resampled seeds per replicate
    if shared_pool:                                                  # one pool draw per replicate
        shared = rng.integers(0, sizes[0], size=(n_boot, sizes[0]))
    values = np.empty((n_boot, n_seeds))
    for s in range(n_seeds):
        rows, cols = np.nonzero(picks == s)
        if not len(rows):
            continue
        idx = shared[rows] if shared_pool else rng.integers(0, sizes[s], size=(len(rows), sizes[s]))
        values[rows, cols] = values_for(s, idx)
    with np.errstate(invalid="ignore"):
        means = values.mean(axis=1)
    means = means[np.isfinite(means)]
    undefined = n_boot - len(means)
    if undefined > MAX_UNDEFINED_SHARE * n_boot:
        return math.nan, math.nan, undefined
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi), undefined


def hierarchical_bootstrap(runs: Sequence[Pool], metric: str = "kendall_tau", level: float = 0.95,
                           n_boot: int = 2000, seed: int = 0, shared_pool: bool = False) -> dict:
    """Two-level percentile bootstrap of the seed-mean of a ranking metric.

    ``runs``: one ``(pred, gt)`` pair per seed (the run's pool scores and GT). Each of
    ``n_boot`` replicates draws the seeds with replacement, then for every drawn seed draws
    its pool architectures with replacement, recomputes ``metric`` on the resampled pool and
    averages over the drawn seeds. ``shared_pool=True`` (all runs scored the same
    architectures in the same order) draws one set of pool indices per replicate and uses it
    for every seed, so the error of the common pool is not averaged away across seeds.

    Returns ``{"estimate", "lo", "hi", "undefined", "n_boot", "n_seeds", "pool_size", "shared_pool"}``:
    the estimate is the mean over seeds of the metric on the full pools, (lo, hi) the ``level``
    percentile interval over the replicates whose metric is defined, ``undefined`` how many were
    not (a degenerate resampled pool, e.g. constant); (lo, hi) are NaN when more than
    MAX_UNDEFINED_SHARE of them were undefined. pool_size is the smallest pool. With one seed
    only the pools are resampled.
    """
    pools = _pools(runs, "runs")
    fn = batched_metric(metric)
    sizes = [len(p) for p, _ in pools]

    def values_for(s, idx):
        pred, gt = pools[s]
        return fn(pred[idx], gt[idx])

    estimate = float(np.mean([fn(p[None], g[None])[0] for p, g in pools]))
    lo, hi, undefined = _hierarchical(values_for, sizes, shared_pool, level, n_boot, seed)
    return {"estimate": estimate, "lo": lo, "hi": hi, "undefined": undefined, "n_boot": n_boot,
            "n_seeds": len(pools), "pool_size": min(sizes),
            "shared_pool": bool(shared_pool)}


def hierarchical_bootstrap_diff(base: Sequence[Pool], other: Sequence[Pool], metric: str = "kendall_tau",
                                level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                                shared_pool: bool = False) -> dict:
    """The hierarchical bootstrap of the seed-mean of ``metric(other) - metric(base)``.

    ``base[i]`` and ``other[i]`` are the two arms of seed i and scored the same pool (same
    architectures, same order: their GT must agree). A replicate draws seeds with
    replacement, keeps the two arms of a drawn seed together, and applies one draw of pool
    indices to both arms. ``shared_pool`` as in ``hierarchical_bootstrap``.
    Returns the same keys, the estimate being the mean per-seed difference.
    """
    base, other = _pools(base, "base"), _pools(other, "other")
    if len(base) != len(other):
        raise ValueError(f"paired runs differ in number: {len(base)} != {len(other)}")
    for i, ((_, gb), (_, go)) in enumerate(zip(base, other)):
        if len(gb) != len(go) or not np.array_equal(gb, go):
            raise ValueError(f"seed {i}: the two arms did not score the same pool (their GT differs)")
    fn = batched_metric(metric)
    sizes = [len(p) for p, _ in base]

    def values_for(s, idx):
        (pb, gt), (po, _) = base[s], other[s]
        return fn(po[idx], gt[idx]) - fn(pb[idx], gt[idx])

    estimate = float(np.mean([fn(po[None], g[None])[0] - fn(pb[None], g[None])[0]
                              for (pb, g), (po, _) in zip(base, other)]))
    lo, hi, undefined = _hierarchical(values_for, sizes, shared_pool, level, n_boot, seed)
    return {"estimate": estimate, "lo": lo, "hi": hi, "undefined": undefined, "n_boot": n_boot,
            "n_seeds": len(base), "pool_size": min(sizes),
            "shared_pool": bool(shared_pool)}
