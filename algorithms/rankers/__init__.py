"""Training-free rankers ("zero-cost proxies"): a score for an untrained network from
one batch, higher meaning predicted better. One module per ranker, each a function
`score(model, x, y) -> float` that leaves the model as it found it; the registry
below names them. Definitions follow the zero-cost proxies paper's code (Abdelfattah
et al., ICLR 2021, github SamsungLabs/zero-cost-nas, foresight/pruners/measures/) and,
for NASWOT, Mellor et al. (ICML 2021, github BayesWatch/nas-without-training);
docs/rankers.md cites file and line for each. `pool.py` scores an evaluation pool."""

from __future__ import annotations

from lmreg.core.registry import Registry

# name -> "module:function"
RANKERS = Registry("ranker")
for _name in ("params", "flops", "grad_norm", "snip", "synflow", "jacob_cov", "naswot", "fisher"):
    RANKERS.register(_name, f"lmreg.algorithms.rankers.{_name}:score")


def ranker_names() -> list[str]:
    return sorted(RANKERS)


def get_ranker(name: str):
    return RANKERS.get(name)


def weight_layers(model):
    """The layers every gradient-based proxy sums over: convolutions and linear layers."""
    import torch.nn as nn
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
