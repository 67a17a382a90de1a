"""Run summaries: the part of a run record that the tables and figures read, as small
JSON files that can be committed, so that a published table is re-rendered from the
repository without retraining.

A summary set is a folder: one ``<run name>.json`` per run and a manifest,
``summaries.json``, naming the table it belongs to (definition and scale, or none for
`lmreg report`), the SHA-256 of every run file, the rows that could not run and why,
and the SHA-256 of its own content. A table whose rows are also computed from its runs
(B1's rankers, experiments/b1.py) adds those derived records, each named by its folder
under the runs folder (``B1-rankers/<ranker>-seed<N>.json``) and naming its source run,
which must be a run of the set. A file that is missing, truncated or edited is refused
in one line. Reading a summary gives a record of the shape ``read_record`` gives (attrs,
tables as DataFrames, path), so every renderer reads both alike.

Bytes are deterministic (sorted keys, floats in Python's round-trip notation, no
times), so exporting the same records again changes no byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from lmreg.core.errors import UserError
from lmreg.core.fileio import read_json, write_text

RUN_FORMAT = "lmreg-run-summary/1"
SET_FORMAT = "lmreg-summaries/1"
MANIFEST = "summaries.json"

# What the renderers read of a record: attrs whole, or the listed keys of them; tables whole
# (their columns as stored). Left out: training curves, library versions, draw seeds.
# A derived record (a B1 ranker's) has no config: its ranker, settings and source run instead.
ATTRS = {"config": None, "final_metrics": None, "ground_truth": None, "timings": None, "git_commit": None,
         "search_result": ("arch", "gt", "gt_source", "gt_percentile", "queries", "method"),
         "kind": None, "ranker": None, "ranker_kind": None, "settings": None, "source_run": None,
         "gt_labels": None, "nonfinite_scores": None}
TABLES = ("pool", "landmarks", "evals", "grow")


class SummaryError(UserError, ValueError):
    pass


def _dumps(data) -> str:
    return json.dumps(data, sort_keys=True, indent=1, allow_nan=True) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _columns(table) -> dict[str, list]:
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    return {col: frame[col].tolist() for col in frame.columns}


def run_summary(record: dict, noise_ceiling: dict | None = None) -> dict:
    """The summary of a record (as read_record gives it): the attrs and tables the renderers
    read, and for a run (a record with a config) the noise ceiling of its ground truth
    (paper_figures.noise; None when the GT has too few seeds or is not installed), so that
    rendering needs no ground-truth file."""
    attrs = {}
    for key, keep in ATTRS.items():
        if key in record["attrs"]:
            value = record["attrs"][key]
            attrs[key] = {k: value[k] for k in keep if k in value} if keep else value
    if "config" in record["attrs"]:
        attrs["noise_ceiling"] = noise_ceiling
    tables = {name: _columns(record["tables"][name]) for name in TABLES if name in record["tables"]}
    return {"format": RUN_FORMAT, "attrs": attrs, "tables": tables}


def write_set(folder: str | Path, records: list[dict], definition: str = "", scale: str = "",
              statuses: dict[str, str] | None = None, derived: dict[str, dict] | None = None) -> list[Path]:
    """Summaries of ``records`` (one per run folder name), of the ``derived`` records (name, e.g.
    ``B1-rankers/snip-seed0``, to record; each names its source run, one of ``records``, in
    attrs.source_run) and their manifest in ``folder``. Files of an earlier export that this one
    lacks are removed (files no manifest lists are never read)."""
    from lmreg.paper_figures.noise import ceiling_of_runs
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        previous = read_manifest(folder)
        old = {**previous["runs"], **previous.get("derived", {})}
    except SummaryError:  # none yet, or damaged: this export replaces it
        old = {}
    runs, sources, ceilings, paths = {}, {}, {}, []
    for rec in records:
        name = Path(rec["path"]).parent.name
        if name in sources:
            if sources[name] != rec["path"]:  # a run name is its config and seed: the same run twice
                raise SummaryError(f"two records of run {name}: {sources[name]} and {rec['path']}")
            continue
        sources[name] = rec["path"]
        cfg = rec["attrs"]["config"]
        key = (cfg["benchmark"], cfg.get("gt_metric"))
        if key not in ceilings:
            ceilings[key] = ceiling_of_runs([rec])
        text = _dumps(run_summary(rec, ceilings[key]))
        runs[name] = _sha(text)
        paths.append(write_text(folder / f"{name}.json", text))
    body = {"format": SET_FORMAT, "definition": definition, "scale": scale, "runs": runs,
            "not_runnable": dict(statuses or {})}
    if derived:  # only then: a set without derived records keeps its bytes
        body["derived"] = {}
        for name, rec in sorted(derived.items()):
            source = rec["attrs"].get("source_run")
            if source not in runs:
                raise SummaryError(f"{rec['path']}: its source run {source} is not among the runs exported")
            text = _dumps(run_summary(rec))
            body["derived"][name] = _sha(text)
            paths.append(write_text(folder / f"{name}.json", text))
    paths.append(write_text(folder / MANIFEST, _dumps({**body, "sha256": _sha(_dumps(body))})))
    for name in set(old) - set(runs) - set(body.get("derived", {})):
        (folder / f"{name}.json").unlink(missing_ok=True)
    return paths


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a summary set, its own checksum checked."""
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise SummaryError(f"{folder}: no such summary folder")
    _, data = read_json(path, "summary manifest (export one with `lmreg reproduce NAME --export-summaries`)",
                        SummaryError)
    if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
        raise SummaryError(f"{path}: not an lmreg summary manifest")
    body = {k: v for k, v in data.items() if k != "sha256"}
    if data.get("sha256") != _sha(_dumps(body)):
        raise SummaryError(f"{path}: damaged summary manifest (its content does not match its checksum); "
                           "export the set again")
    return data


def read_summary(folder: str | Path, name: str, manifest: dict, section: str = "runs") -> dict:
    """The summary of run ``name`` (of a derived record with section "derived") as a record
    (attrs, tables as DataFrames, path)."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        what = "run" if section == "runs" else "derived record"
        raise SummaryError(f"{path}: missing: {MANIFEST} lists {what} {name} but its summary is not there")
    text, data = read_json(path, "run summary", SummaryError)
    if _sha(text) != manifest[section][name]:
        raise SummaryError(f"{path}: damaged run summary (its bytes do not match the checksum in {MANIFEST}); "
                           "export the set again")
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise SummaryError(f"{path}: not an lmreg run summary")
    tables = {k: pd.DataFrame(v) for k, v in data["tables"].items()}
    return {"attrs": data["attrs"], "tables": tables, "path": str(path)}


def read_set(folder: str | Path) -> tuple[dict, dict[str, dict]]:
    """(manifest, run name -> record) of a summary set."""
    manifest = read_manifest(folder)
    return manifest, {name: read_summary(folder, name, manifest) for name in sorted(manifest["runs"])}


def read_derived(folder: str | Path, manifest: dict) -> dict[str, dict]:
    """Name -> record of the derived records of a summary set (read_manifest's ``manifest``),
    each of whose source run must be a run of the set."""
    out = {}
    for name in sorted(manifest.get("derived", {})):
        rec = read_summary(folder, name, manifest, "derived")
        source = rec["attrs"].get("source_run")
        if source not in manifest["runs"]:
            raise SummaryError(f"{rec['path']}: its source run {source} is not a run of the set ({MANIFEST} does "
                               "not list it); export the set again")
        out[name] = rec
    return out
