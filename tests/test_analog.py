"""analog-nasbench as an NB201 ground truth (optional package, read without importing it)."""

from __future__ import annotations

import importlib.metadata
import sys

import numpy as np
import pandas as pd
import pytest

from lmreg.bench import analog, registry
from lmreg.bench.gt_table import GTFileError, GTTable
from lmreg.bench.landmarks import select_landmarks, select_pool
from lmreg.spaces import nb201
from tests.fixtures import is_installed

INSTALLED = is_installed(analog.DIST)

needs_pkg = pytest.mark.skipif(not INSTALLED, reason="optional package analog-nasbench is not installed "
                               "(pip install analog-nasbench)")


def test_mapping_is_a_bijection_onto_our_cells():
    import itertools
    theirs = list(itertools.product(range(5), repeat=6))
    ours = {analog.to_ours(t) for t in theirs}
    assert len(ours) == nb201.NUM_ARCHS
    # NASLib order: ops (skip, none, conv3x3, conv1x1, avgpool), edges 0->1, 0->2, 0->3, 1->2, 1->3, 2->3
    t = (0, 1, 2, 3, 4, 0)
    assert nb201.to_str(analog.to_ours(t)) == \
        "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table():
    if not INSTALLED:
        pytest.skip("optional package analog-nasbench is not installed (pip install analog-nasbench)")
    return analog.analog_table()


@needs_pkg
def test_read_without_importing_the_package(table):
    assert "analognasbench" not in sys.modules and "analognasbench.data" not in sys.modules
    assert len(table) == nb201.NUM_ARCHS == len(set(table.archs))
    raw = analog.read_raw()
    assert table.per_arch("test_acc")[nb201.to_str(analog.to_ours((0, 0, 0, 0, 0, 0)))] == raw[(0, 0, 0, 0, 0, 0)]


@needs_pkg
def test_mapping_confirmed_by_the_data(table):
    gt = table.per_arch("test_acc")
    chance = set(gt.index[gt <= 10.0 + 1e-9])
    disconnected = {nb201.to_str(a) for a in nb201.all_archs() if not nb201.is_connected(a)}
    assert chance == disconnected and len(chance) == 341
    # isomorphic cells (same canonical form) agree far better than random pairs
    keys = pd.Series([nb201.canonical(nb201.parse(a)) for a in gt.index], index=gt.index)
    spread = gt.groupby(keys.values).std().dropna()
    assert spread.mean() < 0.5 * gt.std()
    # conv3x3 everywhere beats conv1x1 everywhere beats avg-pool everywhere
    uniform = {op: gt[nb201.to_str((nb201.OPS.index(op),) * 6)] for op in
               ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")}
    assert uniform["nor_conv_3x3"] > uniform["nor_conv_1x1"] > uniform["avg_pool_3x3"]


@needs_pkg
def test_convert_registry_and_landmarks(tmp_path, monkeypatch):
    out = tmp_path / "analog.h5"
    monkeypatch.setenv(analog.ENV_PATH, str(out))
    t = registry.load("analog-nb201")          # converted on first use
    assert out.is_file() and registry.resolve("analog-nb201") == out
    again = GTTable.read(out)
    gt = again.per_arch("test_acc")
    assert len(gt) == nb201.NUM_ARCHS and (gt == t.per_arch("test_acc")).all()
    assert 10.0 <= gt.min() and gt.max() < 100
    lm = select_landmarks(gt, 30, method="random", seed=0)
    pool = select_pool(gt, 100, exclude=lm, seed=0)
    assert len(lm) == 30 and len(pool) == 100 and not set(lm) & set(pool)
    assert np.all(np.diff(gt[lm].values) >= 0)
    assert [p.name for p in tmp_path.iterdir()] == ["analog.h5"]


def test_missing_package_message(tmp_path, monkeypatch):
    """Without the package (neither its distribution nor its module can be found) the
    message is data_file's own: one line, naming the table and how to install."""
    import importlib.metadata
    import importlib.util

    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.metadata, "distribution", no_distribution)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "analognasbench" else real_find_spec(name, *a))
    with pytest.raises(GTFileError, match=r"pip install analog-nasbench") as e:
        analog.load_analog(tmp_path / "absent.h5")
    assert "absent.h5" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "absent.h5").exists()


def test_bad_pickle(tmp_path):
    bad = tmp_path / "data.anb"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(GTFileError, match="data.anb"):
        analog.read_raw(bad)
