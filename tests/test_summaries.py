"""Run summaries (paper_figures/summaries.py): a table rendered from exported summaries is the
table rendered from the records, byte for byte; a damaged or incomplete summary set is
refused in one line; and every summary set committed under results/summaries/ re-renders
its committed table (docs/results/<set>.md)."""

from __future__ import annotations

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
    assert len(read_manifest(tmp_path / "sums")["runs"]) == 19  # 10 rows x 2 seeds, one run missing
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
    drawn_t = sorted(float(x) for t in thick for x in t.get_xdata())
    assert drawn_t == pytest.approx(sorted([*diffs.ci_lo, *diffs.ci_hi]))
