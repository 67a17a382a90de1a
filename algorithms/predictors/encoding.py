"""NB201 cells as predictor inputs.

* one_hot: the 6 edges x 5 ops as a 30-vector (edge order of nb201.EDGES).
* graph: the cell with ops as nodes (the usual encoding of NB201 for graph predictors):
  node 0 the cell input, nodes 1..6 the ops of the 6 edges, node 7 the cell output.
  The op on edge i<-j takes the input node when j = 0, else every op node of an edge
  into j; the output node takes every op of an edge into node 3. Node features: one-hot
  over (input, output, the 5 ops). Edges run from producer to consumer."""

from __future__ import annotations

import torch

from lmreg.spaces import nb201

N_NODES = len(nb201.EDGES) + 2
N_FEATURES = 2 + len(nb201.OPS)


def one_hot(arch) -> torch.Tensor:
    out = torch.zeros(len(nb201.EDGES), len(nb201.OPS))
    out[range(len(nb201.EDGES)), list(arch)] = 1.0
    return out.flatten()


def graph(arch) -> tuple[torch.Tensor, torch.Tensor]:
    """(adjacency (8, 8) with adj[src, dst] = 1, node features (8, 7))."""
    adj = torch.zeros(N_NODES, N_NODES)
    into = {}  # node of the cell -> op nodes of the edges that end there
    for k, (to, frm) in enumerate(nb201.EDGES):
        into.setdefault(to, []).append(k + 1)
    for k, (to, frm) in enumerate(nb201.EDGES):
        for src in ([0] if frm == 0 else into[frm]):
            adj[src, k + 1] = 1.0
    for src in into[nb201.NUM_NODES - 1]:
        adj[src, N_NODES - 1] = 1.0
    feats = torch.zeros(N_NODES, N_FEATURES)
    feats[0, 0] = feats[N_NODES - 1, 1] = 1.0
    for k, op in enumerate(arch):
        feats[k + 1, 2 + op] = 1.0
    return adj, feats
