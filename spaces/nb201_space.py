"""NAS-Bench-201 behind the SearchSpace protocol: the encoding is `nb201`, the
networks `nb201_net`; this module connects them to the harness and gives the
predictors' encodings of a cell:

* vector (`one_hot`): the 6 edges x 5 ops as a 30-vector (edge order of nb201.EDGES).
* graph (`graph`): the cell with ops as nodes (the usual encoding of NB201 for graph
  predictors): node 0 the cell input, nodes 1..6 the ops of the 6 edges, node 7 the cell
  output. The op on edge i<-j takes the input node when j = 0, else every op node of an
  edge into j; the output node takes every op of an edge into node 3. Node features:
  one-hot over (input, output, the 5 ops). Edges run from producer to consumer.
"""

from __future__ import annotations

import random
from typing import Iterable

import torch

from . import nb201, nb201_net
from .base import ArchError, NetSpec, SpaceDefaults

GRAPH_NODES = len(nb201.EDGES) + 2
GRAPH_FEATURES = 2 + len(nb201.OPS)


def _checked(arch) -> nb201.Arch:
    try:
        return nb201.check(arch)
    except ArchError:
        raise
    except (TypeError, ValueError):
        raise ArchError(f"an NB201 architecture is a tuple of {len(nb201.EDGES)} op indices, "
                        f"got {type(arch).__name__}") from None


def one_hot(arch) -> torch.Tensor:
    """(30,): edge i's op at 5 i + op."""
    out = torch.zeros(len(nb201.EDGES), len(nb201.OPS))
    out[range(len(nb201.EDGES)), list(_checked(arch))] = 1.0
    return out.flatten()


def graph(arch) -> tuple[torch.Tensor, torch.Tensor]:
    """(8, 8) adjacency with adj[src, dst] = 1 and (8, 7) node features."""
    arch = _checked(arch)
    adj = torch.zeros(GRAPH_NODES, GRAPH_NODES)
    into = {}  # node of the cell -> op nodes of the edges that end there
    for k, (to, frm) in enumerate(nb201.EDGES):
        into.setdefault(to, []).append(k + 1)
    for k, (to, frm) in enumerate(nb201.EDGES):
        for src in ([0] if frm == 0 else into[frm]):
            adj[src, k + 1] = 1.0
    for src in into[nb201.NUM_NODES - 1]:
        adj[src, GRAPH_NODES - 1] = 1.0
    feats = torch.zeros(GRAPH_NODES, GRAPH_FEATURES)
    feats[0, 0] = feats[GRAPH_NODES - 1, 1] = 1.0
    for k, op in enumerate(arch):
        feats[k + 1, 2 + op] = 1.0
    return adj, feats


