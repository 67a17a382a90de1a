"""Predictors trained on landmarks: encodings drawn by hand (NB201 and NB101), the
pairwise loss by hand, and both models recovering a known ranking on both spaces."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from lmreg.algorithms.predictors import LOSSES, PREDICTORS
from lmreg.algorithms.predictors.fit import fit_predict, pairwise_loss
from lmreg.spaces import nb101, nb201
from lmreg.spaces.base import ArchError, get_space

NB201, NB101 = get_space("nb201"), get_space("nb101")


def test_one_hot_encoding():
    v = NB201.encode_vector((1, 0, 4, 2, 3, 0))
    assert v.shape == (30,) and v.sum() == 6
    assert [int(i) for i in torch.nonzero(v).flatten()] == [1, 5, 14, 17, 23, 25]


def test_graph_encoding_by_hand():
    """Edges in nb201.EDGES order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) are op nodes 1..6;
    input 0, output 7. Drawn by hand from the NB201 cell."""
    adj, feats = NB201.encode_graph((1, 2, 3, 4, 0, 1))
    expected = {(0, 1), (0, 2), (1, 3), (0, 4), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)}
    assert {tuple(e) for e in torch.nonzero(adj).tolist()} == expected
    assert feats[0, 0] == feats[7, 1] == 1 and feats.sum() == 8
    assert [int(feats[k + 1, 2:].argmax()) for k in range(6)] == [1, 2, 3, 4, 0, 1]


# NB101: input 0, conv3x3 vertex 1, maxpool vertex 2, output 3; edges 0->1, 0->2, 1->3, 2->3.
SMALL_NB101 = nb101.parse("0110/0001/0001/0000:input,conv3x3-bn-relu,maxpool3x3,output")


def test_nb101_one_hot_by_hand():
    """Padded to 7 slots, the output in slot 6: edges 0->1, 0->2, 1->6, 2->6 are bits 0, 1, 10
    and 14 of the row-by-row upper triangle ((0,1)..(0,6) are 0..5, (1,2)..(1,6) 6..10, (2,3)..(2,6)
    11..14); then 3 op bits for each of slots 1..5: conv3x3 in slot 1, maxpool3x3 in slot 2."""
    edges = [1, 1, 0, 0, 0, 0,  0, 0, 0, 0, 1,  0, 0, 0, 1,  0, 0, 0,  0, 0,  0]
    ops = [1, 0, 0,  0, 0, 1,  0, 0, 0,  0, 0, 0,  0, 0, 0]
    assert torch.equal(NB101.encode_vector(SMALL_NB101), torch.tensor(edges + ops, dtype=torch.float32))
    # the 2-vertex cell: only the input->output bit (0,6), no op
    assert torch.nonzero(NB101.encode_vector(nb101.parse("01/00:input,output"))).flatten().tolist() == [5]


def test_nb101_graph_by_hand():
    """The cell's own DAG on 7 nodes (output in node 6, nodes 3-5 padding: no edges, zero
    features); features one-hot over (input, output, conv3x3, conv1x1, maxpool3x3)."""
    adj, feats = NB101.encode_graph(SMALL_NB101)
    want_adj = torch.zeros(7, 7)
    for src, dst in [(0, 1), (0, 2), (1, 6), (2, 6)]:
        want_adj[src, dst] = 1
    want_feats = torch.tensor([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0],
                               [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(adj, want_adj) and torch.equal(feats, want_feats)


def test_pairwise_loss_by_hand():
    scores = torch.tensor([1.0, 0.0, 0.5])
    target = torch.tensor([0.0, 1.0, 1.0])  # 1 and 2 beat 0; 1 and 2 tie (no pair)
    expected = (math.log1p(math.exp(1.0)) + math.log1p(math.exp(0.5))) / 2
    assert pairwise_loss(scores, target).item() == pytest.approx(expected)


@pytest.mark.parametrize("name,loss", list(itertools.product(PREDICTORS, LOSSES)))
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
    pred = fit_predict(name, archs[:60], y[:60], archs[60:], loss=loss, seed=0, epochs=300, space="nb201")
    assert kendalltau(pred, y[60:]).statistic > 0.6
    again = fit_predict(name, archs[:60], y[:60], archs[60:], loss=loss, seed=0, epochs=300, space=NB201)
    assert np.array_equal(pred, again)


@pytest.mark.parametrize("name,loss", list(itertools.product(PREDICTORS, LOSSES)))
def test_predictors_rank_nb101_cells(name, loss):
    """Target: the number of conv3x3 vertices, a count the encodings show directly; 60 NB101
    training cells, 120 held out."""
    archs = nb101.sample(180, 5)
    y = np.array([a.ops.count("conv3x3-bn-relu") for a in archs], float)
    pred = fit_predict(name, archs[:60], y[:60], archs[60:], loss=loss, seed=0, epochs=300, space="nb101")
    assert kendalltau(pred, y[60:]).statistic > 0.6


def test_bad_arguments():
    a = nb201.sample(3, 0)
    with pytest.raises(KeyError, match="valid: mse, pairwise"):
        fit_predict("mlp", a, [1, 2, 3], a, loss="l1", space="nb201")
    with pytest.raises(KeyError, match="unknown predictor 'rf'; valid predictors: mlp, gcn"):
        fit_predict("rf", a, [1, 2, 3], a, space="nb201")
    with pytest.raises(ValueError, match="at least 2"):
        fit_predict("mlp", a[:1], [1], a, space="nb201")
    with pytest.raises(ArchError, match="an NB201 architecture is a tuple of 6 op indices"):
        fit_predict("gcn", a, [1, 2, 3], [SMALL_NB101], space="nb201")  # a cell of another space
    with pytest.raises(ArchError, match="NB101 architecture"):
        fit_predict("mlp", a, [1, 2, 3], a, space="nb101")
