"""NAS-Bench-101 behind the SearchSpace protocol: the encoding is `nb101`, the
networks `nb101_net`; this module connects them to the harness and gives the
predictors' encodings of a cell.

NB101 has its ops on vertices already: a cell of n <= 7 vertices is padded to 7 slots,
its vertices 0..n-2 in slots 0..n-2 and its output in slot 6, so the output is always
the last slot; the padding slots n-1..5 have no op and no edges.
* vector (`one_hot`): the 21 upper-triangular bits of the padded 7x7 adjacency (row by
  row), then for each interior slot 1..5 a one-hot over the 3 ops (all zero for
  padding): 36 values.
* graph (`graph`): the padded DAG, (7, 7) adjacency and node features one-hot over
  (input, output, the 3 ops); padding nodes are all zero."""

from __future__ import annotations

import random
from typing import Iterable

import torch

from . import nb101, nb101_net
from .base import ArchError, NetSpec, SpaceDefaults

GRAPH_FEATURES = 2 + len(nb101.OPS)
_SLOTS = nb101.MAX_VERTICES


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


def one_hot(arch) -> torch.Tensor:
    """(36,): the 21 adjacency bits, then 5 interior slots x 3 ops."""
    adj, labels = _padded(nb101.check(arch))
    i, j = torch.triu_indices(_SLOTS, _SLOTS, offset=1)
    ops = torch.zeros(_SLOTS - 2, len(nb101.OPS))
    for slot, op in enumerate(labels[1:-1]):
        if op is not None:
            ops[slot, nb101.OPS.index(op)] = 1.0
    return torch.cat([adj[i, j], ops.flatten()])


def graph(arch) -> tuple[torch.Tensor, torch.Tensor]:
    """(7, 7) adjacency with adj[src, dst] = 1 and (7, 5) node features."""
    adj, labels = _padded(nb101.check(arch))
    feats = torch.zeros(_SLOTS, GRAPH_FEATURES)
    column = {nb101.INPUT: 0, nb101.OUTPUT: 1, **{op: 2 + k for k, op in enumerate(nb101.OPS)}}
    for s, label in enumerate(labels):
        if label is not None:
            feats[s, column[label]] = 1.0
    return adj, feats


class NB101Space(SpaceDefaults):
    name = "nb101"
    semantics = nb101_net.SEMANTICS
    supports_encodings = True

    def encode_vector(self, arch: nb101.Cell) -> torch.Tensor:
        return one_hot(arch)

    def encode_graph(self, arch: nb101.Cell) -> tuple[torch.Tensor, torch.Tensor]:
        return graph(arch)

    def parse(self, text: str) -> nb101.Cell:
        return nb101.parse(text)

    def key(self, arch: nb101.Cell) -> str:
        return nb101.key(arch)

    def table_keys(self, text: str) -> dict[str, str]:
        """A module hash (the official table's key) or a cell key (the key of tables built
        by the harness, which also finds the cell's module hash in the official table)."""
        if nb101.looks_like_hash(text):
            return {text.strip().lower(): ""}
        try:
            cell = nb101.parse(text)
        except ArchError as e:
            raise ArchError(f"{e}, or a module hash (32 hex digits)") from None
        return {nb101.key(cell): "", nb101.module_hash(cell): "its module hash"}

    def sample(self, n: int, seed: int, exclude: Iterable[nb101.Cell] = ()) -> list[nb101.Cell]:
        """Cells with distinct module hashes, uniform over NB101's 423,624 unique cells."""
        return nb101.sample(n, seed, exclude)

    def sample_path(self, rng: random.Random) -> nb101.Cell:
        """Uniform over the 423,624 unique cells (each module hash equally likely), the
        official SPOS default's distribution, without needing the table (nb101.uniform_cell).
        NB101's random_spec (nb101.random_cell; the official 'random_nas' option) is not
        used: it draws 7-vertex cells 0.3 % of the time (docs/fidelity.md)."""
        return nb101.uniform_cell(rng)

    def mutate(self, arch: nb101.Cell, rng: random.Random) -> nb101.Cell:
        """NB101's mutation (the official `mutate_topology` with mutation rate 1): on the cell
        laid out on 7 vertices, each upper-triangle edge flips with probability 1/7 and each
        interior op is replaced by a different one with probability 1/5, drawn again until the
        result is a valid cell. The official code mutates the table's matrix; here a cell of
        fewer vertices gets unconnected interior vertices (ops drawn uniformly) before its
        output, which pruning removes again unless a flip connects them."""
        return nb101.mutate(arch, rng)

    def check_net(self, net: NetSpec) -> None:
        # A module splits its output channels over up to 5 vertices feeding the output.
        if net.C < 5 or net.N < 1:
            raise ValueError(f"NB101 needs net.C >= 5 (a module's channels are split over up to 5 vertices) "
                             f"and net.N >= 1, got C={net.C}, N={net.N}")

    def _config(self, net: NetSpec, in_channels: int, num_classes: int) -> nb101_net.NetConfig:
        return nb101_net.NetConfig(C=net.C, N=net.N, in_channels=in_channels, num_classes=num_classes,
                                   bn_affine=net.bn_affine, bn_track_running_stats=net.bn_track_running_stats)

    def build_supernet(self, net: NetSpec, in_channels: int, num_classes: int) -> nb101_net.NB101Net:
        return nb101_net.NB101Net(self._config(net, in_channels, num_classes))

    def build_standalone(self, arch, net: NetSpec, in_channels: int, num_classes: int) -> nb101_net.NB101Net:
        return nb101_net.NB101Net(self._config(net, in_channels, num_classes), nb101.check(arch))

    def subnet_state(self, supernet, standalone) -> dict:
        return nb101_net.subnet_state(supernet, standalone)


SPACE = NB101Space()
