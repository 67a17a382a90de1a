"""The hybrid question on finished landmark-regularised super-net runs (table B1's pools):
per run (seed), the super-net's pool scores alone, the GCN (pairwise) predictor trained on
the run's landmarks, their rank ensemble, and the predictor with the super-net score as an
input (experiments/hybrid.py), all on that run's pool against its GT. Kendall tau mean ±
sd over seeds with Student-t and hierarchical-bootstrap intervals.

    lmreg train --preset micro --seeds 0,1,2 --out runs/micro   # the landmark arm of the demo
    python benchmarks/hybrid_micro.py runs/micro
"""

from __future__ import annotations

import argparse

from lmreg.experiments.hybrid import hybrid_scores
from lmreg.paper_figures.aggregate import cell, diff_cell, interval_legend
from lmreg.paper_figures.b2 import summarize_pools
from lmreg.paper_figures.metrics import kendall_tau
from lmreg.paper_figures.report import load_records
from lmreg.paper_figures.stats import hierarchical_bootstrap_diff, paired_t_diff
from lmreg.spaces.base import get_space


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders or folders of run folders")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    records = [r for r in load_records(args.runs) if r["attrs"]["config"]["use_landmarks"]]
    pools: dict[str, list] = {}
    for rec in sorted(records, key=lambda r: r["attrs"]["config"]["seed"]):
        cfg, pool, lms = rec["attrs"]["config"], rec["tables"]["pool"], rec["tables"]["landmarks"]
        space = get_space(cfg["space"])
        rows = hybrid_scores(space, list(lms.arch), lms["gt"].to_numpy(), lms.score_acc.to_numpy(),
                             list(pool.arch), pool.score_acc.to_numpy(), seed=cfg["seed"],
                             other=f"{cfg['algorithm'].upper()} super-net + landmarks")
        for label, scores in rows.items():
            pools.setdefault(label, []).append((scores, pool["gt"].to_numpy()))
    seeds = [r["attrs"]["config"]["seed"] for r in records]
    cfg = records[0]["attrs"]["config"]
    print(f"# Hybrids on {len(records)} runs ({cfg['benchmark']}, {cfg['gt_metric']}; seeds {sorted(seeds)}; "
          f"M={cfg['landmarks']['m']}, pool {len(records[0]['tables']['pool'])})\n")
    print(interval_legend(0.95) + "\n")
    base_label = list(pools)[1]  # the predictor alone
    base = pools[base_label]
    print(f"| ranker | Kendall tau | minus {base_label} (paired) |\n|---|---|---|")
    for label, p in pools.items():
        s = summarize_pools(p, "kendall_tau", 0.95, n_boot=2000)
        diff = ""
        if label != base_label and len(p) >= 2:
            d, lo, hi = paired_t_diff([kendall_tau(*x) for x in base], [kendall_tau(*x) for x in p])
            hb = hierarchical_bootstrap_diff(base, p, n_boot=2000)
            diff = diff_cell(d, lo, hi, len(p), 3, hb["lo"], hb["hi"], with_n=False)
        print(f"| {label} | {cell(s['mean'], s['std'], s['ci_lo'], s['ci_hi'], s['n'], 3, s['hb_lo'], s['hb_hi'])} "
              f"| {diff} |")


if __name__ == "__main__":
    main()
