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

from lmreg.paper_figures.metrics import batched_metric, kendall_tau


LARGE_N = 2000  # architectures above which simulated taus are computed one by one


def _fit(seed_matrix: pd.DataFrame) -> tuple[np.ndarray, float, np.ndarray]:
    """(true accuracies, one-run noise variance, complete rows) of the noise model:
    pooled within-architecture variance as the noise; the seed means shrunk towards
    their mean so that their spread is the true spread (seed-mean spread less noise/k)."""
    m = seed_matrix.dropna().to_numpy(dtype=np.float64)
    n, k = m.shape
    if k < 2:
        raise ValueError(f"the noise model needs at least 2 seeds per architecture, got {k}")
    if n < 3:
        raise ValueError(f"the noise model needs at least 3 architectures with every seed, got {n}")
    means = m.mean(axis=1)
    noise_var = float(m.var(axis=1, ddof=1).mean())
    spread = float(means.var(ddof=1))
    true_var = max(spread - noise_var / k, 1e-12)
    shrink = np.sqrt(true_var / spread) if spread > 0 else 0.0
    return means.mean() + shrink * (means - means.mean()), noise_var, m


def _simulated_taus(truth: np.ndarray, noise_var: float, runs_a: int | None, runs_b: int,
                    n_sim: int, seed: int) -> np.ndarray:
    """Kendall tau between the mean of runs_a runs (None: the truth itself) and an
    independent mean of runs_b runs, per simulation."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    b = truth + rng.normal(0.0, np.sqrt(noise_var / runs_b), size=(n_sim, n))
    a = (np.broadcast_to(truth, b.shape) if runs_a is None
         else truth + rng.normal(0.0, np.sqrt(noise_var / runs_a), size=(n_sim, n)))
    if n > LARGE_N:  # the batched tau is O(n^2) in memory and time; scipy's is O(n log n)
        return np.array([kendall_tau(x, y) for x, y in zip(a, b)])
    return batched_metric("kendall_tau")(a, b)


def noise_ceiling(seed_matrix: pd.DataFrame, n_sim: int = 400, seed: int = 0) -> dict:
    """``seed_matrix``: architectures x seeds (GTTable.seed_matrix); rows with a
    missing seed are dropped. Returns ceiling (mean over simulations), its 2.5/97.5
    percentiles, split_half, k, n_archs, noise_sd (one run) and true_sd."""
    truth, noise_var, m = _fit(seed_matrix)
    n, k = m.shape
    taus = _simulated_taus(truth, noise_var, None, k, n_sim, seed)
    return {"ceiling": float(np.mean(taus)), "ceiling_lo": float(np.percentile(taus, 2.5)),
            "ceiling_hi": float(np.percentile(taus, 97.5)), "split_half": split_half_tau(m),
            "k": k, "n_archs": n, "noise_sd": float(np.sqrt(noise_var)), "true_sd": float(truth.std(ddof=1))}


def predicted_agreement(seed_matrix: pd.DataFrame, runs_a: int, runs_b: int, n_sim: int = 200,
                        seed: int = 0) -> float:
    """The Kendall tau the noise model expects between two independent GTs made of runs_a
    and runs_b seeds: what adding seeds would buy (e.g. split-half with 2k seeds: k, k)."""
    truth, noise_var, _ = _fit(seed_matrix)
    return float(np.mean(_simulated_taus(truth, noise_var, runs_a, runs_b, n_sim, seed)))


def seed_taus(seed_matrix: pd.DataFrame) -> list[float]:
    """Kendall tau between every pair of seeds (architectures both seeds have)."""
    out = []
    for a, b in itertools.combinations(seed_matrix.columns, 2):
        pair = seed_matrix[[a, b]].dropna()
        if len(pair) >= 2:
            out.append(kendall_tau(pair[a].to_numpy(), pair[b].to_numpy()))
    return out


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
    than 2 seeds per architecture. Run summaries (paper_figures.summaries) carry the ceiling
    computed when they were exported: it is used as stored."""
    from lmreg.bench import registry
    from lmreg.core.errors import UserError

    if records and all("noise_ceiling" in r["attrs"] for r in records):  # run summaries carry theirs
        stored = [r["attrs"]["noise_ceiling"] for r in records]
        return stored[0] if all(c == stored[0] for c in stored) else None
    keys = {(r["attrs"]["config"]["benchmark"], r["attrs"]["config"].get("gt_metric", "test_acc")) for r in records}
    if len(keys) != 1:
        return None
    benchmark, metric = keys.pop()
    try:
        matrix = registry.load(benchmark).seed_matrix(metric)
        return {**noise_ceiling(matrix), "benchmark": benchmark, "metric": metric}
    except (UserError, ValueError, KeyError):  # no such GT here, fewer than 2 seeds, unknown metric
        return None
