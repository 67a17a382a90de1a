"""`lmreg demo`: SPOS with and without landmarks on the micro task over several
seeds, run in parallel worker processes; then the comparison table and figures."""

from __future__ import annotations

import multiprocessing
import os
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from lmreg.bench.errors import WorkerDied
from lmreg.bench.workers import exit_with_parent, stop_pool
from lmreg.experiments.runconfig import RunConfig, load_config, run_name

_PROGRESS = None  # the worker's end of the progress queue (set by its initializer)


def _init_worker(parent: int, progress_q) -> None:
    global _PROGRESS
    exit_with_parent(parent)
    _PROGRESS = progress_q


def _run_in_worker(cfg: RunConfig, out_dir: str) -> str:
    from lmreg.experiments.runner import run
    name = run_name(cfg)
    return str(run(cfg, out_dir, on_epoch=lambda curve: _PROGRESS.put(name)))


def run_many(configs: list[RunConfig], out_dir: Path, workers: int, progress: bool = True) -> list[Path]:
    """Run configs in parallel processes (one torch thread each), with one progress
    bar over all epochs. Finished runs are skipped, interrupted ones resume.

    Everything that can be checked without training is checked first, in this
    process: two configs with the same run folder, a folder another process is
    writing, landmark and pool sizes against the ground truth, the device, the
    data. A run that fails later does not stop the others; the first failure is
    raised once they are done. SIGTERM and Ctrl-C stop the workers at once (their
    last checkpoints stay) and are re-raised. No helper process (no multiprocessing
    Manager) outlives this call or its caller."""
    from tqdm import tqdm

    from lmreg.experiments.checks import preflight

    out_dir = Path(out_dir)
    if not configs:
        return []
    preflight(configs, out_dir)
    total = sum(c.train.epochs for c in configs)
    ctx = multiprocessing.get_context("spawn")
    progress_q = ctx.Queue()
    pool = ProcessPoolExecutor(min(workers, len(configs)), mp_context=ctx, initializer=_init_worker,
                               initargs=(os.getpid(), progress_q))
    counted = {run_name(c): 0 for c in configs}
    paths, errors = {}, []
    try:
        futures = {pool.submit(_run_in_worker, c, str(out_dir)): c for c in configs}
        with tqdm(total=total, unit="epoch", disable=not progress, dynamic_ncols=True,
                  desc=f"{len(configs)} super-net runs") as bar:
            def drain():
                while True:
                    try:
                        counted[progress_q.get_nowait()] += 1
                    except queue.Empty:
                        return
                    bar.update(1)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for fut in done:
                    cfg = futures[fut]
                    name = run_name(cfg)
                    if fut.exception() is not None:
                        errors.append((name, fut.exception()))
                        continue
                    paths[name] = Path(fut.result())
                    # skipped or resumed runs report fewer epochs than they hold
                    bar.update(max(0, cfg.train.epochs - counted[name]))
                    counted[name] = cfg.train.epochs
    except BaseException:
        stop_pool(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        progress_q.close()
        progress_q.join_thread()
    if errors:
        name, first = errors[0]
        if isinstance(first, BrokenProcessPool):
            first = WorkerDied(f"a worker process died (killed by the system, e.g. out of memory?); finished runs "
                               f"and the last checkpoints are kept in {out_dir}: rerun the same command to resume")
        if len(errors) > 1 or len(configs) > 1:
            import sys
            print(f"lmreg: {len(errors)} of {len(configs)} runs failed ({', '.join(n for n, _ in errors)}); "
                  f"{len(paths)} finished. First failure, in {name}:", file=sys.stderr)
        raise first
    return [paths[run_name(c)] for c in configs]


def comparison_table(records: list[dict], level: float = 0.95):
    """The demo's table (frame and Markdown): see paper_figures.aggregate.comparison_table."""
    from lmreg.paper_figures.aggregate import comparison_table as table
    return table(records, level)


def demo(out_dir: str | Path = "runs/demo", seeds=(0, 1, 2), quick: bool = False, workers: int = 2,
         overrides: list[str] = (), progress: bool = True) -> str:
    from lmreg.bench import registry
    from lmreg.bench.fileio import write_text
    from lmreg.paper_figures.noise import ceiling_text, noise_ceiling
    from lmreg.paper_figures.plots import VARIANT_STYLE, metric_over_epochs, rank_scatter_panels
    from lmreg.results.records import read_record

    out_dir = Path(out_dir)
    preset = "quick" if quick else "micro"
    configs = [load_config(preset, [*overrides, f"seed={s}", f"use_landmarks={lm}"])
               for s in seeds for lm in (False, True)]
    paths = run_many(configs, out_dir, workers, progress)
    records = [read_record(p) for p in paths]
    table, text = comparison_table(records)
    cfg = configs[0]
    ceiling = noise_ceiling(registry.load(cfg.benchmark).seed_matrix(cfg.gt_metric))
    text += "\n\n" + ceiling_text(ceiling)
    header = (f"# lmreg demo: {cfg.name} preset, task {cfg.task}, GT {cfg.benchmark}\n\n"
              f"SPOS super-net ({cfg.train.epochs} epochs, warm-up {cfg.train.warmup_epochs}) with and "
              f"without landmark regularisation (M={cfg.landmarks.m}, {cfg.landmarks.loss_form}, "
              f"{cfg.landmarks.schedule}); ranking of {cfg.eval.pool_size} held-out architectures "
              f"scored on {cfg.eval.n_images or 'all'} {cfg.eval.split} images (BN: {cfg.eval.bn_mode}).\n\n")
    write_text(out_dir / "summary.md", header + text + "\n")
    write_text(out_dir / "summary.csv", table.to_csv(index=False))
    by_variant = {lm: [r for r in records if r["attrs"]["config"]["use_landmarks"] == lm] for lm in (False, True)}
    first_seed = [(VARIANT_STYLE[lm][0], next(r for r in by_variant[lm] if r["attrs"]["config"]["seed"] == seeds[0]))
                  for lm in (False, True)]
    figures = rank_scatter_panels(first_seed, out_dir / "rank_scatter", title=f"seed {seeds[0]}")
    figures += metric_over_epochs([(VARIANT_STYLE[lm][0], by_variant[lm]) for lm in (False, True)],
                                  out_dir / "tau_over_epochs", ceiling=ceiling["ceiling"])
    return header + text + "\n\nwritten: " + ", ".join(str(p) for p in [out_dir / "summary.md", *figures])
