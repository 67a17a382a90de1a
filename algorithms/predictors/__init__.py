"""Performance predictors trained only on the landmark architectures the regulariser
sees (their ground truth), then asked to rank the evaluation pool: the fair
comparison for a super-net that used M labels. The search space encodes its own
architectures (`SearchSpace.encode_vector`, `encode_graph`; spaces that have them declare
`supports_encodings`), so nothing here names a space; `mlp.py` and `gcn.py` are the
models, `fit.py` trains one with a regression or a pairwise-ranking loss and predicts."""

from lmreg.core.registry import Registry

# name -> "module:class" of a model class with `encode(space, archs)` and `__init__(input width)`
PREDICTORS = Registry("predictor")
PREDICTORS.register("mlp", "lmreg.algorithms.predictors.mlp:MLP")
PREDICTORS.register("gcn", "lmreg.algorithms.predictors.gcn:GCN")
LOSSES = ("mse", "pairwise")
