"""One definition per paper table or figure we reproduce, in a registry by name.

A definition names its run grid at two scales (``micro``: the micro preset on a CPU;
``paper``: the paper's settings, GPU), how the runs are aggregated over seeds, and
how the result is rendered (Markdown, CSV and LaTeX tables; PNG and PDF figures).
Running the grid lives in ``experiments/reproduce.py``; here a renderer receives,
for every grid entry, the records found for it (or why it could not run).
"""

from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from lmreg.core.registry import Registry
from lmreg.paper_figures.aggregate import (RANKING_METRICS, Group, difference_cell, flatten, interval_legend,
                                     paired_differences, summarize_group, summary_cell, write_tables)

SCALES = ("micro", "paper")
MICRO_SEEDS = (0, 1, 2)
PAPER_SEEDS = (1268, 1269, 1270)  # the official scripts' seeds
T1_MICRO_SEEDS = (0, 1, 2, 3, 4)  # T1 compares four algorithms: 5 seeds a cell at micro scale


@dataclass(frozen=True)
class GridEntry:
    """Runs of one config over seeds: load_config(preset, [*overrides, f"seed={s}"])."""

    row: str                              # the row (or curve) it becomes
    preset: str
    overrides: tuple[str, ...] = ()
    seeds: tuple[int, ...] = MICRO_SEEDS
    algorithm: str = "SPOS"
    space: str = "NB201"
    axis: str = ""                        # ablation axis (T2)
    value: str = ""                       # ablation setting (T2)
    default: bool = False                 # the default setting of its ablation axis
    unavailable: str = ""                 # why it cannot run yet when its preset/benchmark is missing
    # "supernet": a run of the grid; otherwise a row computed from the grid's finished runs
    # (B1's rankers: "training-free" or "predictor", `row` naming the ranker; experiments/b1.py)
    kind: str = "supernet"

    @property
    def use_landmarks(self) -> bool:
        return "use_landmarks=false" not in [o.lower() for o in self.overrides]


@dataclass(frozen=True)
class PaperValue:
    """A value reported in the paper. paper_value stays None (rendered "n/a") until it
    is copied from the paper itself; source then names the table/figure and row."""

    metric: str = "kendall_tau"
    paper_value: float | None = None
    source: str = ""


@dataclass
class EntryResult:
    """What a renderer gets for one grid entry."""

    entry: GridEntry
    records: list[dict]
    status: str = ""                      # "": runnable; otherwise why it is not

    def group(self) -> Group | None:
        if not self.records:
            return None
        cfg = flatten(self.records[0]["attrs"]["config"])
        cfg.pop("seed", None)
        return Group(self.entry.row, cfg, sorted(self.records, key=lambda r: r["attrs"]["config"]["seed"]))


@dataclass
class Definition:
    name: str
    title: str
    kind: str                             # "table" or "figure"
    about: str
    grids: dict[str, tuple[GridEntry, ...]]
    renderer: Callable = None             # (definition, scale, results, out_dir, level) -> (text, paths)
    metrics: tuple[str, ...] = RANKING_METRICS
    notes: tuple[str, ...] = ()

    def grid(self, scale: str) -> tuple[GridEntry, ...]:
        if scale not in self.grids:
            raise KeyError(f"unknown scale {scale!r} for {self.name}; valid scales: {', '.join(self.grids)}")
        return self.grids[scale]

    def render(self, scale: str, results: list[EntryResult], out_dir: Path,
               level: float = 0.95) -> tuple[str, list[Path]]:
        return self.renderer(self, scale, results, Path(out_dir), level)


# The paper's values, keyed by definition then row. Values must be copied from the paper
# ONLY (Yu, Ranftl, Salzmann, CVPR 2021; name the table/figure and row in `source`): never
# from our runs, from the official code's logs or from memory. The paper's tables could not
# be read when this file was written, so every value is None and renders as "n/a".
PAPER_VALUES: dict[str, dict[str, PaperValue]] = {
    "T1": {
        "SPOS / NB201 / baseline": PaperValue("kendall_tau"),
        "SPOS / NB201 / landmarks": PaperValue("kendall_tau"),
        "SPOS / NB101 / baseline": PaperValue("kendall_tau"),
        "SPOS / NB101 / landmarks": PaperValue("kendall_tau"),
    },
    "T2": {},  # ablation rows, e.g. "landmarks.m=10": PaperValue("kendall_tau")
}


