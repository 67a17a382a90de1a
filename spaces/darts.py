"""DARTS cell space encoding: genotypes, their canonical form and key, parsing of the
DARTS `Genotype(...)` notation and of NDS's JSON genotypes, and uniform sampling.
No torch here (the networks are in `darts_net`).

A network has two cell types, normal and reduce. A cell has 2 inputs (node 0: the
output of the cell before the previous one, node 1: of the previous cell) and 4
intermediate nodes 2..5. Node k (k = 2..5) takes exactly 2 (op, input) pairs, each
input one of the nodes 0..k-1 (the same input twice is allowed), and sums the two op
outputs. The cell output concatenates the nodes listed in its `concat` (DARTS: all
of 2..5).

Op sets (the DARTS `PRIMITIVES`, in their order):
  darts      OPS = none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3,
             sep_conv_5x5, dil_conv_3x3, dil_conv_5x5;
  darts-nds  NDS_OPS = OPS without 'none' (NDS samples its DARTS design space from
             these 7 ops; no NDS genotype holds 'none').

Canonical form. A node's two inputs are summed, so their order does not change the
network: the canonical order sorts a node's two pairs by (input, position of the op
in OPS); `concat` is sorted and without repeats. `Genotype` always holds the
canonical form, so two genotypes that differ only in pair order are equal. Nothing
else is merged (swapping two intermediate nodes also renames them in later inputs and
reorders the concatenated channels; such relabellings keep distinct keys).

Key: the canonical genotype in the DARTS notation, e.g.

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

(one line). `parse(key(g)) == g`; `parse` also reads any pair order and
`normal_concat=range(2, 6)` as in DARTS's genotypes.py.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from .base import ArchError

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NDS_OPS = OPS[1:]
NODES = 4                       # intermediate nodes per cell
CELL_INPUTS = 2                 # nodes 0 and 1: the outputs of the two previous cells
FULL_CONCAT = tuple(range(CELL_INPUTS, CELL_INPUTS + NODES))
CELL_TYPES = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _canonical_pairs(pairs, what: str, ops: Sequence[str]) -> tuple[tuple[str, int], ...]:
    if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * NODES:
        n = len(pairs) if isinstance(pairs, (list, tuple)) else type(pairs).__name__
        raise ArchError(f"DARTS {what} must list {2 * NODES} (op, input) pairs (2 per node), got {n}")
    out = []
    for p, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ArchError(f"DARTS {what} pair {p} must be (op, input), got {pair!r}")
        op, inp = pair
        if not isinstance(op, str) or op not in ops:
            raise ArchError(f"unknown DARTS op {op!r} in {what} pair {p}; valid ops: {', '.join(ops)}")
        node = CELL_INPUTS + p // 2
        if isinstance(inp, bool) or not isinstance(inp, int) or not 0 <= inp < node:
            raise ArchError(f"DARTS {what} pair {p} feeds node {node}, so its input must be an int in "
                            f"0..{node - 1}, got {inp!r}")
        out.append((op, inp))
    order = {op: i for i, op in enumerate(OPS)}
    canon = []
    for k in range(NODES):
        a, b = out[2 * k], out[2 * k + 1]
        canon.extend(sorted((a, b), key=lambda pr: (pr[1], order[pr[0]])))
    return tuple(canon)


def _canonical_concat(concat, what: str) -> tuple[int, ...]:
    try:
        values = list(concat)
    except TypeError:
        raise ArchError(f"DARTS {what} must be a list of node indices, got {concat!r}") from None
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v not in FULL_CONCAT for v in values):
        raise ArchError(f"DARTS {what} must be a non-empty list of intermediate nodes "
                        f"{FULL_CONCAT[0]}..{FULL_CONCAT[-1]}, got {values!r}")
    return tuple(sorted(set(values)))


@dataclass(frozen=True)
class Genotype:
    """A DARTS architecture in canonical form (see the module docstring); constructed
    from any pair order. Ops are checked against the full DARTS op set; a space with
    fewer ops checks its own (`check`)."""
    normal: tuple
    normal_concat: tuple
    reduce: tuple
    reduce_concat: tuple

    def __post_init__(self):
        for cell in CELL_TYPES:
            object.__setattr__(self, cell, _canonical_pairs(getattr(self, cell), cell, OPS))
            concat = f"{cell}_concat"
            object.__setattr__(self, concat, _canonical_concat(getattr(self, concat), concat))

    def cell(self, reduction: bool) -> tuple[tuple, tuple]:
        """(pairs, concat) of the reduce cell if ``reduction`` else of the normal cell."""
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)

    @property
    def ops(self) -> set[str]:
        return {op for op, _ in self.normal + self.reduce}

    def __str__(self) -> str:
        return key(self)


def check(arch, ops: Sequence[str] = OPS) -> Genotype:
    """A Genotype (or anything with its four fields: DARTS's namedtuple, NDS's dict)
    whose ops all lie in ``ops``; ArchError otherwise."""
    if isinstance(arch, dict):
        missing = [f for f in _FIELDS if f not in arch]
        if missing:
            raise ArchError(f"a DARTS genotype needs the fields {', '.join(_FIELDS)}; missing {', '.join(missing)}")
        g = Genotype(*(arch[f] for f in _FIELDS))
    elif isinstance(arch, Genotype):
        g = arch
    elif all(hasattr(arch, f) for f in _FIELDS):
        g = Genotype(*(getattr(arch, f) for f in _FIELDS))
    else:
        raise ArchError(f"a DARTS architecture is a Genotype, got {type(arch).__name__}")
    bad = sorted(g.ops - set(ops), key=OPS.index)
    if bad:
        raise ArchError(f"DARTS op {bad[0]!r} is not in this space's op set: {', '.join(ops)}")
    return g


def key(arch) -> str:
    g = check(arch)

    def pairs(ps):
        return "[" + ", ".join(f"({op!r}, {i})" for op, i in ps) + "]"

    def ints(cs):
        return "[" + ", ".join(map(str, cs)) + "]"

    return (f"Genotype(normal={pairs(g.normal)}, normal_concat={ints(g.normal_concat)}, "
            f"reduce={pairs(g.reduce)}, reduce_concat={ints(g.reduce_concat)})")


def _literal(node: ast.expr, field: str, text: str):
    """A literal field value; concat fields also take range(a, b) as DARTS writes them."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" \
            and field.endswith("_concat") and not node.keywords:
        args = [_literal(a, field, text) for a in node.args]
        if 1 <= len(args) <= 3 and all(isinstance(a, int) for a in args):
            return list(range(*args))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ArchError(f"malformed DARTS genotype {text[:80]!r}: {field} is not a literal list") from None


