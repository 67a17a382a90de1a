"""NAO (Luo et al. 2018) over a weight-sharing super-net, as the official landmark code
runs it (`NAOSearchPolicy`, nao_search_policy.py; docs/fidelity.md cites each rule):

  epoch < train.warmup_epochs   one uniformly drawn path per step (`random_sampler`);
  after                         one path drawn uniformly from the child-architecture pool,
                                which starts as `seed_archs` random cells;
  round epochs                  after the epoch's training (warm-up end, then every
                                `round_every` epochs): score the pool by the super-net on
                                held-out batches, train the controller (nao_controller.py)
                                on (sequence, min-max normalised accuracy), generate new
                                cells by gradient steps in its embedding space and update
                                the pool (`pool_update`).

The landmark loss is the shared loop's, on the super-net weights: the controller is a
separate module with its own optimiser, never part of the model. The search after
training is the official `post_search_phase`: one more generation from the final pool,
the candidates scored by the super-net, the best returned (no regularised evolution).

An architecture enters the controller as a token sequence of the space's encoding
(`ENCODINGS`): tokens 1..vocab-1, 0 being the decoder's start symbol. The pool holds the
encoding's raw architectures (NB201: the cell itself; NB101: the official 26-position list;
DARTS: the official 32-integer (input, op) list), `to_cell` gives the cell the super-net runs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lmreg.algorithms.base import SuperNetTrainer
from lmreg.algorithms.nao_controller import Controller, ControllerSizes, train_controller
from lmreg.algorithms.scoring import _bn_mode
from lmreg.core.errors import ConfigError
from lmreg.spaces import darts, nb101, nb201
from lmreg.spaces.base import ArchError

POOL_UPDATES = ("all", "top", "replace")
ROUND_SCORINGS = ("official", "aligned")
DECODE_RULES = ("official", "any_op")
ROUND_FIELDS = ("scored", "train_pairs", "new", "pool", "controller_loss", "controller_mse", "controller_nll",
                "seconds")


def official_op_positions(num_nodes: int) -> list[int]:
    """Official `compute_op_ids` (utils_for_nasbench.py): the positions of the op tokens in
    NB101's sequence of a cell of num_nodes vertices (1, 4, 8, 13, 19 for 7 vertices)."""
    positions, offset = [], 0
    for i in range(1, num_nodes - 1):
        offset += i + 1
        positions.append(offset - 1)
    return positions


class NB201Encoding:
    """NB201 (official utils_for_nasbench201.py): the op index on each of the 6 edges in
    official edge order, plus 1; vocabulary 1 + 5 ops.

    decode "official": the official NB201 controller (`NAO_Nasbench201`) is built with
    NB101's decoder (`DecoderNASbench`, asserting vocab 6), which at NB101's op positions
    (`compute_op_ids(4 + 2)`: 1, 4, 8, 13, of which 1 and 4 fall in 6 tokens) emits only tokens 3..5 (nor_conv_1x1, nor_conv_3x3,
    avg_pool_3x3) and elsewhere only tokens 1..2 (none, skip_connect); "any_op": every
    position may emit every op (the unused `DecoderNASbench201`)."""

    augment = None  # declared absent: the official augmentation copies these sequences (utils.py:668-670)

    vocab, length = 6, 6

    def __init__(self, decode: str = "official"):
        self.op_positions = set(official_op_positions(4 + 2)) if decode == "official" else None

    def to_seq(self, arch) -> list[int]:
        return [op + 1 for op in arch]

    @staticmethod
    def to_cell(arch):
        return arch

    @staticmethod
    def random(space, rng: random.Random, draw=None):
        """Official `generate_arch`: a uniform draw over the space (`random_topology`), or over
        the table's cells with `draw` (train.path_sampler = table)."""
        return (draw or space.sample_path)(rng)

    def to_arch(self, seq) -> tuple:
        return tuple(int(t) - 1 for t in seq)

    @staticmethod
    def valid(arch) -> bool:
        """Official `check_valid` of a generated cell (NB201's CellStructure.check_valid): some
        path of non-'none' ops leads from the input to the output node."""
        live = {0: True}
        for (dst, src), op in zip(nb201.EDGES, arch):
            live[dst] = live.get(dst, False) or (op != 0 and live[src])
        return live.get(3, False)

    def allowed(self, position: int) -> range:
        if self.op_positions is None:
            return range(1, 6)
        return range(3, 6) if position in self.op_positions else range(1, 3)


