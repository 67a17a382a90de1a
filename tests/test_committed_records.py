"""The records committed under results/records/<set> are a resumable part of today's grid of
their table (T1-micro: T1's micro grid; G1-micro: G1's growing runs): each is a run
`lmreg reproduce NAME --scale micro` plans, with the same config, and counts as finished. A
config default or grid change that would silently mix two code versions in one table makes this
fail (then rerun those records or drop them)."""

from pathlib import Path

import pytest

from lmreg.experiments.reproduce import plan
from lmreg.paper_figures.definitions import get_definition

RECORDS = Path(__file__).resolve().parent.parent / "results" / "records"
SETS = {"T1-micro": "T1", "G1-micro": "G1"}


@pytest.mark.parametrize("folder", sorted(SETS))
def test_committed_records_are_finished_runs_of_todays_grid(folder):
    records = RECORDS / folder
    committed = {p.parent.name for p in records.glob("*/record.h5")}
    assert committed, f"no records under {records}"
    planned = {r.name: r for r in plan(get_definition(SETS[folder]), "micro", records)}
    assert committed <= set(planned), f"not in {SETS[folder]}'s micro grid: {sorted(committed - set(planned))}"
    assert all(planned[name].done for name in committed)


def test_every_committed_record_set_is_checked():
    assert {p.name for p in RECORDS.iterdir() if p.is_dir()} <= set(SETS) | {"gate"}
