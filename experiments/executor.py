"""The one way the harness runs many jobs at once (`train`, `demo`, `reproduce`,
`bench build`): worker processes started by spawn, each with one job at a time.

Workers never outlive the caller (`core.workers.exit_with_parent`); SIGTERM and
Ctrl-C in the caller stop them at once and are re-raised; a worker killed by the
system becomes a `WorkerDied` with the caller's message. Results are handed to
`on_done` in the caller as they finish, so the caller can journal them."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from lmreg.core.errors import WorkerDied
from lmreg.core.plugins import load_plugins
from lmreg.core.workers import exit_with_parent, quiet_resource_tracker, stop_pool


def _start_worker(parent: int, init: Callable | None, init_args: tuple) -> None:
    exit_with_parent(parent)
    load_plugins()  # a spawned worker resolves the caller's names, plugins' included
    if init is not None:
        init(*init_args)


def spawn_context():
    quiet_resource_tracker()  # before the first pool or queue: see core.workers
    return multiprocessing.get_context("spawn")


def run_jobs(fn: Callable, jobs: Sequence[tuple], *, workers: int, on_done: Callable[[int, object], None],
             init: Callable | None = None, init_args: tuple = (), on_poll: Callable[[], None] | None = None,
             keep_going: bool = False, died_message: str = "a worker process died") -> list[tuple[int, BaseException]]:
    """Run ``fn(*job)`` for every job in up to ``workers`` processes (``init(*init_args)``
    runs once in each). ``on_done(i, result)`` is called in this process as job i
    finishes; ``on_poll()`` about twice a second. With ``keep_going`` a failed job does
    not stop the others and the failures are returned as (i, exception); otherwise the
    first failure stops every worker and is raised."""
    if not jobs:
        return []
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=spawn_context(), initializer=_start_worker,
                               initargs=(os.getpid(), init, tuple(init_args)))
    errors: list[tuple[int, BaseException]] = []
    try:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            if on_poll is not None:
                on_poll()
            for fut in sorted(done, key=futures.get):
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    exc = WorkerDied(died_message)
                if exc is None:
                    on_done(futures[fut], fut.result())
                elif keep_going:
                    errors.append((futures[fut], exc))
                else:
                    raise exc
    except BaseException:
        stop_pool(pool)  # never wait for queued or running work on the way out
        raise
    pool.shutdown(wait=True)
    return errors
