"""Single-path one-shot (SPOS): each step trains one path on a training batch, drawn
by `train.path_sampler` (the space's uniform sampler, or uniformly among the
ground-truth table's cells, the official default on DARTS-NDS). Every
other rule (schedule, clipping, the landmark hook, checkpoints) is the shared
loop of `SuperNetTrainer`; docs/fidelity.md cites the official lines."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer


class SPOS(SuperNetTrainer):
    table_paths = True

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x, self.sample_path())
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()
