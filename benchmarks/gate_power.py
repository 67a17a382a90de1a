"""False-alarm and detection rates of the `lmreg regress` gate, estimated by
resampling finished runs instead of training new ones.

Given runs of one landmarks/baseline pair with many seeds (e.g. 10 each), every
draw takes two disjoint sets of k seeds: one plays the stored baseline, the other
the fresh runs a user gates. The gate's own rule (paper_figures.regress.upper_bound:
pooled Student-t upper bound of new - baseline below -tolerance fails a metric)
decides each draw. Cases:

  unchanged       both sets from the landmarks arm: every failure is a false alarm
  landmarks off   fresh runs from the baseline arm, gated against the landmarks arm
  drop D          both from the landmarks arm, the fresh runs' metrics lowered by D

The seed distribution is that of the given runs (their machine, GT and preset),
so the rates hold for that setting only; they say how many seeds a gate needs.

    python benchmarks/gate_power.py RUNS_DIR [--k 3] [--draws 2000] [--drop 0.1] [--tolerance 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import numpy as np  # noqa: E402

from lmreg.paper_figures.aggregate import RANKING_METRICS  # noqa: E402
from lmreg.paper_figures.metrics import all_metrics  # noqa: E402
from lmreg.paper_figures.regress import DEFAULT_LEVEL, DEFAULT_TOLERANCE, upper_bound  # noqa: E402
from lmreg.paper_figures.report import load_records  # noqa: E402


def per_seed_values(records: list[dict]) -> dict[bool, dict[int, dict[str, float]]]:
    """arm -> seed -> metric, recomputed from the stored pools (one metric definition for all)."""
    out: dict[bool, dict[int, dict[str, float]]] = {False: {}, True: {}}
    for r in records:
        pool = r["tables"]["pool"]
        cfg = r["attrs"]["config"]
        out[bool(cfg["use_landmarks"])][int(cfg["seed"])] = all_metrics(pool["score_acc"].to_numpy(),
                                                                         pool["gt"].to_numpy())
    return out


def gate_fails(new: dict[str, np.ndarray], base: dict[str, np.ndarray], tolerance: float, level: float):
    """Per metric: does the gate fail? (the rule of `lmreg regress`)"""
    return {m: upper_bound(new[m], base[m], level)[1] < -tolerance for m in RANKING_METRICS}


def rates(values, k: int, draws: int, tolerance: float, level: float, drop: float, seed: int = 0) -> dict:
    lm, base_arm = values[True], values[False]
    seeds = sorted(set(lm) & set(base_arm))
    if len(seeds) < 2 * k:
        raise SystemExit(f"need at least {2 * k} seeds in both arms for two disjoint sets of {k}, "
                         f"got {len(seeds)}")
    rng = np.random.default_rng(seed)
    counts = {case: {m: 0 for m in (*RANKING_METRICS, "any")} for case in ("unchanged", "landmarks off", "drop")}

    def take(arm, chosen, shift=0.0):
        return {m: np.array([arm[s][m] for s in chosen]) - shift for m in RANKING_METRICS}

    for _ in range(draws):
        perm = rng.permutation(seeds)
        old, fresh = perm[:k], perm[k:2 * k]
        cases = {"unchanged": take(lm, fresh), "landmarks off": take(base_arm, fresh),
                 "drop": take(lm, fresh, drop)}
        reference = take(lm, old)
        for case, new in cases.items():
            fails = gate_fails(new, reference, tolerance, level)
            for m, failed in fails.items():
                counts[case][m] += failed
            counts[case]["any"] += any(fails.values())
    return {case: {m: c / draws for m, c in per.items()} for case, per in counts.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of one landmarks/baseline pair with many seeds")
    ap.add_argument("--k", type=int, default=3, help="seeds per side (default 3: the demo's)")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--drop", type=float, default=0.1, help="size of the synthetic regression (default 0.1)")
    ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    ap.add_argument("--level", type=float, default=DEFAULT_LEVEL)
    args = ap.parse_args(argv)
    values = per_seed_values(load_records(args.runs))
    n = min(len(values[True]), len(values[False]))
    mean_gap = np.mean([values[True][s]["kendall_tau"] - values[False][s]["kendall_tau"]
                        for s in set(values[True]) & set(values[False])])
    result = rates(values, args.k, args.draws, args.tolerance, args.level, args.drop)
    print(f"# gate power: {n} seeds per arm, {args.k} seeds per side, {args.draws} draws, tolerance "
          f"{args.tolerance}, level {args.level}; landmarks - baseline kendall_tau on these runs {mean_gap:+.3f}")
    cols = (*RANKING_METRICS, "any")
    print(f"{'case':24s} " + " ".join(f"{c:>18s}" for c in cols))
    labels = {"unchanged": "unchanged (false alarm)", "landmarks off": "landmarks off (detect)",
              "drop": f"drop {args.drop:g} (detect)"}
    for case, per in result.items():
        print(f"{labels[case]:24s} " + " ".join(f"{per[c]:18.3f}" for c in cols))
    print(f"SUMMARY gate_power k={args.k}: false alarm {result['unchanged']['any']:.3f} (any metric), "
          f"detection landmarks-off {result['landmarks off']['any']:.3f}, drop {args.drop:g} "
          f"{result['drop']['any']:.3f}")


if __name__ == "__main__":
    main()
