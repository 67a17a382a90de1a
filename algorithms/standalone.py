"""Stand-alone training of one architecture: the procedure behind a ground-truth
table. Everything that decides the result is in the recipe, which the table stores."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmreg.bench.datasets.tasks import EXTRA, Task
from lmreg.spaces.base import NetSpec, SearchSpace
from lmreg.spaces.nb201_net import count_flops, count_params


@dataclass(frozen=True)
class StandaloneRecipe:
    C: int = 8
    N: int = 1
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.1            # peak of the one-cycle schedule
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.25  # share of steps spent ramping up to the peak
    label_smoothing: float = 0.0
    augment: bool = False      # use the task's crop/flip augmentation
    eval_batch_size: int = 1000


def _lr_at(step: int, total: int, recipe: StandaloneRecipe) -> float:
    """One cycle: linear ramp from lr/25 to lr, then cosine down to ~0."""
    up = max(1, int(total * recipe.warmup_fraction))
    if step < up:
        return recipe.lr * (0.04 + 0.96 * step / up)
    t = (step - up) / max(1, total - up)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * t))


@torch.inference_mode()
def evaluate(model, task: Task, split: str, batch_size: int) -> tuple[float, float]:
    """(accuracy in %, mean cross-entropy) over a whole split."""
    model.eval()
    correct = torch.zeros((), device=task.device)
    loss = torch.zeros((), device=task.device)
    for x, y in task.batches(split, batch_size):
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    n = task.size(split)
    return 100.0 * correct.item() / n, loss.item() / n


def train_standalone(space: SearchSpace, arch, seed: int, task: Task, recipe: StandaloneRecipe) -> dict:
    """Train one architecture from scratch; per-epoch train/valid/test metrics and costs.
    When the task has the extra evaluation split, the final epoch also gets extra_acc/loss
    and eval_acc: the accuracy over test and extra together (NaN at earlier epochs)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = NetSpec(C=recipe.C, N=recipe.N, bn_affine=True, bn_track_running_stats=True)
    model = space.build_standalone(arch, net, task.spec.in_channels, task.spec.num_classes).to(task.device)
    if task.device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # ~15% faster with oneDNN
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
    steps_per_epoch = task.size("train") // recipe.batch_size
    total = steps_per_epoch * recipe.epochs
    curves = {f"{s}_{m}": [] for s in ("train", "valid", "test") for m in ("acc", "loss")}
    step = 0
    for _ in range(recipe.epochs):
        model.train()
        seen = 0
        correct = torch.zeros((), device=task.device)
        loss_sum = torch.zeros((), device=task.device)
        for x, y in task.batches("train", recipe.batch_size, gen, shuffle=True,
                                 train_augment=recipe.augment, drop_last=True):
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, recipe)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(y)
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} for {space.key(arch)} seed {seed}")
        curves["train_acc"].append(100.0 * correct.item() / seen)
        curves["train_loss"].append(train_loss)
        for split in ("valid", "test"):
            acc, loss_val = evaluate(model, task, split, recipe.eval_batch_size)
            curves[f"{split}_acc"].append(acc)
            curves[f"{split}_loss"].append(loss_val)
    if EXTRA in task.splits:
        nan = [math.nan] * (recipe.epochs - 1)
        acc, loss_val = evaluate(model, task, EXTRA, recipe.eval_batch_size)
        n_test, n_extra = task.size("test"), task.size(EXTRA)
        pooled = (curves["test_acc"][-1] * n_test + acc * n_extra) / (n_test + n_extra)
        curves.update({"extra_acc": nan + [acc], "extra_loss": nan + [loss_val], "eval_acc": nan + [pooled]})
    return {
        "arch": space.key(arch),
        "seed": seed,
        **curves,
        "params": count_params(model),
        "flops": count_flops(model.cpu(), task.input_shape),
        "wall_time": time.perf_counter() - start,
    }