class _DecodedCell:
    """`valid` for encodings whose `to_cell` raises ArchError on a sequence that is not a cell
    of the space (DARTS: the official `check_valid` holds for every decoded sequence; ours also
    needs the ops in the space's set)."""

    def valid(self, arch) -> bool:
        try:
            self.to_cell(arch)
        except ArchError:
            return False
        return True


class NB101Encoding(_DecodedCell):
    """NB101 with 5 intermediate vertices (official `NASBench101NAOParsing`, nao.sh `node=5`):
    for vertex i = 1..6 the bits of its incoming edges from vertices 0..i-1, then (i < 6) its
    op index; 26 positions, the ops at `compute_op_ids(7)` = 1, 4, 8, 13, 19. Tokens: bits + 1
    (1..2), ops + 3 (3..5); the decoder (`DecoderNASbench`) emits only those at each position,
    whatever `algo.decode` says. The pool holds these raw sequences; a cell is their pruned
    NB101 cell, valid when NB101 accepts it (official `check_valid`: the spec is in the table)."""

    augment = None  # declared absent: the official augmentation copies these sequences (utils.py:668-670)

    vocab, length, vertices = 6, 26, 7

    def __init__(self, decode: str = "official"):
        self.op_positions = official_op_positions(self.vertices)
        self._cells: dict = {}

    def to_seq(self, arch) -> list[int]:
        return [v + 3 if i in self.op_positions else v + 1 for i, v in enumerate(arch)]

    def to_arch(self, seq) -> tuple:
        return tuple(int(t) - 3 if i in self.op_positions else int(t) - 1 for i, t in enumerate(seq))

    def allowed(self, position: int) -> range:
        return range(3, 6) if position in self.op_positions else range(1, 3)

    def matrix_ops(self, arch) -> tuple[list, list]:
        """Official `parse_arch_to_model_spec`."""
        n = self.vertices
        matrix = [[0] * n for _ in range(n)]
        bounds = [-1] + self.op_positions + [len(arch)]
        for i in range(1, n):
            for src, bit in enumerate(arch[bounds[i - 1] + 1: bounds[i]]):
                matrix[src][i] = bit
        ops = [nb101.INPUT] + [nb101.OPS[arch[p]] for p in self.op_positions] + [nb101.OUTPUT]
        return matrix, ops

    def from_cell(self, cell) -> tuple:
        """Official `parse_model_spec_to_arch` of a 7-vertex cell."""
        arch = []
        for i in range(1, self.vertices):
            arch += [cell.matrix[src][i] for src in range(i)]
            if i < self.vertices - 1:
                arch.append(nb101.OPS.index(cell.ops[i]))
        return tuple(arch)

    def to_cell(self, arch):
        if arch not in self._cells:
            self._cells[arch] = nb101.cell(*self.matrix_ops(arch))
        return self._cells[arch]

    def random(self, space, rng: random.Random, draw=None):
        """Official `generate_arch`: a uniform draw over the table's cells, kept when it has
        all 7 vertices (so: uniform over the 7-vertex cells; over a table of ours, `draw`,
        the same by redrawing)."""
        if draw is None:
            return self.from_cell(nb101.uniform_cell(rng, vertices=self.vertices))
        for _ in range(100_000):
            cell = draw(rng)
            if cell.num_vertices == self.vertices:
                return self.from_cell(cell)
        raise ValueError(f"the table holds no (or almost no) {self.vertices}-vertex cell for NAO's random cells")


