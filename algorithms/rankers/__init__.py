"""Training-free rankers ("zero-cost proxies"): a score for an untrained network from
one batch, higher meaning predicted better. One module per ranker, each a function
`score(model, x, y) -> float` that leaves the model as it found it; the registry
below names them. Definitions follow the zero-cost proxies paper's code (Abdelfattah
et al., ICLR 2021, github SamsungLabs/zero-cost-nas, foresight/pruners/measures/) and,
for NASWOT, Mellor et al. (ICML 2021, github BayesWatch/nas-without-training);
docs/rankers.md cites file and line for each. `pool.py` scores an evaluation pool."""

from __future__ import annotations

from lmreg.spaces.base import lookup

# name -> "module:function"
RANKERS = {
    "params": "lmreg.algorithms.rankers.params:score",
    "flops": "lmreg.algorithms.rankers.flops:score",
    "grad_norm": "lmreg.algorithms.rankers.grad_norm:score",
    "snip": "lmreg.algorithms.rankers.snip:score",
    "synflow": "lmreg.algorithms.rankers.synflow:score",
    "jacob_cov": "lmreg.algorithms.rankers.jacob_cov:score",
    "naswot": "lmreg.algorithms.rankers.naswot:score",
    "fisher": "lmreg.algorithms.rankers.fisher:score",
}


def ranker_names() -> list[str]:
    return sorted(RANKERS)


def get_ranker(name: str):
    return lookup(RANKERS, name, "ranker")


def weight_layers(model):
    """The layers every gradient-based proxy sums over: convolutions and linear layers."""
    import torch.nn as nn
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
