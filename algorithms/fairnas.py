"""FairNAS (Chu et al. 2021) strict fairness: each step draws a group of paths in
which every op runs exactly once on every edge (the space's `fair_paths`), trains
all of them on the same batch, sums their gradients and takes one clipped
optimiser step, as the official `fairnas_train_model_v1` does. The landmark loss,
when on, is added once per step (per group): the official code has no FairNAS
variant with landmarks, so this composition is ours (docs/fidelity.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer
from lmreg.core.errors import ConfigError


class FairNAS(SuperNetTrainer):
    @classmethod
    def check_config(cls, cfg) -> None:
        from lmreg.spaces.base import get_space, spaces_with
        if not get_space(cfg.space).supports_fair_paths:
            raise ConfigError(f"algorithm fairnas needs a space with strict-fairness path groups "
                              f"({', '.join(spaces_with('supports_fair_paths'))}); {cfg.space} has none")

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        paths = self.space.fair_paths(self.path_rng)
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device)
        for path in paths:
            logits = self.model(x, path)
            loss = F.cross_entropy(logits, y)
            loss.backward()  # summed over the group, not averaged (official)
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(1) == y).sum()
        return loss_sum / len(paths), correct / len(paths)
