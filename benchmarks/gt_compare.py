"""Reliability of two ground-truth tables on the cells and seeds they share: seed-vs-seed
Kendall tau of each (seeds 0 and 1, or --seeds), the difference with a 95 % bootstrap
over cells, the median, IQR and sd of the seed mean, and the sd of the seed difference.

    python benchmarks/gt_compare.py OLD NEW [--metrics eval_acc,test_acc] [--seeds 0,1] [--draws 2000]

OLD and NEW are benchmark names or .h5 paths; an older version of a shipped table comes
from git, e.g. `git show c733b94:bench/data/micro_fmnist_nb201.h5 > c8.h5`.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import kendalltau

from lmreg.bench import registry


def seed_pairs(name: str, metric: str, seeds: tuple[int, int]):
    matrix = registry.load(name).seed_matrix(metric)
    missing = [s for s in seeds if s not in matrix.columns]
    if missing:
        raise SystemExit(f"{name}: no seed(s) {missing} for {metric}; it has {list(matrix.columns)}")
    return matrix[list(seeds)].dropna()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--metrics", default="eval_acc,test_acc")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    if len(seeds) != 2:
        raise SystemExit("--seeds takes two seeds")
    for metric in args.metrics.split(","):
        old, new = seed_pairs(args.old, metric, seeds), seed_pairs(args.new, metric, seeds)
        cells = sorted(set(old.index) & set(new.index))
        if len(cells) < 10:
            raise SystemExit(f"only {len(cells)} cells in common")
        a, b = old.loc[cells].to_numpy(), new.loc[cells].to_numpy()
        tau = [kendalltau(m[:, 0], m[:, 1]).statistic for m in (a, b)]
        rng = np.random.default_rng(0)
        diffs = []
        for _ in range(args.draws):
            i = rng.integers(0, len(cells), len(cells))
            diffs.append(kendalltau(b[i, 0], b[i, 1]).statistic - kendalltau(a[i, 0], a[i, 1]).statistic)
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        print(f"{metric}: {len(cells)} shared cells, seeds {seeds[0]} vs {seeds[1]}: seed tau old {tau[0]:.3f}, "
              f"new {tau[1]:.3f}, new - old {tau[1] - tau[0]:+.3f} [95% bootstrap over cells {lo:+.3f}, {hi:+.3f}]")
        for label, m in (("old", a), ("new", b)):
            mean = m.mean(1)
            print(f"  {label}: seed mean median {np.median(mean):.2f}, IQR {np.percentile(mean, 25):.2f}-"
                  f"{np.percentile(mean, 75):.2f}, sd {mean.std(ddof=1):.3f}; seed-difference sd "
                  f"{np.std(m[:, 0] - m[:, 1], ddof=1):.3f} points")


if __name__ == "__main__":
    main()
