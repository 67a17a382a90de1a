"""A graph convolutional network on the space's graph encoding (`SearchSpace.encode_graph`:
NB201's and DARTS's op-node graphs, NB101's DAG), in the style of the neural predictor of
Wen et al. (2020): each layer mixes a node's features with the mean of its neighbours' in
both edge directions, H' = ReLU(H W_self + mean_in(H) W_in + mean_out(H) W_out), then the
mean over nodes and a linear layer give the score. ``in_features``: features per node
(NB201: 7; NB101: 5; DARTS: 12; DARTS-NDS: 11). An NB101 cell's padding nodes count in the
mean: they hold a constant (the layers' biases), so the readout still sees how many
vertices a cell has."""

from __future__ import annotations

import torch
from torch import nn


def mean_neighbours(adj: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """(B, N, N) adjacency with adj[src, dst], (B, N, F) features -> mean over each
    node's predecessors (zero where a node has none)."""
    deg = adj.sum(1).clamp(min=1.0)                  # in-degree of every dst node
    return adj.transpose(1, 2) @ h / deg.unsqueeze(-1)


class GCN(nn.Module):
    def __init__(self, in_features: int, hidden: int = 64, layers: int = 3):
        super().__init__()
        dims = [in_features] + [hidden] * layers
        self.self_w = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.in_w = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims, dims[1:]))
        self.out_w = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims, dims[1:]))
        self.head = nn.Linear(hidden, 1)

    @staticmethod
    def encode(space, archs):
        adj, feats = zip(*(space.encode_graph(a) for a in archs))
        return torch.stack(adj), torch.stack(feats)

    def forward(self, x):
        adj, h = x
        for s, i, o in zip(self.self_w, self.in_w, self.out_w):
            h = torch.relu(s(h) + i(mean_neighbours(adj, h)) + o(mean_neighbours(adj.transpose(1, 2), h)))
        return self.head(h.mean(1)).squeeze(-1)
