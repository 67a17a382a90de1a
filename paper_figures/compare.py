"""With-versus-without comparisons over seeds: mean and std per variant and the
paired difference (landmarks minus baseline) with a bootstrap interval."""

from __future__ import annotations

import pandas as pd

from paper_figures.stats import mean_std, paired_bootstrap_diff

DEMO_METRICS = ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10")


def paired_comparison(runs: pd.DataFrame, metrics=DEMO_METRICS, level: float = 0.95) -> pd.DataFrame:
    """runs: one row per run with columns seed, landmarks (bool) and the metrics."""
    base = runs[~runs.landmarks].set_index("seed")
    lm = runs[runs.landmarks].set_index("seed")
    seeds = sorted(set(base.index) & set(lm.index))
    if not seeds:
        raise ValueError("no seed has both a baseline and a landmark run to compare")
    rows = []
    for m in metrics:
        b, l = base.loc[seeds, m].to_numpy(float), lm.loc[seeds, m].to_numpy(float)
        (bm, bs), (lmm, lms) = mean_std(b), mean_std(l)
        diff, lo, hi = paired_bootstrap_diff(b, l, level=level)
        rows.append({"metric": m, "baseline_mean": bm, "baseline_std": bs, "landmarks_mean": lmm,
                     "landmarks_std": lms, "diff": diff, "diff_lo": lo, "diff_hi": hi, "seeds": len(seeds)})
    return pd.DataFrame(rows)


def format_comparison(table: pd.DataFrame, level: float = 0.95) -> str:
    """A Markdown table a reader can paste."""
    pct = int(round(level * 100))
    lines = [f"| metric | baseline (mean ± std) | landmarks (mean ± std) | difference [{pct}% paired bootstrap] |",
             "|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.metric} | {r.baseline_mean:.3f} ± {r.baseline_std:.3f} | "
                     f"{r.landmarks_mean:.3f} ± {r.landmarks_std:.3f} | "
                     f"{r.diff:+.3f} [{r.diff_lo:+.3f}, {r.diff_hi:+.3f}] |")
    seeds = int(table.seeds.iloc[0])
    lines.append(f"\n{seeds} seed(s) per variant; with so few seeds the bootstrap interval is rough.")
    return "\n".join(lines)
