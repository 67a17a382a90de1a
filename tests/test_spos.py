"""SPOS training rules against hand-computed references (the official code's
semantics): gradients of unsampled weights, landmark batches, partial batches."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from lmreg.algorithms.landmark_reg import LandmarkConfig, LandmarkRegularizer
from lmreg.algorithms.base import TrainConfig as SPOSConfig
from lmreg.algorithms.spos import SPOS
from lmreg.spaces.nb201_net import NB201Net, NetConfig
from lmreg.spaces.nb201_space import SPACE
from tests.fixtures import tiny_task

PATH_A = (0, 0, 0, 3, 0, 0)   # conv3x3 on 3<-0 only
PATH_B = (0, 0, 0, 2, 0, 0)   # conv1x1 on 3<-0 only


def _task(n_train=16, n_valid=16, crop=0):
    return tiny_task(n_train, n_valid, crop)


def _model():
    torch.manual_seed(0)
    return NB201Net(NetConfig(C=2, N=1, in_channels=1))


@pytest.mark.parametrize("mode", ["zero", "none"])
def test_unsampled_weights_follow_pytorch_1_6_zero_grad(monkeypatch, mode):
    """Step 1 trains path A, step 2 path B. With 'zero' (PyTorch 1.6's zero_grad, the
    official code) A's conv still moves in step 2: SGD with a zero gradient applies
    d = 0 + wd * p, buf = momentum * buf + d, p -= lr * buf. With 'none' it stays."""
    paths = iter([PATH_A, PATH_B])
    monkeypatch.setattr(SPACE, "sample_path", lambda rng: next(paths))
    cfg = SPOSConfig(epochs=2, warmup_epochs=0, batch_size=8, lr=0.1, lr_min=0.1, weight_decay=0.01,
                     unsampled_grads=mode)
    model = _model()
    trainer = SPOS(model, _task(), cfg, 0, SPACE)
    weight = model.blocks[0].edges[3]["nor_conv_3x3"][1].weight
    snapshots = []
    original_step = trainer.opt.step

    def step_and_record():
        original_step()
        snapshots.append((weight.detach().clone(), trainer.opt.state[weight]["momentum_buffer"].clone()))
    monkeypatch.setattr(trainer.opt, "step", step_and_record)
    trainer.train_epoch(0)
    (p1, buf1), (p2, _) = snapshots
    if mode == "zero":
        d = 0.0 + 0.01 * p1
        buf2 = 0.9 * buf1 + d
        torch.testing.assert_close(p2, p1 - 0.1 * buf2, rtol=0, atol=1e-7)
        assert not torch.equal(p2, p1)
    else:
        assert torch.equal(p2, p1)


def test_held_out_split_smaller_than_a_batch_still_trains():
    """Used to loop for ever: landmark batches now cycle like the official
    RepeatedDataLoader, the last (here the only) batch smaller than batch_size."""
    task = _task(n_train=16, n_valid=5)
    cfg = SPOSConfig(epochs=2, warmup_epochs=0, batch_size=8)
    landmarks = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0)]
    reg = LandmarkRegularizer(LandmarkConfig(m=2), landmarks, warmup_epochs=0, epochs=2)
    trainer = SPOS(_model(), task, cfg, 0, SPACE, reg)
    sizes = [len(y) for _, y in itertools.islice(trainer._landmark_batches(), 3)]
    assert sizes == [5, 5, 5]
    curve = trainer.train_epoch(0)
    assert np.isfinite(curve["train_loss"]) and curve["coef"] > 0


def test_landmark_batches_get_the_training_transform():
    task = _task(crop=2)
    calls = []
    original = task.augment
    task.augment = lambda x, g: calls.append(len(x)) or original(x, g)
    for augment, expected in ((True, [8]), (False, [])):
        calls.clear()
        trainer = SPOS(_model(), task, SPOSConfig(batch_size=8, landmark_augment=augment), 0, SPACE)
        next(trainer._landmark_batches())
        assert calls == expected


def test_last_partial_training_batch_is_kept_by_default():
    task = _task(n_train=20)
    seen = []
    trainer = SPOS(_model(), task, SPOSConfig(epochs=2, warmup_epochs=0, batch_size=8), 0, SPACE)
    original = task.batches

    def spy(*a, **kw):
        for x, y in original(*a, **kw):
            seen.append(len(y))
            yield x, y
    task.batches = spy
    trainer.train_epoch(0)
    assert seen == [8, 8, 4]
    seen.clear()
    trainer.cfg = dataclasses.replace(trainer.cfg, drop_last=True)
    trainer.train_epoch(1)
    assert seen == [8, 8]


def test_lr_floor_is_the_official_eta_min():
    """torch's CosineAnnealingLR(T_max=epochs, eta_min=0.001), stepped once per epoch."""
    cfg = SPOSConfig(epochs=10, warmup_epochs=0, lr=0.025)
    assert cfg.lr_min == 0.001
    trainer = SPOS(_model(), _task(), cfg, 0, SPACE)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.025)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    for epoch in range(10):
        assert trainer.lr_at(epoch) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
        opt.step()
        sched.step()


