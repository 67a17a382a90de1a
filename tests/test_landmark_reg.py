"""The landmark regulariser: pair samplers, loss forms, schedules and the penalty."""

import dataclasses
import itertools
import math
import random
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from lmreg.algorithms.landmark_reg import (
    LOSS_FORMS, OFFICIAL_SCHEDULES, PAIR_SAMPLERS, AdjacentPairsSampler, AllPairsSampler, LandmarkConfig, LandmarkRegularizer,
    OfficialPairSampler,
    UniformPairSampler, hinge, linear, logistic, make_loss_form,
    make_pair_sampler, make_schedule, official_schedule, softplus,
)
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig


def cosine_increase(epoch, warmup, epochs, max_coef=10.0):
    return official_schedule("cosine_increase", epoch, warmup, epochs, max_coef, landmark_warmup=0)


# Pair samplers -----------------------------------------------------------------
def test_official_pairs_valid():
    m, rng = 6, random.Random(0)
    seen = Counter(p for _ in range(5000) for p in OfficialPairSampler().pairs(m, rng))
    assert all(0 <= a < b <= m - 1 for a, b in seen)
    assert all(a != m - 1 for a, _ in seen)
    assert set(seen) == set(itertools.combinations(range(m), 2))  # every pair reachable


def test_official_distribution_matches_closed_form():
    m, draws, rng = 5, 40000, random.Random(1)
    counts = Counter(OfficialPairSampler().pairs(m, rng)[0] for _ in range(draws))
    for a, b in itertools.combinations(range(m), 2):
        expected = 1 / (m - 1) * 1 / (m - 1 - a)
        assert abs(counts[(a, b)] / draws - expected) < 0.01, (a, b)
    # not uniform: (m-2, m-1) is (m-1) times likelier than (0, 1)
    assert counts[(m - 2, m - 1)] > 3 * counts[(0, 1)]


def test_official_call_order_reproduces_hand_sequence():
    reference = random.Random(2021)
    expected = []
    for _ in range(12):
        a = reference.randint(0, 2)
        b = reference.randint(a + 1, 3)
        expected.append((a, b))
    rng = random.Random(2021)
    got = [pair for _ in range(12) for pair in OfficialPairSampler().pairs(4, rng)]
    assert got == expected
    assert len(set(expected)) > 1
    # landmark_loss_random_pairs = 3: three independent draws in the same call order
    rng = random.Random(2021)
    got = [pair for _ in range(4) for pair in OfficialPairSampler(n_pairs=3).pairs(4, rng)]
    assert got == expected


def test_uniform_sampler_is_uniform_and_distinct():
    m, draws, rng = 4, 12000, random.Random(3)
    counts = Counter(UniformPairSampler().pairs(m, rng)[0] for _ in range(draws))
    assert set(counts) == set(itertools.combinations(range(m), 2))
    assert all(abs(c / draws - 1 / 6) < 0.015 for c in counts.values())
    pairs = UniformPairSampler(n_pairs=5).pairs(m, rng)
    assert len(pairs) == len(set(pairs)) == 5 and all(a < b for a, b in pairs)


def test_uniform_sampler_rejects_bad_counts():
    with pytest.raises(ValueError, match="n_pairs"):
        UniformPairSampler(n_pairs=0)
    with pytest.raises(ValueError, match="distinct pairs"):
        UniformPairSampler(n_pairs=4).pairs(3, random.Random(0))


def test_all_and_adjacent_pair_counts():
    rng = random.Random(0)
    every = AllPairsSampler().pairs(6, rng)
    assert len(every) == len(set(every)) == 15 and all(a < b for a, b in every)
    assert AdjacentPairsSampler().pairs(5, rng) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_sampler_registry():
    assert isinstance(make_pair_sampler("official"), OfficialPairSampler)
    assert make_pair_sampler("uniform", n_pairs=3) == UniformPairSampler(3)
    with pytest.raises(KeyError, match="official, uniform, all, adjacent"):
        make_pair_sampler("random")
    with pytest.raises(ValueError, match="at least 2"):
        OfficialPairSampler().pairs(1, random.Random(0))


