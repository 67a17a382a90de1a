"""benchmarks/gate_power.py: the resampled gate decisions on cases with known answers."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lmreg.paper_figures.aggregate import RANKING_METRICS

SPEC = importlib.util.spec_from_file_location("gate_power", Path(__file__).resolve().parent.parent /
                                              "benchmarks" / "gate_power.py")
gate_power = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gate_power)


def _values(lm_mean, base_mean, sd, n=10, seed=0):
    rng = np.random.default_rng(seed)
    return {arm: {s: {m: float(mean + rng.normal(0, sd)) for m in RANKING_METRICS} for s in range(n)}
            for arm, mean in ((True, lm_mean), (False, base_mean))}


def test_no_spread_no_false_alarm_and_big_drops_always_caught():
    values = _values(0.5, 0.0, sd=1e-9)
    r = gate_power.rates(values, k=3, draws=200, tolerance=0.05, level=0.95, drop=0.3)
    assert r["unchanged"]["any"] == 0.0
    assert r["landmarks off"]["any"] == 1.0 and r["drop"]["any"] == 1.0


def test_false_alarm_rate_near_nominal_for_one_metric():
    """Same distribution on both sides and no tolerance: a one-sided 95 % bound fails
    about 5 % of the time for each metric."""
    values = _values(0.4, 0.2, sd=0.1, n=40, seed=1)
    r = gate_power.rates(values, k=5, draws=3000, tolerance=0.0, level=0.95, drop=0.0)
    assert r["unchanged"]["kendall_tau"] == pytest.approx(0.05, abs=0.03)


def test_needs_enough_seeds():
    with pytest.raises(SystemExit, match="at least 6 seeds"):
        gate_power.rates(_values(0.5, 0.0, 0.1, n=5), k=3, draws=10, tolerance=0.05, level=0.95, drop=0.1)
