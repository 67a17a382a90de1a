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


PANEL_WIDTH = 3.3  # inches: one column of a two-column paper
_GROUP_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
                 "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def _group_color(i: int, use_landmarks: bool | None, n_groups: int) -> str:
    if n_groups <= 2 and use_landmarks is not None:
        return VARIANT_STYLE[bool(use_landmarks)][1]
    return _GROUP_COLORS[i % len(_GROUP_COLORS)]


def rank_scatter_panels(panels: list[tuple[str, dict]], path: Path, ncols: int = 2,
                        panel_width: float = PANEL_WIDTH, title: str = "") -> list[Path]:
    """One panel per (label, record): ground-truth rank against super-net rank over the
    evaluation pool and the landmarks (rank 1 = best), landmarks as black stars,
    the final pool Kendall tau in the panel title."""
    n = len(panels)
    if n == 0:
        raise ValueError("rank_scatter_panels needs at least one record")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols, panel_width * 0.95 * nrows),
                             squeeze=False)
    for i, (ax, (label, rec)) in enumerate(zip(axes.flat, panels)):
        pool, lms = rec["tables"]["pool"], rec["tables"]["landmarks"]
        both = pd.concat([pool.assign(landmark=False), lms.assign(landmark=True)], ignore_index=True)
        gt_rank = rankdata(-both["gt"].to_numpy(), method="average")
        sn_rank = rankdata(-both["score_acc"].to_numpy(), method="average")
        mask = both.landmark.to_numpy()
        color = _group_color(i, rec["attrs"]["config"].get("use_landmarks"), n)
        ax.scatter(gt_rank[~mask], sn_rank[~mask], s=7, alpha=0.7, color=color, linewidths=0,
                   label="evaluation pool")
        ax.scatter(gt_rank[mask], sn_rank[mask], s=22, marker="*", color="black", linewidths=0,
                   label="landmarks (not in τ)")
        m = len(both)
        ax.plot([1, m], [1, m], color="grey", lw=0.7, ls="--")
        tau = rec["attrs"]["final_metrics"]["kendall_tau"]
        ax.set_title(f"{label}\npool Kendall τ = {tau:.3f}", fontsize=8)
        ax.set_xlabel("ground-truth rank (1 = best)", fontsize=8)
        ax.set_ylabel("super-net rank (1 = best)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_aspect("equal", adjustable="box")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles[0] = plt.Line2D([], [], ls="", marker="o", ms=3, color="grey")  # pool colour varies by panel
    handles.append(plt.Line2D([], [], ls="--", lw=0.7, color="grey"))
    labels.append("perfect agreement")
    fig.tight_layout(rect=(0, 0.07 if nrows == 1 else 0.04, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    return _save(fig, path)


def metric_over_epochs(groups: list[tuple[str, list[dict]]], path: Path, metric: str = "kendall_tau",
                       width: float = PANEL_WIDTH, ceiling: float | None = None) -> list[Path]:
    """Mean over seeds (line) and min-max over seeds (band) of a ranking metric at each
    evaluation, one line per (label, records) group; a dashed line marks the end of
    the super-net warm-up (the first epoch with a landmark loss) when the groups share it;
    a dotted line marks the GT's noise ceiling (paper_figures.noise) when given."""
    if not groups:
        raise ValueError("metric_over_epochs needs at least one group of records")
    many = len(groups) > 2
    fig, ax = plt.subplots(figsize=(width * (1.6 if many else 1.0), width * 0.8))
    warmups = set()
    for i, (label, records) in enumerate(groups):
        frame = pd.concat([r["tables"]["evals"] for r in records]).groupby("epoch")[metric]
        mean, lo, hi = frame.mean(), frame.min(), frame.max()
        epochs = mean.index.to_numpy() + 1  # after 0-based epoch e, e+1 epochs are trained
        cfg = records[0]["attrs"]["config"]
        color = _group_color(i, cfg.get("use_landmarks"), len(groups))
        ax.plot(epochs, mean.to_numpy(), marker="o", ms=3, lw=1.2, color=color,
                label=f"{label} ({len(records)} seed{'s' if len(records) > 1 else ''})")
        if len(records) > 1:
            ax.fill_between(epochs, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.18, linewidth=0)
        if cfg.get("use_landmarks"):
            warmups.add(cfg["train"]["warmup_epochs"])
    if len(warmups) == 1:
        w = warmups.pop()
        ax.axvline(w, color="grey", ls="--", lw=0.8)
        ax.text(w, 0.97, "warm-up ends ", transform=ax.get_xaxis_transform(), fontsize=6.5, color="grey",
                rotation=90, va="top", ha="right")
    if ceiling is not None:
        ax.axhline(ceiling, color="black", ls=":", lw=1.0, label=f"noise ceiling of the GT ({ceiling:.2f})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("super-net training epochs", fontsize=8)
    ax.set_ylabel(f"{metric.replace('_', ' ')} (band: min-max over seeds)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if many:
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=6.5, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def ablation_panels(table: pd.DataFrame, path: Path, metric: str = "kendall_tau",
                    reference: float | None = None, panel_width: float = 2.2) -> list[Path]:
    """One panel per ablation axis: mean over seeds with its Student-t interval over seeds
    (error bars) for each setting; the default setting filled, others hollow; a dotted line
    at ``reference`` (the mean of the un-regularised baseline) when given.
    table columns: axis, value, mean, ci_lo, ci_hi, default (bool)."""
    axes_names = list(dict.fromkeys(table["axis"]))
    if not axes_names:
        raise ValueError("ablation_panels needs at least one ablation row")
    ncols = min(3, len(axes_names))
    nrows = -(-len(axes_names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols, panel_width * 0.95 * nrows),
                             squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, axes_names):
        rows = table[table["axis"] == name].reset_index(drop=True)
        x = np.arange(len(rows))
        mean = rows["mean"].to_numpy(float)
        lo, hi = rows["ci_lo"].to_numpy(float), rows["ci_hi"].to_numpy(float)
        err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)])
        ax.errorbar(x, mean, yerr=err, fmt="none", ecolor="tab:orange", elinewidth=1, capsize=2)
        default = rows["default"].to_numpy(bool)
        ax.scatter(x[default], mean[default], color="tab:orange", s=22, zorder=3, label="default")
        ax.scatter(x[~default], mean[~default], facecolors="white", edgecolors="tab:orange", s=22, zorder=3,
                   label="ablated")
        if reference is not None and np.isfinite(reference):
            ax.axhline(reference, color="tab:blue", ls=":", lw=1, label="no landmarks")
        ax.set_xticks(x, [str(v) for v in rows["value"]], fontsize=7, rotation=30 if len(rows) > 3 else 0)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_xlabel(name, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    for row_axes in axes:
        row_axes[0].set_ylabel(f"{metric.replace('_', ' ')}\n(mean, t interval)", fontsize=8)
    for ax in list(axes.flat)[len(axes_names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=6.5, loc="best")
    fig.tight_layout()
    return _save(fig, path)


KIND_COLORS = {"super-net": "tab:orange", "training-free": "tab:gray", "predictor": "tab:green"}


def ranker_intervals(panels: list[tuple[str, pd.DataFrame, tuple[float, float, float] | None]], path: Path,
                     metric: str = "kendall_tau", width: float = PANEL_WIDTH * 1.6) -> list[Path]:
    """One panel per (title, table, ceiling), stacked, sharing the metric axis (table B1: one per
    search space). In a panel, one line per ranker, top to bottom in table order: the mean over
    seeds (dot), its Student-t interval (thick bar) and its hierarchical bootstrap interval (thin
    bar just below); the GT's noise ceiling (value, lo, hi) as a dotted line with its band.
    table columns: label, kind, mean, ci_lo, ci_hi, hb_lo, hb_hi, and optionally color."""
    if not panels or any(table.empty for _, table, _ in panels):
        raise ValueError("ranker_intervals needs at least one panel and one row in each")
    sizes = [len(table) for _, table, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False,
                             figsize=(width, 0.6 + 0.28 * sum(sizes) + 0.45 * (len(panels) - 1)),
                             gridspec_kw={"height_ratios": sizes})
    for ax, (title, table, ceiling) in zip(axes[:, 0], panels):
        _ranker_panel(ax, table, ceiling)
        if len(panels) > 1:
            ax.set_title(title, fontsize=7.5, loc="right")
    axes[-1, 0].set_xlabel(f"{metric.replace('_', ' ')}: mean over seeds (dot), t interval (thick),\n"
                           "hierarchical bootstrap interval (thin)", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _ranker_panel(ax, table: pd.DataFrame, ceiling: tuple[float, float, float] | None):
    n = len(table)
    y = np.arange(n)[::-1]
    for yi, (_, r) in zip(y, table.iterrows()):
        color = r.get("color")
        color = color if isinstance(color, str) else KIND_COLORS.get(r["kind"], "tab:blue")
        # the bootstrap interval just below the t interval, so both show where they overlap
        for lo, hi, lw, dy in ((r["hb_lo"], r["hb_hi"], 1.0, -0.22), (r["ci_lo"], r["ci_hi"], 3.0, 0.0)):
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [yi + dy, yi + dy], color=color, lw=lw, alpha=0.7 if lw < 2 else 0.9,
                        solid_capstyle="butt")
        if np.isfinite(r["mean"]):
            ax.plot(r["mean"], yi, "o", color=color, ms=4, zorder=3)
    if ceiling is not None:
        value, lo, hi = ceiling
        ax.axvspan(lo, hi, color="black", alpha=0.08, linewidth=0)
        ax.axvline(value, color="black", ls=":", lw=1.0, label=f"noise ceiling of the GT ({value:.2f})")
        ax.legend(fontsize=6.5, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set_yticks(y, list(table["label"]), fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(alpha=0.3, axis="x")



def seed_agreement(matrices: dict[str, pd.DataFrame], path: Path, title: str = "",
                   max_panels: int = 3) -> list[Path]:
    """A ground truth's reliability as a picture: for each GT metric (``matrices``: metric ->
    architectures x seeds) its seed pairs, up to ``max_panels`` panels in all; each panel is
    every architecture's value under one seed against the other, the identity line dashed,
    and the pair's Kendall tau (the seed tau that `lmreg bench info` prints)."""
    import itertools

    from lmreg.paper_figures.metrics import kendall_tau
    panels = [(metric, a, b) for metric, m in matrices.items() for a, b in itertools.combinations(m.columns, 2)
              if len(m[[a, b]].dropna()) >= 2][:max_panels]
    if not panels:
        raise ValueError("seed_agreement needs a table with at least two seeds sharing two architectures")
    fig, axes = plt.subplots(1, len(panels), figsize=(PANEL_WIDTH * len(panels), PANEL_WIDTH), squeeze=False)
    for ax, (metric, a, b) in zip(axes[0], panels):
        pair = matrices[metric][[a, b]].dropna()
        x, y = pair[a].to_numpy(float), pair[b].to_numpy(float)
        many = len(pair) > 2000
        ax.scatter(x, y, s=3 if many else 9, alpha=0.2 if many else 0.6, color="tab:blue", linewidths=0)
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], ls="--", lw=0.8, color="black")
        ax.set_xlabel(f"{metric}, seed {a}")
        ax.set_ylabel(f"{metric}, seed {b}")
        ax.set_title(f"Kendall tau {kendall_tau(x, y):.3f} ({len(pair)} cells)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def gain_intervals(rows: list[tuple[str, dict]], path: Path, metric: str = "kendall_tau") -> list[Path]:
    """Table T1 as a picture: per (label, difference) row, the paired landmarks-minus-baseline
    difference of ``metric`` (a dot) with its Student-t interval (thick) and its hierarchical-
    bootstrap interval (thin, below), against a dashed zero line. ``difference`` holds
    diff, diff_lo, diff_hi, hb_lo, hb_hi and n, as `aggregate.paired_differences` rows do."""
    if not rows:
        raise ValueError("gain_intervals needs at least one row")
    fig, ax = plt.subplots(figsize=(PANEL_WIDTH * 1.4, 0.5 * len(rows) + 1.2))
    for i, (label, d) in enumerate(rows):
        y = len(rows) - 1 - i
        ax.plot([d["diff_lo"], d["diff_hi"]], [y, y], lw=3, color="tab:orange", solid_capstyle="butt",
                label="paired t" if i == 0 else None)
        ax.plot([d["hb_lo"], d["hb_hi"]], [y - 0.18, y - 0.18], lw=1.2, color="tab:gray",
                label="hierarchical bootstrap" if i == 0 else None)
        ax.plot([d["diff"]], [y], "o", color="black", ms=4)
    ax.axvline(0, ls="--", lw=0.8, color="black")
    ax.set_yticks(range(len(rows)), [f"{label} ({int(d['n'])} seeds)" for label, d in rows][::-1])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"{metric}: landmarks − baseline")
    fig.legend(fontsize=7, loc="upper center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    return _save(fig, path)
