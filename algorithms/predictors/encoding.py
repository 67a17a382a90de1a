"""Cells as predictor inputs, for NB201 and NB101 (dispatched on the architecture's type:
an NB101 architecture is an `nb101.Cell`, an NB201 one a tuple of op indices).

NB201:
* one_hot: the 6 edges x 5 ops as a 30-vector (edge order of nb201.EDGES).
* graph: the cell with ops as nodes (the usual encoding of NB201 for graph predictors):
  node 0 the cell input, nodes 1..6 the ops of the 6 edges, node 7 the cell output.
  The op on edge i<-j takes the input node when j = 0, else every op node of an edge
  into j; the output node takes every op of an edge into node 3. Node features: one-hot
  over (input, output, the 5 ops). Edges run from producer to consumer.

NB101 (ops on vertices already): a cell of n <= 7 vertices is padded to 7 slots, its
vertices 0..n-2 in slots 0..n-2 and its output in slot 6, so the output is always the
last slot; the padding slots n-1..5 have no op and no edges.
* one_hot: the 21 upper-triangular bits of the padded 7x7 adjacency (row by row), then
  for each interior slot 1..5 a one-hot over the 3 ops (all zero for padding): 36 values.
* graph: the padded DAG, (7, 7) adjacency and node features one-hot over (input, output,
  the 3 ops); padding nodes are all zero."""

from __future__ import annotations

import torch

from lmreg.spaces import nb101, nb201

N_NODES = len(nb201.EDGES) + 2
N_FEATURES = 2 + len(nb201.OPS)
NB101_FEATURES = 2 + len(nb101.OPS)
_SLOTS = nb101.MAX_VERTICES


def one_hot(arch) -> torch.Tensor:
    if isinstance(arch, nb101.Cell):
        adj, labels = _padded(arch)
        i, j = torch.triu_indices(_SLOTS, _SLOTS, offset=1)
        ops = torch.zeros(_SLOTS - 2, len(nb101.OPS))
        for slot, op in enumerate(labels[1:-1]):
            if op is not None:
                ops[slot, nb101.OPS.index(op)] = 1.0
        return torch.cat([adj[i, j], ops.flatten()])
    out = torch.zeros(len(nb201.EDGES), len(nb201.OPS))
    out[range(len(nb201.EDGES)), list(arch)] = 1.0
    return out.flatten()


def graph(arch) -> tuple[torch.Tensor, torch.Tensor]:
    """(adjacency with adj[src, dst] = 1, node features): NB201 (8, 8) and (8, 7), NB101
    (7, 7) and (7, 5)."""
    if isinstance(arch, nb101.Cell):
        return _nb101_graph(arch)
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


def _padded(cell: nb101.Cell) -> tuple[torch.Tensor, list[str | None]]:
    """The cell on 7 slots: (7, 7) adjacency and the label of every slot (None: padding)."""
    n = cell.num_vertices
    slot = [*range(n - 1), _SLOTS - 1]
    adj = torch.zeros(_SLOTS, _SLOTS)
    labels: list[str | None] = [None] * _SLOTS
    for v in range(n):
        labels[slot[v]] = cell.ops[v]
        for w in range(v + 1, n):
            if cell.matrix[v][w]:
                adj[slot[v], slot[w]] = 1.0
    return adj, labels


def _nb101_graph(cell: nb101.Cell) -> tuple[torch.Tensor, torch.Tensor]:
    adj, labels = _padded(cell)
    feats = torch.zeros(_SLOTS, NB101_FEATURES)
    column = {nb101.INPUT: 0, nb101.OUTPUT: 1, **{op: 2 + k for k, op in enumerate(nb101.OPS)}}
    for s, label in enumerate(labels):
        if label is not None:
            feats[s, column[label]] = 1.0
    return adj, feats