def parse(text: str, ops: Sequence[str] = OPS) -> Genotype:
    """`Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=..., reduce_concat=...)`
    (keywords, or the four fields positionally) -> Genotype, with one-line ArchErrors."""
    if not isinstance(text, str):
        raise ArchError(f"a DARTS key must be a string, got {type(text).__name__}")
    s = text.strip()
    try:
        tree = ast.parse(s, mode="eval").body
    except SyntaxError:
        raise ArchError(f"malformed DARTS genotype {text[:80]!r}: expected "
                        "'Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=[...], "
                        "reduce_concat=[...])'") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ArchError(f"malformed DARTS genotype {text[:80]!r}: expected 'Genotype(normal=..., "
                        "normal_concat=..., reduce=..., reduce_concat=...)'")
    fields = {}
    if len(tree.args) > len(_FIELDS):
        raise ArchError(f"malformed DARTS genotype {text[:80]!r}: {len(tree.args)} positional fields, "
                        f"expected {len(_FIELDS)}")
    for name, node in zip(_FIELDS, tree.args):
        fields[name] = _literal(node, name, text)
    for kw in tree.keywords:
        if kw.arg not in _FIELDS or kw.arg in fields:
            what = "repeated" if kw.arg in fields else "unknown"
            raise ArchError(f"malformed DARTS genotype {text[:80]!r}: {what} field {kw.arg!r}; "
                            f"fields: {', '.join(_FIELDS)}")
        fields[kw.arg] = _literal(kw.value, kw.arg, text)
    return check(fields, ops)


