"""The predictor + ranker hybrids (algorithms/predictors/hybrid.py) on the micro GT."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lmreg.algorithms.predictors.hybrid import normalised_ranks, rank_ensemble, stacked_predict
from lmreg.bench import registry
from lmreg.spaces import nb201

FIT = {"epochs": 150}


def test_rank_ensemble_by_hand():
    np.testing.assert_allclose(normalised_ranks([3.0, 1.0, 2.0]), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(rank_ensemble([3.0, 1.0, 2.0], [10.0, 30.0, 20.0]), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(rank_ensemble([3.0, 1.0, 2.0], [1.0, 1.0, 5.0]), [0.625, 0.125, 0.75])
    with pytest.raises(ValueError):
        rank_ensemble([1.0, 2.0])


@pytest.fixture(scope="module")
def micro():
    gt = registry.load("micro-fmnist-nb201").per_arch("eval_acc")
    archs = [nb201.parse(a) for a in gt.index]
    return archs[:40], gt.to_numpy()[:40], archs[40:160], gt.to_numpy()[40:160]


def test_stacking_follows_an_informative_score(micro):
    lm, lm_gt, pool, pool_gt = micro
    scores = stacked_predict("mlp", "mse", lm, lm_gt, lm_gt, pool, pool_gt, seed=0, space="nb201", **FIT)
    assert stats.kendalltau(scores, pool_gt).statistic > 0.95   # the score is the GT: it takes over


def test_stacking_ignores_a_noise_score(micro):
    from lmreg.algorithms.predictors.fit import fit_predict
    lm, lm_gt, pool, pool_gt = micro
    rng = np.random.default_rng(1)
    alone = fit_predict("mlp", lm, lm_gt, pool, loss="mse", seed=0, space="nb201", **FIT)
    scores = stacked_predict("mlp", "mse", lm, lm_gt, rng.normal(size=len(lm)), pool, rng.normal(size=len(pool)),
                             seed=0, space="nb201", **FIT)
    assert stats.kendalltau(scores, alone).statistic > 0.6     # mostly the predictor's own ranking
    assert stats.kendalltau(scores, pool_gt).statistic > stats.kendalltau(alone, pool_gt).statistic - 0.1
