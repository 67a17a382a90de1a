import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from paper_figures.metrics import (
    METRICS,
    all_metrics,
    get_metric,
    gt_percentiles,
    kendall_tau,
    precision_at_k,
    random_subset_tau,
    sparse_kendall_tau,
    spearman_rho,
    top_k_gt_percentile,
)
from paper_figures.stats import (
    bootstrap_ci,
    mean_std,
    one_sided_lower_bound,
    paired_bootstrap_diff,
)


def random_scores(seed, n=60, with_ties=False):
    rng = np.random.default_rng(seed)
    if with_ties:
        return rng.integers(0, 6, n).astype(float), rng.integers(0, 8, n).astype(float)
    gt = rng.uniform(60, 95, n)
    return gt + rng.normal(0, 5, n), gt


# --- agreement with scipy ---------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_ties", [False, True])
def test_kendall_tau_matches_scipy(seed, with_ties):
    pred, gt = random_scores(seed, with_ties=with_ties)
    assert kendall_tau(pred, gt) == pytest.approx(scipy_stats.kendalltau(pred, gt).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_ties", [False, True])
def test_spearman_rho_matches_scipy(seed, with_ties):
    pred, gt = random_scores(seed, with_ties=with_ties)
    assert spearman_rho(pred, gt) == pytest.approx(scipy_stats.spearmanr(pred, gt).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_sparse_kendall_tau_is_tau_of_rounded_scores(seed):
    pred, gt = random_scores(seed)
    expected = scipy_stats.kendalltau(np.round(pred, 1), np.round(gt, 1)).statistic
    assert sparse_kendall_tau(pred, gt) == pytest.approx(expected, abs=1e-12)


# --- hand-computed cases ----------------------------------------------------

@pytest.mark.parametrize("metric", [kendall_tau, sparse_kendall_tau, spearman_rho])
def test_perfect_and_reversed_order(metric):
    gt = [70.0, 72.5, 80.0, 91.25]
    assert metric([1, 2, 3, 4], gt) == pytest.approx(1.0)
    assert metric([4, 3, 2, 1], gt) == pytest.approx(-1.0)


def test_constant_input_gives_nan():
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [5, 5, 5]))


def test_sparse_kendall_tau_rounding_ties_change_value():
    # Raw: pair (0, 1) is discordant, (0, 2) and (1, 2) concordant -> tau = (2 - 1) / 3.
    # Rounded GT [70.0, 70.0, 80.0]: pair (0, 1) becomes a GT tie ->
    # tau-b = (2 - 0) / sqrt((3 - 0) * (3 - 1)) = 2 / sqrt(6).
    pred, gt = [1.0, 2.0, 3.0], [70.04, 70.01, 80.0]
    assert kendall_tau(pred, gt) == pytest.approx(1 / 3)
    assert sparse_kendall_tau(pred, gt) == pytest.approx(2 / math.sqrt(6))
    # pred is rounded the same way, so swapping the roles gives the same value.
    assert sparse_kendall_tau(gt, pred) == pytest.approx(2 / math.sqrt(6))
    # At 0.01 points the two GT values stay apart, so the raw discordance counts again.
    assert sparse_kendall_tau(pred, gt, decimals=2) == pytest.approx(1 / 3)


def test_precision_at_k_hand_computed():
    pred = [0.9, 0.8, 0.7, 0.1, 0.2]
    gt = [50, 10, 40, 30, 20]
    # top-2 by pred {0, 1}, by gt {0, 2}; top-3 by pred {0, 1, 2}, by gt {0, 2, 3}.
    assert precision_at_k(pred, gt, 2) == pytest.approx(1 / 2)
    assert precision_at_k(pred, gt, 3) == pytest.approx(2 / 3)
    assert precision_at_k(pred, gt, 5) == pytest.approx(1.0)


def test_precision_at_k_breaks_ties_by_position():
    # pred ties indices 0 and 1; the earlier index wins the single top slot.
    assert precision_at_k([1, 1, 0], [3, 2, 1], 1) == 1.0
    assert precision_at_k([1, 1, 0], [2, 3, 1], 1) == 0.0


def test_ties_in_pred_resolved_by_position_in_large_pool():
    # Many ties in a pool large enough that an unstable sort would reorder them.
    pred = np.random.default_rng(0).integers(0, 3, 100).astype(float)
    gt = -np.arange(100.0)  # earlier index = better architecture, percentile 100 * (99 - i) / 99
    first_tied_best = np.flatnonzero(pred == pred.max())[:20]
    assert precision_at_k(pred, gt, 20) == pytest.approx(np.mean(first_tied_best < 20))
    assert top_k_gt_percentile(pred, gt, 20) == pytest.approx(np.mean(100 * (99 - first_tied_best) / 99))


def test_gt_percentiles_definition():
    # n - 1 = 4 other architectures; 50 beats all 4 -> 100, 40 beats 3 -> 75, ...
    np.testing.assert_allclose(gt_percentiles([50, 10, 40, 30, 20]), [100, 0, 75, 50, 25])
    # Ties share the lower percentile: each 5 beats only the 1.
    np.testing.assert_allclose(gt_percentiles([5, 5, 1]), [50, 50, 0])


def test_top_k_gt_percentile_hand_computed():
    gt = [50, 10, 40, 30, 20]  # percentiles [100, 0, 75, 50, 25]
    pred = [0.1, 0.9, 0.8, 0.2, 0.3]  # order by pred: 1, 2, 4, 3, 0
    assert top_k_gt_percentile(pred, gt, 1) == pytest.approx(0.0)
    assert top_k_gt_percentile(pred, gt, 2) == pytest.approx(37.5)
    assert top_k_gt_percentile(pred, gt, 3) == pytest.approx(100 / 3)
    assert top_k_gt_percentile(pred, gt, 5) == pytest.approx(50.0)


