"""`lmreg reproduce NAME`: run a table's or figure's grid (finished runs skipped,
interrupted ones resumed) and render it. Also the dry-run plan with a cost estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lmreg.experiments.config import ConfigError
from lmreg.experiments.checks import finished_record
from lmreg.experiments.runconfig import PRESET_DIR, RunConfig, load_config, run_name, to_dict
from lmreg.paper_figures.definitions import Definition, EntryResult, GridEntry, get_definition
from lmreg.results.records import RECORD_NAME, RecordError, read_record

# Measured on the development machine (2 cores, one torch thread per run) for the micro
# preset: a plain SPOS epoch, a regularised one, and scoring 100 architectures on 2000 images.
MICRO_PLAIN_EPOCH_S = 2.1
MICRO_REG_EPOCH_S = 7.5
MICRO_SCORE_S = 22.0 / (100 * 2000)            # per architecture and image
MICRO_TRAIN_IMAGES = 10_000
REG_EPOCH_FACTOR = 3.5                          # regularised epoch / plain epoch (7.5 / 2.1)
SCORE_VS_TRAIN = MICRO_SCORE_S / (MICRO_PLAIN_EPOCH_S / MICRO_TRAIN_IMAGES)  # ~0.52
# Epoch and scoring cost of each algorithm in units of a plain SPOS epoch and a SPOS
# scoring, measured by benchmarks/algorithm_epochs.py (2026-11-28, 20 steps, 3 repeats,
# one core): (warm-up, plain, regularised, search plain, search regularised, scoring).
# The SPOS regularised factor stays REG_EPOCH_FACTOR (measured over whole micro epochs).
ALGORITHM_COST = {
    "spos": (1.0, 1.0, REG_EPOCH_FACTOR, 1.0, REG_EPOCH_FACTOR, 1.0),
    "fairnas": (4.9, 4.9, 7.3, 4.9, 7.3, 1.0),
    "gdas": (1.0, 1.44, 3.77, 2.65, 4.95, 1.0),
    "pcdarts": (3.07, 3.07, 8.93, 6.04, 11.9, 3.0),
}
HALF_TRAIN = {"fashion-mnist": 30_000, "cifar10": 25_000}  # train half when a task takes all of it
FULL_TEST = {"fashion-mnist": 10_000, "cifar10": 10_000}
ESTIMATE_NOTE = (f"This is an estimate from the config (plain and regularised epochs, ~{REG_EPOCH_FACTOR}x for a "
                 f"regularised SPOS epoch, the other algorithms' costs from benchmarks/algorithm_epochs.py, "
                 f"pool and landmark scorings), using times measured on the development "
                 f"machine for the micro preset on one core: plain epoch {MICRO_PLAIN_EPOCH_S} s, regularised "
                 f"{MICRO_REG_EPOCH_S} s, 100 architectures scored on 2000 images 22 s; other CPU configs are "
                 "scaled by training-set size and images scored. Real times vary with the machine and its load.")


@dataclass
class PlannedRun:
    entry: GridEntry
    seed: int
    name: str
    config: RunConfig | None
    status: str          # "" runnable, otherwise why not
    done: bool
    cost: dict


def entry_status(entry: GridEntry) -> str:
    """'' when the entry can run here, else why not (missing preset or benchmark)."""
    from lmreg.bench import registry
    from lmreg.bench.gt_table import GTFileError

    if not entry.preset.endswith(".toml") and not (PRESET_DIR / f"{entry.preset}.toml").is_file():
        why = f"preset {entry.preset!r} does not exist"
        return f"{why}; {entry.unavailable}" if entry.unavailable else why
    try:
        cfg = load_config(entry.preset, list(entry.overrides))
    except (ConfigError, KeyError) as e:
        return f"config error: {e.args[0] if e.args else e}"
    try:
        path = registry.resolve(cfg.benchmark)
    except GTFileError as e:
        return f"ground truth missing: {e}"
    if not Path(path).is_file():
        return f"ground truth missing: benchmark {cfg.benchmark!r} ({path}) is not built"
    return ""


# Paper-size per-step times measured on a GPU by benchmarks/gpu_paper.py (in a checkout;
# absent until a GPU session has run benchmarks/gpu_check.sh and committed the file).
MEASURED_GPU = Path(__file__).resolve().parents[1] / "benchmarks" / "measured" / "gpu_paper.json"


def measured_gpu(path: Path | None = None) -> dict | None:
    """The GPU figures of benchmarks/gpu_paper.py, or None (missing, unreadable, or a --quick smoke run)."""
    import json
    path = Path(path or MEASURED_GPU)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("quick") or not isinstance(data.get("per_step_s"), dict):
        return None
    return data


def _train_images(cfg: RunConfig) -> int:
    from lmreg.bench.datasets.tasks import get_spec
    spec = get_spec(cfg.task)
    return spec.n_train or HALF_TRAIN.get(spec.dataset, MICRO_TRAIN_IMAGES)


def _test_images(cfg: RunConfig) -> int:
    from lmreg.bench.datasets.tasks import get_spec
    spec = get_spec(cfg.task)
    if cfg.eval.n_images:
        return cfg.eval.n_images
    return spec.n_test or FULL_TEST.get(spec.dataset, 10_000)


def _growing_scorings(cfg: RunConfig) -> int:
    """Architectures a growing run scores besides the pool evaluations: per round the pool,
    and with grow_select = top every candidate (cells outside landmarks and pool)."""
    lm = cfg.landmarks
    if not (cfg.use_landmarks and lm.grow_rounds):
        return 0
    cells = 0
    if lm.grow_select == "top":
        try:
            from lmreg.bench import registry
            cells = len(registry.load(cfg.benchmark).per_arch(cfg.gt_metric))
        except Exception:  # a benchmark not installed here: candidates left out of the estimate
            cells = 0
    spare = max(cells - lm.m - cfg.eval.pool_size, 0)
    return sum(cfg.eval.pool_size + max(spare - r * lm.grow_k, 0) for r in range(lm.grow_rounds))


def estimate(cfg: RunConfig, seconds_per_epoch: float | None = None) -> dict:
    """Epoch counts, scorings and seconds (None when no rate is known: a GPU config
    without --seconds-per-epoch)."""
    epochs, warm = cfg.train.epochs, cfg.train.warmup_epochs
    regularised = cfg.use_landmarks and cfg.landmarks.max_coef > 0
    reg_epochs = epochs - warm if regularised else 0
    plain_epochs = epochs - reg_epochs
    n_evals = sum(1 for e in range(epochs) if (e + 1) % cfg.eval.every == 0 or e == epochs - 1)
    scorings = n_evals * cfg.eval.pool_size + cfg.landmarks.m  # landmarks are scored once, at the end
    scorings += _growing_scorings(cfg)
    images = _test_images(cfg)
    out = {"plain_epochs": plain_epochs, "reg_epochs": reg_epochs, "evals": n_evals, "scorings": scorings,
           "images": images, "search_images": _search_images(cfg), "seconds": None}
    try:
        train_images = _train_images(cfg)
    except KeyError:
        return out
    if seconds_per_epoch is not None:
        plain_s = float(seconds_per_epoch)
        score_s = plain_s / train_images * SCORE_VS_TRAIN
    elif cfg.device == "cpu":
        plain_s = MICRO_PLAIN_EPOCH_S * train_images / MICRO_TRAIN_IMAGES
        score_s = MICRO_SCORE_S
    else:
        gpu = measured_gpu()
        per_step = (gpu or {}).get("per_step_s", {})
        if f"{cfg.algorithm} plain" not in per_step or f"{cfg.algorithm} regularised" not in per_step:
            return out
        # GDAS / PC-DARTS were timed in their search phase, the dearest: an upper bound
        steps = math.ceil(train_images / cfg.train.batch_size)
        epoch_s = {k: steps * per_step[f"{cfg.algorithm} {k}"] for k in ("plain", "regularised")}
        out["seconds"] = (epoch_s["plain"] * plain_epochs + epoch_s["regularised"] * reg_epochs
                          + gpu["score_s_per_arch_10k"] * (scorings * images + out["search_images"]) / 10_000)
        out["measured_on"] = gpu.get("device", "a GPU")
        return out
    warm_f, plain_f, reg_f, search_f, search_reg_f, score_f = ALGORITHM_COST.get(
        cfg.algorithm, ALGORITHM_COST["spos"])
    search = getattr(cfg.algo, "search_epochs", 0)
    factors = [warm_f if e < warm else
               (search_reg_f if regularised else search_f) if e >= epochs - search else
               (reg_f if regularised else plain_f) for e in range(epochs)]
    out["seconds"] = plain_s * sum(factors) + score_s * score_f * (scorings * images + out["search_images"])
    return out


def _search_images(cfg: RunConfig) -> int:
    """Images the evolutionary search after training scores, at most: every query's held-out
    batches plus one test-batch rescoring per query (a distinct cell each, the upper bound).
    Not counted: training a found cell the table lacks (stand-alone runs of the table's recipe)."""
    from lmreg.algorithms.base import SuperNetTrainer, get_algorithm
    s = cfg.search
    own = get_algorithm(cfg.algorithm).search_candidates is not SuperNetTrainer.search_candidates
    return 0 if own or s.method != "evolution" else 2 * max(s.budget, s.population) * s.batches * s.batch_size


def plan(defn: Definition, scale: str, out_dir: str | Path, seconds_per_epoch: float | None = None) -> list[PlannedRun]:
    """The definition's runs at a scale, one per distinct run (entries may share runs)."""
    out_dir = Path(out_dir)
    runs: dict[str, PlannedRun] = {}
    for entry in defn.grid(scale):
        status = entry_status(entry)
        for seed in entry.seeds:
            cfg, name, done, cost = None, f"{entry.row} seed {seed}", False, {}
            try:  # a config that loads gets its name and cost even when it cannot run here
                cfg = load_config(entry.preset, [*entry.overrides, f"seed={seed}"])
                name = run_name(cfg)
                cost = estimate(cfg, seconds_per_epoch)
            except (ConfigError, KeyError):
                cfg = None
            if not status:
                record = out_dir / name / RECORD_NAME
                if record.exists():
                    if read_record(record)["attrs"]["config"] != to_dict(cfg):
                        raise ConfigError(f"{record} holds a run with a different config than {defn.name} "
                                          f"needs; use another --out")
                    done = finished_record(record, cfg)  # refuses one scored against an older table
            if name in runs:
                if runs[name].config is not None and to_dict(runs[name].config) != to_dict(cfg):
                    raise ConfigError(f"{defn.name}: two grid entries give run {name} different configs")
                continue
            runs[name] = PlannedRun(entry, seed, name, cfg, status, done, cost)
    return list(runs.values())


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(defn: Definition, scale: str, runs: list[PlannedRun], out_dir: Path, workers: int,
                seconds_per_epoch: float | None = None) -> str:
    todo = [r for r in runs if not r.status and not r.done]
    blocked = [r for r in runs if r.status]
    lines = [f"{defn.name} ({defn.title}) at {scale} scale: {len(runs)} runs "
             f"({sum(r.done for r in runs)} finished, {len(todo)} to run, {len(blocked)} not runnable) "
             f"in {out_dir}", ""]
    width = max([len(r.name) for r in runs] + [3])
    lines.append(f"  {'run':{width}s}  {'state':12s} {'plain ep':>8s} {'reg ep':>6s} {'scorings':>18s}  estimate")
    for r in runs:
        state = "NOT RUNNABLE" if r.status else "finished" if r.done else "to run"
        if not r.cost:
            lines.append(f"  {r.name:{width}s}  {state:12s} {'-':>8s} {'-':>6s} {'-':>18s}  -")
            continue
        c = r.cost
        scor = f"{c['scorings']} x {c['images']} img"
        lines.append(f"  {r.name:{width}s}  {state:12s} {c['plain_epochs']:8d} "
                     f"{c['reg_epochs']:6d} {scor:>18s}  {_fmt_s(c['seconds'])}")
    reasons = sorted({r.status for r in blocked})
    for why in reasons:
        lines.append(f"  not runnable: {why}")
    lines.append("")
    costed_blocked = [r for r in blocked if r.cost]
    for what, subset in (("runs to do", todo), ("not runnable runs (once they can run)", costed_blocked)):
        if not subset:
            continue
        secs = [r.cost["seconds"] for r in subset]
        if any(s is None for s in secs):
            lines.append(f"Estimated cost of the {len(subset)} {what}: unknown. GPU hours are unknown for "
                         "configs that run on a GPU until benchmarks/gpu_check.sh has measured a GPU "
                         f"({MEASURED_GPU.relative_to(MEASURED_GPU.parents[2])}); or give --seconds-per-epoch "
                         "with the time of one plain super-net epoch on your device.")
        else:
            total = sum(secs)
            device = subset[0].config.device
            unit = "of one CPU core" if device == "cpu" and seconds_per_epoch is None else "of device time"
            lines.append(f"Estimated cost of the {len(subset)} {what}: {_fmt_s(total)} {unit}; about "
                         f"{_fmt_s(total / max(1, min(workers, len(subset))))} wall-clock with {workers} "
                         f"worker(s) in parallel.")
    if not todo:
        lines.append("Nothing to run." if not blocked else "Nothing runnable to run here.")
    measured = sorted({r.cost["measured_on"] for r in todo + costed_blocked if r.cost.get("measured_on")})
    if measured:
        lines.append(f"GPU runs are estimated from the paper-size step and scoring times measured on "
                     f"{', '.join(measured)} by benchmarks/gpu_paper.py ({MEASURED_GPU.name}).")
    if any(r.cost["seconds"] is not None and not r.cost.get("measured_on") for r in todo + costed_blocked):
        lines.append(ESTIMATE_NOTE if seconds_per_epoch is None else
                     f"This is an estimate from the config at {seconds_per_epoch} s per plain epoch (given), "
                     f"{REG_EPOCH_FACTOR}x per regularised SPOS epoch (other algorithms: their measured factors) "
                     f"and scoring at the micro preset's ratio of "
                     f"scoring to training time; real times vary.")
    return "\n".join(lines)


def collect(defn: Definition, scale: str, out_dir: str | Path) -> list[EntryResult]:
    """Records found in out_dir for each grid entry (unrunnable entries get their reason)."""
    out_dir = Path(out_dir)
    results = []
    for entry in defn.grid(scale):
        status = entry_status(entry)
        records = []
        if not status:
            for seed in entry.seeds:
                cfg = load_config(entry.preset, [*entry.overrides, f"seed={seed}"])
                path = out_dir / run_name(cfg) / RECORD_NAME
                if path.exists():
                    rec = read_record(path)
                    if rec["attrs"]["config"] != to_dict(cfg):
                        raise RecordError(f"{path} holds a run with a different config than {defn.name} needs")
                    finished_record(path, cfg)
                    records.append(rec)
        results.append(EntryResult(entry, records, status))
    return results


# Definitions with rows computed from the grid's finished runs, by the module that computes
# them (its plan, format_plan, compute and collect): B1's rankers score the runs' pools.
DERIVED = {"B1": "lmreg.experiments.b1"}


def derived_stage(name: str):
    import importlib
    return importlib.import_module(DERIVED[name]) if name in DERIVED else None


def render(name: str, scale: str, out_dir: str | Path, level: float = 0.95) -> tuple[str, list[Path]]:
    defn = get_definition(name)
    results = collect(defn, scale, out_dir)
    stage = derived_stage(name)
    if stage is not None:
        results += stage.collect(results, out_dir)
    return defn.render(scale, results, Path(out_dir), level)


def reproduce(name: str, scale: str = "micro", out_dir: str | Path | None = None, workers: int = 2,
              dry_run: bool = False, seconds_per_epoch: float | None = None, level: float = 0.95,
              progress: bool = True, cluster=None) -> str:
    """``cluster``: experiments.cluster.ClusterOptions; None or executor "pool" runs the
    grid in this machine's process pool."""
    defn = get_definition(name)
    defn.grid(scale)
    out_dir = Path(out_dir or f"runs/reproduce-{scale}")
    runs = plan(defn, scale, out_dir, seconds_per_epoch)
    stage = derived_stage(name)
    if dry_run:
        text = format_plan(defn, scale, runs, out_dir, workers, seconds_per_epoch)
        if stage is not None:
            text += "\n\n" + stage.format_plan(stage.plan(runs, collect(defn, scale, out_dir), out_dir), out_dir)
        return text
    runnable = [r for r in runs if not r.status]
    if not runnable:
        reasons = "; ".join(sorted({r.status for r in runs}))
        raise ConfigError(f"{name} at {scale} scale: no run can be made here: {reasons}")
    todo = [r.config for r in runnable if not r.done]
    notes = [f"skipped (not runnable): {r.name}: {r.status}" for r in runs if r.status]
    if todo and cluster is not None and cluster.executor != "pool":
        from lmreg.experiments.cluster import submit_runs
        submit_runs(todo, out_dir, cluster)
    elif todo:
        from lmreg.experiments.runner import run_many
        run_many(todo, out_dir, workers, progress)
    if stage is not None:  # after the runs: the derived rows need their records
        stage.compute(stage.plan(runs, collect(defn, scale, out_dir), out_dir), progress)
    text, paths = render(name, scale, out_dir, level)
    return "\n".join([*notes, text, "", "written: " + ", ".join(str(p) for p in paths)])
