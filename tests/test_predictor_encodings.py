"""Predictor encodings as a declared capability of a space (spaces/base.py `SpaceDefaults`:
`supports_encodings`, `encode_vector`, `encode_graph`): DARTS's by hand on the DARTS-V2
genotype, the widths following each space's op set, predictors fitting DARTS genotypes, the
one-line error of a space without encodings and a contract over every registered space.
NB201's and NB101's encodings by hand: tests/test_predictors.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmreg.algorithms.predictors import PREDICTORS
from lmreg.algorithms.predictors.fit import fit_predict
from lmreg.core.errors import ConfigError
from lmreg.spaces import darts
from lmreg.spaces.base import ArchError, SpaceDefaults, get_space, space_names, spaces_with

# DARTS-V2 (DARTS's official genotypes.py), in DARTS's own pair order
DARTS_V2 = darts.Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=range(2, 6),
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=range(2, 6))


def test_darts_v2_vector_by_hand():
    """darts (8 ops: none 0, max_pool 1, avg_pool 2, skip 3, sep3 4, sep5 5, dil3 6, dil5 7):
    per cell the blocks of nodes 2, 3, 4, 5 have 2, 3, 4, 5 inputs x 8 ops, at offsets 0, 16,
    40, 72, then 4 concat flags at 112..115; the reduce cell starts at 116. A pair (op, j)
    of node k sits at offset(k) + 8 j + op."""
    normal = [0 + 4, 0 + 8 + 4,            # node 2: (sep3, 0), (sep3, 1)
              16 + 4, 16 + 8 + 4,          # node 3: (sep3, 0), (sep3, 1)
              40 + 3, 40 + 8 + 4,          # node 4: (skip, 0), (sep3, 1)
              72 + 3, 72 + 16 + 6,         # node 5: (skip, 0), (dil3, 2)
              112, 113, 114, 115]          # concat 2..5
    reduce = [116 + p for p in [0 + 1, 0 + 8 + 1,      # node 2: (max, 0), (max, 1)
                                16 + 8 + 1, 16 + 16 + 3,  # node 3: (max, 1), (skip, 2)
                                40 + 1, 40 + 16 + 3,      # node 4: (max, 0), (skip, 2)
                                72 + 8 + 1, 72 + 16 + 3,  # node 5: (max, 1), (skip, 2)
                                112, 113, 114, 115]]
    v = get_space("darts").encode_vector(DARTS_V2)
    assert v.shape == (232,) and v.dtype == torch.float32
    assert torch.nonzero(v).flatten().tolist() == normal + reduce and v.sum() == 24


def test_darts_nds_v2_vector_by_hand():
    """darts-nds (7 ops, no none: max_pool 0, avg_pool 1, skip 2, sep3 3, sep5 4, dil3 5,
    dil5 6): node blocks at offsets 0, 14, 35, 63, concat at 98..101, reduce cell from 102."""
    want = [3, 7 + 3, 14 + 3, 14 + 7 + 3, 35 + 2, 35 + 7 + 3, 63 + 2, 63 + 14 + 5, 98, 99, 100, 101]
    want += [102 + p for p in [0, 7, 14 + 7, 14 + 14 + 2, 35, 35 + 14 + 2, 63 + 7, 63 + 14 + 2,
                               98, 99, 100, 101]]
    v = get_space("darts-nds").encode_vector(DARTS_V2)
    assert v.shape == (204,) and torch.nonzero(v).flatten().tolist() == want and v.sum() == 24


def test_a_repeated_pair_counts_twice():
    g = darts.Genotype([("skip_connect", 0)] * 2 + list(DARTS_V2.normal[2:]), darts.FULL_CONCAT,
                       DARTS_V2.reduce, darts.FULL_CONCAT)
    assert get_space("darts").encode_vector(g)[3] == 2.0       # node 2, input 0, skip


def test_darts_v2_graph_by_hand():
    """The op-on-node graph of spaces/darts_space.py: per cell nodes b, b+1 the inputs, b+2+p
    the op of canonical pair p, b+10 the output; b = 0 normal, 11 reduce. Canonical order
    sorts a node's pairs by input, so normal node 4 is (skip, 0), (sep3, 1) and reduce nodes
    3 and 5 are (max, 1), (skip, 2). Normal pairs: p0 (sep3, 0), p1 (sep3, 1), p2 (sep3, 0),
    p3 (sep3, 1), p4 (skip, 0), p5 (sep3, 1), p6 (skip, 0), p7 (dil3, 2 -> op nodes 2, 3).
    Reduce pairs: p0 (max, 0), p1 (max, 1), p2 (max, 1), p3 (skip, 2), p4 (max, 0), p5 (skip, 2),
    p6 (max, 1), p7 (skip, 2); node 2's op nodes are 13, 14."""
    normal = {(0, 2), (1, 3), (0, 4), (1, 5), (0, 6), (1, 7), (0, 8), (2, 9), (3, 9),
              *((k, 10) for k in range(2, 10))}
    reduce = {(11, 13), (12, 14), (12, 15), (13, 16), (14, 16), (11, 17), (13, 18), (14, 18), (12, 19),
              (13, 20), (14, 20), *((k, 21) for k in range(13, 21))}
    # features: 0 input c_{k-2}, 1 input c_{k-1}, 2 output, 3 + op (none 3, max 4, skip 6, sep3 7,
    # dil3 9), 11 the reduce flag
    hot = [[0], [1], [7], [7], [7], [7], [6], [7], [6], [9], [2],
           [0, 11], [1, 11], [4, 11], [4, 11], [4, 11], [6, 11], [4, 11], [6, 11], [4, 11], [6, 11], [2, 11]]
    adj, feats = get_space("darts").encode_graph(DARTS_V2)
    assert adj.shape == (22, 22) and feats.shape == (22, 12)
    assert {tuple(e) for e in torch.nonzero(adj).tolist()} == normal | reduce
    assert [torch.nonzero(row).flatten().tolist() for row in feats] == hot
    nds_adj, nds_feats = get_space("darts-nds").encode_graph(DARTS_V2)
    assert torch.equal(nds_adj, adj) and nds_feats.shape == (22, 11)
    assert torch.equal(nds_feats, torch.cat([feats[:, :3], feats[:, 4:]], 1))   # the 'none' column gone


