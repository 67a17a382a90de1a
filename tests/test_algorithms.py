"""FairNAS, GDAS and PC-DARTS: each rule against a reference computed independently
of the code under test (hand-computed values, finite differences, separate autograd
passes), plus end-to-end runs with a kill and resume."""

import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer, TrainConfig, algorithm_names, get_algorithm
from lmreg.algorithms.fairnas import FairNAS
from lmreg.algorithms.gdas import GDAS, GDASOptions, gumbel_hard_weights, temperature
from lmreg.algorithms.landmark_reg import LandmarkConfig, LandmarkRegularizer
from lmreg.algorithms.pcdarts import PCDARTS, PCDARTSOptions
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import load_config
from lmreg.experiments.runner import run
from lmreg.results.records import read_record
from lmreg.spaces import nb201
from lmreg.spaces.base import CellDraws, Mixture
from lmreg.spaces.nb201_net import NB201Net, NetConfig, channel_shuffle, soft_path_weights
from lmreg.spaces.nb201_space import SPACE
from tests.fixtures import algorithm_overrides, interrupted_and_whole, tiny_task

SMOKE = ["task=smoke-fmnist", "train.batch_size=64", "landmarks.m=4", "eval.pool_size=10", "eval.every=1",
         "eval.n_images=256", "eval.batch_size=128"]


def _task(n_train=32, n_valid=16, crop=0):
    return tiny_task(n_train, n_valid, crop)


def _net(cell="per_edge", C=4, N=1, seed=0):
    torch.manual_seed(seed)
    return NB201Net(NetConfig(C=C, N=N, in_channels=1, cell=cell))


def _one_hot(arch):
    return F.one_hot(torch.tensor(arch), len(nb201.OPS)).float()


# FairNAS --------------------------------------------------------------------------
def test_fair_paths_run_every_op_once_on_every_edge():
    rng = random.Random(0)
    groups = [SPACE.fair_paths(rng) for _ in range(50)]
    for paths in groups:
        assert len(paths) == len(nb201.OPS)
        for e in range(len(nb201.EDGES)):
            assert sorted(p[e] for p in paths) == list(range(len(nb201.OPS)))
    assert len({tuple(g) for g in groups}) == 50  # the orders are drawn, not fixed


def test_fairnas_step_sums_the_gradients_of_its_paths(monkeypatch):
    """Reference: each path's gradient from its own autograd pass on a copy of the
    super-net, summed by hand; then one clip and one step per group."""
    task = _task()
    model = _net("op_on_node")
    reference = copy.deepcopy(model)
    rng = random.Random(5)
    paths = SPACE.fair_paths(rng)
    monkeypatch.setattr(SPACE, "fair_paths", lambda _rng: paths)
    trainer = FairNAS(model, task, TrainConfig(epochs=1, warmup_epochs=0, batch_size=32), 0, SPACE)
    x, y = next(task.batches("train", 32))
    loss, correct = trainer.forward_backward(x, y, 0)
    params = list(reference.parameters())
    expected = [torch.zeros_like(p) for p in params]
    losses = []
    for path in paths:
        out = reference(x, path)
        losses.append(F.cross_entropy(out, y))
        grads = torch.autograd.grad(losses[-1], params, allow_unused=True)
        expected = [e if g is None else e + g for e, g in zip(expected, grads)]
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad if p.grad is not None else torch.zeros_like(p), e, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, torch.stack(losses).mean().detach())
    assert 0 <= correct <= len(y)

    steps = []
    original = trainer.opt.step
    monkeypatch.setattr(trainer.opt, "step", lambda: (steps.append(1), original()))
    trainer.train_epoch(0)
    assert len(steps) == 1  # one batch of 32: one optimiser step for the whole group


def test_fairnas_needs_a_space_with_fair_groups():
    with pytest.raises(ConfigError, match="strict-fairness"):
        load_config("micro-nb101", ["algorithm=fairnas"])