class NB201Space(SpaceDefaults):
    name = "nb201"
    semantics = nb201_net.SEMANTICS
    supports_fair_paths = True
    supports_partial_channel = True
    supports_encodings = True

    def encode_vector(self, arch: nb201.Arch) -> torch.Tensor:
        return one_hot(arch)

    def encode_graph(self, arch: nb201.Arch) -> tuple[torch.Tensor, torch.Tensor]:
        return graph(arch)

    def alpha_groups(self) -> dict[str, tuple[int, ...]]:
        """One (edges x ops) alpha shared by every cell (the official NB201 super-nets)."""
        return {nb201_net.ALPHA_GROUP: (len(nb201.EDGES), len(nb201.OPS))}

    def argmax_arch(self, weights) -> nb201.Arch:
        """The largest weight on every edge."""
        return tuple(weights[nb201_net.ALPHA_GROUP].argmax(-1).tolist())

    def sample_archs(self, weights, n: int, gen) -> list[nb201.Arch]:
        """n draws of Categorical(weights) on every edge (official: edge by edge)."""
        draws = torch.multinomial(weights[nb201_net.ALPHA_GROUP], n, replacement=True, generator=gen)
        return [tuple(a) for a in draws.T.tolist()]

    def parse(self, text: str) -> nb201.Arch:
        return nb201.parse(text)

    def key(self, arch: nb201.Arch) -> str:
        return nb201.to_str(arch)

    def table_keys(self, text: str) -> dict[str, str]:
        """An official string or an op-tuple index (0..15624); tables built by the harness
        list a cell under its isomorphism-class representative."""
        text = text.strip()
        cell = nb201.as_arch(int(text) if text.isdigit() else text)
        return {nb201.to_str(cell): "", nb201.to_str(nb201.representative(cell)): "its isomorphism class"}

    def sample(self, n: int, seed: int, exclude: Iterable[nb201.Arch] = ()) -> list[nb201.Arch]:
        """Distinct isomorphism-class representatives (6,466 exist)."""
        return nb201.sample(n, seed, unique=True, exclude=exclude)

    def sample_path(self, rng: random.Random) -> nb201.Arch:
        """Uniform over all 15,625 op tuples: every edge picks one of the 5 ops (SPOS)."""
        return tuple(rng.randrange(len(nb201.OPS)) for _ in nb201.EDGES)

    def mutate(self, arch: nb201.Arch, rng: random.Random) -> nb201.Arch:
        """The official mutation (NB201's R-EA `mutate_arch_func`): a node drawn uniformly
        (1..3), one of its input edges drawn uniformly, that edge's op replaced by a
        different one drawn uniformly. So edge 1<-0 changes with probability 1/3, each
        edge into node 2 with 1/6, each edge into node 3 with 1/9."""
        node = rng.randint(1, nb201.NUM_NODES - 1)
        edge = nb201.EDGES.index((node, rng.randint(0, node - 1)))
        op = rng.choice(range(len(nb201.OPS)))
        while op == arch[edge]:
            op = rng.choice(range(len(nb201.OPS)))
        return arch[:edge] + (op,) + arch[edge + 1:]

    def representative(self, arch: nb201.Arch) -> nb201.Arch:
        """The isomorphism-class representative: the key a ground-truth table lists it by."""
        return nb201.representative(arch)

    def fair_paths(self, rng: random.Random) -> list[nb201.Arch]:
        """FairNAS's strict-fairness group: each edge takes its own random order of
        the 5 ops, and path i uses the i-th op of every order, so over the group every
        op runs exactly once on every edge."""
        orders = [rng.sample(range(len(nb201.OPS)), len(nb201.OPS)) for _ in nb201.EDGES]
        return [tuple(order[i] for order in orders) for i in range(len(nb201.OPS))]

    def check_net(self, net: NetSpec) -> None:
        if net.cell not in nb201_net.CELL_TYPES:
            raise ValueError(f"unknown net.cell {net.cell!r}; valid cell types: {', '.join(nb201_net.CELL_TYPES)}")
        if net.cell == "partial_channel" and net.C % nb201_net.PC_GROUPS:
            raise ValueError(f"net.cell=partial_channel needs net.C divisible by {nb201_net.PC_GROUPS}, "
                             f"got C={net.C}")

    def _config(self, net: NetSpec, in_channels: int, num_classes: int, cell: str) -> nb201_net.NetConfig:
        return nb201_net.NetConfig(C=net.C, N=net.N, in_channels=in_channels, num_classes=num_classes,
                                   bn_affine=net.bn_affine, bn_track_running_stats=net.bn_track_running_stats,
                                   cell=cell)

    def build_supernet(self, net: NetSpec, in_channels: int, num_classes: int) -> nb201_net.NB201Net:
        return nb201_net.NB201Net(self._config(net, in_channels, num_classes, net.cell))

    def build_standalone(self, arch, net: NetSpec, in_channels: int, num_classes: int) -> nb201_net.NB201Net:
        return nb201_net.NB201Net(self._config(net, in_channels, num_classes, "per_edge"), arch)

    def subnet_state(self, supernet, standalone) -> dict:
        return nb201_net.subnet_state(supernet, standalone)


SPACE = NB201Space()
