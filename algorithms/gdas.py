"""GDAS (Dong & Yang, CVPR 2019) as the official landmark code runs it on NB201
(`forward_gdas` of its search cells): in every cell a Gumbel-max sample from alpha
picks one op per edge; the forward computes only that op, weighted by the
straight-through hard weight (value 1, gradient of the Gumbel softmax), and the
other ops add their weight (value 0) so alpha gets every gradient. The noise is
drawn separately for each cell, and drawn again, up to 10 draws in all, while the
cell's output is exactly zero (an all-'none' cell, or one whose only live ops are
pools and skips of all-zero nodes), as `forward_gdas` does. The temperature falls linearly from tau_max to
tau_min over the first tau_epochs epochs (docs/fidelity.md: the official
schedule keeps falling below zero after them; ours stays at tau_min).

Alpha groups (DARTS: normal and reduce cells): a cell draws from its own group's
alpha, in every space by the NB201 rule above (the official DARTS-space code draws
once per group and forward instead: docs/fidelity.md)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from lmreg.algorithms.differentiable import ArchOptions, DifferentiableTrainer
from lmreg.spaces.base import CellDraws


@dataclass(frozen=True)
class GDASOptions(ArchOptions):
    search_epochs: int = 50
    arch_lr: float = 3e-4
    tau_max: float = 10.0
    tau_min: float = 0.1
    tau_epochs: int = 35
    zero_output_draws: int = 10  # draws per cell while its output is exactly zero (official; 1: no redraw)

    def __post_init__(self):
        super().__post_init__()
        if self.zero_output_draws < 1:
            raise ValueError(f"algo.zero_output_draws must be >= 1, got {self.zero_output_draws}")
        if not 0 < self.tau_min <= self.tau_max:
            raise ValueError(f"need 0 < algo.tau_min <= algo.tau_max, got {self.tau_min}, {self.tau_max}")
        if self.tau_epochs < 2:
            raise ValueError(f"algo.tau_epochs must be >= 2, got {self.tau_epochs}")


def temperature(epoch: int, o: GDASOptions) -> float:
    """Official: tau_max - (tau_max - tau_min) * epoch / (tau_epochs - 1); held at tau_min after."""
    return max(o.tau_min, o.tau_max - (o.tau_max - o.tau_min) * epoch / (o.tau_epochs - 1))


def gumbel_hard_weights(alphas: torch.Tensor, tau: float, gumbels: torch.Tensor) -> torch.Tensor:
    """One-hot at argmax(log_softmax(alpha) + g) per row; gradient of softmax((log_softmax(alpha) + g) / tau)."""
    probs = torch.softmax((alphas.log_softmax(-1) + gumbels) / tau, dim=-1)
    one_hot = torch.zeros_like(probs).scatter_(-1, probs.argmax(-1, keepdim=True), 1.0)
    return one_hot - probs.detach() + probs


def gumbel_noise(shape, gen: torch.Generator) -> torch.Tensor:
    """-log(Exp(1)) noise; a draw of exactly 0 (infinite noise) is drawn again, as the
    official loop does for infinite values."""
    while True:
        e = torch.empty(shape).exponential_(generator=gen)
        if bool((e > 0).all()):
            return -e.log()


class GDAS(DifferentiableTrainer):
    options_type = GDASOptions
    host_syncs_per_step = True  # each cell's sampled ops are read on the host to run only those
    smoke_overrides = (*DifferentiableTrainer.smoke_overrides, "algo.tau_epochs=2")

    def cell_weights(self, epoch: int, group: str) -> torch.Tensor:
        """Hard weights of one cell of `group` on fresh Gumbel noise."""
        alphas = self.alphas[group]
        g = gumbel_noise(alphas.shape, self.sample_gen).to(alphas.device)
        return gumbel_hard_weights(alphas, temperature(epoch, self.options), g)

    def relaxed(self, epoch: int) -> CellDraws:
        return CellDraws(partial(self.cell_weights, epoch), self.options.zero_output_draws)