# --- random subsets ---------------------------------------------------------

def test_random_subset_tau_reproducible_and_follows_documented_sampling():
    pred, gt = random_scores(7, n=60)
    first = random_subset_tau(pred, gt, seed=3)
    assert first == random_subset_tau(pred, gt, seed=3)
    assert first != random_subset_tau(pred, gt, seed=4)

    rng = np.random.default_rng(3)
    for size in (10, 20, 50):
        taus = []
        for _ in range(5):
            subset = rng.choice(60, size=size, replace=False)
            taus.append(scipy_stats.kendalltau(pred[subset], gt[subset]).statistic)
        assert first[size] == pytest.approx(np.mean(taus))


def test_random_subset_tau_skips_oversize_and_full_size_equals_pool_tau():
    pred, gt = random_scores(1, n=30)
    result = random_subset_tau(pred, gt, sizes=(10, 20, 30, 50, 100), repeats=3)
    assert set(result) == {10, 20, 30}
    assert result[30] == pytest.approx(kendall_tau(pred, gt))


# --- registry ---------------------------------------------------------------

def test_registry_and_all_metrics_on_perfect_ranking():
    gt = np.linspace(60, 90, 20)
    result = all_metrics(gt, gt)
    assert set(result) == set(METRICS)
    assert result["kendall_tau"] == pytest.approx(1.0)
    assert result["sparse_kendall_tau"] == pytest.approx(1.0)
    assert result["spearman_rho"] == pytest.approx(1.0)
    assert result["p_at_10"] == pytest.approx(1.0)
    # Top 5 of 20 have 19, 18, 17, 16, 15 architectures below them.
    assert result["top5_percentile"] == pytest.approx(100 * 17 / 19)
    assert get_metric("kendall_tau") is METRICS["kendall_tau"]


def test_get_metric_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as excinfo:
        get_metric("kendal_tau")
    for name in METRICS:
        assert name in str(excinfo.value)


# --- bad input --------------------------------------------------------------

@pytest.mark.parametrize(
    "pred, gt",
    [
        ([1, 2, 3], [1, 2]),
        ([1], [1]),
        ([1, float("nan")], [1, 2]),
        ([1, 2], [1, float("inf")]),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]]),
        (["a", "b"], [1, 2]),
    ],
)
@pytest.mark.parametrize("metric", list(METRICS.values()) + [random_subset_tau])
def test_bad_scores_raise_value_error(metric, pred, gt):
    with pytest.raises(ValueError):
        metric(pred, gt)


@pytest.mark.parametrize("k", [0, 6])
def test_k_out_of_range_raises(k):
    with pytest.raises(ValueError):
        precision_at_k([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], k)
    with pytest.raises(ValueError):
        top_k_gt_percentile([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], k)


# --- aggregation over seeds -------------------------------------------------

def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert mean_std([0.7]) == (0.7, 0.0)


def test_bootstrap_ci_contains_mean_deterministic_and_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.6, 0.05, 5), rng.normal(0.6, 0.05, 200)
    lo_few, hi_few = bootstrap_ci(few, n_boot=2000)
    lo_many, hi_many = bootstrap_ci(many, n_boot=2000)
    assert lo_few < few.mean() < hi_few
    assert lo_many < many.mean() < hi_many
    assert hi_many - lo_many < (hi_few - lo_few) / 2
    assert bootstrap_ci(few, n_boot=2000) == (lo_few, hi_few)
    narrower_lo, narrower_hi = bootstrap_ci(few, level=0.5, n_boot=2000)
    assert lo_few < narrower_lo < narrower_hi < hi_few


def test_bootstrap_bounds_match_normal_approximation_on_large_sample():
    # With 400 values the bootstrap mean is close to normal, which pins what ``level`` means.
    values = np.random.default_rng(2).normal(0.6, 0.05, 400)
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    lo, hi = bootstrap_ci(values)
    assert (hi - lo) / 2 == pytest.approx(1.960 * standard_error, rel=0.05)
    assert values.mean() - one_sided_lower_bound(values) == pytest.approx(1.645 * standard_error, rel=0.05)


def test_one_sided_lower_bound():
    values = np.random.default_rng(1).normal(0.6, 0.05, 8)
    lower = one_sided_lower_bound(values, n_boot=2000)
    two_sided_lo, _ = bootstrap_ci(values, n_boot=2000)
    # The one-sided 95% bound is the 5th percentile, above the two-sided 2.5th.
    assert two_sided_lo < lower < values.mean()
    assert one_sided_lower_bound(values, n_boot=2000) == lower


def test_paired_bootstrap_diff():
    a = np.array([0.50, 0.55, 0.60, 0.52, 0.58])
    assert paired_bootstrap_diff(a, a) == (0.0, 0.0, 0.0)
    # A constant per-seed gain is recovered exactly: pairing cancels between-seed spread.
    assert paired_bootstrap_diff(a, a + 0.1, n_boot=500) == pytest.approx((0.1, 0.1, 0.1))
    b = a + np.array([0.02, 0.05, 0.03, 0.04, 0.01])
    mean_diff, lo, hi = paired_bootstrap_diff(a, b, n_boot=2000)
    assert mean_diff == pytest.approx(0.03)
    assert 0.01 <= lo < mean_diff < hi <= 0.05


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf")], [[1.0, 2.0]], ["x"]])
def test_aggregation_bad_values_raise(values):
    for function in (mean_std, bootstrap_ci, one_sided_lower_bound):
        with pytest.raises(ValueError):
            function(values)
    with pytest.raises(ValueError):
        paired_bootstrap_diff(values, values)


def test_aggregation_bad_parameters_raise():
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError):
        one_sided_lower_bound([1.0, 2.0], n_boot=0)
