"""Noise ceiling of a ground truth against independent references."""

import math

import numpy as np
import pandas as pd
import pytest

from lmreg.paper_figures.noise import noise_ceiling, split_half_tau


def _gt(n=400, k=3, true_sd=0.6, noise_sd=0.45, seed=0):
    rng = np.random.default_rng(seed)
    truth = 86 + rng.normal(0, true_sd, n)
    runs = truth[:, None] + rng.normal(0, noise_sd, (n, k))
    return truth, pd.DataFrame(runs, columns=range(k))


@pytest.mark.parametrize("true_sd, noise_sd, k", [(0.6, 0.45, 3), (0.6, 0.45, 2), (1.0, 0.3, 4)])
def test_ceiling_matches_the_bivariate_normal_closed_form(true_sd, noise_sd, k):
    """For normal truths and noise, tau(truth, mean of k runs) = 2/pi asin(rho) with
    rho^2 = true_var / (true_var + noise_var / k) (Greiner's relation)."""
    _, gt = _gt(n=1500, k=k, true_sd=true_sd, noise_sd=noise_sd)
    rho = math.sqrt(true_sd**2 / (true_sd**2 + noise_sd**2 / k))
    expected = 2 / math.pi * math.asin(rho)
    c = noise_ceiling(gt, n_sim=50)
    assert c["ceiling"] == pytest.approx(expected, abs=0.03)
    assert c["noise_sd"] == pytest.approx(noise_sd, rel=0.08) and c["true_sd"] == pytest.approx(true_sd, rel=0.1)
    assert c["ceiling_lo"] <= c["ceiling"] <= c["ceiling_hi"]


def test_split_half_by_hand_and_against_simulation():
    m = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 3.5], [4.0, 5.0]])
    # halves: seed 0 vs seed 1 (and the mirror split): x = 1,2,3,4; y = 2,1,3.5,5
    # pairs: (0,1) discordant, the other 5 concordant: tau = (5 - 1) / 6
    assert split_half_tau(m) == pytest.approx(4 / 6)
    truth, gt = _gt(n=1500, k=4)
    sims = [split_half_tau(_gt(n=1500, k=4, seed=s)[1].to_numpy()) for s in range(3)]
    rho_half = 0.36 / (0.36 + 0.45**2 / 2)  # corr of two independent 2-run means
    assert np.mean(sims) == pytest.approx(2 / math.pi * math.asin(rho_half), abs=0.03)


def test_ceiling_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        noise_ceiling(pd.DataFrame(np.ones((5, 1))))


@pytest.mark.parametrize("a, b", [(1, 1), (1, 2), (2, 2), (4, 4)])
def test_predicted_agreement_matches_the_closed_form(a, b):
    """Two independent means of a and b runs: rho = tv / sqrt((tv + nv/a)(tv + nv/b))."""
    from lmreg.paper_figures.noise import predicted_agreement
    _, gt = _gt(n=1500, k=3, true_sd=0.6, noise_sd=0.45)
    tv, nv = 0.36, 0.45**2
    rho = tv / math.sqrt((tv + nv / a) * (tv + nv / b))
    assert predicted_agreement(gt, a, b, n_sim=30) == pytest.approx(2 / math.pi * math.asin(rho), abs=0.03)


def test_seed_taus_against_scipy():
    from scipy.stats import kendalltau
    from lmreg.paper_figures.noise import seed_taus
    _, gt = _gt(n=50, k=3)
    gt.iloc[0, 2] = np.nan  # a missing run: that pair uses the architectures both seeds have
    expected = [kendalltau(gt[0], gt[1]).statistic, kendalltau(gt[0].drop(0), gt[2].drop(0)).statistic,
                kendalltau(gt[1].drop(0), gt[2].drop(0)).statistic]
    assert seed_taus(gt) == pytest.approx(expected)
