"""NAS-Bench-101 cell encoding: validity and pruning, the readable key, NB101's module
hash, and sampling. No torch here (the networks are in `nb101_net`).

A cell is a DAG of at most 7 vertices and 9 edges, given by an upper-triangular 0/1
adjacency matrix and one label per vertex: 'input' first, 'output' last, one of OPS in
between. As NB101's ModelSpec does, vertices that are not on an input->output path are
pruned away (the rest keep their order); a cell whose input cannot reach its output is
invalid. The vertex and edge limits apply to the pruned cell (nasbench api `_check_spec`).

An architecture is a `Cell`: a frozen, hashable, always pruned and valid (matrix, ops).
Build one with `cell(matrix, ops)` (prunes) or `parse(key)`.

Key (the string a ground-truth table built by our builder indexes a cell by): the matrix
rows as 0/1 strings joined by '/', a ':', then the vertex labels joined by ',':

    0110/0001/0001/0000:input,conv3x3-bn-relu,maxpool3x3,output

`parse(key(c)) == c`; `parse` rejects strings of unpruned cells (two strings must never
name one cell). Isomorphic cells (the same NB101 cell with other vertex numbers) have
different keys but the same `module_hash`, which is what the official table is keyed by.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .base import ArchError

INPUT, OUTPUT = "input", "output"
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
# labels of graph_util.hash_module (and op codes of bench/nb101's HDF5 file)
OP_CODES = {INPUT: -1, OUTPUT: -2, **{op: i for i, op in enumerate(OPS)}}
MAX_VERTICES = 7
MAX_EDGES = 9
NUM_UNIQUE = 423_624  # cells in the NB101 dataset (distinct module hashes)
# Unique cells by vertex count: V <= 6 counted here by enumerating every cell and its
# module hash (docs/fidelity.md); V = 7 is the rest of NUM_UNIQUE.
UNIQUE_BY_VERTICES = {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62_010}
UNIQUE_BY_VERTICES[7] = NUM_UNIQUE - sum(UNIQUE_BY_VERTICES.values())  # 359,082
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Cell:
    """A pruned, valid NB101 cell. ``matrix`` is a tuple of row tuples of 0/1 ints."""
    matrix: tuple
    ops: tuple

    def __post_init__(self):
        _check_pruned(self.matrix, self.ops)

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def __str__(self) -> str:
        return key(self)


def _as_matrix(matrix) -> tuple:
    try:
        rows = tuple(tuple(int(v) for v in row) for row in np.asarray(matrix).tolist())
    except (TypeError, ValueError):
        raise ArchError(f"NB101 matrix must be a square 0/1 matrix, got {matrix!r}") from None
    n = len(rows)
    if n == 0 or any(len(r) != n for r in rows) or any(v not in (0, 1) for r in rows for v in r):
        raise ArchError(f"NB101 matrix must be a square 0/1 matrix, got {matrix!r}")
    return rows


def _check_raw(matrix: tuple, ops: tuple):
    n = len(matrix)
    if len(ops) != n:
        raise ArchError(f"NB101 cell has {n} vertices but {len(ops)} ops")
    if n < 2:
        raise ArchError(f"NB101 cell needs at least the input and output vertices, got {n}")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ArchError(f"NB101 ops must start with {INPUT!r} and end with {OUTPUT!r}, got {list(ops)}")
    for op in ops[1:-1]:
        if op not in OPS:
            raise ArchError(f"unknown NB101 op {op!r}; valid ops: {', '.join(OPS)}")
    for i in range(n):
        for j in range(i + 1):
            if matrix[i][j]:
                raise ArchError(f"NB101 matrix must be upper triangular (DAG in vertex order), "
                                f"but has an edge {i}->{j}")


def _on_path(matrix: tuple) -> list[bool]:
    """Vertices reachable from the input and reaching the output (ModelSpec._prune)."""
    n = len(matrix)
    from_in = [False] * n
    from_in[0] = True
    for v in range(n):
        if from_in[v]:
            for w in range(v + 1, n):
                if matrix[v][w]:
                    from_in[w] = True
    to_out = [False] * n
    to_out[-1] = True
    for v in range(n - 1, -1, -1):
        if any(matrix[v][w] and to_out[w] for w in range(v + 1, n)):
            to_out[v] = True
    return [a and b for a, b in zip(from_in, to_out)]


def _check_limits(matrix: tuple):
    n, e = len(matrix), sum(map(sum, matrix))
    if n > MAX_VERTICES:
        raise ArchError(f"NB101 cell has {n} vertices after pruning (max {MAX_VERTICES})")
    if e > MAX_EDGES:
        raise ArchError(f"NB101 cell has {e} edges after pruning (max {MAX_EDGES})")


def _check_pruned(matrix, ops):
    if not isinstance(matrix, tuple) or not isinstance(ops, tuple):
        raise ArchError("Cell(matrix, ops) takes tuples; use nb101.cell(matrix, ops) to build one")
    matrix = _as_matrix(matrix)
    _check_raw(matrix, ops)
    keep = _on_path(matrix)
    if not keep[0]:
        raise ArchError("NB101 cell is invalid: the input is not connected to the output")
    if not all(keep):
        bad = [v for v, k in enumerate(keep) if not k]
        raise ArchError(f"NB101 cell is not pruned: vertex {bad[0]} is not on an input->output path "
                        "(nb101.cell(matrix, ops) prunes it as NB101's ModelSpec does)")
    _check_limits(matrix)


def prune(matrix, ops: Sequence[str]) -> tuple[tuple, tuple]:
    """Drop vertices not on an input->output path (NB101 ModelSpec._prune); ArchError when
    the input does not reach the output or the labels are malformed."""
    matrix = _as_matrix(matrix)
    ops = tuple(ops)
    _check_raw(matrix, ops)
    keep = _on_path(matrix)
    if not keep[0]:
        raise ArchError("NB101 cell is invalid: the input is not connected to the output")
    idx = [v for v, k in enumerate(keep) if k]
    return tuple(tuple(matrix[i][j] for j in idx) for i in idx), tuple(ops[i] for i in idx)


def cell(matrix, ops: Sequence[str]) -> Cell:
    """A (pruned) Cell from any matrix and labels; ArchError if NB101 rejects it."""
    m, o = prune(matrix, ops)
    _check_limits(m)
    return Cell(m, o)


def check(arch) -> Cell:
    """Accept a Cell or a (matrix, ops) pair; the latter is pruned."""
    if isinstance(arch, Cell):
        return arch
    try:
        matrix, ops = arch
    except (TypeError, ValueError):
        raise ArchError(f"an NB101 architecture is a Cell or a (matrix, ops) pair, got {arch!r}") from None
    return cell(matrix, ops)


def key(arch) -> str:
    c = check(arch)
    return "/".join("".join(map(str, row)) for row in c.matrix) + ":" + ",".join(c.ops)


def looks_like_hash(text) -> bool:
    """Whether text is an NB101 module hash (32 hex digits, case and blanks ignored)."""
    return isinstance(text, str) and len(s := text.strip()) == 32 and set(s.lower()) <= _HEX


def parse(text: str) -> Cell:
    """Key -> Cell, with a one-line ArchError for malformed input."""
    if not isinstance(text, str):
        raise ArchError(f"NB101 key must be a string, got {type(text).__name__}")
    s = text.strip()
    if looks_like_hash(s):
        raise ArchError(f"{text!r} looks like an NB101 module hash; a cell key looks like "
                        "'011/001/000:input,conv3x3-bn-relu,output' (the hash needs the GT table)")
    rows, sep, labels = s.partition(":")
    if not sep or not rows or not labels:
        raise ArchError(f"malformed NB101 key {text!r}: expected 'ROW/ROW/...:input,OP,...,output'")
    rows = rows.split("/")
    n = len(rows)
    for r in rows:
        if set(r) - {"0", "1"}:
            raise ArchError(f"malformed NB101 key {text!r}: matrix row {r!r} is not made of '0'/'1'")
        if len(r) != n:
            raise ArchError(f"malformed NB101 key {text!r}: the matrix is not square ({n} rows, "
                            f"row {r!r} has {len(r)} entries)")
    ops = tuple(labels.split(","))
    if len(ops) != n:
        raise ArchError(f"malformed NB101 key {text!r}: {n} matrix rows but {len(ops)} ops")
    return Cell(tuple(tuple(int(c) for c in r) for r in rows), ops)


def as_arch(value) -> Cell:
    """Accept a key string, a Cell or a (matrix, ops) pair."""
    return parse(value) if isinstance(value, str) else check(value)


# --- NB101's module hash (agrees with nasbench / nasbench_pytorch graph_util) --------------
_graph_util = None


def _load_graph_util():
    """nasbench_pytorch's graph_util, without importing torch (its package __init__ imports
    the networks) unless torch-side code has already imported it."""
    global _graph_util
    if _graph_util is None:
        mod = sys.modules.get("nasbench_pytorch.model.graph_util")
        if mod is None:
            spec = importlib.util.find_spec("nasbench_pytorch")
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("nasbench-pytorch is not installed (pip install nasbench-pytorch)")
            file = Path(list(spec.submodule_search_locations)[0]) / "model" / "graph_util.py"
            gspec = importlib.util.spec_from_file_location("_lmreg_nb101_graph_util", file)
            mod = importlib.util.module_from_spec(gspec)
            gspec.loader.exec_module(mod)
        _graph_util = mod
    return _graph_util


def labeling(ops: list[str]) -> list[int]:
    """graph_util labels: -1 input, -2 output, index in OPS otherwise."""
    return [OP_CODES[op] for op in ops]


def cell_hash(matrix, ops: list[str]) -> str:
    """The NASBench module hash of a (pruned) cell: graph_util.hash_module on the numpy
    matrix, so isomorphic cells hash alike."""
    return _load_graph_util().hash_module(np.asarray(matrix), labeling(ops))


def module_hash(arch) -> str:
    """NB101's module hash of a cell: the key of the official NB101 table."""
    c = check(arch)
    return cell_hash(c.matrix, list(c.ops))


