"""NAS-Bench-201 cell encoding: the official string, op indices, enumeration,
isomorphism classes and sampling.

A cell has 4 nodes; node j sums one operation applied to every earlier node.
The official string lists the 6 edges node by node:
    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
An architecture is held as a tuple of 6 op indices in that edge order.
"""

from __future__ import annotations

import functools
import itertools
import random
from typing import Iterable, Sequence

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) for each position of the op tuple, in string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4
NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625
NUM_UNIQUE = 6466

Arch = tuple  # tuple[int, ...] of length 6


from .base import ArchError  # noqa: E402  (one error type for every space)


def parse(text: str) -> Arch:
    """Official string -> op-index tuple, with a precise error for bad input."""
    if not isinstance(text, str):
        raise ArchError(f"NB201 architecture must be a string, got {type(text).__name__}")
    s = text.strip()
    groups = s.split("+")
    if len(groups) != NUM_NODES - 1:
        raise ArchError(f"malformed NB201 string {text!r}: expected 3 node groups joined by '+', "
                        f"got {len(groups)}")
    ops = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|") and len(group) > 2):
            raise ArchError(f"malformed NB201 string {text!r}: node {node} group {group!r} "
                            "must look like |op~0|...|")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise ArchError(f"malformed NB201 string {text!r}: node {node} needs {node} edge(s), "
                            f"got {len(entries)}")
        for src, entry in enumerate(entries):
            name, sep, frm = entry.partition("~")
            if not sep or frm != str(src):
                raise ArchError(f"malformed NB201 string {text!r}: edge {entry!r} of node {node} "
                                f"must be 'op~{src}'")
            if name not in OPS:
                raise ArchError(f"unknown NB201 op {name!r} in {text!r}; valid ops: {', '.join(OPS)}")
            ops.append(OPS.index(name))
    return tuple(ops)


def check(arch: Sequence[int]) -> Arch:
    arch = tuple(int(a) for a in arch)
    if len(arch) != len(EDGES) or any(not 0 <= a < len(OPS) for a in arch):
        raise ArchError(f"NB201 op tuple must have {len(EDGES)} entries in 0..{len(OPS) - 1}, got {arch}")
    return arch


def to_str(arch: Sequence[int]) -> str:
    arch = check(arch)
    groups, k = [], 0
    for node in range(1, NUM_NODES):
        groups.append("|" + "|".join(f"{OPS[arch[k + i]]}~{i}" for i in range(node)) + "|")
        k += node
    return "+".join(groups)


def to_index(arch: Sequence[int]) -> int:
    """Base-5 number of the op tuple (first edge most significant): 0..15624."""
    idx = 0
    for a in check(arch):
        idx = idx * len(OPS) + a
    return idx


def from_index(idx: int) -> Arch:
    if not 0 <= idx < NUM_ARCHS:
        raise ArchError(f"NB201 index must be in 0..{NUM_ARCHS - 1}, got {idx}")
    digits = []
    for _ in EDGES:
        idx, d = divmod(idx, len(OPS))
        digits.append(d)
    return tuple(reversed(digits))


def all_archs() -> list[Arch]:
    return list(itertools.product(range(len(OPS)), repeat=len(EDGES)))


def as_arch(value) -> Arch:
    """Accept an official string, an op tuple or an index."""
    if isinstance(value, str):
        return parse(value)
    if isinstance(value, int):
        return from_index(value)
    return check(value)


def _feeds_output(arch: Arch) -> set[int]:
    """Nodes with a path of non-'none' edges to the output node (the output included)."""
    feeds = {NUM_NODES - 1}
    for pos in reversed(range(len(EDGES))):
        to, frm = EDGES[pos]
        if arch[pos] != 0 and to in feeds:
            feeds.add(frm)
    return feeds


@functools.lru_cache(maxsize=None)
def computed_edges(arch: Arch) -> tuple[int, ...]:
    """Positions of the edges a network computes: every non-'none' op whose target
    node feeds the output. As in NB201's own networks, an op whose source node has
    only 'none' inputs is computed on zeros (a ReLU-Conv-BN of zeros gives BN's
    bias); ops that cannot reach the output are skipped, which changes nothing."""
    feeds = _feeds_output(arch)
    return tuple(pos for pos, (to, frm) in enumerate(EDGES) if arch[pos] != 0 and to in feeds)


def is_connected(arch: Arch) -> bool:
    """False when no path of non-'none' edges carries the input to the output."""
    reach = {0}
    for pos, (to, frm) in enumerate(EDGES):
        if arch[pos] != 0 and frm in reach:
            reach.add(to)
    return NUM_NODES - 1 in reach


@functools.lru_cache(maxsize=None)
def canonical(arch: Arch) -> str:
    """The isomorphism key that defines NB201's 6,466 unique cells.

    Each node is written as the sorted '+'-join of its incoming terms: a skip
    connection passes its source's expression through, another op wraps it as
    '(src)@op', and a 'none' edge or a source that is exactly zero ('#') gives '#'.
    Nodes that do not feed the output never appear in the key, so dead-end edges
    are merged. This follows the benchmark's own convention (so the class count
    matches the published 6,466) rather than full algebraic simplification: for
    instance an op applied to a node whose inputs are all 'none' is kept.
    """
    arch = check(arch)
    nodes = ["0"]
    for node in range(1, NUM_NODES):
        terms = []
        for pos, (to, frm) in enumerate(EDGES):
            if to != node:
                continue
            op, src = OPS[arch[pos]], nodes[frm]
            if op == "none" or src == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(src)
            else:
                terms.append(f"({src})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


@functools.lru_cache(maxsize=1)
def unique_archs() -> tuple[Arch, ...]:
    """One representative (the lowest index) per isomorphism class, by index."""
    seen: dict = {}
    for arch in all_archs():
        seen.setdefault(canonical(arch), arch)
    return tuple(sorted(seen.values(), key=to_index))


def representative(arch: Arch) -> Arch:
    """The class representative of ``arch`` as listed by unique_archs()."""
    return _rep_by_key()[canonical(check(arch))]


@functools.lru_cache(maxsize=1)
def _rep_by_key() -> dict:
    return {canonical(a): a for a in unique_archs()}


def sample(n: int, seed: int, unique: bool = True, exclude: Iterable[Arch] = ()) -> list[Arch]:
    """n distinct architectures drawn uniformly without replacement by a seeded
    shuffle, from the unique cells by default. A larger n extends a smaller one
    (same seed), so a build can grow without retraining what it has."""
    excluded = set(map(tuple, exclude))
    pool = [a for a in (unique_archs() if unique else all_archs()) if a not in excluded]
    if n > len(pool):
        raise ArchError(f"cannot sample {n} architectures from a pool of {len(pool)}")
    random.Random(seed).shuffle(pool)
    return pool[:n]