class DartsEncoding(_DecodedCell):
    """DARTS cells (official `NAOParsingDarts`, utils_for_darts.py; B = 4 intermediate nodes,
    nao.sh `node=4`). The raw architecture (what the pool holds) is the official `arch`: for
    the normal then the reduce cell, for each node 2..5 its two pairs as (input, op index),
    flattened: 2 * 4 * 4 = 32 integers, inputs 0..k-1 for node k, op indices in DARTS's 8
    `PRIMITIVES` (none first). Its sequence keeps the layout: input + 1 (1..5), op + 2 + B
    (6..13); vocabulary 2 + 8 + B = 14, token 0 the start symbol. The decoder (`DecoderDarts`)
    emits at an input position of node i (0..3 in its cell) tokens 1..i+2, at an op position
    the op tokens; on `darts-nds` the op tokens of its 7 ops (7..13: the official decoder
    also allows token 6, 'none', which no NDS genotype or super-net of ours has). A cell is
    the pairs with the full concat 2..5 (official `parse_arch_to_model_spec` drops the
    genotype's concat); `algo.decode` is not read."""

    nodes = darts.NODES
    ops = darts.OPS
    vocab = 2 + len(darts.OPS) + darts.NODES
    length = len(darts.CELL_TYPES) * darts.NODES * 4

    def __init__(self, decode: str = "official"):
        self.op_tokens = range(2 + self.nodes + darts.OPS.index(self.ops[0]), self.vocab)
        self._cells: dict = {}

    def to_seq(self, arch) -> list[int]:
        return [v + 2 + self.nodes if i % 2 else v + 1 for i, v in enumerate(arch)]

    def to_arch(self, seq) -> tuple:
        return tuple(int(t) - (2 + self.nodes) if i % 2 else int(t) - 1 for i, t in enumerate(seq))

    def allowed(self, position: int) -> range:
        """Official `DecoderDarts.decoder_outputs_to_symbols`: input positions of node
        i = position % 16 // 4 take tokens 1..i+2, op positions the op tokens."""
        if position % 2:
            return self.op_tokens
        return range(1, position % (4 * self.nodes) // 4 + 3)

    @staticmethod
    def from_pairs(normal, reduce) -> tuple:
        """Official `parse_model_spec_to_arch`: the (op, input) pairs of each cell in the
        order given, as (input, op index)."""
        return tuple(v for pairs in (normal, reduce) for op, inp in pairs for v in (inp, darts.OPS.index(op)))

    def from_cell(self, genotype) -> tuple:
        """The arch of a Genotype (its canonical pair order; see `from_pairs` for another)."""
        return self.from_pairs(genotype.normal, genotype.reduce)

    def to_cell(self, arch):
        """Official `parse_arch_to_model_spec`: pairs (op, input), concat every intermediate
        node; an ArchError for an op outside the space."""
        if arch not in self._cells:
            half = len(arch) // 2
            cells = [[(darts.OPS[c[i + 1]], c[i]) for i in range(0, half, 2)] for c in (arch[:half], arch[half:])]
            self._cells[arch] = darts.check(darts.Genotype(cells[0], darts.FULL_CONCAT, cells[1], darts.FULL_CONCAT),
                                            self.ops)
        return self._cells[arch]

    def random(self, space, rng: random.Random, draw=None):
        """Official `generate_arch` draws a genotype of the NDS table (`random_topology`): with
        `draw` (train.path_sampler = table) a cell of the run's table; without, the space's
        `sample_path` (a fresh uniform genotype of its ops)."""
        return self.from_cell((draw or space.sample_path)(rng))

    def augment(self, seq, rng: random.Random) -> list:
        """Official `augmentation` (utils_for_darts.py:22-32), applied to the sequences of the
        repeated training pairs: in each cell one node drawn uniformly has its two (input, op)
        pairs swapped."""
        seq = list(seq)
        half = len(seq) // 2
        for cell in range(2):
            start = cell * half + 4 * rng.randrange(half // 4)
            seq[start:start + 4] = seq[start + 2:start + 4] + seq[start:start + 2]
        return seq


class NDSDartsEncoding(DartsEncoding):
    """`darts-nds`: the same tokens; its 7 ops (no 'none'), so op tokens 7..13."""

    ops = darts.NDS_OPS


# space name -> its sequence encoding (constructed with the decode rule)
ENCODINGS = {"nb201": NB201Encoding, "nb101": NB101Encoding, "darts": DartsEncoding, "darts-nds": NDSDartsEncoding}


@dataclass(frozen=True)
class NAOOptions:
    seed_archs: int = 100        # official controller_seed_arch
    new_archs: int = 300         # controller_new_arch
    random_archs: int = 400      # controller_random_arch
    pool_update: str = "all"     # NB201: all (no discard/replace); NB101 and DARTS: top (controller_discard)
    keep_top: int = 100          # the official hard-coded top 100 (kept by "top", seeds of generation)
    round_every: int = 40        # child_stand_alone_epoch: epochs between controller rounds
    round_scoring: str = "official"
    decode: str = "official"
    controller_epochs: int = 1000
    controller_batch_size: int = 100
    controller_lr: float = 1e-3
    controller_weight_decay: float = 1e-4  # controller_l2_reg
    trade_off: float = 0.8
    controller_grad_bound: float = 5.0
    expand: int = 8              # controller_expand: the training split repeated this often
    train_ratio: float = 0.9     # ratio: the training split of the scored pool
    max_step_size: int = 50      # generation stops after step size max_step_size + 1
    hidden: int = 16
    mlp_hidden: int = 64
    mlp_layers: int = 2
    dropout: float = 0.1

    def __post_init__(self):
        for key, valid in (("pool_update", POOL_UPDATES), ("round_scoring", ROUND_SCORINGS),
                           ("decode", DECODE_RULES)):
            if getattr(self, key) not in valid:
                raise ValueError(f"unknown algo.{key} {getattr(self, key)!r}; valid: {', '.join(valid)}")
        for key in ("seed_archs", "round_every", "controller_batch_size", "expand", "keep_top",
                    "hidden", "mlp_hidden", "mlp_layers"):
            if getattr(self, key) < 1:
                raise ValueError(f"algo.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("new_archs", "random_archs", "controller_epochs", "max_step_size"):
            if getattr(self, key) < 0:
                raise ValueError(f"algo.{key} must be >= 0, got {getattr(self, key)}")
        if not 0 < self.train_ratio <= 1 or not 0 <= self.trade_off <= 1 or not 0 <= self.dropout < 1:
            raise ValueError("need 0 < algo.train_ratio <= 1, 0 <= algo.trade_off <= 1, 0 <= algo.dropout < 1")


def round_epochs(warmup: int, every: int, epochs: int) -> list[int]:
    """The epochs after whose training a controller round runs: official
    `generate_eval_points(supernet_warmup_epoch, child_stand_alone_epoch, epochs)` is
    warmup, warmup + every, ... (<= epochs) plus epochs itself, of which the loop over
    range(epochs) reaches those below epochs."""
    return list(range(warmup, epochs, every))


def official_chunks(n_batches: int, n_archs: int) -> list[tuple[int, list[int]]]:
    """Official `child_valid`: per = max(n_batches // n_archs, 1) batches per architecture;
    batches accumulate, and at every step s > 0 with s % per == 0 architecture s // per is
    scored on them. Architecture 0 is never scored; the first scored one gets per + 1
    batches; architectures beyond the batches are not scored."""
    per = max(n_batches // n_archs, 1)
    chunks, batch = [], []
    for step in range(n_batches):
        batch.append(step)
        if step % per == 0 and step > 0:
            arch = step // per
            if arch > n_archs - 1:
                break
            chunks.append((arch, batch))
            batch = []
    return chunks


def ranked_pool(pool: list, scores: list[float]) -> tuple[list, list[float]]:
    """Official: old_archs = [pool[i] for i in argsort(scores)[::-1]], the scores sorted
    alike. scores[k] need not belong to pool[k] (see `official_chunks`): the pool is
    indexed by positions in the score list, so it keeps len(scores) architectures."""
    order = np.argsort(scores)[::-1]
    return [pool[i] for i in order], [scores[i] for i in order]


def expand_split(seqs: list, targets: list, ratio: float, expand: int, rng: random.Random, augment=None):
    """Official `expand_controller`: shuffle the pairs, the first int(n * ratio) train, the
    rest validate; the training pairs repeated `expand` times in all, each repetition after
    the first passed through the encoding's `augment(seq, rng)` where it has one (DARTS;
    NB201/NB101: none, the plain repeats)."""
    pairs = list(zip(seqs, targets))
    rng.shuffle(pairs)
    split = int(len(pairs) * ratio)
    first, valid = pairs[:split], pairs[split:]
    if augment is None:
        return first * expand, valid
    return first + [(augment(s, rng), t) for _ in range(expand - 1) for s, t in first], valid


def update_pool(ranked: list, new: list, random_archs: list, rule: str, keep_top: int) -> list:
    """Official pool update, duplicates dropped keeping the first (the `child_arch_pool`
    setter): "all" old + new + random; "top" (controller_discard) the best keep_top old +
    new + random; "replace" the old without the last len(new) + len(random), then both."""
    if rule == "top":
        merged = ranked[:keep_top] + new + random_archs
    elif rule == "replace":
        merged = ranked[:max(len(ranked) - (len(new) + len(random_archs)), 0)] + new + random_archs
    else:
        merged = ranked + new + random_archs
    return list(dict.fromkeys(merged))


class NAO(SuperNetTrainer):
    options_type = NAOOptions
    supports_distributed = False  # the pool rounds score on one process
    host_syncs_per_step = False

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.space not in ENCODINGS:
            raise ConfigError(f"algorithm nao needs a space with an architecture sequence encoding "
                              f"({', '.join(sorted(ENCODINGS))}); {cfg.space} has none")

    @classmethod
    def extra_costs(cls, cfg) -> dict[str, int]:
        return {"round": len(round_epochs(cfg.train.warmup_epochs, cfg.algo.round_every, cfg.train.epochs))}

    # one controller round, at the warm-up's end (the default 40 epochs to the next)
    table_paths = True  # its pool's seed and random cells (generate_arch) come from the table
    smoke_overrides = ("algo.seed_archs=10", "algo.new_archs=5", "algo.random_archs=5", "algo.controller_epochs=2")

    def __init__(self, model, task, cfg, seed, space, regularizer=None, options=None, path_archs=None):
        super().__init__(model, task, cfg, seed, space, regularizer, options, path_archs)
        # seed and random pool cells from the table with train.path_sampler = table (official
        # generate_arch: random_topology); warm-up paths stay the space's (random_topology_random_nas)
        self.table_draw = self.path_sampler if cfg.path_sampler == "table" else None
        o = self.options
        self.encoding = ENCODINGS[space.name](o.decode)
        sizes = ControllerSizes(self.encoding.vocab, self.encoding.length, o.hidden, o.mlp_hidden,
                                o.mlp_layers, o.dropout)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 8)
            self.controller = Controller(sizes)  # on the CPU: a tiny LSTM, sequences of a few tokens
        self.nao_rng = random.Random(seed + 9)                         # random cells, the split shuffle
        self.controller_gen = torch.Generator().manual_seed(seed + 10)  # controller batch order
        self.round_gen = torch.Generator().manual_seed(seed + 11)       # held-out batches of the rounds
        self.pool = self.random_archs(o.seed_archs)
        self.rounds: list[dict] = []
        self.rounds_at = set(round_epochs(cfg.warmup_epochs, o.round_every, cfg.epochs))

    def random_archs(self, n: int) -> list:
        """Official `generate_arch`: n uniform draws over the space, duplicates dropped."""
        return list(dict.fromkeys(self.encoding.random(self.space, self.nao_rng, self.table_draw)
                                  for _ in range(n)))

    def forward_backward(self, x, y, epoch):
        if epoch < self.cfg.warmup_epochs:
            arch = self.space.sample_path(self.path_rng)
        else:
            arch = self.encoding.to_cell(self.pool[self.path_rng.randrange(len(self.pool))])
        logits = self.model(x, arch)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    def end_epoch(self, epoch: int) -> dict:
        # the round's summary joins the epoch's curve; NaN in the other epochs, since the
        # record's curve table has the columns of every epoch
        summary = dict.fromkeys(ROUND_FIELDS, float("nan"))
        if epoch in self.rounds_at:
            self.controller_round(epoch)
            summary = self.rounds[-1]
        return {f"round_{k}": summary[k] for k in ROUND_FIELDS}

    # One controller round ------------------------------------------------------------
    @torch.no_grad()
    def score_pool(self, pool: list) -> tuple[list, list[float]]:
        """Super-net accuracy (%) of pool architectures on one shuffled pass of held-out
        batches (training transform, BN batch statistics), split between them
        (`round_scoring`: "official" as `child_valid` does, see `official_chunks`; "aligned":
        architecture k on its own share). Returns (pool ranked by score, sorted scores)."""
        task, cfg = self.task, self.cfg
        batches = list(task.batches("valid", cfg.batch_size, self.round_gen, shuffle=True,
                                    train_augment=cfg.landmark_augment))
        if self.options.round_scoring == "official":
            chunks = official_chunks(len(batches), len(pool))
        else:
            per = max(len(batches) // len(pool), 1)
            chunks = [(k, [(k * per + j) % len(batches) for j in range(per)]) for k in range(len(pool))]
        scores = []
        with _bn_mode(self.model, "batch"):
            for arch_index, batch_ids in chunks:
                cell = self.encoding.to_cell(pool[arch_index])
                correct, seen = 0, 0
                for b in batch_ids:
                    x, y = batches[b]
                    correct += int((self.model(x, cell).argmax(1) == y).sum())
                    seen += len(y)
                scores.append(100.0 * correct / seen)
        self.model.train()
        return ranked_pool(pool, scores)

    def generate(self, seeds: list, exclude_seqs: list, n_new: int) -> list:
        """Official `nao_generate_new_archs`: from the sequences of `seeds`, step sizes
        1, 2, ... up to max_step_size + 1, collect decoded cells that are valid (`must_in_search_space`), not among
        exclude_seqs (the official test compares a cell with the pool's *sequences*) nor
        collected yet, until n_new."""
        if not seeds or n_new == 0:
            return []
        x = torch.tensor([self.encoding.to_seq(a) for a in seeds], dtype=torch.long)
        excluded = {tuple(s) for s in exclude_seqs}
        new: list = []
        step = 0
        while len(new) < n_new:
            step += 1
            for seq in self.controller.generate(x, float(step), self.encoding.allowed).tolist():
                arch = self.encoding.to_arch(seq)
                if arch not in excluded and arch not in new and self.encoding.valid(arch):
                    new.append(arch)
                if len(new) >= n_new:
                    break
            if step > self.options.max_step_size:
                break
        return new

    def grow_pool(self, ranked: list) -> tuple[list, int]:
        """Generate from the best keep_top, drop cells already in the pool, add random cells,
        update the pool by the rule; returns (pool, number of new cells)."""
        o = self.options
        seqs = [self.encoding.to_seq(a) for a in ranked]
        old = set(ranked)
        new = [a for a in self.generate(ranked[:o.keep_top], seqs, o.new_archs) if a not in old]
        return update_pool(ranked, new, self.random_archs(o.random_archs), o.pool_update, o.keep_top), len(new)

    def controller_round(self, epoch: int) -> None:
        o = self.options
        start = time.perf_counter()
        ranked, scores = self.score_pool(self.pool)
        lo, hi = min(scores), max(scores)
        # official: (s - min) / (max - min), which divides by zero when every score is equal
        targets = [(s - lo) / (hi - lo) if hi > lo else 0.0 for s in scores]
        seqs = [self.encoding.to_seq(a) for a in ranked]
        train, _valid = expand_split(seqs, targets, o.train_ratio, o.expand, self.nao_rng,
                                     self.encoding.augment)
        losses = {"loss": float("nan"), "mse": float("nan"), "nll": float("nan")}
        if train:
            losses = train_controller(self.controller, [s for s, _ in train], [t for _, t in train],
                                      epochs=o.controller_epochs, batch_size=o.controller_batch_size,
                                      lr=o.controller_lr, weight_decay=o.controller_weight_decay,
                                      trade_off=o.trade_off, grad_bound=o.controller_grad_bound,
                                      gen=self.controller_gen)
        self.pool, n_new = self.grow_pool(ranked)
        self.rounds.append({"epoch": epoch, "scored": len(scores), "train_pairs": len(train), "new": n_new,
                            "pool": len(self.pool), **{f"controller_{k}": v for k, v in losses.items()},
                            "seconds": time.perf_counter() - start})

    # The search after training ------------------------------------------------------
    def search_candidates(self, known: set[str]) -> tuple[str, list]:
        """Official `post_search_phase`: one more generation from the final pool (its first
        keep_top cells seed it), updated by the pool rule; the runner scores the candidates
        by the super-net and returns the best. Only candidates whose cell has ground truth
        count, each as its table key (the class representative on NB201)."""
        pool, _ = self.grow_pool(list(self.pool))
        keep = {}
        for arch in pool:
            rep = self.space.representative(self.encoding.to_cell(arch))
            if self.space.key(rep) in known:
                keep.setdefault(self.space.key(rep), rep)
        return f"NAO post-search pool ({len(pool)} cells, {len(keep)} with GT)", list(keep.values())

    def extra_state(self) -> dict:
        return {"controller": self.controller.state_dict(), "pool": [list(a) for a in self.pool],
                "rounds": list(self.rounds), "nao_rng": self.nao_rng.getstate(),
                "controller_gen": self.controller_gen.get_state(), "round_gen": self.round_gen.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.pool = [tuple(a) for a in state["pool"]]
        self.rounds = list(state["rounds"])
        self.nao_rng.setstate(state["nao_rng"])
        self.controller_gen.set_state(state["controller_gen"])
        self.round_gen.set_state(state["round_gen"])
