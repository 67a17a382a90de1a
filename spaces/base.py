"""What a search space provides to the rest of the harness, and the registry of
spaces by name. Adding a space is one module implementing `SearchSpace` plus one
line in `SPACES`; nothing else in the harness names a space.

Conventions every space follows:
* An architecture (`arch`) is an immutable, hashable value of the space's own
  choosing (NB201: a tuple of 6 op indices; NB101: a (matrix, ops) cell).
* `key(arch)` is the string a ground-truth table indexes it by (NB201: the
  official string; NB101: the cell as 'rows:ops', see spaces/nb101.py; the official
  NB101 table is keyed by `nb101.module_hash`). `parse(key(a)) == a` for canonical a.
* A super-net is called as `net(x, path)`: `path` is one architecture (single
  path), or, for spaces with `supports_mixture`, a `Mixture` of per-choice
  weights (GDAS / DARTS-style algorithms) of the space's `mixture_shape`, or
  `CellDraws`, weights drawn afresh in each cell (GDAS).
* A stand-alone network is called as `net(x)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Protocol, runtime_checkable

import torch
from torch import nn

from lmreg.core.registry import Registry

Arch = Hashable


class ArchError(ValueError):
    """A malformed architecture (string, tuple, hash) of some space."""


@dataclass(frozen=True)
class NetSpec:
    """Network size and normalisation, in each space's own terms: C is the width of
    the first stage (NB201: cell channels; NB101: stem channels), N the cells (NB101:
    modules) per stage. `cell` picks NB201's super-net cell type; other spaces ignore it."""
    C: int = 8
    N: int = 1
    bn_affine: bool = True
    bn_track_running_stats: bool = False
    cell: str = "op_on_node"


@dataclass(frozen=True)
class Mixture:
    """Per-decision weights over a space's choices, e.g. a (6, 5) tensor for NB201's
    edges x ops. Weights that are exactly zero skip their op (GDAS's one-hot)."""
    weights: torch.Tensor


@dataclass(frozen=True)
class CellDraws:
    """Mixture weights drawn separately for every cell, in forward order: `draw()`
    returns one cell's weights (the space's `mixture_shape`). A cell whose output
    sums to exactly zero draws again, `max_draws` draws at most, and keeps the last
    (GDAS's `forward_gdas`: a network whose cell ignores its input would learn nothing
    on that step)."""
    draw: Callable[[], torch.Tensor]
    max_draws: int = 10

    def __post_init__(self):
        if self.max_draws < 1:
            raise ValueError(f"max_draws must be >= 1, got {self.max_draws}")


@runtime_checkable
class SearchSpace(Protocol):
    name: str
    semantics: str          # network semantics, recorded in every GT table built on the space
    supports_mixture: bool

    def parse(self, text: str) -> Arch: ...

    def key(self, arch: Arch) -> str: ...

    def table_keys(self, text: str) -> dict[str, str]:
        """The keys a ground-truth table may list the architecture a user typed under, the
        architecture's own key first, each with what it is to that architecture ("" for
        itself); ArchError with a one-line message when text names nothing in this space."""

    def sample(self, n: int, seed: int, exclude: Iterable[Arch] = ()) -> list[Arch]:
        """n distinct architectures for a ground-truth build; a larger n extends a smaller one."""

    def sample_path(self, rng: random.Random) -> Arch:
        """One path for a super-net step, drawn with rng only."""

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """One mutation of the official evolutionary search, drawn with rng only."""

    def check_net(self, net: NetSpec) -> None:
        """Raise ValueError with a one-line message when the space cannot build `net`."""

    def build_supernet(self, net: NetSpec, in_channels: int, num_classes: int) -> nn.Module: ...

    def build_standalone(self, arch: Arch, net: NetSpec, in_channels: int, num_classes: int) -> nn.Module: ...

    def subnet_state(self, supernet: nn.Module, standalone: nn.Module) -> dict:
        """The super-net weights of the stand-alone network's path, under its names."""


# name -> "module:attribute" of a SearchSpace instance (imported on first use), or the instance.
SPACES: Registry[SearchSpace] = Registry("search space")
SPACES.register("nb201", "lmreg.spaces.nb201_space:SPACE")
SPACES.register("nb101", "lmreg.spaces.nb101_space:SPACE")
SPACES.register("darts", "lmreg.spaces.darts_space:SPACE")
SPACES.register("darts-nds", "lmreg.spaces.darts_space:NDS_SPACE")


def space_names() -> list[str]:
    return sorted(SPACES)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)
