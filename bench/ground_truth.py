"""What the harness asks of a ground-truth table, whatever its source.

Four sources implement it: `gt_table.GTTable` (tables built by `lmreg bench build`,
and analog-nasbench converted into one), `nb201_official.NB201Table` (one
dataset/hp view of the converted official NB201 store) and `nb101.NB101Table`.
`tests/test_ground_truth.py` checks every one of them against this contract.

Conventions:
* A *row* is one (architecture, seed) training run with a result; ``len(table)``
  counts rows, ``seeds`` holds each row's seed and ``scalars`` per-row costs.
* An architecture is named by its *key* in the table's ``space`` (NB201: the
  official string; the official NB101 table: the 32-hex-digit module hash; NB101
  tables built by the harness: `spaces.nb101` cell keys); views are indexed by key,
  sorted, with the index named ``"arch"``.
* ``epoch`` is a 0-based index into the training curve; ``-1`` (the default) and
  ``epochs - 1`` both mean the final epoch. Sources without full curves (NB101:
  halfway and final only) raise a one-line ``LookupError`` for other epochs.
* A metric not in ``metrics`` raises ``UnknownNameError`` (a ``KeyError``) whose
  one-line message lists the valid metrics. Accuracies are in percent.
"""

from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class GroundTruth(Protocol):
    space: str                          # search space of the keys: "nb201" or "nb101"
    task: str                           # what the networks were trained on, e.g. "micro-fmnist"
    recipe: dict                        # how they were trained (printed by `lmreg bench info`)
    meta: dict                          # provenance; "complete": False marks an unfinished build

    @property
    def metrics(self) -> tuple[str, ...]:
        """Names valid for per_arch / seed_matrix, and columns of frame."""

    @property
    def epochs(self) -> int:
        """Length of the training curve."""

    @property
    def seeds(self) -> np.ndarray:
        """The seed of every row."""

    @property
    def scalars(self) -> Mapping[str, np.ndarray]:
        """Per-row values that have no curve (params, wall_time, ...)."""

    def __len__(self) -> int:
        """Rows: (architecture, seed) runs with a result."""

    def per_arch(self, metric: str = "test_acc", epoch: int = -1) -> pd.Series:
        """The GT vector: mean over seeds (NaN-skipping), float, indexed by key."""

    def seed_matrix(self, metric: str = "test_acc", epoch: int = -1) -> pd.DataFrame:
        """Keys x seeds, NaN where a seed is missing; its row mean is per_arch."""

    def frame(self, epoch: int = -1) -> pd.DataFrame:
        """One row per run: arch, seed, every metric at ``epoch``, the scalars."""


def gt_metric(table: GroundTruth) -> str:
    """The metric a table's ground truth is: ``meta["gt_metric"]`` where the source says
    (e.g. a table that ships only validation accuracies), else test_acc."""
    return str(table.meta.get("gt_metric", "test_acc"))