def paper_value(definition: str, row: str, scale: str) -> tuple[str, PaperValue]:
    """The paper cell's text and the entry. Paper values are shown at paper scale only:
    the micro task is not the paper's setting."""
    pv = PAPER_VALUES.get(definition, {}).get(row, PaperValue())
    if pv.paper_value is None or scale != "paper":
        return "n/a", pv
    return f"{pv.paper_value:.3f}", pv


# Grids ------------------------------------------------------------------------------
# (display name, micro preset, paper preset) of every algorithm in T1
T1_ALGORITHMS = (("SPOS", "micro", "nb201-cifar10"), ("FairNAS", "micro-fairnas", "nb201-cifar10-fairnas"),
                 ("GDAS", "micro-gdas", "nb201-cifar10-gdas"), ("PC-DARTS", "micro-pcdarts", "nb201-cifar10-pcdarts"),
                 ("NAO", "micro-nao", "nb201-cifar10-nao"))
# NB101 rows: the algorithms the official scripts run there (bash/exps/nao.sh runs NAO on NB101)
T1_NB101_MICRO = (("SPOS", "micro-nb101"), ("NAO", "micro-nb101-nao"))
T1_NB101_PAPER = (("SPOS", "nb101-cifar10"), ("NAO", "nb101-cifar10-nao"))
# DARTS-NDS rows at paper scale: the darts_nds branches of validate-landmarkloss.sh, gdas.sh,
# pcdarts.sh and nao.sh, each against the NDS DARTS table; the micro grid gets them with a micro
# DARTS ground truth.
T1_DARTS_PAPER = (("SPOS", "darts-nds-cifar10"), ("GDAS", "darts-nds-cifar10-gdas"),
                  ("PC-DARTS", "darts-nds-cifar10-pcdarts"), ("NAO", "darts-nds-cifar10-nao"))
DARTS_PAPER_SEEDS = (1269, 1270, 1271)  # the scripts' seeds: their darts_nds branches add 1


def _t1_grid(scale: str) -> tuple[GridEntry, ...]:
    seeds = T1_MICRO_SEEDS if scale == "micro" else PAPER_SEEDS
    entries = [GridEntry(f"{alg} / NB201 / {v}", micro if scale == "micro" else paper,
                         ("use_landmarks=false",) if v == "baseline" else (), seeds, algorithm=alg)
               for alg, micro, paper in T1_ALGORITHMS for v in ("baseline", "landmarks")]
    nb101 = T1_NB101_MICRO if scale == "micro" else T1_NB101_PAPER
    entries += [GridEntry(f"{alg} / NB101 / {v}", preset, ("use_landmarks=false",) if v == "baseline" else (),
                          seeds, algorithm=alg, space="NB101")
                for alg, preset in nb101 for v in ("baseline", "landmarks")]
    if scale == "paper":
        entries += [GridEntry(f"{alg} / DARTS / {v}", preset, ("use_landmarks=false",) if v == "baseline" else (),
                              DARTS_PAPER_SEEDS, algorithm=alg, space="DARTS")
                    for alg, preset in T1_DARTS_PAPER for v in ("baseline", "landmarks")]
    return tuple(entries)


# (axis label, config key, values, default value); the defaults are the official settings.
ABLATIONS = (
    ("number of landmarks M", "landmarks.m", (10, 20, 50, 100), 50),
    ("coefficient max_coef", "landmarks.max_coef", (1.0, 5.0, 10.0, 20.0), 10.0),
    # the official schedule ablation (validate-landmarkloss.sh:44); "linear" (ours) is left out
    ("schedule", "landmarks.schedule", ("constant", "linear_step_decrease", "linear_step_increase",
                                        "cosine_decrease", "cosine_increase"), "cosine_increase"),
    ("loss form", "landmarks.loss_form", ("hinge", "softplus", "logistic"), "hinge"),
    ("landmark sampling", "landmarks.selection", ("random", "fixed", "even"), "random"),
)
_SHORT = {"landmarks.m": "m", "landmarks.max_coef": "coef", "landmarks.schedule": "sched",
          "landmarks.loss_form": "loss", "landmarks.selection": "sel"}


