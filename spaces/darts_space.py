"""The DARTS cell space behind the SearchSpace protocol: the encoding is `darts`, the
networks `darts_net`; this module only connects them to the harness. Two op sets are
registered: `darts` (DARTS's 8 ops, 'none' included) and `darts-nds` (NDS's DARTS
design space: the 7 ops without 'none').

`NetSpec` in this space: C is the first stage's cell width (DARTS `init_channels`),
N the number of cells in all (DARTS `layers`, reduction cells included; DARTS-V2 on
CIFAR-10 is C=36, N=20). The super-net follows DARTS's search network (every pool
followed by a BN without parameters). `build_standalone` is the stand-alone network of
one super-net path (the same pool BNs), which `subnet_state` fills exactly; its parameter
count is that of DARTS's reference network, `build_reference`, which differs from it only
by having no BN after the pools. `net.cell = "partial_channel"` builds PC-DARTS's
partial-channel super-net; the super-net ignores every other value.

Mixtures: two alpha groups, "normal" and "reduce", each (14 edges x ops) in DARTS's
edge order; a genotype derives from per-group op weights as the official DARTS-space
`genotype_darts` / `genotype_pcdarts` do (`derive`).

Predictor encodings (a genotype in canonical form, spaces/darts.py, so a node's two pairs
are sorted by (input, op); the widths follow the space's op set `ops`):

* vector (`encode_vector`): `darts.one_hot`, as float32: the normal cell, then the reduce
  cell; per cell, per node 2..5, per input 0..k-1 of that node, one count per op of `ops`
  (how many of the node's two pairs use that op on that input: 0, 1 or 2), then 4 concat
  flags (nodes 2..5). Length 2 * (14 * len(ops) + 4): darts 232, darts-nds 204.
* graph (`graph`): the op-on-node graph of each cell, as NB201's graph encoding: 22 nodes,
  the normal cell's block (nodes 0..10) then the reduce cell's (nodes 11..21), with no edge
  between the blocks. Within a block at offset b: node b the cell input c_{k-2} (DARTS
  node 0), b + 1 the cell input c_{k-1} (node 1), b + 2 + p the op of the cell's pair p
  (p = 0..7 in canonical order: node k's pairs are p = 2 (k - 2) and 2 (k - 2) + 1),
  b + 10 the cell output. A pair on input j takes node b + j when j < 2, else both op
  nodes of node j's pairs (node j is their sum); the output takes both op nodes of every
  node in the cell's concat. Edges run from producer to consumer. Node features: one-hot
  over (input c_{k-2}, input c_{k-1}, output, the ops of `ops`), then a reduce flag, 1 on
  every node of the reduce block: width 3 + len(ops) + 1 (darts 12, darts-nds 11).
"""

from __future__ import annotations

import json
import random
from typing import Iterable

import torch

from . import darts, darts_net
from .base import ArchError, NetSpec, SpaceDefaults


def derive(weights, ops, gen: torch.Generator | None = None) -> darts.Genotype:
    """The genotype of per-group (14, ops) op weights (official model_search.py
    `genotype_darts`, `_parse`): on each node the 2 input edges of the largest non-'none'
    weight, and on each of them the op of the largest non-'none' weight, or, with `gen`,
    an op drawn among the non-'none' ops in proportion to their weights (`method='random'`).
    The weights are PC-DARTS's op weights times its edge weights where it has them."""
    live = [k for k, op in enumerate(ops) if op != "none"]
    cells = {}
    for group in darts_net.ALPHA_GROUPS:
        w = weights[group].detach().cpu().double()[:, live]
        pairs = []
        for node in range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES):
            rows = {j: w[darts_net.edge_index(node, j)] for j in range(node)}
            for j in sorted(rows, key=lambda j: -float(rows[j].max()))[:2]:  # stable: the lower input on a tie
                k = int(torch.multinomial(rows[j], 1, generator=gen)) if gen is not None else int(rows[j].argmax())
                pairs.append((ops[live[k]], j))
        cells[group] = pairs
    return darts.Genotype(cells["normal"], darts.FULL_CONCAT, cells["reduce"], darts.FULL_CONCAT)


GRAPH_BLOCK = darts.CELL_INPUTS + 2 * darts.NODES + 1   # nodes of one cell's block: 11


def graph(arch, ops) -> tuple[torch.Tensor, torch.Tensor]:
    """(22, 22) adjacency with adj[src, dst] = 1 and (22, 3 + len(ops) + 1) node features
    (the module docstring's graph)."""
    g = darts.check(arch, ops)
    n = len(darts.CELL_TYPES) * GRAPH_BLOCK
    adj, feats = torch.zeros(n, n), torch.zeros(n, 3 + len(ops) + 1)
    column = {op: 3 + k for k, op in enumerate(ops)}
    for b, cell in enumerate(darts.CELL_TYPES):
        pairs, concat = g.cell(cell == "reduce")
        base, out = b * GRAPH_BLOCK, (b + 1) * GRAPH_BLOCK - 1

        def op_nodes(node):
            first = base + darts.CELL_INPUTS + 2 * (node - darts.CELL_INPUTS)
            return [first, first + 1]

        feats[base, 0] = feats[base + 1, 1] = feats[out, 2] = 1.0
        for p, (op, inp) in enumerate(pairs):
            v = base + darts.CELL_INPUTS + p
            feats[v, column[op]] = 1.0
            for src in ([base + inp] if inp < darts.CELL_INPUTS else op_nodes(inp)):
                adj[src, v] = 1.0
        for c in concat:
            for src in op_nodes(c):
                adj[src, out] = 1.0
        if cell == "reduce":
            feats[base:base + GRAPH_BLOCK, -1] = 1.0
    return adj, feats


