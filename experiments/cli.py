"""The `lmreg` command: thin wiring from arguments to the modules that do the work."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from bench.datasets.readers import DataFileError
from bench.gt_table import GTFileError
from experiments.config import ConfigError, positive_int
from results.records import RecordError
from spaces.nb201 import ArchError

USER_ERRORS = (ArchError, DataFileError, GTFileError, ConfigError, RecordError, KeyError, FileNotFoundError)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}")
    return seeds


# bench ----------------------------------------------------------------------
def cmd_bench_list(args) -> int:
    from bench.registry import BENCHMARKS
    for name, bench in sorted(BENCHMARKS.items()):
        path = bench.path()
        state = "present" if path.exists() else "absent"
        print(f"{name:28s} {state:8s} {path}\n{'':28s} {bench.about}")
    return 0


def cmd_bench_convert(args) -> int:
    if args.kind == "nb201":
        from bench.nb201_official import convert_nb201
        summary = convert_nb201(args.path, args.out)
        print(f"wrote {summary['out']} ({summary['layout']} layout, {summary['archs_with_results']} "
              f"architectures, {summary['seconds']} s)")
        for key, g in summary["groups"].items():
            print(f"  {key}: {g['archs']} architectures, seeds {g['seeds']}, {g['epochs']} epochs, "
                  f"{g['archs_with_fewer_seeds']} with fewer seeds")
    elif args.kind == "nb101":
        from bench.nb101 import convert_nb101
        print(f"wrote {convert_nb101(args.path, args.out, verify_hashes=args.verify_hashes)}")
    else:
        from bench.analog import convert_analog
        summary = convert_analog(args.out)
        print(f"wrote {summary['out']}: {summary['archs']} cells from analog-nasbench {summary['version']}")
    return 0


def cmd_bench_info(args) -> int:
    from bench import registry
    from scipy.stats import kendalltau
    table = registry.load(args.benchmark)
    acc = table.per_arch("test_acc")
    seeds = table.seed_matrix("test_acc")
    print(f"benchmark   {args.benchmark}  ({registry.resolve(args.benchmark)})")
    print(f"space/task  {table.space} / {table.task}")
    if table.meta.get("identity"):  # built by `lmreg bench build`
        from spaces.nb201_net import OLD_SEMANTICS, SEMANTICS
        network = table.meta["identity"].get("network", OLD_SEMANTICS)
        print(f"networks    {network}" + ("" if network == SEMANTICS else
                                          "  (older than the official semantics: rebuild to compare with new runs)"))
    print(f"rows        {len(table)}  ({len(acc)} architectures, seeds {sorted(set(table.seeds.tolist()))}, "
          f"{table.epochs} epochs){'' if table.meta.get('complete', True) else '  INCOMPLETE build'}")
    print(f"test acc    mean over seeds: min {acc.min():.2f}  median {acc.median():.2f}  max {acc.max():.2f}")
    cols = list(seeds.columns)
    if len(cols) >= 2:
        taus = []
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                pair = seeds[[cols[i], cols[j]]].dropna()
                taus.append(kendalltau(pair.iloc[:, 0], pair.iloc[:, 1]).statistic)
        print(f"seed tau    Kendall tau between seeds (test acc): mean {np.mean(taus):.3f} over "
              f"{len(taus)} seed pair(s)")
        from paper_figures.noise import noise_ceiling
        for metric in [m for m in ("test_acc", "eval_acc") if m in table.curves]:
            c = noise_ceiling(table.seed_matrix(metric))
            print(f"ceiling     {metric}: noise ceiling {c['ceiling']:.3f} [{c['ceiling_lo']:.3f}, "
                  f"{c['ceiling_hi']:.3f}] (Kendall tau a ranker knowing the true accuracies would reach "
                  f"against the {c['k']}-seed mean), split-half tau {c['split_half']:.3f}")
    wall = table.scalars["wall_time"]
    print(f"cost        {wall.sum() / 3600:.2f} h of training, {np.median(wall):.1f} s median per run, "
          f"devices {table.meta.get('devices')}")
    print(f"recipe      {table.recipe}")
    return 0


def cmd_bench_query(args) -> int:
    from bench import registry
    table = registry.load(args.benchmark)
    if args.top:
        best = table.per_arch(args.metric, args.epoch).sort_values(ascending=args.metric.endswith("loss"))
        for arch, value in best.head(args.top).items():
            print(f"{value:8.3f}  {arch}")
        return 0
    if not args.arch:
        raise ConfigError("give an architecture (NB201 string or index, NB101 module hash) or --top K")
    found = registry.query(table, args.arch, args.epoch)
    if found.rows.empty:
        print(f"{found.label} is not in {args.benchmark}", file=sys.stderr)
        return 1
    if found.note:
        print(f"# {found.note}")
    print(found.rows.to_string(index=False))
    print(f"mean test_acc over seeds: {found.rows.test_acc.mean():.3f}")
    return 0


def cmd_bench_build(args) -> int:
    from algorithms.standalone import StandaloneRecipe
    from bench.build import build
    from experiments.config import override
    recipe = override(StandaloneRecipe(), args.set)
    table = build(args.out, task=args.task, recipe=recipe, n_archs=args.archs, seeds=args.seeds,
                  sample_seed=args.sample_seed, workers=args.workers, device=args.device,
                  threads=args.threads, progress=not args.no_progress, reverse=args.reverse,
                  merge=args.merge)
    print(f"wrote {args.out}: {len(table)} rows, complete={table.meta['complete']}")
    return 0


# super-net runs -----------------------------------------------------------------
def cmd_train(args) -> int:
    from experiments.demo import run_many
    from experiments.runconfig import load_config
    from results.records import read_record
    base = load_config(args.preset, args.set)
    seeds = args.seeds or [base.seed]
    configs = [load_config(args.preset, [*args.set, f"seed={s}"]) for s in seeds]
    paths = run_many(configs, Path(args.out), args.workers, progress=not args.no_progress)
    for path in paths:
        m = read_record(path)["attrs"]["final_metrics"]
        print(f"{path}  kendall_tau={m['kendall_tau']:.3f}  sparse={m['sparse_kendall_tau']:.3f}  "
              f"spearman={m['spearman_rho']:.3f}  p@10={m['p_at_10']:.2f}")
    return 0


def cmd_evaluate(args) -> int:
    from experiments.runner import evaluate
    for run_dir in args.runs:
        result = evaluate(run_dir, args.set)
        metrics = "  ".join(f"{k}={v:.3f}" for k, v in result["metrics"].items())
        e = result["eval"]
        print(f"{run_dir}  [bn={e['bn_mode']}, images={e['n_images']}, pool={e['pool_size']}]  {metrics}  "
              f"({result['score_s']:.1f} s)")
    return 0


def cmd_demo(args) -> int:
    from experiments.demo import demo
    out = args.out or ("runs/demo-quick" if args.quick else "runs/demo")
    print(demo(out, seeds=args.seeds, quick=args.quick, workers=args.workers, overrides=args.set,
               progress=not args.no_progress))
    return 0


# data -----------------------------------------------------------------------
def cmd_data_embed(args) -> int:
    from bench.datasets import tasks
    spec = tasks.get_spec(args.task)
    if not spec.embedded:
        owners = [name for name, t in tasks.TASKS.items() if t.embedded]
        raise ConfigError(f"task {args.task!r} has no embedded file; tasks with one: {', '.join(owners)}")
    out = tasks.DATA_DIR / spec.embedded
    digest = tasks.write_embedded(spec, out, args.raw)
    print(f"wrote {out} (sha256 of arrays {digest})")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmreg", description="Landmark-regularised super-net benchmark harness")
    sub = p.add_subparsers(dest="verb", required=True)

    bench = sub.add_parser("bench", help="ground-truth benchmarks").add_subparsers(dest="bench_verb", required=True)
    q = bench.add_parser("list", help="known benchmarks")
    q.set_defaults(func=cmd_bench_list)
    q = bench.add_parser("info", help="summary of a benchmark")
    q.add_argument("benchmark", help="name or path to a .h5 table")
    q.set_defaults(func=cmd_bench_info)
    q = bench.add_parser("query", help="ground truth of one architecture, or the top K")
    q.add_argument("benchmark")
    q.add_argument("arch", nargs="?", help="NB201 string or cell index, NB101 module hash, or omit with --top")
    q.add_argument("--metric", default="test_acc")
    q.add_argument("--epoch", type=int, default=-1, help="epoch index (default: last)")
    q.add_argument("--top", type=int, default=0, help="list the K best architectures instead")
    q.set_defaults(func=cmd_bench_query)
    q = bench.add_parser("convert", help="convert an official benchmark file once into the compact store")
    q.add_argument("kind", choices=("nb201", "nb101", "analog"))
    q.add_argument("path", nargs="?", help="NAS-Bench-201-v1_*.pth or nasbench_only108.tfrecord "
                   "(analog needs none: it reads the installed analog-nasbench package)")
    q.add_argument("--out", default=None, help="store path (default: the benchmark's standard location)")
    q.add_argument("--verify-hashes", action="store_true", help="nb101: recompute every cell hash (slow)")
    q.set_defaults(func=cmd_bench_convert)
    q = bench.add_parser("build", help="train stand-alone networks into a ground-truth table (resumable)")
    q.add_argument("--out", required=True, help="output .h5 (a journal beside it makes the build resumable)")
    q.add_argument("--task", default="micro-fmnist")
    q.add_argument("--archs", type=positive_int, default=400, help="architectures drawn from the unique NB201 cells")
    q.add_argument("--seeds", type=_seeds, default=[0, 1], help="comma-separated training seeds")
    q.add_argument("--sample-seed", type=int, default=0, help="seed of the architecture draw")
    q.add_argument("--workers", type=positive_int, default=2)
    q.add_argument("--threads", type=positive_int, default=1, help="torch threads per worker")
    q.add_argument("--device", default="cpu")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field (e.g. epochs=8)")
    q.add_argument("--reverse", action="store_true",
                   help="train from the end of the plan (a second machine sharing the build)")
    q.add_argument("--merge", action="append", default=[], metavar="JOURNAL",
                   help="add the finished runs of another journal of the same build")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_bench_build)

    q = sub.add_parser("train", help="train super-nets (one run per seed) and score their pools")
    q.add_argument("--preset", default="micro", help="a preset name (experiments/presets) or a .toml path")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. use_landmarks=false or train.epochs=20")
    q.add_argument("--seeds", type=_seeds, default=None, help="comma-separated seeds (default: the preset's)")
    q.add_argument("--out", default="runs", help="folder of run folders")
    q.add_argument("--workers", type=positive_int, default=2)
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_train)

    q = sub.add_parser("evaluate", help="re-score finished runs with other eval.* settings")
    q.add_argument("runs", nargs="+", help="run folders (holding record.h5 and supernet.pt)")
    q.add_argument("--set", action="append", default=[], metavar="eval.KEY=VALUE",
                   help="e.g. eval.bn_mode=recalibrate or eval.n_images=10000")
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("demo", help="the micro reproduction: SPOS with and without landmarks")
    q.add_argument("--quick", action="store_true", help="a smoke run of about a minute (CI)")
    q.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    q.add_argument("--out", default=None, help="folder for runs, table and figures (default runs/demo)")
    q.add_argument("--workers", type=positive_int, default=2)
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_demo)

    from experiments import analysis_cli
    analysis_cli.add_parsers(sub)
    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_verb", required=True)
    q = data.add_parser("embed", help="regenerate a task's embedded uint8 file from the raw dataset")
    q.add_argument("task")
    q.add_argument("--raw", help="raw dataset folder (default: the Debian install location)")
    q.set_defaults(func=cmd_data_embed)
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"lmreg: error: {msg}", file=sys.stderr)
        return 2
    except (RuntimeError, FloatingPointError) as e:  # BuildError, RunError, NaN losses: one line
        print(f"lmreg: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lmreg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
