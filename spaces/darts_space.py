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


class DartsSpace(SpaceDefaults):
    semantics = darts_net.SEMANTICS
    supports_partial_channel = True

    def __init__(self, name: str, ops: tuple[str, ...]):
        self.name = name
        self.ops = ops

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
