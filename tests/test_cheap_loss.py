"""benchmarks/cheap_loss.py: the share of the exact loss's gain a cheap loss keeps, on
hand-made seeds whose answer is known."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

SPEC = importlib.util.spec_from_file_location("cheap_loss", Path(__file__).resolve().parent.parent /
                                              "benchmarks" / "cheap_loss.py")
cheap_loss = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(cheap_loss)


def _arm(taus: dict) -> SimpleNamespace:
    return SimpleNamespace(records=[{"attrs": {"config": {"seed": s}, "final_metrics": {"kendall_tau": t}}}
                                    for s, t in taus.items()])


def test_half_the_gain_on_every_seed_is_half_with_no_spread():
    off = _arm({0: 0.1, 1: 0.2, 2: 0.0})
    exact = _arm({0: 0.3, 1: 0.6, 2: 0.2})        # gains 0.2, 0.4, 0.2
    cheap = _arm({0: 0.2, 1: 0.4, 2: 0.1, 3: 0.9})  # gains 0.1, 0.2, 0.1; seed 3 has no partner
    share, lo, hi = cheap_loss.kept_share(off, exact, cheap, "kendall_tau", draws=200)
    assert share == pytest.approx(0.5) and lo == pytest.approx(0.5) and hi == pytest.approx(0.5)


def test_share_by_hand_and_an_interval_around_it():
    off = _arm({0: 0.0, 1: 0.0, 2: 0.0})
    exact = _arm({0: 0.2, 1: 0.4, 2: 0.3})
    cheap = _arm({0: 0.3, 1: 0.1, 2: 0.2})
    share, lo, hi = cheap_loss.kept_share(off, exact, cheap, "kendall_tau", draws=500)
    assert share == pytest.approx(0.6 / 0.9)
    assert lo < share < hi


def _group(taus: dict) -> "cheap_loss.Group":
    return cheap_loss.Group("g", {}, [{"attrs": {"config": {"seed": s}, "final_metrics": {"kendall_tau": t}}}
                                      for s, t in taus.items()])


def test_table_rows_by_hand_on_the_shared_seeds():
    off = _group({0: 0.1, 1: 0.2, 2: 0.0, 3: 0.0})
    exact = _group({0: 0.3, 1: 0.6, 2: 0.2})                # gains 0.2, 0.4, 0.2; seed 3 has no exact run
    half = _group({0: 0.2, 1: 0.4, 2: 0.1, 3: 0.5})         # half the gain on seeds 0-2
    two = _group({0: 0.3, 1: 0.6, 2: 0.9})                  # the exact gain on seeds 0-1, asked for those only
    lines = cheap_loss.option_table(off, exact, [("half", half, None), ("same", two, [0, 1])], "kendall_tau", 200)
    exact_row, half_row, two_row = (line.split(" | ") for line in lines[2:])
    assert exact_row[1] == "0-2" and exact_row[2].startswith("+0.267 [") and exact_row[3] == "100 %"
    assert half_row[1] == "0-2" and half_row[2].startswith("+0.133 [") and half_row[3] == "50 % [50, 50]"
    assert half_row[4].startswith("-0.133 [")
    assert two_row[1] == "0,1" and two_row[3] == "100 % [100, 100]" and two_row[4].startswith("+0.000 [")


def test_table_refuses_an_option_without_two_shared_seeds():
    off, exact = _group({0: 0.0, 1: 0.0}), _group({0: 0.2, 1: 0.3})
    with pytest.raises(SystemExit, match="0 seed"):
        cheap_loss.option_table(off, exact, [("x", _group({0: 0.1, 1: 0.1}), [5])], "kendall_tau", 50)


def test_seed_ranges_parse_and_print_back():
    assert cheap_loss.seed_list("0-3,7") == [0, 1, 2, 3, 7]
    assert cheap_loss.seed_text([0, 1, 2, 3]) == "0-3" and cheap_loss.seed_text([1, 3]) == "1,3"


# The published table, from the committed runs (results/records/gate) --------------------
ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ["--off", "off,off-more", "--exact", "landmarks,exact-more", "--table", "kendall_tau",
             "--cheap", "`every=5`:e5", "--cheap", "`batch_size=16`:b16", "--cheap", "`batch_size=24`:b24",
             "--cheap", "`every=2`, `batch_size=64`:e2b64",
             "--cheap", "**`batch_size=16`, `max_coef=20`**, seeds 0-7 (chosen on the earlier runs):b16c20:0-7",
             "--cheap", "the same, seeds 8-15 (the earlier confirmation seeds):b16c20:8-15",
             "--cheap", "the same, all:b16c20",
             "--cheap", "exact loss, `max_coef=20` (ablation):exact-c20"]


@pytest.mark.slow  # 2,000 hierarchical-bootstrap draws per row: a minute or two
def test_published_cheap_loss_table_is_what_the_committed_runs_give(capsys, monkeypatch):
    """docs/results/cheap-loss.md is cheap_loss.py --table on the committed runs, byte for byte."""
    monkeypatch.chdir(ROOT / "results" / "records" / "gate")
    cheap_loss.main(PUBLISHED)
    assert capsys.readouterr().out == (ROOT / "docs" / "results" / "cheap-loss.md").read_text()


def test_results_page_shows_the_published_cheap_loss_table_unchanged():
    """docs/results.md repeats the table for readers; an edit to one copy alone fails here."""
    assert (ROOT / "docs" / "results" / "cheap-loss.md").read_text() in (ROOT / "docs" / "results.md").read_text()
