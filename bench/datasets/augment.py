"""Batch augmentation on tensors, on whatever device the batch lives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmreg.core.devices import to_device


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None,
                fill: float = 0.0) -> torch.Tensor:
    """Pad by ``padding`` and crop back to the input size at a random offset per image."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, value=fill)
    dy = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu"), x.device)
    dx = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu"), x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    flip = to_device(torch.rand(x.shape[0], generator=generator, device="cpu") < 0.5, x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)
