"""The search after super-net training, as every official launch script runs it
(`--evaluate_after_search --evaluate_sampler evolutionary --evaluate_step_budget 1000`):
regularised evolution (Real et al. 2019) over the trained super-net.

`regularized_evolution` works on any scoring function (a super-net, a predictor, a
table of scores): `population` cells drawn by `sample`, then until `budget` queries
are spent, a tournament of `tournament` distinct members drawn uniformly, its fittest
(the youngest among equals) mutated once, the child scored and appended, the oldest
member removed. Every query counts, also a cell queried before. The result ranks
the distinct queried cells by `rescore` (the official ranking by the test batches
of each cell's last query) and keeps the best `top`.

`SupernetQueries` is the official query of one cell (`_query_model_by_eval`): the
super-net's accuracy with batch-statistics BN on `n_batches` freshly shuffled
batches of the held-out split (the fitness) and of the test split (the rescore).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Hashable

import torch

from lmreg.algorithms.scoring import _bn_mode

SEARCHES = ("evolution", "pool")


@dataclass(frozen=True)
class SearchConfig:
    """The run config's `search` section: how a single-path algorithm (SPOS, FairNAS) picks
    its search result after training. Algorithms with a search procedure of their own (GDAS,
    PC-DARTS: `search_candidates`) use it instead. Defaults: the official scripts and
    cnn_search_configs.py:196-200."""
    method: str = "evolution"   # evolution (official) | pool: the best-scored pool cell
    population: int = 50
    tournament: int = 10
    budget: int = 1000          # queries, the initial population included
    batches: int = 21           # batches per query (official `ind > nb_batch`, nb_batch 20)
    batch_size: int = 256       # official evaluate_batch_size
    top: int = 5                # the best distinct cells kept, re-scored on test batches
    # A found cell the ground-truth table lacks: trained stand-alone with the table's recipe
    # and seeds (true), or recorded with GT NaN, flagged missing (false: smoke runs).
    train_missing: bool = True

    def __post_init__(self):
        if self.method not in SEARCHES:
            raise ValueError(f"unknown search.method {self.method!r}; valid: {', '.join(SEARCHES)}")
        if not 1 <= self.tournament <= self.population:
            raise ValueError(f"need 1 <= search.tournament <= search.population, got "
                             f"{self.tournament} and {self.population}")
        for key in ("budget", "batches", "batch_size", "top"):
            if getattr(self, key) < 1:
                raise ValueError(f"search.{key} must be >= 1, got {getattr(self, key)}")


@dataclass
class EvolutionResult:
    history: list = field(default_factory=list)   # (arch, fitness) of every query, in order
    top: list = field(default_factory=list)       # (arch, rescore) of the best distinct cells, best first

    @property
    def queries(self) -> int:
        return len(self.history)


def regularized_evolution(sample: Callable[[random.Random], Hashable],
                          mutate: Callable[[Hashable, random.Random], Hashable],
                          fitness: Callable[[Hashable], float], rng: random.Random,
                          population: int = 50, tournament: int = 10, budget: int = 1000,
                          rescore: Callable[[Hashable], float] | None = None, top: int = 5) -> EvolutionResult:
    """The official `run_evolutionary_search_on_search_space` (utils_evaluate.py:74-121) and
    the top-`top` pick of `post_search_phase` (cnn_general_search_policies.py:449-475).
    The initial population is drawn in full even when `budget` is smaller, as officially."""
    result = EvolutionResult()
    members: list[tuple[float, Hashable]] = []
    for _ in range(population):
        arch = sample(rng)
        f = fitness(arch)
        result.history.append((arch, f))
        members.append((f, arch))
    while len(result.history) < budget:
        chosen = sorted(rng.sample(range(len(members)), tournament))
        parent = sorted((members[i] for i in chosen), key=lambda m: m[0])[-1][1]  # stable: the youngest best
        child = mutate(parent, rng)
        f = fitness(child)
        result.history.append((child, f))
        members.append((f, child))
        members.pop(0)
    distinct = list(dict.fromkeys(arch for arch, _ in result.history))
    scores = [(arch, (rescore or dict(result.history).get)(arch)) for arch in distinct]
    result.top = sorted(scores, key=lambda s: -s[1])[:top]  # stable: the first queried wins a tie
    return result


class SupernetQueries:
    """Accuracy (%) of a super-net path on `n_batches` batches of a split, reshuffled at every
    query by `gen` (the official loaders shuffle on every pass); BN uses batch statistics."""

    def __init__(self, model, task, n_batches: int, batch_size: int, gen: torch.Generator,
                 augment_held_out: bool = True):
        self.model, self.task, self.n_batches, self.batch_size, self.gen = model, task, n_batches, batch_size, gen
        self.augment_held_out = augment_held_out
        self.seconds = 0.0

    @torch.no_grad()
    def accuracy(self, arch, split: str) -> float:
        t0 = time.perf_counter()
        correct = torch.zeros((), device=self.task.device)
        seen = 0
        batches = self.task.batches(split, self.batch_size, self.gen, shuffle=True,
                                    train_augment=self.augment_held_out and split == "valid")
        with _bn_mode(self.model, "batch"):
            for _, (x, y) in zip(range(self.n_batches), batches):
                correct += (self.model(x, arch).argmax(1) == y).sum()
                seen += len(y)
        self.seconds += time.perf_counter() - t0
        return 100.0 * correct.item() / seen

    def fitness(self, arch) -> float:
        return self.accuracy(arch, "valid")

    def rescore(self, arch) -> float:
        return self.accuracy(arch, "test")
