"""The T1 micro records committed under results/records/ are a resumable part of today's T1
grid: each is a run `lmreg reproduce T1 --scale micro` plans, with the same config, and counts
as finished. A config default or grid change that would silently mix two code versions in one
table makes this fail (then rerun those records or drop them)."""

from pathlib import Path

from lmreg.experiments.reproduce import plan
from lmreg.paper_figures.definitions import get_definition

RECORDS = Path(__file__).resolve().parent.parent / "results" / "records" / "T1-micro"


def test_committed_t1_records_are_finished_runs_of_todays_grid():
    committed = {p.parent.name for p in RECORDS.glob("*/record.h5")}
    assert committed, f"no records under {RECORDS}"
    planned = {r.name: r for r in plan(get_definition("T1"), "micro", RECORDS)}
    assert committed <= set(planned), f"not in T1's micro grid: {sorted(committed - set(planned))}"
    assert all(planned[name].done for name in committed)
