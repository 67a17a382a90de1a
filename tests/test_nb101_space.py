"""NB101 space: cell validity and pruning, keys, module hashes, sampling, and the networks
(stand-alone against nasbench_pytorch and the NB101 dataset's parameter counts; super-net
paths against stand-alone networks loaded with the path's weights)."""

from __future__ import annotations

import collections
import itertools
import random

import numpy as np
import pytest
import torch

from lmreg.spaces import nb101
from lmreg.spaces.base import ArchError, NetSpec, SearchSpace, get_space
from lmreg.spaces.nb101_net import NB101Net, NetConfig, count_params, subnet_state, vertex_channels

nbp_model = pytest.importorskip("nasbench_pytorch.model")
from nasbench_pytorch.model.model import Placeholder  # noqa: E402
from nasbench_pytorch.model.model import compute_vertex_channels as nbp_vertex_channels  # noqa: E402

C3, C1, POOL = nb101.OPS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convolutions: one thread is several times faster on a loaded shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

I, O = nb101.INPUT, nb101.OUTPUT

# Cells with facts from the NB101 dataset (CIFAR-10, C=128, N=3, 3 input channels):
# the first record of nasbench_only108.tfrecord (hash and trainable_parameters as listed by
# NNI's NB101 database and other readers), and the nasbench README's Inception-like cell.
FIRST_RECORD = (
    [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    [I, C3, POOL, C3, C3, C1, O])
FIRST_RECORD_HASH = "00005c142e6f48ac74fdcf73e3439874"
FIRST_RECORD_PARAMS = 8_555_530
README_CELL = (
    [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
     [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    [I, C1, C3, C3, C3, POOL, O])
# the README's query answer: the dataset's own (isomorphic) labelling of that cell
README_STORED = (
    [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    [I, C3, C1, POOL, C3, C3, O])
README_PARAMS = 2_694_282

# (raw matrix, ops): an input->output edge, a pruned cell (vertex 2 is a dead end, vertex
# 4 unreachable), the 2-vertex cell, an uneven channel split with truncation (3 vertices
# feed the output: 8 -> 3,3,2; 128 -> 43,43,42; vertex 1 feeds vertex 3 of fewer channels),
# a chain with pooling.
CELLS = [
    FIRST_RECORD,
    README_CELL,
    ([[0, 1, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     [I, C3, POOL, C1, O]),                                             # input->output edge
    ([[0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1],
      [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]],
     [I, C3, C1, POOL, C3, O]),                                         # pruned: 2 dead end, 4 unreachable
    ([[0, 1], [0, 0]], [I, O]),                                         # input->output only
    ([[0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
     [I, C1, C3, POOL, C3, C1, O]),                                     # uneven split, 1->3 truncated
    ([[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     [I, POOL, C3, POOL, O]),                                           # chain with pools + skip
]


def mk(raw) -> nb101.Cell:
    return nb101.cell(*raw)


# --- encoding -----------------------------------------------------------------------------
def test_known_module_hashes():
    """Hashes of the NB101 dataset, not computed here: the first record's, and the README
    cell hashing like the dataset's own labelling of it."""
    assert nb101.module_hash(mk(FIRST_RECORD)) == FIRST_RECORD_HASH
    assert nb101.module_hash(mk(README_CELL)) == nb101.module_hash(mk(README_STORED))
    assert mk(README_CELL) != mk(README_STORED)


@pytest.mark.parametrize("raw", CELLS)
def test_hash_matches_graph_util_of_the_pruned_spec(raw):
    spec = nbp_model.ModelSpec(np.array(raw[0]), list(raw[1]))
    labels = [-1] + [list(nb101.OPS).index(o) for o in spec.ops[1:-1]] + [-2]
    assert nb101.module_hash(mk(raw)) == nbp_model.graph_util.hash_module(spec.matrix.numpy(), labels)
    c = mk(raw)
    assert [list(r) for r in c.matrix] == spec.matrix.tolist() and list(c.ops) == spec.ops


def test_bench_reader_uses_the_space_hashing():
    from lmreg.bench import nb101 as bench_nb101
    assert bench_nb101.cell_hash is nb101.cell_hash and bench_nb101.labeling is nb101.labeling


def test_pruning_as_modelspec():
    c = mk(CELLS[3])
    assert c.matrix == ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert c.ops == (I, C3, POOL, O)


@pytest.mark.parametrize("raw", CELLS)
def test_key_round_trip(raw):
    c = mk(raw)
    assert nb101.parse(nb101.key(c)) == c and hash(c) == hash(nb101.parse(nb101.key(c)))
    assert get_space("nb101").key(c) == nb101.key(c)


def test_key_format():
    c = mk(CELLS[2])
    assert nb101.key(c) == "01101/00010/00001/00001/00000:input,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output"


@pytest.mark.parametrize("text, match", [
    ("", "malformed NB101 key"),
    ("01/00", "malformed NB101 key"),
    ("011/001:input,conv3x3-bn-relu,output", "not square"),
    ("012/001/000:input,conv3x3-bn-relu,output", "row '012' is not made of '0'/'1'"),
    ("011/001/000:input,output", "3 matrix rows but 2 ops"),
    ("011/001/000:input,conv5x5,output", "unknown NB101 op 'conv5x5'"),
    ("011/001/000:conv3x3-bn-relu,input,output", "must start with 'input'"),
    ("011/101/000:input,conv3x3-bn-relu,output", "upper triangular"),
    ("010/000/000:input,conv3x3-bn-relu,output", "not connected"),
    ("0101/0000/0001/0000:input,conv3x3-bn-relu,conv1x1-bn-relu,output", "not pruned: vertex 1"),
    ("00005c142e6f48ac74fdcf73e3439874", "module hash"),
])
def test_parse_errors_are_one_line(text, match):
    with pytest.raises(ArchError, match=match) as e:
        nb101.parse(text)
    assert "\n" not in str(e.value)


def test_limits_apply_after_pruning():
    full = [[1 if j > i else 0 for j in range(7)] for i in range(7)]  # 21 edges
    with pytest.raises(ArchError, match="21 edges after pruning"):
        nb101.cell(full, [I] + [C3] * 5 + [O])
    eight = [[1 if j == i + 1 else 0 for j in range(8)] for i in range(8)]
    with pytest.raises(ArchError, match="8 vertices after pruning"):
        nb101.cell(eight, [I] + [C3] * 6 + [O])
    eight[1][2], eight[0][2] = 0, 1  # vertex 1 now a dead end, pruned: 7 vertices remain
    assert nb101.cell(eight, [I] + [C3] * 6 + [O]).num_vertices == 7
    with pytest.raises(ArchError, match="use nb101.cell"):
        nb101.Cell([[0, 1], [0, 0]], [I, O])


def test_sample_distinct_deterministic_and_extending():
    a = nb101.sample(60, seed=3)
    assert a == nb101.sample(60, seed=3) and nb101.sample(25, seed=3) == a[:25]
    assert len({nb101.module_hash(c) for c in a}) == 60
    assert nb101.sample(60, seed=4) != a
    ex = nb101.sample(10, seed=3, exclude=[a[0], nb101.key(a[1])])
    assert not {nb101.module_hash(c) for c in ex} & {nb101.module_hash(a[0]), nb101.module_hash(a[1])}
    assert get_space("nb101").sample(25, 3) == a[:25]


def test_sample_path_uses_only_the_rng():
    space = get_space("nb101")
    p1 = [space.sample_path(random.Random(5)) for _ in range(2)]
    assert p1[0] == p1[1]
    rng = random.Random(0)
    paths = [space.sample_path(rng) for _ in range(100)]
    assert all(isinstance(p, nb101.Cell) for p in paths)
    sizes = collections.Counter(p.num_vertices for p in paths)  # 7, 6, 5: 84.8, 14.6, 0.6 % of cells
    assert set(sizes) <= {5, 6, 7} and sizes[7] > 70


def _labelled_cells(V):
    """Every valid NB101 cell of exactly V vertices (no pruning needed), as labelled."""
    slots = [(i, j) for i in range(V) for j in range(i + 1, V)]
    for bits in range(1 << len(slots)):
        m = [[0] * V for _ in range(V)]
        for k, (i, j) in enumerate(slots):
            m[i][j] = bits >> k & 1
        if sum(map(sum, m)) <= nb101.MAX_EDGES and all(nb101._on_path(tuple(map(tuple, m)))):
            for ops in itertools.product(nb101.OPS, repeat=V - 2):
                yield nb101.cell(m, [I, *ops, O])


def test_labellings_count_the_cells_of_one_hash():
    """Grouping every labelled 4-vertex cell by module hash: 84 unique cells (as
    UNIQUE_BY_VERTICES), each group as large as labellings() says."""
    groups = collections.defaultdict(set)
    for c in _labelled_cells(4):
        groups[nb101.module_hash(c)].add(c)
    assert len(groups) == nb101.UNIQUE_BY_VERTICES[4] == 84
    assert {len(g) for g in groups.values()} == {1, 2}
    for g in groups.values():
        assert all(nb101.labellings(c) == len(g) for c in g)
    assert sum(nb101.UNIQUE_BY_VERTICES.values()) == nb101.NUM_UNIQUE


def test_uniform_cell_is_uniform_over_hashes():
    """4-vertex cells: each of the 84 hashes about equally often (chi-square well inside
    its 83-dof range), while the labelled draw it corrects is not."""
    rng = random.Random(0)
    draws = collections.Counter(nb101.module_hash(nb101.uniform_cell(rng, vertices=4)) for _ in range(4200))
    assert len(draws) == 84
    chi2 = sum((k - 50) ** 2 / 50 for k in draws.values())
    assert chi2 < 83 + 4 * (2 * 83) ** 0.5
    labelled = collections.Counter(nb101.module_hash(c) for c in _labelled_cells(4))
    assert max(labelled.values()) == 2 * min(labelled.values())


def test_random_spec_sampler_favours_small_cells():
    rng = random.Random(0)
    sizes = collections.Counter(nb101.random_cell(rng).num_vertices for _ in range(2000))
    assert sizes[7] < 40  # about 0.3 %, against 84.8 % of the unique cells
    rng = random.Random(0)
    sizes = collections.Counter(nb101.uniform_cell(rng).num_vertices for _ in range(200))
    assert sizes[7] > 150


def test_space_conforms():
    space = get_space("nb101")
    assert isinstance(space, SearchSpace) and space.name == "nb101" and not space.supports_mixture


# --- networks -----------------------------------------------------------------------------
@pytest.mark.parametrize("raw", CELLS)
def test_vertex_channels_match_nasbench(raw):
    c = mk(raw)
    for c_in, c_out in [(128, 128), (128, 256), (16, 16), (8, 16), (5, 7)]:
        if c.num_vertices > 2 and c_out < sum(c.matrix[v][-1] for v in range(1, c.num_vertices - 1)):
            continue
        assert list(vertex_channels(c_in, c_out, c.matrix)) == \
            nbp_vertex_channels(c_in, c_out, np.array(c.matrix))


def _nbp_params(net) -> int:
    """nasbench_pytorch's parameters less its Placeholder modules' dummy scalars (one
    per missing op / input edge; they take no part in the forward pass)."""
    dummy = sum(p.numel() for m in net.modules() if isinstance(m, Placeholder) for p in m.parameters())
    return sum(p.numel() for p in net.parameters()) - dummy


@pytest.mark.parametrize("raw", CELLS)
@pytest.mark.parametrize("C, N, in_ch, classes", [(128, 3, 3, 10), (16, 1, 1, 10), (12, 2, 3, 7)])
def test_param_count_equals_nasbench_pytorch(raw, C, N, in_ch, classes):
    ref = nbp_model.Network((np.array(raw[0]), list(raw[1])), num_labels=classes, in_channels=in_ch,
                            stem_out_channels=C, num_stacks=3, num_modules_per_stack=N)
    ours = NB101Net(NetConfig(C=C, N=N, in_channels=in_ch, num_classes=classes), mk(raw))
    assert count_params(ours) == _nbp_params(ref)


def test_param_counts_of_the_nb101_dataset():
    """trainable_parameters recorded in the NB101 dataset for two cells (C=128, N=3)."""
    assert count_params(NB101Net(NetConfig(), mk(FIRST_RECORD))) == FIRST_RECORD_PARAMS
    assert count_params(NB101Net(NetConfig(), mk(README_CELL))) == README_PARAMS
    assert count_params(NB101Net(NetConfig(), mk(README_STORED))) == README_PARAMS


def _to_nbp_name(name: str, cell: nb101.Cell) -> str:
    """Our parameter name -> nasbench_pytorch's (its layers = stem + our blocks)."""
    p = name.split(".")
    sub = {"conv": "0", "bn": "1"}
    if p[0] == "stem":
        return f"layers.0.conv_bn_relu.{sub[p[1]]}.{p[2]}"
    if p[0] == "classifier":
        return name
    layer = int(p[1]) + 1
    if p[2] == "out_proj":
        return f"layers.{layer}.input_op.{cell.num_vertices - 1}.conv_bn_relu.{sub[p[3]]}.{p[4]}"
    t = p[3]
    if p[4] == "proj":
        return f"layers.{layer}.input_op.{t}.conv_bn_relu.{sub[p[5]]}.{p[6]}"
    op = {C3: "conv3x3", C1: "conv1x1"}[p[5]]
    return f"layers.{layer}.vertex_op.{t}.{op}.conv_bn_relu.{sub[p[6]]}.{p[7]}"


@pytest.mark.parametrize("raw", CELLS)
def test_standalone_computes_what_nasbench_pytorch_computes(raw):
    """Same weights, same input, batch-statistics BN: the two networks agree, so vertex
    channels, truncation, projections, concatenation order and pooling are NB101's."""
    torch.manual_seed(0)
    c = mk(raw)
    ours = NB101Net(NetConfig(C=8, N=2, in_channels=3, num_classes=10), c)
    ref = nbp_model.Network((np.array(raw[0]), list(raw[1])), num_labels=10, in_channels=3,
                            stem_out_channels=8, num_stacks=3, num_modules_per_stack=2)
    for m in ours.modules():  # non-trivial BN affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    ref_state = ref.state_dict()
    mapped = {_to_nbp_name(k, c): v for k, v in ours.state_dict().items()}
    assert set(mapped) <= set(ref_state)
    ref_state.update(mapped)
    ref.load_state_dict(ref_state)
    ours.train()
    ref.train()
    x = torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


SMALL = NetConfig(C=8, N=2, in_channels=1, num_classes=10)


@pytest.mark.parametrize("raw", CELLS + [(np.array(c.matrix), list(c.ops)) for c in nb101.sample(3, seed=11)])
def test_supernet_path_equals_standalone(raw):
    """Exactly equal (atol 0) in train mode and in eval mode with batch-statistics BN."""
    torch.manual_seed(0)
    c = mk(raw)
    supernet = NB101Net(SMALL)
    for m in supernet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    standalone = NB101Net(SMALL, c)
    standalone.load_state_dict(subnet_state(supernet, standalone))
    x = torch.randn(6, 1, 12, 12)
    for train in (True, False):
        supernet.train(train)
        standalone.train(train)
        torch.testing.assert_close(supernet(x, c), standalone(x), rtol=0, atol=0)


def test_running_stats_mode_matches_too():
    cfg = NetConfig(C=8, N=1, in_channels=1, bn_track_running_stats=True)
    c = mk(CELLS[5])  # truncation; vertex 5 (conv1x1) at width 2 of 8
    supernet, standalone = NB101Net(cfg), NB101Net(cfg, c)
    supernet.train()
    for _ in range(3):  # move the running statistics of the path's slices
        supernet(torch.randn(6, 1, 8, 8), c)
    state = subnet_state(supernet, standalone)
    bn = "blocks.0.vertices.5.ops.conv1x1-bn-relu.bn"
    assert state[bn + ".running_mean"].shape == (2,) and state[bn + ".running_mean"].abs().sum() > 0
    assert supernet.state_dict()[bn + ".running_mean"][2:].abs().sum() == 0  # untouched beyond the slice
    standalone.load_state_dict(state)
    supernet.eval()
    standalone.eval()
    x = torch.randn(6, 1, 8, 8)
    torch.testing.assert_close(supernet(x, c), standalone(x), rtol=0, atol=0)


def test_supernet_shares_weights_across_cells_by_vertex_position():
    """Vertex t of any cell trains the leading slice of position t's weights; a conv op
    of another vertex count uses a narrower or wider slice of the same tensor."""
    supernet = NB101Net(SMALL)
    narrow = mk(CELLS[5])   # 8 channels over output feeders 1, 2, 5: 3, 3, 2; vertex 2 is conv3x3 at 3
    wide = mk(([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, C3, O]))  # vertex 1 conv3x3 at full width
    w = supernet.blocks[0].vertices["2"].ops[C3].conv.weight
    supernet(torch.randn(4, 1, 8, 8), narrow).sum().backward()
    assert vertex_channels(8, 8, narrow.matrix) == (8, 3, 3, 2, 2, 2, 8)
    g = w.grad
    assert g[:3, :3].abs().sum() > 0 and g[3:].abs().sum() == 0 and g[:, 3:].abs().sum() == 0
    supernet.zero_grad()
    supernet(torch.randn(4, 1, 8, 8), wide).sum().backward()
    assert w.grad is None or w.grad.abs().sum() == 0  # vertex 2 unused by a 3-vertex cell
    assert supernet.blocks[0].vertices["1"].ops[C3].conv.weight.grad.abs().sum() > 0


def test_build_through_the_space():
    space = get_space("nb101")
    c = mk(CELLS[2])
    net = NetSpec(C=8, N=1)
    sup = space.build_supernet(net, 1, 10)
    sa = space.build_standalone(c, net, 1, 10)
    sa.load_state_dict(space.subnet_state(sup, sa))
    x = torch.randn(3, 1, 16, 16)
    assert sup(x, c).shape == (3, 10)
    torch.testing.assert_close(sup(x, c), sa(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="needs an architecture"):
        sup(x)
