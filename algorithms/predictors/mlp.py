"""A multilayer perceptron on the one-hot cell encoding (encoding.one_hot); ``in_features``
is the encoding's length (NB201: 30, the default; NB101: 36)."""

from __future__ import annotations

from torch import nn

from lmreg.algorithms.predictors.encoding import one_hot
from lmreg.spaces import nb201


class MLP(nn.Module):
    def __init__(self, in_features: int = len(nb201.EDGES) * len(nb201.OPS), hidden: int = 64, layers: int = 2):
        super().__init__()
        dims = [in_features] + [hidden] * layers
        blocks = []
        for a, b in zip(dims, dims[1:]):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))

    @staticmethod
    def encode(archs):
        import torch
        return torch.stack([one_hot(a) for a in archs])

    def forward(self, x):
        return self.net(x).squeeze(-1)
