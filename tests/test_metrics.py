import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lmreg.paper_figures.metrics import (
    METRICS,
    SEARCH_METRICS,
    all_metrics,
    batched_metric,
    get_metric,
    gt_percentiles,
    kendall_tau,
    precision_at_k,
    random_subset_tau,
    sparse_kendall_tau,
    spearman_rho,
    top_k_gt_percentile,
)
from lmreg.paper_figures.stats import (
    bootstrap_ci,
    hierarchical_bootstrap,
    hierarchical_bootstrap_diff,
    mean_std,
    one_sided_lower_bound,
    paired_bootstrap_diff,
    paired_t_diff,
    pooled_t_upper_diff,
    t_interval,
    t_upper_bound,
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


def official_sparse_kendall_tau(model_perfs, gt_perfs, threshold=1e-3):
    """The official procedure step by step (nasws/cnn/utils.py:153-182 and 90-122 of
    kcyu2014/nas-landmarkreg), written out independently: rescale % to [0, 1], sort ids
    by prediction and by GT, give GT bins a running rank in GT order, compare position by
    position. Predictions here have no ties, so the official unstable sort is unambiguous.
    Its float arithmetic puts some values that lie exactly on a bin edge one bin low
    (80.1 * 1e-2 * 1000 // 1 == 800); ours does not, so the GT here avoids edges."""
    model_perfs = [p * (1e-2 if 1 < np.mean(model_perfs) < 100 else 1.0) for p in model_perfs]
    gt_perfs = [p * (1e-2 if 1 < np.mean(gt_perfs) < 100 else 1.0) for p in gt_perfs]
    ids = list(range(len(gt_perfs)))
    by_pred = sorted(ids, key=lambda i: model_perfs[i])
    by_gt = sorted(ids, key=lambda i: gt_perfs[i])
    rank_of, gt_ranks, rank, previous = {}, [], -1, 0.0
    for i in by_gt:
        if gt_perfs[i] * (1 / threshold) // 1 > previous * (1 / threshold) // 1:
            rank += 1
        rank_of[i] = rank
        gt_ranks.append(rank)
        previous = gt_perfs[i]
    return scipy_stats.kendalltau(gt_ranks, [rank_of[i] for i in by_pred]).statistic


def test_sparse_kendall_tau_hand_computed():
    # GT bins at 0.1 point: floor(gt * 10) = [863, 863, 864, 865]; pred order: 1, 0, 3, 2.
    gt, pred = [86.31, 86.38, 86.45, 86.52], [0.2, 0.1, 0.4, 0.3]
    # x = bins sorted = [863, 863, 864, 865], y = bins in pred order = [863, 863, 865, 864].
    # Position pairs: (0,1) tied in both, (2,3) discordant, the other 4 concordant;
    # one tie in x and one in y -> tau-b = (4 - 1) / sqrt((6 - 1) * (6 - 1)) = 3 / 5.
    assert scipy_stats.kendalltau([863, 863, 864, 865], [863, 863, 865, 864]).statistic == pytest.approx(0.6)
    assert sparse_kendall_tau(pred, gt) == pytest.approx(0.6, abs=1e-12)
    # Not the same as tau-b between binned GT and pred per architecture (3 / sqrt(30)),
    # nor the old definition that rounded both arrays.
    assert scipy_stats.kendalltau([863, 863, 864, 865], pred).statistic == pytest.approx(3 / math.sqrt(30))
    assert sparse_kendall_tau(pred, gt) != pytest.approx(
        scipy_stats.kendalltau(np.round(pred, 1), np.round(gt, 1)).statistic)


def test_sparse_kendall_tau_ignores_order_inside_a_bin_and_keeps_pred_untouched():
    gt = [86.31, 86.38, 86.45, 86.52]  # bins 863, 863, 864, 865
    # Any order of the two same-bin architectures is perfect.
    assert sparse_kendall_tau([1, 2, 3, 4], gt) == pytest.approx(1.0)
    assert sparse_kendall_tau([2, 1, 3, 4], gt) == pytest.approx(1.0)
    # Predictions closer than 0.1 point still order the architectures: nothing rounds them.
    pred = [86.301, 86.302, 86.304, 86.303]  # order 0, 1, 3, 2 -> y = [863, 863, 865, 864]
    assert sparse_kendall_tau(pred, gt) == pytest.approx(0.6)
    # Only the order of pred matters.
    assert sparse_kendall_tau(np.asarray(pred) / 100, gt) == pytest.approx(0.6)
    # A value written as 86.3 is in bin 863 (86.3 / 0.1 is 862.999... in floating point;
    # the official code's float arithmetic also misplaces e.g. 80.1, which we put in bin 801).
    assert sparse_kendall_tau([1, 2, 3], [86.3, 86.39, 86.4]) == pytest.approx(1.0)
    assert sparse_kendall_tau([2, 1, 3], [86.3, 86.39, 86.4]) == pytest.approx(1.0)
    assert sparse_kendall_tau([2, 1, 3], [80.1, 80.19, 80.2]) == pytest.approx(1.0)
    assert math.isnan(sparse_kendall_tau([1, 2, 3], [86.31, 86.35, 86.39]))  # one bin


@pytest.mark.parametrize("seed", range(4))
def test_sparse_kendall_tau_matches_the_official_procedure(seed):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(84, 87, 120)             # GT in %, 30 bins of 0.1 point: many shared
    pred = gt + rng.normal(0, 0.8, gt.size)   # no ties
    expected = official_sparse_kendall_tau(list(pred), list(gt))
    assert sparse_kendall_tau(pred, gt) == pytest.approx(expected, abs=1e-12)
    # Coarser bins (threshold 1e-2 on [0, 1], i.e. 1 point) as the official visualisation uses.
    assert sparse_kendall_tau(pred, gt, resolution=1.0) == pytest.approx(
        official_sparse_kendall_tau(list(pred), list(gt), threshold=1e-2), abs=1e-12)
    # With ties in GT bins the official value differs from plain Kendall tau.
    assert sparse_kendall_tau(pred, gt) != pytest.approx(kendall_tau(pred, gt), abs=1e-6)


# --- hand-computed cases ----------------------------------------------------

@pytest.mark.parametrize("metric", [kendall_tau, sparse_kendall_tau, spearman_rho])
def test_perfect_and_reversed_order(metric):
    gt = [70.0, 72.5, 80.0, 91.25]
    assert metric([1, 2, 3, 4], gt) == pytest.approx(1.0)
    assert metric([4, 3, 2, 1], gt) == pytest.approx(-1.0)


def test_constant_input_gives_nan():
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [5, 5, 5]))


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