# GDAS --------------------------------------------------------------------------------
def test_gdas_temperature_is_the_official_line_then_held():
    o = GDASOptions()
    assert temperature(0, o) == 10.0
    assert temperature(17, o) == pytest.approx(10 - 9.9 * 17 / 34)
    assert temperature(34, o) == pytest.approx(0.1)
    assert temperature(100, o) == pytest.approx(0.1)  # official: 10 - 9.9 * 100 / 34 = -19.1
    with pytest.raises(ConfigError, match="tau_min"):
        load_config("quick", ["algorithm=gdas", "algo.tau_min=0"])


def test_gumbel_hard_weights_are_one_hot_with_the_soft_gradient():
    """Value: one-hot at argmax(log_softmax(alpha) + g). Gradient: that of the smooth
    softmax((log_softmax(alpha) + g) / tau), by central finite differences."""
    torch.manual_seed(0)
    alphas = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    g = -torch.empty(6, 5, dtype=torch.float64).exponential_().log()
    tau = 0.7
    c = torch.randn(6, 5, dtype=torch.float64)
    w = gumbel_hard_weights(alphas, tau, g)
    expected_index = (alphas.detach().log_softmax(-1) + g).argmax(-1)
    assert torch.equal(w.detach(), F.one_hot(expected_index, 5).double())
    (w * c).sum().backward()

    def smooth(a):
        z = (a - np.log(np.exp(a).sum(1, keepdims=True)) + g.numpy()) / tau
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return (p * c.numpy()).sum()
    a0, h = alphas.detach().numpy(), 1e-6
    fd = np.zeros_like(a0)
    for i in range(6):
        for j in range(5):
            up, down = a0.copy(), a0.copy()
            up[i, j] += h
            down[i, j] -= h
            fd[i, j] = (smooth(up) - smooth(down)) / (2 * h)
    np.testing.assert_allclose(alphas.grad.numpy(), fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cell", ["per_edge", "op_on_node"])
def test_one_hot_mixture_computes_the_single_path(cell):
    """GDAS's forward with hard weights = the single-path forward (also on all-zero
    nodes), for one-hot rows shared by every cell or given per cell."""
    model = _net(cell, N=2)
    x = torch.randn(4, 1, 8, 8)
    rng = random.Random(1)
    for _ in range(6):
        arch = SPACE.sample_path(rng)
        torch.testing.assert_close(model(x, Mixture(_one_hot(arch))), model(x, arch), rtol=1e-5, atol=1e-6)
        per_cell = _one_hot(arch).expand(model.n_cells, -1, -1)
        torch.testing.assert_close(model(x, Mixture(per_cell)), model(x, arch), rtol=1e-5, atol=1e-6)


def test_gdas_draws_a_path_per_cell():
    trainer = GDAS(_net(N=2), _task(), TrainConfig(epochs=4, warmup_epochs=0), 0, SPACE,
                   options=GDASOptions(search_epochs=1, tau_epochs=4))
    draws = trainer.relaxed(0)
    assert isinstance(draws, CellDraws) and draws.max_draws == 10
    w = torch.stack([draws.draw("cell") for _ in range(trainer.model.n_cells)])
    assert torch.equal(w.detach().sum(-1), torch.ones(trainer.model.n_cells, 6))
    cells = torch.stack([draws.draw("cell").detach().argmax(-1) for _ in range(40)]).view(20, 2, 6)
    assert (cells[:, 0] != cells[:, 1]).any()  # cells do not share one sample


ALL_NONE, ALL_CONV = (0, 0, 0, 0, 0, 0), (3, 3, 3, 3, 3, 3)
# 'none' into nodes 1 and 2, then only a pool and a skip of those all-zero nodes into node 3:
# an exactly zero output whatever the BN biases
POOL_OF_ZERO = (0, 0, 0, 0, 4, 1)


def _scripted(sequence):
    calls = []

    def draw(_group):
        calls.append(1)
        return _one_hot(sequence[len(calls) - 1])
    return draw, calls


@pytest.mark.parametrize("cell", ["per_edge", "op_on_node"])
def test_gdas_redraws_a_cell_whose_output_is_exactly_zero(cell):
    """Official forward_gdas (search_cells.py:115-124): per cell, draw, compute; while the
    output sums to exactly 0 draw again, 10 draws at most, the 10th kept. Worked by hand for
    three cells: [zero, zero, live] for cell 1 (3 draws), then live, live: 5 draws; a cell
    that stays zero takes exactly 10 draws and keeps the zero output."""
    model = _net(cell, N=1)
    for p in model.parameters():  # non-zero BN biases: a conv of an all-zero node is not zero
        if p.dim() == 1:
            torch.nn.init.uniform_(p, 0.5, 1.5)
    x = torch.randn(4, 1, 8, 8)
    draw, calls = _scripted([ALL_NONE, POOL_OF_ZERO, ALL_CONV, ALL_CONV, ALL_CONV])
    torch.testing.assert_close(model(x, CellDraws(draw)), model(x, ALL_CONV), rtol=1e-5, atol=1e-6)
    assert len(calls) == 5
    draw, calls = _scripted([ALL_NONE] * 10 + [ALL_CONV] * 20)
    out = model(x, CellDraws(draw))
    assert len(calls) == 10 + 1 + 1  # cell 1 gives up after 10 draws, cells 2 and 3 take a live one
    kept = Mixture(torch.stack([_one_hot(ALL_NONE), _one_hot(ALL_CONV), _one_hot(ALL_CONV)]))
    torch.testing.assert_close(out, model(x, kept), rtol=1e-5, atol=1e-6)
    draw, calls = _scripted([ALL_NONE] * 30)
    torch.testing.assert_close(model(x, CellDraws(draw)), model(x, ALL_NONE), rtol=1e-6, atol=1e-7)
    assert len(calls) == 30
    draw, calls = _scripted([ALL_NONE] * 3)
    model(x, CellDraws(draw, max_draws=1))  # the option without redraws: one draw per cell
    assert len(calls) == 3


def test_gdas_training_forward_redraws_zero_cells(monkeypatch):
    """The trainer's relaxed forward uses the redraw: with alpha all on 'none' every draw
    gives an all-'none' cell, so each of the 3 cells draws its Gumbel noise 10 times."""
    import lmreg.algorithms.gdas as gdas
    trainer = GDAS(_net(N=1), _task(), TrainConfig(epochs=4, warmup_epochs=0), 0, SPACE,
                   options=GDASOptions(search_epochs=1, tau_epochs=4))
    with torch.no_grad():
        trainer.alphas["cell"].copy_(torch.tensor([[50.0, 0, 0, 0, 0]] * 6))
    noise, calls = gdas.gumbel_noise, []
    monkeypatch.setattr(gdas, "gumbel_noise", lambda *a: (calls.append(1), noise(*a))[1])
    x, y = next(trainer.task.batches("train", 8))
    trainer.forward_backward(x, y, 1)
    assert len(calls) == 3 * 10


@pytest.mark.parametrize("unsampled_grads", ["zero", "none"])
def test_skipped_flat_hinge_backwards_change_no_weight(unsampled_grads):
    """The trainer skips the landmark backward when the hinge is zero on every pair and every
    weight already holds a gradient. Reference: the same training with every landmark backward
    run (the official loop). Weights, momentum buffers and curves must be bit-identical; with
    unsampled_grads="none" no weight holds a gradient off the sampled path, so nothing is skipped."""
    from lmreg.algorithms.spos import SPOS
    landmarks = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2), (3, 3, 3, 3, 3, 3)]

    def train(skip: bool):
        reg = LandmarkRegularizer(LandmarkConfig(m=4), landmarks, warmup_epochs=1, epochs=4)
        original, backwards, flat = reg.penalty, [], []

        def watched(model, x, y, epoch, rng):
            penalty, info = original(model, x, y, epoch, rng)
            flat.append(info["zero_gradient"])
            info["zero_gradient"] &= skip
            penalty.register_hook(lambda g: backwards.append(1))
            return penalty, info
        reg.penalty = watched
        cfg = TrainConfig(epochs=4, warmup_epochs=1, batch_size=16, unsampled_grads=unsampled_grads)
        trainer = SPOS(_net(), _task(n_train=128, n_valid=48), cfg, 0, SPACE, reg)
        curves = [trainer.train_epoch(e) for e in range(4)]
        return trainer, curves, len(backwards), flat

    skipping, curves, n_backwards, flat = train(True)
    reference, ref_curves, ref_backwards, ref_flat = train(False)
    assert flat == ref_flat and ref_backwards == len(flat) == 3 * 8
    skipped = len(flat) - n_backwards
    if unsampled_grads == "zero":
        assert 0 < skipped <= sum(flat)
    else:
        assert skipped == 0
    for (name, a), b in zip(skipping.model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(skipping.opt.state_dict()["state"].values(), reference.opt.state_dict()["state"].values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    for a, b in zip(curves, ref_curves):
        a.pop("epoch_time"), b.pop("epoch_time")
        np.testing.assert_equal(a, b)  # NaN (no landmark step yet) equals NaN here


def test_gdas_phases_alpha_steps_and_landmark_gradients(monkeypatch):
    """Alpha stays at its initial value through the warm-up and the frozen-alpha
    phase and moves only in the last search_epochs; an alpha step leaves no weight
    gradient behind; the landmark loss never reaches alpha."""
    task = _task()
    landmarks = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2)]
    reg = LandmarkRegularizer(LandmarkConfig(m=3), landmarks, warmup_epochs=1, epochs=4)
    trainer = GDAS(_net(), task, TrainConfig(epochs=4, warmup_epochs=1, batch_size=16), 0, SPACE, reg,
                   GDASOptions(search_epochs=1, tau_epochs=4))
    initial = trainer.alphas["cell"].detach().clone()
    arch_steps = []
    original = trainer.arch_step
    monkeypatch.setattr(trainer, "arch_step", lambda e: (arch_steps.append(e), original(e)))
    for epoch in range(3):
        trainer.train_epoch(epoch)
    assert torch.equal(trainer.alphas["cell"].detach(), initial) and not arch_steps
    trainer.train_epoch(3)
    assert arch_steps == [3, 3] and not torch.equal(trainer.alphas["cell"].detach(), initial)

    trainer.alphas["cell"].grad = None
    trainer.arch_step(3)
    assert all(p.grad is None or not p.grad.any() for p in trainer.model.parameters())
    trainer.alphas["cell"].grad = None
    x, y = next(task.batches("valid", 16))
    penalty, _ = reg.penalty(trainer.model, x, y, 3, random.Random(0))
    penalty.backward()
    assert trainer.alphas["cell"].grad is None


