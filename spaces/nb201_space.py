"""NAS-Bench-201 behind the SearchSpace protocol: the encoding is `nb201`, the
networks `nb201_net`; this module only connects them to the harness."""

from __future__ import annotations

import random
from typing import Iterable

import torch

from . import nb201, nb201_net
from .base import NetSpec, SpaceDefaults


class NB201Space(SpaceDefaults):
    name = "nb201"
    semantics = nb201_net.SEMANTICS
    supports_fair_paths = True
    supports_partial_channel = True

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
