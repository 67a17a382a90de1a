"""Kendall tau of predictors trained only on M landmarks, on the other cells of a
ground truth: the comparison a landmark-regularised super-net (which sees the same M
labels) has to beat. For each landmark draw (bench.landmarks.select_landmarks,
"random", seeds 0..draws-1) every predictor x loss is fit on the landmarks and scored
on all other cells; mean and sd over draws are printed.

    python benchmarks/landmark_predictors.py [--benchmark micro-fmnist-nb201] [--m 50] [--draws 5]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import kendalltau

from lmreg.algorithms.predictors import LOSSES, PREDICTORS
from lmreg.algorithms.predictors.fit import fit_predict
from lmreg.bench import registry
from lmreg.bench.landmarks import select_landmarks
from lmreg.spaces.base import get_space


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", default="micro-fmnist-nb201")
    ap.add_argument("--metric", default="eval_acc")
    ap.add_argument("--m", type=int, default=50, help="landmarks (training cells)")
    ap.add_argument("--draws", type=int, default=5, help="landmark draws (seeds 0..draws-1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the models are tiny)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    gt = registry.load(args.benchmark).per_arch(args.metric)
    space = get_space(registry.BENCHMARKS[args.benchmark].space if args.benchmark in registry.BENCHMARKS else "nb201")
    taus = {}
    for seed in range(args.draws):
        lm = select_landmarks(gt, args.m, "random", seed)
        pool = [a for a in gt.index if a not in set(lm)]
        for name in PREDICTORS:
            for loss in LOSSES:
                pred = fit_predict(name, [space.parse(a) for a in lm], gt[lm].to_numpy(),
                                   [space.parse(a) for a in pool], loss=loss, seed=seed, space=space)
                taus.setdefault((name, loss), []).append(kendalltau(pred, gt[pool].to_numpy()).statistic)
    print(f"# {args.benchmark} ({args.metric}): {args.m} landmarks, the other {len(gt) - args.m} cells, "
          f"{args.draws} draws")
    for (name, loss), v in taus.items():
        print(f"{name:4s} {loss:8s} Kendall tau {np.mean(v):.3f} +- {np.std(v, ddof=1):.3f}")


if __name__ == "__main__":
    main()