def test_gdas_first_alpha_step_is_adams(monkeypatch):
    """Adam's first step, by hand: with m = g', v = g'^2 (bias-corrected), the move
    is lr * g' / (|g'| + eps), g' = grad + wd * alpha; grad from a separate pass on
    a copy of the super-net with the same Gumbel noise."""
    task = _task()
    trainer = GDAS(_net(N=2), task, TrainConfig(epochs=2, warmup_epochs=0, batch_size=16), 0, SPACE,
                   options=GDASOptions(search_epochs=1, tau_epochs=2, arch_lr=0.01))
    gumbels = -torch.empty(trainer.model.n_cells, 6, 5).exponential_(generator=torch.Generator().manual_seed(3)).log()
    alphas = trainer.alphas["cell"]
    monkeypatch.setattr(trainer, "relaxed", lambda e: Mixture(gumbel_hard_weights(alphas.unsqueeze(0), 0.5, gumbels)))
    alpha0 = trainer.alphas["cell"].detach().clone()
    reference = copy.deepcopy(trainer.model)
    xv, yv = next(trainer.held_out_batches(copy.deepcopy(trainer.arch_gen)))
    a = alpha0.clone().requires_grad_()
    F.cross_entropy(reference(xv, Mixture(gumbel_hard_weights(a.unsqueeze(0), 0.5, gumbels))), yv).backward()
    gp = a.grad + 1e-3 * alpha0
    trainer.start_epoch(1)
    trainer.arch_step(1)
    torch.testing.assert_close(alphas.detach(), alpha0 - 0.01 * gp / (gp.abs() + 1e-8), rtol=1e-5, atol=1e-7)


