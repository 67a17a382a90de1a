"""Predictors trained on landmarks: encodings drawn by hand, the pairwise loss by
hand, and both models recovering a known ranking."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from lmreg.algorithms.predictors.encoding import graph, one_hot
from lmreg.algorithms.predictors.fit import fit_predict, pairwise_loss
from lmreg.spaces import nb201


def test_one_hot_encoding():
    v = one_hot((1, 0, 4, 2, 3, 0))
    assert v.shape == (30,) and v.sum() == 6
    assert [int(i) for i in torch.nonzero(v).flatten()] == [1, 5, 14, 17, 23, 25]


def test_graph_encoding_by_hand():
    """Edges in nb201.EDGES order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) are op nodes 1..6;
    input 0, output 7. Drawn by hand from the NB201 cell."""
    adj, feats = graph((1, 2, 3, 4, 0, 1))
    expected = {(0, 1), (0, 2), (1, 3), (0, 4), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)}
    assert {tuple(e) for e in torch.nonzero(adj).tolist()} == expected
    assert feats[0, 0] == feats[7, 1] == 1 and feats.sum() == 8
    assert [int(feats[k + 1, 2:].argmax()) for k in range(6)] == [1, 2, 3, 4, 0, 1]


def test_pairwise_loss_by_hand():
    scores = torch.tensor([1.0, 0.0, 0.5])
    target = torch.tensor([0.0, 1.0, 1.0])  # 1 and 2 beat 0; 1 and 2 tie (no pair)
    expected = (math.log1p(math.exp(1.0)) + math.log1p(math.exp(0.5))) / 2
    assert pairwise_loss(scores, target).item() == pytest.approx(expected)


@pytest.mark.parametrize("name,loss", [("mlp", "mse"), ("mlp", "pairwise"), ("gcn", "mse"), ("gcn", "pairwise")])
def test_predictors_recover_a_known_ranking(name, loss):
    """Target: 2 x (3x3 convs) + (1x1 convs) - (pools) on the edges that reach the
    output, a function of the cell the models can represent; 60 training cells, 120
    held out."""
    def target(a):
        live = nb201.computed_edges(a)
        ops = [nb201.OPS[a[p]] for p in live]
        return 2 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1") - ops.count("avg_pool_3x3")
    archs = nb201.sample(180, 5)
    y = np.array([target(a) for a in archs], float)
    pred = fit_predict(name, archs[:60], y[:60], archs[60:], loss=loss, seed=0, epochs=300)
    assert kendalltau(pred, y[60:]).statistic > 0.6
    again = fit_predict(name, archs[:60], y[:60], archs[60:], loss=loss, seed=0, epochs=300)
    assert np.array_equal(pred, again)


def test_bad_arguments():
    a = nb201.sample(3, 0)
    with pytest.raises(KeyError, match="valid: mse, pairwise"):
        fit_predict("mlp", a, [1, 2, 3], a, loss="l1")
    with pytest.raises(KeyError, match="valid: mlp, gcn"):
        fit_predict("rf", a, [1, 2, 3], a)
    with pytest.raises(ValueError, match="at least 2"):
        fit_predict("mlp", a[:1], [1], a)
