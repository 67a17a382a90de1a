"""The paper presets end to end on CIFAR-10 fixture files in the real format
(`lmreg train --smoke`): the data path, the network of each preset, both kinds of
step, scoring and the record, in a temporary folder. The ground truth is the micro
table (no NB201 CIFAR-10 table is reachable here): it only has to name NB201 cells."""

import pytest

from lmreg.algorithms.base import algorithm_names
from lmreg.experiments.cli import main
from lmreg.experiments.runconfig import load_config
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


# DARTS-NDS paper presets --------------------------------------------------------------------
# The NDS ground truth is a fixture DARTS.json in the layout tests/test_nds.py pins, named to the
# preset's own benchmark (nds-darts) through its environment variables, converted on first use.
DARTS_PRESETS = {"spos": "darts-nds-cifar10", "gdas": "darts-nds-cifar10-gdas", "pcdarts": "darts-nds-cifar10-pcdarts",
                 "nao": "darts-nds-cifar10-nao"}


@pytest.fixture(scope="module")
def nds_json(tmp_path_factory):
    import json
    import random

    from lmreg.spaces import darts
    rng = random.Random(0)
    jobs = []
    for i, g in enumerate(darts.sample(40, 0, darts.NDS_OPS)):
        err = [rng.uniform(20, 60), rng.uniform(5, 20)]
        jobs.append({"job_id": i, "rng_seed": 0, "params": 1.0e6, "flops": 1.0e8, "min_test_top1": min(err),
                     "net": {"genotype": {"normal": [list(p) for p in g.normal], "normal_concat": list(g.normal_concat),
                                          "reduce": [list(p) for p in g.reduce], "reduce_concat": list(g.reduce_concat)},
                             "width": 16, "depth": 8, "aux": False, "drop_prob": 0.0},
                     "optim": {"base_lr": 0.1, "max_ep": 2, "wd": 5e-4},
                     "test_ep_top1": err, "train_ep_top1": [e + 1 for e in err]})
    path = tmp_path_factory.mktemp("nds") / "DARTS.json"
    path.write_text(json.dumps(jobs))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(DARTS_PRESETS))
def test_darts_nds_paper_presets_smoke(algorithm, cifar, nds_json, tmp_path, monkeypatch, capsys):
    """Each DARTS-NDS preset against its own benchmark name, one cell per stage (net.N=3: reductions
    at cells 1 and 2) to keep it short on a CPU; everything else as the preset."""
    monkeypatch.setenv("LMREG_CIFAR10_DIR", str(cifar))
    monkeypatch.setenv("LMREG_NDS_DARTS_JSON", str(nds_json))
    monkeypatch.setenv("LMREG_NDS_DARTS_H5", str(tmp_path / "nds_darts.h5"))
    preset = DARTS_PRESETS[algorithm]
    assert main(["train", "--preset", preset, "--smoke", "--max-steps", "1", "--set", "device=cpu",
                 "--set", "net.N=3"]) == 0
    C = load_config(preset).net.C
    assert f"smoke run of {preset} passed ({algorithm} on cifar10, cpu, C={C} N=3)" in capsys.readouterr().out


def test_darts_nds_spos_preset_is_the_official_script_block():
    """validate-landmarkloss.sh:116-133 (darts_nds) with the common settings of :77-97 and the command
    line of :189-229. Written out from the script, not from the preset."""
    cfg = load_config("darts-nds-cifar10")
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.benchmark, cfg.gt_metric) == ("darts-nds", "spos", "cifar10",
                                                                                  "nds-darts", "test_acc")
    assert (cfg.seed, cfg.draws) == (1269, "run_seed")                        # arr2 1268 1269, plus 1 (:133)
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size) == (400, 100, 128)
    assert (t.lr, t.weight_decay, t.lr_min, t.momentum) == (0.05, 5e-4, 0.001, 0.9)
    assert (t.grad_clip, t.unsampled_grads) == (5.0, "zero")
    assert t.path_sampler == "table"  # path_sample_method 'default': the NDS table's genotypes (cfg.py:203)
    assert (cfg.net.C, cfg.net.N, cfg.net.bn_affine, cfg.net.bn_track_running_stats) == (36, 12, False, False)
    lm = cfg.landmarks
    assert (lm.m, lm.selection, lm.landmark_warmup_epochs) == (50, "random", 10)
    assert (lm.schedule, lm.max_coef, lm.loss_form) == ("cosine_increase", 10.0, "hinge")
    assert (lm.pair_sampler, lm.n_pairs, lm.pair_reduction) == ("official", 1, "sum")
    e = cfg.eval
    assert (e.pool_size, e.every, e.n_images, e.batch_size, e.bn_mode) == (200, 30, 10000, 256, "batch")
    assert cfg.use_landmarks


@pytest.mark.parametrize("preset, algorithm, epochs, warmup, search_epochs, arch_lr, cell", [
    # gdas.sh:123-140 (darts_nds), epochs=410 of sub-experiment 0 (:161-164), policy_epochs 50
    ("darts-nds-cifar10-gdas", "gdas", 460, 250, 50, 3e-4, "op_on_node"),
    # pcdarts.sh:128-145 (darts_nds), epochs=400 of sub-experiment 0 (:165-168), pcdarts epochs 35
    ("darts-nds-cifar10-pcdarts", "pcdarts", 435, 300, 35, 6e-4, "partial_channel"),
])
def test_darts_nds_differentiable_presets_are_the_official_script_blocks(preset, algorithm, epochs, warmup,
                                                                          search_epochs, arch_lr, cell):
    """The darts_nds branches of gdas.sh and pcdarts.sh with their common settings (gdas.sh:78-107,
    pcdarts.sh:83-112). Written out from the scripts, not from the presets."""
    cfg = load_config(preset)
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.benchmark, cfg.gt_metric) == ("darts-nds", algorithm, "cifar10",
                                                                                  "nds-darts", "test_acc")
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size, t.lr, t.weight_decay, t.lr_min) == (epochs, warmup, 128, 0.1,
                                                                                          5e-4, 0.001)
    assert (cfg.net.C, cfg.net.N, cfg.net.bn_affine, cfg.net.bn_track_running_stats, cfg.net.cell) == (
        16, 8, False, False, cell)
    a = cfg.algo
    assert (a.search_epochs, a.arch_lr, a.arch_weight_decay, a.alpha_init_std) == (search_epochs, arch_lr, 1e-3, 1e-3)
    if algorithm == "gdas":
        assert (a.tau_max, a.tau_min, a.tau_epochs, a.zero_output_draws) == (10.0, 0.1, 35, 1)
    lm = cfg.landmarks
    assert (lm.m, lm.selection, lm.landmark_warmup_epochs, lm.schedule, lm.max_coef, lm.loss_form) == (
        30, "random", 10, "cosine_increase", 10.0, "hinge")
    assert (lm.pair_sampler, lm.n_pairs) == ("official", 1)
    assert (cfg.eval.pool_size, cfg.eval.every, cfg.eval.batch_size) == (200, 30, 256)
