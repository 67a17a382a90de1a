"""NAS-Bench-101 behind the SearchSpace protocol: the encoding is `nb101`, the
networks `nb101_net`; this module only connects them to the harness."""

from __future__ import annotations

import random
from typing import Iterable

from . import nb101, nb101_net
from .base import ArchError, NetSpec, SpaceDefaults


class NB101Space(SpaceDefaults):
    name = "nb101"
    semantics = nb101_net.SEMANTICS

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
