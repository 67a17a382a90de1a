"""synflow (Tanaka et al. 2020, as zero-cost-nas measures/synflow.py runs it): on a
copy of the network in float64 with every parameter and buffer replaced by its
absolute value and BatchNorm switched off (identity), R = sum of the output for one
all-ones input; the score is the sum over the weights of convolutions and linear
layers of |w * dR/dw|. The data batch only gives the input shape."""

from __future__ import annotations

import copy

import torch
from torch import nn

from lmreg.algorithms.rankers import weight_layers


def score(model, x, y=None) -> float:
    net = copy.deepcopy(model).double()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = lambda inp: inp  # zero-cost-nas: bn=False replaces BN's forward by identity
    weights = [m.weight for m in weight_layers(net)]
    out = net(torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device))
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))
