"""Run summaries (paper_figures/summaries.py): a table rendered from exported summaries is the
table rendered from the records, byte for byte; a damaged or incomplete summary set is
refused in one line; and every summary set committed under results/summaries/ re-renders
its committed table (docs/results/<set>.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lmreg.experiments.reproduce import render, render_summaries
from lmreg.paper_figures.report import report
from lmreg.paper_figures.summaries import MANIFEST, SummaryError, read_manifest, read_set, write_set
from tests.fixtures import TINY_SET, run_main
from tests.test_analysis import write_grid

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "summaries"
TABLES = ROOT / "docs" / "results"


def _files(folder: Path, names) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> Path:
    """Four real runs of seconds: baseline and landmarks, seeds 0 and 1."""
    from lmreg.experiments.runconfig import load_config
    from lmreg.experiments.runner import run
    out = tmp_path_factory.mktemp("tiny") / "runs"
    for seed in (0, 1):
        for landmarks in ("false", "true"):
            run(load_config("quick", [*TINY_SET, f"seed={seed}", f"use_landmarks={landmarks}"]), out)
    return out


def test_report_from_summaries_is_the_report_from_real_records(tiny_runs, tmp_path, capsys):
    text, paths = report([tiny_runs], tmp_path / "records")
    assert run_main(["report", tiny_runs, "--export-summaries", tmp_path / "sums"], capsys)[0] == 0
    summaries = sorted(p.name for p in (tmp_path / "sums").iterdir())
    assert len(summaries) == 5 and MANIFEST in summaries  # four runs and the manifest
    # the figures read pools, landmarks and evaluations: they render from summaries too
    text2, paths2 = report([], tmp_path / "summaries", summaries=tmp_path / "sums")
    assert text2 == text
    tables = [p.name for p in paths if p.suffix in (".md", ".csv", ".tex")]
    assert len(tables) == 6 and {p.name for p in paths2} == {p.name for p in paths}
    assert _files(tmp_path / "summaries", tables) == _files(tmp_path / "records", tables)
    # a second export of the same records is the same bytes
    first = {p.name: p.read_bytes() for p in (tmp_path / "sums").iterdir()}
    assert run_main(["report", tiny_runs, "--export-summaries", tmp_path / "again"], capsys)[0] == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()} == first


def test_t1_from_summaries_is_t1_from_records(tmp_path, capsys, monkeypatch):
    runs = write_grid("T1", tmp_path / "runs", seeds=(0, 1))
    shutil.rmtree(tmp_path / "runs" / next(r.name for r in runs if r.name.startswith("micro-gdas-landmarks-seed1")))
    tables = ["T1.md", "T1.csv", "T1.tex"]
    render("T1", "micro", tmp_path / "runs")
    assert run_main(["reproduce", "T1", "--out", tmp_path / "runs", "--export-summaries", tmp_path / "sums"],
                    capsys)[0] == 0
    assert len(read_manifest(tmp_path / "sums")["runs"]) == 27  # 14 rows x 2 seeds, one run missing
    from lmreg.bench import registry
    from lmreg.bench.gt_table import GTFileError

    def no_ground_truth(name):
        raise GTFileError(f"{name}: not installed")
    monkeypatch.setattr(registry, "load", no_ground_truth)  # summaries carry the GT's noise ceiling
    assert run_main(["reproduce", "T1", "--render-only", "--summaries", tmp_path / "sums",
                     "--out", tmp_path / "rendered"], capsys)[0] == 0
    assert _files(tmp_path / "rendered", tables) == _files(tmp_path / "runs", tables)
    md = (tmp_path / "rendered" / "T1.md").read_text()
    assert "| GDAS | NB201 | landmarks | 1 |" in md and "| noise ceiling of the GT | micro-fmnist-nb201 |" in md


def _one_line_error(argv, capsys, fragment: str) -> None:
    rc, err = run_main(argv, capsys)
    assert rc != 0 and len(err) == 1 and fragment in err[0], (rc, err)


def _fake_rankers(out: Path) -> list[Path]:
    """Ranker records shaped like experiments/b1.py writes, for every finished seed of the B1 grid in
    ``out``, without running a ranker: scores agree with the pool's GT by a ranker's own amount,
    jacob_cov's with a NaN and a -inf among them (as it has on constant Jacobians)."""
    import numpy as np

    from lmreg.experiments import b1
    from lmreg.experiments.reproduce import collect, plan
    from lmreg.paper_figures.definitions import get_definition
    from lmreg.paper_figures.metrics import all_metrics
    from lmreg.results.records import write_record
    defn = get_definition("B1")
    jobs = [j for j in b1.plan(plan(defn, "micro", out), collect(defn, "micro", out), out) if j.source]
    for i, job in enumerate(jobs):
        src = job.source
        pool, lms = src["tables"]["pool"], src["tables"]["landmarks"]
        gt = pool["gt"].to_numpy(float)
        rng = np.random.default_rng(i)
        score = (i % 5) / 5 * (gt - gt.mean()) / gt.std() + rng.normal(size=len(gt))
        if job.ranker == "jacob_cov":
            score[:2] = [np.nan, -np.inf]
        predictor = b1.kind_of(job.ranker) == "predictor"
        tables = {"pool": [{"arch": a, "gt": float(g), "score": float(x)} for a, g, x in zip(pool["arch"], gt, score)]}
        if predictor:
            tables["landmarks"] = [{"arch": a, "gt": float(g)} for a, g in zip(lms["arch"], lms["gt"])]
        write_record(job.path, {"attrs": {
            "kind": b1.RECORD_KIND, "ranker": job.ranker, "ranker_kind": b1.kind_of(job.ranker),
            "settings": b1.settings(job.ranker, src["attrs"]["config"]), "source_run": Path(src["path"]).parent.name,
            "ground_truth": src["attrs"]["ground_truth"],
            "final_metrics": all_metrics(np.nan_to_num(score, nan=-9, neginf=-9), gt),
            "gt_labels": len(lms) if predictor else 0, "nonfinite_scores": int((~np.isfinite(score)).sum()),
            "timings": {"total_s": 0.1 + i / 7, **({"train_s": 0.1 + i / 7} if predictor else {"per_arch_s": 0.01})},
            "versions": {"torch": "fake"}, "git_commit": "fake"}, "tables": tables})
    return [j.path for j in jobs]


