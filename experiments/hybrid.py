"""The hybrid question of table B1 (issue 24, item 6): does a landmark predictor get better
when it also sees a super-net's (or any ranker's) score on the same landmarks? Rows for one
seed: the other ranker alone, the predictor alone, their rank ensemble and the stacked
predictor (algorithms.predictors.hybrid). `benchmarks/hybrid_micro.py` runs it on finished
micro super-net runs (B1's pools); experiments/b2.py on score files."""

from __future__ import annotations

import numpy as np

from lmreg.algorithms.predictors.fit import fit_predict
from lmreg.algorithms.predictors.hybrid import rank_ensemble, stacked_predict
from lmreg.experiments.b1 import PREDICTOR_FIT
from lmreg.spaces.base import SearchSpace

HYBRID_PREDICTOR = ("gcn", "pairwise")   # B1's best predictor at micro scale


def hybrid_scores(space: SearchSpace, landmarks, lm_gt, lm_other, pool, pool_other, seed: int,
                  other: str = "super-net") -> dict[str, np.ndarray]:
    """{row label: scores of ``pool``}; ``landmarks`` and ``pool`` are keys of ``space``'s
    architectures, which the space parses and encodes."""
    model, loss = HYBRID_PREDICTOR
    lm, pl = [space.parse(a) for a in landmarks], [space.parse(a) for a in pool]
    pred = fit_predict(model, lm, lm_gt, pl, loss=loss, seed=seed, space=space, **PREDICTOR_FIT)
    name = f"{model.upper()} {loss}"
    return {f"{other} alone": np.asarray(pool_other, dtype=float), f"{name} on the landmarks": pred,
            f"{name} + {other}: rank ensemble": rank_ensemble(pred, pool_other),
            f"{name} + {other}: stacked (score as an input)": stacked_predict(
                model, loss, lm, lm_gt, lm_other, pl, pool_other, seed=seed, space=space, **PREDICTOR_FIT)}
