"""Data-parallel super-net training over torch.distributed ranks (torchrun).

Every rank holds the same super-net and the same random streams, so every rank draws
the same path, the same landmark pair and the same global batch order at every step;
each rank then takes its contiguous share of the global training batch and of the
landmark batch. Its gradients are weighted by its share of the images and summed over
ranks, which gives the gradient of the global-batch mean exactly when every rank's
share sees the same network function. The landmark loss is the loss form of the global
batch's cross-entropies (algorithms/landmark_reg.py: the ranks' share-weighted values
summed before the hinge), not a sum of per-shard hinges. BatchNorm uses each rank's own batch statistics
(PyTorch's SyncBatchNorm needs a GPU), as plain DDP does: the run then equals a single
process that normalises each share separately, not one that normalises the global
batch (tests/test_distributed.py states both distances)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int

    def slice(self, n: int) -> slice:
        """This rank's contiguous part of n items (the first n % world ranks get one more)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


def take_share(shard: Shard | None, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(this rank's part of a batch, its share of the images); the whole batch and 1.0 without a shard."""
    if shard is None:
        return x, y, 1.0
    part = shard.slice(len(y))
    return x[part], y[part], len(y[part]) / len(y)


def start(backend: str) -> None:
    """init_process_group, with torch._dynamo imported first. The first optimizer
    imports it lazily; imported after init_process_group it keeps references to the
    default group that destroy_process_group cannot drop (torch 2.13), so the group
    outlives it and its gloo threads are torn down at interpreter exit, which aborts a
    rank now and then (SIGABRT after a finished run: about 1 exit in 15 on a loaded
    2-core machine). Imported before, the group is freed at destroy_process_group."""
    import torch._dynamo  # noqa: F401  (the import is the point)
    import torch.distributed as dist
    dist.init_process_group(backend)


def current() -> Shard | None:
    """This process's shard when torch.distributed runs more than one rank, else None."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return Shard(dist.get_rank(), dist.get_world_size())
    return None


def sum_gradients(params) -> None:
    """All-reduce (sum) every existing gradient, in one flat buffer."""
    import torch.distributed as dist
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset: offset + g.numel()].view_as(g))
        offset += g.numel()


def sum_values(values: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist
    values = values.clone()
    dist.all_reduce(values)
    return values