@pytest.fixture(scope="module")
def b1_runs(tmp_path_factory) -> Path:
    """B1's micro grid with fake super-net records (NB201 seeds 0 and 1, both arms; NB101 the baseline of
    seed 0 only) and fake ranker records for each of those seeds."""
    out = tmp_path_factory.mktemp("b1") / "runs"
    runs = write_grid("B1", out, seeds=(0, 1))
    for r in runs:
        if r.entry.space == "NB101" and (r.seed == 1 or r.config.use_landmarks):
            shutil.rmtree(out / r.name)
    _fake_rankers(out)
    return out


def test_b1_from_summaries_is_b1_from_records(b1_runs, tmp_path, capsys, monkeypatch):
    """The super-net runs and the ranker records go into one set; B1 rendered from it is B1 from the
    records, byte for byte, with no ground truth installed; exporting again changes no byte."""
    from lmreg.experiments import b1
    tables = ["B1.md", "B1.csv", "B1.tex"]
    render("B1", "micro", b1_runs, 0.95)
    sums = tmp_path / "sums"
    assert run_main(["reproduce", "B1", "--out", b1_runs, "--export-summaries", sums], capsys)[0] == 0
    manifest = read_manifest(sums)
    n = len(b1.ranker_ids())
    assert len(manifest["runs"]) == 5 and len(manifest["derived"]) == 3 * n
    assert "B1-rankers/jacob_cov-seed1" in manifest["derived"] and "B1-rankers/nb101-snip-seed0" in manifest["derived"]
    assert (sums / "B1-rankers" / "nb101-gcn-mse-seed0.json").is_file()
    first = {p.relative_to(sums): p.read_bytes() for p in sums.rglob("*.json")}
    assert len(first) == 1 + 5 + 3 * n
    from lmreg.bench import registry
    from lmreg.bench.gt_table import GTFileError

    def no_ground_truth(name):
        raise GTFileError(f"{name}: not installed")
    with monkeypatch.context() as mp:
        mp.setattr(registry, "load", no_ground_truth)  # summaries carry the GT's noise ceiling
        assert run_main(["reproduce", "B1", "--render-only", "--summaries", sums, "--out", tmp_path / "rendered"],
                        capsys)[0] == 0
    assert _files(tmp_path / "rendered", tables) == _files(b1_runs, tables)
    assert (tmp_path / "rendered" / "B1_kendall_tau.png").is_file()
    md = (tmp_path / "rendered" / "B1.md").read_text()
    assert "| NB201 | jacob_cov (training-free) | 0 |" in md and "| NB101 | SPOS super-net + landmarks | — | not run |" in md
    assert md.count("| 2 seeds; pool 20 |") == 2 + n and md.count("| 1 seed; pool 20 |") == 1 + n
    # exporting the same records again is the same bytes; a set without rankers keeps the old manifest form
    assert run_main(["reproduce", "B1", "--out", b1_runs, "--export-summaries", sums], capsys)[0] == 0
    assert {p.relative_to(sums): p.read_bytes() for p in sums.rglob("*.json")} == first
    assert "derived" not in read_manifest(COMMITTED / "T1-micro")


