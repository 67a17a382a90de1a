"""Worker processes that do not outlive the process that started them."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Call in a worker's initializer with the parent's pid (taken in the parent:
    by the time a spawned worker runs this, its parent may already be gone). If
    the parent is killed (SIGKILL, SIGTERM, a crash) the worker would otherwise
    finish its queued work for nobody; this watchdog ends it once re-parented."""
    if os.getppid() != parent:
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
