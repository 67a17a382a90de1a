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


def test_model_rate_is_the_t_tests_size_and_power():
    """Normal samples, no tolerance: the pooled t bound fails 5 % of the time at no shift
    (its exact size), and the power at a shift matches the noncentral t (independent formula)."""
    from scipy import stats
    assert gate_power.model_rate(0.0, 0.1, 3, 8, 0.0, 0.95, draws=40000) == pytest.approx(0.05, abs=0.005)
    k, kb, delta, sigma = 4, 8, -0.1, 0.1
    dof = k + kb - 2
    ncp = delta / (sigma * np.sqrt(1 / k + 1 / kb))
    exact = stats.nct.cdf(-stats.t.ppf(0.95, dof), dof, ncp)  # P(T < -t_q) for T noncentral
    assert gate_power.model_rate(delta, sigma, k, kb, 0.0, 0.95, draws=40000) == pytest.approx(exact, abs=0.01)
    # a tolerance makes failures rarer; a large shift is always caught
    assert gate_power.model_rate(0.0, 0.1, 3, 8, 0.05, 0.95) < 0.05
    assert gate_power.model_rate(-1.0, 0.1, 3, 8, 0.05, 0.95) == 1.0


def test_seeds_needed_grows_with_noise_and_uses_the_model():
    few = gate_power.seeds_needed(-0.1, 0.05, 0.0, 0.95)
    many = gate_power.seeds_needed(-0.1, 0.1, 0.0, 0.95)
    assert few < many
    # the textbook normal approximation n = 2 (z_0.95 + z_0.9)^2 (sigma/delta)^2 per side (~17 here)
    assert many == pytest.approx(2 * (1.645 + 1.2816) ** 2, abs=2)
    assert gate_power.model_rate(-0.1, 0.1, many, many, 0.0, 0.95) >= 0.9
    assert gate_power.seeds_needed(-0.1, 0.1, 0.0, 0.95, k_max=5) is None


def test_regression_runs_resampled_against_the_reference():
    values = _values(0.5, 0.0, sd=0.05, n=8)
    broken = {s: {m: 0.1 for m in RANKING_METRICS} for s in range(3)}
    same = {s: dict(values[True][s]) for s in range(3)}
    r = gate_power.rates(values, k=2, k_base=5, draws=300, tolerance=0.05, level=0.95, drop=0.0,
                         regressions={"broken": broken, "harmless": same})
    assert r["broken"]["any"] == 1.0 and r["harmless"]["kendall_tau"] < 0.2
    assert set(r) == {"unchanged", "drop", "landmarks off", "broken", "harmless"}


# The published rates, from the committed runs -----------------------------------------
ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / "results" / "records" / "gate"
# folder -> the gate preset's overrides that made its runs (benchmarks/README.md, gate_power.py)
GATE_SETS = {"landmarks": [], "off": ["use_landmarks=false"], "lr10": ["train.lr=0.5"], "half": ["train.epochs=8"],
             # the cheap-loss table's arms (benchmarks/cheap_loss.py, docs/results.md)
             "off-more": ["use_landmarks=false"], "exact-more": [], "e5": ["landmarks.every=5"],
             "b16": ["landmarks.batch_size=16"], "b24": ["landmarks.batch_size=24"],
             "e2b64": ["landmarks.every=2", "landmarks.batch_size=64"], "exact-c20": ["landmarks.max_coef=20"],
             "b16c20": ["landmarks.batch_size=16", "landmarks.max_coef=20"]}
GATE_SEEDS = {"landmarks": range(11), "off": range(3), "lr10": range(3), "half": range(3), "off-more": range(3, 16),
              "exact-more": range(11, 16), "e5": range(5), "b16": range(8), "b24": range(8), "e2b64": range(8),
              "exact-c20": range(8), "b16c20": range(16)}
PUBLISHED = ["landmarks", "off", "--k", "2", "--k-base", "8", "--tolerance", "0.01",
             "--metrics", "kendall_tau,sparse_kendall_tau,spearman_rho",
             "--regression", "lr x10=lr10", "--regression", "half epochs=half"]


@pytest.mark.parametrize("folder", sorted(GATE_SETS))
def test_committed_gate_runs_are_finished_runs_of_the_gate_preset(folder):
    from lmreg.experiments.run_folders import finished_record
    from lmreg.experiments.runconfig import load_config, run_name
    runs = sorted((GATE / folder).glob("*/record.h5"))
    seeds = sorted(int(r.parent.name.split("-seed")[1].split("-")[0]) for r in runs)
    assert seeds == list(GATE_SEEDS[folder])
    for record in runs:
        seed = int(record.parent.name.split("-seed")[1].split("-")[0])
        cfg = load_config("gate", [*GATE_SETS[folder], f"seed={seed}"])
        assert record.parent.name == run_name(cfg) and finished_record(record, cfg)


def test_published_gate_rates_are_what_the_committed_runs_give(capsys, monkeypatch):
    """docs/results/gate-power.txt is gate_power.py's output on the committed runs, byte for byte."""
    monkeypatch.chdir(GATE)
    gate_power.main([a for a in PUBLISHED])
    assert capsys.readouterr().out == (ROOT / "docs" / "results" / "gate-power.txt").read_text()
