"""Warnings for a ground-truth table that cannot rank architectures: accuracies at
chance level (a recipe that barely trains) or seeds that barely agree (a ranking
mostly made of noise). `lmreg bench build` and `lmreg bench info` print them."""

from __future__ import annotations

import numpy as np

from lmreg.bench.ground_truth import GroundTruth
from lmreg.paper_figures.noise import noise_ceiling, seed_taus
from lmreg.spaces import nb201

CHANCE_FACTOR = 1.5      # median accuracy below 1.5x chance: the networks did not learn
MIN_STEPS_PER_EPOCH = 10
MIN_SEED_TAU = 0.3


def table_warnings(table: GroundTruth, num_classes: int = 10, train_size: int | None = None) -> list[str]:
    """One line per problem found; empty when the table looks usable. ``train_size``
    (images per training epoch) enables the steps-per-epoch check."""
    out = []
    acc = table.per_arch("test_acc").dropna()
    chance = 100.0 / num_classes
    if len(acc) and acc.median() < CHANCE_FACTOR * chance:
        out.append(f"test accuracies are near chance level (median {acc.median():.1f} %, chance {chance:.0f} %): "
                   "the networks barely trained; give the recipe more steps (epochs, a smaller batch_size) "
                   "or a higher lr")
    batch = table.recipe.get("batch_size")
    if train_size and batch:
        steps = train_size // batch
        if steps < MIN_STEPS_PER_EPOCH:
            out.append(f"only {steps} training step(s) per epoch ({train_size} images, batch {batch}): "
                       "lower batch_size or use a larger training split")
    taus = seed_taus(table.seed_matrix("test_acc"))
    if taus:
        if np.nanmean(taus) < MIN_SEED_TAU:
            out.append(f"the seeds barely agree (Kendall tau between seeds {np.nanmean(taus):.2f} < {MIN_SEED_TAU}): "
                       "the ranking is mostly noise; train longer, add seeds or evaluate on more images")
    return out


def reliability(matrix) -> dict:
    """Seed-vs-seed Kendall tau (mean, min, max over seed pairs), split-half tau and the
    noise ceiling (noise.py) of an architectures x seeds matrix."""
    taus = seed_taus(matrix)
    out = {"archs": int(len(matrix.dropna(how="all"))), "seed_tau": float(np.mean(taus)) if taus else np.nan,
           "seed_tau_min": min(taus, default=np.nan), "seed_tau_max": max(taus, default=np.nan),
           "seed_pairs": len(taus)}
    try:
        out.update(noise_ceiling(matrix))
    except ValueError:  # too few complete rows for the noise model
        pass
    return out


def nb201_subsets(archs) -> dict[str, list[str]]:
    """The cell subsets whose reliability tells how much isomorphic duplicates and
    chance-level cells inflate it: all cells, one per isomorphism class (NB201's 6,466
    unique cells), and those unique cells whose input reaches the output (the others
    compute a constant and sit at chance, tied)."""
    archs = list(archs)
    parsed = {a: nb201.parse(a) for a in archs}
    unique = [a for a in archs if nb201.representative(parsed[a]) == parsed[a]]
    connected = [a for a in unique if nb201.is_connected(parsed[a])]
    return {f"all {len(archs)} cells": archs, f"{len(unique)} unique cells": unique,
            f"{len(connected)} unique connected cells": connected}


def reliability_by_subset(table: GroundTruth, metric: str) -> dict[str, dict]:
    """reliability() of an NB201 table on every nb201_subsets() subset; other spaces: all rows."""
    matrix = table.seed_matrix(metric)
    if table.space != "nb201":
        return {f"all {len(matrix)} archs": reliability(matrix)}
    return {label: reliability(matrix.loc[archs]) for label, archs in nb201_subsets(matrix.index).items()}
