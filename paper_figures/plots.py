"""Figures: super-net vs ground-truth ranks (landmarks marked) and Kendall tau
over training epochs (warm-up boundary marked)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

VARIANT_STYLE = {False: ("baseline (SPOS)", "tab:blue"), True: ("landmark-regularised", "tab:orange")}


def _save(fig, path: Path) -> list[Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in (".png", ".pdf"):
        target = path.with_suffix(ext)
        fig.savefig(target, dpi=150, bbox_inches="tight")
        out.append(target)
    plt.close(fig)
    return out


def rank_scatter(records: dict[bool, dict], path: Path, title: str = "") -> list[Path]:
    """One panel per variant: GT rank against super-net rank over pool + landmarks
    (rank 1 = best), landmarks drawn as stars."""
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 4.0), squeeze=False)
    for ax, (variant, rec) in zip(axes[0], sorted(records.items())):
        pool, lms = rec["tables"]["pool"], rec["tables"]["landmarks"]
        both = pd.concat([pool.assign(landmark=False), lms.assign(landmark=True)], ignore_index=True)
        gt_rank = rankdata(-both["gt"].to_numpy(), method="average")
        sn_rank = rankdata(-both["score_acc"].to_numpy(), method="average")
        mask = both.landmark.to_numpy()
        label, color = VARIANT_STYLE[variant]
        ax.scatter(gt_rank[~mask], sn_rank[~mask], s=12, alpha=0.7, color=color, label="evaluation pool")
        ax.scatter(gt_rank[mask], sn_rank[mask], s=40, marker="*", color="black", label="landmarks")
        n = len(both)
        ax.plot([1, n], [1, n], color="grey", lw=0.8, ls="--")
        tau = rec["attrs"]["final_metrics"]["kendall_tau"]
        ax.set_title(f"{label}\npool Kendall tau = {tau:.3f}", fontsize=10)
        ax.set_xlabel("ground-truth rank (1 = best)")
        ax.set_ylabel("super-net rank (1 = best)")
        ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def tau_over_epochs(records: list[dict], path: Path, metric: str = "kendall_tau") -> list[Path]:
    """Mean (line) and min-max over seeds (band) of a ranking metric per evaluation epoch."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    warmup = None
    for variant in (False, True):
        evals = [r["tables"]["evals"] for r in records if r["attrs"]["config"]["use_landmarks"] == variant]
        if not evals:
            continue
        frame = pd.concat(evals).groupby("epoch")[metric]
        mean, lo, hi = frame.mean(), frame.min(), frame.max()
        epochs = mean.index.to_numpy() + 1  # after epoch e (0-based) means e+1 epochs trained
        label, color = VARIANT_STYLE[variant]
        ax.plot(epochs, mean.to_numpy(), marker="o", color=color, label=f"{label} ({len(evals)} seeds)")
        ax.fill_between(epochs, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.2)
    for r in records:
        warmup = r["attrs"]["config"]["train"]["warmup_epochs"]
    if warmup:
        ax.axvline(warmup, color="grey", ls="--", lw=1)
        ax.text(warmup, ax.get_ylim()[1], " end of warm-up", va="top", fontsize=8, color="grey")
    ax.set_xlabel("super-net training epochs")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
