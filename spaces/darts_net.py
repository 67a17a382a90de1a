"""DARTS networks: the stand-alone network of one genotype (the DARTS reference
NetworkCIFAR, cnn/model.py of quark0/darts) and a weight-sharing super-net that runs
one path at a time. Both are `DartsNet`, so they share the skeleton and parameter names.

Skeleton: stem conv3x3 to stem_multiplier*C channels + BN; `layers` cells, the
cells at layers//3 and 2*layers//3 are reduction cells (stride 2, channels doubled);
global average pool; linear. A cell first preprocesses its two inputs to its own C
channels: input 0 by FactorizedReduce when the previous cell reduced, else by
ReLU-conv1x1-BN; input 1 by ReLU-conv1x1-BN. Ops reading node 0 or 1 of a reduction
cell have stride 2. The cell output concatenates its `concat` nodes, so the next cell
sees len(concat) * C channels. Optional (off by default, as the harness trains without
them): the auxiliary head (CIFAR, 8x8 input) after cell 2*layers//3, and drop-path
on every op except the identity, with probability `drop_prob` (set on the network).

Ops (cnn/operations.py): sep_conv_k is ReLU-dwconv(k)-conv1x1-BN applied twice (stride
only in the first); dil_conv_k is ReLU-dwconv(k, dilation 2)-conv1x1-BN once; pools
3x3 with padding 1 (average without counting the padding); skip_connect is the identity,
or FactorizedReduce at stride 2; none is zeros (subsampled at stride 2). DARTS's search
network follows every pool by a BN without affine parameters (`pool_bn`), its stand-alone
reference network does not; the pool BN holds no parameters, so both count the same.
`bn_affine` applies to every other BN of the network (DARTS's search network uses affine
off in its cells, its stand-alone network affine on).

Super-net (DARTS's search cell): node k holds one module per (input j, op) for every
j < k and every op of the space; a genotype's pair (op, j) of node k runs the module
(k, j, op). Two pairs of one node with the same input and op share that
module (with running BN statistics on, it updates them twice per pass). A super-net
path needs the full concat (every node), since the channels of the cell output are fixed.
`subnet_state` copies a path's modules into a stand-alone network built with the same
config (`pool_bn` on), which then computes exactly what the super-net computes on that path;
with `pool_bn` off it is DARTS's reference network, which differs from the path after every pool.

Mixtures (GDAS, PC-DARTS): a `Mixture` holds (14 edges x ops) weights for each alpha
group, "normal" and "reduce" (`ALPHA_GROUPS`); a cell reads its own type's group.
Every edge j -> k is the weighted sum of its ops, node k the sum of its edges
(times its edge weight where the mixture has `edges`), the cell output all 4 nodes.
An op whose weight is exactly zero is skipped and adds nothing (the official DARTS
space's `forward_gdas` computes only the sampled op, times its hard weight). With
`partial_channel` (PC-DARTS's search cell, the official DARTS-space `forward_pcdarts`):
the ops are built at C/4 channels and take the first C/4 channels of the edge's input,
the other channels bypass them (2x2 max-pooled on a stride-2 edge) and are concatenated
after them, with no channel shuffle; a single path runs as the official softoneshot
mixture of its genotype (`soft_path_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import darts
from .base import CellDraws, Mixture
from .nb201_net import AvgPool3x3

# Recorded in every ground-truth table built on this space.
SEMANTICS = "darts-networkcifar"  # DARTS cnn/model.py NetworkCIFAR, reductions at 1/3 and 2/3
STEM_MULTIPLIER = 3
ALPHA_GROUPS = darts.CELL_TYPES  # one alpha for the normal cells, one for the reduction cells
N_EDGES = sum(range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES))  # 2 + 3 + 4 + 5
PC_GROUPS = 4  # PC-DARTS channel proportion K (official DartsSpaceMixedVertex: output_size // 4)
# Official softoneshot_alpha of the PC-DARTS scripts (bash/exps/pcdarts.sh:112).
SOFT_PATH_DELTA = 0.01


@dataclass(frozen=True)
class NetConfig:
    C: int = 16                 # cell channels of the first stage
    layers: int = 8             # cells in all (reduction cells included)
    in_channels: int = 3
    num_classes: int = 10
    bn_affine: bool = True
    bn_track_running_stats: bool = False  # off: batch statistics also at evaluation (the paper)
    ops: tuple = darts.OPS      # the super-net's candidate ops
    pool_bn: bool = False       # BN (affine off) after every pool (DARTS's search network)
    auxiliary: bool = False     # DARTS's CIFAR auxiliary head (needs 8x8 maps after cell 2*layers//3)
    partial_channel: bool = False  # super-net only: PC-DARTS's partial-channel search cell
    soft_path_delta: float = SOFT_PATH_DELTA  # partial-channel super-nets only

    def __post_init__(self):
        if self.C < 1 or self.layers < 1:
            raise ValueError(f"net.C and the number of cells must be >= 1, got C={self.C}, layers={self.layers}")
        if self.partial_channel and self.C % PC_GROUPS:
            raise ValueError(f"net.cell=partial_channel needs net.C divisible by {PC_GROUPS}, got C={self.C}")
        bad = [op for op in self.ops if op not in darts.OPS]
        if bad:
            raise ValueError(f"unknown DARTS op {bad[0]!r}; valid ops: {', '.join(darts.OPS)}")

    def reduction(self, i: int) -> bool:
        return i in (self.layers // 3, 2 * self.layers // 3)


def _bn(c: int, cfg: NetConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=cfg.bn_affine, track_running_stats=cfg.bn_track_running_stats)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, cfg: NetConfig):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False), _bn(c_out, cfg))


class DilConv(nn.Sequential):
    """ReLU, depthwise conv (dilation), pointwise conv, BN."""

    def __init__(self, c: int, kernel: int, stride: int, padding: int, dilation: int, cfg: NetConfig):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, stride, padding, dilation=dilation, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), _bn(c, cfg))


class SepConv(nn.Sequential):
    """Two DilConv-like blocks without dilation; only the first one strides."""

    def __init__(self, c: int, kernel: int, stride: int, cfg: NetConfig):
        pad = kernel // 2
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, stride, pad, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), _bn(c, cfg),
                         nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, 1, pad, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), _bn(c, cfg))


class FactorizedReduce(nn.Module):
    """Halve the resolution: two stride-2 1x1 convs, the second on the input shifted by
    one pixel, each giving half of the output channels, then BN."""

    def __init__(self, c_in: int, c_out: int, cfg: NetConfig):
        super().__init__()
        if c_out % 2:  # never in DartsNet: it reduces only doubled widths
            raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.bn = _bn(c_out, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def build_op(name: str, c: int, stride: int, cfg: NetConfig) -> nn.Module:
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, cfg)
    if name.endswith("pool_3x3"):
        if name == "max_pool_3x3":
            pool = nn.MaxPool2d(3, stride, 1)
        else:
            pool = AvgPool3x3() if stride == 1 else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        if not cfg.pool_bn:
            return pool
        return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False, track_running_stats=cfg.bn_track_running_stats))
    kind, _, size = name.rpartition("_")
    k = int(size[0])
    if kind == "sep_conv":
        return SepConv(c, k, stride, cfg)
    if kind == "dil_conv":
        return DilConv(c, k, stride, k - 1, 2, cfg)
    raise ValueError(f"no module for DARTS op {name!r}")


def edge_index(node: int, inp: int) -> int:
    """Position of the super-net edge input -> node (node 2..5) in DARTS's edge order."""
    k = node - darts.CELL_INPUTS
    return sum(darts.CELL_INPUTS + i for i in range(k)) + inp


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples with probability p and scale the rest by 1/(1-p) (DARTS utils)."""
    keep = 1.0 - p
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """Stand-alone when ``cell`` = (pairs, concat) is given, else the super-net cell."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool,
                 cfg: NetConfig, cell: tuple | None = None):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, cfg) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, cfg)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, cfg)

        def stride(inp):
            return 2 if reduction and inp < darts.CELL_INPUTS else 1

        if cell is None:
            self.pairs, self.concat = None, darts.FULL_CONCAT
            self.partial = cfg.partial_channel
            c_op = c // PC_GROUPS if self.partial else c
            self.edges = nn.ModuleList(
                nn.ModuleDict({op: build_op(op, c_op, stride(j), cfg) for op in cfg.ops})
                for node in range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES) for j in range(node))
        else:
            self.pairs, self.concat = cell
            self.partial = False
            self.ops = nn.ModuleList(build_op(op, c, stride(j), cfg) for op, j in self.pairs)
        self.out_channels = len(self.concat) * c

    def modules_of(self, pairs) -> list[nn.Module]:
        if self.pairs is not None:
            return list(self.ops)
        if any(op not in self.edges[0] for op, _ in pairs):
            bad = next(op for op, _ in pairs if op not in self.edges[0])
            raise ValueError(f"the super-net has no op {bad!r}; its ops: {', '.join(self.edges[0])}")
        return [self.edges[edge_index(darts.CELL_INPUTS + p // 2, j)][op] for p, (op, j) in enumerate(pairs)]

    def forward(self, s0, s1, pairs, concat, drop_prob: float = 0.0):
        if self.pairs is None and tuple(concat) != darts.FULL_CONCAT:
            raise ValueError(f"a super-net path concatenates every node {list(darts.FULL_CONCAT)}, "
                             f"got {list(concat)}")
        states = [self.pre0(s0), self.pre1(s1)]
        mods = self.modules_of(pairs)
        for k in range(darts.NODES):
            total = 0
            for p in (2 * k, 2 * k + 1):
                y = mods[p](states[pairs[p][1]])
                if drop_prob > 0 and self.training and not isinstance(mods[p], nn.Identity):
                    y = drop_path(y, drop_prob)
                total = total + y
            states.append(total)
        return torch.cat([states[i] for i in concat], dim=1)

    def forward_mixed(self, s0, s1, weights: torch.Tensor, edge_weights: torch.Tensor | None = None):
        """The super-net cell on (14, ops) mixture weights (DARTS edge order, see `edge_index`)
        and optional (14,) edge weights; every node feeds the output."""
        n_ops = len(self.edges[0])
        if weights.shape != (N_EDGES, n_ops):
            raise ValueError(f"DARTS mixture weights must have shape ({N_EDGES}, {n_ops}), got {tuple(weights.shape)}")
        active = weights.detach().ne(0).tolist()  # one host sync per cell, not one per op
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES):
            total = 0
            for j in range(node):
                e = edge_index(node, j)
                y = self._mixed_edge(states[j], weights[e], active[e], self.edges[e])
                total = total + (y if edge_weights is None else edge_weights[e] * y)
            states.append(total)
        return torch.cat(states[darts.CELL_INPUTS:], dim=1)

    def _mixed_edge(self, x, weights, active, ops):
        inp = x[:, :x.shape[1] // PC_GROUPS] if self.partial else x
        terms = [w * op(inp) for w, on, op in zip(weights, active, ops.values()) if on]
        if not terms:
            raise ValueError("a DARTS mixture edge needs a non-zero weight")
        mixed = sum(terms)
        if not self.partial:
            return mixed
        rest = x[:, x.shape[1] // PC_GROUPS:]
        if mixed.shape[2] != x.shape[2]:  # a stride-2 edge: the bypass channels are halved too
            rest = F.max_pool2d(rest, 2, 2)
        return torch.cat([mixed, rest], dim=1)


def _official_soft_rows(counter: torch.Tensor, delta: float) -> torch.Tensor:
    """The official `_compute_mutation_softmax` on uniform weights, row by row: a row
    with ind = sum(counter) < n chosen entries gives each chosen one 1/n + (counter * n -
    ind) * delta / (n - ind) and the others 1/n - ind * delta / (n - ind); a row whose
    every entry is chosen shifts by (counter * n - ind) * delta, then is renormalised."""
    n = counter.shape[1]
    ind = counter.sum(1, keepdim=True)
    full = ind == n
    spare = torch.where(full, torch.ones_like(ind), n - ind)
    partial = 1.0 / n - ind / spare * delta + counter * n * delta / spare
    shifted = 1.0 / n - ind * delta + counter * n * delta
    return torch.where(full, shifted / shifted.sum(1, keepdim=True), partial)


def soft_path_weights(pairs, ops, delta: float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(op weights (14, ops), edge weights (14,)) of one cell's pairs as the official
    softoneshot mixture (model_search.py `_compute_softoneshot_alphas`): on each edge
    every (op, input) pair of the genotype counts for its op, on each node every pair
    for its input, each row then as `_official_soft_rows`; edges no pair uses stay uniform.
    No gradient."""
    counter = torch.zeros(N_EDGES, len(ops), dtype=like.dtype, device=like.device)
    inputs = []
    for k in range(darts.NODES):
        node = darts.CELL_INPUTS + k
        row = torch.zeros(1, node, dtype=like.dtype, device=like.device)
        for op, j in pairs[2 * k:2 * k + 2]:
            counter[edge_index(node, j), ops.index(op)] += 1.0
            row[0, j] += 1.0
        inputs.append(_official_soft_rows(row, delta)[0])
    return _official_soft_rows(counter, delta), torch.cat(inputs)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier for 8x8 feature maps."""

    def __init__(self, c: int, num_classes: int, cfg: NetConfig):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AvgPool2d(5, 3, 0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), _bn(128, cfg), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), _bn(768, cfg), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNet(nn.Module):
    """Super-net when ``genotype`` is None (call ``net(x, genotype)``), stand-alone otherwise."""

    def __init__(self, cfg: NetConfig, genotype: darts.Genotype | None = None):
        super().__init__()
        self.cfg = cfg
        self.genotype = None if genotype is None else darts.check(genotype)
        self.drop_prob = 0.0
        c_stem = STEM_MULTIPLIER * cfg.C
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, c_stem, 3, padding=1, bias=False), _bn(c_stem, cfg))
        c_pp, c_p, c = c_stem, c_stem, cfg.C
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_after = 2 * cfg.layers // 3
        for i in range(cfg.layers):
            reduction = cfg.reduction(i)
            if reduction:
                c *= 2
            cell = None if self.genotype is None else self.genotype.cell(reduction)
            self.cells.append(Cell(c_pp, c_p, c, reduction, reduction_prev, cfg, cell))
            reduction_prev = reduction
            c_pp, c_p = c_p, self.cells[-1].out_channels
            if i == self.aux_after and cfg.auxiliary:
                self.auxiliary_head = AuxiliaryHeadCIFAR(c_p, cfg.num_classes, cfg)
        self.classifier = nn.Linear(c_p, cfg.num_classes)

    def _path(self, genotype) -> darts.Genotype:
        if genotype is None:
            if self.genotype is None:
                raise ValueError("the super-net needs an architecture: forward(x, genotype)")
            return self.genotype
        g = darts.check(genotype)
        if self.genotype is not None and g != self.genotype:
            raise ValueError("a stand-alone network runs only its own genotype")
        return g

    def _run_cell(self, cell: Cell, s0, s1, path):
        """One cell on a genotype, a `Mixture` or `CellDraws` (the cell's group: its type)."""
        group = ALPHA_GROUPS[cell.reduction]
        if isinstance(path, Mixture):
            return cell.forward_mixed(s0, s1, path.group(group), path.edge_weights(group))
        if isinstance(path, CellDraws):
            for n in range(1, path.max_draws + 1):  # drawn again while the output is exactly zero
                out = cell.forward_mixed(s0, s1, path.draw(group))
                if n == path.max_draws or out.sum().item() != 0:
                    return out
        pairs, concat = path.cell(cell.reduction)
        if cell.partial:  # the official PC-DARTS super-net runs a path as a mixture (softoneshot)
            return cell.forward_mixed(s0, s1, *soft_path_weights(pairs, self.cfg.ops, self.cfg.soft_path_delta, s1))
        return cell(s0, s1, pairs, concat, self.drop_prob)

    def forward_with_aux(self, x: torch.Tensor, genotype=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits); the latter only in training with the head on."""
        if isinstance(genotype, (Mixture, CellDraws)):
            if self.genotype is not None:
                raise TypeError("a stand-alone network runs only its own genotype, not a mixture")
            path = genotype
        else:
            path = self._path(genotype)
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, self._run_cell(cell, s0, s1, path)
            if i == self.aux_after and self.cfg.auxiliary and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(s1.mean((2, 3))), aux

    def forward(self, x: torch.Tensor, genotype=None) -> torch.Tensor:
        return self.forward_with_aux(x, genotype)[0]


def subnet_state(supernet: DartsNet, standalone: DartsNet) -> dict:
    """The super-net weights of the stand-alone network's path, under the stand-alone
    network's names: cell k's op p (pair (op, j) of node 2 + p//2) is the super-net's
    module cells.k.edges[edge_index(node, j)][op]; everything else has the same name."""
    if supernet.genotype is not None or standalone.genotype is None:
        raise ValueError("subnet_state(supernet, standalone): arguments in that order")
    src = supernet.state_dict()
    out = {}
    for name, t in standalone.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "ops":
            cell = standalone.cells[int(parts[1])]
            op, j = cell.pairs[int(parts[3])]
            node = darts.CELL_INPUTS + int(parts[3]) // 2
            parts[2:4] = ["edges", str(edge_index(node, j)), op]
        mapped = ".".join(parts)
        if mapped not in src or src[mapped].shape != t.shape:
            raise ValueError(f"stand-alone tensor {name} {tuple(t.shape)} has no super-net counterpart "
                             "(different NetConfig?)")
        out[name] = src[mapped].clone()
    return out