# Loss forms --------------------------------------------------------------------
def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_hinge_hand_values():
    got = hinge(_t(2.0, 1.0, 1.5), _t(1.0, 2.5, 1.5))
    assert torch.allclose(got, _t(0.0, 1.5, 0.0))  # better already lower -> 0; violated by 1.5; tie -> 0


def test_softplus_approaches_hinge():
    worse, better = _t(1.0, 2.0, 1.0), _t(2.0, 1.0, 1.0)
    errors = [(softplus(worse, better, beta) - hinge(worse, better)).abs().max().item() for beta in (1, 7, 50)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] <= math.log(2) / 50 + 1e-12


def test_logistic_hand_value():
    # -log(sigmoid(1 - 2)) = log(1 + e)
    assert logistic(_t(1.0), _t(2.0)).item() == pytest.approx(math.log(1 + math.e))
    assert torch.allclose(logistic(_t(1.0, 3.0), _t(2.0, 0.5)), softplus(_t(1.0, 3.0), _t(2.0, 0.5), 1.0))


def _grads(form, worse, better):
    lw = torch.tensor(worse, dtype=torch.float64, requires_grad=True)
    lb = torch.tensor(better, dtype=torch.float64, requires_grad=True)
    form(lw, lb).backward()
    return lw.grad.item(), lb.grad.item()


def test_hinge_gradient_directions():
    # violated order: descending lowers the better architecture's loss and raises the worse one's
    assert _grads(hinge, 1.0, 2.0) == (-1.0, 1.0)
    assert _grads(hinge, 2.0, 1.0) == (0.0, 0.0)  # order already right: no push


@pytest.mark.parametrize("form", [logistic, lambda w, b: softplus(w, b, 3.0)])
def test_smooth_forms_push_the_same_way(form):
    d_worse, d_better = _grads(form, 1.0, 2.0)
    assert d_worse < 0 < d_better and d_better == pytest.approx(-d_worse)


@pytest.mark.parametrize("name", sorted(PAIR_SAMPLERS))
def test_every_pair_sampler_draws_pairs_of_distinct_landmarks_repeatably(name):
    """Pairs index two different landmarks of the m given; a seeded rng gives the same pairs."""
    sampler = make_pair_sampler(name)
    for m in (2, 5, 12):
        pairs = sampler.pairs(m, random.Random(3))
        assert pairs and all(0 <= i < m and 0 <= j < m and i != j for i, j in pairs)
        assert sampler.pairs(m, random.Random(3)) == pairs


@pytest.mark.parametrize("name", sorted(LOSS_FORMS))
def test_every_loss_form_pushes_a_violated_pair_the_right_way(name):
    d_worse, d_better = _grads(make_loss_form(name), 1.0, 2.0)  # worse scored 1, better scored 2
    assert d_worse < 0 < d_better


def test_loss_form_registry():
    assert make_loss_form("softplus", beta=4.0)(_t(1.0), _t(3.0)).item() == pytest.approx(
        math.log1p(math.exp(8.0)) / 4.0)
    with pytest.raises(KeyError, match="hinge, softplus, logistic"):
        make_loss_form("margin")
    with pytest.raises(TypeError):
        make_loss_form("hinge", beta=2.0)
    with pytest.raises(ValueError, match="beta"):
        softplus(_t(1.0), _t(2.0), 0.0)


# Schedules ---------------------------------------------------------------------
def test_cosine_increase():
    warmup, epochs = 150, 400
    assert all(cosine_increase(e, warmup, epochs) == 0.0 for e in range(warmup))
    assert cosine_increase(warmup, warmup, epochs) == pytest.approx(10 * 0.5 * (1 - math.cos(math.pi / epochs)))
    values = [cosine_increase(e, warmup, epochs) for e in range(warmup, epochs)]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert cosine_increase(349, warmup, epochs) == pytest.approx(5.0)  # (349 - 150 + 1) / 400 = 1/2
    assert values[-1] == pytest.approx(10 * 0.5 * (1 - math.cos(math.pi * 250 / 400)))  # total-epoch denominator


