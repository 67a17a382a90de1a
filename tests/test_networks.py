import dataclasses

import pytest
import torch

from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import AvgPool3x3, NB201Net, NetConfig, count_flops, count_params, subnet_state

CFG = NetConfig(C=4, N=2, in_channels=1, num_classes=10, bn_affine=True, bn_track_running_stats=False)


def _pairs(n, seed):
    return nb201.sample(n, seed=seed, unique=False)


# Cells whose output depends on ops applied to all-zero nodes (BN bias), plus
# shared op-on-node modules (3<-1 and 3<-2 both convolutions).
ZERO_INPUT_CELLS = [
    nb201.parse("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"),
    nb201.parse("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"),
    nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
]


@pytest.mark.parametrize("cell", ["per_edge", "op_on_node"])
@pytest.mark.parametrize("arch", _pairs(6, 0) + ZERO_INPUT_CELLS + [
    nb201.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"),
    nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
])
def test_supernet_path_equals_standalone(arch, cell):
    torch.manual_seed(0)
    supernet = NB201Net(dataclasses.replace(CFG, cell=cell))
    standalone = NB201Net(CFG, arch)
    standalone.load_state_dict(subnet_state(supernet, standalone))
    x = torch.randn(8, 1, 12, 12)
    supernet.train()
    standalone.train()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)
    supernet.eval()
    standalone.eval()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)


def test_running_stats_mode_matches_too():
    cfg = NetConfig(C=4, N=1, in_channels=3, bn_track_running_stats=True)
    arch = nb201.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    supernet, standalone = NB201Net(cfg), NB201Net(cfg, arch)
    x = torch.randn(6, 3, 8, 8)
    supernet.train()
    for _ in range(3):  # move the running statistics away from their initial values
        supernet(torch.randn(6, 3, 8, 8), arch)
    standalone.load_state_dict(subnet_state(supernet, standalone))
    supernet.eval()
    standalone.eval()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)


def test_standalone_holds_every_non_none_op():
    """As NB201's stand-alone cells: every non-'none' op gets its module, also one
    on a dead end (node 2 below feeds nothing) or on an all-zero node."""
    arch = nb201.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    net = NB201Net(CFG, arch)
    cell = net.blocks[0]
    assert [list(e.keys()) for e in cell.edges] == [["nor_conv_3x3"], ["avg_pool_3x3"], ["nor_conv_1x1"],
                                                     ["skip_connect"], ["nor_conv_3x3"], []]
    supernet = NB201Net(CFG)
    assert set(net.state_dict()) < set(supernet.state_dict())
    assert count_params(net) < count_params(supernet)


def _nb201_reference_cell(cell, x, arch):
    """NB201's stand-alone cell written out directly: node i is the sum of op(node j)
    over every edge j -> i, 'none' giving zeros; nothing is skipped."""
    nodes = [x]
    for node in range(1, nb201.NUM_NODES):
        total = torch.zeros_like(x)
        for pos, (to, frm) in enumerate(nb201.EDGES):
            if to == node and arch[pos] != 0:
                total = total + cell.edges[pos][nb201.OPS[arch[pos]]](nodes[frm])
        nodes.append(total)
    return nodes[-1]


@pytest.mark.parametrize("arch", ZERO_INPUT_CELLS + _pairs(10, 3))
def test_cell_computes_ops_on_all_zero_nodes_as_nb201_does(arch):
    torch.manual_seed(1)
    net = NB201Net(CFG, arch)
    for m in net.modules():  # non-zero BN biases, so an op on zeros shows
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.bias, -1, 1)
    x = torch.randn(4, CFG.C, 6, 6)
    cell = net.blocks[0]
    torch.testing.assert_close(cell(x, arch), _nb201_reference_cell(cell, x, arch), rtol=0, atol=1e-6)


