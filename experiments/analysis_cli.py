"""The analysis verbs of `lmreg`: reproduce, report, regress, score."""

from __future__ import annotations

import argparse
import math
import sys

from lmreg.experiments.config import ConfigError, positive_int

GATE_RULE = ("For each config variant and metric (kendall_tau, sparse_kendall_tau, spearman_rho, p_at_10; "
             "higher is better): D = mean of the new runs' per-seed final values - mean of the baseline's; "
             "U = one-sided upper bound of D at confidence LEVEL from the pooled two-sample Student-t "
             "(n_new + n_base - 2 degrees of freedom). The metric FAILS when U < -TOLERANCE, or when a new "
             "value is NaN. TOLERANCE and the gated metrics are the baseline's unless given. Exit 1 with one FAIL "
             "line per failing metric on stderr; exit 0 when all pass.")


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"level must be a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"level must be strictly between 0 and 1, got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite, positive number of seconds, got {text!r}")
    return value


def _metrics(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def cmd_reproduce(args) -> int:
    from lmreg.experiments.reproduce import reproduce
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    from lmreg.experiments.cluster import options_from_args
    cluster = options_from_args(args)
    if args.out:
        from lmreg.core.fileio import check_dir_path
        check_dir_path(args.out)  # a dry run refuses a file in the way, as the real run would
    if args.export_summaries or args.render_only:
        return _render_or_export(args)
    if args.summaries:
        raise ConfigError("--summaries applies with --render-only (render from summaries instead of records)")
    print(reproduce(args.name, scale=args.scale, out_dir=args.out, workers=args.workers, dry_run=args.dry_run,
                    seconds_per_epoch=args.seconds_per_epoch, level=args.level, progress=not args.no_progress,
                    cluster=cluster, score_files=args.scores))
    return 0


def _render_or_export(args) -> int:
    """--export-summaries DIR: the summaries of the finished runs in --out; --render-only: the table from
    the records in --out, or from the summaries in --summaries DIR (written into --out). Neither runs anything."""
    from lmreg.experiments.reproduce import export_summaries, render, render_summaries
    clash = [f for f, on in (("--dry-run", args.dry_run), ("--scores", args.scores),
                             ("--render-only", args.render_only and args.export_summaries),
                             ("--summaries", args.summaries and args.export_summaries)) if on]
    if clash:
        mode = "--export-summaries" if args.export_summaries else "--render-only"
        raise ConfigError(f"{', '.join(clash)} does not apply with {mode}")
    out = args.out or f"runs/reproduce-{args.scale}"
    if args.export_summaries:
        print(export_summaries(args.name, args.scale, out, args.export_summaries))
        return 0
    if args.summaries:
        text, paths = render_summaries(args.name, args.scale, args.summaries, out, args.level)
    else:
        text, paths = render(args.name, args.scale, out, args.level)
    print(text + "\n\nwritten: " + ", ".join(str(p) for p in paths))
    return 0


def cmd_report(args) -> int:
    from lmreg.paper_figures.aggregate import RANKING_METRICS
    from lmreg.paper_figures.metrics import METRICS
    from lmreg.paper_figures.report import report
    metrics = args.metrics or list(RANKING_METRICS)
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"unknown metric(s) {', '.join(bad)}; valid names: {', '.join(METRICS)}")
    if bool(args.runs) == bool(args.summaries):
        raise ConfigError("give run folders or --summaries DIR, not " + ("both" if args.runs else "neither"))
    if args.export_summaries:  # of the run records given
        from lmreg.paper_figures.report import load_records
        from lmreg.paper_figures.summaries import write_set
        paths = write_set(args.export_summaries, load_records(args.runs))
        print(f"{len(paths) - 1} run summaries written to {args.export_summaries}")
        return 0
    text, paths = report(args.runs, args.out, metrics=metrics, level=args.level, figures=not args.no_figures,
                         summaries=args.summaries)
    print(text)
    if paths:
        print("\nwritten: " + ", ".join(map(str, paths)))
    return 0


