"""Training-free rankers against values worked by hand on networks small enough to
differentiate on paper (no autograd in the references)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from lmreg.algorithms.rankers import get_ranker, ranker_names
from lmreg.algorithms.rankers.pool import score_pool
from lmreg.core.errors import UnknownNameError
from lmreg.spaces.base import NetSpec, get_space

X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.5, -2.0]], dtype=torch.float64)
Y = torch.tensor([0, 1, 1])
W = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)


def _linear(weight=W):
    m = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        m.weight.copy_(weight)
    return m


def _ce_grad_by_hand(x, y, w):
    """dL/dz = (softmax(z) - onehot) / N for the mean cross-entropy of z = x w^T;
    dL/dw = (dL/dz)^T x."""
    z = x.numpy() @ w.numpy().T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(w.shape[0])[y.numpy()]) / len(x)
    return z, dz, dz.T @ x.numpy()


def test_registry():
    assert ranker_names() == sorted(["params", "flops", "grad_norm", "snip", "synflow", "jacob_cov", "naswot",
                                     "fisher"])
    with pytest.raises(UnknownNameError, match="unknown ranker 'zen'; valid rankers: params, flops, grad_norm"):
        get_ranker("zen")


def test_params_and_flops_by_hand():
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    assert get_ranker("params")(conv) == 2 * 3 * 9 + 48 * 5 + 5
    # MACs: every one of the 3*4*4 conv outputs takes 2*3*3 products; the linear layer 48*5
    assert get_ranker("flops")(conv, torch.zeros(7, 2, 4, 4)) == 3 * 16 * 18 + 48 * 5


def test_grad_norm_and_snip_by_hand():
    _, _, gw = _ce_grad_by_hand(X, Y, W)
    assert get_ranker("grad_norm")(_linear(), X, Y) == pytest.approx(np.linalg.norm(gw))
    assert get_ranker("snip")(_linear(), X, Y) == pytest.approx(np.abs(W.numpy() * gw).sum())


def test_fisher_by_hand():
    """One linear layer: a = z (N x 2), g = dL/dz; f_k = 0.5 mean_n (a g)^2, and each
    output unit counts in_features = 2 times."""
    z, dz, _ = _ce_grad_by_hand(X, Y, W)
    expected = (0.5 * ((z * dz) ** 2).mean(0)).sum() * 2
    assert get_ranker("fisher")(_linear(), X, Y) == pytest.approx(expected)


def test_synflow_by_hand_and_leaves_the_model_alone():
    """|W1| then ReLU then |W2| on an all-ones input: R = sum_j |W2_j| sum_i |W1_ji|;
    each layer's sum of |w dR/dw| equals R, so the score is 2R. BatchNorm is skipped."""
    w1 = torch.tensor([[1.0, -2.0], [-0.5, 3.0], [0.25, 0.0]])
    w2 = torch.tensor([[-1.5, 2.0, 4.0]])
    net = nn.Sequential(_linear(w1).float(), nn.BatchNorm1d(3), nn.ReLU(), _linear(w2).float())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r = sum(abs(w2[0, j].item()) * w1[j].abs().sum().item() for j in range(3))
    assert get_ranker("synflow")(net, torch.randn(4, 2)) == pytest.approx(2 * r)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]) and v.dtype == before[k].dtype


def test_jacob_cov_by_hand():
    """A linear scalar output has the same input gradient for every image: the
    correlation matrix is all ones, eigenvalues N and 0 (N - 1 times)."""
    net = _linear(torch.tensor([[0.3, -0.7, 1.1]], dtype=torch.float64))
    x = torch.randn(4, 3, dtype=torch.float64)
    k = 1e-5
    expected = -(math.log(4 + k) + 1 / (4 + k) + 3 * (math.log(k) + 1 / k))
    assert get_ranker("jacob_cov")(net, x) == pytest.approx(expected, rel=1e-6)


def test_naswot_by_hand():
    """One ReLU on the raw input: codes c = (x > 0); K[i, j] = number of units where
    images i and j agree; score = log det K."""
    x = torch.tensor([[1.0, -1.0, 2.0], [1.0, 1.0, -3.0], [-1.0, -1.0, 2.0]])
    codes = (x > 0).int().numpy()
    agree = np.array([[int((codes[i] == codes[j]).sum()) for j in range(3)] for i in range(3)], float)
    assert agree.tolist() == [[3, 1, 2], [1, 3, 0], [2, 0, 3]]
    det = 3 * (9 - 0) - 1 * (3 - 0) + 2 * (0 - 6)  # cofactor expansion: 12
    assert get_ranker("naswot")(nn.Sequential(nn.ReLU()), x) == pytest.approx(math.log(det))


def test_score_pool_is_repeatable_and_timed():
    from lmreg.bench.datasets.tasks import load_task
    space = get_space("nb201")
    task = load_task("smoke-fmnist")
    archs = [space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"),
             space.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")]
    for name in ranker_names():
        a, t = score_pool(space, archs, task, NetSpec(C=4, N=1), name, seed=3, batch_size=16)
        b, _ = score_pool(space, archs, task, NetSpec(C=4, N=1), name, seed=3, batch_size=16)
        assert np.isfinite(a).all() and np.array_equal(a, b) and (t > 0).all(), name
    params, _ = score_pool(space, archs, task, NetSpec(C=4, N=1), "params")
    assert params[0] > params[1]


def test_params_and_flops_of_an_nb101_network_by_hand():
    """The 2-vertex cell (input -> output) makes every module one 1x1 conv-BN-ReLU projection.
    C=5 on 1x16x16 images: stem 3x3 conv 1 -> 5 at 16x16; modules 5 -> 5 at 16x16, 5 -> 10 at 8x8
    and 10 -> 20 at 4x4 (2x2 pools between stacks); linear 20 -> 10. BN: 2 parameters a channel."""
    space = get_space("nb101")
    net = space.build_standalone(space.parse("01/00:input,output"), NetSpec(C=5, N=1), 1, 10)
    x = torch.zeros(2, 1, 16, 16)
    assert get_ranker("params")(net) == (9 * 5 + 2 * 5) + (5 * 5 + 2 * 5) + (5 * 10 + 2 * 10) \
        + (10 * 20 + 2 * 20) + (20 * 10 + 10)
    assert get_ranker("flops")(net, x) == 256 * 5 * 9 + 256 * 5 * 5 + 64 * 10 * 5 + 16 * 20 * 10 + 10 * 20


def test_score_pool_scores_nb101_networks():
    """Every ranker gives a finite, repeatable score to NB101 networks; NASWOT needs the
    network's ReLUs to be modules (its forward hooks see nothing else)."""
    from lmreg.bench.datasets.tasks import load_task
    space = get_space("nb101")
    task = load_task("smoke-fmnist")
    archs = [space.parse("0110/0001/0001/0000:input,conv3x3-bn-relu,maxpool3x3,output"),
             space.parse("01/00:input,output")]
    for name in ranker_names():
        a, t = score_pool(space, archs, task, NetSpec(C=5, N=1), name, seed=3, batch_size=16)
        b, _ = score_pool(space, archs, task, NetSpec(C=5, N=1), name, seed=3, batch_size=16)
        assert np.isfinite(a).all() and np.array_equal(a, b) and (t > 0).all(), name
    params, _ = score_pool(space, archs, task, NetSpec(C=5, N=1), "params")
    assert params[0] > params[1]
