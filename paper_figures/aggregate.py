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

from lmreg.results.identity import NOT_SETTING, flatten, setting
from lmreg.paper_figures.stats import hierarchical_bootstrap, hierarchical_bootstrap_diff, mean_std, t_interval

RANKING_METRICS = ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10")
# Per-run values that are not a function of the pool (no hierarchical bootstrap): the GT
# percentile of the run's search result among all cells of the table.
RUN_METRICS = ("search_gt_percentile",)


def variant(use_landmarks: bool) -> str:
    return "landmarks" if use_landmarks else "baseline"


@dataclass
class Group:
    """Runs of one config over seeds."""

    label: str
    config: dict                      # the setting (results.identity): flattened, no seed/device/threads
    records: list[dict] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [r["attrs"]["config"]["seed"] for r in self.records]

    @property
    def use_landmarks(self) -> bool:
        return bool(self.config["use_landmarks"])

    def values(self, metric: str) -> np.ndarray:
        """Final value of a metric per seed (record order), as stored in the records."""
        return np.array([float(r["attrs"]["final_metrics"].get(metric, math.nan)) for r in self.records])

    def pools(self) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """(super-net score, GT) of the evaluation pool per seed (record order); None when a
        record has no pool table."""
        return record_pools(self.records)


def _pool_table(record: dict) -> pd.DataFrame | None:
    pool = record.get("tables", {}).get("pool")
    if pool is None:
        return None
    return pool if isinstance(pool, pd.DataFrame) else pd.DataFrame(list(pool))  # read or in memory


def record_pools(records: list[dict]) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(super-net score, GT) of each record's evaluation pool; None if a record lacks one."""
    out = []
    for r in records:
        pool = _pool_table(r)
        if pool is None or len(pool) < 2 or not {"score_acc", "gt"} <= set(pool.columns):
            return None
        out.append((pool["score_acc"].to_numpy(float), pool["gt"].to_numpy(float)))
    return out


def shared_pool(records: list[dict]) -> bool:
    """Whether every record scored the same architectures in the same order (one pool for all
    seeds, as with a fixed eval.pool_seed): then the hierarchical bootstrap draws one set of
    pool indices per replicate for all seeds."""
    tables = [_pool_table(r) for r in records]
    archs = [tuple(t["arch"]) if t is not None and "arch" in t else None for t in tables]
    return len(archs) > 0 and archs[0] is not None and all(a == archs[0] for a in archs)


def _identity(config: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in setting(config).items()))


def differing_keys(records: list[dict]) -> list[str]:
    """Config keys (other than the seed) whose values differ between records."""
    flats = [flatten(r["attrs"]["config"]) for r in records]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if k not in NOT_SETTING
            and len({repr(f.get(k)) for f in flats}) > 1]


def group_records(records: list[dict]) -> list[Group]:
    """Records grouped by config (all keys but the seed), sorted by label; seeds sorted
    inside a group. A seed twice in one group is an error (the same run counted twice)."""
    from lmreg.results.records import RecordError

    diff = [k for k in differing_keys(records) if k not in ("name", "use_landmarks")]
    groups: dict[tuple, Group] = {}
    for rec in records:
        cfg = rec["attrs"]["config"]
        flat = setting(cfg)
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
        digests = {r["attrs"].get("ground_truth", {}).get("digest") for r in g.records} - {None}
        if len(digests) > 1:  # a rebuilt table between runs: their metrics do not average
            raise RecordError(f"the runs of group {g.label} were scored against {len(digests)} different versions "
                              f"of their ground truth ({', '.join(sorted(digests))}); report them separately")
    return sorted(groups.values(), key=lambda g: (g.config.get("name", ""), g.label))


# Seed statistics ----------------------------------------------------------------
T_METHOD = "Student-t over seeds"
N_BOOT = 2000


def summarize(values, level: float = 0.95) -> dict:
    """n, mean, std (ddof 1) and the Student-t interval of the mean (ci_lo, ci_hi; needs
    n >= 2) over the finite values; n_nan counts the others."""
    vals = np.asarray(values, dtype=float)
    finite = vals[np.isfinite(vals)]
    out = {"n": int(len(finite)), "n_nan": int(len(vals) - len(finite)), "mean": math.nan, "std": math.nan,
           "ci_lo": math.nan, "ci_hi": math.nan, "ci_method": T_METHOD}
    if len(finite):
        out["mean"], out["std"] = mean_std(finite)
        if len(finite) >= 2:
            _, out["ci_lo"], out["ci_hi"] = t_interval(finite, level)
    return out


