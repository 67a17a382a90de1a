"""Single-path one-shot (SPOS): each step trains one path drawn from the search
space's path sampler (NB201: uniform over op tuples) on a training batch. Every
other rule (schedule, clipping, the landmark hook, checkpoints) is the shared
loop of `SuperNetTrainer`; docs/fidelity.md cites the official lines."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer


class SPOS(SuperNetTrainer):
    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x, self.space.sample_path(self.path_rng))
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()