def test_search_epochs_must_fit_after_the_warm_up():
    with pytest.raises(ConfigError, match="search_epochs"):
        load_config("quick", ["algorithm=gdas", "algo.search_epochs=4"])  # quick: 4 epochs, 1 of warm-up
    with pytest.raises(ConfigError, match="op mixtures"):
        load_config("micro-nb101", ["algorithm=gdas", "algo.search_epochs=1"])


@pytest.mark.parametrize("name,horizon", [("gdas", 6), ("pcdarts", 6), ("spos", 8), ("fairnas", 8)])
def test_landmark_coefficient_spans_the_epochs_before_the_search(name, horizon):
    """Official cosine_increase (landmark_procedures.py:316-323): 10 * 0.5 * (1 - cos(pi (e - sw + 1) /
    args.epochs)), where args.epochs excludes the differentiable policies' search epochs: 8 epochs,
    warm-up 2, 2 search epochs give a denominator of 6 for GDAS and PC-DARTS, 8 for SPOS and FairNAS."""
    import math
    from lmreg.experiments.runner import RunPlan, make_trainer
    cfg = load_config("quick", [*SMOKE, f"algorithm={name}", "train.epochs=8", "train.warmup_epochs=2",
                                *(["algo.search_epochs=2"] if name in ("gdas", "pcdarts") else []),
                                *(["net.cell=partial_channel", "net.C=8"] if name == "pcdarts" else [])])
    landmarks = [SPACE.key(a) for a in [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2), (3,) * 6]]
    trainer = make_trainer(cfg, RunPlan(SPACE, _task(), None, landmarks, [], {}))
    expected = [0.0, 0.0] + [10 * 0.5 * (1 - math.cos(math.pi * (e - 2 + 1) / horizon)) for e in range(2, 8)]
    assert [trainer.reg.coefficient(e) for e in range(8)] == pytest.approx(expected, rel=1e-12)