def test_conv_on_an_all_zero_node_gives_the_bn_bias():
    """Hand-computed: node 1 = none(x) = 0, so conv1x1 on it gives BN's bias on
    every pixel; the rest of the output is skip(node 2) = conv3x3(x)."""
    arch = ZERO_INPUT_CELLS[0]
    net = NB201Net(CFG, arch)
    cell = net.blocks[0]
    bias = torch.arange(1.0, CFG.C + 1)
    with torch.no_grad():
        cell.edges[4]["nor_conv_1x1"][2].bias.copy_(bias)
    x = torch.randn(3, CFG.C, 5, 5)
    out = cell(x, arch)
    expected = cell.edges[1]["nor_conv_3x3"](x) + bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_affected_cell_count():
    """2,140 of the 15,625 cells compute a non-zero term from a node the input never
    reaches (the cells whose function the old 'skip ops on zero inputs' semantics
    changed). Worked out from values alone: a node the input does not reach holds zero
    or a constant; a conv makes a constant (BN's bias) even of zero, skip and pooling
    pass a constant on and keep zero zero."""
    def differs(arch):
        from_input, constant, differs = {0}, set(), False
        for node in range(1, nb201.NUM_NODES):
            for p, (to, frm) in enumerate(nb201.EDGES):
                op = nb201.OPS[arch[p]]
                if to != node or op == "none":
                    continue
                if frm in from_input:
                    from_input.add(node)
                elif op.startswith("nor_conv") or frm in constant:
                    constant.add(node)
                    differs |= p in nb201.computed_edges(arch)
        return differs
    assert sum(map(differs, nb201.all_archs())) == 2140


def test_op_on_node_cell_shares_edge_3_2_with_edge_3_1():
    supernet = NB201Net(dataclasses.replace(CFG, cell="op_on_node"))
    cell = supernet.blocks[0]
    assert len(cell.edges) == 5 and cell.slots == (0, 1, 2, 3, 4, 4)
    arch = ZERO_INPUT_CELLS[2]  # conv3x3 on 3<-1 and on 3<-2
    supernet(torch.randn(4, 1, 8, 8), arch).sum().backward()
    shared = cell.edges[4]["nor_conv_3x3"][1].weight
    assert shared.grad is not None and shared.grad.abs().sum() > 0
    per_edge = NB201Net(CFG)
    edge_3_2 = sum(count_params(b.edges[5]) for b in per_edge.blocks if hasattr(b, "edges"))
    assert edge_3_2 > 0 and count_params(per_edge) - count_params(supernet) == edge_3_2


def test_unknown_cell_type_is_rejected():
    with pytest.raises(ValueError, match="valid cell types"):
        NetConfig(cell="op_on_edge")


def test_param_and_flop_counts_grow_with_convs():
    light = NB201Net(CFG, nb201.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"))
    heavy = NB201Net(CFG, nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    assert count_params(heavy) > count_params(light)
    assert count_flops(heavy, (1, 16, 16)) > count_flops(light, (1, 16, 16)) > 0


def test_avg_pool_matches_torch_definition():
    x = torch.randn(3, 5, 7, 9)
    ref = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(AvgPool3x3()(x), ref)


def test_supernet_needs_arch():
    with pytest.raises(ValueError, match="needs an architecture"):
        NB201Net(CFG)(torch.randn(2, 1, 8, 8))


def test_one_hot_mixture_is_the_single_path_and_every_weight_gets_a_gradient():
    """The mixture forward (for GDAS / DARTS) against the tested single-path forward."""
    from lmreg.spaces.base import Mixture
    torch.manual_seed(0)
    supernet = NB201Net(dataclasses.replace(CFG, cell="op_on_node"))
    x = torch.randn(4, 1, 8, 8)
    for arch in [(3, 3, 2, 1, 4, 3), (0, 1, 2, 3, 4, 0), (0, 0, 0, 0, 0, 0)]:
        weights = torch.zeros(len(nb201.EDGES), len(nb201.OPS))
        weights[range(len(nb201.EDGES)), list(arch)] = 1.0
        weights.requires_grad_(True)
        out = supernet(x, Mixture(weights))
        torch.testing.assert_close(out, supernet(x, arch), rtol=0, atol=0)
        out.sum().backward()
        assert weights.grad is not None and weights.grad.shape == weights.shape
    # a dense mixture computes every op: the loss depends on every non-'none' weight
    dense = torch.full((len(nb201.EDGES), len(nb201.OPS)), 0.2, requires_grad=True)
    supernet(x, Mixture(dense)).square().sum().backward()
    assert (dense.grad[:, 1:] != 0).all()
    with pytest.raises(ValueError, match="mixture weights must have shape"):
        supernet(x, Mixture(torch.ones(6, 4)))
