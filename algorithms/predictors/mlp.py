"""A multilayer perceptron on the space's vector encoding (`SearchSpace.encode_vector`);
``in_features`` is the encoding's length (NB201: 30; NB101: 36; DARTS: 232; DARTS-NDS: 204)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: int = 64, layers: int = 2):
        super().__init__()
        dims = [in_features] + [hidden] * layers
        blocks = []
        for a, b in zip(dims, dims[1:]):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))

    @staticmethod
    def encode(space, archs):
        return torch.stack([space.encode_vector(a) for a in archs])

    def forward(self, x):
        return self.net(x).squeeze(-1)
