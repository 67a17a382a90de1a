"""How well can any ranker do against a ground truth that is itself noisy?

A GT built from k training seeds per architecture is the true accuracy plus the mean
of k run-to-run errors. Even a ranker that knew the true accuracies would not reach
Kendall tau 1 against it. Two estimates from the GT's own seeds:

- noise ceiling: the expected Kendall tau between the true accuracies and the k-seed
  mean GT, under a model with one Gaussian run-to-run noise level (pooled within-
  architecture variance) and true accuracies whose spread is the spread of the seed
  means less the noise (empirical means shrunk towards their mean). Estimated by
  simulation, so a skewed accuracy distribution is kept.
- split-half tau: the seeds split into two halves, Kendall tau between the halves'
  means, averaged over the splits: an empirical check of the same noise (for halves of
  k/2 seeds, not k).
A super-net's tau against the GT should be read against the ceiling, not against 1.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from paper_figures.metrics import batched_metric, kendall_tau


def noise_ceiling(seed_matrix: pd.DataFrame, n_sim: int = 400, seed: int = 0) -> dict:
    """``seed_matrix``: architectures x seeds (GTTable.seed_matrix); rows with a
    missing seed are dropped. Returns ceiling (mean over simulations), its 2.5/97.5
    percentiles, split_half, k, n_archs, noise_sd (one run) and true_sd."""
    m = seed_matrix.dropna().to_numpy(dtype=np.float64)
    n, k = m.shape
    if k < 2:
        raise ValueError(f"the noise ceiling needs at least 2 seeds per architecture, got {k}")
    if n < 3:
        raise ValueError(f"the noise ceiling needs at least 3 architectures with every seed, got {n}")
    means = m.mean(axis=1)
    noise_var = float(m.var(axis=1, ddof=1).mean())
    true_var = max(float(means.var(ddof=1)) - noise_var / k, 1e-12)
    shrink = np.sqrt(true_var / means.var(ddof=1)) if means.var(ddof=1) > 0 else 0.0
    truth = means.mean() + shrink * (means - means.mean())
    rng = np.random.default_rng(seed)
    gt_sims = truth + rng.normal(0.0, np.sqrt(noise_var / k), size=(n_sim, n))
    taus = batched_metric("kendall_tau")(np.broadcast_to(truth, gt_sims.shape), gt_sims)
    return {"ceiling": float(np.mean(taus)), "ceiling_lo": float(np.percentile(taus, 2.5)),
            "ceiling_hi": float(np.percentile(taus, 97.5)), "split_half": split_half_tau(m),
            "k": k, "n_archs": n, "noise_sd": float(np.sqrt(noise_var)), "true_sd": float(np.sqrt(true_var))}


def split_half_tau(m: np.ndarray) -> float:
    """Mean over the splits of the seeds into two halves (the larger half first when k is
    odd) of the Kendall tau between the halves' per-architecture means."""
    k = m.shape[1]
    half = k // 2
    taus = [kendall_tau(m[:, list(a)].mean(axis=1), np.delete(m, list(a), axis=1).mean(axis=1))
            for a in itertools.combinations(range(k), half)]
    return float(np.mean(taus))


def ceiling_text(c: dict, metric: str = "kendall_tau") -> str:
    return (f"noise ceiling ({metric.replace('_', ' ')} a ranker knowing the true accuracies would reach against "
            f"this GT): {c['ceiling']:.3f} [{c['ceiling_lo']:.3f}, {c['ceiling_hi']:.3f}] from {c['k']} GT seeds "
            f"x {c['n_archs']} architectures (one-run noise sd {c['noise_sd']:.2f}, true sd {c['true_sd']:.2f}); "
            f"split-half tau {c['split_half']:.3f}")


def ceiling_of_runs(records: list[dict]) -> dict | None:
    """The noise ceiling of the ground truth the given runs were scored against (their
    benchmark and GT metric), or None when the runs disagree on it or the GT has fewer
    than 2 seeds per architecture."""
    from bench import registry

    keys = {(r["attrs"]["config"]["benchmark"], r["attrs"]["config"].get("gt_metric", "test_acc")) for r in records}
    if len(keys) != 1:
        return None
    benchmark, metric = keys.pop()
    try:
        matrix = registry.load(benchmark).seed_matrix(metric)
        return {**noise_ceiling(matrix), "benchmark": benchmark, "metric": metric}
    except (ValueError, KeyError, AttributeError, OSError):
        return None