def as_arch(value, ops: Sequence[str] = OPS) -> Genotype:
    """A key string, a Genotype, DARTS's namedtuple or NDS's genotype dict."""
    return parse(value, ops) if isinstance(value, str) else check(value, ops)


# --- sampling -----------------------------------------------------------------------------
def random_cell(rng: random.Random, ops: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """The official sampler's cell (landmark code, `dartsbench.random_cell`): for each node
    k = 2..5, two inputs drawn uniformly with replacement from 0..k-1, then one op per
    input uniformly from ``ops``; the concat is every intermediate node."""
    pairs = []
    for node in range(CELL_INPUTS, CELL_INPUTS + NODES):
        inputs = [rng.randrange(node) for _ in range(2)]
        pairs.extend((ops[rng.randrange(len(ops))], i) for i in inputs)
    return tuple(pairs)


def random_genotype(rng: random.Random, ops: Sequence[str] = OPS) -> Genotype:
    """A normal then a reduce cell of `random_cell` (official `random_darts_genotype`)."""
    return Genotype(random_cell(rng, ops), FULL_CONCAT, random_cell(rng, ops), FULL_CONCAT)


def sample(n: int, seed: int, ops: Sequence[str] = OPS, exclude: Iterable = ()) -> list[Genotype]:
    """n distinct canonical genotypes, none in ``exclude``: the first n distinct ones of the
    stream `random_genotype(random.Random(seed))`, so a larger n extends a smaller one."""
    if n < 0:
        raise ArchError(f"cannot sample {n} architectures")
    seen = {as_arch(a) for a in exclude}
    rng, out = random.Random(seed), []
    while len(out) < n:
        g = random_genotype(rng, ops)
        if g not in seen:
            seen.add(g)
            out.append(g)
    return out


def one_hot(arch, ops: Sequence[str] = OPS) -> list[float]:
    """A fixed-length encoding for predictors: per cell type (normal, reduce), per node,
    per input slot 0..k-1 of that node, one count per op (how many of the node's two
    pairs use that op on that input), then the concat as 4 flags per cell type.
    Length 2 * (14 * len(ops) + 4) (14 = 2 + 3 + 4 + 5 input slots)."""
    g = check(arch, ops)
    col = {op: i for i, op in enumerate(ops)}
    vec: list[float] = []
    for cell in CELL_TYPES:
        pairs, concat = g.cell(cell == "reduce")
        for k in range(NODES):
            node = CELL_INPUTS + k
            block = [0.0] * (node * len(ops))
            for op, inp in pairs[2 * k:2 * k + 2]:
                block[inp * len(ops) + col[op]] += 1.0
            vec.extend(block)
        vec.extend(1.0 if c in concat else 0.0 for c in FULL_CONCAT)
    return vec


def mutate(arch, rng: random.Random, ops: Sequence[str] = OPS) -> Genotype:
    """The official mutation (landmark code, `DartsSearchSpace.mutate_topology`, rate 1):
    in both cells, each pair independently redraws its input with probability 1/8
    (rate / (2 * nodes)) uniformly from the node's inputs 0..k-1, then its op with
    probability 1/8 (rate / len(DARTS's 8 ops)) uniformly from ``ops``; the concat is
    kept. As in the official code the redraw may return the old value (its exclusion of
    the old value subtracts an op name from input indices and vice versa), and the child
    may equal its parent. The official code draws ops from all 8 DARTS ops also on NDS;
    here they come from the space's own op set."""
    g = check(arch, ops)
    p_input, p_op = 1 / (2 * NODES), 1 / len(OPS)

    def cell(pairs):
        out = []
        for p, (op, inp) in enumerate(pairs):
            if rng.random() < p_input:
                inp = rng.randrange(CELL_INPUTS + p // 2)
            if rng.random() < p_op:
                op = ops[rng.randrange(len(ops))]
            out.append((op, inp))
        return out

    return Genotype(cell(g.normal), g.normal_concat, cell(g.reduce), g.reduce_concat)
