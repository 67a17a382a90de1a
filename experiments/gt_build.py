"""Build a ground-truth table by training stand-alone networks.

Every finished (architecture, seed) is appended to a journal beside the output
(one JSON line, flushed and fsynced) before anything else happens, so a kill at
any moment loses at most the runs in flight. Rerunning the same command skips
every finished run, from the journal or from the table itself. The table is
rewritten atomically from time to time and at the end, sorted by
(architecture, seed), so an interrupted and an uninterrupted build end the same.
One process builds a given output at a time (a lock beside it); the recipe and
the counts are checked before any worker starts; a build in which no run
finished writes no table and shows the error of the first failed run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lmreg.algorithms.standalone import StandaloneRecipe, train_standalone
from lmreg.bench.datasets.tasks import get_spec, load_task, split_sizes
from lmreg.bench.gt_table import GTTable, row_problem
from lmreg.core.devices import check_available
from lmreg.core.errors import ConfigError, UserError, WorkerDied
from lmreg.core.fileio import ensure_dir, fsync_dir, locked, temp_files, translated
from lmreg.experiments.executor import run_jobs
from lmreg.spaces.base import NetSpec, get_space

JOURNAL_SUFFIX = ".journal.jsonl"
SNAPSHOT_EVERY_S = 60.0


class BuildError(UserError):
    pass


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + JOURNAL_SUFFIX)


def lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


def check_recipe(recipe: StandaloneRecipe, task: str | None = None) -> StandaloneRecipe:
    """Range checks of a stand-alone recipe (and, given the task, batch sizes against its
    splits), so that a bad value fails before any worker starts."""
    r = recipe
    checks = [
        ("epochs", r.epochs >= 1, ">= 1"), ("C", r.C >= 1, ">= 1"), ("N", r.N >= 1, ">= 1"),
        ("batch_size", r.batch_size >= 1, ">= 1"), ("eval_batch_size", r.eval_batch_size >= 1, ">= 1"),
        ("lr", math.isfinite(r.lr) and r.lr > 0, "a finite number > 0"),
        ("momentum", 0 <= r.momentum < 1, "in [0, 1)"),
        ("weight_decay", math.isfinite(r.weight_decay) and r.weight_decay >= 0, "a finite number >= 0"),
        ("warmup_fraction", 0 <= r.warmup_fraction < 1, "in [0, 1)"),
        ("label_smoothing", 0 <= r.label_smoothing < 1, "in [0, 1)"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"recipe {key} must be {rule}, got {getattr(r, key)!r}")
    if task is not None:
        n_train = split_sizes(get_spec(task))["train"]
        if r.batch_size > n_train:
            raise ConfigError(f"recipe batch_size {r.batch_size} is larger than the {n_train} training "
                              f"images of task {task!r}")
    return recipe


def plan(n_archs: int, sample_seed: int, space: str = "nb201") -> list[str]:
    """The architecture keys of a build, drawn by the space (distinct cells; a larger
    n extends a smaller one)."""
    sp = get_space(space)
    return [sp.key(a) for a in sp.sample(n_archs, sample_seed)]


def _identity(task: str, recipe: StandaloneRecipe, sample_seed: int, space: str = "nb201") -> dict:
    """What makes two builds' rows interchangeable. The number of architectures and
    the seeds are not part of it: growing either reuses every finished run."""
    return {"space": space, "task": task, "recipe": asdict(recipe), "sample_seed": sample_seed,
            "network": get_space(space).semantics}


def _load_done(out: Path, ident: dict, merge: list[Path] = ()) -> dict[tuple[str, int], dict]:
    """Finished rows from an existing table, its journal and any journals to merge
    (e.g. from a build split across machines), all made with the same identity."""
    done: dict[tuple[str, int], dict] = {}
    if out.exists():
        if out.is_dir():
            raise BuildError(f"{out} is a folder; --out names the table file, e.g. {out / 'gt.h5'}")
        table = GTTable.read(out)
        theirs = table.meta.get("identity")
        if theirs != ident:
            raise BuildError(f"{out} was built with different settings ({_diff(theirs, ident)}); "
                             "choose another --out or remove it")
        done.update({(r["arch"], r["seed"]): r for r in table.rows()})
    for jpath in [journal_path(out), *map(Path, merge)]:
        if jpath.exists():
            done.update(_read_journal(jpath, ident))
        elif jpath != journal_path(out):
            raise BuildError(f"{jpath}: no such journal to merge")
    return done


def _read_journal(jpath: Path, ident: dict) -> dict[tuple[str, int], dict]:
    try:
        with open(jpath, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"{jpath}: not a readable build journal ({type(e).__name__}: {e})") from None
    if not lines:
        return {}
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise BuildError(f"{jpath}: not a build journal (unreadable header)") from None
    if not isinstance(header, dict) or header.get("identity") != ident:
        theirs = header.get("identity") if isinstance(header, dict) else None
        raise BuildError(f"{jpath} belongs to a build with different settings "
                         f"({_diff(theirs, ident)}); choose another --out or remove it")
    rows, epochs = {}, set()
    for number, line in enumerate(lines[1:], start=2):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill mid-write: that run is simply redone
        why = row_problem(row)
        if why is None and epochs and len(row["test_acc"]) not in epochs:
            why = f"{len(row['test_acc'])} epochs, other rows {min(epochs)}"
        if why:
            raise BuildError(f"{jpath}: line {number} is not a build row ({why}); remove that line to rerun "
                             "that run, or remove the journal to start over")
        epochs.add(len(row["test_acc"]))
        rows[(row["arch"], row["seed"])] = row
    return rows


def _diff(a, b) -> str:
    if not isinstance(a, dict):
        return "no build settings recorded"
    parts = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            parts += [f"{k}.{sub}: {x.get(sub)!r} vs {y.get(sub)!r}"
                      for sub in sorted(set(x) | set(y)) if x.get(sub) != y.get(sub)]
        elif x != y:
            parts.append(f"{k}: {x!r} vs {y!r}")
    return ", ".join(parts)


def _write_table(out: Path, rows: dict, ident: dict, device: str, wanted: set) -> GTTable:
    meta = {"identity": ident, "torch": torch.__version__, "python": platform.python_version(),
            "devices": sorted({r.get("device", device) for r in rows.values()}), "complete": False}
    table = GTTable.from_rows(list(rows.values()), ident["space"], ident["task"], ident["recipe"], meta,
                              sort_key=lambda r: (r["arch"], r["seed"]))
    table.meta["complete"] = wanted <= rows.keys()
    table.write(out)
    return table


def train_cell(table: GTTable, arch, metric: str, device: str = "cpu") -> tuple[float, list[int]]:
    """The value a built table would hold for a cell it lacks: the cell trained stand-alone
    with the table's recipe on the table's task, once per seed of the table, the metric's
    final value averaged over the seeds (as `GTTable.per_arch`). Returns (value, seeds)."""
    space = get_space(table.space)
    task = load_task(table.task, device, extra=True)
    recipe = StandaloneRecipe(**table.recipe)
    seeds = sorted(int(s) for s in table.seed_matrix(metric).columns)
    values = [train_standalone(space, arch, seed, task, recipe)[metric][-1] for seed in seeds]
    return float(sum(values) / len(values)), seeds


# Worker side ---------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(task_name: str, space: str, device: str, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER["space"] = get_space(space)
    try:
        _WORKER["task"] = load_task(task_name, device, extra=True)
    except Exception as e:  # kept and raised by the first run, so the parent sees the real error
        _WORKER["error"] = e
    _WORKER["device"] = device


def _run_one(arch_str: str, seed: int, recipe: dict) -> dict:
    if "error" in _WORKER:
        raise _WORKER["error"]
    space = _WORKER["space"]
    row = train_standalone(space, space.parse(arch_str), seed, _WORKER["task"], StandaloneRecipe(**recipe))
    row["device"] = _WORKER["device"]
    return row


def build(out: str | Path, task: str = "micro-fmnist", recipe: StandaloneRecipe | None = None, space: str = "nb201",
          n_archs: int = 400, seeds=(0, 1), sample_seed: int = 0, workers: int = 2,
          device: str = "cpu", threads: int = 1, progress: bool = True,
          reverse: bool = False, merge: list[Path] = (), cluster=None, chunk: int = 10) -> GTTable:
    """Train what is missing of n_archs x seeds and write the table. ``reverse``
    trains from the end of the plan, so two machines can share one build from both
    ends; ``merge`` adds other journals of the same build. ``cluster``
    (experiments.cluster.ClusterOptions, executor local or slurm) trains through
    submitit, ``chunk`` runs per task; this process journals the rows as tasks end."""
    out = Path(out)
    recipe = check_recipe(recipe or StandaloneRecipe(), task)  # unknown task names fail here too
    try:  # an unknown name lists the valid ones; a width the space cannot build fails here, not in a worker
        get_space(space).check_net(NetSpec(C=recipe.C, N=recipe.N))
    except ValueError as e:
        raise ConfigError(f"recipe: {e}") from None
    if n_archs < 1:
        raise ConfigError(f"--archs must be >= 1, got {n_archs}")
    seeds = list(seeds)
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct integers >= 0, got {seeds}")
    if sample_seed < 0:
        raise ConfigError(f"sample seed must be >= 0, got {sample_seed}")
    if workers < 1 or threads < 1:
        raise ConfigError(f"workers and threads must be >= 1, got {workers} and {threads}")
    check_available(device)
    if out.is_dir():
        raise BuildError(f"{out} is a folder; --out names the table file, e.g. {out / 'gt.h5'}")
    load_task(task)  # a missing dataset fails here, once, not in every worker
    ident = _identity(task, recipe, sample_seed, space)
    try:
        keys = plan(n_archs, sample_seed, space)
    except ValueError as e:  # more cells than the space has
        raise ConfigError(f"--archs: {e}") from None
    _load_done(out, ident, merge)  # a foreign table or journal is refused before anything is written
    ensure_dir(out.parent)
    with locked(lock_path(out), f"the ground-truth table {out.name}"):
        for stale in temp_files(out.parent, out.name):  # left by a killed writer of this table
            stale.unlink(missing_ok=True)
        done = _load_done(out, ident, merge)
        wanted = [(k, s) for k in keys for s in seeds]
        todo = [key for key in (reversed(wanted) if reverse else wanted) if key not in done]
        wanted = set(wanted)
        jpath = journal_path(out)
        if not jpath.exists():
            with translated(jpath):
                with open(jpath, "w") as f:
                    f.write(json.dumps({"identity": ident}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                fsync_dir(jpath.parent)
        if todo:
            _train_all(todo, done, jpath, out, ident, wanted, task, recipe, workers, device, threads, progress,
                       cluster, chunk)
        table = _write_table(out, done, ident, device, wanted)
        if table.meta["complete"]:
            with translated(jpath, "cannot remove"):
                jpath.unlink(missing_ok=True)
                fsync_dir(jpath.parent)
    return table


def _run_chunk(task_name: str, space: str, device: str, threads: int, recipe: dict, items: list) -> list[dict]:
    """A submitit task: several (architecture, seed) runs in one process."""
    _init_worker(task_name, space, device, threads)
    return [_run_one(a, s, recipe) for a, s in items]


def _submit_all(todo, finished, task, ident, device, threads, recipe_dict, cluster, chunk, jpath) -> None:
    """Chunks of runs as submitit tasks; rows are journaled as each task ends."""
    from lmreg.experiments.cluster import executor_for, import_submitit, safe_path
    import_submitit()
    chunks = [todo[i: i + chunk] for i in range(0, len(todo), chunk)]
    executor = executor_for(cluster, jpath.parent / "submitit")
    n = len(chunks)
    with safe_path():
        jobs = executor.map_array(_run_chunk, [task] * n, [ident["space"]] * n, [device] * n, [threads] * n,
                                  [recipe_dict] * n, chunks)
    pending, errors = dict(enumerate(jobs)), []
    while pending:
        for i, job in list(pending.items()):
            if job.done():
                del pending[i]
                try:
                    for row in job.result():
                        finished(0, row)
                except Exception as e:
                    errors.append((job.job_id, e))
        time.sleep(0.5)
    if errors:
        job_id, first = errors[0]
        raise BuildError(f"{len(errors)} of {n} tasks failed; first: job {job_id}: "
                         f"{' '.join(str(first).split())[-300:]}; finished runs are saved in {jpath}: rerun the "
                         "same command to resume")


def _train_all(todo, done, jpath, out, ident, wanted, task, recipe, workers, device, threads, progress,
               cluster=None, chunk: int = 10):
    from tqdm import tqdm

    bar = tqdm(total=len(todo) + len(done), initial=len(done), unit="run", disable=not progress,
               desc=f"GT {out.name}", dynamic_ncols=True)
    last_snapshot = time.monotonic()
    recipe_dict = asdict(recipe)
    had = len(done)
    try:
        with translated(jpath), open(jpath, "a") as journal:
            def finished(_: int, row: dict) -> None:
                nonlocal last_snapshot
                journal.write(json.dumps(row) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
                done[(row["arch"], row["seed"])] = row
                bar.update(1)
                if time.monotonic() - last_snapshot > SNAPSHOT_EVERY_S:
                    _write_table(out, done, ident, device, wanted)
                    last_snapshot = time.monotonic()

            if cluster is not None and cluster.executor != "pool":
                _submit_all(todo, finished, task, ident, device, threads, recipe_dict, cluster, chunk, jpath)
            else:
                run_jobs(_run_one, [(a, s, recipe_dict) for a, s in todo], workers=workers, on_done=finished,
                         init=_init_worker, init_args=(task, ident["space"], device, threads),
                         died_message="a worker process died (killed by the system, e.g. out of memory?); "
                                      f"finished runs are saved in {jpath}: rerun the same command to resume")
    except WorkerDied as e:
        raise BuildError(str(e)) from None
    except FloatingPointError as e:
        raise BuildError(f"{e}; finished runs are saved in {jpath}") from None
    finally:
        bar.close()
        if len(done) > had:  # a snapshot of what finished; no table at all when nothing did
            _write_table(out, done, ident, device, wanted)