# --- sampling -----------------------------------------------------------------------------
_EDGE_SLOTS = tuple((i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES))


def random_cell(rng: random.Random) -> Cell:
    """NB101's `random_spec` distribution: a 7x7 upper-triangular matrix with every edge
    present with probability 1/2 and a uniform op on each of the 5 interior vertices,
    pruned, redrawn until valid (input reaches output, <= 9 edges after pruning).

    This is NOT uniform over the 423,624 unique cells: a cell is drawn in proportion to
    the number of raw (matrix, ops) draws that prune to it or to an isomorphic relabelling,
    which favours small cells heavily (0.3 % of draws have 7 vertices against 84.8 % of the
    unique cells; docs/fidelity.md, "NAS-Bench-101 space"). `uniform_cell` is uniform.
    Draws per try: one getrandbits(21) for the edges (bit k = edge k of the row-major upper
    triangle), then 5 randrange(3) for the ops."""
    while True:
        bits = rng.getrandbits(len(_EDGE_SLOTS))
        ops = (INPUT,) + tuple(OPS[rng.randrange(len(OPS))] for _ in range(MAX_VERTICES - 2)) + (OUTPUT,)
        m = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for k, (i, j) in enumerate(_EDGE_SLOTS):
            if bits >> k & 1:
                m[i][j] = 1
        m = tuple(map(tuple, m))
        keep = _on_path(m)
        if not keep[0]:
            continue
        idx = [v for v, k in enumerate(keep) if k]
        pm = tuple(tuple(m[i][j] for j in idx) for i in idx)
        if sum(map(sum, pm)) > MAX_EDGES:
            continue
        return Cell(pm, tuple(ops[i] for i in idx))