def test_a_differentiable_landmark_schedule_is_checked_over_the_epochs_before_the_search():
    # constant: landmark warm-up 2 after the super-net warm-up 1 needs 4 epochs before the search; 3 here
    with pytest.raises(ConfigError, match="before the search"):
        load_config("quick", ["algorithm=gdas", "algo.search_epochs=1", "landmarks.schedule=constant",
                              "landmarks.landmark_warmup_epochs=2"])
    load_config("quick", ["algorithm=gdas", "algo.search_epochs=1", "landmarks.schedule=constant",
                          "landmarks.landmark_warmup_epochs=2", "use_landmarks=false"])
    # the schedule may end with the warm-up: the search epochs are regularised all the same (official)
    load_config("quick", ["algorithm=gdas", "algo.search_epochs=3"])


# PC-DARTS ------------------------------------------------------------------------------
def test_channel_shuffle_by_hand():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_soft_path_weights_are_the_official_softoneshot():
    """Official: start at 1/5, subtract delta/4 everywhere, add 5/4 * delta to the
    path's op: with delta 0.01, 0.21 and 0.1975."""
    w = soft_path_weights((1, 2, 3, 4, 0, 1), 0.01, torch.zeros(1))
    for e, op in enumerate((1, 2, 3, 4, 0, 1)):
        assert w[e, op].item() == pytest.approx(0.21)
        assert sorted(w[e].tolist())[:4] == pytest.approx([0.1975] * 4)
    torch.testing.assert_close(w.sum(1), torch.ones(6))
    one_hot = soft_path_weights((1, 2, 3, 4, 0, 1), 0.8, torch.zeros(1))
    torch.testing.assert_close(one_hot, _one_hot((1, 2, 3, 4, 0, 1)))


