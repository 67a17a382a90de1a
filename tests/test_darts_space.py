"""DARTS cell space: genotype parsing, canonical keys and sampling against the official
sampler's definition; the stand-alone network's parameter count against a count written
from the DARTS reference network's definitions (quark0/darts cnn/model.py and
cnn/operations.py); super-net paths against stand-alone networks given the path's weights."""

from __future__ import annotations

import collections
import json
import random
from types import SimpleNamespace

import pytest
import torch

from lmreg.spaces import darts
from lmreg.spaces.base import ArchError, NetSpec, SearchSpace, get_space
from lmreg.spaces.darts_net import DartsNet, NetConfig, subnet_state


# Genotypes as printed in quark0/darts cnn/genotypes.py (DARTS_V1, DARTS_V2) and in the
# landmark code's nasws/cnn/search_space/darts/genotype.py (PC_DARTS_cifar, range concat).
DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
PC_DARTS = ("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
            "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], "
            "normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
            "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 2)], reduce_concat=range(2, 6))")
# DARTS's train.py logs 'param size = 3.349342MB' for DARTS_V2 at C=36, 20 layers (auxiliary
# weights excluded); the paper rounds it to 3.3M.
DARTS_V2_PARAMS = 3_349_342


# --- a parameter count written from cnn/model.py + cnn/operations.py (no torch) -----------
def _bn(c, affine=True):
    return 2 * c if affine else 0


