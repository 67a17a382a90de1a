"""Regression gate on ranking quality: new runs against a stored baseline.

The rule, per variant (config) and metric (all four metrics: higher is better):
let x_1..x_n be the new runs' final values over seeds and b_1..b_m the baseline's
per-seed values. D = mean(x) - mean(b), and U is the one-sided upper confidence bound
of the true difference at confidence `level` from the pooled two-sample Student-t:

    U = D + t_{level, n + m - 2} * s_p * sqrt(1/n + 1/m)

with s_p the pooled standard deviation of the two samples (the same config run again,
so one variance is assumed). The metric FAILS when

    U < -tolerance

i.e. when the new runs are worse than the baseline by more than `tolerance` (absolute,
in the metric's units) even at the optimistic end of the interval. The t quantile makes
the bound honest at 2-3 seeds: it widens as seeds get fewer instead of shrinking to the
spread of the few values, as a percentile bootstrap does; and the baseline's own seed
noise counts too. It works with one new seed when the baseline has two (n + m - 2 >= 1);
with one seed on each side there is no spread estimate and U = D (a note says so).
Bit-identical reruns (zero spread) give U = D. A NaN among the new values fails.
Runs whose config matches no baseline variant are not compared.

Baseline file (JSON, format lmreg-baseline/1): the metrics, the rule's parameters at
creation, the git commit, and per variant the config identity (preset name, overrides
relative to that preset, the resolved config without the seed), the seeds, per-seed
metric values, the runs' git commits and machines, and the digest of the ground truth
they were scored against: new runs scored against another table are refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from typing import Callable

from lmreg.paper_figures.aggregate import RANKING_METRICS, group_records
from lmreg.results.identity import setting
from lmreg.paper_figures.stats import pooled_t_upper_diff
from lmreg.results.records import RecordError

FORMAT = "lmreg-baseline/1"
NOT_RECORDED = "not recorded"
GATED_METRICS = RANKING_METRICS            # higher is better for each
DEFAULT_TOLERANCE = 0.05
DEFAULT_LEVEL = 0.95
RULE_TEXT = ("fail when the one-sided pooled two-sample Student-t upper bound (level) of new mean - baseline mean "
             "< -tolerance")


class BaselineError(RecordError):
    pass


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def identity(flat_config: dict) -> dict:
    """The setting of a (flattened) config: what the gate matches variants by. The search
    after training (`search.*`) is left out: the gated metrics are the pool's, which it
    cannot change."""
    return {k: v for k, v in setting(flat_config).items() if not k.startswith("search.")}


def make_baseline(records: list[dict], metrics=GATED_METRICS, tolerance: float = DEFAULT_TOLERANCE,
                  level: float = DEFAULT_LEVEL,
                  describe: Callable[[dict], tuple[str | None, list[str]]] | None = None) -> dict:
    """``describe(flat_config)`` names the preset a variant comes from and its overrides
    (the experiments layer knows the presets); without it they are left empty."""
    if not records:
        raise BaselineError("no run records given for the baseline")
    _check_metrics(metrics)
    variants = {}
    for g in group_records(records):
        preset, overrides = describe(g.config) if describe else (None, [])
        variants[g.label] = {
            "preset": preset, "overrides": overrides, "config": g.config, "seeds": g.seeds,
            "values": {m: [None if not math.isfinite(v) else float(v) for v in g.values(m)] for m in metrics},
            "spread": {m: _spread(g.values(m)) for m in metrics},
            "git_commits": sorted({r["attrs"].get("git_commit", "unknown") for r in g.records}),
            "machines": sorted({_machine(r) for r in g.records}),
            "ground_truth": _ground_truths(g.records),
            "paths": [r.get("path", "") for r in g.records],
        }
    return {"format": FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": _git_commit(), "metrics": list(metrics),
            "rule": {"tolerance": tolerance, "level": level, "text": RULE_TEXT},
            "variants": variants}


def _ground_truths(records: list[dict]) -> list[str]:
    """The digests of the ground-truth tables the runs were scored against
    (`results.identity.ground_truth_digest`; "not recorded" for older records)."""
    return sorted({r["attrs"].get("ground_truth", {}).get("digest", NOT_RECORDED) for r in records})


def _check_same_ground_truth(label: str, variant: dict, group) -> str | None:
    """Raises when the new runs were scored against another ground truth than the
    baseline (a rebuilt table moves every metric: the comparison would be meaningless);
    a note when either side predates the digest."""
    base, new = variant.get("ground_truth", [NOT_RECORDED]), _ground_truths(group.records)
    if NOT_RECORDED in base or NOT_RECORDED in new:
        return (f"{label}: the ground truth's digest is not recorded on the "
                f"{'baseline' if NOT_RECORDED in base else 'new runs'}' side; cannot check both were scored "
                "against the same table")
    if set(base) != set(new):
        raise BaselineError(f"new runs {group.label} were scored against ground truth {', '.join(new)} but "
                            f"baseline variant {label} against {', '.join(base)}: the table has changed; "
                            "remeasure the baseline on it (lmreg regress --write-baseline)")
    return None


def _spread(values) -> dict:
    """The baseline as a distribution: mean, seed-to-seed standard deviation and n of the
    finite per-seed values (what the gate's pooled t uses), stored for readers."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return {"n": int(len(v)), "mean": float(v.mean()) if len(v) else None,
            "sd": float(v.std(ddof=1)) if len(v) > 1 else None}


