"""The `lmreg` command: thin wiring from arguments to the modules that do the work.

Exit codes: 0 success; 1 a run or write failed for a reason the message names
(full disk, NaN loss, a busy run folder); 2 bad input; 70 a bug in lmreg (one
line and where the traceback is; LMREG_DEBUG=1 prints it); 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

from lmreg.bench.tfrecord import TFRecordError
from lmreg.core.errors import BusyError, PluginError, UnknownNameError, UserError, WorkerDied, WriteError
from lmreg.core.plugins import load_plugins
from lmreg.core.workers import Terminated
from lmreg.experiments.config import INT64_MAX, ConfigError, non_negative_int, positive_int
from lmreg.spaces.nb201 import ArchError

# Classes from modules outside the UserError family that still mean "bad input".
USER_ERRORS = (UserError, ArchError, TFRecordError)
EXIT_FAILED, EXIT_USAGE, EXIT_BUG, EXIT_INT, EXIT_TERM = 1, 2, 70, 130, 143


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}")
    if min(seeds) < 0 or max(seeds) > INT64_MAX:
        raise argparse.ArgumentTypeError(f"seeds must be whole numbers in 0..{INT64_MAX}, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seed listed twice in {text!r}: each seed is one run")
    return seeds


@contextlib.contextmanager
def _user_keys():
    """A KeyError from a table look-up with a name the user typed is bad input, not a bug."""
    try:
        yield
    except KeyError as e:
        if isinstance(e, UnknownNameError):
            raise
        raise UnknownNameError(e.args[0] if e.args else str(e)) from None


# bench ----------------------------------------------------------------------
def cmd_bench_list(args) -> int:
    from lmreg.bench.registry import BENCHMARKS
    for name, bench in sorted(BENCHMARKS.items()):
        state, where = bench.state()
        note = " (converted on first use)" if state == "available" else ""
        print(f"{name:28s} {state:9s} {where}{note}\n{'':28s} [{bench.space}] {bench.about}")
    return 0


def cmd_bench_convert(args) -> int:
    if args.kind in ("nb201", "nb101") and not args.path:
        source = "NAS-Bench-201-v1_*.pth" if args.kind == "nb201" else "nasbench_only108.tfrecord"
        raise ConfigError(f"bench convert {args.kind} needs the path of the official file ({source})")
    if args.kind == "nb201":
        from lmreg.bench.nb201_official import convert_nb201
        summary = convert_nb201(args.path, args.out)
        print(f"wrote {summary['out']} ({summary['layout']} layout, {summary['archs_with_results']} "
              f"architectures, {summary['seconds']} s)")
        for key, g in summary["groups"].items():
            print(f"  {key}: {g['archs']} architectures, seeds {g['seeds']}, {g['epochs']} epochs, "
                  f"{g['archs_with_fewer_seeds']} with fewer seeds")
    elif args.kind == "nb101":
        from lmreg.bench.nb101 import convert_nb101
        print(f"wrote {convert_nb101(args.path, args.out, verify_hashes=args.verify_hashes)}")
    else:
        from lmreg.bench.analog import convert_analog
        summary = convert_analog(args.out)
        print(f"wrote {summary['out']}: {summary['archs']} cells from analog-nasbench {summary['version']}")
    return 0


def _seed_tau_metrics(table) -> list[str]:
    """The metrics `bench info` reports seed agreement for: the GT metric, then test and eval accuracy."""
    from lmreg.bench.ground_truth import gt_metric
    return list(dict.fromkeys([gt_metric(table), *(m for m in ("test_acc", "eval_acc") if m in table.metrics)]))


def _seed_figure(table, name: str, path: Path) -> None:
    """The seed-vs-seed scatter of the metrics `bench info` reports a seed tau for."""
    from lmreg.paper_figures.plots import seed_agreement
    matrices = {m: table.seed_matrix(m) for m in _seed_tau_metrics(table)}
    matrices = {m: x for m, x in matrices.items() if x.shape[1] >= 2}
    if not matrices:
        raise ConfigError(f"{name} has one seed per architecture: no seed-vs-seed figure to draw")
    paths = seed_agreement(matrices, path, title=f"{name}: ground truth, seed against seed")
    print(f"figure      {', '.join(map(str, paths))}")


def cmd_bench_info(args) -> int:
    from lmreg.bench import registry
    table = registry.load(args.benchmark)
    from lmreg.bench.ground_truth import gt_metric
    metric = gt_metric(table)
    with _user_keys():
        acc = table.per_arch(metric)
    print(f"benchmark   {args.benchmark}  ({registry.resolve(args.benchmark)})")
    print(f"space/task  {table.space} / {table.task}")
    if table.meta.get("identity"):  # built by `lmreg bench build`
        from lmreg.spaces.base import get_space
        from lmreg.spaces.nb201_net import OLD_SEMANTICS  # tables from before semantics were recorded
        network = table.meta["identity"].get("network", OLD_SEMANTICS)
        print(f"networks    {network}" + ("" if network == get_space(table.space).semantics else
                                          "  (older than the official semantics: rebuild to compare with new runs)"))
    print(f"rows        {len(table)}  ({len(acc)} architectures, seeds {sorted(set(table.seeds.tolist()))}, "
          f"{table.epochs} epochs){'' if table.meta.get('complete', True) else '  INCOMPLETE build'}")
    label = "test acc" if metric == "test_acc" else metric
    if len(acc.dropna()):
        print(f"{label:11s} mean over seeds: min {acc.min():.2f}  median {acc.median():.2f}  max {acc.max():.2f}")
    else:
        print(f"{label:11s} no values")
    from lmreg.paper_figures.noise import noise_ceiling, predicted_agreement, seed_taus
    for metric in _seed_tau_metrics(table):
        matrix = table.seed_matrix(metric)
        taus = seed_taus(matrix)
        if not taus:
            continue
        print(f"seed tau    {metric}: Kendall tau between seeds mean {np.mean(taus):.3f} "
              f"(range {min(taus):.3f} to {max(taus):.3f}, {len(taus)} seed pair(s))")
        try:
            c = noise_ceiling(matrix)
        except ValueError:  # too few complete rows for the noise model
            continue
        more = ", ".join(f"{2 * h} seeds {predicted_agreement(matrix, h, h):.2f}" for h in (2, 3, 4))
        print(f"ceiling     {metric}: noise ceiling {c['ceiling']:.3f} [{c['ceiling_lo']:.3f}, "
              f"{c['ceiling_hi']:.3f}] (Kendall tau a ranker knowing the true accuracies would reach "
              f"against the {c['k']}-seed mean); split-half tau {c['split_half']:.3f}, predicted with "
              f"{more}")
    _print_subset_reliability(table, gt_metric(table))
    if args.figure:
        _seed_figure(table, args.benchmark, Path(args.figure))
    print(f"cost        {_cost_line(np.asarray(table.scalars['wall_time'], dtype=float))}, "
          f"devices {table.meta.get('devices', 'not recorded')}")
    print(f"recipe      {table.recipe}")
    if table.meta.get("identity"):  # built by `lmreg bench build`
        _print_table_warnings(table)
    return 0


def _print_subset_reliability(table, metric: str) -> None:
    """Reliability per cell subset where the subsets differ (NB201 tables with isomorphic
    duplicates or cells stuck at chance): how much those inflate the seed agreement."""
    from lmreg.paper_figures.quality import reliability_by_subset
    subsets = reliability_by_subset(table, metric)
    if len({r["archs"] for r in subsets.values()}) < 2:
        return
    for label, r in subsets.items():
        ceiling = (f"; noise ceiling {r['ceiling']:.3f}, split-half {r['split_half']:.3f} ({r['k']} seeds, "
                   f"{r['n_archs']} complete)") if "ceiling" in r else ""
        print(f"subset      {metric} on {label}: seed tau {r['seed_tau']:.3f} "
              f"({r['seed_tau_min']:.3f} to {r['seed_tau_max']:.3f}){ceiling}")


def _cost_line(wall: np.ndarray) -> str:
    known = wall[np.isfinite(wall)]
    if not len(known):
        return "training time not recorded in this table"
    text = f"{known.sum() / 3600:.2f} h of training, {np.median(known):.1f} s median per run"
    if len(known) < len(wall):
        text += f" ({len(wall) - len(known)} of {len(wall)} runs without a time)"
    return text


def cmd_bench_query(args) -> int:
    from lmreg.bench import registry
    from lmreg.bench.gt_table import GTTable
    if not args.arch and not args.top:
        raise ConfigError("give an architecture (NB201 string or index 0..15624, NB101 cell key or module hash) "
                          "or --top K")
    table = registry.load(args.benchmark)
    if isinstance(table, GTTable) and not -table.epochs <= args.epoch < table.epochs:
        raise ConfigError(f"--epoch {args.epoch} is out of range: {args.benchmark} has {table.epochs} epoch(s), "
                          f"indices 0..{table.epochs - 1} (or -1 for the last)")
    from lmreg.bench.ground_truth import gt_metric
    metric = args.metric or gt_metric(table)
    with _user_keys():
        values = table.per_arch(metric, args.epoch)  # also checks the metric name
    if args.top:
        best = values.dropna().sort_values(ascending=metric.endswith("loss"))
        for name, value in best.head(args.top).items():
            print(f"{value:8.3f}  {name}")
        return 0
    found = registry.query(table, args.arch, args.epoch)
    if found.rows.empty:
        print(f"{found.label} is not in {args.benchmark}", file=sys.stderr)
        return 1
    if found.note:
        print(f"# {found.note}")
    print(found.rows.to_string(index=False))
    print(f"mean {metric} over seeds: {found.rows[metric].mean():.3f}")
    return 0


def cmd_bench_build(args) -> int:
    from lmreg.algorithms.standalone import StandaloneRecipe
    from lmreg.experiments.gt_build import build, check_recipe
    from lmreg.experiments.config import override
    from lmreg.experiments.cluster import options_from_args
    recipe = check_recipe(override(StandaloneRecipe(), args.set))
    table = build(args.out, task=args.task, space=args.space, recipe=recipe, n_archs=args.archs, seeds=args.seeds,
                  sample_seed=args.sample_seed, workers=args.workers, device=args.device,
                  threads=args.threads, progress=not args.no_progress, reverse=args.reverse,
                  merge=args.merge, cluster=options_from_args(args), chunk=args.chunk)
    print(f"wrote {args.out}: {len(table)} rows, complete={table.meta['complete']}")
    _print_table_warnings(table)
    return 0


def _print_table_warnings(table) -> None:
    from lmreg.bench.datasets.tasks import TASKS
    from lmreg.paper_figures.quality import table_warnings
    spec = TASKS[table.task] if table.task in TASKS else None  # None for official benchmarks: no size check
    for line in table_warnings(table, spec.num_classes if spec else 10, spec.n_train if spec else None):
        print(f"lmreg: warning: {line}", file=sys.stderr)


# super-net runs -----------------------------------------------------------------
# A smoke run keeps a preset's data, ground truth, network and algorithm and shrinks the
# rest: 2 epochs (the warm-up ends after the first, so plain and regularised steps run),
# a few steps each, 4 landmarks and a pool of 10 scored on 256 images; the algorithm's
# class adds its own (`smoke_overrides`).
SMOKE_OVERRIDES = ["train.epochs=2", "train.warmup_epochs=1", "landmarks.m=4", "eval.pool_size=10",
                   "eval.every=1", "eval.n_images=256", "search.population=2", "search.tournament=2",
                   "search.budget=4", "search.batches=1", "search.train_missing=false"]


def cmd_smoke(args) -> int:
    import tempfile
    import time

    from lmreg.algorithms.base import get_algorithm
    from lmreg.experiments.runner import run
    from lmreg.experiments.runconfig import load_config
    from lmreg.results.records import read_record
    base = load_config(args.preset, args.set)
    cfg = load_config(args.preset, [*SMOKE_OVERRIDES, *get_algorithm(base.algorithm).smoke_overrides, *args.set])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lmreg-smoke-") as tmp:
        rec = read_record(run(cfg, tmp, max_steps=args.max_steps))
    m, t = rec["attrs"]["final_metrics"], rec["attrs"]["timings"]
    print(f"smoke run of {args.preset} passed ({cfg.algorithm} on {cfg.task}, {cfg.device}, C={cfg.net.C} "
          f"N={cfg.net.N}): 2 epochs x {args.max_steps} steps, pool 10 and 4 landmarks scored; "
          f"kendall_tau={m['kendall_tau']:.3f} (meaningless at this size); train {t['train_s']:.1f} s, "
          f"score {t['score_s']:.1f} s, {time.perf_counter() - t0:.1f} s in all; nothing was kept")
    return 0


def cmd_train_distributed(args) -> int:
    """Under torchrun (WORLD_SIZE > 1): one run, data-parallel over the ranks
    (algorithms/distributed.py); gloo on the CPU, NCCL on CUDA (one GPU per rank)."""
    import torch
    import torch.distributed as dist

    from lmreg.algorithms import distributed
    from lmreg.experiments.runner import run
    from lmreg.experiments.runconfig import load_config
    from lmreg.results.records import read_record
    if args.seeds is not None and len(args.seeds) != 1:
        raise ConfigError("under torchrun, lmreg train runs one seed: give --seeds with a single seed")
    cfg = load_config(args.preset, [*args.set, *(f"seed={s}" for s in (args.seeds or []))])
    cuda = torch.device(cfg.device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    distributed.start("nccl" if cuda else "gloo")
    try:
        path = run(cfg, Path(args.out))
        if dist.get_rank() == 0:
            m = read_record(path)["attrs"]["final_metrics"]
            print(f"{path}  kendall_tau={m['kendall_tau']:.3f}  ({dist.get_world_size()} ranks)")
    finally:
        dist.destroy_process_group()
    return 0


def cmd_train(args) -> int:
    from lmreg.experiments.runner import run_many
    from lmreg.experiments.runconfig import load_config
    from lmreg.results.records import read_record
    if args.max_steps is not None and not args.smoke:
        raise ConfigError("--max-steps only applies to --smoke runs (a truncated run is not a result)")
    if args.smoke:
        args.max_steps = args.max_steps or 2
        return cmd_smoke(args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return cmd_train_distributed(args)
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
    from lmreg.experiments.runner import evaluate
    for run_dir in args.runs:
        result = evaluate(run_dir, args.set)
        metrics = "  ".join(f"{k}={v:.3f}" for k, v in result["metrics"].items())
        e = result["eval"]
        print(f"{run_dir}  [bn={e['bn_mode']}, images={e['n_images']}, pool={e['pool_size']}]  {metrics}  "
              f"({result['score_s']:.1f} s)")
    return 0


def cmd_demo(args) -> int:
    from lmreg.experiments.demo import demo
    out = args.out or ("runs/demo-quick" if args.quick else "runs/demo")
    print(demo(out, seeds=args.seeds, quick=args.quick, workers=args.workers, overrides=args.set,
               progress=not args.no_progress))
    return 0


# data -----------------------------------------------------------------------
def cmd_data_embed(args) -> int:
    from lmreg.bench.datasets import tasks
    spec = tasks.get_spec(args.task)
    if not spec.embedded:
        owners = [name for name, t in tasks.TASKS.items() if t.embedded]
        raise ConfigError(f"task {args.task!r} has no embedded file; tasks with one: {', '.join(owners)}")
    out = tasks.DATA_DIR / spec.embedded
    digest = tasks.write_embedded(spec, out, args.raw)
    print(f"wrote {out} (sha256 of arrays {digest})")
    return 0


# config ---------------------------------------------------------------------
def cmd_config_show(args) -> int:
    from lmreg.experiments.config_schema import show_lines
    print("\n".join(show_lines(args.preset, args.set)))
    return 0


def cmd_config_doc(args) -> int:
    from lmreg.experiments.config_schema import markdown
    print(markdown(), end="")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmreg", description="Landmark-regularised super-net benchmark harness")
    sub = p.add_subparsers(dest="verb", required=True)

    bench = sub.add_parser("bench", help="ground-truth benchmarks").add_subparsers(dest="bench_verb", required=True)
    q = bench.add_parser("list", help="known benchmarks")
    q.set_defaults(func=cmd_bench_list)
    q = bench.add_parser("info", help="summary of a benchmark")
    q.add_argument("benchmark", help="name or path to a .h5 table")
    q.add_argument("--figure", metavar="PATH",
                   help="also draw the seed-vs-seed scatter of the GT metric to PATH.png and PATH.pdf")
    q.set_defaults(func=cmd_bench_info)
    q = bench.add_parser("query", help="ground truth of one architecture, or the top K")
    q.add_argument("benchmark")
    q.add_argument("arch", nargs="?",
                   help="as the benchmark's space names it: NB201 string or op-tuple index (0..15624), NB101 "
                        "cell key or module hash; omit with --top")
    q.add_argument("--metric", help="default: the benchmark's own GT metric (test_acc, or valid_acc where it has no test)")
    q.add_argument("--epoch", type=int, default=-1, help="epoch index (default: last)")
    q.add_argument("--top", type=non_negative_int, default=0, help="list the K best architectures instead")
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
    q.add_argument("--space", default="nb201", help="search space the cells are drawn from (nb201, nb101, ...)")
    q.add_argument("--archs", type=positive_int, default=400, help="architectures drawn from the space's unique cells")
    q.add_argument("--seeds", type=_seeds, default=[0, 1], help="comma-separated training seeds")
    q.add_argument("--sample-seed", type=non_negative_int, default=0, help="seed of the architecture draw")
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
    from lmreg.experiments.cluster import add_cluster_args
    add_cluster_args(q)
    q.add_argument("--chunk", type=positive_int, default=10, help="runs per submitit task (default 10)")
    q.set_defaults(func=cmd_bench_build)

    q = sub.add_parser("train", help="train super-nets (one run per seed) and score their pools")
    q.add_argument("--preset", default="micro", help="a preset name (experiments/presets) or a .toml path")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. use_landmarks=false or train.epochs=20")
    q.add_argument("--seeds", type=_seeds, default=None, help="comma-separated seeds (default: the preset's)")
    q.add_argument("--out", default="runs", help="folder of run folders")
    q.add_argument("--workers", type=positive_int, default=2)
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--smoke", action="store_true",
                   help="check a preset end to end (its data, ground truth, network and algorithm) in a "
                        "temporary folder: 2 short epochs, a pool of 10; nothing is kept")
    q.add_argument("--max-steps", type=positive_int, default=None,
                   help="training steps per epoch of a --smoke run (default 2)")
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

    config = sub.add_parser("config", help="run configs: keys, values, valid values").add_subparsers(
        dest="config_verb", required=True)
    q = config.add_parser("show", help="the resolved config of a preset: every key, its value, type, source "
                                       "and valid values")
    q.add_argument("--preset", default="micro", help="a preset name (experiments/presets) or a .toml path")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    q.set_defaults(func=cmd_config_show)
    q = config.add_parser("doc", help="every config key as Markdown (docs/config.md)")
    q.set_defaults(func=cmd_config_doc)

    from lmreg.experiments import analysis_cli
    analysis_cli.add_parsers(sub)
    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_verb", required=True)
    q = data.add_parser("embed", help="regenerate a task's embedded uint8 file from the raw dataset")
    q.add_argument("task")
    q.add_argument("--raw", help="raw dataset folder (default: the Debian install location)")
    q.set_defaults(func=cmd_data_embed)
    return p


def _parse(parser: argparse.ArgumentParser, argv):
    """parse_args, but a positional given after options (`query NAME --epoch 2 ARCH`)
    still lands in its optional positional slot instead of being 'unrecognized'."""
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "arch", "x") is None and len(extra) == 1 and not extra[0].startswith("--"):
        args.arch, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _one_line(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(text.split()) or type(e).__name__


def _bug(e: BaseException) -> int:
    """An exception nobody anticipated: a bug (or e.g. CUDA out of memory). One line,
    plus the traceback, kept in a file and printed with LMREG_DEBUG=1."""
    text = "".join(traceback.format_exception(e))
    if os.environ.get("LMREG_DEBUG"):
        print(text, file=sys.stderr, end="")
        where = "printed above"
    else:
        try:
            fd, where = tempfile.mkstemp(prefix="lmreg-traceback-", suffix=".txt")
            with os.fdopen(fd, "w") as f:
                f.write(text)
        except OSError:
            where = "lost (set LMREG_DEBUG=1 and rerun to print it)"
    kind = type(e).__name__
    if kind == "OutOfMemoryError":
        hint = "lower train.batch_size or eval.batch_size, or use a device with more memory"
        print(f"lmreg: error: out of memory: {_one_line(e)[:300]}; {hint} (traceback: {where})", file=sys.stderr)
        return EXIT_FAILED
    how = "" if os.environ.get("LMREG_DEBUG") else "; LMREG_DEBUG=1 prints it"
    print(f"lmreg: internal error (a bug in lmreg): {kind}: {_one_line(e)[:300]} (traceback: {where}{how})",
          file=sys.stderr)
    return EXIT_BUG


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean stop; a second SIGTERM does not cut it short
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    try:
        load_plugins()  # before any name is resolved, parser choices included
    except PluginError as e:
        print(f"lmreg: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    args = _parse(make_parser(), argv)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        previous = None
    try:
        return args.func(args)
    except Terminated:
        print("lmreg: stopped by SIGTERM; finished runs and the last checkpoints are kept, rerun the same "
              "command to resume", file=sys.stderr)
        return EXIT_TERM
    except KeyboardInterrupt:
        print("lmreg: interrupted; finished runs and the last checkpoints are kept", file=sys.stderr)
        return EXIT_INT
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except (WriteError, BusyError, WorkerDied) as e:
        print(f"lmreg: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILED
    except USER_ERRORS as e:
        print(f"lmreg: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as e:  # NaN losses
        print(f"lmreg: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:
        if e.errno is None:
            return _bug(e)
        where = f"{e.filename}: " if e.filename else ""
        print(f"lmreg: error: {where}{os.strerror(e.errno).lower()}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:
        return _bug(e)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
