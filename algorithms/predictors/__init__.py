"""Performance predictors trained only on the landmark architectures the regulariser
sees (their ground truth), then asked to rank the evaluation pool: the fair
comparison for a super-net that used M labels. `encoding.py` turns NB201 and NB101
cells into features and graphs, `mlp.py` and `gcn.py` are the models, `fit.py`
trains one with a regression or a pairwise-ranking loss and predicts."""

from lmreg.core.registry import Registry

# name -> "module:class" of a model class with `encode(archs)` and `__init__(input width)`
PREDICTORS = Registry("predictor")
PREDICTORS.register("mlp", "lmreg.algorithms.predictors.mlp:MLP")
PREDICTORS.register("gcn", "lmreg.algorithms.predictors.gcn:GCN")
LOSSES = ("mse", "pairwise")