def test_partial_channel_cell_by_hand():
    """Skip on 1<-0 only ... every edge is a partial edge, so with one-hot weights:
    skip keeps its quarter, 'none' zeroes it, the other channels pass; each edge
    output is then shuffled. Node 3 = sum of its three edges, built by hand."""
    cell = _net("partial_channel", C=8).blocks[0]
    x = torch.randn(2, 8, 4, 4)
    skip, none = nb201.OPS.index("skip_connect"), nb201.OPS.index("none")
    arch = (skip, none, skip, none, none, skip)  # edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2

    def edge(inp, keep_first):
        first = inp[:, :2] if keep_first else torch.zeros_like(inp[:, :2])
        return channel_shuffle(torch.cat([first, inp[:, 2:]], 1), 4)
    n1 = edge(x, True)
    n2 = edge(x, False) + edge(n1, True)
    n3 = edge(x, False) + edge(n1, False) + edge(n2, True)
    torch.testing.assert_close(cell(x, Mixture(_one_hot(arch))), n3)


def test_pcdarts_needs_partial_channel_cells_of_a_divisible_width():
    with pytest.raises(ConfigError, match="partial_channel"):
        load_config("quick", ["algorithm=pcdarts", "algo.search_epochs=1"])
    with pytest.raises(ConfigError, match="divisible by 4"):
        load_config("quick", ["algorithm=pcdarts", "algo.search_epochs=1", "net.cell=partial_channel", "net.C=6"])


def test_pcdarts_mixture_is_softmax_of_alpha():
    trainer = PCDARTS(_net("partial_channel"), _task(), TrainConfig(epochs=2, warmup_epochs=0), 0, SPACE,
                      options=PCDARTSOptions(search_epochs=1))
    torch.testing.assert_close(trainer.mixture(0)["cell"], torch.softmax(trainer.alphas["cell"], -1))


# End to end: every registered algorithm -----------------------------------------------
@pytest.mark.parametrize("name", algorithm_names())
@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_record(name, tmp_path):
    cfg = load_config("quick", [*SMOKE, *algorithm_overrides(name), "train.epochs=3", "train.warmup_epochs=1"])
    resumed, whole = interrupted_and_whole(cfg, tmp_path)
    for table in ("evals", "pool", "landmarks"):
        assert resumed["tables"][table].equals(whole["tables"][table]), table
    assert np.isfinite(whole["tables"]["pool"]["score_acc"]).all()
    assert resumed["attrs"]["config"]["algorithm"] == name


def test_alpha_samples_pick_the_peaked_cell():
    """Alpha peaked on one cell: almost every draw is that cell, so it is the most frequent
    candidate; draws of cells without ground truth do not count."""
    trainer = GDAS(_net(), _task(), TrainConfig(epochs=2, warmup_epochs=0), 0, SPACE,
                   options=GDASOptions(search_epochs=1, tau_epochs=2))
    arch = nb201.representative((3, 1, 2, 3, 0, 1))
    with torch.no_grad():
        trainer.alphas["cell"].copy_(8.0 * _one_hot(arch))
    other = SPACE.key(nb201.representative((2, 2, 2, 2, 2, 2)))
    method, cands = trainer.search_candidates({SPACE.key(arch), other})
    assert cands[0] == arch and set(map(SPACE.key, cands)) <= {SPACE.key(arch), other}
    assert "1000 alpha samples" in method
    assert trainer.argmax_arch() == arch
    assert trainer.search_candidates({"not-a-cell"})[1] == []