def _machine(record: dict) -> str:
    """Where a run was measured: torch, CPU kernel level, threads, device (what makes
    float paths, and so trajectories, differ between machines)."""
    v = record["attrs"].get("versions", {})
    device = record["attrs"].get("config", {}).get("device", "?")
    gpu = v.get("cuda_device") if str(device).startswith("cuda") else ""
    return (f"torch {v.get('torch', '?')}, cpu {v.get('cpu_capability', 'not recorded')}, "
            f"{v.get('threads', '?')} thread(s), device {device}{f' ({gpu})' if gpu else ''}")


def write_baseline(path: str | Path, records: list[dict], force: bool = False, note: str = "", **kw) -> dict:
    """``note``: free text kept in the file, e.g. how the tolerance was sized."""
    from lmreg.core.fileio import ensure_dir, write_text
    path = Path(path)
    if path.exists() and not force:
        raise BaselineError(f"{path} exists; pass --force to replace it")
    data = make_baseline(records, **kw)
    if note:
        data["note"] = note
    ensure_dir(path.parent)
    write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
    return data


def read_baseline(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"{path}: no such baseline file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BaselineError(f"{path}: not a JSON baseline ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f"{path}: not an lmreg baseline (expected format {FORMAT!r})")
    try:
        for label, v in data["variants"].items():
            for m, vals in v["values"].items():
                if len(vals) != len(v["seeds"]):
                    raise BaselineError(f"{path}: variant {label} metric {m}: {len(vals)} values "
                                        f"for {len(v['seeds'])} seeds")
            v["config"]
        tol = data.get("rule", {}).get("tolerance", DEFAULT_TOLERANCE)
        for t in (tol.values() if isinstance(tol, dict) else [tol]):
            if not isinstance(t, (int, float)) or not t >= 0:
                raise BaselineError(f"{path}: rule.tolerance must be a number >= 0 or one per metric, got {tol!r}")
    except (KeyError, TypeError, AttributeError) as e:
        raise BaselineError(f"{path}: malformed baseline ({type(e).__name__}: {e})") from None
    return data


def _check_metrics(metrics) -> None:
    bad = [m for m in metrics if m not in GATED_METRICS]
    if bad:
        raise BaselineError(f"cannot gate on {', '.join(bad)}; gated metrics (higher is better): "
                            f"{', '.join(GATED_METRICS)}")


def upper_bound(new, base, level: float = DEFAULT_LEVEL) -> tuple[float, float, int]:
    """(D, U, dof): the new-minus-baseline mean difference and its one-sided pooled Student-t
    upper bound at confidence `level`; with one value on each side (no spread estimate)
    U = D and dof = 0."""
    new, base = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    if len(new) + len(base) < 3:
        diff = float(new.mean() - base.mean())
        return diff, diff, 0
    return pooled_t_upper_diff(new, base, level)


@dataclass
class GateResult:
    variant: str
    metric: str
    n: int
    new_mean: float
    upper: float          # upper bound of new mean - baseline mean
    base_mean: float
    tolerance: float
    passed: bool
    note: str = ""
    n_base: int = 0
    dof: int = 0

    def line(self, level: float) -> str:
        pct = f"{level * 100:g}%"
        head = f"{'ok  ' if self.passed else 'FAIL'} {self.variant} {self.metric}:"
        if self.note and not math.isfinite(self.upper):
            return f"{head} {self.note}"
        cmp = ">=" if self.passed else "<"
        bound = (f"{pct} upper bound {self.upper:+.4f} (pooled t, {self.dof} dof)" if self.dof
                 else f"no spread estimate (one seed each), bound = difference {self.upper:+.4f}")
        return (f"{head} new mean {self.new_mean:.4f} ({self.n} seed(s)) - baseline mean {self.base_mean:.4f} "
                f"({self.n_base} seed(s)) = {self.new_mean - self.base_mean:+.4f}; {bound} {cmp} "
                f"-tolerance -{self.tolerance:g}")