def test_the_output_takes_only_the_concat():
    g = darts.Genotype(DARTS_V2.normal, (2, 5), DARTS_V2.reduce, darts.FULL_CONCAT)
    adj, _ = get_space("darts").encode_graph(g)
    assert torch.nonzero(adj[:, 10]).flatten().tolist() == [2, 3, 8, 9]  # node 2's and node 5's ops


def test_widths_follow_the_op_sets():
    for name in ("darts", "darts-nds"):
        space = get_space(name)
        g = space.sample(1, 0)[0]
        assert space.encode_vector(g).shape == (2 * (14 * len(space.ops) + 4),)
        assert space.encode_graph(g)[1].shape == (22, 3 + len(space.ops) + 1)
    assert len(get_space("darts").ops) == len(get_space("darts-nds").ops) + 1


def test_darts_nds_refuses_none():
    g = darts.Genotype([("none", 0)] + list(DARTS_V2.normal[1:]), darts.FULL_CONCAT, DARTS_V2.reduce,
                       darts.FULL_CONCAT)
    assert get_space("darts").encode_vector(g)[0] == 1.0
    for encode in (get_space("darts-nds").encode_vector, get_space("darts-nds").encode_graph):
        with pytest.raises(ArchError, match="'none' is not in this space's op set"):
            encode(g)


@pytest.mark.parametrize("space", ["darts", "darts-nds"])
@pytest.mark.parametrize("name", list(PREDICTORS))
def test_predictors_fit_darts_genotypes(name, space):
    archs = get_space(space).sample(12, 3)
    y = np.arange(8, dtype=float)
    for loss in ("mse", "pairwise"):
        scores = fit_predict(name, archs[:8], y, archs[8:], loss=loss, seed=0, epochs=5, space=space)
        assert scores.shape == (4,) and np.isfinite(scores).all()


class _NoEncodings(SpaceDefaults):
    name = "toy"


def test_a_space_without_encodings_is_refused_in_one_line():
    with pytest.raises(ConfigError) as e:
        fit_predict("mlp", [(0,), (1,)], [0.0, 1.0], [(0,)], space=_NoEncodings())
    assert str(e.value) == "space toy has no predictor encodings; spaces with them: darts, darts-nds, nb101, nb201"
    with pytest.raises(ConfigError, match="no predictor encodings"):
        _NoEncodings().encode_graph((0,))


@pytest.mark.parametrize("name", space_names())
def test_every_space_encodes_with_fixed_widths_or_says_it_cannot(name):
    """The declared flag and the methods agree: a space with encodings gives float32
    tensors of one shape per space; one without raises ConfigError."""
    space = get_space(name)
    archs = space.sample(5, 0)
    if not space.supports_encodings:
        with pytest.raises(ConfigError):
            space.encode_vector(archs[0])
        return
    assert name in spaces_with("supports_encodings")
    vectors = [space.encode_vector(a) for a in archs]
    graphs = [space.encode_graph(a) for a in archs]
    assert {v.shape for v in vectors} == {vectors[0].shape} and vectors[0].dim() == 1
    n = graphs[0][0].shape[0]
    for adj, feats in graphs:
        assert adj.shape == (n, n) and feats.shape[0] == n and feats.shape == graphs[0][1].shape
        assert adj.dtype == feats.dtype == vectors[0].dtype == torch.float32
        assert not adj.diagonal().any() and not (adj * adj.T).any()  # directed edges, no self-loops
