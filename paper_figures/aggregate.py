"""Runs grouped by configuration and aggregated over seeds, with uncertainty;
tables as Markdown, CSV and LaTeX.

A *group* is every run whose resolved config is the same except for the seed.
Its label names the config (``name``, landmarks or baseline) plus any config key
that differs between the groups being compared, so a table says what changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paper_figures.stats import bootstrap_ci, mean_std, paired_bootstrap_diff

RANKING_METRICS = ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10")
IGNORED_KEYS = ("seed",)  # what varies inside a group


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested config dict -> {"train.epochs": 16, ...}."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def variant(use_landmarks: bool) -> str:
    return "landmarks" if use_landmarks else "baseline"


@dataclass
class Group:
    """Runs of one config over seeds."""

    label: str
    config: dict                      # flattened, without the seed
    records: list[dict] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [r["attrs"]["config"]["seed"] for r in self.records]

    @property
    def use_landmarks(self) -> bool:
        return bool(self.config["use_landmarks"])

    def values(self, metric: str) -> np.ndarray:
        """Final value of a metric per seed (record order)."""
        return np.array([float(r["attrs"]["final_metrics"].get(metric, math.nan)) for r in self.records])


def _identity(config: dict) -> tuple:
    flat = flatten(config)
    return tuple(sorted((k, repr(v)) for k, v in flat.items() if k not in IGNORED_KEYS))


def differing_keys(records: list[dict]) -> list[str]:
    """Config keys (other than the seed) whose values differ between records."""
    flats = [flatten(r["attrs"]["config"]) for r in records]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if k not in IGNORED_KEYS
            and len({repr(f.get(k)) for f in flats}) > 1]


def group_records(records: list[dict]) -> list[Group]:
    """Records grouped by config (all keys but the seed), sorted by label; seeds sorted
    inside a group. A seed twice in one group is an error (the same run counted twice)."""
    from results.records import RecordError

    diff = [k for k in differing_keys(records) if k not in ("name", "use_landmarks")]
    groups: dict[tuple, Group] = {}
    for rec in records:
        cfg = rec["attrs"]["config"]
        flat = {k: v for k, v in flatten(cfg).items() if k not in IGNORED_KEYS}
        key = _identity(cfg)
        if key not in groups:
            extra = ", ".join(f"{k}={flat.get(k)}" for k in diff)
            label = f"{cfg['name']}-{variant(cfg['use_landmarks'])}" + (f" ({extra})" if extra else "")
            groups[key] = Group(label, flat)
        groups[key].records.append(rec)
    for g in groups.values():
        g.records.sort(key=lambda r: r["attrs"]["config"]["seed"])
        seen = g.seeds
        if len(set(seen)) != len(seen):
            dup = sorted({s for s in seen if seen.count(s) > 1})
            paths = [r.get("path", "?") for r in g.records if r["attrs"]["config"]["seed"] in dup]
            raise RecordError(f"seed(s) {dup} appear twice in group {g.label}: {', '.join(paths)}")
    return sorted(groups.values(), key=lambda g: (g.config.get("name", ""), g.label))


# Seed statistics ----------------------------------------------------------------
def summarize(values, level: float = 0.95, n_boot: int = 10000) -> dict:
    """mean, std (ddof 1), percentile-bootstrap CI of the mean and n over finite values."""
    vals = np.asarray(values, dtype=float)
    finite = vals[np.isfinite(vals)]
    out = {"n": int(len(finite)), "n_nan": int(len(vals) - len(finite)), "mean": math.nan, "std": math.nan,
           "ci_lo": math.nan, "ci_hi": math.nan}
    if len(finite):
        out["mean"], out["std"] = mean_std(finite)
        if len(finite) >= 2:
            out["ci_lo"], out["ci_hi"] = bootstrap_ci(finite, level=level, n_boot=n_boot)
    return out


def aggregate(groups: list[Group], metrics=RANKING_METRICS, level: float = 0.95) -> pd.DataFrame:
    """Long table: one row per (group, metric)."""
    rows = []
    for g in groups:
        for m in metrics:
            rows.append({"group": g.label, "name": g.config.get("name"), "use_landmarks": g.use_landmarks,
                         "metric": m, "seeds": ",".join(map(str, g.seeds)), **summarize(g.values(m), level)})
    return pd.DataFrame(rows)


def paired_differences(base: Group, other: Group, metrics=RANKING_METRICS, level: float = 0.95) -> pd.DataFrame:
    """other minus base over the seeds both have, with a paired bootstrap interval."""
    b = {r["attrs"]["config"]["seed"]: r for r in base.records}
    o = {r["attrs"]["config"]["seed"]: r for r in other.records}
    seeds = sorted(set(b) & set(o))
    rows = []
    for m in metrics:
        x = np.array([float(b[s]["attrs"]["final_metrics"].get(m, math.nan)) for s in seeds])
        y = np.array([float(o[s]["attrs"]["final_metrics"].get(m, math.nan)) for s in seeds])
        ok = np.isfinite(x) & np.isfinite(y)
        row = {"metric": m, "n": int(ok.sum()), "diff": math.nan, "diff_lo": math.nan, "diff_hi": math.nan}
        if ok.sum() >= 1:
            row["diff"], lo, hi = paired_bootstrap_diff(x[ok], y[ok], level=level)
            if ok.sum() >= 2:
                row["diff_lo"], row["diff_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def landmark_pairs(groups: list[Group]) -> list[tuple[Group, Group]]:
    """(baseline, landmarks) groups whose configs differ only in use_landmarks and
    the landmark settings (which a baseline run does not use)."""
    def key(g: Group):
        return tuple(sorted((k, repr(v)) for k, v in g.config.items()
                            if k != "use_landmarks" and not k.startswith("landmarks.")))
    bases = {key(g): g for g in groups if not g.use_landmarks}
    return [(bases[key(g)], g) for g in groups if g.use_landmarks and key(g) in bases]


# Cells and tables ----------------------------------------------------------------
def cell(mean: float, std: float, lo: float, hi: float, n: int, digits: int = 3) -> str:
    """'0.512 ± 0.031 [0.480, 0.540]'; no interval for a single seed; 'n/a' without values."""
    if n == 0 or not math.isfinite(mean):
        return "n/a"
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    if n >= 2 and math.isfinite(lo):
        text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return text


def diff_cell(diff: float, lo: float, hi: float, n: int, digits: int = 3) -> str:
    if n == 0 or not math.isfinite(diff):
        return "n/a"
    text = f"{diff:+.{digits}f}"
    if n >= 2 and math.isfinite(lo):
        text += f" [{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return text


def to_markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$").replace("−", "$-$")


def to_latex(frame: pd.DataFrame, caption: str = "", label: str = "") -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    cols = list(frame.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
              " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(stem: Path, display: pd.DataFrame, data: pd.DataFrame, caption: str = "",
                 preamble: str = "") -> list[Path]:
    """stem.md (display table, with a preamble), stem.csv (the numbers, long format),
    stem.tex (display table)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    md, csv, tex = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".tex")
    md.write_text((preamble + "\n\n" if preamble else "") + to_markdown(display) + "\n")
    data.to_csv(csv, index=False)
    tex.write_text(to_latex(display, caption=caption, label=f"tab:{stem.name}"))
    return [md, csv, tex]


def group_table(groups: list[Group], metrics=RANKING_METRICS, level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, data): one display row per group, cells 'mean ± std [CI]'; data is long."""
    data = aggregate(groups, metrics, level)
    rows = []
    for g in groups:
        row = {"config": g.label, "seeds": len(g.records)}
        for m in metrics:
            s = data[(data.group == g.label) & (data.metric == m)].iloc[0]
            row[m] = cell(s["mean"], s["std"], s.ci_lo, s.ci_hi, s.n)
        rows.append(row)
    return pd.DataFrame(rows), data
