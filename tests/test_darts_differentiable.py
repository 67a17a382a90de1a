"""GDAS and PC-DARTS on the DARTS cell space: the super-net's mixtures read each cell
type's alpha group, the official softoneshot and genotype derivation by hand, and a
few training steps of each algorithm on the tiny task."""

from __future__ import annotations

import pytest
import torch

from lmreg.algorithms.base import TrainConfig
from lmreg.algorithms.gdas import GDAS, GDASOptions
from lmreg.algorithms.pcdarts import PCDARTS, PCDARTSOptions
from lmreg.spaces import darts
from lmreg.spaces.base import CellDraws, Mixture, NetSpec, get_space
from lmreg.spaces.darts_net import N_EDGES, edge_index, soft_path_weights
from lmreg.spaces.darts_space import derive
from tests.fixtures import tiny_task

SPACE = get_space("darts")
# Distinct inputs on every node, so a one-hot mixture with the unused edges weighted 0 is the path.
GENOTYPE = darts.Genotype(
    normal=(("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 2),
            ("avg_pool_3x3", 1), ("sep_conv_5x5", 3), ("skip_connect", 2), ("dil_conv_5x5", 4)),
    normal_concat=darts.FULL_CONCAT,
    reduce=(("max_pool_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("avg_pool_3x3", 2),
            ("dil_conv_3x3", 1), ("skip_connect", 3), ("sep_conv_5x5", 0), ("max_pool_3x3", 4)),
    reduce_concat=darts.FULL_CONCAT)


def _supernet(cell="per_edge", C=4):
    torch.manual_seed(0)
    return SPACE.build_supernet(NetSpec(C=C, N=3, cell=cell), 1, 10)  # cells: normal, reduce, reduce


def _path_mixture(genotype) -> Mixture:
    weights, edges = {}, {}
    for group in ("normal", "reduce"):
        pairs, _ = genotype.cell(group == "reduce")
        w, e = torch.zeros(N_EDGES, len(SPACE.ops)), torch.zeros(N_EDGES)
        w[:, 0] = 1.0  # unused edges: any live weight, then weighted 0
        for p, (op, j) in enumerate(pairs):
            edge = edge_index(darts.CELL_INPUTS + p // 2, j)
            w[edge] = 0.0
            w[edge, SPACE.ops.index(op)] = 1.0
            e[edge] = 1.0
        weights[group], edges[group] = w, e
    return Mixture(weights, edges)


def test_alpha_groups_are_declared_per_cell_type():
    assert SPACE.alpha_groups() == {"normal": (14, 8), "reduce": (14, 8)}
    assert get_space("darts-nds").alpha_groups()["reduce"] == (14, 7)
    assert SPACE.edge_groups()["normal"] == (2, 3, 4, 5) and SPACE.supports_mixture
    assert get_space("nb201").alpha_groups() == {"cell": (6, 5)} and not get_space("nb201").edge_groups()


def test_one_hot_mixture_with_edge_weights_is_the_path():
    """A one-hot mixture on the genotype's edges (edge weight 1, the others 0) computes the
    path, reduction cells reading the reduce group; the groups swapped do not."""
    net = _supernet().eval()
    x = torch.randn(2, 1, 8, 8)
    mix = _path_mixture(GENOTYPE)
    torch.testing.assert_close(net(x, mix), net(x, GENOTYPE), rtol=1e-5, atol=1e-6)
    swapped = Mixture({"normal": mix.weights["reduce"], "reduce": mix.weights["normal"]},
                      {"normal": mix.edges["reduce"], "reduce": mix.edges["normal"]})
    assert not torch.allclose(net(x, swapped), net(x, GENOTYPE), rtol=1e-4, atol=1e-5)


def test_reduce_alphas_reach_reduction_cells_only():
    """Changing the reduce group leaves the normal cell 0 unchanged and changes reduction
    cell 1; changing the normal group changes cell 0."""
    net = _supernet().eval()
    outs = []
    for cell in net.cells[:2]:
        cell.forward_mixed = (lambda f: lambda *a: outs.append(f(*a)) or outs[-1])(cell.forward_mixed)
    x = torch.randn(2, 1, 8, 8)
    base = {g: torch.softmax(torch.randn(N_EDGES, len(SPACE.ops)), -1) for g in ("normal", "reduce")}
    other = torch.softmax(torch.randn(N_EDGES, len(SPACE.ops)), -1)

    def cells(weights):
        outs.clear()
        net(x, Mixture(weights))
        return [o.detach().clone() for o in outs]
    ref = cells(base)
    new_reduce = cells({**base, "reduce": other})
    assert torch.equal(new_reduce[0], ref[0]) and not torch.allclose(new_reduce[1], ref[1])
    assert not torch.allclose(cells({**base, "normal": other})[0], ref[0])


def test_softoneshot_weights_by_hand():
    """Official `_compute_softoneshot_alphas` with delta d: on a used edge the op 1/8 + d
    and the others 1/8 - d/7, unused edges 1/8; node 2 with inputs 0 and 1 (every input
    chosen) renormalises to (1/2, 1/2); node 2 with input 1 twice: 1/2 -+ 2d; node 3 with
    inputs 0 and 2: 1/3 + d, 1/3 - 2d, 1/3 + d."""
    d, n = 0.01, len(SPACE.ops)
    pairs = (("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 2),
             ("avg_pool_3x3", 1), ("sep_conv_5x5", 3), ("skip_connect", 2), ("dil_conv_5x5", 4))
    w, e = soft_path_weights(pairs, SPACE.ops, d, torch.zeros(1, dtype=torch.float64))
    used = edge_index(2, 0)
    expected = torch.full((n,), 1 / n - d / (n - 1), dtype=torch.float64)
    expected[SPACE.ops.index("sep_conv_3x3")] = 1 / n + d
    torch.testing.assert_close(w[used], expected)
    torch.testing.assert_close(w[edge_index(3, 1)], torch.full((n,), 1 / n, dtype=torch.float64))
    torch.testing.assert_close(e[:2], torch.tensor([0.5, 0.5], dtype=torch.float64))
    torch.testing.assert_close(e[2:5], torch.tensor([1 / 3 + d, 1 / 3 - 2 * d, 1 / 3 + d], dtype=torch.float64))
    twice = (("sep_conv_3x3", 1), ("skip_connect", 1), *pairs[2:])
    _, e2 = soft_path_weights(twice, SPACE.ops, d, torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(e2[:2], torch.tensor([0.5 - 2 * d, 0.5 + 2 * d], dtype=torch.float64))


def test_derivation_is_the_official_genotype_rule():
    """Per node the 2 inputs of the largest non-'none' weight, each with its best non-'none'
    op: a huge 'none' weight neither picks an edge nor an op."""
    w = torch.full((N_EDGES, len(SPACE.ops)), 0.1, dtype=torch.float64)
    w[edge_index(2, 0), SPACE.ops.index("none")] = 9.0      # 'none' alone: ignored
    w[edge_index(2, 1), SPACE.ops.index("sep_conv_5x5")] = 0.5
    w[edge_index(3, 2), SPACE.ops.index("skip_connect")] = 0.7
    w[edge_index(3, 0), SPACE.ops.index("max_pool_3x3")] = 0.6
    g = derive({"normal": w, "reduce": w}, SPACE.ops)
    assert ("sep_conv_5x5", 1) in g.normal[:2] and all(op != "none" for op, _ in g.normal)
    assert set(g.normal[2:4]) == {("skip_connect", 2), ("max_pool_3x3", 0)}
    assert SPACE.parse(SPACE.key(g)) == g


def test_gdas_trains_both_alpha_groups_on_darts():
    """Each cell draws hard one-hot weights from its own group; two search steps: both
    groups get gradients and move (one Adam step moves each entry by about arch_lr); the
    argmax genotype is a DARTS genotype that round-trips."""
    trainer = GDAS(_supernet(), tiny_task(32, 16), TrainConfig(epochs=2, warmup_epochs=0, batch_size=16), 0, SPACE,
                   options=GDASOptions(search_epochs=1, tau_epochs=2))
    relaxed = trainer.relaxed(1)
    assert isinstance(relaxed, CellDraws)
    for group, a in trainer.alphas.items():
        w = relaxed.draw(group)
        assert w.shape == a.shape == (N_EDGES, len(SPACE.ops)) and torch.equal(w.detach().sum(-1), torch.ones(N_EDGES))
    before = {g: a.detach().clone() for g, a in trainer.alphas.items()}
    trainer.train_epoch(1, max_steps=2)
    for g, a in trainer.alphas.items():
        assert a.grad is not None and a.grad.abs().sum() > 0, g
        assert (a.detach() - before[g]).abs().max() > 1e-4, g
    arch = trainer.argmax_arch()
    assert isinstance(arch, darts.Genotype) and SPACE.parse(SPACE.key(arch)) == arch


def test_pcdarts_trains_alphas_and_edge_weights_on_darts():
    """PC-DARTS on the partial-channel DARTS super-net: betas per group, softmax over each
    node's inputs; two search steps move every alpha and beta group; a single path runs as
    the softoneshot mixture; the argmax genotype round-trips."""
    net = _supernet("partial_channel")
    assert net.cells[0].edges[0]["sep_conv_3x3"][1].in_channels == 1  # ops at C/4
    trainer = PCDARTS(net, tiny_task(32, 16), TrainConfig(epochs=2, warmup_epochs=0, batch_size=16), 0, SPACE,
                      options=PCDARTSOptions(search_epochs=1))
    edges = trainer.edge_weights()
    assert set(edges) == {"normal", "reduce"}
    for w in edges.values():
        torch.testing.assert_close(torch.stack([s.sum() for s in torch.split(w, (2, 3, 4, 5))]), torch.ones(4))
    params = {**{f"alpha {g}": a for g, a in trainer.alphas.items()},
              **{f"beta {g}": b for g, b in trainer.betas.items()}}
    before = {k: p.detach().clone() for k, p in params.items()}
    trainer.train_epoch(1, max_steps=2)
    for k, p in params.items():
        assert (p.detach() - before[k]).abs().max() > 1e-4, k
    x = torch.randn(2, 1, 8, 8)
    net.eval()
    soft = {g: soft_path_weights(GENOTYPE.cell(g == "reduce")[0], SPACE.ops, 0.01, x) for g in ("normal", "reduce")}
    mix = Mixture({g: w for g, (w, _) in soft.items()}, {g: e for g, (_, e) in soft.items()})
    torch.testing.assert_close(net(x, GENOTYPE), net(x, mix))
    arch = trainer.argmax_arch()
    assert SPACE.parse(SPACE.key(arch)) == arch


def test_capability_errors_name_the_spaces_that_have_it():
    """Declared capabilities, not probes: a space without one is refused by name, with the
    spaces that have it (read from their declarations)."""
    from types import SimpleNamespace

    from lmreg.algorithms.fairnas import FairNAS
    from lmreg.core.errors import ConfigError
    with pytest.raises(ConfigError, match=r"op mixtures \(darts, darts-nds, nb201\); nb101 does not"):
        PCDARTS.check_config(SimpleNamespace(algorithm="pcdarts", space="nb101"))
    with pytest.raises(ConfigError, match=r"path groups \(nb201\); darts has none"):
        FairNAS.check_config(SimpleNamespace(algorithm="fairnas", space="darts"))
    with pytest.raises(ConfigError, match="darts has no strict-fairness path groups"):
        SPACE.fair_paths(None)
