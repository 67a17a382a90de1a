"""Worker processes that never outlive the process that started them, and a
clean stop of a pool on SIGTERM or Ctrl-C.

Every worker of a pool (`lmreg train`, `demo`, `reproduce`, `bench build`) is
started with ``exit_with_parent`` as its initializer: the kernel kills it when its
parent dies (PR_SET_PDEATHSIG on Linux), and a watchdog thread ends it within a
second where that is unavailable or missed. Workers ignore Ctrl-C; the parent
handles it (and SIGTERM, turned into ``Terminated``) by ``stop_pool``, which
ends the workers and waits for them, so no process is left holding the caller's
output. Runs and builds write checkpoints and journals atomically, so stopping a
worker at any moment loses at most the epoch or the runs in flight.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """SIGTERM, raised in the main thread; a BaseException like KeyboardInterrupt so
    that `except Exception` blocks do not swallow it."""


def _set_pdeathsig() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog below still applies
        pass


def exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Call in a worker's initializer with the parent's pid (taken in the parent:
    by the time a spawned worker runs this, its parent may already be gone). If
    the parent is killed (SIGKILL, SIGTERM, a crash) the worker would otherwise
    finish its queued work for nobody, holding the caller's stdout and stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_pdeathsig()
    if os.getppid() != parent:
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def stop_pool(pool, timeout: float = 10.0) -> None:
    """End a ProcessPoolExecutor now: cancel queued work, stop the running workers
    (SIGTERM, then SIGKILL after ``timeout``) and reap them."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


_TRACKER_QUIET = "ignore:resource_tracker:UserWarning"


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker for this process (a no-op once it runs)
    with its own warnings off. The tracker outlives a parent killed by SIGKILL and unlinks
    the semaphores that the parent's pool and queues left behind; that cleanup is expected,
    but it would also print a "leaked semaphore" warning per object on the caller's stderr.
    Call before the first pool or queue is made."""
    from multiprocessing import resource_tracker

    old = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = f"{old},{_TRACKER_QUIET}" if old else _TRACKER_QUIET
    try:
        resource_tracker.ensure_running()
    finally:
        if old is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = old
