"""Performance predictors trained only on the landmark architectures the regulariser
sees (their ground truth), then asked to rank the evaluation pool: the fair
comparison for a super-net that used M labels. `encoding.py` turns NB201 and NB101
cells into features and graphs, `mlp.py` and `gcn.py` are the models, `fit.py`
trains one with a regression or a pairwise-ranking loss and predicts."""

PREDICTORS = ("mlp", "gcn")
LOSSES = ("mse", "pairwise")
