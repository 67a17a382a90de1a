"""NB201 networks: one class serves as the weight-sharing super-net (every op on
every edge) and as the stand-alone network of one architecture (its ops only),
so both share the macro skeleton and parameter names. Copying a path's weights
into a stand-alone network is `standalone.load_state_dict(subnet_state(supernet, standalone))`.

Skeleton (NB201): stem conv-BN, three stages of N cells at C, 2C, 4C channels
joined by residual reduction blocks, then BN-ReLU, global pooling, linear.

Semantics follow NB201's own networks: every non-'none' op runs, also on a node
whose inputs are all 'none' (ReLU-Conv-BN of zeros gives BN's bias, not zero).
Only ops whose result cannot reach the cell output are skipped, which changes
nothing the network computes.

Super-net cell types (`NetConfig.cell`):
  per_edge         one set of candidate ops per edge (NB201's own search cell; the
                   official GDAS super-net);
  op_on_node       the official landmark code's default (SearchCellOnNode): the edge
                   3<-2 reuses the modules of edge 3<-1, so a cell holds 5 op sets;
  partial_channel  PC-DARTS: per edge, the first C/4 channels go through the ops
                   (built at C/4 channels), the rest bypass them, then the channels
                   are shuffled in 4 groups. A single path runs as the official
                   "softoneshot" mixture (`soft_path_weights`).

A super-net also takes a `Mixture` of its one alpha group (`ALPHA_GROUP`): (6, 5)
weights used by every cell, or (cells, 6, 5) weights, one row block per cell in
forward order, or `CellDraws`,
weights drawn in each cell and drawn again while the cell's output is exactly zero
(GDAS draws its Gumbel sample separately in each cell).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import nb201
from .base import CellDraws, Mixture

# Recorded in every ground-truth table this code builds, so tables built with
# other network semantics are never mixed or extended by mistake.
SEMANTICS = "ops-on-zero-nodes"   # every non-'none' op runs, also on all-zero nodes (NB201's)
OLD_SEMANTICS = "live-edges-only"  # before the fidelity fix: ops on all-zero nodes skipped
CONV_OPS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
# For each cell type, the module slot each edge position uses (EDGES order:
# 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2). op_on_node: 3<-2 shares 3<-1's modules.
EDGE_SLOTS = {"per_edge": (0, 1, 2, 3, 4, 5), "op_on_node": (0, 1, 2, 3, 4, 4),
              "partial_channel": (0, 1, 2, 3, 4, 5)}
CELL_TYPES = tuple(EDGE_SLOTS)
ALPHA_GROUP = "cell"  # every cell shares one alpha (the official NB201 super-nets)
PC_GROUPS = 4  # PC-DARTS channel proportion K, hard-coded in the official SearchCellPCDarts
# Official softoneshot_alpha (pcdarts.sh): a single path on a partial-channel cell gives
# its op 1/5 + delta and every other op 1/5 - delta/4 (near-uniform); 0.8 is one-hot.
SOFT_PATH_DELTA = 0.01


@dataclass(frozen=True)
class NetConfig:
    C: int = 16                 # channels of the first stage
    N: int = 5                  # cells per stage
    in_channels: int = 3
    num_classes: int = 10
    bn_affine: bool = True
    bn_track_running_stats: bool = False  # off: batch statistics also at evaluation (the paper)
    cell: str = "per_edge"      # super-net cell type: CELL_TYPES
    soft_path_delta: float = SOFT_PATH_DELTA  # partial_channel cells only

    def __post_init__(self):
        if self.cell not in CELL_TYPES:
            raise ValueError(f"unknown net.cell {self.cell!r}; valid cell types: {', '.join(CELL_TYPES)}")
        if self.C < 1 or self.N < 1:
            raise ValueError(f"net.C and net.N must be >= 1, got C={self.C}, N={self.N}")
        if self.cell == "partial_channel" and self.C % PC_GROUPS:
            raise ValueError(f"net.cell=partial_channel needs net.C divisible by {PC_GROUPS}, got C={self.C}")
        n = len(nb201.OPS)
        if not 0 < self.soft_path_delta <= 1 - 1 / n:
            raise ValueError(f"soft_path_delta must be in (0, {1 - 1 / n}], got {self.soft_path_delta}")


def _bn(c: int, cfg: NetConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=cfg.bn_affine, track_running_stats=cfg.bn_track_running_stats)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, cfg: NetConfig):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         _bn(c_out, cfg))


class AvgPool3x3(nn.Module):
    """3x3 average pooling, stride 1, padding not counted (NB201's avg_pool_3x3).

    PyTorch's CPU kernel for this is several times slower than the convolutions
    around it at NB201 sizes, so on CPU it is computed as a separable box sum
    divided by the number of valid neighbours; CUDA uses the native kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:
            return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        p = F.pad(x, (1, 1, 1, 1))
        rows = p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]
        box = rows[:, :, :, :-2] + rows[:, :, :, 1:-1] + rows[:, :, :, 2:]
        return box / _neighbour_counts(x.shape[-2], x.shape[-1], x.dtype)


