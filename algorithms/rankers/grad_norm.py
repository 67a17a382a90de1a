"""grad_norm: the sum over convolutions and linear layers of the L2 norm of the
cross-entropy gradient of their weight, on one batch (zero-cost-nas
measures/grad_norm.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.rankers import weight_layers


def score(model, x, y) -> float:
    layers = weight_layers(model)
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), [m.weight for m in layers], allow_unused=True)
    return float(sum(g.norm() for g in grads if g is not None))