def test_unknown_unsampled_grads_mode():
    with pytest.raises(ValueError, match="zero, none"):
        SPOSConfig(unsampled_grads="keep")


def test_resume_restores_which_weights_keep_getting_decay():
    """With zeroed gradients, weights used before a checkpoint keep moving after it, so a
    trainer rebuilt from the checkpoint must continue bit for bit like the original."""
    cfg = SPOSConfig(epochs=3, warmup_epochs=0, batch_size=8)
    task = _task(n_train=32)
    straight = SPOS(_model(), task, cfg, 3, SPACE)
    for epoch in range(2):
        straight.train_epoch(epoch)
    first = SPOS(_model(), task, cfg, 3, SPACE)
    first.train_epoch(0)
    state = first.state_dict()
    resumed = SPOS(_model(), task, cfg, 99, SPACE)
    resumed.load_state_dict(state)
    assert [p.grad is not None for p in resumed.model.parameters()] == state["grad_used"]
    assert not all(state["grad_used"])  # one epoch of 4 paths leaves some weights unused
    resumed.train_epoch(1)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


# Path sampler -------------------------------------------------------------------------
def test_table_paths_are_uniform_over_the_table():
    """train.path_sampler='table': each step's path is one of the table's cells, all equally
    likely (the official random_topology: np.random.choice over the table's ids)."""
    table = [SPACE.sample_path(__import__("random").Random(i)) for i in range(10)]
    cfg = SPOSConfig(epochs=2, warmup_epochs=0, path_sampler="table")
    trainer = SPOS(_model(), _task(), cfg, 0, SPACE, path_archs=table)
    draws = [trainer.sample_path() for _ in range(20000)]
    counts = np.array([sum(d == a for d in draws) for a in table])
    assert counts.sum() == len(draws)  # nothing outside the table
    # binomial sd sqrt(n p (1-p)) = 42.4: every count within 5 sd of 2,000
    assert np.all(np.abs(counts - 2000) < 5 * 42.4), counts
    # the space's sampler draws from all 15,625 cells: the same stream leaves the table at once
    space_trainer = SPOS(_model(), _task(), SPOSConfig(epochs=2, warmup_epochs=0), 0, SPACE)
    assert sum(space_trainer.sample_path() in table for _ in range(200)) < 5


def test_table_paths_need_the_table_and_spos():
    from lmreg.core.errors import ConfigError
    from lmreg.experiments.runconfig import load_config
    with pytest.raises(ValueError, match="needs the ground-truth table"):
        SPOS(_model(), _task(), SPOSConfig(epochs=2, warmup_epochs=0, path_sampler="table"), 0, SPACE)
    with pytest.raises(ConfigError, match="unknown train.path_sampler 'tabel'; valid: space, table"):
        load_config("micro", ["train.path_sampler=tabel"])
    for alg in ("fairnas", "gdas", "pcdarts"):  # their paths come from fairness or alphas
        with pytest.raises(ConfigError, match=rf"'{alg}' draws its paths otherwise.*take table paths: nao, spos\)"):
            load_config(f"micro-{alg}", ["train.path_sampler=table"])


def test_runner_trains_table_paths_from_the_runs_ground_truth(monkeypatch):
    """Through the runner: every trained path is a cell of the run's GT table (the micro NB201
    table holds 300 of the 15,625 cells), and the default renames no finished run."""
    from lmreg.experiments.runconfig import load_config, run_name
    from lmreg.experiments.runner import make_trainer, prepare
    cfg = load_config("micro", ["train.path_sampler=table", "train.epochs=2", "train.warmup_epochs=1"])
    assert run_name(cfg) != run_name(load_config("micro", ["train.epochs=2", "train.warmup_epochs=1"]))
    assert run_name(load_config("micro")).endswith("-eb03575e")  # the committed T1 records' setting
    plan = prepare(cfg)
    trainer = make_trainer(cfg, plan)
    table = set(plan.gt.index)
    seen = []
    forward = trainer.model.forward
    monkeypatch.setattr(trainer.model, "forward", lambda x, arch: (seen.append(arch), forward(x, arch))[1])
    trainer.train_epoch(0, max_steps=30)
    assert len(seen) == 30 and all(plan.space.key(a) in table for a in seen)
    assert len(set(map(plan.space.key, seen))) > 20  # drawn anew each step, not one fixed cell
    # the evolutionary search's first population is drawn as the paths are (official random_topology)
    import random

    from lmreg.experiments import runner
    drawn = []

    def capture(sample, *args, **kwargs):
        drawn.extend(sample(random.Random(i)) for i in range(100))
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "regularized_evolution", capture)
    with pytest.raises(KeyboardInterrupt):
        runner.evolution_result(trainer, plan, cfg)
    assert all(plan.space.key(a) in table for a in drawn)