def test_damaged_or_stray_ranker_summaries_are_refused_in_one_line(b1_runs, tmp_path, capsys):
    from lmreg.paper_figures import summaries
    good = tmp_path / "good"
    assert run_main(["reproduce", "B1", "--out", b1_runs, "--export-summaries", good], capsys)[0] == 0
    manifest = read_manifest(good)
    name = "B1-rankers/snip-seed1"
    source = json.loads((good / f"{name}.json").read_text())["attrs"]["source_run"]

    def broken(how) -> Path:
        folder = tmp_path / f"set{len(list(tmp_path.iterdir()))}"
        shutil.copytree(good, folder)
        how(folder)
        return folder

    def reseal(folder, data):
        body = {k: v for k, v in data.items() if k != "sha256"}
        (folder / MANIFEST).write_text(summaries._dumps({**body, "sha256": summaries._sha(summaries._dumps(body))}))

    def drop_source(folder):  # the manifest sealed correctly, but without the ranker's source run
        (folder / f"{source}.json").unlink()
        reseal(folder, {**manifest, "runs": {k: v for k, v in manifest["runs"].items() if k != source}})

    ranker = good / f"{name}.json"
    cases = {
        "missing: summaries.json lists derived record B1-rankers/snip-seed1": lambda f: (f / f"{name}.json").unlink(),
        "damaged run summary": lambda f: (f / f"{name}.json").write_text(ranker.read_text()[:300]),
        "its bytes do not match the checksum": lambda f: (f / f"{name}.json").write_text(
            ranker.read_text().replace('"ranker": "snip"', '"ranker": "synflow"', 1)),
        "damaged summary manifest": lambda f: (f / MANIFEST).write_text(
            (f / MANIFEST).read_text().replace(f'  "{name}": ', '  "B1-rankers/x": ', 1)),
        f"its source run {source} is not a run of the set": drop_source,
    }
    for fragment, how in cases.items():
        _one_line_error(["reproduce", "B1", "--render-only", "--summaries", broken(how), "--out", tmp_path / "out"],
                        capsys, fragment)
    assert len([f for f in cases if f.startswith("its source run")]) == 1

    # sealed correctly, yet not B1's: a ranker of a seed the grid does not have, and one of another pool
    runs, derived = read_set(good)[1], summaries.read_derived(good, manifest)
    recs = [{**r, "path": str(b1_runs / n / "record.h5")} for n, r in runs.items()]
    rec = derived[name]
    write_set(tmp_path / "stray", recs, "B1", "micro", derived={**derived, "B1-rankers/snip-seed9": rec})
    _one_line_error(["reproduce", "B1", "--render-only", "--summaries", tmp_path / "stray", "--out", tmp_path / "out"],
                    capsys, "derived record(s) that B1's micro grid does not have: B1-rankers/snip-seed9")
    other = {**rec, "attrs": {**rec["attrs"], "settings": {**rec["attrs"]["settings"], "batch_size": 32}}}
    write_set(tmp_path / "other", recs, "B1", "micro", derived={**derived, name: other})
    _one_line_error(["reproduce", "B1", "--render-only", "--summaries", tmp_path / "other", "--out", tmp_path / "out"],
                    capsys, "holds snip scores of another pool, landmarks or settings than its super-net run")
    with pytest.raises(SummaryError, match=f"its source run {source} is not among the runs exported"):
        write_set(tmp_path / "orphan", [r for r in recs if Path(r["path"]).parent.name != source], "B1", "micro",
                  derived={name: rec})


