"""`lmreg demo`: SPOS with and without landmarks on the micro task over several
seeds, run in parallel worker processes; then the comparison table and figures."""

from __future__ import annotations

import multiprocessing
import os
import queue
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from bench.workers import exit_with_parent
from experiments.runconfig import RunConfig, load_config, run_name


def _run_in_worker(cfg: RunConfig, out_dir: str, progress_q) -> str:
    from experiments.runner import run
    return str(run(cfg, out_dir, on_epoch=lambda curve: progress_q.put(run_name(cfg))))


def run_many(configs: list[RunConfig], out_dir: Path, workers: int, progress: bool = True) -> list[Path]:
    """Run configs in parallel processes (one torch thread each), with one progress
    bar over all epochs. Finished runs are skipped, interrupted ones resume."""
    from tqdm import tqdm

    total = sum(c.train.epochs for c in configs)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx,
                                                       initializer=exit_with_parent,
                                                       initargs=(os.getpid(),)) as pool:
        progress_q = manager.Queue()
        futures = {pool.submit(_run_in_worker, c, str(out_dir), progress_q): c for c in configs}
        counted = {run_name(c): 0 for c in configs}
        paths = {}
        with tqdm(total=total, unit="epoch", disable=not progress, dynamic_ncols=True,
                  desc=f"{len(configs)} super-net runs") as bar:
            pending = set(futures)
            while pending:
                try:
                    name = progress_q.get(timeout=0.5)
                    counted[name] += 1
                    bar.update(1)
                except queue.Empty:
                    pass
                for fut in [f for f in pending if f.done()]:
                    pending.discard(fut)
                    cfg = futures[fut]
                    paths[run_name(cfg)] = Path(fut.result())
                    while not progress_q.empty():  # drain this run's last messages
                        counted[progress_q.get()] += 1
                        bar.update(1)
                    # skipped or resumed runs report fewer epochs than they hold
                    bar.update(cfg.train.epochs - counted[run_name(cfg)])
                    counted[run_name(cfg)] = cfg.train.epochs
    return [paths[run_name(c)] for c in configs]


def comparison_table(records: list[dict], level: float = 0.95):
    """The demo's table (frame and Markdown): see paper_figures.aggregate.comparison_table."""
    from paper_figures.aggregate import comparison_table as table
    return table(records, level)


def demo(out_dir: str | Path = "runs/demo", seeds=(0, 1, 2), quick: bool = False, workers: int = 2,
         overrides: list[str] = (), progress: bool = True) -> str:
    from bench import registry
    from paper_figures.noise import ceiling_text, noise_ceiling
    from paper_figures.plots import VARIANT_STYLE, metric_over_epochs, rank_scatter_panels
    from results.records import read_record

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
    (out_dir / "summary.md").write_text(header + text + "\n")
    table.to_csv(out_dir / "summary.csv", index=False)
    by_variant = {lm: [r for r in records if r["attrs"]["config"]["use_landmarks"] == lm] for lm in (False, True)}
    first_seed = [(VARIANT_STYLE[lm][0], next(r for r in by_variant[lm] if r["attrs"]["config"]["seed"] == seeds[0]))
                  for lm in (False, True)]
    figures = rank_scatter_panels(first_seed, out_dir / "rank_scatter", title=f"seed {seeds[0]}")
    figures += metric_over_epochs([(VARIANT_STYLE[lm][0], by_variant[lm]) for lm in (False, True)],
                                  out_dir / "tau_over_epochs", ceiling=ceiling["ceiling"])
    return header + text + "\n\nwritten: " + ", ".join(str(p) for p in [out_dir / "summary.md", *figures])
