"""fisher (Turner et al. 2020, zero-cost-nas measures/fisher.py): for the output a of
every convolution and linear layer and g = dL/da (cross-entropy on one batch),
per output channel k: f_k = 0.5 * mean over images of (sum over positions of a * g)^2.
zero-cost-nas spreads f_k over the channel's weights and sums, so each channel
counts (weights of the layer) / (output channels) times; so does this."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.rankers import weight_layers


def score(model, x, y) -> float:
    layers = weight_layers(model)
    acts = {}

    def keep(module, inputs, output):
        acts[module] = output

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for h in handles:
            h.remove()
    used = [m for m in layers if m in acts]
    grads = torch.autograd.grad(loss, [acts[m] for m in used], allow_unused=True)
    total = 0.0
    for m, g in zip(used, grads):
        if g is None:
            continue
        a = acts[m].detach()
        g_nk = (a * g).sum(dim=tuple(range(2, a.dim()))) if a.dim() > 2 else a * g
        f_k = 0.5 * g_nk.pow(2).mean(0)
        total += float(f_k.sum()) * (m.weight.numel() / m.weight.shape[0])
    return total