def _t2_grid(scale: str) -> tuple[GridEntry, ...]:
    preset, seeds = ("micro", MICRO_SEEDS) if scale == "micro" else ("nb201-cifar10", PAPER_SEEDS)
    entries = [GridEntry("no landmarks (SPOS)", preset, ("use_landmarks=false",), seeds,
                         axis="reference", value="no landmarks")]
    for axis, key, values, default in ABLATIONS:
        for v in values:
            if v == default:  # the shared default run: same name, same config as T1's
                entries.append(GridEntry(f"{key}={v}", preset, (), seeds, axis=axis, value=str(v), default=True))
            else:
                tag = f"{_SHORT[key]}{v:g}" if isinstance(v, float) else f"{_SHORT[key]}-{v}" \
                    if isinstance(v, str) else f"{_SHORT[key]}{v}"
                entries.append(GridEntry(f"{key}={v}", preset, (f"name={preset}-{tag}", f"{key}={v}"), seeds,
                                         axis=axis, value=str(v)))
    return tuple(entries)


# Iterative growing (G1): 2 rounds of 10 labels on top of M=50, against the same 20 labels
# drawn at random, all 70 labels up front, and the M=50 default without growing.
GROW_ROUNDS, GROW_K = 2, 10


def _g1_grid(scale: str) -> tuple[GridEntry, ...]:
    preset, seeds = ("micro", MICRO_SEEDS) if scale == "micro" else ("nb201-cifar10", PAPER_SEEDS)
    grow = (f"landmarks.grow_rounds={GROW_ROUNDS}", f"landmarks.grow_k={GROW_K}")
    budget = f"{50 + GROW_ROUNDS * GROW_K} labels"
    return (
        GridEntry("no landmarks (SPOS)", preset, ("use_landmarks=false",), seeds, axis="reference",
                  value="no landmarks"),
        GridEntry("M=50, no growing", preset, (), seeds, axis="growing", value="M=50, no growing (50 labels)",
                  default=True),
        GridEntry("grow: super-net top-k", preset, (f"name={preset}-grow-top", *grow), seeds, axis="growing",
                  value=f"50 + {GROW_ROUNDS} rounds x {GROW_K}, super-net's top {GROW_K} ({budget})"),
        GridEntry("grow: random", preset, (f"name={preset}-grow-random", *grow, "landmarks.grow_select=random"),
                  seeds, axis="growing", value=f"50 + {GROW_ROUNDS} rounds x {GROW_K}, random ({budget})"),
        GridEntry(f"M={50 + GROW_ROUNDS * GROW_K} up front", preset,
                  (f"name={preset}-m{50 + GROW_ROUNDS * GROW_K}", f"landmarks.m={50 + GROW_ROUNDS * GROW_K}"),
                  seeds, axis="growing", value=f"M={50 + GROW_ROUNDS * GROW_K} from the start ({budget})"),
    )


# Renderers ---------------------------------------------------------------------------
def _status_cell(er: EntryResult) -> str:
    if er.status:
        return "not runnable"
    return "not run"


def _notes(results: list[EntryResult]) -> list[str]:
    seen, out = set(), []
    for er in results:
        if er.status and er.status not in seen:
            seen.add(er.status)
            out.append(f"- {er.entry.row}: not runnable: {er.status}")
        elif not er.status and not er.records:
            out.append(f"- {er.entry.row}: not run yet (run `lmreg reproduce` without --dry-run)")
    return out


def _seed_cells(group: Group | None, metrics, level) -> tuple[dict, list[dict]]:
    cells, data = {}, []
    for m in metrics:
        if group is None:
            data.append({"metric": m, "n": 0, "mean": math.nan, "std": math.nan, "ci_lo": math.nan,
                         "ci_hi": math.nan, "hb_lo": math.nan, "hb_hi": math.nan, "pool_size": 0})
            continue
        s = summarize_group(group, m, level)
        cells[m] = summary_cell(s)
        data.append({"metric": m, **s})
    return cells, data


def _preamble(defn: Definition, scale: str, level: float, results: list[EntryResult]) -> str:
    lines = [f"# {defn.name}: {defn.title} ({scale} scale)", "",
             interval_legend(level) + " Values: the final ranking metrics of the evaluation pool (landmarks "
             "excluded). 'paper' shows a value only where it was copied from the paper; 'n/a' otherwise (none "
             "recorded yet)."]
    if scale == "micro":
        gts = list(_records_by_benchmark(results)) or ["micro-fmnist-nb201"]
        what = (f"the micro preset (16x16 Fashion-MNIST, ground truth {gts[0]})" if len(gts) == 1 else
                f"the micro presets (16x16 Fashion-MNIST, ground truths {', '.join(gts)})")
        lines.append(f"Micro scale: {what}; compare the direction and size of effects with the paper, not the values.")
    lines += list(defn.notes)
    notes = _notes(results)
    if notes:
        lines += ["", "Missing rows:", *notes]
    return "\n".join(lines)


