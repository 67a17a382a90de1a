"""What every super-net training algorithm shares, and the registry of algorithms.

`SuperNetTrainer` owns the optimiser, the learning-rate schedule, every random
stream of a run (paths, landmark pairs, data order, landmark batches) and the
checkpoint state, and runs the epoch loop with the landmark hook: after the
algorithm's own forward/backward on a training batch, the landmark regulariser
(when active) adds its gradients to the same step, then one clip and one
optimiser step (the paper's rule). An algorithm overrides `forward_backward`
(which paths a step trains and how); one with work at an epoch's start or end
overrides `start_epoch` / `end_epoch` (the loop calls them; a step never detects a
new epoch itself); one with state of its own (architecture parameters, a second
optimiser) also overrides `extra_state`/`load_extra_state`; one with requirements
on the config (a space feature, a cell type) overrides `check_config`. Its metadata
sits on the class: `smoke_overrides` (what a smoke or test run of it also sets).

Adding an algorithm is one module with a subclass plus one line in ALGORITHMS;
its options (the run config's `algo` section) are the dataclass `options_type`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lmreg.algorithms import distributed
from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.bench.datasets.tasks import Task
from lmreg.core.registry import Registry
from lmreg.spaces.base import SearchSpace

UNSAMPLED_GRADS = ("zero", "none")
PATH_SAMPLERS = ("space", "table")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 16
    warmup_epochs: int = 6       # super-net warm-up: no landmark loss before this epoch
    batch_size: int = 128
    lr: float = 0.05
    lr_min: float = 0.001        # cosine floor (official eta_min)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    # "zero": gradients are zeroed, not freed, between steps (PyTorch 1.6's zero_grad,
    # which the official code ran on): a weight once used keeps getting weight decay
    # and momentum on every step. "none": off-path weights stay frozen (set_to_none).
    unsampled_grads: str = "zero"
    drop_last: bool = False      # official loaders keep the last, smaller batch
    landmark_augment: bool = True  # landmark batches get the training transform (official)
    # Where random cells are drawn: "space", a fresh uniform cell of the space's ops; "table",
    # uniformly among the ground-truth table's cells (the official default on DARTS-NDS, whose
    # random_topology draws the NDS table's genotypes): SPOS's step paths, NAO's seed and random
    # pool cells, and the evolutionary search's first population.
    path_sampler: str = "space"

    def __post_init__(self):
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"train.warmup_epochs must be in 0..epochs-1, got {self.warmup_epochs} "
                             f"with {self.epochs} epochs")
        if self.unsampled_grads not in UNSAMPLED_GRADS:
            raise ValueError(f"unknown train.unsampled_grads {self.unsampled_grads!r}; "
                             f"valid: {', '.join(UNSAMPLED_GRADS)}")
        if self.path_sampler not in PATH_SAMPLERS:
            raise ValueError(f"unknown train.path_sampler {self.path_sampler!r}; valid: {', '.join(PATH_SAMPLERS)}")


def path_sampler(space: SearchSpace, archs=None) -> Callable[[random.Random], object]:
    """rng -> a path: uniform among ``archs`` (the table's cells) when given, else the space's own sampler."""
    if archs is None:
        return space.sample_path
    archs = list(archs)
    return lambda rng: archs[rng.randrange(len(archs))]


@dataclass(frozen=True)
class NoOptions:
    """The `algo` section of an algorithm without options of its own."""


class SuperNetTrainer:
    options_type: type = NoOptions
    supports_distributed = True  # data-parallel over torchrun ranks (algorithms/distributed.py)
    # On CUDA a step makes no synchronising call unless the algorithm must read a device value
    # on the host to decide what to compute (tests/test_cuda.py counts them).
    host_syncs_per_step = False
    # `--set` overrides that keep a smoke or test run of the algorithm short and valid, on top of
    # the smoke run's own (experiments/cli.py: 2 epochs, the warm-up ending after the first).
    smoke_overrides: tuple[str, ...] = ()
    # Whether it draws random cells that `train.path_sampler = "table"` can take from the
    # ground-truth table (`path_sampler`); an algorithm drawing its paths otherwise refuses it.
    table_paths = False

    def __init__(self, model: torch.nn.Module, task: Task, cfg: TrainConfig, seed: int, space: SearchSpace,
                 regularizer: LandmarkRegularizer | None = None, options=None, path_archs=None):
        self.model, self.task, self.cfg, self.space, self.reg = model, task, cfg, space, regularizer
        if cfg.path_sampler == "table" and not path_archs:
            raise ValueError("train.path_sampler='table' needs the ground-truth table's architectures (path_archs)")
        # draws a path with a given stream (the steps' path_rng; the search's own stream)
        self.path_sampler = path_sampler(space, path_archs if cfg.path_sampler == "table" else None)
        self.options = options if options is not None else self.options_type()
        self.seed = seed
        self.shard = distributed.current()  # None in a single process
        self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        self.path_rng = random.Random(seed)
        self.pair_rng = random.Random(seed + 1)
        self.data_gen = torch.Generator().manual_seed(seed)
        self.landmark_gen = torch.Generator().manual_seed(seed + 2)

    def sample_path(self):
        """One training path from the run's path stream: a cell of the table or of the space."""
        return self.path_sampler(self.path_rng)

    # What an algorithm defines -----------------------------------------------
    @classmethod
    def check_config(cls, cfg) -> None:
        """Raise ConfigError when a run config cannot work with this algorithm
        (called with every config check, before anything runs)."""

    @classmethod
    def landmark_horizon(cls, cfg) -> int:
        """The `epochs` of the landmark coefficient's schedule (the official `args.epochs`):
        every epoch of the run, unless the algorithm runs a search phase beyond it."""
        return cfg.train.epochs

    @classmethod
    def extra_costs(cls, cfg) -> dict[str, int]:
        """Work a run does beyond its epochs' steps, as counts by kind; each kind is a factor of
        the cost model's measurements (experiments/measured/cpu_epochs.json, in plain SPOS epochs
        of the measurement's images_per_epoch, since such work does not grow with the training
        set) that `lmreg reproduce --dry-run` adds (NAO: its controller rounds)."""
        return {}

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one batch up to the gradients (no optimiser step): backward the
        algorithm's loss; return (loss, correct) for the epoch's curves: the loss and
        the number of correctly classified images (averaged over the paths of the
        step), both detached 0-d tensors."""
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called by the loop before an epoch's first step."""

    def end_epoch(self, epoch: int) -> dict:
        """Called by the loop after an epoch's last step; what it returns joins the epoch's curve."""
        return {}

    def argmax_arch(self):
        """The architecture the algorithm's own parameters derive to (differentiable
        algorithms: the largest alphas), or None for an algorithm without such parameters."""
        return None

    def search_candidates(self, known: set[str]) -> tuple[str, list] | None:
        """The architectures (keys in `known`, the cells with ground truth) the search
        result is picked from by super-net accuracy, and the procedure's name (GDAS,
        PC-DARTS: alpha samples); None: the run config's `search` section decides (the
        official regularised evolution, experiments/runner.py, or the best pool cell)."""
        return None

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # The shared loop -----------------------------------------------------------
    def lr_at(self, epoch: int) -> float:
        c = self.cfg
        return c.lr_min + (c.lr - c.lr_min) * 0.5 * (1 + math.cos(math.pi * epoch / c.epochs))

    def held_out_batches(self, gen: torch.Generator, purpose: str = "landmark", batch_size: int = 0):
        """Held-out batches (of the training batch size unless given), reshuffled on every
        pass and cycled as often as needed (the official RepeatedDataLoader): the last batch
        of a pass may be smaller."""
        if self.task.size("valid") == 0:
            raise ValueError(f"the held-out split is empty: {purpose} batches need held-out images")
        while True:
            yield from self.task.batches("valid", batch_size or self.cfg.batch_size, gen, shuffle=True,
                                         train_augment=self.cfg.landmark_augment)

    def _landmark_batches(self):
        return self.held_out_batches(self.landmark_gen, batch_size=self.reg.cfg.batch_size if self.reg else 0)

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> dict:
        """One epoch (or its first max_steps steps: smoke runs only)."""
        model, task, cfg = self.model, self.task, self.cfg
        model.train()
        self.start_epoch(epoch)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(epoch)
        coef = self.reg.coefficient(epoch) if self.reg else 0.0
        landmark_batches = self._landmark_batches() if coef > 0 else None
        start = time.perf_counter()
        zero = torch.zeros((), device=task.device)
        loss_sum, correct, reg_sum, violated = zero.clone(), zero.clone(), zero.clone(), zero.clone()
        seen, steps, landmark_steps = 0, 0, 0
        every = self.reg.cfg.every if self.reg else 1
        for x, y in task.batches("train", cfg.batch_size, self.data_gen, shuffle=True,
                                 train_augment=True, drop_last=cfg.drop_last):
            x, y, share = distributed.take_share(self.shard, x, y)  # under torchrun: this rank's part
            loss, n_correct = self.forward_backward(x, y, epoch)
            if share != 1.0:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(share)
            if landmark_batches is not None and steps % every == 0:
                lx, ly, lshare = distributed.take_share(self.shard, *next(landmark_batches))
                sharded = {} if self.shard is None else {"share": lshare, "reduce": distributed.sum_values}
                penalty, info = self.reg.penalty(model, lx, ly, epoch, self.pair_rng, **sharded)
                weight = every  # under torchrun the share is inside the penalty (the global batch's hinge)
                if not (info["zero_gradient"] and all(p.grad is not None for p in model.parameters())):
                    (penalty * weight if weight != 1.0 else penalty).backward()
                # else: skipping it changes nothing, since every weight already holds a gradient (the
                # backward would add zeros; creating zero gradients would start weight decay and momentum)
                reg_sum += penalty.detach() * lshare
                violated += info["violated_fraction"] * lshare
                landmark_steps += 1
            if self.shard is not None:
                distributed.sum_gradients(model.parameters())
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            self.opt.zero_grad(set_to_none=cfg.unsampled_grads == "none")
            loss_sum += loss * len(y)
            correct += n_correct
            seen += len(y)
            steps += 1
            if steps == max_steps:
                break
        if self.shard is not None:  # the epoch's curves over the global batches
            totals = distributed.sum_values(torch.stack([loss_sum, correct.to(loss_sum.dtype), reg_sum, violated,
                                                         torch.tensor(float(seen), device=task.device)]))
            loss_sum, correct, reg_sum, violated, seen = totals[0], totals[1], totals[2], totals[3], int(totals[4])
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss) or not math.isfinite(reg_sum.item()):
            raise FloatingPointError(f"super-net loss became {train_loss} at epoch {epoch} "
                                     f"(landmark loss {reg_sum.item()}); lower train.lr or landmarks.max_coef")
        curve = {"epoch": epoch, "lr": self.lr_at(epoch), "coef": coef, "train_loss": train_loss,
                 "train_acc": 100.0 * correct.item() / seen,
                 "landmark_loss": reg_sum.item() / landmark_steps if landmark_steps else 0.0,
                 "violated_fraction": violated.item() / landmark_steps if landmark_steps else float("nan"),
                 "epoch_time": time.perf_counter() - start}
        return {**curve, **self.end_epoch(epoch)}

    def state_dict(self) -> dict:
        # Which weights hold a (zeroed) gradient: with unsampled_grads="zero" they keep
        # getting weight decay and momentum, so a resumed run must restore them.
        used = [p.grad is not None for p in self.model.parameters()]
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "grad_used": used,
                "path_rng": self.path_rng.getstate(), "pair_rng": self.pair_rng.getstate(),
                "data_gen": self.data_gen.get_state(), "landmark_gen": self.landmark_gen.get_state(),
                "torch_rng": torch.get_rng_state(), "extra": self.extra_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        for p, used in zip(self.model.parameters(), state.get("grad_used", ())):
            p.grad = torch.zeros_like(p) if used else None
        self.path_rng.setstate(state["path_rng"])
        self.pair_rng.setstate(state["pair_rng"])
        self.data_gen.set_state(state["data_gen"])
        self.landmark_gen.set_state(state["landmark_gen"])
        torch.set_rng_state(state["torch_rng"])
        self.load_extra_state(state.get("extra", {}))


# name -> "module:class" of a SuperNetTrainer subclass (imported on first use), or the class.
ALGORITHMS: Registry[type[SuperNetTrainer]] = Registry("algorithm")
ALGORITHMS.register("spos", "lmreg.algorithms.spos:SPOS")
ALGORITHMS.register("fairnas", "lmreg.algorithms.fairnas:FairNAS")
ALGORITHMS.register("gdas", "lmreg.algorithms.gdas:GDAS")
ALGORITHMS.register("pcdarts", "lmreg.algorithms.pcdarts:PCDARTS")
ALGORITHMS.register("nao", "lmreg.algorithms.nao:NAO")


def algorithm_names() -> list[str]:
    return sorted(ALGORITHMS)


def get_algorithm(name: str) -> type[SuperNetTrainer]:
    return ALGORITHMS.get(name)