def test_damaged_or_incomplete_summary_sets_are_refused_in_one_line(tmp_path, capsys):
    runs = write_grid("F1", tmp_path / "runs")
    assert run_main(["reproduce", "F1", "--out", tmp_path / "runs", "--export-summaries", tmp_path / "good"],
                    capsys)[0] == 0

    def broken(how) -> Path:
        folder = tmp_path / f"set{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tmp_path / "good", folder)
        how(folder)
        return folder

    def render_argv(folder, name="F1"):
        return ["reproduce", name, "--render-only", "--summaries", folder, "--out", tmp_path / "out"]

    first = f"{runs[0].name}.json"
    cases = {
        "missing: summaries.json lists run": lambda f: (f / first).unlink(),
        "damaged run summary": lambda f: (f / first).write_text((f / first).read_text()[:500]),
        "its bytes do not match the checksum": lambda f: (f / first).write_text(
            (f / first).read_text().replace('"git_commit": "fake"', '"git_commit": "edited"', 1)),
        "damaged summary manifest": lambda f: (f / MANIFEST).write_text(
            (f / MANIFEST).read_text().replace(f'  "{runs[0].name}": ', '  "x": ', 1)),
        "no such summary manifest": lambda f: (f / MANIFEST).unlink(),
    }
    for fragment, how in cases.items():
        _one_line_error(render_argv(broken(how)), capsys, fragment)
    _one_line_error(render_argv(tmp_path / "good", "F2"), capsys, "holds the summaries of F1 at micro scale, not of F2")
    _one_line_error(render_argv(tmp_path / "good", "B2"), capsys, "B2 is not one")
    _one_line_error(["reproduce", "F1", "--summaries", tmp_path / "good"], capsys, "applies with --render-only")
    _one_line_error(["report", "--summaries", tmp_path / "nowhere"], capsys, "no such summary folder")

    # a run the grid does not have, and a run whose config is not today's, each sealed correctly
    recs = [{**r, "path": str(tmp_path / "runs" / name / "record.h5")} for name, r in read_set(tmp_path / "good")[1].items()]
    rec = recs[0]
    stray = {**rec, "path": str(tmp_path / "elsewhere" / "micro-baseline-seed9-0000000" / "record.h5")}
    write_set(tmp_path / "stray", [*recs, stray], "F1", "micro")
    _one_line_error(render_argv(tmp_path / "stray"), capsys, "grid does not have: micro-baseline-seed9-0000000")
    changed = {**rec, "attrs": {**rec["attrs"], "config": {**rec["attrs"]["config"], "name": "other"}}}
    write_set(tmp_path / "changed", [changed], "F1", "micro")
    _one_line_error(render_argv(tmp_path / "changed"), capsys, "different config than F1 needs today")
    with pytest.raises(SummaryError, match="two records of run"):
        write_set(tmp_path / "twice", [rec, {**rec, "path": str(tmp_path / "a" / runs[0].name / "record.h5")}])


def _committed_sets() -> list[Path]:
    return sorted(p.parent for p in COMMITTED.glob(f"*/{MANIFEST}"))


def test_summary_sets_are_committed():
    assert _committed_sets(), f"no summary set under {COMMITTED}"


@pytest.mark.parametrize("folder", _committed_sets(), ids=lambda p: p.name)
def test_committed_summaries_render_their_committed_table(folder, tmp_path):
    """docs/results/<set>.md is the table rendered from results/summaries/<set>: a table and
    the runs behind it cannot disagree."""
    manifest = read_manifest(folder)
    table = TABLES / f"{folder.name}.md"
    assert table.is_file(), f"{folder} has no committed table {table}"
    if manifest["definition"]:
        render_summaries(manifest["definition"], manifest["scale"], folder, tmp_path, 0.95)
        rendered = tmp_path / f"{manifest['definition']}.md"
    else:
        report([], tmp_path, summaries=folder, figures=False)
        rendered = tmp_path / "report.md"
    assert rendered.read_bytes() == table.read_bytes(), f"{table} is not the table {folder} renders"
    # companion tables (docs/results/<set>_<part>.md, e.g. G1's rounds) are its <definition>_<part>.md
    for companion in TABLES.glob(f"{folder.name}_*.md"):
        part = companion.name[len(folder.name) + 1:]
        rendered = tmp_path / f"{manifest['definition']}_{part}"
        assert rendered.is_file() and rendered.read_bytes() == companion.read_bytes(), \
            f"{companion} is not the table {folder} renders"


def test_t1_gain_figure_draws_the_tables_difference_rows(tmp_path, monkeypatch):
    """The T1 figure's dots and intervals are the paired differences of the CSV it is rendered
    with (kendall_tau), one row per algorithm that has both arms."""
    import pandas as pd

    from lmreg.paper_figures import plots
    drawn = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (drawn.append((Path(path).name, fig)), real_save(fig, path))[1])
    render_summaries("T1", "micro", COMMITTED / "T1-micro", tmp_path, 0.95)
    ((name, fig),) = [(n, f) for n, f in drawn if n == "T1_gain"]
    assert (tmp_path / "T1_gain.png").is_file()
    csv = pd.read_csv(tmp_path / "T1.csv")
    diffs = csv[(csv.variant == "landmarks-baseline") & (csv.metric == "kendall_tau")]
    assert len(diffs) >= 1
    lines = fig.axes[0].get_lines()
    dots = [ln for ln in lines if ln.get_marker() == "o"]
    thick = [ln for ln in lines if ln.get_linewidth() == 3]
    assert sorted(float(d.get_xdata()[0]) for d in dots) == pytest.approx(sorted(diffs["mean"]))
    # a 1-seed row has no t interval (NaN ends): it draws no finite thick line
    drawn_t = sorted(x for t in thick for x in map(float, t.get_xdata()) if x == x)
    want_t = sorted(x for x in map(float, [*diffs.ci_lo, *diffs.ci_hi]) if x == x)
    assert drawn_t == pytest.approx(want_t)