def _no_hb(pools) -> dict:
    return {"hb_lo": math.nan, "hb_hi": math.nan, "hb_estimate": math.nan, "hb_undefined": 0, "hb_n_boot": 0,
            "pool_size": min(len(p) for p, _ in pools) if pools else 0, "shared_pool": False}


def summarize_group(group: Group, metric: str, level: float = 0.95, n_boot: int = N_BOOT) -> dict:
    """``summarize`` of the group's per-seed values plus the hierarchical bootstrap interval
    (hb_lo, hb_hi; recomputed from the records' pools, hb_estimate the seed-mean so
    recomputed, hb_undefined of hb_n_boot replicates left out as undefined), the smallest
    pool size and whether all seeds share the pool."""
    out = summarize(group.values(metric), level)
    pools = group.pools()
    out.update(_no_hb(pools if metric not in RUN_METRICS else None))
    if pools and out["n"] == len(pools) and out["n"] >= 1 and metric not in RUN_METRICS:
        shared = shared_pool(group.records)
        hb = hierarchical_bootstrap(pools, metric, level, n_boot=n_boot, shared_pool=shared)
        out.update(hb_lo=hb["lo"], hb_hi=hb["hi"], hb_estimate=hb["estimate"], hb_undefined=hb["undefined"],
                   hb_n_boot=hb["n_boot"], pool_size=hb["pool_size"], shared_pool=shared)
    return out


def aggregate(groups: list[Group], metrics=RANKING_METRICS, level: float = 0.95) -> pd.DataFrame:
    """Long table: one row per (group, metric)."""
    rows = []
    for g in groups:
        for m in metrics:
            rows.append({"group": g.label, "name": g.config.get("name"), "use_landmarks": g.use_landmarks,
                         "metric": m, "seeds": ",".join(map(str, g.seeds)), **summarize_group(g, m, level)})
    return pd.DataFrame(rows)


def paired_differences(base: Group, other: Group, metrics=RANKING_METRICS, level: float = 0.95,
                       n_boot: int = N_BOOT) -> pd.DataFrame:
    """other minus base over the seeds both have: the mean difference, its paired Student-t
    interval (diff_lo, diff_hi; n >= 2) and its paired hierarchical bootstrap interval
    (hb_lo, hb_hi: both arms of a seed resampled together, on the same pool indices)."""
    b = {r["attrs"]["config"]["seed"]: r for r in base.records}
    o = {r["attrs"]["config"]["seed"]: r for r in other.records}
    seeds = sorted(set(b) & set(o))
    b_pools, o_pools = record_pools([b[s] for s in seeds]), record_pools([o[s] for s in seeds])
    same_pools = (b_pools is not None and o_pools is not None and len(seeds) > 0
                  and all(np.array_equal(gb, go) for (_, gb), (_, go) in zip(b_pools, o_pools)))
    shared = same_pools and shared_pool([b[s] for s in seeds] + [o[s] for s in seeds])
    rows = []
    for m in metrics:
        x = np.array([float(b[s]["attrs"]["final_metrics"].get(m, math.nan)) for s in seeds])
        y = np.array([float(o[s]["attrs"]["final_metrics"].get(m, math.nan)) for s in seeds])
        ok = np.isfinite(x) & np.isfinite(y)
        row = {"metric": m, "n": int(ok.sum()), "diff": math.nan, "diff_lo": math.nan, "diff_hi": math.nan,
               "ci_method": "paired " + T_METHOD, **_no_hb(b_pools if m not in RUN_METRICS else None)}
        if ok.sum() >= 1:
            row["diff"] = float(np.mean(y[ok] - x[ok]))
            if ok.sum() >= 2:
                _, row["diff_lo"], row["diff_hi"] = t_interval(y[ok] - x[ok], level)
        if same_pools and ok.all() and m not in RUN_METRICS:
            hb = hierarchical_bootstrap_diff(b_pools, o_pools, m, level, n_boot=n_boot, shared_pool=shared)
            row.update(hb_lo=hb["lo"], hb_hi=hb["hi"], hb_estimate=hb["estimate"], hb_undefined=hb["undefined"],
                       hb_n_boot=hb["n_boot"], pool_size=hb["pool_size"], shared_pool=shared)
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
def n_text(n: int, pool_size: int = 0) -> str:
    """'3 seeds; pool 100': the sample behind an interval."""
    text = f"{n} seed{'s' if n != 1 else ''}"
    return text + (f"; pool {pool_size}" if pool_size else "")