@functools.lru_cache(maxsize=32)
def _neighbour_counts(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    rows = torch.full((h,), 3.0)
    cols = torch.full((w,), 3.0)
    rows[0] -= 1
    rows[-1] -= 1
    cols[0] -= 1
    cols[-1] -= 1
    return (rows[:, None] * cols[None, :]).to(dtype)


def build_op(name: str, c: int, cfg: NetConfig) -> nn.Module:
    if name in CONV_OPS:
        return ReLUConvBN(c, c, CONV_OPS[name], 1, cfg)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    if name == "skip_connect":
        return nn.Identity()
    raise ValueError(f"no module for NB201 op {name!r}")


@functools.lru_cache(maxsize=None)
def _plan(arch: nb201.Arch) -> tuple[tuple[int, int, int, str], ...]:
    """The edges a cell computes as (to, from, position, op name), in summation
    order: every non-'none' op whose target node feeds the output."""
    return tuple((nb201.EDGES[p][0], nb201.EDGES[p][1], p, nb201.OPS[arch[p]])
                 for p in nb201.computed_edges(arch))


class Cell(nn.Module):
    """Candidate ops in ModuleDicts keyed by op name, one per module slot. The
    super-net holds every op in every slot; a stand-alone cell holds its own
    non-'none' ops, one slot per edge, as NB201's stand-alone cells do."""

    def __init__(self, c: int, cfg: NetConfig, arch: nb201.Arch | None):
        super().__init__()
        self.slots = EDGE_SLOTS[cfg.cell] if arch is None else EDGE_SLOTS["per_edge"]
        self.partial = arch is None and cfg.cell == "partial_channel"
        self.soft_path_delta = cfg.soft_path_delta
        c_op = c // PC_GROUPS if self.partial else c
        self.edges = nn.ModuleList()
        for slot in range(max(self.slots) + 1):
            if arch is None:
                names = nb201.OPS[1:]
            else:
                names = () if arch[slot] == 0 else (nb201.OPS[arch[slot]],)
            self.edges.append(nn.ModuleDict({n: build_op(n, c_op, cfg) for n in names}))

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        if isinstance(arch, Mixture):
            return self._mixed(x, arch.group(ALPHA_GROUP))
        if self.partial:  # the official PC-DARTS super-net runs a path as a mixture (softoneshot)
            return self._mixed(x, soft_path_weights(arch, self.soft_path_delta, x))
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for to, frm, pos, name in _plan(arch):
            src = nodes[frm]
            if src is None:  # a node whose inputs are all 'none' holds zeros
                src = nodes[frm] = torch.zeros_like(x)
            y = self.edges[self.slots[pos]][name](src)
            nodes[to] = y if nodes[to] is None else nodes[to] + y
        out = nodes[-1]
        return torch.zeros_like(x) if out is None else out

    def _mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each edge is the weighted sum of its ops (DARTS). A weight of exactly zero
        skips its op and adds only itself (value 0), so a one-hot row computes one op
        and every weight still gets a gradient (GDAS's hard weights)."""
        if weights.shape != (len(nb201.EDGES), len(nb201.OPS)):
            raise ValueError(f"NB201 mixture weights must have shape ({len(nb201.EDGES)}, {len(nb201.OPS)}), "
                             f"got {tuple(weights.shape)}")
        # one host sync per cell, not one per op (partial-channel mixtures are softmax: never zero)
        active = None if self.partial else weights.detach().ne(0).tolist()
        nodes = [x]
        for to in range(1, nb201.NUM_NODES):
            total = torch.zeros_like(x)
            for pos, (t, frm) in enumerate(nb201.EDGES):
                if t != to:
                    continue
                total = total + (self._partial_edge(nodes[frm], weights[pos], self.edges[self.slots[pos]])
                                 if self.partial else
                                 self._edge(nodes[frm], weights[pos], active[pos], self.edges[self.slots[pos]]))
            nodes.append(total)
        return nodes[-1]

    @staticmethod
    def _edge(x, weights, active, ops):
        total = 0
        for k, name in enumerate(nb201.OPS):
            if not active[k]:
                total = total + weights[k]
            elif name != "none":
                total = total + weights[k] * ops[name](x)
        return total

    @staticmethod
    def _partial_edge(x, weights, ops):
        """PC-DARTS: the weighted ops on the first C/K channels, the rest passed
        through, then a channel shuffle in K groups ('none' adds nothing)."""
        c = x.shape[1] // PC_GROUPS
        mixed = sum(weights[k] * ops[name](x[:, :c]) for k, name in enumerate(nb201.OPS) if name != "none")
        return channel_shuffle(torch.cat([mixed, x[:, c:]], dim=1), PC_GROUPS)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, C, H, W) with channels read as (groups, C/groups) and written back transposed."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def soft_path_weights(arch, delta: float, like: torch.Tensor) -> torch.Tensor:
    """The official softoneshot mixture of one path: on every edge the path's op gets
    1/n + delta and the others 1/n - delta/(n-1) (n = 5 ops). No gradient."""
    n = len(nb201.OPS)
    w = torch.full((len(nb201.EDGES), n), 1 / n - delta / (n - 1), dtype=like.dtype, device=like.device)
    w[list(range(len(nb201.EDGES))), list(arch)] = 1 / n + delta
    return w


class ResidualReduction(nn.Module):
    """NB201's basic residual block with stride 2 between stages."""

    def __init__(self, c_in: int, c_out: int, cfg: NetConfig):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, cfg)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, cfg)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    """Super-net when ``arch`` is None (pass the path to forward), stand-alone otherwise."""

    def __init__(self, cfg: NetConfig, arch: nb201.Arch | None = None):
        super().__init__()
        self.cfg = cfg
        self.arch = None if arch is None else nb201.check(arch)
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.C, 3, padding=1, bias=False),
                                  _bn(cfg.C, cfg))
        blocks, c = [], cfg.C
        for stage in range(3):
            if stage:
                blocks.append(ResidualReduction(c, 2 * c, cfg))
                c *= 2
            blocks.extend(Cell(c, cfg, self.arch) for _ in range(cfg.N))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(_bn(c, cfg), nn.ReLU(inplace=False),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor, arch: nb201.Arch | None = None) -> torch.Tensor:
        if arch is None:
            if self.arch is None:
                raise ValueError("the super-net needs an architecture: forward(x, arch)")
            arch = self.arch
        weights = arch.group(ALPHA_GROUP) if isinstance(arch, Mixture) else None
        per_cell = weights is not None and weights.dim() == 3
        if per_cell and weights.shape[0] != self.n_cells:
            raise ValueError(f"per-cell mixture weights must have {self.n_cells} cells, got {weights.shape[0]}")
        x = self.stem(x)
        k = 0
        for block in self.blocks:
            if isinstance(block, Cell):
                x = (_drawn_cell(block, x, arch) if isinstance(arch, CellDraws) else
                     block(x, Mixture(weights[k]) if per_cell else arch))
                k += 1
            else:
                x = block(x)
        return self.classifier(self.head(x))

    @property
    def n_cells(self) -> int:
        return 3 * self.cfg.N


def _drawn_cell(cell: Cell, x: torch.Tensor, draws: CellDraws) -> torch.Tensor:
    """The cell on freshly drawn weights, drawn again while its output sums to exactly
    zero (one host sync per draw), at most `draws.max_draws` draws; the last is kept."""
    for n in range(1, draws.max_draws + 1):
        out = cell(x, Mixture(draws.draw(ALPHA_GROUP)))
        if n == draws.max_draws or out.sum().item() != 0:
            return out


def subnet_state(supernet: NB201Net, standalone: NB201Net) -> dict:
    """The super-net weights a stand-alone network of one path holds, under the
    stand-alone network's parameter names (a shared op-on-node module is copied
    to every edge that uses it)."""
    state = supernet.state_dict()
    out = {}
    for key in standalone.state_dict():
        parts = key.split(".")
        if len(parts) > 3 and parts[0] == "blocks" and parts[2] == "edges":
            cell = supernet.blocks[int(parts[1])]
            parts[3] = str(cell.slots[int(parts[3])])
        out[key] = state[".".join(parts)]
    return out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of convolutions and linear layers for one input."""
    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += out.numel() * k

    def linear_hook(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total
