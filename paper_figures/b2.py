"""Table B2: ranking quality from labels alone on the real NB201 ground truth, rendered from
the scores experiments/b2.py stores. One block per ground truth (CIFAR-10, then the transfer
to CIFAR-100 and ImageNet16-120 with the CIFAR-10 landmarks and predictions), one row per
ranker, one column per number of landmarks M: Kendall tau mean ± sd over seeds with the
Student-t and hierarchical-bootstrap intervals; the GT's noise ceiling under each block.
Every metric goes to the long CSV; the figure plots Kendall tau against M."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lmreg.paper_figures.aggregate import cell, interval_legend, summarize, to_markdown, write_tables
from lmreg.paper_figures.b1 import METRICS, row_label
from lmreg.paper_figures.metrics import get_metric
from lmreg.paper_figures.stats import hierarchical_bootstrap

ORACLE = "CIFAR-10 GT itself (transfer oracle)"
BLOCK_NAMES = {"nb201-real-cifar10-valid": "CIFAR-10 (cifar10-valid)", "nb201-real-cifar100": "CIFAR-100",
               "nb201-real-imagenet16-120": "ImageNet16-120"}


# The ground truth the landmarks are drawn and scored on, and the tasks its pools transfer to.
BENCHMARK = "nb201-real-cifar10-valid"
TRANSFER = ("nb201-real-cifar100", "nb201-real-imagenet16-120")
SCORE_NAME = "scores.csv.gz"  # the scores experiments/b2.py stores under OUT/B2/


def _label(row: str, kind: str) -> str:
    if kind == "predictor":
        return row_label("predictor", row)
    if kind == "cost":
        return {"params": "parameters (C=16, N=5)", "flops": "FLOPs (C=16, N=5)"}[row]
    if kind == "oracle":
        return ORACLE
    if kind == "hybrid":
        return row
    return f"score file {row.removeprefix('file:')}"


def seed_pools(scores: pd.DataFrame, gt: pd.Series) -> dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]]:
    """(row, kind, M) -> per-seed (scores, GT) of the pool (landmarks excluded), seeds in order."""
    pool = scores[~scores.landmark]
    out = {}
    for (row, kind, m), frame in pool.groupby(["row", "kind", "m"], sort=False):
        out[(row, kind, int(m))] = [(f.score.to_numpy(float), gt.loc[f.arch].to_numpy(float))
                                    for _, f in frame.groupby("seed", sort=True)]
    return out


def oracle_scores(scores: pd.DataFrame, source_gt: pd.Series) -> pd.DataFrame:
    """The source task's GT as a ranker on the same pools (the transfer's upper reference)."""
    pool = scores[(~scores.landmark) & (scores.row == scores.row.iloc[0])].copy()
    pool["row"], pool["kind"] = "oracle", "oracle"
    pool["score"] = source_gt.loc[pool.arch].to_numpy()
    return pool


# The hierarchical bootstrap dominates rendering (replicates x seeds x pool² sign comparisons per
# row and M): it is computed for Kendall tau on the CIFAR-10 block only, with fewer replicates than B1's.
HB_REPLICATES = 500


def summarize_pools(pools, metric: str, level: float, n_boot: int = HB_REPLICATES, bootstrap: bool = True) -> dict:
    """Seed summary (aggregate.summarize) of a metric, plus the hierarchical bootstrap for Kendall
    tau when ``bootstrap``."""
    fn = get_metric(metric)
    out = summarize([fn(p, g) for p, g in pools], level)
    out.update(hb_lo=math.nan, hb_hi=math.nan, hb_undefined=0, hb_n_boot=0, pool_size=min(len(g) for _, g in pools))
    if metric == "kendall_tau" and bootstrap:
        hb = hierarchical_bootstrap(pools, metric, level, n_boot=n_boot)
        out.update(hb_lo=hb["lo"], hb_hi=hb["hi"], hb_undefined=hb["undefined"], hb_n_boot=hb["n_boot"])
    return out


def render_b2(scores_path: str | Path, out_dir: str | Path, level: float = 0.95) -> tuple[str, list[Path]]:
    from lmreg.bench import registry
    from lmreg.paper_figures.noise import noise_ceiling

    scores = pd.read_csv(scores_path)
    m_values = sorted(scores.m.unique())
    source_gt = registry.load(BENCHMARK).per_arch("valid_acc")
    display, data, curves, ceilings = [], [], {}, {}
    for bench in (BENCHMARK, *TRANSFER):
        table = registry.load(bench)
        gt = table.per_arch("valid_acc")
        frame = scores if bench == BENCHMARK else pd.concat([scores, oracle_scores(scores, source_gt)])
        pools = seed_pools(frame, gt)
        block = BLOCK_NAMES[bench]
        for row, kind in dict.fromkeys((r, k) for r, k, _ in pools):
            line = {"ground truth": block, "ranker": _label(row, kind)}
            for m in m_values:
                if (row, kind, m) not in pools:
                    continue
                for metric in METRICS:
                    s = summarize_pools(pools[(row, kind, m)], metric, level, bootstrap=bench == BENCHMARK)
                    data.append({"definition": "B2", "ground_truth": bench, "row": _label(row, kind), "kind": kind,
                                 "m": m, "metric": metric, **s})
                    if metric == "kendall_tau":
                        line[f"M={m}"] = cell(s["mean"], s["std"], s["ci_lo"], s["ci_hi"], s["n"], 3,
                                              s["hb_lo"], s["hb_hi"], with_n=False,
                                              hb_undefined=s["hb_undefined"], n_boot=s["hb_n_boot"])
                        curves.setdefault(block, {}).setdefault(_label(row, kind), []).append(
                            (m, s["mean"], s["ci_lo"], s["ci_hi"]))
            display.append(line)
        c = noise_ceiling(table.seed_matrix("valid_acc"))
        ceilings[block] = c
        display.append({"ground truth": block, "ranker": f"noise ceiling of the GT ({c['k']} seeds)",
                        **{f"M={m}": f"{c['ceiling']:.3f} [{c['ceiling_lo']:.3f}, {c['ceiling_hi']:.3f}]"
                           for m in m_values}})
        data.append({"definition": "B2", "ground_truth": bench, "row": "noise ceiling of the GT", "kind": "ceiling",
                     "metric": "kendall_tau", "mean": c["ceiling"], "ci_lo": c["ceiling_lo"], "ci_hi": c["ceiling_hi"],
                     "ci_method": "noise-model simulation, 2.5-97.5 percentiles", "n": c["k"]})
    seeds = sorted(scores.seed.unique())
    pre = "\n".join([
        "# B2: ranking quality from labels alone on the real NAS-Bench-201 GT", "",
        f"Kendall tau on pools of {int(scores[~scores.landmark].groupby(['row', 'm', 'seed']).size().min())} "
        f"architectures, {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), for each number M of landmarks; landmarks "
        "and pools drawn per seed by the super-net runs' own code (nb201-cifar10 preset, draws from the run seed; "
        "landmarks never in the pool). Ground truth: NB201's 200-epoch validation accuracies, mean over seeds "
        "(nb201-real-*, docs/nb201_real.md). Predictors: trained only on the M landmarks' CIFAR-10 GT (table "
        "B1's MLP and GCN). Parameters and FLOPs: of the C=16, N=5 CIFAR-10 networks. Transfer blocks: the "
        "same landmarks, pools and predictions, scored against the other task's GT; the CIFAR-10 GT itself "
        "as a ranker shows how far CIFAR-10 can be transferred at all.",
        "", interval_legend(level), f"Hierarchical bootstrap: {HB_REPLICATES} replicates, Kendall tau of the CIFAR-10 "
        "block only (the transfer blocks: Student-t over seeds).", "Every metric (sparse tau, Spearman, P@10, top-1 GT percentile) is in B2.csv."])
    frame = pd.DataFrame(display).fillna("—")
    out_dir = Path(out_dir)
    paths = write_tables(out_dir / "B2", frame, pd.DataFrame(data),
                         caption="Ranking quality from labels alone on the real NB201 GT", preamble=pre)
    paths += tau_vs_m(curves, ceilings, out_dir / "B2_tau_vs_m")
    return pre + "\n\n" + to_markdown(frame), paths


def tau_vs_m(curves: dict, ceilings: dict, path: Path) -> list[Path]:
    """One panel per ground truth: Kendall tau (mean over seeds, t interval as error bars)
    against M for every ranker, the GT's noise ceiling as a dotted line with its band."""
    import matplotlib.pyplot as plt
    from lmreg.paper_figures.plots import _save
    fig, axes = plt.subplots(1, len(curves), figsize=(3.3 * len(curves), 3.4), sharey=True, squeeze=False)
    for ax, (block, rows) in zip(axes[0], curves.items()):
        for label, points in rows.items():
            m, mean, lo, hi = (np.array(v, dtype=float) for v in zip(*points))
            ax.errorbar(m, mean, yerr=[mean - lo, hi - mean], marker="o", ms=3, lw=1, capsize=2, label=label,
                        ls="--" if "parameters" in label or "FLOPs" in label or label == ORACLE else "-")
        c = ceilings[block]
        ax.axhspan(c["ceiling_lo"], c["ceiling_hi"], color="black", alpha=0.08, lw=0)
        ax.axhline(c["ceiling"], color="black", ls=":", lw=1, label="noise ceiling of the GT")
        ax.set_xscale("log")
        ax.set_xticks(sorted({p[0] for pts in rows.values() for p in pts}))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.set_title(block, fontsize=8)
        ax.set_xlabel("landmarks M (GT labels)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("Kendall tau on the pool", fontsize=8)
    legend = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, h)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=4, fontsize=6.5, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return _save(fig, path)
