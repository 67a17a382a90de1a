"""`lmreg reproduce NAME`: run a table's or figure's grid (finished runs skipped,
interrupted ones resumed) and render it. Also the dry-run plan with a cost estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmreg.core.errors import UserError
from lmreg.experiments.config import ConfigError
from lmreg.experiments.run_folders import finished_record
from lmreg.experiments.runconfig import PRESET_DIR, RunConfig, load_config, run_name, same_config, to_dict
from lmreg.paper_figures.definitions import Definition, EntryResult, GridEntry, get_definition
from lmreg.results.records import RECORD_NAME, RecordError, read_record

# The CPU cost model's measurements, written by benchmarks/algorithm_epochs.py --json: the plain
# SPOS epoch and scoring in seconds per image, and every algorithm's epochs (warm-up, plain,
# regularised, search, search regularised) and scoring in units of SPOS's.
MEASURED_CPU = Path(__file__).resolve().parent / "measured" / "cpu_epochs.json"
EPOCH_KINDS = ("warmup", "plain", "regularised", "search", "search_regularised", "scoring")


def measured_cpu(path: Path | None = None) -> dict | None:
    """The CPU figures of benchmarks/algorithm_epochs.py, or None (missing, unreadable, not in its
    format, or a --quick smoke run)."""
    import json
    path = Path(path or MEASURED_CPU)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != "lmreg-cpu-epochs/1" or data.get("quick"):
        return None
    per_image = (data.get("spos_plain_epoch_s_per_image"), data.get("spos_score_s_per_arch_image"))
    factors = data.get("factors")
    if not all(isinstance(v, (int, float)) and v > 0 for v in per_image) or not isinstance(factors, dict):
        return None
    if not all(isinstance(f, dict) and all(isinstance(f.get(k), (int, float)) and f[k] > 0 for k in EPOCH_KINDS)
               for f in factors.values()):
        return None
    return data


FOUND_CELL_NOTE = ("a run whose search may find a cell the table lacks includes training it stand-alone (at most: "
                   "the table's seeds x the median run time it recorded when built)")


def estimate_note(cpu: dict, seconds_per_epoch: float | None) -> str:
    """How the CPU (or --seconds-per-epoch) estimates were made, from the measurement file."""
    spos = cpu["factors"].get("spos", {})
    source = (f"benchmarks/algorithm_epochs.py ({cpu.get('when', '?')}, {cpu.get('cpu', 'cpu')}, "
              f"{cpu.get('threads', '?')} thread(s); super-net weights {cpu.get('weights', 'fresh')})")
    if seconds_per_epoch is not None:
        return (f"This is an estimate from the config at {seconds_per_epoch} s per plain epoch (given), each "
                f"algorithm's epoch and scoring factors (regularised SPOS epoch {spos.get('regularised', '?')}x) "
                f"and scoring at the measured ratio of scoring to training time, all from {source}; "
                "real times vary.")
    return (f"This is an estimate from the config (plain and regularised epochs, ~{spos.get('regularised', '?')}x for "
            f"a regularised SPOS epoch, the other algorithms' factors, pool and landmark scorings), with the "
            f"times {source} measured: a plain SPOS epoch "
            f"{1000 * cpu['spos_plain_epoch_s_per_image']:.3f} s per 1000 training images, scoring "
            f"{1e6 * cpu['spos_score_s_per_arch_image']:.1f} s per architecture and million images; CPU configs "
            f"are scaled by training-set size and images scored, and by their space's network (its micro "
            f"preset's SPOS epoch and scoring against NB201's); {FOUND_CELL_NOTE}. Real times vary with the "
            "machine and its load.")


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


def _images(cfg: RunConfig) -> tuple[int, int]:
    """(training images per epoch, images per scoring), from the registered task and dataset
    (an unknown name is an error)."""
    from lmreg.bench.datasets.tasks import get_spec, split_sizes
    sizes = split_sizes(get_spec(cfg.task))
    return sizes["train"], cfg.eval.n_images or sizes["test"]


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
    without --seconds-per-epoch, or an algorithm the CPU measurements do not cover)."""
    epochs, warm = cfg.train.epochs, cfg.train.warmup_epochs
    regularised = cfg.use_landmarks and cfg.landmarks.max_coef > 0
    reg_epochs = epochs - warm if regularised else 0
    plain_epochs = epochs - reg_epochs
    n_evals = sum(1 for e in range(epochs) if (e + 1) % cfg.eval.every == 0 or e == epochs - 1)
    scorings = n_evals * cfg.eval.pool_size + cfg.landmarks.m  # landmarks are scored once, at the end
    scorings += _growing_scorings(cfg)
    train_images, images = _images(cfg)
    out = {"plain_epochs": plain_epochs, "reg_epochs": reg_epochs, "evals": n_evals, "scorings": scorings,
           "images": images, "search_images": _search_images(cfg), "seconds": None}
    if cfg.device != "cpu" and seconds_per_epoch is None:
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
    cpu = measured_cpu()
    f = (cpu or {}).get("factors", {}).get(cfg.algorithm)
    if f is None:  # no measurement, or an algorithm it did not time
        return out
    # the space's micro network against NB201's (the cells every factor above was timed on)
    space_factor = {"nb201": {"train": 1.0, "score": 1.0}, **cpu.get("space_factors", {})}.get(cfg.space)
    if space_factor is None:  # a space whose network was not timed
        return out
    score_vs_train = cpu["spos_score_s_per_arch_image"] / cpu["spos_plain_epoch_s_per_image"]
    if seconds_per_epoch is not None:
        plain_s = float(seconds_per_epoch)
        score_s = plain_s / train_images * score_vs_train
    else:
        plain_s = cpu["spos_plain_epoch_s_per_image"] * train_images
        score_s = cpu["spos_score_s_per_arch_image"]
    search = getattr(cfg.algo, "search_epochs", 0)
    factors = [f["warmup"] if e < warm else
               f["search_regularised" if regularised else "search"] if e >= epochs - search else
               f["regularised" if regularised else "plain"] for e in range(epochs)]
    from lmreg.algorithms.base import get_algorithm
    extra = get_algorithm(cfg.algorithm).extra_costs(cfg)
    if any(kind not in f for kind in extra):  # measured before the algorithm had that kind of work
        return out
    # an extra kind does not grow with the training set: its factor is in plain SPOS epochs of
    # the measurement's own epoch (images_per_epoch)
    extra_epochs = sum(f[kind] * n for kind, n in extra.items()) * cpu.get("images_per_epoch", train_images) / train_images
    out["found_cell_s"] = _found_cell_s(cfg)
    out["seconds"] = plain_s * space_factor["train"] * (sum(factors) + extra_epochs) \
        + score_s * space_factor["score"] * f["scoring"] * (scorings * images + out["search_images"]) \
        + out["found_cell_s"]
    return out


