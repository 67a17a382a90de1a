"""The CUDA path (`pytest -m cuda`; skipped where torch sees no GPU): super-net steps
of every algorithm, scoring in each BN mode, the ground-truth builder and resume,
each compared with the same computation on the CPU.

CPU/GPU tolerances: TF32 is switched off for these tests, so both sides compute in
float32; cuDNN and the CPU kernels still sum in different orders. One forward of
the tiny super-net agrees to 1e-4 (absolute, logits of order 1); a training step to
1e-4 on the updated weights; accuracies of a scoring exactly or within one image
(2 images of 256 = 0.8 points) where a logit sits on a tie."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from lmreg.algorithms.base import algorithm_names, get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkConfig, LandmarkRegularizer
from lmreg.algorithms.scoring import BN_MODES, score
from lmreg.bench.datasets.tasks import Task, get_spec
from lmreg.core.devices import count_host_syncs
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig
from lmreg.spaces.nb201_space import SPACE
from tests.fixtures import algorithm_overrides, interrupted_and_whole

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]
GPU = "cuda"
SMOKE = ["task=smoke-fmnist", "train.batch_size=64", "landmarks.m=4", "eval.pool_size=10", "eval.every=1",
         "eval.n_images=256", "eval.batch_size=128"]


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _arrays(n_train=64, n_valid=32, n_test=256, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        out[f"{split}_x"] = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
        out[f"{split}_y"] = rng.integers(0, 10, n).astype(np.int64)
    return out


def _tasks():
    spec = dataclasses.replace(get_spec("smoke-fmnist"), crop_padding=0, hflip=False)
    arrays = _arrays()
    return Task(spec, arrays, "cpu"), Task(spec, arrays, GPU)


def _net(cell="op_on_node"):
    torch.manual_seed(0)
    return NB201Net(NetConfig(C=8, N=1, in_channels=1, cell=cell))


@pytest.mark.parametrize("cell", ["op_on_node", "per_edge", "partial_channel"])
def test_forward_agrees_with_the_cpu(cell):
    cpu = _net(cell)
    gpu = copy.deepcopy(cpu).to(GPU)
    x = torch.randn(32, 1, 8, 8)
    for arch in [(3, 1, 2, 3, 0, 4), (0, 0, 0, 3, 0, 0), (4, 4, 4, 4, 4, 4)]:
        torch.testing.assert_close(gpu(x.to(GPU), arch).cpu(), cpu(x, arch), rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", algorithm_names())
@pytest.mark.parametrize("landmarks", [False, True])
def test_one_training_epoch_agrees_with_the_cpu(name, landmarks):
    """Same weights, batches, paths and landmark pairs on both devices: after one
    epoch (one step per batch) the weights agree within the stated tolerance."""
    cfg = load_config("quick", [*SMOKE, *algorithm_overrides(name), "train.epochs=2", "train.warmup_epochs=0"])
    cell = cfg.net.cell
    cpu_task, gpu_task = _tasks()
    results = []
    for task in (cpu_task, gpu_task):
        model = _net(cell).to(task.device)
        reg = None
        if landmarks:
            lms = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2), (3, 3, 3, 3, 3, 3)]
            reg = LandmarkRegularizer(LandmarkConfig(m=4), lms, warmup_epochs=0, epochs=2)
        train = dataclasses.replace(cfg.train, batch_size=32)
        trainer = get_algorithm(name)(model, task, train, 0, SPACE, reg, cfg.algo)
        curve = trainer.train_epoch(1 if name in ("gdas", "pcdarts") else 0)  # GDAS/PC-DARTS: a search epoch
        assert np.isfinite(curve["train_loss"])
        results.append({k: v.detach().cpu() for k, v in model.state_dict().items()})
    for key, value in results[0].items():
        if value.is_floating_point():
            torch.testing.assert_close(results[1][key], value, rtol=0, atol=1e-4, msg=key)


@pytest.mark.parametrize("bn_mode", BN_MODES)
def test_scoring_agrees_with_the_cpu(bn_mode):
    cpu_task, gpu_task = _tasks()
    cfg = NetConfig(C=8, N=1, in_channels=1, bn_track_running_stats=bn_mode == "running")
    torch.manual_seed(0)
    cpu = NB201Net(cfg)
    if bn_mode == "running":  # give the running statistics values to use
        cpu.train()
        for x, _ in cpu_task.batches("train", 32):
            cpu(x, (3, 3, 3, 3, 3, 3))
    gpu = copy.deepcopy(cpu).to(GPU)
    archs = [nb201.from_index(i) for i in (5, 500, 5000, 15000)]
    acc_c, loss_c = score(cpu, archs, cpu_task, n=256, batch_size=128, bn_mode=bn_mode)
    acc_g, loss_g = score(gpu, archs, gpu_task, n=256, batch_size=128, bn_mode=bn_mode)
    np.testing.assert_allclose(acc_g, acc_c, atol=100 * 2 / 256)
    np.testing.assert_allclose(loss_g, loss_c, rtol=1e-4, atol=1e-5)


def test_ground_truth_builder_on_the_gpu(tmp_path):
    from lmreg.algorithms.standalone import StandaloneRecipe
    from lmreg.experiments.gt_build import build
    table = build(tmp_path / "gt.h5", task="smoke-fmnist", recipe=StandaloneRecipe(epochs=1), n_archs=2,
                  seeds=(0,), workers=1, device=GPU, progress=False)
    frame = table.frame()
    assert len(frame) == 2 and np.isfinite(frame["test_acc"]).all()


@pytest.mark.parametrize("name", ["spos", "gdas"])
def test_interrupted_gpu_run_resumes(name, tmp_path):
    """The resumed record equals an uninterrupted one within float tolerance (cuDNN
    may pick other kernels in a new process, so not bit for bit)."""
    cfg = load_config("quick", [*SMOKE, *algorithm_overrides(name), "train.epochs=3", "train.warmup_epochs=1",
                                "device=cuda"])
    resumed, whole = interrupted_and_whole(cfg, tmp_path)
    assert resumed["attrs"]["versions"]["cuda_device"]
    np.testing.assert_allclose(resumed["tables"]["pool"]["score_loss"], whole["tables"]["pool"]["score_loss"],
                               rtol=1e-3, atol=1e-4)


def _augmented_task():
    """A task whose training transform crops and flips: its random draws are copied to
    the device on every step."""
    spec = dataclasses.replace(get_spec("smoke-fmnist"), crop_padding=2, hflip=True)
    return Task(spec, _arrays(n_train=256, n_valid=48), GPU)


@pytest.mark.parametrize("name", algorithm_names())
def test_training_steps_do_not_sync_the_host(name):
    """The real epoch loop of every algorithm (augmented batches, arch steps, the landmark
    loss and its flat-hinge test, clip, step, zero_grad) makes no synchronising CUDA call
    per step unless the algorithm declares that it must: the epoch's curves are read once
    at its end, so an epoch of 6 steps makes as many syncs as one of 2."""
    cfg = load_config("quick", [*SMOKE, *algorithm_overrides(name), "train.epochs=2", "train.warmup_epochs=0"])
    model = _net(cfg.net.cell).to(GPU)
    lms = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2), (3, 3, 3, 3, 3, 3)]
    reg = LandmarkRegularizer(LandmarkConfig(m=4), lms, warmup_epochs=0, epochs=2)
    trainer = get_algorithm(name)(model, _augmented_task(), dataclasses.replace(cfg.train, batch_size=32), 0,
                                  SPACE, reg, cfg.algo)
    epoch = 1  # regularised, and a search epoch of GDAS/PC-DARTS
    trainer.train_epoch(epoch, max_steps=2)  # warm: first-call allocations, cuDNN's choices
    short = count_host_syncs(lambda: trainer.train_epoch(epoch, max_steps=2))
    long = count_host_syncs(lambda: trainer.train_epoch(epoch, max_steps=6))
    if trainer.host_syncs_per_step:
        assert long > short, f"{name} declares host syncs per step but made none"
    else:
        assert long == short, f"{name}: {(long - short) / 4:g} synchronising calls per step"
    assert all(torch.isfinite(p).all() for p in model.parameters())
