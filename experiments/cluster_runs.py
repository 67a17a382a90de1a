"""Super-net runs submitted through submitit (`cluster`): each run one task. Runs are
resumable as everywhere else: finished runs are skipped before submission, and a task
that is cancelled or times out leaves its last checkpoint, from which the same command
resumes it. submitit's own logs go to OUT/submitit/."""

from __future__ import annotations

from pathlib import Path

from lmreg.core.plugins import load_plugins
from lmreg.experiments.cluster import ClusterError, ClusterOptions, executor_for, import_submitit, safe_path
from lmreg.experiments.run_folders import preflight
from lmreg.experiments.runner import run


def _run_task(cfg, out_dir: str) -> str:
    """One run inside a submitit task (its own process: one torch thread per CPU given)."""
    load_plugins()  # the task's own process resolves the config's names
    return str(run(cfg, out_dir))


def submit_runs(configs: list, out_dir: Path, opts: ClusterOptions) -> list[Path]:
    """Submit every config as one task, wait for all, return the record paths in order.
    The first failure is raised after every task has ended (the others are kept)."""
    import_submitit()
    out_dir = Path(out_dir)
    if not configs:
        return []
    preflight(configs, out_dir)
    executor = executor_for(opts, out_dir / "submitit")
    with safe_path():
        jobs = executor.map_array(_run_task, configs, [str(out_dir)] * len(configs))
    paths, errors = [], []
    for cfg, job in zip(configs, jobs):
        try:
            paths.append(Path(job.result()))
        except Exception as e:  # submitit wraps the task's exception with its log tail
            errors.append((job.job_id, e))
    if errors:
        job_id, first = errors[0]
        raise ClusterError(f"{len(errors)} of {len(configs)} tasks failed; first: job {job_id}: "
                           f"{' '.join(str(first).split())[-300:]} (logs in {out_dir / 'submitit'}); rerun the "
                           "same command to resume") from None
    return paths
