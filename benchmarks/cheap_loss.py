"""Ranking gain of a cheaper landmark loss against the exact one, on the same seeds:
for each metric, exact - off, cheap - off and cheap - exact, paired over the seeds all
three arms share, with Student-t and hierarchical-bootstrap intervals (seeds and pool
architectures resampled), and the share of the exact gain that the cheap loss keeps
(bootstrap over seeds).

    python benchmarks/cheap_loss.py --off RUNS --exact RUNS --cheap RUNS [--metrics ...]
    python benchmarks/cheap_loss.py --off RUNS --exact RUNS --table kendall_tau \
        --cheap "LABEL:RUNS[:SEEDS]" --cheap ...

RUNS: run folders, folders of run folders or record.h5 files (comma-separated), each
arm one configuration (the landmarks off; the exact loss; the cheap option), e.g. the
gate preset with `--set use_landmarks=false`, as is, and `--set landmarks.every=5`.
With --table, one markdown row per cheap option for one metric: its gain over the
landmarks off, the share of the exact gain it keeps and its difference from the exact
loss, each on the seeds all three arms share (SEEDS, e.g. 0-7 or 1,3, narrows them).
"""

from __future__ import annotations

import argparse

import numpy as np

from lmreg.paper_figures.aggregate import RANKING_METRICS, Group, group_records, paired_differences
from lmreg.results.records import find_records, read_record


def arm(spec: str, name: str):
    paths = find_records(spec.split(","))
    if not paths:
        raise SystemExit(f"--{name}: no run records under {spec}")
    groups = group_records([read_record(p) for p in paths])
    if len(groups) != 1:
        raise SystemExit(f"--{name}: the runs form {len(groups)} configurations ({', '.join(g.label for g in groups)}); "
                         "give one")
    return groups[0]


def kept_share(off, exact, cheap, metric: str, draws: int, seed: int = 0) -> tuple[float, float, float]:
    """(cheap gain / exact gain, its 95 % bootstrap interval over seeds)."""
    def values(group):
        return {r["attrs"]["config"]["seed"]: float(r["attrs"]["final_metrics"][metric]) for r in group.records}
    o, e, c = values(off), values(exact), values(cheap)
    seeds = sorted(set(o) & set(e) & set(c))
    o, e, c = (np.array([d[s] for s in seeds]) for d in (o, e, c))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(seeds), (draws, len(seeds)))
    gains_e, gains_c = (e - o)[idx].mean(1), (c - o)[idx].mean(1)
    ok = np.abs(gains_e) > 1e-12
    share = gains_c[ok] / gains_e[ok]
    return float((c - o).mean() / (e - o).mean()), float(np.quantile(share, 0.025)), float(np.quantile(share, 0.975))


def seed_list(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def seed_text(seeds: list[int]) -> str:
    """0-7 for a contiguous range, else the list."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def option(spec: str):
    """(label, group, seeds or None) of a --cheap LABEL:RUNS[:SEEDS] in table mode."""
    label, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise SystemExit(f"--cheap {spec!r}: with --table give LABEL:RUNS[:SEEDS]")
    runs, _, seeds = rest.partition(":")
    return label, arm(runs, "cheap"), seed_list(seeds) if seeds else None


def only(group, seeds):
    return Group(group.label, group.config, [r for r in group.records if r["attrs"]["config"]["seed"] in seeds])


def interval(row, prefix: str) -> str:
    return f"{row[prefix]:+.3f} [{row[prefix + '_lo']:+.3f}, {row[prefix + '_hi']:+.3f}; {row['hb_lo']:+.3f}, {row['hb_hi']:+.3f}]"


def option_table(off, exact, options, metric: str, draws: int) -> list[str]:
    """Markdown rows: the exact loss, then each option, on the seeds shared with off and exact."""
    lines = [f"| landmark loss | seeds | {metric} gain over no landmarks [t; hb] | exact gain kept [95 %] | "
             "minus exact [t; hb] |", "|---|---|---|---|---|"]
    base = sorted(set(off.seeds) & set(exact.seeds))
    gain = paired_differences(only(off, base), only(exact, base), [metric], n_boot=draws).iloc[0]
    lines.append(f"| exact | {seed_text(base)} | {interval(gain, 'diff')} | 100 % | |")
    for label, cheap, wanted in options:
        seeds = sorted(set(base) & set(cheap.seeds) & set(wanted if wanted is not None else cheap.seeds))
        if len(seeds) < 2:
            raise SystemExit(f"--cheap {label}: {len(seeds)} seed(s) shared with --off and --exact; need 2")
        o, e, c = (only(g, seeds) for g in (off, exact, cheap))
        gain = paired_differences(o, c, [metric], n_boot=draws).iloc[0]
        minus = paired_differences(e, c, [metric], n_boot=draws).iloc[0]
        share, lo, hi = kept_share(o, e, c, metric, draws)
        lines.append(f"| {label} | {seed_text(seeds)} | {interval(gain, 'diff')} | {100 * share:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}] | "
                     f"{interval(minus, 'diff')} |")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--off", required=True)
    ap.add_argument("--exact", required=True)
    ap.add_argument("--cheap", required=True, action="append",
                    help="RUNS; with --table LABEL:RUNS[:SEEDS], repeatable")
    ap.add_argument("--table", metavar="METRIC", help="one row per --cheap option for this metric")
    ap.add_argument("--metrics", default=",".join(RANKING_METRICS[:3]))
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args(argv)
    off, exact = arm(args.off, "off"), arm(args.exact, "exact")
    if args.table:
        print("\n".join(option_table(off, exact, [option(c) for c in args.cheap], args.table, args.draws)))
        return
    if len(args.cheap) > 1:
        raise SystemExit("--cheap: give one arm, or several with --table")
    cheap = arm(args.cheap[0], "cheap")
    metrics = args.metrics.split(",")
    seeds = sorted(set(off.seeds) & set(exact.seeds) & set(cheap.seeds))
    print(f"off: {off.label}\nexact: {exact.label}\ncheap: {cheap.label}\nseeds shared by all three: {seeds}\n")
    print("| metric | comparison | mean difference | paired t 95 % | hierarchical bootstrap 95 % | n |")
    print("|---|---|---|---|---|---|")
    for name, base, other in (("exact - off", off, exact), ("cheap - off", off, cheap), ("cheap - exact", exact, cheap)):
        table = paired_differences(base, other, metrics, n_boot=args.draws)
        for _, row in table.iterrows():
            print(f"| {row['metric']} | {name} | {row['diff']:+.3f} | [{row['diff_lo']:+.3f}, {row['diff_hi']:+.3f}] | "
                  f"[{row['hb_lo']:+.3f}, {row['hb_hi']:+.3f}] | {row['n']} |")
    print()
    for m in metrics:
        share, lo, hi = kept_share(off, exact, cheap, m, args.draws)
        print(f"{m}: the cheap loss keeps {share:.0%} of the exact gain (95 % bootstrap over seeds {lo:.0%} to {hi:.0%})")


if __name__ == "__main__":
    main()
