"""Any ranker's scores, from a file, evaluated as the harness evaluates its own super-nets
(`lmreg score FILE --benchmark NAME`).

A score file gives one score per architecture (higher: predicted better):
* CSV with a header naming an ``arch`` column and a ``score`` column (other columns are
  ignored), or exactly two columns (architecture, score);
* JSON: an object {architecture: score} or a list of {"arch": ..., "score": ...}.
Architectures are written in any form the space parses (NB201: the official string;
NB101: the cell key) and compared by the space's key. Refused, in one line: an architecture the space cannot parse, the same
architecture twice, a non-finite score, and a file that does
not score every pool architecture of every seed.

Per seed, the landmarks and the evaluation pool are drawn from the run config exactly as
a super-net run draws them (experiments.runner.choose_archs); each seed becomes an
in-memory record shaped like a run's (config, final metrics, pool and landmark tables
with the file's scores as ``score_acc``), so the same aggregation (paper_figures.aggregate),
noise ceiling and rank-scatter figure apply unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from lmreg.core.errors import UserError


class ScoreFileError(UserError, ValueError):
    """A score file that cannot be evaluated; the message says why, in one line."""


def _rows_csv(text: str, path: Path) -> list[tuple[str, str]]:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise ScoreFileError(f"{path}: empty score file")
    header = [c.strip().lower() for c in rows[0]]
    if "arch" in header and "score" in header:
        a, s, first = header.index("arch"), header.index("score"), 1
    elif len(header) == 2:
        a, s, first = 0, 1, 0 if _is_number(rows[0][1]) else 1  # no header when the first row is data
    else:
        raise ScoreFileError(f"{path}: a CSV score file needs columns 'arch' and 'score' (or exactly two columns)")
    out = []
    for i, r in enumerate(rows[first:], start=first + 1):
        if len(r) <= max(a, s):
            raise ScoreFileError(f"{path}: row {i} has {len(r)} column(s), expected an architecture and a score")
        out.append((r[a].strip(), r[s].strip()))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _rows_json(text: str, path: Path) -> list[tuple[str, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScoreFileError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(data, dict):
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, list) and all(isinstance(r, dict) and {"arch", "score"} <= set(r) for r in data):
        return [(str(r["arch"]), r["score"]) for r in data]
    raise ScoreFileError(f"{path}: a JSON score file must be an object {{arch: score}} or a list of "
                         "{\"arch\": ..., \"score\": ...}")


def _duplicate_json_keys(text: str) -> str | None:
    """A key that one JSON object lists twice (json.loads would keep only the last)."""
    dup = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        dup.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(pairs)
    try:
        json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError:
        return None
    return dup[0] if dup else None


def read_scores(path: str | Path, space_name: str) -> pd.Series:
    """{space key: score} of a score file, checked (see the module docstring)."""
    from lmreg.spaces.base import ArchError, get_space
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ScoreFileError(f"{path}: cannot read the score file ({type(e).__name__}: {e})") from None
    if path.suffix.lower() == ".json":
        dup = _duplicate_json_keys(text)
        if dup is not None:
            raise ScoreFileError(f"{path}: architecture {dup!r} is listed twice")
        rows = _rows_json(text, path)
    else:
        rows = _rows_csv(text, path)
    space = get_space(space_name)
    scores: dict[str, float] = {}
    for arch, value in rows:
        try:
            key = space.key(space.parse(arch))
        except (ArchError, ValueError, TypeError) as e:
            raise ScoreFileError(f"{path}: unknown architecture {arch!r} ({e})") from None
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise ScoreFileError(f"{path}: the score of {arch!r} is {value!r}, not a finite number")
        if key in scores:
            raise ScoreFileError(f"{path}: architecture {arch!r} is listed twice")
        scores[key] = score
    if len(scores) < 2:
        raise ScoreFileError(f"{path}: needs scores for at least 2 architectures, got {len(scores)}")
    return pd.Series(scores, name="score").sort_index()


def check_covers(scores: pd.Series, archs, what: str, path: str | Path) -> None:
    missing = [a for a in archs if a not in scores.index]
    if missing:
        raise ScoreFileError(f"{path}: no score for {len(missing)} of the {len(archs)} architectures of {what} "
                             f"(first: {missing[0]}); score every architecture of the benchmark")


def search_on_scores(scores: pd.Series, gt: pd.Series, cfg) -> dict:
    """The official regularised evolution (algorithms/search.py) with the file's scores as
    the fitness, as a super-net run searches its super-net (the run config's `search`
    section, the run's own random stream): the best of the distinct queried cells, its GT
    and its GT percentile among all cells of the table (100 * cells with lower GT / (cells
    - 1)). A cell the file does not score cannot win a tournament (fitness -inf) but its
    query counts, as every query does; a found cell the table lacks has GT NaN (a score
    file's search trains nothing)."""
    import random

    from lmreg.algorithms.search import regularized_evolution
    from lmreg.experiments.runner import table_key
    from lmreg.spaces.base import get_space
    space, s = get_space(cfg.space), cfg.search
    keys = {}

    def fitness(arch) -> float:
        if arch not in keys:
            keys[arch] = table_key(space, arch, scores.index)
        return float(scores[keys[arch]]) if keys[arch] is not None else -math.inf
    found = regularized_evolution(space.sample_path, space.mutate, fitness, random.Random(cfg.seed + 7),
                                  s.population, s.tournament, s.budget, top=s.top)
    best, score = found.top[0]
    if not math.isfinite(score):
        raise ScoreFileError(f"the search's {found.queries} queries found no cell the score file scores: "
                             "score every architecture of the space")
    arch = keys[best]
    gt_all = np.sort(gt.to_numpy())
    value = float(gt[arch]) if arch in gt.index else math.nan
    lower = np.searchsorted(gt_all, value, side="left") if math.isfinite(value) else math.nan
    return {"method": f"regularised evolution over the file's scores (population {s.population}, tournament "
                      f"{s.tournament}, {s.budget} queries)",
            "arch": arch, "gt": value, "gt_source": "table" if math.isfinite(value) else "missing (not in the table)",
            "score": score, "queries": found.queries,
            "scored_queries": sum(math.isfinite(f) for _, f in found.history),
            "candidates": len({keys[a] or space.key(a) for a, _ in found.history}),
            "top": [[keys[a] or space.key(a), float(v)] for a, v in found.top],
            "gt_percentile": float(100.0 * lower / (len(gt_all) - 1))}


def seed_record(cfg, label: str, scores: pd.Series, gt: pd.Series, landmarks: list[str], pool: list[str],
                search: dict | None = None) -> dict:
    """One seed's in-memory record: shaped like a super-net run's (the fields the aggregation,
    the noise ceiling and the rank-scatter figure read)."""
    from lmreg.experiments.runconfig import to_dict
    from lmreg.paper_figures.metrics import all_metrics
    config = {**to_dict(cfg), "name": label}
    pred, truth = scores.loc[pool].to_numpy(float), gt.loc[pool].to_numpy(float)
    metrics = all_metrics(pred, truth)
    if search is not None:
        metrics["search_gt_percentile"] = search["gt_percentile"]
    return {"attrs": {"config": config, "final_metrics": metrics, "search_result": search or {}},
            "tables": {"pool": pd.DataFrame({"arch": pool, "gt": truth, "score_acc": pred}),
                       "landmarks": pd.DataFrame({"arch": landmarks, "gt": gt.loc[landmarks].to_numpy(float),
                                                  "score_acc": scores.reindex(landmarks).to_numpy(float)})}}


def configs_for(benchmark: str, seeds: list[int], preset: str | None = None, overrides: list[str] = ()):
    """One RunConfig per seed: the preset (default: the space's paper preset) on ``benchmark``,
    its GT metric the table's own unless overridden, on the CPU (nothing is trained)."""
    from lmreg.bench import registry
    from lmreg.bench.ground_truth import gt_metric
    from lmreg.experiments.checks import check_runnable
    from lmreg.experiments.runconfig import load_config
    table = registry.load(benchmark)
    preset = preset or PAPER_PRESETS.get(table.space)
    base = [f"benchmark={benchmark}", f"space={table.space}", f"gt_metric={gt_metric(table)}", "device=cpu"]
    out = []
    for seed in seeds:
        cfg = load_config(preset, [*base, *overrides, f"seed={seed}"])
        check_runnable(cfg)
        out.append(cfg)
    return out


PAPER_PRESETS = {"nb201": "nb201-cifar10"}  # M = 50 landmarks, pools of 200, draws from the run seed


def evaluate_file(path: str | Path, configs, label: str | None = None) -> list[dict]:
    """The per-seed records of a score file on the runs ``configs`` would make."""
    from lmreg.bench import registry
    from lmreg.experiments.runner import choose_archs
    label = label or Path(path).stem
    scores = read_scores(path, configs[0].space)
    gt = registry.load(configs[0].benchmark).per_arch(configs[0].gt_metric).dropna()
    records = []
    for cfg in configs:
        _, landmarks, pool = choose_archs(cfg)
        check_covers(scores, pool, f"seed {cfg.seed}'s evaluation pool", path)
        records.append(seed_record(cfg, label, scores, gt, landmarks, pool, search_on_scores(scores, gt, cfg)))
    return records


def render(records: list[dict], out_dir: str | Path, level: float = 0.95) -> dict:
    """summary.md/.csv/.tex (every ranking metric and the search result, t and hierarchical
    bootstrap intervals, the noise ceiling) and rank_scatter.png/pdf under ``out_dir``."""
    from lmreg.bench import registry
    from lmreg.paper_figures.aggregate import RANKING_METRICS, Group, group_table, interval_legend, write_tables
    from lmreg.paper_figures.metrics import METRICS
    from lmreg.paper_figures.noise import ceiling_text, noise_ceiling
    from lmreg.paper_figures.plots import rank_scatter_panels
    out_dir = Path(out_dir)
    cfg = records[0]["attrs"]["config"]
    group = Group(cfg["name"], cfg, sorted(records, key=lambda r: r["attrs"]["config"]["seed"]))
    metrics = tuple(dict.fromkeys([*RANKING_METRICS, *METRICS, "search_gt_percentile"]))
    display, data = group_table([group], metrics, level)
    try:
        ceiling = noise_ceiling(registry.load(cfg["benchmark"]).seed_matrix(cfg["gt_metric"]))
        ceiling_line = ceiling_text(ceiling)
    except ValueError:
        ceiling, ceiling_line = None, "noise ceiling: the GT has fewer than 2 seeds per architecture"
    search = records[0]["attrs"]["search_result"]
    preamble = "\n\n".join([
        f"Score file `{cfg['name']}` against `{cfg['benchmark']}` ({cfg['gt_metric']}): {len(records)} seeds "
        f"({', '.join(str(r['attrs']['config']['seed']) for r in group.records)}), landmarks m={cfg['landmarks']['m']} "
        f"({cfg['landmarks']['selection']}) and pools of {cfg['eval']['pool_size']} drawn per seed as super-net "
        "runs draw them (landmarks never in the pool).",
        interval_legend(level), ceiling_line,
        f"Search per seed, {search['method']}; seed {cfg['seed']} found {search['arch']} (GT {search['gt']:.3f}, "
        f"GT percentile {search['gt_percentile']:.2f}; {search['scored_queries']} of {search['queries']} queries "
        "scored by the file); every seed's percentile is the search_gt_percentile row."])
    files = write_tables(out_dir / "summary", display.T.reset_index().rename(columns={"index": "metric", 0: "value"}),
                         data, caption=f"score file {cfg['name']}", preamble=preamble)
    files += rank_scatter_panels([(f"seed {r['attrs']['config']['seed']}", r) for r in group.records[:4]],
                                 out_dir / "rank_scatter", title=f"{cfg['name']} on {cfg['benchmark']}")
    return {"files": files, "data": data, "ceiling": ceiling, "search": search, "preamble": preamble,
            "display": display}