def _interval(lo: float, hi: float, digits: int, signed: bool) -> str:
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{fmt.format(lo)}, {fmt.format(hi)}"


def _intervals(lo, hi, hb_lo, hb_hi, digits, signed, hb_undefined: int = 0, n_boot: int = 0) -> str:
    """The bracket of a cell. A t interval whose bounds print alike has (next to) no spread over
    seeds behind it and says so rather than posing as a precise one; a bootstrap names the
    replicates it left out as undefined, or that too many were to give an interval."""
    parts = []
    if math.isfinite(lo) and math.isfinite(hi):
        text = _interval(lo, hi, digits, signed)
        lo_text, hi_text = text.split(", ")
        parts.append("t zero width: no spread over seeds" if lo_text == hi_text else "t " + text)
    undefined = f"{hb_undefined} of {n_boot} replicates undefined" if hb_undefined else ""
    if math.isfinite(hb_lo) and math.isfinite(hb_hi):
        parts.append("hb " + _interval(hb_lo, hb_hi, digits, signed) + (f" ({undefined})" if undefined else ""))
    elif undefined:
        parts.append(f"hb none: {undefined}")
    return f" [{'; '.join(parts)}]" if parts else ""


def cell(mean: float, std: float, lo: float, hi: float, n: int, digits: int = 3, hb_lo: float = math.nan,
         hb_hi: float = math.nan, pool_size: int = 0, with_n: bool = True, hb_undefined: int = 0,
         n_boot: int = 0) -> str:
    """'0.512 ± 0.031 [t 0.480, 0.540; hb 0.470, 0.550] (3 seeds; pool 100)': mean ± std over
    seeds, the Student-t interval (n >= 2), the hierarchical bootstrap interval (when the
    records hold their pools) and the sample size; 'n/a' without values."""
    if n == 0 or not math.isfinite(mean):
        return "n/a"
    text = f"{mean:.{digits}f} ± {std:.{digits}f}" if n >= 2 else f"{mean:.{digits}f}"
    text += _intervals(lo, hi, hb_lo, hb_hi, digits, False, hb_undefined, n_boot)
    return text + (f" ({n_text(n, pool_size)})" if with_n else "")


def diff_cell(diff: float, lo: float, hi: float, n: int, digits: int = 3, hb_lo: float = math.nan,
              hb_hi: float = math.nan, pool_size: int = 0, with_n: bool = True, hb_undefined: int = 0,
              n_boot: int = 0) -> str:
    """'+0.165 [t +0.142, +0.188; hb +0.101, +0.230] (3 seeds; pool 100)'."""
    if n == 0 or not math.isfinite(diff):
        return "n/a"
    text = f"{diff:+.{digits}f}" + _intervals(lo, hi, hb_lo, hb_hi, digits, True, hb_undefined, n_boot)
    return text + (f" ({n_text(n, pool_size)})" if with_n else "")


def summary_cell(s, digits: int = 3) -> str:
    """``cell`` of a ``summarize_group`` row (dict or pandas row)."""
    return cell(s["mean"], s["std"], s["ci_lo"], s["ci_hi"], int(s["n"]), digits, s["hb_lo"], s["hb_hi"],
                int(s["pool_size"]), hb_undefined=_count(s, "hb_undefined"), n_boot=_count(s, "hb_n_boot"))


def _count(row, key: str) -> int:
    """An integer column of a summary row; 0 where a row (e.g. written before it existed) lacks it."""
    value = row.get(key, 0) if hasattr(row, "get") else 0
    return int(value) if value is not None and value == value else 0


