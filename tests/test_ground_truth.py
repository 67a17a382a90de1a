"""Conformance of every ground-truth source with bench.ground_truth.GroundTruth, on small
fixture tables written the way each source's own tests write them (the shipped micro
table for the builder's GTTable)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmreg.bench import analog, nb101, registry
from lmreg.bench.ground_truth import GroundTruth, gt_metric
from lmreg.bench.gt_table import GTFileError, GTTable
from lmreg.spaces import nb201

ROOT = Path(__file__).resolve().parents[1]
# source -> the registry name of a benchmark of that kind
SOURCES = {"built": "micro-fmnist-nb201", "nb201-official": "nb201-cifar10", "analog": "analog-nb201",
           "nb101": "nb101", "nb201-pypi": "nb201-real-cifar100"}


def _built(tmp):
    return GTTable.read(ROOT / "bench" / "data" / "micro_fmnist_nb201.h5")


def _nb201_official(tmp):
    pytest.importorskip("nas_201_api")
    from lmreg.bench.nb201_official import convert_nb201, open_nb201
    from tests.test_nb201_official import write_fixture
    write_fixture(tmp / "nb201.pth", "v1_1")
    convert_nb201(tmp / "nb201.pth", tmp / "nb201.h5")
    return open_nb201("cifar10", "200", tmp / "nb201.h5")


def _analog(tmp):
    try:
        importlib.metadata.distribution(analog.DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("optional package analog-nasbench is not installed")
    return analog.analog_table()


def _nb101(tmp):
    pytest.importorskip("nasbench_pytorch.model.graph_util")
    from lmreg.bench import tfrecord
    from tests.test_nb101 import fixture_records
    tfrecord.write_records(tmp / "nb101.tfrecord", fixture_records())
    return nb101.NB101Table.read(nb101.convert_nb101(tmp / "nb101.tfrecord", tmp / "nb101.h5"))


def _nb201_pypi(tmp):
    from lmreg.bench import nb201_pypi
    try:
        src = nb201_pypi.data_file("nb201-real-cifar100")
    except GTFileError:
        pytest.skip("optional extra nb201-pypi is not installed")
    return nb201_pypi.table_from_raw("nb201-real-cifar100", nb201_pypi.read_raw(src))


MAKERS = {"built": _built, "nb201-official": _nb201_official, "analog": _analog, "nb101": _nb101,
          "nb201-pypi": _nb201_pypi}


@pytest.fixture(scope="module", params=list(MAKERS))
def source(request, tmp_path_factory):
    table = MAKERS[request.param](tmp_path_factory.mktemp(request.param))
    return request.param, table


def _key_ok(space: str, key: str) -> bool:
    if space == "nb201":
        return nb201.to_str(nb201.parse(key)) == key
    return nb101.parse_module_hash(key) == key


def test_is_a_ground_truth_of_its_benchmarks_space(source):
    name, table = source
    assert isinstance(table, GroundTruth)
    assert table.space == registry.BENCHMARKS[SOURCES[name]].space
    assert isinstance(table.task, str) and isinstance(table.recipe, dict) and isinstance(table.meta, dict)
    assert gt_metric(table) in table.metrics and table.epochs >= 1


def test_per_arch_is_a_float_series_by_key(source):
    _, table = source
    gt = table.per_arch(gt_metric(table))
    assert isinstance(gt, pd.Series) and gt.dtype == np.float64 and gt.name == gt_metric(table)
    assert gt.index.name == "arch" and gt.index.is_unique and gt.index.is_monotonic_increasing
    assert all(_key_ok(table.space, k) for k in gt.index)
    assert len(gt) >= 2 and not gt.isna().any()  # every fixture table is complete
    assert 0 < gt.min() and gt.max() <= 100      # accuracies in percent
    for metric in table.metrics:
        values = table.per_arch(metric)
        assert values.dtype == np.float64 and values.name == metric
        assert values.index.is_unique and set(values.index) <= set(gt.index)


def test_seed_matrix_row_mean_is_per_arch(source):
    _, table = source
    for metric in (gt_metric(table), table.metrics[-1]):
        gt, matrix = table.per_arch(metric), table.seed_matrix(metric)
        assert set(gt.index) <= set(matrix.index)
        assert set(matrix.columns) == set(np.unique(table.seeds).tolist())
        pd.testing.assert_series_equal(matrix.mean(axis=1).loc[gt.index], gt, check_names=False)


def test_rows_agree(source):
    _, table = source
    frame = table.frame()
    n = len(table)
    assert n == len(frame) == len(table.seeds) == int(table.seed_matrix(gt_metric(table)).notna().to_numpy().sum())
    assert all(len(v) == n for v in table.scalars.values())
    assert {"arch", "seed", *table.metrics} <= set(frame.columns)
    gt = table.per_arch(gt_metric(table))
    by_arch = frame.groupby("arch")[gt_metric(table)].mean()
    np.testing.assert_allclose(by_arch.loc[gt.index], gt)


def test_last_epoch_is_minus_one_and_out_of_range_fails(source):
    _, table = source
    m = gt_metric(table)
    pd.testing.assert_series_equal(table.per_arch(m, -1), table.per_arch(m, table.epochs - 1))
    pd.testing.assert_frame_equal(table.seed_matrix(m, -1), table.seed_matrix(m, table.epochs - 1))
    with pytest.raises(LookupError) as e:
        table.per_arch(m, table.epochs + 1)
    assert str(table.epochs + 1) in str(e.value) and "\n" not in str(e.value)


def test_unknown_metric_names_the_valid_ones(source):
    _, table = source
    for view in (table.per_arch, table.seed_matrix):
        with pytest.raises(KeyError) as e:
            view("no_such_metric")
        text = str(e.value)
        assert "no_such_metric" in text and "\n" not in text
        assert all(m in text for m in table.metrics)
