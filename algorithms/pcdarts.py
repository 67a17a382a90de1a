"""PC-DARTS (Xu et al., ICLR 2020) as the official landmark code runs it on NB201:
the DARTS mixture softmax(alpha), the same in every cell, on a super-net of
partial-channel cells (`net.cell = "partial_channel"`: a quarter of the channels
through the ops, then a channel shuffle). There is no edge normalisation in the
official NB201 cell. Warm-up, landmark forwards and scoring run a path as the
official softoneshot mixture (spaces/nb201_net.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmreg.algorithms.differentiable import ArchOptions, DifferentiableTrainer
from lmreg.core.errors import ConfigError


@dataclass(frozen=True)
class PCDARTSOptions(ArchOptions):
    search_epochs: int = 35
    arch_lr: float = 6e-4


class PCDARTS(DifferentiableTrainer):
    options_type = PCDARTSOptions

    @classmethod
    def check_config(cls, cfg) -> None:
        super().check_config(cfg)
        if cfg.net.cell != "partial_channel":
            raise ConfigError(f"algorithm pcdarts needs net.cell=partial_channel, got {cfg.net.cell!r}")

    def mixture(self, epoch: int) -> torch.Tensor:
        return torch.softmax(self.alphas, dim=-1)