def render_t1(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    display, data = [], []
    by_space: dict[tuple[str, str], dict[str, EntryResult]] = {}
    gains = []  # (label, kendall_tau difference) per algorithm and space, for the figure
    for er in results:
        e = er.entry
        group = er.group()
        cells, stats = _seed_cells(group, defn.metrics, level)
        ptext, pv = paper_value(defn.name, e.row, scale)
        variant = "landmarks" if e.use_landmarks else "baseline"
        by_space.setdefault((e.algorithm, e.space), {})[variant] = er
        row = {"algorithm": e.algorithm, "space": e.space, "variant": variant,
               "seeds": len(er.records) if er.records else _status_cell(er)}
        row.update({m: cells.get(m, "—") for m in defn.metrics})
        row[f"paper ({pv.metric})"] = ptext
        display.append(row)
        for s in stats:
            data.append({"definition": defn.name, "scale": scale, "row": e.row, "algorithm": e.algorithm,
                         "space": e.space, "variant": variant, **s,
                         "seeds_used": ",".join(str(r["attrs"]["config"]["seed"]) for r in er.records),
                         "status": er.status or ("" if er.records else "not run"),
                         "paper_value": pv.paper_value if s["metric"] == pv.metric else None,
                         "paper_source": pv.source if s["metric"] == pv.metric else ""})
    for (alg, space), variants in by_space.items():
        if "baseline" in variants and "landmarks" in variants:
            b, lm = variants["baseline"].group(), variants["landmarks"].group()
            if b is None or lm is None:
                continue
            diff = paired_differences(b, lm, defn.metrics, level)
            row = {"algorithm": alg, "space": space, "variant": "landmarks − baseline (paired)",
                   "seeds": int(diff.n.max())}
            for _, d in diff.iterrows():
                row[d["metric"]] = difference_cell(d)
                if d["metric"] == defn.metrics[0]:
                    gains.append((f"{alg} / {space}", d))
                data.append({"definition": defn.name, "scale": scale, "row": f"{alg} / {space} / difference",
                             "algorithm": alg, "space": space, "variant": "landmarks-baseline",
                             "metric": d["metric"], "n": d["n"], "mean": d["diff"], "ci_lo": d["diff_lo"],
                             "ci_hi": d["diff_hi"], "ci_method": d["ci_method"], "hb_lo": d["hb_lo"],
                             "hb_hi": d["hb_hi"], "pool_size": d["pool_size"], "shared_pool": d["shared_pool"]})
            row[f"paper ({PaperValue().metric})"] = "n/a"
            display.append(row)
    for ceiling in _ceiling_cells(results):
        display.append({"algorithm": "noise ceiling of the GT", "space": ceiling[0], "variant": "—",
                        "seeds": ceiling[1], defn.metrics[0]: ceiling[2]})
    frame = pd.DataFrame(display).fillna("—")
    pre = _preamble(defn, scale, level, results)
    paths = write_tables(out_dir / defn.name, frame, pd.DataFrame(data),
                         caption=f"{defn.title} ({scale} scale): mean ± std over seeds "
                                 f"[{level * 100:g}% t; hb] (seeds; pool size)", preamble=pre)
    if gains:
        from lmreg.paper_figures.plots import gain_intervals
        paths += gain_intervals(gains, out_dir / f"{defn.name}_gain", metric=defn.metrics[0])
    from lmreg.paper_figures.aggregate import to_markdown
    return pre + "\n\n" + to_markdown(frame), paths


def _records_by_benchmark(results: list[EntryResult]) -> dict[str, list[dict]]:
    """The finished runs' records per ground truth they were scored against, in the order the runs name them."""
    by_benchmark: dict[str, list[dict]] = {}
    for er in results:
        for r in er.records or []:
            by_benchmark.setdefault(r["attrs"]["config"]["benchmark"], []).append(r)
    return by_benchmark


def _ceiling_cells(results: list[EntryResult]) -> list[tuple[str, str, str]]:
    """(benchmark, 'k GT seeds', 'ceiling [lo, hi]') of each ground truth the runs used: the
    Kendall tau a ranker knowing the true accuracies would reach (paper_figures.noise). A grid
    spanning spaces (T1: NB201 and NB101) has one per benchmark."""
    from lmreg.paper_figures.noise import ceiling_of_runs
    cells = []
    for records in _records_by_benchmark(results).values():
        c = ceiling_of_runs(records)
        if c is not None:
            cells.append((c["benchmark"], f"{c['k']} GT seeds",
                          f"{c['ceiling']:.3f} [{c['ceiling_lo']:.3f}, {c['ceiling_hi']:.3f}]"))
    return cells


def render_t2(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    from lmreg.paper_figures.aggregate import to_markdown
    from lmreg.paper_figures.plots import ablation_panels

    metric0 = defn.metrics[0]
    groups = {er.entry.row: er.group() for er in results}
    defaults = [er for er in results if er.entry.default]
    default_group = defaults[0].group() if defaults else None
    display, data, plot_rows = [], [], []
    reference = math.nan
    for er in results:
        e = er.entry
        group = groups[e.row]
        cells, stats = _seed_cells(group, defn.metrics, level)
        ptext, pv = paper_value(defn.name, e.row, scale)
        row = {"ablation": e.axis, "setting": e.value + (" (default)" if e.default else ""),
               "seeds": len(er.records) if er.records else _status_cell(er)}
        row.update({m: cells.get(m, "—") for m in defn.metrics})
        dcol = f"Δ {metric0} vs default (paired)"
        row[dcol] = "—"
        if group is not None and default_group is not None and not e.default and e.axis != "reference":
            d = paired_differences(default_group, group, (metric0,), level).iloc[0]
            row[dcol] = difference_cell(d)
        row[f"paper ({pv.metric})"] = ptext
        display.append(row)
        for s in stats:
            data.append({"definition": defn.name, "scale": scale, "row": e.row, "axis": e.axis, "value": e.value,
                         "default": e.default, **s,
                         "seeds_used": ",".join(str(r["attrs"]["config"]["seed"]) for r in er.records),
                         "status": er.status or ("" if er.records else "not run"),
                         "paper_value": pv.paper_value if s["metric"] == pv.metric else None,
                         "paper_source": pv.source if s["metric"] == pv.metric else ""})
            if s["metric"] == metric0:
                if e.axis == "reference":
                    reference = s["mean"]
                elif group is not None:
                    plot_rows.append({"axis": e.axis, "value": e.value, "mean": s["mean"], "ci_lo": s["ci_lo"],
                                      "ci_hi": s["ci_hi"], "default": e.default})
    for ceiling in _ceiling_cells(results):
        display.append({"ablation": "noise ceiling of the GT", "setting": ceiling[0], "seeds": ceiling[1],
                        metric0: ceiling[2]})
    frame = pd.DataFrame(display).fillna("—")
    pre = _preamble(defn, scale, level, results)
    paths = write_tables(out_dir / defn.name, frame, pd.DataFrame(data),
                         caption=f"{defn.title} ({scale} scale): mean ± std over seeds "
                                 f"[{level * 100:g}% t; hb] (seeds; pool size)", preamble=pre)
    if plot_rows:
        paths += ablation_panels(pd.DataFrame(plot_rows), out_dir / f"{defn.name}_ablations", metric=metric0,
                                 reference=reference)
    return pre + "\n\n" + to_markdown(frame), paths


def render_g1(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    """T2's table (each row against the M=50 default, paired), then one row per growing
    round: what was labelled (mean GT percentile of the added cells among all cells, and
    the best) and the pool's Kendall tau at that moment, mean ± sd over seeds."""
    from lmreg.paper_figures.aggregate import to_markdown
    text, paths = render_t2(defn, scale, results, out_dir, level)
    rows = []
    for er in results:
        tables = [r["tables"]["grow"] for r in er.records if "grow" in r["tables"]]
        if not tables:
            continue
        frame = pd.concat(tables)
        for rnd, g in frame.groupby("round"):
            def ms(col):
                v = g[col].to_numpy(float)
                return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"
            tau = g["pool_kendall_tau"].to_numpy(float)
            rows.append({"setting": er.entry.row, "round": int(rnd), "after epoch": int(g["epoch"].iloc[0]),
                         "seeds": len(g), "landmarks after": int(g["landmarks"].iloc[0]),
                         "added: mean GT percentile": ms("added_percentile_mean"),
                         "added: best GT percentile": ms("added_percentile_best"),
                         "pool kendall_tau at the round": f"{tau.mean():.3f}"
                                                          + (f" ± {tau.std(ddof=1):.3f}" if len(tau) > 1 else "")})
    if rows:
        frame = pd.DataFrame(rows)
        paths += write_tables(out_dir / f"{defn.name}_rounds", frame, frame,
                              caption=f"{defn.title}: each growing round ({scale} scale)")
        text += "\n\nGrowing rounds (GT percentiles among all cells of the table; mean ± sd over seeds):\n\n" + \
            to_markdown(frame)
    return text, paths


def _figure_groups(results: list[EntryResult]) -> list[EntryResult]:
    return [er for er in results if er.records]


def render_f1(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    from lmreg.paper_figures.plots import rank_scatter_panels

    found = _figure_groups(results)
    if not found:
        raise KeyError(f"{defn.name} ({scale}): no run records found; run `lmreg reproduce {defn.name}` first")
    panels = []
    for er in found:
        rec = min(er.records, key=lambda r: r["attrs"]["config"]["seed"])
        seed = rec["attrs"]["config"]["seed"]
        variant = "landmark-regularised" if er.entry.use_landmarks else "baseline (SPOS)"
        panels.append((f"{er.entry.space} {variant}, seed {seed}", rec))
    paths = rank_scatter_panels(panels, out_dir / defn.name, ncols=2)
    text = (f"# {defn.name}: {defn.title} ({scale} scale)\n\nOne panel per variant, the lowest seed of each; "
            "stars are the landmarks (excluded from the pool's Kendall tau).\n" + "\n".join(_notes(results)))
    return text, paths


def render_f2(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    from lmreg.paper_figures.plots import metric_over_epochs

    found = _figure_groups(results)
    if not found:
        raise KeyError(f"{defn.name} ({scale}): no run records found; run `lmreg reproduce {defn.name}` first")
    groups = [(("landmark-regularised" if er.entry.use_landmarks else "baseline (SPOS)")
               + (f", {er.entry.space}" if len({x.entry.space for x in found}) > 1 else ""), er.records)
              for er in found]
    from lmreg.paper_figures.noise import ceiling_of_runs
    c = ceiling_of_runs([r for er in found for r in er.records])
    paths = metric_over_epochs(groups, out_dir / defn.name, metric="kendall_tau",
                               ceiling=c["ceiling"] if c else None)
    text = (f"# {defn.name}: {defn.title} ({scale} scale)\n\nMean over seeds, band min-max over seeds; the dashed "
            "line is the end of the super-net warm-up (landmark loss switched on).\n" + "\n".join(_notes(results)))
    return text, paths


def render_b1(defn: Definition, scale: str, results: list[EntryResult], out_dir: Path, level: float):
    from lmreg.paper_figures.b1 import render_b1 as render
    return render(defn, scale, results, out_dir, level)


def _spos_nb201(scale: str) -> tuple[GridEntry, ...]:
    """T1's SPOS rows on NB201, baseline and landmarks: the runs of `lmreg demo` at micro scale
    (its 3 seeds; T1 itself has 5 there)."""
    return tuple(e if scale != "micro" else dataclasses.replace(e, seeds=MICRO_SEEDS)
                 for e in _t1_grid(scale) if e.space == "NB201" and e.algorithm == "SPOS")


def _b1_grid(scale: str) -> tuple[GridEntry, ...]:
    """SPOS without and with landmarks on NB201 and, at micro scale, on NB101 (the micro-nb101
    preset, the same seeds); NB101 has no paper-scale preset."""
    entries = _spos_nb201(scale)
    if scale == "micro":
        entries += tuple(GridEntry(f"SPOS / NB101 / {v}", "micro-nb101",
                                   ("use_landmarks=false",) if v == "baseline" else (), MICRO_SEEDS, space="NB101")
                         for v in ("baseline", "landmarks"))
    return entries


# Registry ------------------------------------------------------------------------------
_T1_COVERAGE = ("T1's micro grid has NB201 rows (five algorithms) and NB101 rows (SPOS, NAO); its DARTS rows "
                "wait for a micro DARTS ground truth. The paper grid also has DARTS-NDS rows (SPOS, GDAS, "
                "PC-DARTS, NAO) against the NDS DARTS table. search_gt_percentile: the GT "
                "percentile, among all cells of the ground truth, of the architecture each run returns as its "
                "search result (attrs.search_result).")
T1_METRICS = RANKING_METRICS + ("search_gt_percentile",)

DEFINITIONS: Registry[Definition] = Registry("table or figure", "tables and figures")
for _defn in (
    Definition(
        "T1", "Ranking quality with and without landmarks", "table",
        "Kendall tau, sparse Kendall tau, Spearman rho, P@10 and the search result's GT percentile of "
        "super-nets trained with and without landmark regularisation, per algorithm and search space, "
        "with the paired difference.",
        {s: _t1_grid(s) for s in SCALES}, render_t1, metrics=T1_METRICS, notes=(_T1_COVERAGE,)),
    Definition(
        "T2", "Ablations of the landmark regulariser", "table",
        "One setting changed at a time from the official defaults (M=50, max_coef 10, cosine_increase, "
        "hinge, random landmarks): number of landmarks, coefficient, schedule, loss form, landmark sampling; "
        "SPOS without landmarks as the reference.",
        {s: _t2_grid(s) for s in SCALES}, render_t2),
    Definition(
        "F1", "Super-net rank against ground-truth rank, landmarks marked", "figure",
        "Scatter of super-net rank against stand-alone (GT) rank for the pool and the landmarks, one "
        "panel per variant (baseline and landmark-regularised SPOS on NB201).",
        {s: _spos_nb201(s) for s in SCALES}, render_f1),
    Definition(
        "F2", "Kendall tau over training epochs, warm-up boundary marked", "figure",
        "Pool Kendall tau at every evaluation during super-net training, mean and min-max over seeds, "
        "baseline and landmark-regularised SPOS on NB201; the end of the warm-up is marked.",
        {s: _spos_nb201(s) for s in SCALES}, render_f2),
    Definition(
        "B1", "Every ranker on the same pools", "table",
        "SPOS super-nets with and without landmarks, every training-free ranker and the predictors trained "
        "only on the landmarks, each scored on the same evaluation pool per seed against the same GT: Kendall "
        "tau, sparse Kendall tau, Spearman rho, P@10 and the GT percentile of the search outcome, GT labels "
        "used and compute, with the GT's noise ceiling; and a figure of Kendall tau per ranker. One block "
        "per search space (NB201; at micro scale also NB101), each against its own benchmark's GT.",
        {s: _b1_grid(s) for s in SCALES}, render_b1),
    Definition(
        "G1", "Iterative landmark growing against the same label budget at random", "table",
        f"Landmark-regularised SPOS whose landmarks grow by {GROW_K} labels after each of {GROW_ROUNDS} rounds "
        "(the super-net's best-scored candidates outside landmarks and pool, or random ones), against M=50 "
        f"without growing and M={50 + GROW_ROUNDS * GROW_K} from the start (the paper's Fig. 2 right; not in "
        "the official code).",
        {s: _g1_grid(s) for s in SCALES}, render_g1),
    Definition(
        "B2", "Ranking quality from labels alone on the real NB201 ground truth", "table",
        "Landmark predictors (MLP, GCN; mse and pairwise) trained on M = 10..200 landmarks drawn as the "
        "super-net runs draw them, parameters and FLOPs of the C=16, N=5 networks and any score files, on "
        "pools of 200 over 10 seeds against the real NB201 CIFAR-10 GT (nb201-real-cifar10-valid), with "
        "intervals and the noise ceiling; the same landmarks and predictions scored against CIFAR-100 and "
        "ImageNet16-120 (transfer); a figure of Kendall tau against M. Needs no GPU and no download "
        "(experiments/b2.py).",
        {s: () for s in SCALES}, lambda defn, scale, results, out_dir, level: _render_b2(out_dir, level)),
):
    DEFINITIONS.register(_defn.name, _defn)


def _render_b2(out_dir: Path, level: float):
    from lmreg.paper_figures.b2 import SCORE_NAME, render_b2
    return render_b2(Path(out_dir) / "B2" / SCORE_NAME, out_dir, level)


def get_definition(name: str) -> Definition:
    return DEFINITIONS.get(name)