# --- intervals that hold at small n -----------------------------------------

def test_t_interval_by_hand_and_against_scipy():
    values = [0.2, 0.4, 0.9]
    # mean 0.5, s = sqrt(0.13); with 2 degrees of freedom the t quantile has a closed form,
    # t_p = (2p - 1) * sqrt(2 / (4p(1 - p))): t_{0.975, 2} = 4.3027 (as in printed tables).
    t975 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    assert t975 == pytest.approx(4.3027, abs=1e-4)
    half = t975 * math.sqrt(0.13) / math.sqrt(3)
    mean, lo, hi = t_interval(values)
    assert (mean, lo, hi) == pytest.approx((0.5, 0.5 - half, 0.5 + half), abs=1e-12)
    assert (lo, hi) == pytest.approx(scipy_stats.t.interval(0.95, 2, loc=0.5, scale=scipy_stats.sem(values)))
    # Much wider than the percentile bootstrap of the same three values, which cannot leave their range.
    b_lo, b_hi = bootstrap_ci(values, n_boot=2000)
    assert 0.2 <= b_lo and b_hi <= 0.9 and lo < -0.3 and hi > 1.3
    # Paired: the interval of the per-seed differences.
    a = np.array([0.30, 0.35, 0.20])
    assert paired_t_diff(a, a + np.array(values)) == pytest.approx((mean, lo, hi))
    # One-sided bound: t_{0.95, 2} = 0.9 * sqrt(2 / 0.19) = 2.9200
    t95 = 0.9 * math.sqrt(2 / (4 * 0.95 * 0.05))
    assert t_upper_bound(values) == pytest.approx(0.5 + t95 * math.sqrt(0.13) / math.sqrt(3), abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([0.5])


def test_pooled_t_upper_diff_by_hand_and_against_scipy():
    # new [0.5], base [0.6, 0.7, 0.8]: D = -0.2, s_p^2 = 0.02 / 2, t_{0.95, 2} = 0.9 * sqrt(2 / 0.19)
    diff, upper, dof = pooled_t_upper_diff([0.5], [0.6, 0.7, 0.8])
    assert (diff, dof) == (pytest.approx(-0.2), 2)
    assert upper == pytest.approx(-0.2 + 0.9 * math.sqrt(2 / 0.19) * 0.1 * math.sqrt(1 + 1 / 3), abs=1e-12)
    new, base = [0.41, 0.47, 0.38], [0.45, 0.52, 0.50]
    expected = scipy_stats.ttest_ind(new, base, alternative="less").confidence_interval(0.95).high
    assert pooled_t_upper_diff(new, base)[1] == pytest.approx(expected)
    assert pooled_t_upper_diff([0.4, 0.4], [0.5, 0.5])[:2] == pytest.approx((-0.1, -0.1))  # no spread
    with pytest.raises(ValueError):
        pooled_t_upper_diff([0.4], [0.5])


def _pools(n_seeds, n_pool, rng, shared=False, rho=0.6, noise=0.5):
    """Seeds x pools of a population where the Kendall tau between GT and a seed's scores is known:
    GT ~ N(0, 1), arch quality q = rho GT + sqrt(1 - rho^2) e (fixed per architecture), scores
    q + noise * d (per seed): correlation rho / sqrt(1 + noise^2), tau = 2 / pi * asin(that)
    (the sample tau is unbiased for it). ``shared``: all seeds score one pool."""
    truth = 2 / math.pi * math.asin(rho / math.sqrt(1 + noise ** 2))
    runs = []
    for s in range(n_seeds):
        if s == 0 or not shared:
            gt = rng.normal(size=n_pool)
            q = rho * gt + math.sqrt(1 - rho ** 2) * rng.normal(size=n_pool)
        runs.append((q + noise * rng.normal(size=n_pool), gt))
    return runs, truth


def test_hierarchical_bootstrap_estimate_and_width_follows_pool_size():
    rng = np.random.default_rng(0)
    small, _ = _pools(3, 20, rng)
    large, _ = _pools(3, 200, rng)
    widths = {}
    for name, runs in (("small", small), ("large", large)):
        r = hierarchical_bootstrap(runs, "kendall_tau", n_boot=500)
        assert r["estimate"] == pytest.approx(np.mean([scipy_stats.kendalltau(p, g).statistic for p, g in runs]))
        assert r["lo"] < r["estimate"] < r["hi"] and (r["n_seeds"], r["pool_size"]) == (3, len(runs[0][0]))
        widths[name] = r["hi"] - r["lo"]
    # Pool error shrinks like 1/sqrt(pool size): 10x the architectures, about a third of the width.
    assert widths["small"] > 2 * widths["large"]
    # Reproducible for a seed.
    assert hierarchical_bootstrap(small, n_boot=200, seed=3) == hierarchical_bootstrap(small, n_boot=200, seed=3)


def test_hierarchical_bootstrap_covers_the_truth_at_about_the_stated_rate():
    rng = np.random.default_rng(1)
    n_sets, level = 120, 0.9
    independent = [_pools(3, 25, rng) for _ in range(n_sets)]
    shared = [_pools(3, 25, rng, shared=True) for _ in range(n_sets)]

    def coverage(datasets, shared_pool):
        hits = 0
        for i, (runs, truth) in enumerate(datasets):
            r = hierarchical_bootstrap(runs, level=level, n_boot=250, seed=i, shared_pool=shared_pool)
            hits += r["lo"] <= truth <= r["hi"]
        return hits / len(datasets)

    # One pool per seed: resampling seeds and pools covers (a two-level bootstrap is a bit conservative).
    assert 0.82 <= coverage(independent, False) <= 1.0
    # One pool for all seeds: one pool draw per replicate covers; drawing per seed would
    # average the common pool's error away and fall short.
    crossed, per_seed = coverage(shared, True), coverage(shared, False)
    assert crossed >= 0.82 and per_seed < crossed - 0.08
    # The t interval over seeds knows nothing of the pool: with a shared pool it falls far short.
    t_hits = 0
    for runs, truth in shared:
        _, lo, hi = t_interval([scipy_stats.kendalltau(p, g).statistic for p, g in runs], level)
        t_hits += lo <= truth <= hi
    assert t_hits / n_sets < crossed - 0.1


def test_hierarchical_bootstrap_diff_pairs_seeds_and_pool_draws():
    rng = np.random.default_rng(2)
    base, _ = _pools(3, 40, rng)
    # Identical arms: every replicate's difference is exactly 0, which needs the same pool draw for both.
    same = hierarchical_bootstrap_diff(base, base, "kendall_tau", n_boot=300)
    assert (same["estimate"], same["lo"], same["hi"]) == (0.0, 0.0, 0.0)
    better = [(0.5 * p + 0.5 * g, g) for p, g in base]
    r = hierarchical_bootstrap_diff(base, better, "spearman_rho", n_boot=300)
    per_seed = [scipy_stats.spearmanr(q, g).statistic - scipy_stats.spearmanr(p, g).statistic
                for (p, g), (q, _) in zip(base, better)]
    assert r["estimate"] == pytest.approx(np.mean(per_seed)) and 0 < r["lo"] < r["estimate"] < r["hi"]
    with pytest.raises(ValueError, match="same pool"):
        hierarchical_bootstrap_diff(base, [(p, g + 1) for p, g in base])


def test_hierarchical_bootstrap_counts_undefined_replicates_and_refuses_past_a_share():
    """A resampled pool that repeats one architecture has no Kendall tau. Pool of 2: half the
    replicates (both draws alike, probability 1/2); pool of 3: 1 in 9 (3 / 3^3); pool of 5:
    about 1 in 625 (5 / 5^5)."""
    from lmreg.paper_figures.stats import MAX_UNDEFINED_SHARE
    two = hierarchical_bootstrap([(np.array([0.0, 1.0]), np.array([0.0, 1.0]))], "kendall_tau", n_boot=2000)
    assert abs(two["undefined"] - 1000) < 6 * math.sqrt(2000 * 0.25) and two["n_boot"] == 2000
    assert math.isnan(two["lo"]) and math.isnan(two["hi"])  # far past the share: no interval
    three = hierarchical_bootstrap([(np.arange(3.0), np.arange(3.0))], "kendall_tau", n_boot=2000)
    assert abs(three["undefined"] - 2000 / 9) < 6 * math.sqrt(2000 / 9) and math.isnan(three["lo"])  # 11 %
    five = hierarchical_bootstrap([(np.arange(5.0), np.arange(5.0))], "kendall_tau", n_boot=2000)
    assert 0 < five["undefined"] < MAX_UNDEFINED_SHARE * 2000 and five["lo"] == five["hi"] == 1.0
    diff = hierarchical_bootstrap_diff([(np.array([1.0, 0.0]), np.array([0.0, 1.0]))],
                                       [(np.array([0.0, 1.0]), np.array([0.0, 1.0]))], n_boot=2000)
    assert abs(diff["undefined"] - 1000) < 6 * math.sqrt(2000 * 0.25) and math.isnan(diff["lo"])
    rng = np.random.default_rng(2)
    base, _ = _pools(3, 40, rng)
    assert hierarchical_bootstrap(base, n_boot=300)["undefined"] == 0


@pytest.mark.parametrize("name", [*METRICS, *SEARCH_METRICS])
def test_batched_metric_equals_the_metric_row_by_row(name):
    rng = np.random.default_rng(5)
    gt = np.round(rng.uniform(84, 87, 60), 2)
    pred = np.round(gt + rng.normal(0, 1, 60), 1)  # ties in pred too
    idx = rng.integers(0, 60, (30, 60))            # bootstrap rows, repeated architectures
    got = batched_metric(name)(pred[idx], gt[idx])
    want = [get_metric(name)(pred[i], gt[i]) for i in idx]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    flat = np.full((1, 12), 85.0)  # a constant GT row: whatever the metric says, batched says too
    np.testing.assert_equal(batched_metric(name)(pred[None, :12], flat), [get_metric(name)(pred[:12], flat[0])])
    if name in ("kendall_tau", "sparse_kendall_tau", "spearman_rho"):  # correlations: no order, no value
        assert math.isnan(batched_metric(name)(pred[None, :12], flat)[0])

# The official code's tau and percentiles ------------------------------------------------
def _official_tau_restated(acc, loss, ids):
    """cnn_general_search_policies.py:692-696 written out: Rank tuples (valid_acc, valid_obj,
    geno_id) sorted ascending give the super-net order; ids are GT ranks."""
    ranking = sorted(zip(acc, loss, ids))
    rank_gt = sorted(ids)
    return scipy_stats.kendalltau(rank_gt, [r[2] for r in ranking]).statistic


def test_official_kendall_tau_by_hand():
    """pred [1, 1, 2, 3], gt [10, 20, 20, 30]. tau-b: 4 concordant of 6 pairs, one tied in pred,
    one in gt: 4 / sqrt(5 * 5) = 0.8. Official: ids (GT ranks, ties in pool order) 0, 1, 2, 3; the
    accuracy tie goes by loss, then id: without losses ids [0, 1, 2, 3] in super-net order, tau 1;
    with losses [0.5, 0.4, 0, 0] architecture 1 comes first: [1, 0, 2, 3], one discordant pair
    of 6: (5 - 1) / 6."""
    from lmreg.paper_figures.metrics import official_kendall_tau
    pred, gt = [1, 1, 2, 3], [10, 20, 20, 30]
    assert kendall_tau(pred, gt) == pytest.approx(0.8)
    assert official_kendall_tau(pred, gt) == pytest.approx(1.0)
    assert official_kendall_tau(pred, gt, loss=[0.5, 0.4, 0, 0]) == pytest.approx(4 / 6)
    assert all_metrics(pred * 3, gt * 3)["kendall_tau_official"] == official_kendall_tau(pred * 3, gt * 3)


def test_official_kendall_tau_matches_the_official_procedure_restated():
    from lmreg.paper_figures.metrics import gt_rank_ids, official_kendall_tau
    rng = np.random.default_rng(0)
    for _ in range(20):
        acc = rng.integers(80, 90, 40).astype(float)      # many ties, as 2,000-image accuracies have
        loss = rng.integers(0, 3, 40).astype(float)
        gt = rng.integers(0, 15, 40).astype(float)
        ids = gt_rank_ids(gt)
        assert sorted(ids) == list(range(40)) and all(gt[ids.argsort()] == np.sort(gt))
        assert official_kendall_tau(acc, gt, loss) == pytest.approx(_official_tau_restated(acc, loss, ids))


def test_official_percentiles_by_hand():
    """compute_percentile: the k best-scored architectures' GT rank ids / n_total (whole space).
    pred [5, 9, 7, 1], ranks [2, 8, 6, 0] of 10 cells: top 2 are ranks 8 and 6: 0.8 and 0.6;
    top 3 add rank 2: min 0.2, median 0.6, max 0.8."""
    from lmreg.paper_figures.metrics import official_percentiles
    pred, ranks = [5, 9, 7, 1], [2, 8, 6, 0]
    assert official_percentiles(pred, ranks, 10, 2) == {"min": 0.6, "median": pytest.approx(0.7), "max": 0.8}
    assert official_percentiles(pred, ranks, 10, 3) == {"min": 0.2, "median": 0.6, "max": 0.8}
    # a tie in accuracy goes to the higher loss (the ascending Rank order, reversed)
    assert official_percentiles([9, 9, 1], [3, 5, 0], 10, 1, loss=[0.2, 0.1, 0]) == {"min": 0.3, "median": 0.3,
                                                                                     "max": 0.3}
