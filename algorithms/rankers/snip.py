"""snip: sum over the weights of convolutions and linear layers of |w * dL/dw|, the
cross-entropy on one batch (zero-cost-nas measures/snip.py computes it as the gradient
of a multiplicative mask of ones, which is the same number)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.rankers import weight_layers


def score(model, x, y) -> float:
    weights = [m.weight for m in weight_layers(model)]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))