def cmd_regress(args) -> int:
    from lmreg.paper_figures.regress import (DEFAULT_TOLERANCE, gate, parse_tolerance, read_baseline,
                                             write_baseline)
    from lmreg.paper_figures.report import load_records
    mode, unused = ("--write-baseline", ("against",)) if args.write_baseline else ("--baseline", ("force", "note"))
    given = [f"--{name}" for name in unused if getattr(args, name)]
    if given:
        raise ConfigError(f"{', '.join(given)} does not apply with {mode}")
    records = load_records(args.runs)
    tolerance = parse_tolerance(args.tolerance) if args.tolerance else None  # None: the baseline's own
    if args.write_baseline:
        kw = {"metrics": args.metrics} if args.metrics else {}
        from lmreg.experiments.runconfig import describe_setting
        data = write_baseline(args.write_baseline, records, force=args.force, level=args.level, note=args.note,
                              describe=describe_setting,
                              tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                              **kw)
        for label, v in data["variants"].items():
            print(f"{label}: seeds {v['seeds']}, preset {v['preset']}, overrides {v['overrides'] or 'none'}")
        print(f"wrote {args.write_baseline} ({len(data['variants'])} variant(s), {len(records)} run(s), "
              f"commit {data['git_commit'][:12]})")
        return 0
    baseline = read_baseline(args.baseline)
    results, notes = gate(baseline, records, tolerance=tolerance, level=args.level, metrics=args.metrics,
                          against=args.against)
    for note in notes:
        print(f"note: {note}")
    for r in results:
        if r.passed:
            print(r.line(args.level))
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(r.line(args.level), file=sys.stderr)
    print(f"{len(results) - len(failed)}/{len(results)} metric(s) pass against {args.baseline} "
          f"(baseline commit {baseline.get('git_commit', 'unknown')[:12]})")
    return 1 if failed else 0