@pytest.mark.parametrize("name", algorithm_names())
def test_search_result_in_the_record(name, tmp_path):
    """The pick is the best-scored pool architecture, or, for an algorithm with its own
    search_candidates, the best-scored of its alpha samples; its GT percentile is computed by
    hand over every cell of the table: 100 * (cells with lower GT) / (cells - 1)."""
    from lmreg.bench import registry
    overrides = [*SMOKE, *algorithm_overrides(name), "train.epochs=2", "train.warmup_epochs=1", "search.method=pool"]
    rec = read_record(run(load_config("quick", overrides), tmp_path))
    result = rec["attrs"]["search_result"]
    gt = registry.load("micro-fmnist-nb201").per_arch("eval_acc")
    assert result["gt"] == gt[result["arch"]]
    lower = sum(v < result["gt"] for v in gt.to_numpy())
    assert result["gt_percentile"] == pytest.approx(100 * lower / (len(gt) - 1))
    assert rec["attrs"]["final_metrics"]["search_gt_percentile"] == result["gt_percentile"]
    # official compute_percentile: GT rank id among all cells / cells, over the 5 best-scored
    pool = rec["tables"]["pool"]
    rank_of = {a: i for i, a in enumerate(gt.sort_values(kind="stable").index)}
    top5 = pool.sort_values(["score_acc", "score_loss"], ascending=False, kind="stable")["arch"][:5]
    fractions = sorted(rank_of[a] / len(gt) for a in top5)
    assert rec["attrs"]["official_percentiles"]["top5"] == pytest.approx(
        {"min": fractions[0], "median": fractions[2], "max": fractions[-1]})
    assert "kendall_tau_official" in rec["tables"]["evals"].columns
    if get_algorithm(name).search_candidates is SuperNetTrainer.search_candidates:
        assert result["method"] == "best-scored pool architecture"
        assert result["arch"] == pool.loc[pool["score_acc"].idxmax(), "arch"]
    elif get_algorithm(name).argmax_arch is not SuperNetTrainer.argmax_arch:
        assert "alpha samples" in result["method"] and 1 <= result["candidates"] <= 10
        assert result["alpha_argmax"] and "alpha_argmax_gt" in result
    else:  # NAO: the best-scored of its post-search pool's cells with ground truth
        assert "NAO post-search pool" in result["method"] and result["candidates"] >= 1


@pytest.mark.parametrize("every,batch_size", [(1, 0), (3, 8)])
def test_landmark_loss_every_k_steps_weighted_by_k(every, batch_size):
    """The cheap variant: the landmark loss on steps 0, k, 2k, ... only, its gradient
    weighted by k (one epoch's expected landmark gradient unchanged), on landmark batches
    of batch_size held-out images; every=1, batch_size=0 is the official exact loss."""
    from lmreg.algorithms.spos import SPOS
    task = _task(n_train=64, n_valid=48)  # whole landmark batches of 16 and of 8
    landmarks = [(0, 0, 0, 3, 0, 0), (0, 0, 0, 2, 0, 0), (1, 2, 3, 4, 1, 2)]
    reg = LandmarkRegularizer(LandmarkConfig(m=3, every=every, batch_size=batch_size), landmarks,
                              warmup_epochs=0, epochs=2)
    calls = []  # (landmark batch size, gradient reaching the penalty tensor)
    original = reg.penalty

    def watched(model, x, y, epoch, rng):
        penalty, info = original(model, x, y, epoch, rng)
        info["zero_gradient"] = False  # every landmark backward runs, so each one is seen
        entry = [len(y), None]
        calls.append(entry)
        penalty.register_hook(lambda g: entry.__setitem__(1, float(g)))
        return penalty, info
    reg.penalty = watched
    trainer = SPOS(_net(), task, TrainConfig(epochs=2, warmup_epochs=0, batch_size=16), 0, SPACE, reg)
    curve = trainer.train_epoch(0)  # 64 / 16 = 4 steps
    assert len(calls) == len(range(0, 4, every))
    assert all(n == (batch_size or 16) for n, _ in calls)
    assert all(g == float(every) for _, g in calls)
    assert np.isfinite(curve["landmark_loss"]) and 0 <= curve["violated_fraction"] <= 1
    with pytest.raises(ValueError, match="every must be >= 1"):
        LandmarkConfig(every=0)
    with pytest.raises(ValueError, match="batch_size must be >= 0"):
        LandmarkConfig(batch_size=-1)
