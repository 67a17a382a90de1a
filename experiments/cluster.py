"""The submitit executors (github facebookincubator/submitit) behind `--executor`:
`slurm` sends each job as one task of a SLURM job array, `local` runs them as local
subprocesses with the same code path (how the tests exercise it). Their options,
checked before anything is written, and an executor built from them; super-net runs
(`cluster_runs`) and ground-truth builds (`gt_build`) submit through it."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lmreg.core.errors import ConfigError, UserError
from lmreg.experiments.config import non_negative_int, positive_int

EXECUTORS = ("pool", "local", "slurm")


class ClusterError(UserError):
    pass


@dataclass(frozen=True)
class ClusterOptions:
    executor: str = "pool"           # pool: the home-made process pool on this machine
    partition: str | None = None     # SLURM partition
    gpus: int = 0                    # GPUs per task
    cpus: int = 1                    # CPUs per task
    time_min: int = 240              # wall-time limit per task, minutes
    max_parallel: int | None = None  # SLURM array throttle (None: the scheduler decides)

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; valid: {', '.join(EXECUTORS)}")
        if self.gpus < 0 or self.cpus < 1 or self.time_min < 1:
            raise ConfigError("--gpus must be >= 0, --cpus >= 1 and --time >= 1 minute")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise ConfigError(f"--max-parallel must be >= 1, got {self.max_parallel}")
        if self.executor == "slurm" and not self.partition:
            raise ConfigError("--executor slurm needs --partition NAME (the SLURM partition the tasks run on)")


def add_cluster_args(parser) -> None:
    """The executor options of `lmreg reproduce` and `lmreg bench build`."""
    parser.add_argument("--executor", default="pool", choices=EXECUTORS,
                        help="pool: processes on this machine (default); slurm: SLURM array tasks through "
                             "submitit; local: the same through submitit's local executor")
    parser.add_argument("--partition", default=None, help="SLURM partition (--executor slurm)")
    parser.add_argument("--gpus", type=non_negative_int, default=0, help="GPUs per task (submitit executors)")
    parser.add_argument("--cpus", type=positive_int, default=1, help="CPUs per task (submitit executors)")
    parser.add_argument("--time", type=positive_int, default=240, help="minutes per task (submitit executors)")
    parser.add_argument("--max-parallel", type=positive_int, default=None,
                        help="SLURM array throttle: at most this many tasks at once")


def options_from_args(args) -> ClusterOptions:
    """The executor options, checked against this machine before anything is written."""
    opts = ClusterOptions(args.executor, args.partition, args.gpus, args.cpus, args.time, args.max_parallel)
    if opts.executor != "pool":
        import_submitit()
    if opts.executor == "slurm" and not all(shutil.which(tool) for tool in ("sbatch", "srun")):
        raise ClusterError("--executor slurm needs SLURM's sbatch and srun on PATH; this machine has none "
                           "(run on a SLURM login node, or use --executor pool)")
    return opts


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise ClusterError("--executor local/slurm needs submitit: pip install submitit "
                           "(or pip install 'lmreg[cluster]')") from None
    return submitit


@contextlib.contextmanager
def safe_path():
    """Submitted tasks start `python -m submitit...` in the submitting folder; from a source
    checkout that folder's lmreg/ (its __init__, __main__ and core/) would shadow the installed
    package. PYTHONSAFEPATH (Python >= 3.11: -P) keeps the folder off sys.path; it is set
    while tasks are submitted, so local processes and SLURM jobs inherit it."""
    old = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = old


def executor_for(opts: ClusterOptions, folder: Path):
    """A submitit executor with the options' resources (logs under ``folder``)."""
    submitit = import_submitit()
    executor = submitit.AutoExecutor(folder=folder, cluster=opts.executor)
    params = {"timeout_min": opts.time_min, "cpus_per_task": opts.cpus, "name": "lmreg"}
    if opts.executor == "slurm":
        params.update(slurm_partition=opts.partition, slurm_gres=f"gpu:{opts.gpus}" if opts.gpus else None)
        if opts.max_parallel:
            params["slurm_array_parallelism"] = opts.max_parallel
        params = {k: v for k, v in params.items() if v is not None}
    elif opts.gpus:
        params["gpus_per_node"] = opts.gpus
    executor.update_parameters(**params)
    return executor