def _seed_list(text: str) -> list[int]:
    """'0-9' or '0,1,5': distinct non-negative seeds."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(x) for x in text.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct integers >= 0 as '0-9' or '0,1,2', got {text!r}")
    return seeds


def cmd_score(args) -> int:
    from pathlib import Path
    from lmreg.experiments.score_file import configs_for, evaluate_file, render
    configs = configs_for(args.benchmark, args.seeds, args.preset, args.set)
    records = evaluate_file(args.file, configs, label=args.label)
    out = Path(args.out) if args.out else Path("runs") / f"score-{Path(args.file).stem}"
    result = render(records, out, level=args.level)
    print(result["preamble"])
    print()
    from lmreg.paper_figures.aggregate import to_markdown
    print(to_markdown(result["display"].T.reset_index().rename(columns={"index": "metric", 0: "value"})))
    print("\nwritten: " + ", ".join(map(str, result["files"])))
    return 0


def add_parsers(sub) -> None:
    from lmreg.paper_figures.definitions import DEFINITIONS, SCALES

    names = "; ".join(f"{d.name}: {d.title}" for d in DEFINITIONS.values())
    q = sub.add_parser("reproduce", help="run a paper table's or figure's grid and render it",
                       description=f"Run the grid of one definition ({names}) with run_many (finished runs "
                                   "skipped, interrupted ones resumed), then write its tables (Markdown, CSV, "
                                   "LaTeX) or figures (PNG, PDF) into --out. Paper columns show 'n/a' unless a "
                                   "value was copied from the paper. B1 also scores each seed's pool with every "
                                   "training-free ranker and landmark predictor (records in --out/B1-rankers, "
                                   "finished ones skipped).")
    q.add_argument("name", help=f"one of {', '.join(DEFINITIONS)}")
    q.add_argument("--scale", choices=SCALES, default="micro",
                   help="micro: the micro preset on a CPU; paper: the nb201-cifar10 preset (GPU)")
    q.add_argument("--out", default=None, help="folder for runs and outputs (default runs/reproduce-SCALE; "
                                               "--out runs/demo reuses the demo's runs for T1/F1/F2 at micro scale)")
    q.add_argument("--dry-run", action="store_true", help="list the runs and an estimate of their cost; run nothing")
    q.add_argument("--workers", type=positive_int, default=2, help="runs in parallel (one torch thread each)")
    q.add_argument("--seconds-per-epoch", type=_positive, default=None,
                   help="seconds of one plain super-net epoch on your device, for the dry-run estimate "
                        "(without it, GPU configs have no estimate)")
    q.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--scores", action="append", default=[], metavar="FILE",
                   help="B2: also evaluate this score file (CSV/JSON, as `lmreg score` reads it); repeatable")
    q.add_argument("--render-only", action="store_true",
                   help="render the table from the finished runs in --out (or from --summaries); run nothing")
    q.add_argument("--summaries", metavar="DIR", default=None,
                   help="with --render-only: render from the run summaries in DIR (e.g. results/summaries/T1-micro) "
                        "instead of records; the outputs go to --out")
    q.add_argument("--export-summaries", metavar="DIR", default=None,
                   help="write the compact summaries of the finished runs in --out (and B1's ranker records) into "
                        "DIR (one JSON per record and a checksummed manifest, deterministic bytes); run nothing")
    from lmreg.experiments.cluster import add_cluster_args
    add_cluster_args(q)
    q.set_defaults(func=cmd_reproduce)

    q = sub.add_parser("report", help="any runs as a table grouped by config, with seed statistics and figures",
                       description="Group runs by config (name, landmarks or baseline, and any config key that "
                                   "differs), aggregate over seeds (mean, std, Student-t and hierarchical "
                                   "bootstrap intervals), print a Markdown table; with --out also write CSV/LaTeX "
                                   "tables and the F1 (rank scatter) and F2 (tau over epochs) figures.")
    q.add_argument("runs", nargs="*", help="run folders, folders of run folders, or record.h5 files")
    q.add_argument("--summaries", metavar="DIR", default=None,
                   help="report the runs of a summary set (`lmreg reproduce NAME --export-summaries DIR`) "
                        "instead of records")
    q.add_argument("--export-summaries", metavar="DIR", default=None,
                   help="write the compact summaries of the given runs into DIR (for --summaries); report nothing")
    q.add_argument("--out", default=None, help="folder for report.md/.csv/.tex and the figures")
    q.add_argument("--metrics", type=_metrics, default=None, help="comma-separated (default: the four ranking metrics)")
    q.add_argument("--level", type=_level, default=0.95)
    q.add_argument("--no-figures", action="store_true")
    q.set_defaults(func=cmd_report)

    q = sub.add_parser("regress", help="gate: compare new runs' ranking quality with a stored baseline",
                       description="Regression gate. " + GATE_RULE + " --write-baseline FILE stores the given "
                                   "runs as a baseline instead (JSON: config identity, seeds, per-seed values, "
                                   "git commit).")
    mode = q.add_mutually_exclusive_group(required=True)
    mode.add_argument("--baseline", help="baseline JSON to compare against (e.g. results/baselines/micro.json)")
    mode.add_argument("--write-baseline", metavar="FILE", help="write the runs as a new baseline JSON")
    q.add_argument("runs", nargs="+", help="run folders, folders of run folders, or record.h5 files")
    q.add_argument("--tolerance", action="append", default=[], metavar="T|METRIC=T",
                   help="absolute drop allowed below the baseline mean (default: the baseline's own, sized "
                        "from its measured spread; 0.05 when writing one); repeat as METRIC=T for one metric")
    q.add_argument("--level", type=_level, default=0.95, help="confidence of the one-sided upper bound (default 0.95)")
    q.add_argument("--metrics", type=_metrics, default=None, help="comma-separated subset to gate on")
    q.add_argument("--against", metavar="VARIANT", default=None,
                   help="compare every group of runs with this baseline variant (e.g. gate-landmarks) even "
                        "when their configs differ: how a change written as a config override is gated")
    q.add_argument("--force", action="store_true", help="with --write-baseline: replace an existing file")
    q.add_argument("--note", default="", help="with --write-baseline: a note kept in the file (e.g. how the "
                                               "tolerance was sized)")
    q.set_defaults(func=cmd_regress)

    q = sub.add_parser("score", help="evaluate any ranker's per-architecture scores from a file",
                       description="Evaluate a score file (CSV with columns arch,score or JSON {arch: score}; "
                                   "architectures as official strings or the space's keys; higher = better) "
                                   "exactly as super-net runs are evaluated: the same landmark and pool draws "
                                   "per seed, every ranking metric with Student-t and hierarchical-bootstrap "
                                   "intervals, the GT's noise ceiling, a search on the scores, and the "
                                   "rank-scatter figure. Refused in one line: unparseable or duplicate "
                                   "architectures, non-finite scores, a pool the file does not cover.")
    q.add_argument("file", help="score file (.csv or .json)")
    q.add_argument("--benchmark", required=True, help="ground truth, e.g. nb201-real-cifar10-valid")
    q.add_argument("--seeds", type=_seed_list, default=list(range(10)), help="run seeds (default 0-9)")
    q.add_argument("--preset", default=None, help="run config whose draws are used (default: the space's paper "
                                                  "preset: nb201-cifar10, m=50, pools of 200)")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. landmarks.m=30 or eval.pool_size=100")
    q.add_argument("--label", default=None, help="row name (default: the file's stem)")
    q.add_argument("--out", default=None, help="folder for summary.md/.csv/.tex and rank_scatter.png "
                                               "(default runs/score-STEM)")
    q.add_argument("--level", type=_level, default=0.95)
    q.set_defaults(func=cmd_score)
