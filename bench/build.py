"""Build a ground-truth table by training stand-alone networks.

Every finished (architecture, seed) is appended to a journal beside the output
(one JSON line, flushed and fsynced) before anything else happens, so a kill at
any moment loses at most the runs in flight. Rerunning the same command skips
every finished run, from the journal or from the table itself. The table is
rewritten atomically from time to time and at the end, sorted by
(architecture, seed), so an interrupted and an uninterrupted build end the same.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

import torch

from algorithms.standalone import StandaloneRecipe, train_standalone
from bench.datasets.tasks import get_spec, load_task
from bench.gt_table import GTTable
from bench.workers import exit_with_parent
from spaces import nb201

JOURNAL_SUFFIX = ".journal.jsonl"
SNAPSHOT_EVERY_S = 60.0


class BuildError(RuntimeError):
    pass


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + JOURNAL_SUFFIX)


def plan(n_archs: int, sample_seed: int) -> list[nb201.Arch]:
    """The architectures of a build: drawn uniformly from the unique cells."""
    return nb201.sample(n_archs, seed=sample_seed, unique=True)


def _identity(task: str, recipe: StandaloneRecipe, sample_seed: int) -> dict:
    """What makes two builds' rows interchangeable. The number of architectures and
    the seeds are not part of it: growing either reuses every finished run."""
    from spaces.nb201_net import SEMANTICS
    return {"space": "nb201", "task": task, "recipe": asdict(recipe), "sample_seed": sample_seed,
            "network": SEMANTICS}


def _load_done(out: Path, ident: dict, merge: list[Path] = ()) -> dict[tuple[str, int], dict]:
    """Finished rows from an existing table, its journal and any journals to merge
    (e.g. from a build split across machines), all made with the same identity."""
    done: dict[tuple[str, int], dict] = {}
    if out.exists():
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
    with open(jpath) as f:
        lines = f.read().splitlines()
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
    rows = {}
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill mid-write: that run is simply redone
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
    table = GTTable.from_rows(list(rows.values()), "nb201", ident["task"], ident["recipe"], meta,
                              sort_key=lambda r: (nb201.to_index(nb201.parse(r["arch"])), r["seed"]))
    table.meta["complete"] = wanted <= rows.keys()
    table.write(out)
    return table


# Worker side ---------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(task_name: str, device: str, threads: int, parent: int) -> None:
    exit_with_parent(parent)
    torch.set_num_threads(threads)
    _WORKER["task"] = load_task(task_name, device)
    _WORKER["device"] = device


def _run_one(arch_str: str, seed: int, recipe: dict) -> dict:
    row = train_standalone(nb201.parse(arch_str), seed, _WORKER["task"], StandaloneRecipe(**recipe))
    row["device"] = _WORKER["device"]
    return row


def build(out: str | Path, task: str = "micro-fmnist", recipe: StandaloneRecipe | None = None,
          n_archs: int = 400, seeds=(0, 1), sample_seed: int = 0, workers: int = 2,
          device: str = "cpu", threads: int = 1, progress: bool = True,
          reverse: bool = False, merge: list[Path] = ()) -> GTTable:
    """Train what is missing of n_archs x seeds and write the table. ``reverse``
    trains from the end of the plan, so two machines can share one build from both
    ends; ``merge`` adds other journals of the same build."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recipe = recipe or StandaloneRecipe()
    get_spec(task)  # unknown task names fail before any work
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BuildError(f"device {device!r} requested but CUDA is not available")
    load_task(task)  # a missing dataset fails here, once, not in every worker
    ident = _identity(task, recipe, sample_seed)
    done = _load_done(out, ident, merge)
    wanted = [(nb201.to_str(a), s) for a in plan(n_archs, sample_seed) for s in seeds]
    todo = [key for key in (reversed(wanted) if reverse else wanted) if key not in done]
    wanted = set(wanted)
    jpath = journal_path(out)
    if not jpath.exists():
        with open(jpath, "w") as f:
            f.write(json.dumps({"identity": ident}) + "\n")
    if todo:
        _train_all(todo, done, jpath, out, ident, wanted, task, recipe, workers, device, threads, progress)
    table = _write_table(out, done, ident, device, wanted)
    if table.meta["complete"]:
        jpath.unlink(missing_ok=True)
    return table


def _train_all(todo, done, jpath, out, ident, wanted, task, recipe, workers, device, threads, progress):
    from tqdm import tqdm

    bar = tqdm(total=len(todo) + len(done), initial=len(done), unit="run", disable=not progress,
               desc=f"GT {out.name}", dynamic_ncols=True)
    last_snapshot = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    recipe_dict = asdict(recipe)
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(task, device, threads, os.getpid()))
    try:
        with open(jpath, "a") as journal:
            futures = [pool.submit(_run_one, a, s, recipe_dict) for a, s in todo]
            for fut in as_completed(futures):
                row = fut.result()
                journal.write(json.dumps(row) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
                done[(row["arch"], row["seed"])] = row
                bar.update(1)
                if time.monotonic() - last_snapshot > SNAPSHOT_EVERY_S:
                    _write_table(out, done, ident, device, wanted)
                    last_snapshot = time.monotonic()
    except BrokenProcessPool:
        raise BuildError(f"a worker process died; {len(done)} finished runs are saved in {jpath}: "
                         "rerun the same command to resume") from None
    except FloatingPointError as e:
        raise BuildError(f"{e}; finished runs are saved in {jpath}") from None
    finally:
        # Never wait for queued runs on the way out (Ctrl-C, errors): they are redone on resume.
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
        _write_table(out, done, ident, device, wanted)