def _op_params(name, c, stride):
    k = int(name[-1]) if name[-1].isdigit() else 0
    if name.startswith("sep_conv"):        # SepConv: (dw k x k, pw 1x1, BN) twice
        return 2 * (c * k * k + c * c + _bn(c))
    if name.startswith("dil_conv"):        # DilConv: dw k x k, pw 1x1, BN
        return c * k * k + c * c + _bn(c)
    if name == "skip_connect" and stride == 2:  # FactorizedReduce(C, C): two 1x1 to C/2, BN
        return 2 * c * (c // 2) + _bn(c)
    return 0                               # pools, identity, none


def reference_params(genotype, C, layers, num_classes=10, in_channels=3, auxiliary=False):
    stem = 3 * C
    total = in_channels * stem * 9 + _bn(stem)
    c_pp, c_p, c_curr, reduction_prev = stem, stem, C, False
    c_aux = None
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_curr *= 2
        if reduction_prev:
            total += 2 * c_pp * (c_curr // 2) + _bn(c_curr)   # FactorizedReduce
        else:
            total += c_pp * c_curr + _bn(c_curr)              # ReLUConvBN 1x1
        total += c_p * c_curr + _bn(c_curr)
        pairs = genotype.reduce if reduction else genotype.normal
        concat = genotype.reduce_concat if reduction else genotype.normal_concat
        for op, j in pairs:
            total += _op_params(op, c_curr, 2 if reduction and j < 2 else 1)
        reduction_prev = reduction
        c_pp, c_p = c_p, len(concat) * c_curr
        if i == 2 * layers // 3:
            c_aux = c_p
    total += c_p * num_classes + num_classes
    if auxiliary:  # AuxiliaryHeadCIFAR
        total += c_aux * 128 + _bn(128) + 128 * 768 * 4 + _bn(768) + 768 * num_classes + num_classes
    return total


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("text", [DARTS_V1, DARTS_V2, PC_DARTS])
@pytest.mark.parametrize("C, layers, aux", [(36, 20, False), (36, 20, True), (16, 8, False), (10, 5, False)])
def test_standalone_params_match_the_darts_reference_network(text, C, layers, aux):
    g = darts.parse(text)
    net = DartsNet(NetConfig(C=C, layers=layers, auxiliary=aux), g)
    assert n_params(net) == reference_params(g, C, layers, auxiliary=aux)


def test_darts_v2_params_are_darts_published_value():
    g = darts.parse(DARTS_V2)
    assert reference_params(g, 36, 20) == DARTS_V2_PARAMS
    net = get_space("darts").build_reference(g, NetSpec(C=36, N=20, bn_affine=True), 3, 10)
    assert n_params(net) == DARTS_V2_PARAMS
    # V1's normal cell has one dil_conv_3x3 fewer than V2's (a skip_connect instead)
    v1 = DartsNet(NetConfig(C=36, layers=20), darts.parse(DARTS_V1))
    assert n_params(v1) == reference_params(darts.parse(DARTS_V1), 36, 20) < DARTS_V2_PARAMS


def test_bn_affine_off_drops_exactly_the_bn_parameters():
    g = darts.parse(DARTS_V2)
    on, off = DartsNet(NetConfig(C=8, layers=5), g), DartsNet(NetConfig(C=8, layers=5, bn_affine=False), g)
    bn = sum(m.num_features * 2 for m in on.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert n_params(on) - n_params(off) == bn > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in off.modules())


def test_ops_are_darts_modules():
    """sep_conv: ReLU-dw-pw-BN twice (stride in the first dw only); dil_conv once with
    dilation 2; pools have a BN only in the super-net's op semantics."""
    g = darts.parse(DARTS_V2)
    net = DartsNet(NetConfig(C=8, layers=3), g)
    red = net.cells[1]            # layers // 3 = 1: a reduction cell
    assert red.reduction and not net.cells[0].reduction and net.cells[2].reduction
    sep = net.cells[0].ops[0]
    convs = [m for m in sep if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (1, 1), (3, 3), (1, 1)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in sep) == 2
    assert sum(isinstance(m, torch.nn.ReLU) for m in sep) == 2
    dil = net.cells[0].ops[7]
    assert g.normal[7][0] == "dil_conv_3x3"
    assert [m.dilation for m in dil if isinstance(m, torch.nn.Conv2d)] == [(2, 2), (1, 1)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in dil) == 1
    pool = red.ops[0]
    assert isinstance(pool, torch.nn.MaxPool2d) and pool.stride == 2
    path = DartsNet(NetConfig(C=8, layers=3, pool_bn=True), g)
    assert isinstance(path.cells[1].ops[0][1], torch.nn.BatchNorm2d)


def test_output_shapes_and_reduction_positions():
    g = darts.parse(DARTS_V2)
    net = DartsNet(NetConfig(C=6, layers=7, in_channels=1), g)
    assert [c.reduction for c in net.cells] == [i in (2, 4) for i in range(7)]
    x = torch.randn(2, 1, 16, 16)
    feats = []
    hooks = [c.register_forward_hook(lambda m, i, o: feats.append(o.shape)) for c in net.cells]
    assert net(x).shape == (2, 10)
    for h in hooks:
        h.remove()
    assert [s[1:] for s in feats] == [(24, 16, 16)] * 2 + [(48, 8, 8)] * 2 + [(96, 4, 4)] * 3


def test_auxiliary_head_and_drop_path_are_off_by_default():
    g = darts.parse(DARTS_V2)
    net = DartsNet(NetConfig(C=8, layers=8), g)
    assert not any("auxiliary" in n for n, _ in net.named_parameters()) and net.drop_prob == 0
    net.train()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    assert torch.equal(a, net(x))              # no randomness in training without drop-path
    aux = DartsNet(NetConfig(C=8, layers=8, auxiliary=True), g)
    logits, aux_logits = aux.forward_with_aux(x)
    assert logits.shape == aux_logits.shape == (4, 10)
    aux.eval()
    assert aux.forward_with_aux(x)[1] is None


def test_drop_path_zeroes_whole_samples_of_non_identity_ops():
    from lmreg.spaces.darts_net import drop_path
    torch.manual_seed(0)
    x = torch.ones(400, 2, 3, 3)
    y = drop_path(x, 0.25)
    per_sample = y.flatten(1)
    assert set(per_sample[:, 0].tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    assert (per_sample == per_sample[:, :1]).all()      # one decision per sample
    assert 0.15 < (per_sample[:, 0] == 0).float().mean() < 0.35
    g = darts.parse(DARTS_V2)
    net = DartsNet(NetConfig(C=8, layers=3), g)
    net.train()
    net.drop_prob = 0.5
    x = torch.randn(4, 3, 8, 8)
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    assert not torch.equal(a, net(x))


# --- encoding -----------------------------------------------------------------------------
def test_key_round_trip_and_canonical_pair_order():
    g = darts.parse(DARTS_V2)
    assert darts.parse(darts.key(g)) == g and hash(darts.parse(darts.key(g))) == hash(g)
    # node 4 of the normal cell is written ('sep_conv_3x3', 1), ('skip_connect', 0) by DARTS:
    # canonical order sorts the node's pairs by input first
    assert g.normal[4:6] == (("skip_connect", 0), ("sep_conv_3x3", 1))
    # same input: by position of the op in OPS (max_pool before skip_connect)
    swapped = darts.Genotype([("skip_connect", 0), ("max_pool_3x3", 0)] + list(g.normal[2:]), (2, 3, 4, 5),
                             g.reduce, (5, 4, 3, 2))
    assert swapped.normal[:2] == (("max_pool_3x3", 0), ("skip_connect", 0)) and swapped.reduce_concat == (2, 3, 4, 5)
    # input before op: an earlier op of OPS on the later input still comes second
    mixed = darts.Genotype([("max_pool_3x3", 1), ("sep_conv_3x3", 0)] + list(g.normal[2:]), (2, 3, 4, 5),
                           g.reduce, (2, 3, 4, 5))
    assert mixed.normal[:2] == (("sep_conv_3x3", 0), ("max_pool_3x3", 1))
    assert darts.key(g).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ")
    assert "\n" not in darts.key(g)


def test_parse_accepts_dartss_notations():
    pc = darts.parse(PC_DARTS)
    assert pc.normal_concat == pc.reduce_concat == (2, 3, 4, 5)
    positional = DARTS_V2.replace("normal=", "").replace("normal_concat=", "").replace("reduce=", "") \
        .replace("reduce_concat=", "")
    assert darts.parse(positional) == darts.parse(DARTS_V2)
    namedtuple = SimpleNamespace(normal=[("sep_conv_3x3", 0)] * 8, normal_concat=range(2, 6),
                                 reduce=[("max_pool_3x3", 1)] * 8, reduce_concat=[2, 3, 4, 5])
    nds = {"normal": [["sep_conv_3x3", 0]] * 8, "normal_concat": [2, 3, 4, 5],
           "reduce": [["max_pool_3x3", 1]] * 8, "reduce_concat": [2, 3, 4, 5]}
    assert darts.as_arch(namedtuple) == darts.as_arch(nds)


_PAIRS8 = "[" + ", ".join(["('sep_conv_3x3', 0)"] * 8) + "]"


@pytest.mark.parametrize("text, match", [
    ("", "malformed DARTS genotype"),
    ("Genotype(normal=[('sep_conv_3x3', 0)", "malformed DARTS genotype"),
    ("Foo(normal=[])", "expected 'Genotype"),
    (f"Genotype(normal={_PAIRS8}, normal_concat=[2, 3, 4, 5], reduce={_PAIRS8})", "missing reduce_concat"),
    (f"Genotype(normal={_PAIRS8}, normal_concat=[2, 3, 4, 5], reduce={_PAIRS8}, reduce_concat=[2], x=1)",
     "unknown field 'x'"),
    (f"Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce={_PAIRS8}, reduce_concat=[2])",
     "normal must list 8 .op, input. pairs .2 per node., got 1"),
    (f"Genotype(normal={_PAIRS8.replace('sep_conv_3x3', 'conv_9x9', 1)}, normal_concat=[2], "
     f"reduce={_PAIRS8}, reduce_concat=[2])", "unknown DARTS op 'conv_9x9' in normal pair 0"),
    (f"Genotype(normal=[('sep_conv_3x3', 2)] + [('sep_conv_3x3', 0)] * 7, normal_concat=[2], reduce={_PAIRS8}, "
     "reduce_concat=[2])", "normal is not a literal list"),
    (f"Genotype(normal={_PAIRS8.replace(', 0)', ', 2)', 1)}, normal_concat=[2], reduce={_PAIRS8}, "
     "reduce_concat=[2])", "normal pair 0 feeds node 2, so its input must be an int in 0..1, got 2"),
    (f"Genotype(normal={_PAIRS8}, normal_concat=[1, 2], reduce={_PAIRS8}, reduce_concat=[2])",
     "normal_concat must be a non-empty list of intermediate nodes 2..5"),
    (f"Genotype(normal={_PAIRS8}, normal_concat=[], reduce={_PAIRS8}, reduce_concat=[2])",
     "normal_concat must be a non-empty"),
    (f"Genotype(normal={_PAIRS8}, normal_concat=[2], reduce={_PAIRS8.replace(', 0)', ', 0, 1)')}, reduce_concat=[2])",
     "reduce pair 0 must be .op, input."),
])
def test_parse_errors_are_one_line(text, match):
    with pytest.raises(ArchError, match=match) as e:
        darts.parse(text)
    assert "\n" not in str(e.value)


def test_nds_space_refuses_none_and_darts_space_takes_it():
    text = DARTS_V2.replace("('skip_connect', 2)", "('none', 2)", 1)
    assert "none" in darts.parse(text).ops
    with pytest.raises(ArchError, match="'none' is not in this space's op set"):
        get_space("darts-nds").parse(text)
    assert get_space("darts-nds").parse(DARTS_V2) == darts.parse(DARTS_V2)


@pytest.mark.parametrize("name", ["darts", "darts-nds"])
def test_space_protocol(name):
    space = get_space(name)
    assert isinstance(space, SearchSpace) and space.name == name
    a = space.sample(20, seed=3)
    assert len({space.key(g) for g in a}) == 20
    assert all(space.parse(space.key(g)) == g for g in a)
    assert space.sample(30, seed=3)[:20] == a                     # larger n extends a smaller one
    b = space.sample(10, seed=3, exclude=a[:5])
    assert not set(b) & set(a[:5]) and b[:15 - 5] == [g for g in space.sample(15, 3) if g not in a[:5]][:10]
    with pytest.raises(ValueError, match="net.N >= 1"):
        space.check_net(NetSpec(C=8, N=0))


@pytest.mark.parametrize("name, ops", [("darts", darts.OPS), ("darts-nds", darts.NDS_OPS)])
def test_sampler_is_the_official_distribution(name, ops):
    """Official random_cell: node k's two inputs uniform over 0..k-1 WITH replacement,
    each op uniform over the op set, concat every node. 4000 paths: each count within 5
    binomial standard deviations of its expectation."""
    space = get_space(name)
    rng = random.Random(0)
    n = 4000
    inputs = collections.Counter()
    same = collections.Counter()
    op_count = collections.Counter()
    for _ in range(n):
        g = space.sample_path(rng)
        assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
        for pairs in (g.normal, g.reduce):
            for k in range(4):
                (o1, i1), (o2, i2) = pairs[2 * k:2 * k + 2]
                inputs[k, i1] += 1
                inputs[k, i2] += 1
                same[k] += i1 == i2
                op_count[o1] += 1
                op_count[o2] += 1

    def close(count, trials, p):
        return abs(count - trials * p) < 5 * (trials * p * (1 - p)) ** 0.5

    for k in range(4):
        for j in range(k + 2):
            assert close(inputs[k, j], 4 * n, 1 / (k + 2)), (k, j)
        assert close(same[k], 2 * n, 1 / (k + 2)), k
    assert set(op_count) == set(ops)
    for op in ops:
        assert close(op_count[op], 16 * n, 1 / len(ops)), op


def test_mutation_is_the_official_per_pair_redraw():
    """Official mutate_topology at rate 1: per pair, input redrawn with probability 1/8 (uniform
    over the node's inputs, the old one included), op redrawn with probability 1/8 (uniform,
    the old one included); concat kept. So a pair keeps its input with probability
    7/8 + 1/8 * 1/k and its op with 7/8 + 1/8 * 1/len(ops)."""
    space = get_space("darts-nds")
    parent = space.parse(DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[3, 5]"))
    rng = random.Random(0)
    n = 3000
    same_input = collections.Counter()
    same_op = 0
    seen_inputs = collections.defaultdict(set)
    for _ in range(n):
        child = space.mutate(parent, rng)
        for p, (_, i) in enumerate(child.normal + child.reduce):
            seen_inputs[p % 8 // 2].add(i)
        assert child.normal_concat == (3, 5) and child.reduce_concat == (2, 3, 4, 5)
        assert "none" not in child.ops
        # pairs of a node may reorder in the canonical form: compare nodes as multisets
        for a, b in ((parent.normal, child.normal), (parent.reduce, child.reduce)):
            for k in range(4):
                pa, pb = a[2 * k:2 * k + 2], b[2 * k:2 * k + 2]
                same_input[k] += sorted(i for _, i in pa) == sorted(i for _, i in pb)
                same_op += sorted(o for o, _ in pa) == sorted(o for o, _ in pb)
    for k in range(4):
        keep = 7 / 8 + 1 / 8 / (k + 2)
        p = keep ** 2            # both inputs of the node kept (a lower bound on "same multiset")
        assert p - 0.03 < same_input[k] / (2 * n) < p + 0.05, k
    assert all(seen_inputs[k] == set(range(k + 2)) for k in range(4))  # every earlier node reachable
    keep_op = (7 / 8 + 1 / 8 / 7) ** 2
    assert keep_op - 0.03 < same_op / (8 * n) < keep_op + 0.05


def test_one_hot_encoding_counts_pairs():
    g = darts.parse(DARTS_V2)
    v = darts.one_hot(g)
    per_cell = 14 * len(darts.OPS) + 4
    assert len(v) == 2 * per_cell
    assert sum(v) == 2 * 8 + 8                      # 8 pairs + 4 concat flags per cell type
    col = darts.OPS.index("sep_conv_3x3")
    assert v[0 * 8 + col] == 1 and v[1 * 8 + col] == 1    # node 2: sep_conv on inputs 0 and 1
    twice = darts.Genotype([("max_pool_3x3", 1)] * 2 + list(g.normal[2:]), (2,), g.reduce, (2, 3, 4, 5))
    w = darts.one_hot(twice)
    assert w[1 * 8 + darts.OPS.index("max_pool_3x3")] == 2
    assert w[per_cell - 4:per_cell] == [1, 0, 0, 0]


# --- super-net paths = stand-alone networks -------------------------------------------------
SAME_INPUT_TWICE = darts.Genotype(
    [("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("none", 0), ("dil_conv_5x5", 2), ("avg_pool_3x3", 3),
     ("skip_connect", 0), ("sep_conv_5x5", 4), ("max_pool_3x3", 1)], (2, 3, 4, 5),
    [("skip_connect", 0), ("skip_connect", 0), ("none", 1), ("avg_pool_3x3", 1), ("dil_conv_3x3", 0),
     ("skip_connect", 3), ("sep_conv_5x5", 1), ("max_pool_3x3", 4)], (2, 3, 4, 5))
PATHS = [SAME_INPUT_TWICE, darts.parse(DARTS_V2), darts.parse(PC_DARTS)] + \
    [darts.random_genotype(random.Random(s)) for s in range(3)]


def _random_weights(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if p.dim() == 1 else 0.0))


@pytest.mark.parametrize("genotype", PATHS, ids=range(len(PATHS)))
@pytest.mark.parametrize("affine, track", [(True, False), (False, False), (True, True)])
def test_supernet_path_equals_standalone(genotype, affine, track):
    space = get_space("darts")
    net = NetSpec(C=4, N=4, bn_affine=affine, bn_track_running_stats=track)
    torch.manual_seed(0)
    supernet = space.build_supernet(net, 1, 10)
    if affine:
        _random_weights(supernet, 1)
    standalone = space.build_standalone(genotype, net, 1, 10)
    standalone.load_state_dict(subnet_state(supernet, standalone))
    x = torch.randn(3, 1, 8, 8)
    # evaluation first: with running statistics, a module that two pairs of one node share
    # updates its statistics twice per training pass, the stand-alone copies once each
    supernet.eval(), standalone.eval()
    torch.testing.assert_close(supernet(x, genotype), standalone(x), rtol=0, atol=1e-5)
    supernet.train(), standalone.train()
    torch.testing.assert_close(supernet(x, genotype), standalone(x), rtol=0, atol=1e-5)


def test_paths_use_their_own_modules_only():
    """Gradients of a path reach the modules of its pairs and no other op module."""
    space = get_space("darts")
    supernet = space.build_supernet(NetSpec(C=4, N=3), 1, 10)
    g = PATHS[0]
    supernet(torch.randn(2, 1, 8, 8), g).sum().backward()
    from lmreg.spaces.darts_net import edge_index
    for ci, cell in enumerate(supernet.cells):
        pairs = g.reduce if cell.reduction else g.normal
        used = {(edge_index(2 + p // 2, j), op) for p, (op, j) in enumerate(pairs)}
        for e, edge in enumerate(cell.edges):
            for op, mod in edge.items():
                got = any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())
                if list(mod.parameters()):
                    assert got == ((e, op) in used), (ci, e, op)


def test_reference_network_differs_from_the_path_network_only_after_pools():
    """build_reference is DARTS's NetworkCIFAR (no BN after pools): the same parameters as
    build_standalone, the same output on a genotype without pools, another one with pools."""
    space = get_space("darts")
    net = NetSpec(C=4, N=3)
    supernet = space.build_supernet(net, 1, 10)
    x = torch.randn(3, 1, 8, 8)
    no_pool = darts.parse(DARTS_V2.replace("max_pool_3x3", "sep_conv_5x5"))
    ref = space.build_reference(no_pool, net, 1, 10)
    ref.load_state_dict(subnet_state(supernet, ref))
    torch.testing.assert_close(supernet(x, no_pool), ref(x), rtol=0, atol=1e-5)
    pools = darts.parse(DARTS_V2)
    ref = space.build_reference(pools, net, 1, 10)
    ref.load_state_dict(subnet_state(supernet, ref))
    assert not torch.allclose(supernet(x, pools), ref(x), atol=1e-3)
    big = NetSpec(C=36, N=20)
    assert n_params(space.build_standalone(pools, big, 3, 10)) == n_params(space.build_reference(pools, big, 3, 10)) \
        == DARTS_V2_PARAMS
    pool_bns = [m for m in space.build_standalone(pools, net, 1, 10).modules()
                if isinstance(m, torch.nn.Sequential) and isinstance(m[0], torch.nn.MaxPool2d)]
    assert pool_bns and all(not m[1].affine for m in pool_bns)


def test_table_keys_accept_darts_and_nds_notation():
    space = get_space("darts-nds")
    g = darts.parse(DARTS_V2)
    nds_json = json.dumps({"normal": [list(p) for p in reversed(g.normal)][::-1], "normal_concat": [5, 4, 3, 2],
                           "reduce": [list(p) for p in g.reduce], "reduce_concat": [2, 3, 4, 5]})
    assert space.table_keys(DARTS_V2) == space.table_keys(nds_json) == {darts.key(g): ""}
    with pytest.raises(ArchError, match="not JSON"):
        space.table_keys("{'normal': ")
    with pytest.raises(ArchError, match="malformed DARTS genotype"):
        space.table_keys("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|")


def test_supernet_refuses_what_it_cannot_run():
    space = get_space("darts-nds")
    supernet = space.build_supernet(NetSpec(C=4, N=3), 1, 10)
    x = torch.randn(2, 1, 8, 8)
    g = darts.parse(DARTS_V2)
    partial = darts.Genotype(g.normal, (4, 5), g.reduce, g.reduce_concat)
    with pytest.raises(ValueError, match="concatenates every node"):
        supernet(x, partial)
    with pytest.raises(ArchError, match="'none' is not in this space's op set"):
        space.key(darts.parse(DARTS_V2.replace("('skip_connect', 2)", "('none', 2)")))
    with pytest.raises(ValueError, match="needs an architecture"):
        supernet(x)
    assert "none" not in supernet.cells[0].edges[0]
    standalone = space.build_standalone(g, NetSpec(C=4, N=3), 1, 10)
    with pytest.raises(ValueError, match="only its own genotype"):
        standalone(x, darts.parse(DARTS_V1))


def test_spos_trains_the_darts_supernet():
    """The existing SPOS trainer runs on the space unchanged: one epoch moves the weights."""
    from lmreg.algorithms.base import TrainConfig
    from lmreg.algorithms.spos import SPOS
    from tests.fixtures import tiny_task
    space = get_space("darts-nds")
    torch.manual_seed(0)
    model = space.build_supernet(NetSpec(C=4, N=3, bn_affine=False), 1, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = SPOS(model, tiny_task(16, 16), TrainConfig(epochs=1, warmup_epochs=0, batch_size=8), 0, space)
    trainer.train_epoch(0)
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(".edges." in k for k in moved) and any(k.startswith("stem") for k in moved)


def test_factorized_reduce_reads_even_and_odd_pixels():
    """DARTS FactorizedReduce: conv_1 on pixels (2i, 2j), conv_2 on (2i+1, 2j+1), after ReLU."""
    from lmreg.spaces.darts_net import FactorizedReduce, Zero
    fr = FactorizedReduce(2, 4, NetConfig(bn_affine=False))
    x = torch.randn(2, 2, 6, 6)
    r = x.relu()
    a = torch.einsum("oc,bchw->bohw", fr.conv_1.weight[:, :, 0, 0], r[:, :, 0::2, 0::2])
    b = torch.einsum("oc,bchw->bohw", fr.conv_2.weight[:, :, 0, 0], r[:, :, 1::2, 1::2])
    torch.testing.assert_close(fr(x), torch.nn.functional.batch_norm(torch.cat([a, b], 1), None, None,
                                                                       training=True), rtol=0, atol=1e-5)
    assert Zero(2)(x).shape == (2, 2, 3, 3) and not Zero(2)(x).any()