def _found_cell_s(cfg: RunConfig) -> float:
    """CPU seconds of training the searched cell stand-alone when the table lacks it, at most
    (the search finds a cell outside a micro table most of the time): one run of the table's
    recipe per table seed, at the median run time the table recorded when it was built. 0 when
    the search cannot need it (its own search, the pool method, train_missing off, a table
    without a recipe or not installed here)."""
    if not _runs_evolution(cfg) or not cfg.search.train_missing:
        return 0.0
    from lmreg.bench import registry
    try:
        table = registry.load(cfg.benchmark)
    except (UserError, OSError):  # not installed here: no recorded times to go by
        return 0.0
    recipe = getattr(table, "recipe", None)
    if not recipe:
        return 0.0
    wall = np.asarray(table.scalars["wall_time"], dtype=float)
    wall = wall[np.isfinite(wall)]
    if not len(wall):
        return 0.0
    return float(len(table.seed_matrix(cfg.gt_metric).columns) * np.median(wall))


def _search_images(cfg: RunConfig) -> int:
    """Images the evolutionary search after training scores, at most: every query's held-out
    batches plus one test-batch rescoring per query (a distinct cell each, the upper bound).
    Training a found cell the table lacks is `_found_cell_s`'s."""
    s = cfg.search
    return 2 * max(s.budget, s.population) * s.batches * s.batch_size if _runs_evolution(cfg) else 0