# The official adjust_landmark_coef, worked by hand for sw=2, epochs=12, lw=3,
# coef 10, called once per epoch (batch_idx=1, total_batchs=1):
#   before sw: 0; non-"increase" schedules ramp (t + 2) / (lw + 1) for t = epoch - sw < lw;
#   then t -= lw over total = epochs - lw - sw = 7 epochs (quarter 1, half 3, 3 quarters 3).
#   "increase" schedules: lw forced to 0, total = 10 (quarter 2, half 5, 3 quarters 6).
OFFICIAL_BY_HAND = {
    "constant": [0, 0, 5, 7.5, 10, 10, 10, 10, 10, 10, 10, 10],
    "linear_step_decrease": [0, 0, 5, 7.5, 10, 10, 1, 1, 0.01, 0.01, 0.01, 0.01],
    "linear_step_increase": [0, 0, 0, 0, 0.1, 0.1, 0.1, 1, 10, 10, 10, 10],
    "cosine_decrease": [0, 0, 5, 7.5, 10] + [5 * (1 + math.cos(math.pi * k / 7)) for k in range(1, 8)],
    "cosine_increase": [0, 0] + [5 * (1 - math.cos(math.pi * k / 12)) for k in range(1, 11)],
}


def test_every_official_schedule_has_hand_values():
    assert sorted(OFFICIAL_BY_HAND) == sorted(OFFICIAL_SCHEDULES)


@pytest.mark.parametrize("name", sorted(OFFICIAL_BY_HAND))
def test_official_schedules_by_hand(name):
    got = [official_schedule(name, e, warmup=2, epochs=12, max_coef=10.0, landmark_warmup=3) for e in range(12)]
    assert got == pytest.approx(OFFICIAL_BY_HAND[name], abs=1e-12)
    schedule = make_schedule(name, warmup=2, epochs=12, max_coef=10.0, landmark_warmup=3)
    assert [schedule(e) for e in range(12)] == got


def test_linear_is_ours():
    assert [linear(e, 2, 6, 8.0) for e in range(6)] == [0.0, 0.0, 2.0, 4.0, 6.0, 8.0]


def test_make_schedule():
    schedule = make_schedule("cosine_increase", warmup=3, epochs=10, max_coef=2.0)
    assert [schedule(e) for e in range(10)] == [cosine_increase(e, 3, 10, 2.0) for e in range(10)]
    with pytest.raises(KeyError, match="constant, linear_step_decrease, linear_step_increase, "
                                       "cosine_decrease, cosine_increase, linear"):
        make_schedule("step", warmup=0, epochs=1, max_coef=1.0)
    with pytest.raises(ValueError, match="warmup < epochs"):
        make_schedule("linear", warmup=5, epochs=5, max_coef=1.0)
    with pytest.raises(ValueError, match="landmark_warmup"):  # no epoch left after both warm-ups
        make_schedule("constant", warmup=2, epochs=5, max_coef=1.0, landmark_warmup=3)
    make_schedule("cosine_increase", warmup=2, epochs=5, max_coef=1.0, landmark_warmup=3)  # lw ignored