def mutate(arch, rng: random.Random) -> Cell:
    """See NB101Space.mutate."""
    c = check(arch)
    n, pad = c.num_vertices, MAX_VERTICES - c.num_vertices
    order = list(range(n - 1)) + [None] * pad + [n - 1]   # old vertex of each of the 7 positions
    base_ops = [c.ops[v] if v is not None else rng.choice(OPS) for v in order]
    while True:
        matrix = [[c.matrix[a][b] if a is not None and b is not None else 0 for b in order] for a in order]
        ops = list(base_ops)
        for src in range(MAX_VERTICES - 1):
            for dst in range(src + 1, MAX_VERTICES):
                if rng.random() < 1 / MAX_VERTICES:
                    matrix[src][dst] = 1 - matrix[src][dst]
        for v in range(1, MAX_VERTICES - 1):
            if rng.random() < 1 / (MAX_VERTICES - 2):
                ops[v] = rng.choice([o for o in OPS if o != ops[v]])
        try:
            return cell(matrix, ops)
        except ArchError:
            continue


def labellings(arch) -> int:
    """How many distinct (matrix, ops) pairs name this cell: the vertex orders that keep
    every edge forward (linear extensions of its DAG) divided by its label-preserving
    automorphisms."""
    c = check(arch)
    n, m = c.num_vertices, c.matrix
    inner = range(1, n - 1)
    preds = [sum(1 << (i - 1) for i in inner if m[i][j]) for j in range(n)]
    ext = {0: 1}  # linear extensions of each placed subset of interior vertices (bitmask)
    for mask in range(1 << (n - 2)):
        if mask not in ext:
            continue
        for j in inner:
            bit = 1 << (j - 1)
            if not mask & bit and preds[j] & mask == preds[j]:
                ext[mask | bit] = ext.get(mask | bit, 0) + ext[mask]
    orders = ext[(1 << (n - 2)) - 1]
    sig = [(c.ops[v], sum(m[v]), sum(r[v] for r in m)) for v in range(n)]
    autos = 0
    for perm in itertools.permutations(inner):
        p = (0, *perm, n - 1)
        if all(sig[p[v]] == sig[v] for v in inner) and \
                all(m[p[i]][p[j]] == m[i][j] for i in range(n) for j in range(i + 1, n)):
            autos += 1
    return orders // autos


