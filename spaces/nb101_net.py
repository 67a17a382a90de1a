"""NB101 networks: the stand-alone network of one cell (NB101's model_builder semantics)
and a weight-sharing super-net over every valid cell of at most 7 vertices.

Skeleton (NB101): stem conv3x3-BN-ReLU to C channels; 3 stacks of N modules at C, 2C,
4C channels, a 2x2 max-pool (stride 2) before stacks 2 and 3; global average pool;
linear. The pool uses ceil_mode, which is TF's 'same' padding for a 2x2/2 pool (equal
to plain flooring on even sizes).

A module (cell) with vertices 0 (input) .. n-1 (output), as NB101's build_module:
  * vertex channels: `vertex_channels` (NB101's compute_vertex_channels): the output
    channels are split over the vertices feeding the output (the first ones get the
    remainder), other vertices take the max of their successors;
  * interior vertex t sums the outputs of its interior predecessors truncated to its
    channel count (first channels) and, if the input feeds it, a 1x1 conv-BN-ReLU
    projection of the module input; then applies its op (conv3x3/conv1x1-BN-ReLU, or
    3x3 max-pool stride 1 pad 1);
  * the output concatenates the vertices feeding it (in vertex order) and adds a 1x1
    projection of the module input if the input feeds the output (for the 2-vertex
    cell that projection is the whole module).

Super-net (sharing as the official landmark code's NasBenchNetSearch + MixedVertex,
docs/fidelity.md "NAS-Bench-101 space"): every module holds, for each interior vertex
position 1..5, an input projection and one conv3x3 and one conv1x1 op, all at the
module's full output width, plus one input->output projection. A cell's vertex t
(its index in the pruned matrix) runs on position t, slicing the first vertex-channel
output (and input) channels of those weights and BN parameters. Truncation and
max-pool have no weights. `subnet_state` copies those slices into a stand-alone
network, which then computes exactly what the super-net computes on that path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import nb101
from .base import Mixture

# Recorded in every ground-truth table built on this space.
SEMANTICS = "nb101-model-builder"  # NB101's module semantics, C/2C/4C stacks, ceil-mode 2x2 pool
CONV_OPS = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}
POOL_OP = "maxpool3x3"


@dataclass(frozen=True)
class NetConfig:
    C: int = 128                # stem channels (NB101: 128)
    N: int = 3                  # modules per stack (NB101: 3)
    in_channels: int = 3
    num_classes: int = 10
    bn_affine: bool = True
    bn_track_running_stats: bool = False  # off: batch statistics also at evaluation (the paper)

    def __post_init__(self):
        if self.C < 1 or self.N < 1:
            raise ValueError(f"net.C and net.N must be >= 1, got C={self.C}, N={self.N}")


@functools.lru_cache(maxsize=None)
def vertex_channels(c_in: int, c_out: int, matrix: tuple) -> tuple[int, ...]:
    """Channels of every vertex of a pruned cell (NB101's compute_vertex_channels)."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[-1] = c_in, c_out
    if n == 2:
        return tuple(ch)
    feeds_out = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    base, extra = divmod(c_out, len(feeds_out))
    for k, v in enumerate(feeds_out):
        ch[v] = base + (1 if k < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            ch[v] = max([ch[w] for w in range(v + 1, n - 1) if matrix[v][w]], default=0)
    if any(c <= 0 for c in ch[1:-1]):  # more output fan-in than channels
        raise ValueError(f"{c_out} module channels cannot be split over {len(feeds_out)} vertices")
    return tuple(ch)


class ConvBNReLU(nn.Module):
    """conv (no bias) - BN - ReLU. ``forward(x, c)`` uses the first c output channels and
    the first x.shape[1] input channels of the weights, so one module serves every width
    up to its own (the super-net); a stand-alone layer is called at its full width."""

    def __init__(self, c_in: int, c_out: int, kernel: int, cfg: NetConfig):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=cfg.bn_affine, track_running_stats=cfg.bn_track_running_stats)
        self.relu = nn.ReLU()  # a module, so forward hooks see it (the NASWOT ranker reads every ReLU's input)

    def forward(self, x: torch.Tensor, c: int | None = None) -> torch.Tensor:
        conv, bn = self.conv, self.bn
        c = conv.out_channels if c is None else c
        if c == conv.out_channels and x.shape[1] == conv.in_channels:
            return self.relu(bn(conv(x)))
        w = conv.weight[:c, :x.shape[1]]
        y = F.conv2d(x, w, None, 1, conv.padding)
        return self.relu(_sliced_bn(bn, y, c))


def _sliced_bn(bn: nn.BatchNorm2d, y: torch.Tensor, c: int) -> torch.Tensor:
    """nn.BatchNorm2d's forward restricted to its first c channels; running statistics
    of those channels are updated in place, as a BN of width c would update its own."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    use_running = not bn.training or bn.track_running_stats
    rm = bn.running_mean[:c] if use_running and bn.running_mean is not None else None
    rv = bn.running_var[:c] if use_running and bn.running_var is not None else None
    w = bn.weight[:c] if bn.weight is not None else None
    b = bn.bias[:c] if bn.bias is not None else None
    return F.batch_norm(y, rm, rv, w, b, batch_stats, factor, bn.eps)


class Vertex(nn.Module):
    """Weights of one interior vertex position: `proj` (1x1 projection of the module
    input) and `ops[name]` for conv ops. The super-net holds all of them at full width;
    a stand-alone vertex holds only what its cell uses, at its own width."""

    def __init__(self, c_in: int, c: int, cfg: NetConfig, proj: bool, ops: tuple[str, ...]):
        super().__init__()
        if proj:
            self.proj = ConvBNReLU(c_in, c, 1, cfg)
        self.ops = nn.ModuleDict({op: ConvBNReLU(c, c, CONV_OPS[op], cfg) for op in ops})


class Module101(nn.Module):
    """One NB101 module. Stand-alone when ``cell`` is given (weights of that cell only),
    otherwise the super-net module (pass the cell to forward)."""

    def __init__(self, c_in: int, c_out: int, cfg: NetConfig, cell: nb101.Cell | None = None):
        super().__init__()
        self.c_in, self.c_out, self.cell = c_in, c_out, cell
        self.vertices = nn.ModuleDict()
        if cell is None:
            for t in range(1, nb101.MAX_VERTICES - 1):
                self.vertices[str(t)] = Vertex(c_in, c_out, cfg, True, tuple(CONV_OPS))
            self.out_proj = ConvBNReLU(c_in, c_out, 1, cfg)
        else:
            m, n = cell.matrix, cell.num_vertices
            ch = vertex_channels(c_in, c_out, m)
            for t in range(1, n - 1):
                ops = (cell.ops[t],) if cell.ops[t] in CONV_OPS else ()
                self.vertices[str(t)] = Vertex(c_in, ch[t], cfg, bool(m[0][t]), ops)
            if m[0][n - 1]:
                self.out_proj = ConvBNReLU(c_in, c_out, 1, cfg)

    def forward(self, x: torch.Tensor, cell: nb101.Cell | None = None) -> torch.Tensor:
        cell = self.cell if cell is None else cell
        m, n = cell.matrix, cell.num_vertices
        ch = vertex_channels(self.c_in, self.c_out, m)
        tensors, concat = [x], []
        for t in range(1, n - 1):
            c, vertex = ch[t], self.vertices[str(t)]
            fan_in = [tensors[s][:, :c] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                fan_in.append(vertex.proj(x, c))
            v = fan_in[0]
            for u in fan_in[1:]:
                v = v + u
            op = cell.ops[t]
            v = F.max_pool2d(v, 3, 1, 1) if op == POOL_OP else vertex.ops[op](v, c)
            tensors.append(v)
            if m[t][n - 1]:
                concat.append(v)
        out = None
        if concat:
            out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if m[0][n - 1]:
            p = self.out_proj(x)
            out = p if out is None else out + p
        return out


class NB101Net(nn.Module):
    """Super-net when ``cell`` is None (call ``net(x, cell)``), stand-alone otherwise."""

    def __init__(self, cfg: NetConfig, cell: nb101.Cell | None = None):
        super().__init__()
        self.cfg = cfg
        self.cell = None if cell is None else nb101.check(cell)
        self.stem = ConvBNReLU(cfg.in_channels, cfg.C, 3, cfg)
        blocks, c = [], cfg.C
        for stack in range(3):
            if stack:
                blocks.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            c_out = c * 2 if stack else c
            for _ in range(cfg.N):
                blocks.append(Module101(c, c_out, cfg, self.cell))
                c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor, cell=None) -> torch.Tensor:
        if isinstance(cell, Mixture):
            raise TypeError("the NB101 super-net runs one path at a time (supports_mixture is False)")
        if cell is None:
            if self.cell is None:
                raise ValueError("the super-net needs an architecture: forward(x, cell)")
            cell = self.cell
        elif self.cell is not None and nb101.check(cell) != self.cell:
            raise ValueError("a stand-alone network runs only its own cell")
        else:
            cell = nb101.check(cell)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, cell) if isinstance(block, Module101) else block(x)
        return self.classifier(x.mean((2, 3)))


def subnet_state(supernet: NB101Net, standalone: NB101Net) -> dict:
    """The super-net weights of the stand-alone network's path under the stand-alone
    network's names: every tensor is the leading slice of the super-net tensor of the same
    name (first output / input channels), as the super-net uses it on that path."""
    if supernet.cell is not None or standalone.cell is None:
        raise ValueError("subnet_state(supernet, standalone): arguments in that order")
    src = supernet.state_dict()
    out = {}
    for name, t in standalone.state_dict().items():
        if name not in src or src[name].dim() != t.dim() \
                or any(a > b for a, b in zip(t.shape, src[name].shape)):
            raise ValueError(f"stand-alone tensor {name} {tuple(t.shape)} has no super-net counterpart "
                             "(different NetConfig?)")
        out[name] = src[name][tuple(slice(0, s) for s in t.shape)].clone()
    return out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