def _config_diff(a: dict, b: dict) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def gate(baseline: dict, records: list[dict], tolerance: float | dict | None = None,
         level: float = DEFAULT_LEVEL, metrics=None, against: str | None = None) -> tuple[list[GateResult], list[str]]:
    """(results, notes). tolerance: one number or {metric: number} (missing metrics: default);
    None takes the baseline's own (``rule.tolerance``, sized when the baseline was made).
    ``against`` names one baseline variant that every group of new runs is compared with,
    whatever its config (a note lists the differences): how a change expressed as a config
    override, e.g. a deliberately broken setting, is put through the gate."""
    if not 0 < level < 1:
        raise BaselineError(f"level must be strictly between 0 and 1, got {level}")
    metrics = list(metrics or baseline["metrics"])
    _check_metrics(metrics)
    if tolerance is None:
        tolerance = baseline.get("rule", {}).get("tolerance", DEFAULT_TOLERANCE)
    tol = tolerance if isinstance(tolerance, dict) else {}
    default_tol = tolerance if not isinstance(tolerance, dict) else DEFAULT_TOLERANCE
    if not records:
        raise BaselineError("no run records to compare")
    groups = group_records(records)
    results, notes, matched = [], [], set()
    if against is not None and against not in baseline["variants"]:
        raise BaselineError(f"--against {against!r}: the baseline has no such variant; it has "
                            f"{', '.join(baseline['variants'])}")
    pairs = []  # (baseline variant label, variant, group of new runs) to compare
    if against is not None:
        v = baseline["variants"][against]
        for g in groups:
            diff = _config_diff(identity(v["config"]), identity(g.config))
            if diff:
                notes.append(f"new runs {g.label} compared with {against} although their configs differ in "
                             f"{'; '.join(diff[:6])}{' ...' if len(diff) > 6 else ''}")
            pairs.append((against, v, g))
    else:
        for label, v in baseline["variants"].items():
            hits = [g for g in groups if identity(g.config) == identity(v["config"])]
            if hits:
                pairs.append((label, v, hits[0]))
            else:
                notes.append(f"baseline variant {label}: no new runs with its config; not compared")
    for label, v, g in pairs:
        matched.add(id(g))
        note = _check_same_ground_truth(label, v, g)
        if note:
            notes.append(note)
        for m in metrics:
            if m not in v["values"]:
                raise BaselineError(f"baseline variant {label} has no values for {m}")
            base = np.array([math.nan if x is None else x for x in v["values"][m]], dtype=float)
            base = base[np.isfinite(base)]
            t = float(tol.get(m, default_tol))
            new = g.values(m)
            if len(base) == 0:
                notes.append(f"{label} {m}: the baseline has no finite value; not compared")
                continue
            bmean = float(base.mean())
            if not np.all(np.isfinite(new)):
                results.append(GateResult(g.label, m, len(new), math.nan, math.nan, bmean, t, False,
                                          f"NaN among the new per-seed values {list(new)}"))
                continue
            _, ub, dof = upper_bound(new, base, level)
            results.append(GateResult(g.label, m, len(new), float(new.mean()), ub, bmean, t,
                                      passed=not ub < -t, n_base=len(base), dof=dof))
    for g in groups:
        if id(g) not in matched:
            near = min(baseline["variants"].items(),
                       key=lambda kv: len(_config_diff(identity(kv[1]["config"]), identity(g.config))))
            diff = _config_diff(identity(near[1]["config"]), identity(g.config))
            notes.append(f"new runs {g.label}: no baseline variant has their config (closest {near[0]} differs in "
                         f"{'; '.join(diff[:4])}{' ...' if len(diff) > 4 else ''}); not compared")
    if not results:
        raise BaselineError("no new run matches a baseline variant's config: " + " | ".join(notes))
    return results, notes


def parse_tolerance(items: list[str]) -> float | dict:
    """['0.05'] -> 0.05; ['0.05', 'p_at_10=0.1'] -> {'*': 0.05, 'p_at_10': 0.1} style dict."""
    if not items:
        return DEFAULT_TOLERANCE
    default, per = DEFAULT_TOLERANCE, {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise BaselineError(f"tolerance must be a number or METRIC=number, got {item!r}") from None
        if number < 0 or not math.isfinite(number):
            raise BaselineError(f"tolerance must be a finite number >= 0, got {item!r}")
        if sep:
            _check_metrics([key])
            per[key] = number
        else:
            default = number
    if not per:
        return default
    return {m: per.get(m, default) for m in GATED_METRICS}