class DartsSpace(SpaceDefaults):
    semantics = darts_net.SEMANTICS
    supports_partial_channel = True
    supports_encodings = True

    def __init__(self, name: str, ops: tuple[str, ...]):
        self.name = name
        self.ops = ops

    def encode_vector(self, arch) -> torch.Tensor:
        return torch.tensor(darts.one_hot(arch, self.ops), dtype=torch.float32)

    def encode_graph(self, arch) -> tuple[torch.Tensor, torch.Tensor]:
        return graph(arch, self.ops)

    def parse(self, text: str) -> darts.Genotype:
        return darts.parse(text, self.ops)

    def key(self, arch) -> str:
        return darts.key(darts.check(arch, self.ops))

    def table_keys(self, text: str) -> dict[str, str]:
        """The canonical key of a genotype typed in DARTS's notation or as NDS's JSON object."""
        s = text.strip() if isinstance(text, str) else text
        if isinstance(s, str) and s.startswith("{"):
            try:
                value = json.loads(s)
            except json.JSONDecodeError as e:
                raise ArchError(f"malformed DARTS genotype {s[:80]!r}: not JSON ({e.msg})") from None
            return {self.key(darts.check(value, self.ops)): ""}
        return {self.key(self.parse(text)): ""}

    def sample(self, n: int, seed: int, exclude: Iterable = ()) -> list[darts.Genotype]:
        """Distinct canonical genotypes drawn as the official sampler draws (darts.random_genotype)."""
        return darts.sample(n, seed, self.ops, exclude)

    def sample_path(self, rng: random.Random) -> darts.Genotype:
        """One genotype of the official sampler: uniform inputs (with replacement) and ops."""
        return darts.random_genotype(rng, self.ops)

    def mutate(self, arch, rng: random.Random) -> darts.Genotype:
        """The official evolutionary search's mutation (darts.mutate)."""
        return darts.mutate(arch, rng, self.ops)

    def alpha_groups(self) -> dict[str, tuple[int, ...]]:
        return {group: (darts_net.N_EDGES, len(self.ops)) for group in darts_net.ALPHA_GROUPS}

    def edge_groups(self) -> dict[str, tuple[int, ...]]:
        """Nodes 2..5 take 2, 3, 4, 5 input edges (official PC-DARTS betas, softmax per node)."""
        nodes = tuple(range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES))
        return {group: nodes for group in darts_net.ALPHA_GROUPS}

    def argmax_arch(self, weights) -> darts.Genotype:
        return derive(weights, self.ops)

    def sample_archs(self, weights, n: int, gen: torch.Generator) -> list[darts.Genotype]:
        return [derive(weights, self.ops, gen) for _ in range(n)]

    def check_net(self, net: NetSpec) -> None:
        if net.C < 1 or net.N < 1:
            raise ValueError(f"DARTS needs net.C >= 1 (first-stage width) and net.N >= 1 (cells in all), "
                             f"got C={net.C}, N={net.N}")
        if net.cell == "partial_channel" and net.C % darts_net.PC_GROUPS:
            raise ValueError(f"net.cell=partial_channel needs net.C divisible by {darts_net.PC_GROUPS}, "
                             f"got C={net.C}")

    def _config(self, net: NetSpec, in_channels: int, num_classes: int, pool_bn: bool,
                partial_channel: bool = False) -> darts_net.NetConfig:
        return darts_net.NetConfig(C=net.C, layers=net.N, in_channels=in_channels, num_classes=num_classes,
                                   bn_affine=net.bn_affine, bn_track_running_stats=net.bn_track_running_stats,
                                   ops=self.ops, pool_bn=pool_bn, partial_channel=partial_channel)

    def build_supernet(self, net: NetSpec, in_channels: int, num_classes: int) -> darts_net.DartsNet:
        return darts_net.DartsNet(self._config(net, in_channels, num_classes, pool_bn=True,
                                               partial_channel=net.cell == "partial_channel"))

    def build_standalone(self, arch, net: NetSpec, in_channels: int, num_classes: int) -> darts_net.DartsNet:
        """The stand-alone network of one super-net path (the super-net's op semantics)."""
        return darts_net.DartsNet(self._config(net, in_channels, num_classes, pool_bn=True),
                                  darts.check(arch, self.ops))

    def build_reference(self, arch, net: NetSpec, in_channels: int, num_classes: int) -> darts_net.DartsNet:
        """DARTS's reference NetworkCIFAR of one genotype: no BN after the pools."""
        return darts_net.DartsNet(self._config(net, in_channels, num_classes, pool_bn=False),
                                  darts.check(arch, self.ops))

    def subnet_state(self, supernet, standalone) -> dict:
        return darts_net.subnet_state(supernet, standalone)


SPACE = DartsSpace("darts", darts.OPS)
NDS_SPACE = DartsSpace("darts-nds", darts.NDS_OPS)