def difference_cell(d, digits: int = 3) -> str:
    """``diff_cell`` of a ``paired_differences`` row (dict or pandas row)."""
    return diff_cell(d["diff"], d["diff_lo"], d["diff_hi"], int(d["n"]), digits, d["hb_lo"], d["hb_hi"],
                     int(d["pool_size"]), hb_undefined=_count(d, "hb_undefined"), n_boot=_count(d, "hb_n_boot"))


def interval_legend(level: float) -> str:
    pct = f"{level * 100:g}%"
    return (f"Cells: mean ± std over seeds, then {pct} intervals of the mean: t = Student-t over seeds "
            f"(n - 1 degrees of freedom; needs 2 seeds), hb = hierarchical bootstrap over seeds and the "
            f"architectures of the evaluation pool (metric recomputed on each resampled pool; one pool draw "
            f"for all seeds when they share the pool); in brackets the number of seeds and the pool size. "
            f"Differences are paired over seeds (and over pool architectures for hb).")


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
    """(display, data): one display row per group, cells as ``cell``; data is long."""
    data = aggregate(groups, metrics, level)
    rows = []
    for g in groups:
        row = {"config": g.label, "seeds": len(g.records)}
        for m in metrics:
            row[m] = summary_cell(data[(data.group == g.label) & (data.metric == m)].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows), data


# The demo's comparison -------------------------------------------------------------
def comparison_table(records: list[dict], level: float = 0.95, metrics=RANKING_METRICS) -> tuple[pd.DataFrame, str]:
    """One baseline/landmarks pair of configs over seeds: per metric the mean, std and intervals
    of each variant and of the paired landmarks-minus-baseline difference, with the number
    of seeds and the pool size (as a frame and as Markdown)."""
    pairs = landmark_pairs(group_records(records))
    if len(pairs) != 1:
        raise ValueError(f"expected one baseline/landmarks pair of configs, found {len(pairs)}")
    base, lm = pairs[0]
    diffs = paired_differences(base, lm, metrics, level).set_index("metric")
    rows = []
    for m in metrics:
        b, l, d = summarize_group(base, m, level), summarize_group(lm, m, level), diffs.loc[m]
        row = {"metric": m}
        for arm, s in (("baseline", b), ("landmarks", l)):
            row.update({f"{arm}_{k}": s[k] for k in ("mean", "std", "ci_lo", "ci_hi", "hb_lo", "hb_hi")})
        row.update({"diff": d["diff"], "diff_lo": d["diff_lo"], "diff_hi": d["diff_hi"],
                    "diff_hb_lo": d["hb_lo"], "diff_hb_hi": d["hb_hi"], "diff_hb_undefined": _count(d, "hb_undefined"),
                    "diff_hb_n_boot": _count(d, "hb_n_boot"), "seeds": int(d["n"]),
                    "pool_size": int(d["pool_size"]), "level": level})
        rows.append(row)
    table = pd.DataFrame(rows)
    pct = f"{level * 100:g}%"
    lines = [f"| metric | baseline: mean ± std [{pct} t] | landmarks: mean ± std [{pct} t] | "
             f"difference [{pct} paired t] | difference [{pct} hierarchical bootstrap] | n |",
             "|---|---|---|---|---|---|"]

    def arm(r, a):
        return cell(r[f"{a}_mean"], r[f"{a}_std"], r[f"{a}_ci_lo"], r[f"{a}_ci_hi"], r["seeds"], with_n=False)

    for r in rows:
        t_diff = diff_cell(r["diff"], r["diff_lo"], r["diff_hi"], r["seeds"], with_n=False)
        hb = diff_cell(r["diff"], math.nan, math.nan, r["seeds"], hb_lo=r["diff_hb_lo"], hb_hi=r["diff_hb_hi"],
                       with_n=False, hb_undefined=r["diff_hb_undefined"], n_boot=r["diff_hb_n_boot"])
        lines.append(f"| {r['metric']} | {arm(r, 'baseline')} | {arm(r, 'landmarks')} | {t_diff} | {hb} | "
                     f"{n_text(r['seeds'], r['pool_size'])} |")
    lines.append(f"\nn: seeds per variant (paired by seed) and architectures in the evaluation pool. t: Student-t "
                 f"interval over seeds (widens as seeds get fewer). Hierarchical bootstrap: seeds and pool "
                 f"architectures resampled (both arms of a seed on the same pool draw), metric recomputed.")
    return table, "\n".join(lines)
