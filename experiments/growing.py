"""Iterative landmark growing (the paper's Fig. 2 right; absent from the official code).

The regularised epochs are cut into ``grow_rounds + 1`` equal parts. After each of the
first ``grow_rounds`` parts the super-net scores the candidates (every cell with ground
truth that is neither a landmark nor in the evaluation pool, so the pool is never
labelled), ``grow_k`` of them get their ground truth looked up and join the landmarks,
and training goes on with the larger set. ``grow_select = "top"`` labels the super-net's
best-scored candidates; ``"random"`` labels random ones, the same label budget spent
without the super-net's help. Each round is one row of the run record's ``grow`` table:
what was labelled and how good it is (GT percentiles among all cells), and the pool's
ranking metrics at that moment (``pool_kendall_tau`` ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def grow_epochs(warmup_epochs: int, epochs: int, rounds: int) -> list[int]:
    """The 0-based epochs after which a round adds landmarks."""
    regularised = epochs - warmup_epochs
    return [warmup_epochs + (j * regularised) // (rounds + 1) - 1 for j in range(1, rounds + 1)]


def check_growing(rounds: int, k: int, warmup_epochs: int, epochs: int, n_cells: int, m: int,
                  pool: int) -> str | None:
    """Why these growing settings cannot run, or None."""
    if rounds == 0:
        return None
    if epochs - warmup_epochs < rounds + 1:
        return (f"landmarks.grow_rounds={rounds} needs at least {rounds + 1} regularised epochs, "
                f"got {epochs - warmup_epochs} (train.epochs - train.warmup_epochs)")
    spare = n_cells - m - pool
    if spare < rounds * k:
        return (f"growing labels landmarks.grow_rounds x grow_k = {rounds * k} cells outside the landmarks and "
                f"the pool, but the ground truth has only {spare} such cells; lower grow_k, grow_rounds or "
                f"eval.pool_size")
    return None


def candidates(gt: pd.Series, landmarks: list[str], pool: list[str]) -> list[str]:
    """Cells that may be labelled: with ground truth, neither landmarks nor pool (sorted)."""
    taken = set(landmarks) | set(pool)
    return [a for a in gt.index if a not in taken]


def pick(keys: list[str], scores, k: int, how: str, rng: np.random.Generator) -> list[str]:
    """k of ``keys``: the k best-scored ("top"; ties to the earlier key) or k at random."""
    if how == "top":
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    else:
        order = rng.choice(len(keys), size=k, replace=False)
    return [keys[i] for i in order]


def grow_round(gt: pd.Series, landmarks: list[str], chosen: list[str], epoch: int, round_index: int,
               n_candidates: int) -> tuple[list[str], dict]:
    """The new GT-ascending landmark list and the round's record row: the GT of what was
    labelled, and its quality as GT percentiles among all cells of the table."""
    new = sorted(set(landmarks) | set(chosen), key=lambda a: (gt[a], a))
    all_gt = np.sort(gt.to_numpy())
    pct = [100.0 * np.searchsorted(all_gt, gt[a], side="left") / (len(all_gt) - 1) for a in chosen]
    row = {"round": float(round_index), "epoch": float(epoch), "candidates": float(n_candidates),
           "added": " ".join(chosen), "landmarks": float(len(new)),
           "added_gt_mean": float(np.mean([gt[a] for a in chosen])),
           "added_gt_best": float(max(gt[a] for a in chosen)),
           "added_percentile_mean": float(np.mean(pct)), "added_percentile_best": float(max(pct))}
    return new, row
