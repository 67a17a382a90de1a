"""PC-DARTS (Xu et al., ICLR 2020) as the official landmark code runs it: the DARTS
mixture softmax(alpha) of each alpha group, the same in every cell of the group, on a
super-net of partial-channel cells (`net.cell = "partial_channel"`, which the space
must build: a quarter of the channels through the ops, the rest bypass them).
Edge normalisation where the space declares edge groups (DARTS: betas, one per input
edge, softmax over each node's inputs, official model_search.py
`_compute_pcdarts_weights`); none on NB201, whose official cell has none. Warm-up,
landmark forwards and scoring run a path as the official softoneshot mixture (the
spaces' super-nets)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmreg.algorithms.differentiable import ArchOptions, DifferentiableTrainer
from lmreg.core.errors import ConfigError
from lmreg.spaces.base import Mixture


@dataclass(frozen=True)
class PCDARTSOptions(ArchOptions):
    search_epochs: int = 35
    arch_lr: float = 6e-4


class PCDARTS(DifferentiableTrainer):
    options_type = PCDARTSOptions
    smoke_overrides = (*DifferentiableTrainer.smoke_overrides, "net.cell=partial_channel")

    @classmethod
    def check_config(cls, cfg) -> None:
        from lmreg.spaces.base import get_space, spaces_with
        super().check_config(cfg)
        if not get_space(cfg.space).supports_partial_channel:
            raise ConfigError(f"algorithm pcdarts needs a space with a partial-channel super-net "
                              f"({', '.join(spaces_with('supports_partial_channel'))}); {cfg.space} has none")
        if cfg.net.cell != "partial_channel":
            raise ConfigError(f"algorithm pcdarts needs net.cell=partial_channel, got {cfg.net.cell!r}")

    def extra_arch_params(self, init: torch.Generator) -> list[torch.Tensor]:
        """The edge logits (official betas, `1e-3 * randn` as alpha) of each edge group."""
        std = self.options.alpha_init_std
        self.betas = {group: (std * torch.randn(sum(nodes), generator=init)).to(self.task.device).requires_grad_()
                      for group, nodes in self.space.edge_groups().items()}
        return list(self.betas.values())

    def mixture(self, epoch: int) -> dict[str, torch.Tensor]:
        return {group: torch.softmax(a, dim=-1) for group, a in self.alphas.items()}

    def edge_weights(self) -> dict[str, torch.Tensor]:
        """Each group's betas as a softmax over every node's input edges."""
        nodes = self.space.edge_groups()
        return {group: torch.cat([torch.softmax(b, dim=-1) for b in torch.split(beta, nodes[group])])
                for group, beta in self.betas.items()}

    def relaxed(self, epoch: int) -> Mixture:
        return Mixture(self.mixture(epoch), self.edge_weights() or None)

    def derivation_weights(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) times each edge's weight (official `genotype_pcdarts`)."""
        weights = super().derivation_weights()
        for group, w in self.edge_weights().items():
            weights[group] = weights[group] * w.detach().cpu().double()[:, None]
        return weights