def uniform_cell(rng: random.Random, vertices: int | None = None) -> Cell:
    """A cell drawn uniformly from the 423,624 unique NB101 cells (each module hash equally
    likely; with ``vertices``, uniformly from the unique cells of that size), without the
    table: the vertex count is drawn with the weights UNIQUE_BY_VERTICES, then a labelled
    cell of that size uniformly (random upper-triangular matrix with edge probability 1/2
    and uniform ops, redrawn until every vertex is on an input->output path and it has
    <= 9 edges), kept with probability 1/labellings(cell) so that every cell counts once.
    The official SPOS default (uniform over the NB101 table's cells) has this distribution."""
    if vertices is None:
        sizes = list(UNIQUE_BY_VERTICES)
        vertices = rng.choices(sizes, weights=[UNIQUE_BY_VERTICES[v] for v in sizes])[0]
    if vertices not in UNIQUE_BY_VERTICES:
        raise ArchError(f"NB101 cells have 2..{MAX_VERTICES} vertices, got {vertices}")
    n = vertices
    slots = [(i, j) for i in range(n) for j in range(i + 1, n)]
    while True:
        bits = rng.getrandbits(len(slots)) if slots else 0
        ops = (INPUT,) + tuple(OPS[rng.randrange(len(OPS))] for _ in range(n - 2)) + (OUTPUT,)
        if bin(bits).count("1") > MAX_EDGES:
            continue
        m = [[0] * n for _ in range(n)]
        for k, (i, j) in enumerate(slots):
            if bits >> k & 1:
                m[i][j] = 1
        m = tuple(map(tuple, m))
        if not all(_on_path(m)):
            continue
        c = Cell(m, ops)
        if rng.random() * labellings(c) < 1.0:
            return c


def sample(n: int, seed: int, exclude: Iterable = (), sampler=None) -> list[Cell]:
    """n cells with distinct module hashes, none isomorphic to a cell in ``exclude``: the
    first n distinct cells of the stream ``sampler(random.Random(seed))`` (default
    `uniform_cell`: uniform over the unique cells), so a larger n extends a smaller one
    (same seed and exclude). Each cell is returned in the labelling it was drawn in."""
    sampler = uniform_cell if sampler is None else sampler
    if n < 0:
        raise ArchError(f"cannot sample {n} architectures")
    if n > NUM_UNIQUE:
        raise ArchError(f"cannot sample {n} architectures from NB101's {NUM_UNIQUE} unique cells")
    seen = {module_hash(a) for a in map(as_arch, exclude)}
    rng, out = random.Random(seed), []
    while len(out) < n:
        c = sampler(rng)
        h = module_hash(c)
        if h not in seen:
            seen.add(h)
            out.append(c)
    return out
