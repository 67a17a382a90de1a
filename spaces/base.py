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
  path), or, for spaces with architecture mixtures (`alpha_groups()` not empty),
  a `Mixture` of per-choice weights for each alpha group (GDAS / DARTS-style
  algorithms), or `CellDraws`, weights drawn afresh in each cell (GDAS).
* A stand-alone network is called as `net(x)`.

Optional capabilities are declared, never probed: `SpaceDefaults` gives each one
its default (absent, or the identity), and a space that has it overrides it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Mapping, Protocol, runtime_checkable

import torch
from torch import nn

from lmreg.core.errors import ConfigError
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
    """Per-decision weights over a space's choices, for each alpha group the super-net
    runs (NB201: one group for every cell, e.g. a (6, 5) tensor of edges x ops; DARTS:
    "normal" and "reduce"). A bare tensor serves every group. Weights that are exactly
    zero skip their op (GDAS's one-hot). `edges`: per-edge weights of each group (PC-DARTS's
    edge normalisation on DARTS), None where the edges are not weighted."""
    weights: torch.Tensor | Mapping[str, torch.Tensor]
    edges: Mapping[str, torch.Tensor] | None = None

    def group(self, name: str) -> torch.Tensor:
        return self.weights if isinstance(self.weights, torch.Tensor) else self.weights[name]

    def edge_weights(self, name: str) -> torch.Tensor | None:
        return None if self.edges is None else self.edges[name]


@dataclass(frozen=True)
class CellDraws:
    """Mixture weights drawn separately for every cell, in forward order: `draw(group)`
    returns the weights of one cell of that alpha group. A cell whose output sums to
    exactly zero draws again, `max_draws` draws at most, and keeps the last (GDAS's
    `forward_gdas` on NB201: a network whose cell ignores its input would learn nothing
    on that step)."""
    draw: Callable[[str], torch.Tensor]
    max_draws: int = 10

    def __post_init__(self):
        if self.max_draws < 1:
            raise ValueError(f"max_draws must be >= 1, got {self.max_draws}")


@runtime_checkable
class SearchSpace(Protocol):
    name: str
    semantics: str          # network semantics, recorded in every GT table built on the space

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

    # Optional capabilities, each with its default in SpaceDefaults -----------------
    supports_fair_paths: bool
    supports_partial_channel: bool
    supports_mixture: bool
    supports_encodings: bool

    def representative(self, arch: Arch) -> Arch: ...

    def alpha_groups(self) -> dict[str, tuple[int, ...]]: ...

    def edge_groups(self) -> dict[str, tuple[int, ...]]: ...

    def argmax_arch(self, weights: Mapping[str, torch.Tensor]) -> Arch: ...

    def sample_archs(self, weights: Mapping[str, torch.Tensor], n: int, gen: torch.Generator) -> list[Arch]: ...

    def fair_paths(self, rng: random.Random) -> list[Arch]: ...

    def encode_vector(self, arch: Arch) -> torch.Tensor: ...

    def encode_graph(self, arch: Arch) -> tuple[torch.Tensor, torch.Tensor]: ...


class SpaceDefaults:
    """The optional capabilities of a space with their defaults: a space inherits this
    class and overrides what it has. A capability a space lacks is declared absent here
    (an empty group list, a False flag, a method raising ConfigError), so callers ask
    the space and never probe it with hasattr."""

    supports_fair_paths = False      # FairNAS's strict-fairness path groups (`fair_paths`)
    supports_partial_channel = False  # a PC-DARTS super-net for net.cell = "partial_channel"
    supports_encodings = False       # predictor inputs (`encode_vector`, `encode_graph`)

    def representative(self, arch: Arch) -> Arch:
        """The isomorphism-class representative a ground-truth table lists `arch` by."""
        return arch

    def alpha_groups(self) -> dict[str, tuple[int, ...]]:
        """Architecture parameters of a mixture super-net: one tensor shape (decisions x
        choices) per group of cells that share them; empty: the super-net runs single paths."""
        return {}

    @property
    def supports_mixture(self) -> bool:
        return bool(self.alpha_groups())

    def edge_groups(self) -> dict[str, tuple[int, ...]]:
        """For each alpha group whose edges PC-DARTS normalises: the number of input edges
        of each node, in edge order (its per-node softmax splits the edges so); empty: none."""
        return {}

    def argmax_arch(self, weights: Mapping[str, torch.Tensor]) -> Arch:
        """The architecture a mixture of per-group op weights derives to (DARTS's argmax)."""
        raise ConfigError(f"space {self.name} has no architecture mixtures")

    def sample_archs(self, weights: Mapping[str, torch.Tensor], n: int, gen: torch.Generator) -> list[Arch]:
        """n architectures drawn from per-group op probabilities (the differentiable
        policies' alpha samples)."""
        raise ConfigError(f"space {self.name} has no architecture mixtures")

    def fair_paths(self, rng: random.Random) -> list[Arch]:
        raise ConfigError(f"space {self.name} has no strict-fairness path groups; "
                          f"spaces with them: {', '.join(spaces_with('supports_fair_paths'))}")

    def encode_vector(self, arch: Arch) -> torch.Tensor:
        """The architecture as one float32 vector of a fixed length per space (the MLP
        predictor's input)."""
        raise ConfigError(_no_encodings(self.name))

    def encode_graph(self, arch: Arch) -> tuple[torch.Tensor, torch.Tensor]:
        """The architecture as a graph of a fixed size per space (the GCN predictor's input):
        a float32 (nodes, nodes) adjacency with adj[src, dst] = 1 for an edge from producer
        to consumer, and (nodes, features) float32 node features."""
        raise ConfigError(_no_encodings(self.name))


def _no_encodings(name: str) -> str:
    return (f"space {name} has no predictor encodings; spaces with them: "
            f"{', '.join(spaces_with('supports_encodings'))}")


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


def spaces_with(capability: str) -> list[str]:
    """The registered spaces whose declared capability flag is true."""
    return [n for n in space_names() if getattr(get_space(n), capability)]
