"""False-alarm and detection rates of the `lmreg regress` gate, estimated by
resampling finished runs instead of training new ones, and the seeds a gate needs.

Given runs of the landmarks arm with many seeds (REFERENCE, e.g. 8-10 seeds), every
draw takes k_base seeds of it to play the stored baseline and k other seeds to play
the fresh runs a user gates; the gate's own rule (paper_figures.regress.upper_bound:
pooled Student-t upper bound of new - baseline below -tolerance fails a metric)
decides each draw. Cases:

  unchanged       fresh runs from the reference too: every failure is a false alarm
  drop D          the same, the fresh runs' metrics lowered by D (synthetic)
  landmarks off   fresh runs from the baseline arm of the same setting, when given
  --regression    fresh runs of any other config (a known regression: lr x10, half the
                  epochs, a broken BN mode, ...), drawn k at a time from its seeds

A regression with few seeds gives few distinct fresh sets, so its resampled rate is
rough; beside it the script prints the rate a normal model predicts from the measured
effect (mean shift) and the pooled seed spread, and the seeds per side a gate needs
for 90 % detection. All of it holds for the runs' setting (machine, GT, preset) only.

    python benchmarks/gate_power.py REFERENCE_RUNS... [--k 3] [--k-base K] [--draws 2000]
        [--drop 0.1] [--tolerance 0.05] [--regression LABEL=RUNS[,RUNS...] ...]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import t as student_t

from lmreg.paper_figures.aggregate import RANKING_METRICS, group_records
from lmreg.paper_figures.metrics import all_metrics
from lmreg.paper_figures.regress import DEFAULT_LEVEL, DEFAULT_TOLERANCE, upper_bound
from lmreg.paper_figures.report import load_records
from lmreg.results.identity import setting_hash

Values = dict  # run ("seed@cpu kernels") -> metric -> value


def per_seed(records: list[dict]) -> Values:
    """run -> metric, recomputed from the stored pools (one metric definition for all). A run
    is named "seed@cpu kernels", so the same seed run on two machines counts twice."""
    out = {}
    for r in records:
        key = f"{int(r['attrs']['config']['seed'])}@{r['attrs'].get('versions', {}).get('cpu_capability', '?')}"
        if key in out:
            raise SystemExit(f"run {key} appears twice in one set of runs: {r.get('path', '')}")
        out[key] = all_metrics(r["tables"]["pool"]["score_acc"].to_numpy(), r["tables"]["pool"]["gt"].to_numpy())
    return out


def per_seed_values(records: list[dict]) -> dict[bool, Values]:
    """arm (use_landmarks) -> run -> metric, for runs of one landmarks/baseline pair."""
    out: dict[bool, Values] = {False: {}, True: {}}
    for arm in (False, True):
        out[arm] = per_seed([r for r in records if bool(r["attrs"]["config"]["use_landmarks"]) == arm])
    return out


def same_setting(records: list[dict]) -> list[dict]:
    """Refuse a reference that mixes settings (other than the landmarks switch)."""
    settings = {setting_hash(r["attrs"]["config"], without=("use_landmarks",)) for r in records}
    if len(settings) > 1:
        raise SystemExit(f"the reference runs hold {len(settings)} settings, not one (landmarks on and off aside)")
    return records


def gate_fails(new: dict[str, np.ndarray], base: dict[str, np.ndarray], tolerance: float, level: float,
               metrics=RANKING_METRICS):
    """Per metric: does the gate fail? (the rule of `lmreg regress`)"""
    return {m: upper_bound(new[m], base[m], level)[1] < -tolerance for m in metrics}


def _take(values: Values, chosen, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {m: np.array([values[s][m] for s in chosen]) - shift for m in RANKING_METRICS}


def rates(values: dict[bool, Values], k: int, draws: int, tolerance: float, level: float, drop: float,
          seed: int = 0, k_base: int | None = None, regressions: dict[str, Values] | None = None,
          metrics=RANKING_METRICS) -> dict:
    """case -> metric (and "any": any of `metrics`, the gated ones) -> share of draws in which
    the gate fails."""
    k_base = k_base or k
    lm, base_arm = values[True], values.get(False, {})
    seeds = sorted(lm)
    if len(seeds) < k + k_base:
        raise SystemExit(f"need at least {k + k_base} seeds in the reference for disjoint sets of {k_base} "
                         f"(baseline) and {k} (fresh), got {len(seeds)}")
    others = {"landmarks off": base_arm} if len(base_arm) >= k else {}
    for label, vals in (regressions or {}).items():
        if len(vals) < k:
            raise SystemExit(f"regression {label}: {len(vals)} seed(s), fewer than k={k}")
        others[label] = vals
    rng = np.random.default_rng(seed)
    cases = ["unchanged", "drop", *others]
    counts = {case: {m: 0 for m in (*RANKING_METRICS, "any")} for case in cases}
    for _ in range(draws):
        perm = rng.permutation(seeds)
        old, fresh = perm[:k_base], perm[k_base:k_base + k]
        reference = _take(lm, old)
        new = {"unchanged": _take(lm, fresh), "drop": _take(lm, fresh, drop)}
        for label, vals in others.items():  # a config of its own: any k of its seeds, independent of `old`
            new[label] = _take(vals, rng.choice(sorted(vals), size=k, replace=False))
        for case, fresh_values in new.items():
            fails = gate_fails(fresh_values, reference, tolerance, level)
            for m, failed in fails.items():
                counts[case][m] += failed
            counts[case]["any"] += any(fails[m] for m in metrics)
    return {case: {m: c / draws for m, c in per.items()} for case, per in counts.items()}


def model_rate(delta: float, sigma: float, k: int, k_base: int, tolerance: float, level: float,
               draws: int = 20000, seed: int = 0) -> float:
    """Share of gate failures on one metric when fresh runs ~ N(mu + delta, sigma) and the
    baseline's ~ N(mu, sigma): the rule of `upper_bound` (pooled Student-t) applied to
    simulated normal samples, all draws at once."""
    rng = np.random.default_rng(seed)
    new = rng.normal(delta, sigma, (draws, k))
    base = rng.normal(0.0, sigma, (draws, k_base))
    dof = k + k_base - 2
    squares = ((new - new.mean(1, keepdims=True)) ** 2).sum(1) + ((base - base.mean(1, keepdims=True)) ** 2).sum(1)
    upper = (new.mean(1) - base.mean(1)
             + student_t.ppf(level, dof) * np.sqrt(squares / dof) * np.sqrt(1 / k + 1 / k_base))
    return float(np.mean(upper < -tolerance))


def seeds_needed(delta: float, sigma: float, tolerance: float, level: float, target: float = 0.9,
                 k_base: int | None = None, k_max: int = 40, draws: int = 20000) -> int | None:
    """Smallest k (fresh seeds; baseline seeds k_base, or k when None) whose model detection
    rate of a shift `delta` (< 0) reaches `target`; None when k_max is not enough."""
    for k in range(2, k_max + 1):
        if model_rate(delta, sigma, k, k_base or k, tolerance, level, draws) >= target:
            return k
    return None


def pooled_sd(*groups) -> float:
    """Pooled seed standard deviation of several groups of per-seed values."""
    ss = sum(((np.asarray(g) - np.mean(g)) ** 2).sum() for g in groups if len(g) > 1)
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    return float(np.sqrt(ss / dof))


def _k(need) -> str:
    return need if isinstance(need, str) else (str(need) if need is not None else ">40")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of the reference setting (its landmarks arm, and "
                                            "optionally its baseline arm) with many seeds")
    ap.add_argument("--k", type=int, default=3, help="fresh seeds per gate run (default 3: the demo's)")
    ap.add_argument("--k-base", type=int, default=None, help="seeds in the stored baseline (default: --k)")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--drop", type=float, default=0.1, help="size of the synthetic regression (default 0.1)")
    ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    ap.add_argument("--level", type=float, default=DEFAULT_LEVEL)
    ap.add_argument("--metrics", default=None, help="comma-separated metrics the gate checks (default: all four); "
                                                    "'any' in the output means any of these")
    ap.add_argument("--regression", action="append", default=[], metavar="LABEL=RUNS[,RUNS...]",
                    help="runs of a known regression (one config, any seeds; run folders or a folder of "
                         "them, comma-separated); repeatable")
    args = ap.parse_args(argv)
    k_base = args.k_base or args.k
    values = per_seed_values(same_setting(load_records(args.runs)))
    regressions = {}
    for item in args.regression:
        label, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--regression wants LABEL=RUNS, got {item!r}")
        groups = group_records(load_records(path.split(",")))
        if len(groups) != 1:
            raise SystemExit(f"--regression {label}: {path} holds {len(groups)} configs, not one")
        regressions[label] = per_seed(groups[0].records)
    metrics = args.metrics.split(",") if args.metrics else list(RANKING_METRICS)
    bad = [m for m in metrics if m not in RANKING_METRICS]
    if bad:
        raise SystemExit(f"--metrics: unknown {', '.join(bad)}; gated metrics: {', '.join(RANKING_METRICS)}")
    result = rates(values, args.k, args.draws, args.tolerance, args.level, args.drop, k_base=k_base,
                   regressions=regressions, metrics=metrics)
    lm = values[True]
    tau = [v["kendall_tau"] for v in lm.values()]
    sd = float(np.std(tau, ddof=1))
    print(f"# gate power: reference {len(lm)} seeds (landmarks arm kendall_tau {np.mean(tau):.3f} +- {sd:.3f}), "
          f"{k_base} baseline seeds, {args.k} fresh seeds, {args.draws} draws, tolerance {args.tolerance}, "
          f"level {args.level}; 'any' = any of {', '.join(metrics)}")
    cols = (*RANKING_METRICS, "any")
    print(f"{'case':28s} " + " ".join(f"{c:>18s}" for c in cols) + f" {'tau shift':>10s} {'model (tau)':>12s}"
          f" {'k for 90%':>10s} {'k=k_base 90%':>14s}")
    others = {"landmarks off": values.get(False, {}), **regressions}
    for case, per in result.items():
        if case == "unchanged":
            label, shift, pool = "unchanged (false alarm)", 0.0, sd
        elif case == "drop":
            label, shift, pool = f"drop {args.drop:g} (detect)", -args.drop, sd
        else:
            other = [v["kendall_tau"] for v in others[case].values()]
            label, shift, pool = f"{case} (detect)", float(np.mean(other) - np.mean(tau)), pooled_sd(tau, other)
        model = model_rate(shift, pool, args.k, k_base, args.tolerance, args.level)
        need = "-" if shift >= 0 else seeds_needed(shift, pool, args.tolerance, args.level, k_base=k_base)
        need_each = "-" if shift >= 0 else seeds_needed(shift, pool, args.tolerance, args.level)
        print(f"{label:28s} " + " ".join(f"{per[c]:18.3f}" for c in cols) + f" {shift:+10.3f} {model:12.3f}"
              f" {_k(need):>10s} {_k(need_each):>14s}")
    print(f"SUMMARY gate_power k={args.k} k_base={k_base}: false alarm {result['unchanged']['any']:.3f} (any metric), "
          + ", ".join(f"detection {c} {result[c]['any']:.3f}" for c in result if c != "unchanged"))


if __name__ == "__main__":
    main()