def _runs_evolution(cfg: RunConfig) -> bool:
    """Whether the run searches by the official evolution over its super-net (not the pool
    method, not an algorithm with its own search)."""
    from lmreg.algorithms.base import SuperNetTrainer, get_algorithm
    own = get_algorithm(cfg.algorithm).search_candidates is not SuperNetTrainer.search_candidates
    return not own and cfg.search.method == "evolution"


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
                    if not same_config(read_record(record)["attrs"]["config"], cfg):
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
                         "with the time of one plain super-net epoch on your device. An algorithm that "
                         f"{MEASURED_CPU.name} does not list needs benchmarks/algorithm_epochs.py run for it.")
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
        lines.append(estimate_note(measured_cpu(), seconds_per_epoch))
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
                    if not same_config(rec["attrs"]["config"], cfg):
                        raise RecordError(f"{path} holds a run with a different config than {defn.name} needs")
                    finished_record(path, cfg)
                    records.append(rec)
        results.append(EntryResult(entry, records, status))
    return results


# Definitions with rows computed from the grid's finished runs, by the module that computes
# them (its plan, format_plan, compute and collect): B1's rankers score the runs' pools.
DERIVED = {"B1": "lmreg.experiments.b1"}


# Definitions computed from ground-truth labels alone, with no grid of runs: their module's
# reproduce(scale, out_dir, dry_run, level, score_files, progress) does all of it.
LABELS_ONLY = {"B2": "lmreg.experiments.b2"}


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


def _grid_only(name: str, what: str) -> Definition:
    """The definition, refused when its table is not rendered from its grid's records (and the
    records its derived stage computes from them)."""
    defn = get_definition(name)
    if name in LABELS_ONLY:
        raise ConfigError(f"{what} covers tables rendered from their grid's runs (and the rankers computed on "
                          f"them); {name} is not one (its rows come from ground-truth labels)")
    return defn


def export_summaries(name: str, scale: str, out_dir: str | Path, dest: str | Path) -> str:
    """Write the summaries (paper_figures.summaries) of the runs of a definition's grid found in out_dir,
    of the derived records computed from them (B1's rankers), and the rows that cannot run here,
    into dest."""
    from lmreg.paper_figures.summaries import write_set
    defn = _grid_only(name, "--export-summaries")
    results = collect(defn, scale, out_dir)
    records = [r for er in results for r in er.records]
    if not records:
        raise ConfigError(f"{name} at {scale} scale: no run records in {out_dir} to export")
    statuses = {er.entry.row: er.status for er in results if er.status}
    stage = derived_stage(name)
    derived = {}
    if stage is not None:  # each named by its record's folder under out_dir (B1-rankers/...)
        derived = {Path(r["path"]).parent.relative_to(out_dir).as_posix(): r
                   for er in stage.collect(results, out_dir) for r in er.records}
    paths = write_set(dest, records, name, scale, statuses, derived)
    extra = f" and {len(derived)} derived record summaries" if derived else ""
    return (f"{name} at {scale} scale: {len(paths) - 1 - len(derived)} run summaries{extra} from {out_dir} "
            f"written to {dest}")


