"""Table B1: every ranker as a row, on the same pools.

One block of rows per search space of the grid: the SPOS super-net without and with
landmarks, every training-free ranker and the predictors trained on the landmarks (their
records are written by experiments/b1.py), and the noise ceiling of that space's GT. Every
row of a block is scored on the same evaluation pool per seed (the pool of that seed's
super-net runs) against the same GT values; each metric is recomputed here from the stored
pools, so all rows are measured alike, then summarised over seeds (Student-t) and over seeds
and pool architectures (hierarchical bootstrap). Rendered as Markdown, CSV and LaTeX, plus
one figure of Kendall tau per row, a panel per space."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmreg.paper_figures.aggregate import (cell, interval_legend, n_text, shared_pool, summarize, to_markdown,
                                           write_tables)
from lmreg.paper_figures.metrics import get_metric
from lmreg.paper_figures.stats import hierarchical_bootstrap

METRICS = ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10", "top1_gt_percentile",
           "top10_best_gt_percentile")
HEADERS = {"kendall_tau": "Kendall tau", "sparse_kendall_tau": "sparse Kendall tau", "spearman_rho": "Spearman rho",
           "p_at_10": "P@10", "top1_gt_percentile": "top-1 GT percentile",
           "top10_best_gt_percentile": "best of top-10 GT percentile"}
DIGITS = {"top1_gt_percentile": 1, "top10_best_gt_percentile": 1}
KINDS = ("super-net", "training-free", "predictor")
PREDICTOR_NAMES = {"mlp": "MLP", "gcn": "GCN"}

DEFINITIONS_TEXT = (
    "Same in every row: the evaluation pool of each seed (the pool of that seed's super-net runs; both "
    "arms share it), the GT values it is scored against, and the seeds. Not shared: each ranker's own "
    "randomness. The training-free rankers score freshly initialised stand-alone networks of the runs' "
    "size (net C and N) on one batch of training images of the run's task and split, weights and batch "
    "seeded by the run seed (algorithms/rankers/pool.py); the predictors are fit only on that seed's "
    "landmarks (architecture and GT), seeded by the run seed; the super-nets' own training draws are "
    "theirs. Every metric is recomputed from the stored pool scores.",
    "top-1 GT percentile: the GT percentile, among the pool (100 x pool architectures with lower GT / "
    "(pool size - 1)), of the architecture the ranker scores highest: the result of a search with it. "
    "Best of top-10: the highest such percentile among its 10 highest-scored architectures.",
    "GT labels: ground-truth values the ranker used (the M landmarks; 0 for the baseline super-net and "
    "the training-free rankers). Compute: seconds per seed, mean over seeds, on the machine that made the "
    "record: a super-net run's training and all its scoring; a training-free ranker scoring the whole "
    "pool (network construction included); a predictor's training on the landmarks and its prediction "
    "of the pool.",
    "A training-free score that is NaN (jacob_cov on a constant Jacobian) or -inf ranks below every "
    "finite score (tied), +inf above.",
)


def ranking_scores(score) -> np.ndarray:
    """A ranker's scores made rankable: NaN and -inf below every finite score (tied), +inf above."""
    s = np.asarray(score, dtype=float).copy()
    finite = s[np.isfinite(s)]
    lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 0.0)
    s[np.isnan(s) | (s == -np.inf)] = lo - 1.0
    s[s == np.inf] = hi + 1.0
    return s


