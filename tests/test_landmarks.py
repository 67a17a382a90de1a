"""Landmark and evaluation-pool selection from a GT series."""

import pandas as pd
import pytest

from lmreg.bench.landmarks import select_landmarks, select_pool


@pytest.fixture
def gt():
    # 40 architectures; accuracy falls with the name's number, with one tie (a05 == a06)
    acc = {f"a{i:02d}": 90.0 - i for i in range(40)}
    acc["a06"] = acc["a05"]
    return pd.Series(acc).sample(frac=1.0, random_state=3)  # row order must not matter


def _ascending(gt, archs):
    return all(gt[a] <= gt[b] for a, b in zip(archs, archs[1:]))


@pytest.mark.parametrize("method", ["random", "fixed", "even"])
def test_landmarks_sorted_ascending_and_distinct(gt, method):
    lm = select_landmarks(gt, 10, method=method, seed=1)
    assert len(lm) == len(set(lm)) == 10
    assert set(lm) <= set(gt.index)
    assert _ascending(gt, lm)


def test_ties_broken_by_string(gt):
    lm = select_landmarks(gt, len(gt), method="random", seed=0)
    assert lm.index("a05") < lm.index("a06")  # equal GT: string order


def test_random_reproducible_by_seed_and_independent_of_row_order(gt):
    a = select_landmarks(gt, 8, seed=5)
    assert a == select_landmarks(gt.sort_index(), 8, seed=5)
    assert a != select_landmarks(gt, 8, seed=6)


def test_even_spreads_over_ranking_including_worst_and_best(gt):
    lm = select_landmarks(gt, 4, method="even")
    assert lm[0] == "a39" and lm[-1] == "a00"  # worst and best
    ranking = sorted(gt.index, key=lambda a: (gt[a], a))
    # ranks round(i * 39 / 3) = 0, 13, 26, 39
    assert [ranking.index(a) for a in lm] == [0, 13, 26, 39]


@pytest.mark.parametrize("n, m, ranks", [
    # The official rule (search_space.py landmark_topologies): step = n // m,
    # start = n - (m - 1) * step - 1, ids = range(start, n, step); worked by hand.
    (40, 4, [9, 19, 29, 39]),                 # step 10, start 9
    (40, 3, [13, 26, 39]),                    # step 13, start 13
    (40, 7, [9, 14, 19, 24, 29, 34, 39]),     # step 5, start 9: the worst is not kept
    (40, 40, list(range(40))),                # step 1, start 0
])
def test_fixed_is_the_official_rule(n, m, ranks):
    gt = pd.Series({f"a{i:02d}": float(i) for i in range(n)}).sample(frac=1.0, random_state=0)
    assert [int(a[1:]) for a in select_landmarks(gt, m, method="fixed")] == ranks


@pytest.mark.parametrize("m", [0, 1, 41])
def test_bad_m_raises(gt, m):
    with pytest.raises(ValueError, match="m="):
        select_landmarks(gt, m)


def test_unknown_method_lists_valid_ones(gt):
    with pytest.raises(KeyError, match="random, fixed, even"):
        select_landmarks(gt, 5, method="best")


def test_missing_gt_raises(gt):
    gt = gt.copy()
    gt["a10"] = float("nan")
    with pytest.raises(ValueError, match="missing"):
        select_landmarks(gt, 5)


def test_pool_excludes_landmarks_and_is_reproducible(gt):
    lm = select_landmarks(gt, 10, seed=2)
    pool = select_pool(gt, 20, exclude=lm, seed=4)
    assert len(pool) == len(set(pool)) == 20
    assert not set(pool) & set(lm)
    assert pool == select_pool(gt, 20, exclude=lm, seed=4)
    assert pool != select_pool(gt, 20, exclude=lm, seed=5)


@pytest.mark.parametrize("n", [None, 30, 100])
def test_pool_all_remaining_sorted(gt, n):
    lm = select_landmarks(gt, 10, seed=2)
    assert select_pool(gt, n, exclude=lm) == sorted(set(gt.index) - set(lm))


def test_pool_bad_size_raises(gt):
    with pytest.raises(ValueError, match="pool size"):
        select_pool(gt, 0)
