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