def record_pool(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(scores as ranked, GT) of a super-net run's or a ranker record's evaluation pool."""
    pool = record["tables"]["pool"]
    pool = pool if isinstance(pool, pd.DataFrame) else pd.DataFrame(list(pool))
    if "score_acc" in pool:  # a super-net run
        return pool["score_acc"].to_numpy(float), pool["gt"].to_numpy(float)
    return ranking_scores(pool["score"].to_numpy(float)), pool["gt"].to_numpy(float)


def record_seed(record: dict) -> int:
    a = record["attrs"]
    return int(a["config"]["seed"] if "config" in a else a["settings"]["seed"])


def record_compute_s(record: dict) -> float:
    t = record["attrs"]["timings"]
    return float(t["train_s"] + t["score_s"]) if "config" in record["attrs"] else float(t["total_s"])


def record_gt_labels(record: dict) -> int:
    a = record["attrs"]
    if "config" in a:  # a super-net run: its landmarks when regularised
        return int(a["config"]["landmarks"]["m"]) if a["config"]["use_landmarks"] else 0
    return int(a["gt_labels"])


@dataclass
class Row:
    label: str
    kind: str                                       # one of KINDS
    records: list[dict] = field(default_factory=list)
    status: str = ""                                # why there are no records
    landmarks: bool = False                         # a super-net trained with landmarks
    space: str = ""                                 # as the grid names it (GridEntry.space)

    @property
    def seeds(self) -> list[int]:
        return [record_seed(r) for r in self.records]


def row_label(kind: str, name: str, use_landmarks: bool = False) -> str:
    if kind == "super-net":
        return f"{name} super-net" + (" + landmarks" if use_landmarks else "")
    if kind == "training-free":
        return f"{name} (training-free)"
    model, _, loss = name.partition("-")
    return f"{PREDICTOR_NAMES.get(model, model)}, {loss} loss (on the landmarks)"


def rows_of(results) -> list[Row]:
    """One Row per EntryResult, grouped by space in grid order; within a space the super-net
    grid entries first, then the rankers, in order."""
    spaces = list(dict.fromkeys(er.entry.space for er in results))
    rows = []
    for er in results:
        e = er.entry
        kind = "super-net" if e.kind == "supernet" else e.kind
        label = row_label(kind, e.algorithm if kind == "super-net" else e.row, e.use_landmarks)
        recs = sorted(er.records or [], key=record_seed)
        status = f"not runnable: {er.status}" if er.status else "" if recs else "not run"
        rows.append(Row(label, kind, recs, status, kind == "super-net" and e.use_landmarks, e.space))
    return sorted(rows, key=lambda r: (spaces.index(r.space), KINDS.index(r.kind)))


def summarize_row(row: Row, metric: str, level: float = 0.95, n_boot: int = 2000) -> dict:
    """``aggregate.summarize`` of the per-seed values of a metric recomputed from the pools, and
    the hierarchical bootstrap interval (hb_lo, hb_hi) over seeds and pool architectures."""
    pools = [record_pool(r) for r in row.records]
    fn = get_metric(metric)
    out = summarize([fn(p, g) for p, g in pools], level)
    out.update(hb_lo=math.nan, hb_hi=math.nan, hb_undefined=0, hb_n_boot=0,
               pool_size=min((len(g) for _, g in pools), default=0), shared_pool=False)
    if pools and out["n"] == len(pools):
        shared = shared_pool(row.records)
        hb = hierarchical_bootstrap(pools, metric, level, n_boot=n_boot, shared_pool=shared)
        out.update(hb_lo=hb["lo"], hb_hi=hb["hi"], hb_undefined=hb["undefined"], hb_n_boot=hb["n_boot"],
                   shared_pool=shared)
    return out


def _seconds(values: list[float]) -> str:
    if not values:
        return "—"
    mean = float(np.mean(values))
    return f"{mean:.2f} s" if mean < 10 else f"{mean:.0f} s"


def render_b1(defn, scale: str, results, out_dir: Path, level: float):
    """(Markdown text, written paths): B1.md/.csv/.tex and B1_kendall_tau.png/.pdf in out_dir."""
    from lmreg.paper_figures.plots import ranker_intervals

    rows = rows_of(results)
    display, data, panels, ceilings = [], [], [], []
    for space in dict.fromkeys(r.space for r in rows):
        block = [r for r in rows if r.space == space]
        plot_rows = _render_block(defn, scale, level, block, display, data)
        ceiling = _ceiling_rows(defn, scale, space, block, display, data)
        ceilings += [ceiling] if ceiling else []
        if plot_rows:
            panels.append((space, pd.DataFrame(plot_rows),
                           (ceiling["ceiling"], ceiling["ceiling_lo"], ceiling["ceiling_hi"]) if ceiling else None))
    frame = pd.DataFrame(display).fillna("—")
    pre = _preamble(defn, scale, level, rows, ceilings)
    out_dir = Path(out_dir)
    paths = write_tables(out_dir / defn.name, frame, pd.DataFrame(data),
                         caption=f"{defn.title} ({scale} scale): mean ± std over seeds "
                                 f"[{level * 100:g}% t; hb]", preamble=pre)
    if panels:
        paths += ranker_intervals(panels, out_dir / f"{defn.name}_kendall_tau")
    return pre + "\n\n" + to_markdown(frame), paths


def _render_block(defn, scale: str, level: float, block: list[Row], display: list, data: list) -> list[dict]:
    """One space's rows appended to the displayed and the long table; its figure rows returned."""
    from lmreg.paper_figures.plots import VARIANT_STYLE

    plot_rows = []
    for row in block:
        gt_labels = sorted({record_gt_labels(r) for r in row.records})
        compute = [record_compute_s(r) for r in row.records]
        line = {"space": row.space, "ranker": row.label, "GT labels": ", ".join(map(str, gt_labels)) or "—"}
        pool_size = 0
        for m in METRICS:
            if not row.records:
                line[HEADERS[m]] = row.status
                continue
            s = summarize_row(row, m, level)
            pool_size = s["pool_size"]
            # a metric undefined for some seeds (constant scores) says how many it averages
            line[HEADERS[m]] = cell(s["mean"], s["std"], s["ci_lo"], s["ci_hi"], s["n"], DIGITS.get(m, 3),
                                    s["hb_lo"], s["hb_hi"], with_n=s["n"] != len(row.records),
                                    hb_undefined=s["hb_undefined"], n_boot=s["hb_n_boot"])
            data.append({"definition": defn.name, "scale": scale, "space": row.space, "row": row.label,
                         "kind": row.kind, "metric": m, **s,
                         "gt_labels": gt_labels[0] if len(gt_labels) == 1 else math.nan,
                         "compute_s_per_seed": float(np.mean(compute)),
                         "compute_s_per_arch": float(np.mean(compute)) / pool_size if pool_size else math.nan,
                         "seeds_used": ",".join(map(str, row.seeds)), "status": ""})
            if m == "kendall_tau":
                color = VARIANT_STYLE[row.landmarks][1] if row.kind == "super-net" else None
                plot_rows.append({"label": row.label, "kind": row.kind, "color": color, "mean": s["mean"],
                                  "ci_lo": s["ci_lo"], "ci_hi": s["ci_hi"], "hb_lo": s["hb_lo"], "hb_hi": s["hb_hi"]})
        if not row.records:
            data.append({"definition": defn.name, "scale": scale, "space": row.space, "row": row.label,
                         "kind": row.kind, "metric": "", "n": 0, "status": row.status})
        line["compute (s per seed)"] = _seconds(compute)
        line["n"] = n_text(len(row.records), pool_size) if row.records else "0"
        display.append(line)
    return plot_rows


def _ceiling_rows(defn, scale: str, space: str, block: list[Row], display: list, data: list) -> dict | None:
    """The noise ceiling of the GT the space's super-nets were scored against, appended to both
    tables (none when those runs are missing or their GT has one seed)."""
    from lmreg.paper_figures.noise import ceiling_of_runs

    ceiling = ceiling_of_runs([r for row in block if row.kind == "super-net" for r in row.records])
    if ceiling:
        display.append({"space": space, "ranker": f"noise ceiling of the GT ({ceiling['benchmark']})",
                        "GT labels": "all",
                        HEADERS["kendall_tau"]: f"{ceiling['ceiling']:.3f} [{ceiling['ceiling_lo']:.3f}, "
                                                f"{ceiling['ceiling_hi']:.3f}]",
                        "n": f"{ceiling['k']} GT seeds; {ceiling['n_archs']} cells"})
        data.append({"definition": defn.name, "scale": scale, "space": space, "row": "noise ceiling of the GT",
                     "kind": "ceiling", "metric": "kendall_tau", "n": ceiling["k"], "mean": ceiling["ceiling"],
                     "ci_lo": ceiling["ceiling_lo"], "ci_hi": ceiling["ceiling_hi"],
                     "ci_method": "noise-model simulation, 2.5-97.5 percentiles", "pool_size": ceiling["n_archs"],
                     "status": ""})
    return ceiling


def _preamble(defn, scale: str, level: float, rows: list[Row], ceilings: list[dict]) -> str:
    lines = [f"# {defn.name}: {defn.title} ({scale} scale)", "",
             interval_legend(level) + " n: seeds; pool size.", "", *DEFINITIONS_TEXT]
    if scale == "micro":
        benchmarks = {r.space: rec["attrs"]["config"]["benchmark"] for r in rows if r.kind == "super-net"
                      for rec in r.records}
        gts = f" (ground truth: {', '.join(f'{k} {v}' for k, v in benchmarks.items())})" if benchmarks else ""
        lines.append(f"Micro scale: the micro presets, 16x16 Fashion-MNIST{gts}; compare the order of the rows, "
                     "not the values with the paper's.")
    if ceilings:
        lines.append("Noise ceiling: the Kendall tau a ranker knowing the true accuracies would reach against "
                     "its space's GT (paper_figures.noise), with its simulation's 2.5-97.5 percentiles.")
    missing = [f"- {r.space}: {r.label}: {r.status}" for r in rows if not r.records]
    if missing:
        lines += ["", "Missing rows (run `lmreg reproduce B1` without --dry-run):", *missing]
    return "\n".join(lines)
