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

Super-net (DARTS's search cell, single path): node k holds one module per (input j,
op) for every j < k and every op of the space; a genotype's pair (op, j) of node k runs
the module (k, j, op). Two pairs of one node with the same input and op share that
module (with running BN statistics on, it updates them twice per pass). A super-net
path needs the full concat (every node), since the channels of the cell output are fixed.
`subnet_state` copies a path's modules into a stand-alone network built with the same
config (`pool_bn` on), which then computes exactly what the super-net computes on that path;
with `pool_bn` off it is DARTS's reference network, which differs from the path after every pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import darts
from .base import Mixture
from .nb201_net import AvgPool3x3

# Recorded in every ground-truth table built on this space.
SEMANTICS = "darts-networkcifar"  # DARTS cnn/model.py NetworkCIFAR, reductions at 1/3 and 2/3
STEM_MULTIPLIER = 3


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

    def __post_init__(self):
        if self.C < 1 or self.layers < 1:
            raise ValueError(f"net.C and the number of cells must be >= 1, got C={self.C}, layers={self.layers}")
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
            self.edges = nn.ModuleList(
                nn.ModuleDict({op: build_op(op, c, stride(j), cfg) for op in cfg.ops})
                for node in range(darts.CELL_INPUTS, darts.CELL_INPUTS + darts.NODES) for j in range(node))
        else:
            self.pairs, self.concat = cell
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
        if isinstance(genotype, Mixture):
            raise TypeError("the DARTS super-net runs one path at a time (supports_mixture is False)")
        if genotype is None:
            if self.genotype is None:
                raise ValueError("the super-net needs an architecture: forward(x, genotype)")
            return self.genotype
        g = darts.check(genotype)
        if self.genotype is not None and g != self.genotype:
            raise ValueError("a stand-alone network runs only its own genotype")
        return g

    def forward_with_aux(self, x: torch.Tensor, genotype=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits); the latter only in training with the head on."""
        g = self._path(genotype)
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            pairs, concat = g.cell(cell.reduction)
            s0, s1 = s1, cell(s0, s1, pairs, concat, self.drop_prob)
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
