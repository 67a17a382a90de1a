"""Every check of a run config that can be made before training, in one place.

* ``check_config``: ranges and names, from the config alone; called by
  ``load_config``, so a bad value fails when it is typed, not after an epoch.
* ``check_runnable``: against the ground truth, the device and the task's data
  (landmarks plus pool must fit in the GT, the GT metric must exist, CUDA must be
  there); called before a run folder is created.

Checks of run folders (``preflight``, ``finished_record``) are in ``run_folders``.
"""

from __future__ import annotations

import math
import re

from lmreg.core.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")
P_AT_K = 10  # the ranking metrics include precision@10


def _need(ok: bool, key: str, rule: str, value) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {value!r}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def check_config(cfg) -> None:
    """Ranges of every numeric field, names of every registry field, and the
    combinations that would only fail after training."""
    from lmreg.algorithms.base import algorithm_names, get_algorithm
    from lmreg.bench import registry
    from lmreg.bench.datasets.tasks import get_spec, split_sizes
    from lmreg.core.devices import check_device
    from lmreg.spaces.base import get_space

    _need(bool(NAME_RE.match(cfg.name or "")), "name", "a plain folder-name word (letters, digits, . _ + = -)",
          cfg.name)
    _need(cfg.seed >= 0, "seed", ">= 0", cfg.seed)
    _need(cfg.threads >= 1, "threads", ">= 1", cfg.threads)
    check_device(cfg.device)
    spec = get_spec(cfg.task)
    registry.resolve(cfg.benchmark)  # unknown names list the valid ones
    algorithm = get_algorithm(cfg.algorithm)
    space = get_space(cfg.space)
    # a file path names no benchmark: its space is checked when it is opened
    known = registry.BENCHMARKS[cfg.benchmark] if cfg.benchmark in registry.BENCHMARKS else None
    declared = known.space if known else None
    if declared is not None and declared != cfg.space:
        raise ConfigError(f"benchmark {cfg.benchmark!r} covers the {declared} space, but space={cfg.space!r}; "
                          f"set space={declared} or pick a {cfg.space} benchmark")
    try:
        space.check_net(cfg.net)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    algorithm.check_config(cfg)
    if cfg.train.path_sampler == "table" and not algorithm.table_paths:
        raise ConfigError(f"train.path_sampler='table' draws random cells from the ground-truth table, but "
                          f"{cfg.algorithm!r} draws its paths otherwise; use train.path_sampler=space "
                          f"(algorithms that take table paths: "
                          f"{', '.join(a for a in algorithm_names() if get_algorithm(a).table_paths)})")
    n, t, e, lm = cfg.net, cfg.train, cfg.eval, cfg.landmarks
    _need(n.C >= 1, "net.C", ">= 1", n.C)
    _need(n.N >= 1, "net.N", ">= 1", n.N)
    _need(t.epochs >= 1, "train.epochs", ">= 1", t.epochs)
    _need(t.batch_size >= 1, "train.batch_size", ">= 1", t.batch_size)
    _need(_finite(t.lr) and t.lr > 0, "train.lr", "a finite number > 0", t.lr)
    _need(_finite(t.lr_min) and 0 <= t.lr_min <= t.lr, "train.lr_min", f"in [0, train.lr={t.lr}]", t.lr_min)
    _need(_finite(t.momentum) and 0 <= t.momentum < 1, "train.momentum", "in [0, 1)", t.momentum)
    _need(_finite(t.weight_decay) and t.weight_decay >= 0, "train.weight_decay", "a finite number >= 0",
          t.weight_decay)
    _need(_finite(t.grad_clip) and t.grad_clip > 0, "train.grad_clip", "a finite number > 0", t.grad_clip)
    _need(_finite(lm.max_coef), "landmarks.max_coef", "a finite number", lm.max_coef)
    _need(_finite(lm.beta), "landmarks.beta", "a finite number", lm.beta)
    _need(e.pool_size >= P_AT_K, "eval.pool_size", f">= {P_AT_K} (precision@{P_AT_K} is one of the metrics)",
          e.pool_size)
    _need(e.n_images is None or e.n_images >= 1, "eval.n_images", ">= 1 (or none for the whole split)",
          e.n_images)
    if e.bn_mode == "running" and not n.bn_track_running_stats:
        raise ConfigError("eval.bn_mode=running needs net.bn_track_running_stats=true (the super-net has "
                          "no running statistics otherwise)")
    check_sizes(cfg, split_sizes(spec))


def check_sizes(cfg, sizes: dict[str, int]) -> None:
    """Batch sizes, the landmark step interval and the scored images against the images
    of each split: the task's declared sizes (check_config) and, before a run folder
    exists, the data actually loaded (a dataset folder may hold fewer images)."""
    t, e, lm, task = cfg.train, cfg.eval, cfg.landmarks, cfg.task
    _need(t.batch_size <= sizes["train"], "train.batch_size",
          f"<= the {sizes['train']} training images of task {task!r}", t.batch_size)
    if cfg.use_landmarks:
        key, batch = ("landmarks.batch_size", lm.batch_size) if lm.batch_size else ("train.batch_size", t.batch_size)
        _need(batch <= sizes["valid"], key,
              f"<= the {sizes['valid']} held-out images of task {task!r} (landmark batches)", batch)
        steps = sizes["train"] // t.batch_size if t.drop_last else -(-sizes["train"] // t.batch_size)
        _need(lm.every <= steps, "landmarks.every",
              f"<= the {steps} training steps of an epoch of task {task!r} (a landmark step in every epoch)",
              lm.every)
    if e.n_images is not None:
        _need(e.n_images <= sizes[e.split], "eval.n_images",
              f"<= the {sizes[e.split]} {e.split} images of task {task!r} (or none for all)", e.n_images)


def check_task_sizes(cfg, task) -> None:
    """check_sizes against a loaded task."""
    check_sizes(cfg, {split: task.size(split) for split in task.splits})


def check_runnable(cfg) -> None:
    """Against the ground truth and the machine: called before a run folder exists."""
    from lmreg.bench import registry
    from lmreg.core.devices import check_available

    check_available(cfg.device)
    table = registry.load(cfg.benchmark)
    space = getattr(table, "space", None)
    if space != cfg.space:
        raise ConfigError(f"ground truth {cfg.benchmark!r} covers the {space} space, but space={cfg.space!r}")
    try:
        gt = table.per_arch(cfg.gt_metric).dropna()
    except KeyError as e:
        raise ConfigError(f"gt_metric: {e.args[0] if e.args else e}") from None
    m, pool = cfg.landmarks.m, cfg.eval.pool_size
    if m + pool > len(gt):
        raise ConfigError(f"landmarks.m={m} plus eval.pool_size={pool} is {m + pool}, more than the {len(gt)} "
                          f"architectures with ground truth in {cfg.benchmark!r}; lower one of them")
    if cfg.use_landmarks:
        from lmreg.experiments.growing import check_growing
        why = check_growing(cfg.landmarks.grow_rounds, cfg.landmarks.grow_k, cfg.train.warmup_epochs,
                            cfg.train.epochs, len(gt), m, pool)
        if why:
            raise ConfigError(why)