# Config ------------------------------------------------------------------------
def test_config_defaults_are_the_papers():
    cfg = LandmarkConfig()
    assert (cfg.m, cfg.selection, cfg.pair_sampler, cfg.n_pairs, cfg.pair_reduction, cfg.loss_form,
            cfg.schedule, cfg.max_coef, cfg.landmark_warmup_epochs) == (
        50, "random", "official", 1, "sum", "hinge", "cosine_increase", 10.0, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.m = 3


@pytest.mark.parametrize("kw, error", [
    ({"pair_sampler": "best"}, KeyError), ({"loss_form": "l2"}, KeyError), ({"selection": "top"}, KeyError),
    ({"schedule": "step"}, KeyError), ({"m": 1}, ValueError),
    ({"pair_sampler": "all", "n_pairs": 3}, ValueError), ({"pair_reduction": "max"}, ValueError),
    ({"landmark_warmup_epochs": -1}, ValueError),
    ({"beta": 3.0}, ValueError), ({"loss_form": "softplus", "beta": 0.0}, ValueError),
    ({"max_coef": -1.0}, ValueError),
])
def test_config_rejects_bad_values(kw, error):
    with pytest.raises(error):
        LandmarkConfig(**kw)


# The penalty on a tiny super-net ---------------------------------------------------
WORSE = (0, 0, 0, 3, 0, 0)   # conv3x3 on 0->3 only
BETTER = (2, 0, 1, 0, 0, 3)  # conv1x1 0->1, skip 1->2, conv3x3 2->3
THIRD = (1, 0, 0, 4, 0, 0)   # skip 0->1 (dead end), avg pool 0->3


class CountingNet(torch.nn.Module):
    """The super-net, recording which architectures were forwarded."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = NB201Net(NetConfig(C=4, N=1, in_channels=1))
        self.calls = []

    def forward(self, x, arch):
        self.calls.append(tuple(arch))
        return self.net(x, arch)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)


def _reg(landmarks, **kw):
    return LandmarkRegularizer(LandmarkConfig(m=len(landmarks), **kw), landmarks, warmup_epochs=2, epochs=5)


def test_no_forward_during_warmup(batch):
    model, reg = CountingNet(), _reg([WORSE, BETTER])
    for epoch in (0, 1):
        loss, info = reg.penalty(model, *batch, epoch, random.Random(0))
        assert loss is None and info["coefficient"] == 0.0 and info["n_pairs"] == 0
    assert model.calls == []


def test_penalty_value_and_one_forward_per_architecture(batch):
    model, reg = CountingNet(), _reg([WORSE, BETTER, THIRD], pair_sampler="all")
    loss, info = reg.penalty(model, *batch, 2, random.Random(0))
    assert sorted(model.calls) == sorted([WORSE, BETTER, THIRD])  # 3 pairs, 3 forwards
    ce = [F.cross_entropy(model.net(batch[0], a), batch[1]).item() for a in (WORSE, BETTER, THIRD)]
    pair_terms = [max(0.0, ce[b] - ce[w]) for w, b in itertools.combinations(range(3), 2)]
    coef = cosine_increase(2, 2, 5)
    # official: the pair losses are summed (a backward per pair), not averaged
    assert loss.dim() == 0 and loss.item() == pytest.approx(coef * sum(pair_terms), rel=1e-5)
    mean_reg = _reg([WORSE, BETTER, THIRD], pair_sampler="all", pair_reduction="mean")
    mean_loss, _ = mean_reg.penalty(CountingNet(), *batch, 2, random.Random(0))
    assert mean_loss.item() == pytest.approx(coef * sum(pair_terms) / 3, rel=1e-5)
    assert info["coefficient"] == coef and info["n_pairs"] == 3
    assert float(info["violated_fraction"]) == pytest.approx(sum(t > 0 for t in pair_terms) / 3)


def test_gradients_only_on_the_two_sampled_paths(batch):
    model, reg = CountingNet(), _reg([WORSE, BETTER], loss_form="logistic")  # never flat
    loss, _ = reg.penalty(model, *batch, 3, random.Random(0))
    loss.backward()
    on_path = {f"edges.{pos}.{nb201.OPS[arch[pos]]}."
               for arch in (WORSE, BETTER) for pos in nb201.computed_edges(arch)}
    cell_params = 0
    for name, p in model.named_parameters():
        if ".edges." not in name:
            assert p.grad is not None, name  # stem, reductions, head, classifier
            continue
        cell_params += 1
        edge_op = name[name.index("edges."):]
        if any(edge_op.startswith(prefix) for prefix in on_path):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
    assert cell_params > 0
    assert model.net.blocks[0].edges[0]["nor_conv_3x3"][1].weight.grad is None  # other op on a used edge


def test_regularizer_checks_landmarks():
    with pytest.raises(ValueError, match="m=3"):
        LandmarkRegularizer(LandmarkConfig(m=3), [WORSE, BETTER], 2, 5)
    with pytest.raises(ValueError, match="distinct"):
        LandmarkRegularizer(LandmarkConfig(m=2), [WORSE, WORSE], 2, 5)
