"""What GDAS and PC-DARTS share, following the official `DifferentiableCNNPolicy`:
architecture parameters alpha (one (edges x ops) tensor per alpha group the space
declares, e.g. NB201: one for every cell; DARTS: normal and reduce cells; outside the
super-net's parameters) trained first-order by Adam on held-out batches, and a run in
three phases:

  epoch < train.warmup_epochs          warm-up: one uniformly drawn path per step
                                       (the official `supernet_warmup_method`);
  up to the last `search_epochs`       the algorithm's relaxed forward with alpha
                                       frozen at its random initial value;
  the last `search_epochs`             the same, with one alpha step on a held-out
                                       batch before every weight step.

The official code runs `epochs` epochs and then `policy_epochs` more with alpha
updates, its cosine learning rate spanning both; here train.epochs is that total.
The landmark coefficient's schedule spans the official `epochs` only
(`landmark_horizon`: train.epochs - search_epochs).
The landmark loss runs each landmark as the net runs a single path (GDAS: the path
itself; PC-DARTS: the softoneshot mixture), so it reaches the weights only, never
alpha: as in the official code (docs/fidelity.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer
from lmreg.core.errors import ConfigError
from lmreg.spaces.base import Mixture


@dataclass(frozen=True)
class ArchOptions:
    search_epochs: int = 50          # final epochs with alpha updates (official policy_epochs)
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    alpha_init_std: float = 1e-3     # alpha = std * randn (official)

    def __post_init__(self):
        if self.search_epochs < 0:
            raise ValueError(f"algo.search_epochs must be >= 0, got {self.search_epochs}")
        if not self.arch_lr > 0:
            raise ValueError(f"algo.arch_lr must be > 0, got {self.arch_lr}")
        for key in ("arch_beta1", "arch_beta2"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"algo.{key} must be in [0, 1), got {getattr(self, key)}")
        if self.arch_weight_decay < 0 or self.alpha_init_std < 0:
            raise ValueError("algo.arch_weight_decay and algo.alpha_init_std must be >= 0")


class DifferentiableTrainer(SuperNetTrainer):
    options_type = ArchOptions
    supports_distributed = False  # alpha steps on held-out batches are not sharded yet

    @classmethod
    def check_config(cls, cfg) -> None:
        from lmreg.spaces.base import get_space, spaces_with
        name = cfg.algorithm
        if not get_space(cfg.space).supports_mixture:
            raise ConfigError(f"algorithm {name} needs a space whose super-net takes op mixtures "
                              f"({', '.join(spaces_with('supports_mixture'))}); {cfg.space} does not")
        if cfg.algo.search_epochs > cfg.train.epochs - cfg.train.warmup_epochs:
            raise ConfigError(f"algo.search_epochs={cfg.algo.search_epochs} must fit after the warm-up: at most "
                              f"train.epochs - train.warmup_epochs = {cfg.train.epochs - cfg.train.warmup_epochs}")
        if cfg.use_landmarks:
            from lmreg.algorithms.landmark_reg import make_schedule
            lm = cfg.landmarks
            try:
                make_schedule(lm.schedule, cfg.train.warmup_epochs, cls.landmark_horizon(cfg), lm.max_coef,
                              lm.landmark_warmup_epochs)
            except ValueError as e:
                raise ConfigError(f"landmark schedule over the {cls.landmark_horizon(cfg)} epochs before the "
                                  f"search (train.epochs - algo.search_epochs): {e}") from None

    @classmethod
    def landmark_horizon(cls, cfg) -> int:
        """The official coefficient divides by `args.epochs`, which excludes the policy
        epochs that follow it (landmark_procedures.py:280,316-323)."""
        return cfg.train.epochs - cfg.algo.search_epochs

    smoke_overrides = ("algo.search_epochs=1",)  # the last of a smoke run's 2 epochs searches

    def __init__(self, model, task, cfg, seed, space, regularizer=None, options=None):
        super().__init__(model, task, cfg, seed, space, regularizer, options)
        o = self.options
        init = torch.Generator().manual_seed(seed + 3)  # every group drawn in turn, in declaration order
        self.alphas = {group: (o.alpha_init_std * torch.randn(shape, generator=init)).to(task.device).requires_grad_()
                       for group, shape in space.alpha_groups().items()}
        self.arch_params = list(self.alphas.values()) + self.extra_arch_params(init)
        self.arch_opt = torch.optim.Adam(self.arch_params, lr=o.arch_lr, betas=(o.arch_beta1, o.arch_beta2),
                                         weight_decay=o.arch_weight_decay)
        self.arch_gen = torch.Generator().manual_seed(seed + 4)    # held-out batches of alpha steps
        self.sample_gen = torch.Generator().manual_seed(seed + 5)  # the algorithm's own draws (Gumbel noise)
        self._arch_batches = None

    # What each algorithm defines ----------------------------------------------------
    def extra_arch_params(self, init: torch.Generator) -> list[torch.Tensor]:
        """Architecture parameters beyond alpha (PC-DARTS's edge weights), drawn from `init`
        after alpha and trained with it."""
        return []

    def mixture(self, epoch: int) -> dict[str, torch.Tensor]:
        """The op weights of the relaxed forward, (edges, ops) for each alpha group, shared
        by the group's cells; an algorithm that draws them per cell overrides `relaxed` instead."""
        raise NotImplementedError

    def relaxed(self, epoch: int):
        """What the super-net runs in the relaxed forward (a `Mixture` or `CellDraws`)."""
        return Mixture(self.mixture(epoch))

    def derivation_weights(self) -> dict[str, torch.Tensor]:
        """Per-group op probabilities the search result derives from: softmax(alpha)."""
        return {g: torch.softmax(a.detach().cpu().double(), dim=-1) for g, a in self.alphas.items()}

    # -------------------------------------------------------------------------------
    def searching(self, epoch: int) -> bool:
        return epoch >= self.cfg.epochs - self.options.search_epochs

    def start_epoch(self, epoch: int) -> None:
        # a fresh pass of held-out batches every search epoch, like the landmark batches
        self._arch_batches = self.held_out_batches(self.arch_gen, "architecture") if self.searching(epoch) else None

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if epoch < self.cfg.warmup_epochs:
            logits = self.model(x, self.space.sample_path(self.path_rng))
        else:
            if self.searching(epoch):
                self.arch_step(epoch)
            logits = self.model(x, self.relaxed(epoch))
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    def arch_step(self, epoch: int) -> None:
        """One first-order alpha step on the next held-out batch (official Architect
        `_backward_step`), then the weight gradients it left are cleared."""
        xv, yv = next(self._arch_batches)
        self.arch_opt.zero_grad()
        F.cross_entropy(self.model(xv, self.relaxed(epoch)), yv).backward()
        self.arch_opt.step()
        self.opt.zero_grad(set_to_none=self.cfg.unsampled_grads == "none")

    def search_candidates(self, known: set[str], n_samples: int = 1000, top: int = 10) -> tuple[str, list]:
        """Official (differentiable_policy.py): draw n_samples architectures from the
        derivation weights (the space's `sample_archs`: NB201 Categorical(softmax(alpha))
        edge by edge), keep the `top` most frequent and let the super-net pick among them.
        Here only draws whose cell has ground truth count (a micro table covers a few
        hundred cells), each as its class representative (the table's key)."""
        gen = torch.Generator().manual_seed(self.seed + 6)
        counts: dict[str, int] = {}
        for arch in self.space.sample_archs(self.derivation_weights(), n_samples, gen):
            key = self.space.key(self.space.representative(arch))
            if key in known:
                counts[key] = counts.get(key, 0) + 1
        ranked = sorted(counts, key=lambda k: -counts[k])[:top]  # stable: first drawn wins a tie
        return f"{top} most frequent of {n_samples} alpha samples with GT", [self.space.parse(k) for k in ranked]

    def argmax_arch(self):
        """The architecture of the largest weights (DARTS's derivation, the space's `argmax_arch`)."""
        return self.space.representative(self.space.argmax_arch(self.derivation_weights()))

    def extra_state(self) -> dict:
        return {"arch_params": [p.detach().clone() for p in self.arch_params], "arch_opt": self.arch_opt.state_dict(),
                "arch_gen": self.arch_gen.get_state(), "sample_gen": self.sample_gen.get_state()}

    def load_extra_state(self, state: dict) -> None:
        with torch.no_grad():
            for p, saved in zip(self.arch_params, state["arch_params"], strict=True):
                p.copy_(saved)
        self.arch_opt.load_state_dict(state["arch_opt"])
        self.arch_gen.set_state(state["arch_gen"])
        self.sample_gen.set_state(state["sample_gen"])
