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


@pytest.mark.slow
def test_nb101_paper_preset_smoke(cifar, monkeypatch, capsys):
    """The NB101 preset at its full width and depth (C=64, 3 modules per stack) on the fixture
    files, with the micro NB101 table as ground truth (its cells are NB101 cells)."""
    monkeypatch.setenv("LMREG_CIFAR10_DIR", str(cifar))
    assert main(["train", "--preset", "nb101-cifar10", "--smoke", "--max-steps", "1", "--set", "device=cpu",
                 "--set", "benchmark=micro-fmnist-nb101"]) == 0
    assert "smoke run of nb101-cifar10 passed (spos on cifar10, cpu, C=64 N=3)" in capsys.readouterr().out


def test_nb101_preset_is_the_official_script_nb101_block():
    """validate-landmarkloss.sh:100-115 (nasbench101) with the common settings of :77-97 and the
    command line of :189-229; `--layers 3` is num_modules_per_stack (nb/model_search.py:265),
    `--init_channels 64` the stem width (:266). Written out from the script, not from the preset."""
    from lmreg.experiments.runconfig import load_config
    cfg = load_config("nb101-cifar10")
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.benchmark, cfg.gt_metric) == ("nb101", "spos", "cifar10",
                                                                                  "nb101", "test_acc")
    assert (cfg.seed, cfg.draws) == (1268, "run_seed")                        # arr2 = 1268 1269
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size) == (200, 100, 128)      # epochs, supernet_warmup_epoch
    assert (t.lr, t.weight_decay, t.lr_min, t.momentum) == (0.025, 1e-4, 0.001, 0.9)
    assert (t.grad_clip, t.unsampled_grads) == (5.0, "zero")
    assert (cfg.net.C, cfg.net.N, cfg.net.bn_affine, cfg.net.bn_track_running_stats) == (64, 3, True, False)
    lm = cfg.landmarks
    assert (lm.m, lm.selection, lm.landmark_warmup_epochs) == (50, "random", 10)   # arch=50, random
    assert (lm.schedule, lm.max_coef, lm.loss_form) == ("cosine_increase", 10.0, "hinge")  # mae_relu
    assert (lm.pair_sampler, lm.n_pairs, lm.pair_reduction) == ("official", 1, "sum")  # random_pairwise, 1
    assert (lm.every, lm.batch_size) == (1, 0)
    e = cfg.eval
    assert (e.pool_size, e.every, e.n_images, e.batch_size, e.bn_mode) == (200, 30, 10000, 256, "batch")
    assert cfg.use_landmarks


def test_max_steps_is_for_smoke_runs_only(capsys):
    assert main(["train", "--preset", "quick", "--max-steps", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-steps only applies to --smoke runs" in err[0]
