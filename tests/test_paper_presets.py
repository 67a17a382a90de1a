"""The paper presets end to end on CIFAR-10 fixture files in the real format
(`lmreg train --smoke`): the data path, the network of each preset, both kinds of
step, scoring and the record, in a temporary folder. The ground truth is the micro
table (no NB201 CIFAR-10 table is reachable here): it only has to name NB201 cells."""

import pytest

from lmreg.algorithms.base import algorithm_names
from lmreg.experiments.cli import main
from tests.fixtures import write_cifar10

GT = ["--set", "device=cpu", "--set", "benchmark=micro-fmnist-nb201", "--set", "gt_metric=test_acc"]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_cifar10(root, per_batch=260)  # 1,300 train images: 650 + 650 held out; 260 test
    return root


@pytest.mark.slow
def test_paper_preset_smoke_at_full_size(cifar, monkeypatch, capsys):
    monkeypatch.setenv("LMREG_CIFAR10_DIR", str(cifar))
    assert main(["train", "--preset", "nb201-cifar10", "--smoke", "--max-steps", "1", *GT]) == 0
    out = capsys.readouterr().out
    assert "smoke run of nb201-cifar10 passed (spos on cifar10, cpu, C=16 N=5)" in out


def _paper_preset(algorithm: str) -> str:
    """The NB201 CIFAR-10 paper preset that trains `algorithm`."""
    from lmreg.experiments.runconfig import PRESET_DIR, load_config
    found = [p.stem for p in sorted(PRESET_DIR.glob("nb201-cifar10*.toml")) if load_config(p.stem).algorithm == algorithm]
    assert found, f"no nb201-cifar10* paper preset trains the registered algorithm {algorithm!r}"
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", algorithm_names())
def test_algorithm_paper_presets_smoke(algorithm, cifar, monkeypatch, capsys):
    """Every registered algorithm's paper preset, one cell per stage (net.N=1) to keep it short on a
    CPU; everything else as the preset."""
    monkeypatch.setenv("LMREG_CIFAR10_DIR", str(cifar))
    preset = _paper_preset(algorithm)
    assert main(["train", "--preset", preset, "--smoke", "--max-steps", "1", *GT, "--set", "net.N=1"]) == 0
    assert f"smoke run of {preset} passed" in capsys.readouterr().out


def test_max_steps_is_for_smoke_runs_only(capsys):
    assert main(["train", "--preset", "quick", "--max-steps", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-steps only applies to --smoke runs" in err[0]