def collect_summaries(defn: Definition, scale: str, folder: str | Path) -> list[EntryResult]:
    """What ``collect`` (and the derived stage's collect, as ``render`` calls them) gives, from a
    summary set exported for this definition and scale: every run it lists must be a run of
    today's grid with the same config, scored against today's ground truth where that is
    installed here; every derived record one the stage reads, checked against its source run."""
    from lmreg.experiments.run_folders import ground_truth_info
    from lmreg.paper_figures.summaries import MANIFEST, SummaryError, read_derived, read_set
    manifest, runs = read_set(folder)
    derived = read_derived(folder, manifest)
    if (manifest["definition"], manifest["scale"]) != (defn.name, scale):
        raise SummaryError(f"{folder}: holds the summaries of {manifest['definition'] or '`lmreg report`'}"
                           f"{' at ' + manifest['scale'] + ' scale' if manifest['scale'] else ''}, "
                           f"not of {defn.name} at {scale} scale")
    used, digests, results = set(), {}, []
    for entry in defn.grid(scale):
        records = []
        for seed in entry.seeds:
            cfg = load_config(entry.preset, [*entry.overrides, f"seed={seed}"])
            name = run_name(cfg)
            if name not in runs:
                continue
            rec = runs[name]
            if not same_config(rec["attrs"]["config"], cfg):
                raise SummaryError(f"{rec['path']} holds a run with a different config than {defn.name} needs "
                                   "today; rerun it and export the set again")
            key = (cfg.benchmark, cfg.gt_metric)
            if key not in digests:
                try:
                    digests[key] = ground_truth_info(cfg)["digest"]
                except UserError:  # not installed here: the summary's own digest is all there is
                    digests[key] = None
            stored = rec["attrs"].get("ground_truth", {}).get("digest")
            if digests[key] is not None and stored != digests[key]:
                raise SummaryError(f"{rec['path']} was scored against another version of {cfg.benchmark!r} "
                                   "than the one installed here; rerun it and export the set again")
            used.add(name)
            records.append(rec)
        results.append(EntryResult(entry, records, manifest["not_runnable"].get(entry.row, "")))
    extra = sorted(set(runs) - used)
    if extra:
        raise SummaryError(f"{folder}/{MANIFEST} lists run(s) that {defn.name}'s {scale} grid does not have: "
                           f"{', '.join(extra)}")
    stage = derived_stage(defn.name)
    if stage is not None:
        results += stage.collect(results, None, records=derived)
    read = {id(r) for er in results for r in er.records}
    extra = sorted(name for name, rec in derived.items() if id(rec) not in read)
    if extra:
        raise SummaryError(f"{folder}/{MANIFEST} lists derived record(s) that {defn.name}'s {scale} grid does not "
                           f"have: {', '.join(extra)}")
    return results


def render_summaries(name: str, scale: str, folder: str | Path, out_dir: str | Path,
                     level: float = 0.95) -> tuple[str, list[Path]]:
    """``render`` from a summary set instead of records."""
    defn = _grid_only(name, "--summaries")
    return defn.render(scale, collect_summaries(defn, scale, folder), Path(out_dir), level)


def reproduce(name: str, scale: str = "micro", out_dir: str | Path | None = None, workers: int = 2,
              dry_run: bool = False, seconds_per_epoch: float | None = None, level: float = 0.95,
              progress: bool = True, cluster=None, score_files=()) -> str:
    """``cluster``: experiments.cluster.ClusterOptions; None or executor "pool" runs the
    grid in this machine's process pool. ``score_files``: rankers' score files for the
    definitions that take them (B2)."""
    defn = get_definition(name)
    if name in LABELS_ONLY:
        import importlib
        return importlib.import_module(LABELS_ONLY[name]).reproduce(scale, out_dir, dry_run, level, score_files,
                                                                    progress)
    if score_files:
        raise ConfigError(f"--scores applies to {', '.join(LABELS_ONLY)} only, not {name}")
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
        from lmreg.experiments.cluster_runs import submit_runs
        submit_runs(todo, out_dir, cluster)
    elif todo:
        from lmreg.experiments.runner import run_many
        run_many(todo, out_dir, workers, progress)
    if stage is not None:  # after the runs: the derived rows need their records
        stage.compute(stage.plan(runs, collect(defn, scale, out_dir), out_dir), progress)
    text, paths = render(name, scale, out_dir, level)
    return "\n".join([*notes, text, "", "written: " + ", ".join(str(p) for p in paths)])
