"""NAO (algorithms/nao.py, nao_controller.py): each rule against values worked by hand
from the official definitions (nasws/cnn/policy/nao_policy/, docs/fidelity.md)."""

from __future__ import annotations

import random

import pytest
import torch

from lmreg.algorithms.base import TrainConfig
from lmreg.algorithms.landmark_reg import LandmarkConfig, LandmarkRegularizer
from lmreg.algorithms.nao import (NAO, NAOOptions, NB201Encoding, expand_split, official_chunks,
                                  official_op_positions, ranked_pool, round_epochs, update_pool)
from lmreg.algorithms.nao_controller import Controller, ControllerSizes, decoder_inputs, train_controller
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig
from lmreg.spaces.nb201_space import SPACE
from tests.fixtures import tiny_task

SMALL = NAOOptions(seed_archs=12, new_archs=4, random_archs=3, controller_epochs=2, round_every=1)


def _trainer(options=SMALL, reg=None, epochs=3, warmup=1):
    torch.manual_seed(0)
    net = NB201Net(NetConfig(C=4, N=1, in_channels=1, cell="per_edge"))
    return NAO(net, tiny_task(32, 16), TrainConfig(epochs=epochs, warmup_epochs=warmup, batch_size=4), 0, SPACE,
               reg, options)


def test_controller_has_the_official_nb201_sizes():
    """Parameters of the official NB201 controller (vocab 6, hidden 16, MLP 2 x 64), counted by
    hand: encoder = embedding 6*16 + bidirectional LSTM 2*(4*16*(16+16) + 2*4*16) + out_proj
    32*16+16 + MLP (16*64+64) + (64*16+16) + regressor 17 = 7121; decoder = LSTM 2176 +
    embedding 96 + attention 16*16 + 32*16 + out 16*6+6 = 3142."""
    c = Controller(ControllerSizes(vocab=6, length=6))
    assert sum(p.numel() for p in c.encoder.parameters()) == 7121
    assert sum(p.numel() for p in c.decoder.parameters()) == 3142


def test_official_op_positions_and_the_nb201_decode_rules():
    """compute_op_ids(n): offsets 2, 5, 9, ... minus 1 for i = 1..n-2, so (7) = 1, 4, 8, 13, 19
    (NB101, 5 intermediate nodes); the NB201 controller calls it with 4 + 2 = 6 (1, 4, 8, 13):
    of its 6 positions, 1 and 4 decode among tokens 3..5, the others among 1..2."""
    assert official_op_positions(7) == [1, 4, 8, 13, 19]
    assert official_op_positions(6) == [1, 4, 8, 13]
    c = Controller(ControllerSizes(vocab=6, length=6))
    with torch.no_grad():  # logits = token index at every step: the largest allowed token wins
        c.decoder.out.weight.zero_()
        c.decoder.out.bias.copy_(torch.arange(6.0))
    seqs = torch.tensor([[1, 2, 3, 4, 5, 1]])
    assert c.generate(seqs, 1.0, NB201Encoding("official").allowed).tolist() == [[2, 5, 2, 2, 5, 2]]
    assert c.generate(seqs, 1.0, NB201Encoding("any_op").allowed).tolist() == [[5] * 6]
    with torch.no_grad():
        c.decoder.out.bias.copy_(-torch.arange(6.0))  # the smallest allowed token wins; never the start symbol
    assert c.generate(seqs, 1.0, NB201Encoding("official").allowed).tolist() == [[1, 3, 1, 1, 3, 1]]


def test_nb201_sequence_is_the_op_index_plus_one():
    enc = NB201Encoding()
    assert enc.to_seq((0, 4, 2, 1, 3, 0)) == [1, 5, 3, 2, 4, 1]
    assert enc.to_arch([1, 5, 3, 2, 4, 1]) == (0, 4, 2, 1, 3, 0)


def test_generated_nb201_cells_must_connect_input_to_output():
    """CellStructure.check_valid: a non-'none' path from node 0 to node 3 (edges 1<-0, 2<-0,
    2<-1, 3<-0, 3<-1, 3<-2)."""
    valid = NB201Encoding.valid
    assert not valid((0, 0, 0, 0, 0, 0))
    assert not valid((1, 0, 0, 0, 0, 0))      # node 1 live, but nothing leaves it
    assert valid((0, 0, 0, 1, 0, 0))          # skip 3<-0
    assert valid((3, 0, 0, 0, 2, 0))          # conv 1<-0, conv 3<-1
    assert not valid((0, 0, 3, 0, 0, 4))      # 2<-1 and 3<-2 hang off a dead node 1
    assert valid((0, 4, 0, 0, 0, 4))          # pool 2<-0, pool 3<-2


def test_round_epochs_are_the_official_eval_points_below_the_last_epoch():
    """generate_eval_points(100, 40, 400) = 100, 140, ..., 380, 400; range(400) never reaches 400."""
    assert round_epochs(100, 40, 400) == [100, 140, 180, 220, 260, 300, 340, 380]
    assert round_epochs(150, 40, 400) == [150, 190, 230, 270, 310, 350, 390]
    assert round_epochs(6, 2, 16) == [6, 8, 10, 12, 14]  # the eval point 16 = epochs is never reached


def test_official_chunks_by_hand():
    """child_valid with 10 batches and 4 cells: 2 per cell; cell 1 on batches 0-2, cell 2 on
    3-4, cell 3 on 5-6; cell 0 and batches 7-9 unused. 5 batches, 10 cells: 1 per cell."""
    assert official_chunks(10, 4) == [(1, [0, 1, 2]), (2, [3, 4]), (3, [5, 6])]
    assert official_chunks(5, 10) == [(1, [0, 1]), (2, [2]), (3, [3]), (4, [4])]


def test_ranked_pool_indexes_the_pool_by_score_positions():
    """Scores of cells b, c, d (10, 30, 20) rank positions 1, 2, 0: the pool becomes [b, c, a]."""
    ranked, scores = ranked_pool(["a", "b", "c", "d"], [10.0, 30.0, 20.0])
    assert ranked == ["b", "c", "a"] and scores == [30.0, 20.0, 10.0]


def test_expand_split_repeats_the_training_pairs():
    seqs, targets = [[i] for i in range(10)], [i / 10 for i in range(10)]
    train, valid = expand_split(seqs, targets, 0.9, 8, random.Random(0))
    assert len(train) == 72 and len(valid) == 1
    assert train[:9] * 8 == train and sorted(train[:9] + valid) == sorted(zip(seqs, targets))


def test_pool_updates_by_hand():
    ranked, new, rand = ["a", "b", "c", "d"], ["e", "a"], ["f", "b"]
    assert update_pool(ranked, new, rand, "all", 100) == ["a", "b", "c", "d", "e", "f"]
    assert update_pool(ranked, new, rand, "top", 2) == ["a", "b", "e", "f"]
    assert update_pool(ranked, new, rand, "replace", 100) == ["a", "b", "f"][:0] + ["e", "a", "f", "b"]


def test_decoder_inputs_start_with_the_start_symbol():
    assert decoder_inputs(torch.tensor([[3, 4, 5]])).tolist() == [[0, 3, 4]]


def test_a_gradient_step_raises_the_predicted_value():
    """The official direction '+': a small step along d value / d outputs raises the predictor's
    value of the moved embedding (first order; the normalisation is a smooth map)."""
    torch.manual_seed(1)
    c = Controller(ControllerSizes(vocab=6, length=6))
    seqs = torch.randint(1, 6, (20, 6))
    with torch.no_grad():
        c.eval()
        before = c.encoder.predict(c.encoder.embed(c.encoder.outputs(seqs)))
        after = c.encoder.predict(c.encoder.embed(c.moved_outputs(seqs, 0.05)))
    assert (after > before).all()


def test_controller_training_fits_the_targets():
    """Targets = the fraction of convolutions in the cell: after training, the predictor's
    MSE has fallen well below that of the untrained controller."""
    torch.manual_seed(2)
    c = Controller(ControllerSizes(vocab=6, length=6))
    seqs = [[random.Random(i).randrange(1, 6) for _ in range(6)] for i in range(40)]
    targets = [sum(t in (3, 4) for t in s) / 6 for s in seqs]
    kw = dict(batch_size=100, lr=1e-2, weight_decay=1e-4, trade_off=0.8, grad_bound=5.0,
              gen=torch.Generator().manual_seed(0))
    first = train_controller(c, seqs, targets, epochs=1, **kw)["mse"]
    last = train_controller(c, seqs, targets, epochs=150, **kw)["mse"]
    assert last < 0.3 * first


def test_paths_come_from_the_pool_after_the_warm_up(monkeypatch):
    t = _trainer(reg=None, epochs=3, warmup=1)
    seen = []
    forward = t.model.forward
    monkeypatch.setattr(t.model, "forward", lambda x, arch: seen.append(arch) or forward(x, arch))
    t.train_epoch(0)
    warm = list(seen)
    pool = list(t.pool)
    seen.clear()
    t.rounds_at = set()  # no round: epoch 1 trains on the seed pool
    t.train_epoch(1)
    assert seen and set(seen) <= set(pool)
    assert not set(warm) <= set(pool)  # 8 uniform draws over 15,625 cells are not all among 12 pool cells


def test_the_landmark_loss_never_reaches_the_controller():
    """A regularised epoch without a round changes super-net weights, not the controller; the
    round at the warm-up's end trains the controller and refills the pool."""
    reg = LandmarkRegularizer(LandmarkConfig(m=4, schedule="constant", max_coef=10.0, landmark_warmup_epochs=0),
                              nb201.sample(4, 0), warmup_epochs=0, epochs=3)
    t = _trainer(reg=reg, epochs=3, warmup=2, options=NAOOptions(**{**SMALL.__dict__, "round_every": 5}))
    ctrl = {k: v.clone() for k, v in t.controller.state_dict().items()}
    weights = {k: v.clone() for k, v in t.model.state_dict().items()}
    curve = t.train_epoch(0)
    assert curve["landmark_loss"] > 0 or curve["violated_fraction"] == 0
    assert all(torch.equal(ctrl[k], v) for k, v in t.controller.state_dict().items())
    assert any(not torch.equal(weights[k], v) for k, v in t.model.state_dict().items())
    assert not any(p is q for p in t.controller.parameters() for q in t.model.parameters())
    pool = list(t.pool)
    curve = t.train_epoch(2)  # the round epoch
    assert any(not torch.equal(ctrl[k], v) for k, v in t.controller.state_dict().items())
    assert t.pool != pool and t.rounds[-1]["epoch"] == 2
    assert curve["round_pool"] == len(t.pool) and curve["round_scored"] == 3 and curve["round_seconds"] > 0


def test_an_official_round_scores_the_pool_in_chunks():
    """16 held-out images in batches of 4 = 4 batches for 12 cells: one batch each, cells 1..3
    scored, so 3 cells stay ranked before the new and random ones are added."""
    t = _trainer()
    ranked, scores = t.score_pool(t.pool)
    assert len(ranked) == len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert set(ranked) <= set(t.pool)


def test_nao_needs_a_space_with_a_sequence_encoding(monkeypatch):
    from lmreg.algorithms import nao
    load_config("quick", ["algorithm=nao", "space=nb101", "benchmark=micro-fmnist-nb101"])
    monkeypatch.delitem(nao.ENCODINGS, "nb101")
    with pytest.raises(ConfigError, match="sequence encoding"):
        load_config("quick", ["algorithm=nao", "space=nb101", "benchmark=micro-fmnist-nb101"])


def test_nb201_nao_preset_is_the_official_script_block():
    """nao.sh's nasbench201 branch (lines 132-148) with the common settings (83-95) and the NB201
    controller of configs.py; written out from the script, not from the preset."""
    cfg = load_config("nb201-cifar10-nao")
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.seed, cfg.draws) == ("nb201", "nao", "cifar10", 1268, "run_seed")
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size, t.lr, t.weight_decay, t.lr_min) == (400, 100, 256, 0.025,
                                                                                          5e-4, 0.001)
    assert (cfg.net.C, cfg.net.N, cfg.net.bn_affine, cfg.net.bn_track_running_stats) == (16, 5, True, False)
    lm = cfg.landmarks
    assert (lm.m, lm.schedule, lm.max_coef, lm.loss_form, lm.landmark_warmup_epochs) == (30, "cosine_increase",
                                                                                         10.0, "hinge", 10)
    a = cfg.algo
    assert (a.seed_archs, a.new_archs, a.random_archs, a.pool_update, a.round_every) == (100, 300, 400, "all", 40)
    assert (a.controller_epochs, a.controller_batch_size, a.controller_lr, a.trade_off, a.expand) == (
        1000, 100, 1e-3, 0.8, 8)
    assert (a.hidden, a.mlp_hidden, a.mlp_layers, a.decode, a.round_scoring) == (16, 64, 2, "official", "official")


def test_the_dry_run_estimate_adds_the_controller_rounds(tmp_path, monkeypatch):
    """micro-nao: 6 warm-up and 10 regularised epochs at factors 1 and 2 (0.1 ms per training
    image over 10,000 images = 1 s per plain epoch), 5 rounds (epochs 6, 8, ..., 14) at 30 plain
    SPOS epochs of the measurement's 2,560 images each (0.256 s): 38.4 s; scoring 1e-5 s per
    architecture image. A file without the round factor: unknown."""
    import json

    from lmreg.experiments import reproduce
    kinds = {"warmup": 1.0, "plain": 1.0, "regularised": 2.0, "search": 1.0, "search_regularised": 2.0,
             "scoring": 1.0}
    data = {"format": "lmreg-cpu-epochs/1", "quick": False, "spos_plain_epoch_s_per_image": 1e-4,
            "images_per_epoch": 2560, "spos_score_s_per_arch_image": 1e-5,
            "factors": {"nao": {**kinds, "round": 30.0}}}
    fake = tmp_path / "cpu_epochs.json"
    fake.write_text(json.dumps(data))
    monkeypatch.setattr(reproduce, "MEASURED_CPU", fake)
    cfg = load_config("micro-nao")
    est = reproduce.estimate(cfg)
    assert est["seconds"] == pytest.approx(6 * 1.0 + 10 * 2.0 + 38.4 + 1e-5 * est["scorings"] * est["images"])
    fake.write_text(json.dumps({**data, "factors": {"nao": kinds}}))
    assert reproduce.estimate(cfg)["seconds"] is None


def test_generation_drops_invalid_cells():
    """A decoder that always emits none, conv 1x1, none, none, conv 1x1, none (official rule:
    tokens 1 and 3 preferred) decodes a cell without an input-output path: nothing is kept;
    preferring skip (token 2) instead makes every edge but two a skip: one valid cell."""
    t = _trainer()
    with torch.no_grad():
        t.controller.decoder.out.weight.zero_()
        t.controller.decoder.out.bias.copy_(torch.tensor([0.0, 5.0, 0.0, 5.0, 0.0, 0.0]))
    assert t.generate(t.pool[:5], [], 3) == []
    with torch.no_grad():
        t.controller.decoder.out.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 5.0, 0.0, 0.0]))
    assert t.generate(t.pool[:5], [], 3) == [(1, 2, 1, 1, 2, 1)]


def test_nb101_encoding_by_hand():
    """The official 26 positions of a 7-vertex cell: vertex 1 <- 0 (bit), op; vertex 2 <- 0, 1,
    op; ... vertex 6 (output) <- 0..5. Cell: the chain 0->1->2->3->4->5->6 with ops conv3x3,
    conv1x1, maxpool, conv3x3, conv1x1 (indices 0, 1, 2, 0, 1)."""
    from lmreg.algorithms.nao import NB101Encoding
    from lmreg.spaces import nb101
    enc = NB101Encoding()
    assert enc.op_positions == [1, 4, 8, 13, 19] and enc.length == 26
    matrix = [[1 if j == i + 1 else 0 for j in range(7)] for i in range(7)]
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv1x1-bn-relu",
           "output"]
    arch = enc.from_cell(nb101.cell(matrix, ops))
    want = (1, 0,  0, 1, 1,  0, 0, 1, 2,  0, 0, 0, 1, 0,  0, 0, 0, 0, 1, 1,  0, 0, 0, 0, 0, 1)
    assert arch == want
    assert enc.to_seq(arch) == [2, 3, 1, 2, 4, 1, 1, 2, 5, 1, 1, 1, 2, 3, 1, 1, 1, 1, 2, 4, 1, 1, 1, 1, 1, 2]
    assert enc.to_arch(enc.to_seq(arch)) == arch
    assert enc.to_cell(arch) == nb101.cell(matrix, ops)
    assert enc.allowed(19) == range(3, 6) and enc.allowed(20) == range(1, 3)
    assert not enc.valid((0,) * 26)  # no edge: the input never reaches the output
    assert enc.valid(want)


def test_nb101_random_cells_have_seven_vertices():
    from lmreg.algorithms.nao import NB101Encoding
    from lmreg.spaces.base import get_space
    enc, space, rng = NB101Encoding(), get_space("nb101"), random.Random(0)
    for _ in range(30):  # uniform over all cells, 30 draws would all have 7 vertices with p = 0.848^30 < 1 %
        arch = enc.random(space, rng)
        assert len(arch) == 26 and enc.to_cell(arch).num_vertices == 7


def test_nb101_nao_preset_is_the_official_script_block():
    """nao.sh's nasbench101 branch (lines 97-112) with the common settings (83-95); configs.py's
    NB101 block sets controller_discard (the pool cut to its best 100)."""
    cfg = load_config("nb101-cifar10-nao")
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.seed) == ("nb101", "nao", "cifar10", 1268)
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size, t.lr, t.weight_decay) == (400, 150, 128, 0.025, 1e-4)
    assert (cfg.net.C, cfg.net.N) == (64, 3)
    assert (cfg.landmarks.m, cfg.landmarks.schedule, cfg.landmarks.loss_form) == (30, "cosine_increase", "hinge")
    a = cfg.algo
    assert (a.pool_update, a.keep_top, a.seed_archs, a.new_archs, a.random_archs, a.round_every) == (
        "top", 100, 100, 300, 400, 40)


@pytest.mark.slow
def test_nb101_nao_runs_and_resumes(tmp_path):
    """A short NAO run on NB101 cells with a controller round, stopped and resumed: the same record."""
    from tests.fixtures import algorithm_overrides, interrupted_and_whole
    smoke = ["task=smoke-fmnist", "train.batch_size=64", "landmarks.m=4", "eval.pool_size=10", "eval.every=1",
             "eval.n_images=256", "eval.batch_size=128"]
    cfg = load_config("micro-nb101-nao", [*smoke, *algorithm_overrides("nao"), "train.epochs=3",
                                          "train.warmup_epochs=1", "net.C=5"])
    resumed, whole = interrupted_and_whole(cfg, tmp_path)
    for table in ("evals", "pool", "landmarks"):
        assert resumed["tables"][table].equals(whole["tables"][table]), table
    assert "NAO post-search pool" in whole["attrs"]["search_result"]["method"]
    assert resumed["attrs"]["search_result"] == whole["attrs"]["search_result"]  # the controller resumed too
    rounds = whole["tables"]["curves"].set_index("epoch")["round_pool"]
    assert rounds.notna().tolist() == [False, True, False]  # one round, at the warm-up's end (epoch 1)


@pytest.mark.slow
def test_nb101_nao_paper_preset_smoke(tmp_path, monkeypatch, capsys):
    """The NB101 NAO preset end to end on CIFAR-10 fixture files in the real format, with the
    micro NB101 table as ground truth (its cells are NB101 cells). Narrower than the preset
    (C=16, one module per stack): test_paper_presets runs the NB101 network at full size, and
    the controller does not depend on the width."""
    from lmreg.experiments.cli import main
    from tests.fixtures import write_cifar10
    root = tmp_path / "cifar-10-batches-py"
    write_cifar10(root, per_batch=260)
    monkeypatch.setenv("LMREG_CIFAR10_DIR", str(root))
    assert main(["train", "--preset", "nb101-cifar10-nao", "--smoke", "--max-steps", "1", "--set", "device=cpu",
                 "--set", "benchmark=micro-fmnist-nb101", "--set", "net.C=16", "--set", "net.N=1"]) == 0
    assert "smoke run of nb101-cifar10-nao passed (nao on cifar10, cpu, C=16 N=1)" in capsys.readouterr().out


def test_checkpoint_restores_the_controller_pool_and_streams():
    """After a round, a fresh trainer loaded from the state has the same controller, pool and
    rounds, and generates the same cells."""
    a = _trainer()
    a.train_epoch(0)
    a.train_epoch(1)  # the round
    b = _trainer()
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(v, b.controller.state_dict()[k]) for k, v in a.controller.state_dict().items())
    assert b.pool == a.pool and b.rounds == a.rounds
    assert b.grow_pool(list(b.pool)) == a.grow_pool(list(a.pool))


# DARTS cells (official utils_for_darts.py; docs/fidelity.md, NAO) -------------------------------
# DARTS-V2 as the official genotype.py:80-86 lists it (pair order as stored there).
DARTS_V2_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]
DARTS_V2_REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]


def test_darts_v2_official_sequence_by_hand():
    """parse_model_spec_to_arch: (input, op index) per pair, PRIMITIVES none 0, max_pool 1,
    avg_pool 2, skip 3, sep3x3 4, sep5x5 5, dil3x3 6, dil5x5 7; parse_arch_to_seq with B = 4:
    input + 1, op + 6. Back through parse_seq_to_arch and parse_arch_to_model_spec: the same
    genotype with concat 2..5. Our Genotype's canonical order sorts each node's two pairs by
    (input, op): normal node 4 and reduce nodes 3 and 5 swap their pairs."""
    from lmreg.algorithms.nao import DartsEncoding
    from lmreg.spaces import darts
    enc = DartsEncoding()
    assert (enc.vocab, enc.length) == (14, 32)
    arch = enc.from_pairs(DARTS_V2_NORMAL, DARTS_V2_REDUCE)
    assert arch == (0, 4, 1, 4,  0, 4, 1, 4,  1, 4, 0, 3,  0, 3, 2, 6,
                    0, 1, 1, 1,  2, 3, 1, 1,  0, 1, 2, 3,  2, 3, 1, 1)
    seq = [1, 10, 2, 10,  1, 10, 2, 10,  2, 10, 1, 9,  1, 9, 3, 12,
           1, 7, 2, 7,  3, 9, 2, 7,  1, 7, 3, 9,  3, 9, 2, 7]
    assert enc.to_seq(arch) == seq
    assert enc.to_arch(seq) == arch
    v2 = darts.Genotype(DARTS_V2_NORMAL, darts.FULL_CONCAT, DARTS_V2_REDUCE, darts.FULL_CONCAT)
    assert enc.to_cell(arch) == v2
    assert enc.to_seq(enc.from_cell(v2)) == [1, 10, 2, 10,  1, 10, 2, 10,  1, 9, 2, 10,  1, 9, 3, 12,
                                             1, 7, 2, 7,  2, 7, 3, 9,  1, 7, 3, 9,  2, 7, 3, 9]
    assert enc.valid(arch)
    assert enc.allowed(0) == range(1, 3) and enc.allowed(1) == range(6, 14)
    # darts-nds: the same tokens; DARTS-V2 has no 'none', so it is a darts-nds cell too
    from lmreg.algorithms.nao import NDSDartsEncoding
    nds = NDSDartsEncoding()
    assert (nds.vocab, nds.length) == (14, 32) and nds.to_seq(arch) == seq and nds.valid(arch)
    assert nds.allowed(1) == range(7, 14)
    assert not nds.valid((0, 0) + arch[2:])  # 'none' on normal node 2's first pair


@pytest.mark.parametrize("space_name", ["darts", "darts-nds"])
def test_darts_sequences_round_trip_over_random_genotypes(space_name):
    from lmreg.algorithms.nao import ENCODINGS
    from lmreg.spaces.base import get_space
    space, rng = get_space(space_name), random.Random(3)
    enc = ENCODINGS[space_name]("official")
    for _ in range(50):
        arch = enc.random(space, rng)
        seq = enc.to_seq(arch)
        assert len(seq) == 32 and enc.to_arch(seq) == arch and enc.valid(arch)
        assert all(t in enc.allowed(i) for i, t in enumerate(seq))
        assert enc.from_cell(enc.to_cell(arch)) == arch  # random cells are canonical Genotypes
        g = space.sample_path(random.Random(rng.random()))
        assert enc.to_cell(enc.from_cell(g)) == g


def test_darts_decode_rule_by_hand():
    """DecoderDarts.decoder_outputs_to_symbols, B = 4: at step s even, tokens 1..index-1 with
    index = s % 16 // 4 + 3 (node i of its cell: inputs 0..i+1); at s odd, tokens 6 (= B + 2)
    and up. Hand logits = token index: the largest allowed token wins; minus it: the smallest."""
    from lmreg.algorithms.nao import DartsEncoding, NDSDartsEncoding
    enc = DartsEncoding()
    assert [enc.allowed(s) for s in (0, 2, 4, 6, 8, 12, 14, 16, 30)] == [
        range(1, 3), range(1, 3), range(1, 4), range(1, 4), range(1, 5), range(1, 6), range(1, 6), range(1, 3),
        range(1, 6)]
    c = Controller(ControllerSizes(vocab=14, length=32))
    with torch.no_grad():
        c.decoder.out.weight.zero_()
        c.decoder.out.bias.copy_(torch.arange(14.0))
    seqs = torch.tensor([enc.to_seq(enc.from_pairs(DARTS_V2_NORMAL, DARTS_V2_REDUCE))])
    cell = [2, 13, 2, 13, 3, 13, 3, 13, 4, 13, 4, 13, 5, 13, 5, 13]
    assert c.generate(seqs, 1.0, enc.allowed).tolist() == [cell * 2]
    with torch.no_grad():
        c.decoder.out.bias.copy_(-torch.arange(14.0))
    assert c.generate(seqs, 1.0, enc.allowed).tolist() == [[1, 6] * 16]
    assert c.generate(seqs, 1.0, NDSDartsEncoding().allowed).tolist() == [[1, 7] * 16]


class _Draws:
    """A stand-in rng whose randrange returns the given values in turn."""

    def __init__(self, values):
        self.values = list(values)

    def randrange(self, n):
        v = self.values.pop(0)
        assert 0 <= v < n
        return v


def test_darts_augmentation_swaps_one_node_per_cell():
    """utils_for_darts.py augmentation: per cell, node randint(0, 4) has its two (input, op)
    pairs swapped; nodes 1 (normal) and 3 (reduce) here."""
    from lmreg.algorithms.nao import DartsEncoding
    seq = list(range(1, 33))
    out = DartsEncoding().augment(seq, _Draws([1, 3]))
    want = list(range(1, 33))
    want[4:8] = [7, 8, 5, 6]
    want[28:32] = [31, 32, 29, 30]
    assert out == want and seq == list(range(1, 33))


def test_expand_split_augments_every_repeat_after_the_first():
    """expand_controller: the training split once as is, then expand - 1 augmented passes over it
    in order; the validation split untouched."""
    seqs, targets = [[i] for i in range(10)], [i / 10 for i in range(10)]
    train, valid = expand_split(seqs, targets, 0.9, 3, random.Random(0), augment=lambda s, rng: s + [0])
    plain, plain_valid = expand_split(seqs, targets, 0.9, 3, random.Random(0))
    assert len(train) == 27 and train[:9] == plain[:9]
    assert train[9:] == [(s + [0], t) for s, t in plain[:9]] * 2
    assert valid == plain_valid and len(valid) == 1


def _darts_trainer(options=SMALL, epochs=3, warmup=1):
    from lmreg.spaces.base import NetSpec
    from lmreg.spaces.darts_space import NDS_SPACE
    torch.manual_seed(0)
    net = NDS_SPACE.build_supernet(NetSpec(C=4, N=3, bn_affine=False), in_channels=1, num_classes=10)
    return NAO(net, tiny_task(32, 16), TrainConfig(epochs=epochs, warmup_epochs=warmup, batch_size=4), 0, NDS_SPACE,
               None, options)


@pytest.mark.slow
def test_nao_runs_a_round_on_darts_nds_cells():
    """A tiny darts-nds super-net (C=4, 3 cells): a warm-up epoch, then the round epoch: the
    controller (vocab 14, 32 tokens) trains on augmented DARTS sequences and the pool grows with
    decoded cells of the space's 7 ops; the post-search pool's cells are darts-nds genotypes."""
    from lmreg.spaces import darts
    t = _darts_trainer()
    assert t.controller.sizes.vocab == 14 and t.controller.sizes.length == 32
    assert all(len(a) == 32 for a in t.pool)
    t.train_epoch(0)
    t.train_epoch(1)  # the round
    r = t.rounds[-1]
    assert r["epoch"] == 1 and r["train_pairs"] == int(r["scored"] * 0.9) * 8
    for arch in t.pool:
        assert t.encoding.valid(arch) and darts.check(t.encoding.to_cell(arch), darts.NDS_OPS)
    t.train_epoch(2)
    keys = {t.space.key(t.encoding.to_cell(a)) for a in t.pool}
    _, cands = t.search_candidates(keys)
    assert cands and all(isinstance(c, darts.Genotype) for c in cands)


def test_darts_nds_nao_preset_is_the_official_script_block():
    """nao.sh's darts_nds branch (lines 113-131) with the common settings (83-95) and configs.py's
    DARTS block (125-150: controller_discard); written out from the script, not from the preset."""
    cfg = load_config("darts-nds-cifar10-nao")
    assert (cfg.space, cfg.algorithm, cfg.task, cfg.benchmark, cfg.seed, cfg.draws) == (
        "darts-nds", "nao", "cifar10", "nds-darts", 1269, "run_seed")
    t = cfg.train
    assert (t.epochs, t.warmup_epochs, t.batch_size, t.lr, t.weight_decay, t.lr_min) == (400, 150, 64, 0.05,
                                                                                          5e-4, 0.001)
    assert t.path_sampler == "table"  # generate_arch -> random_topology: the NDS table's genotypes
    assert (cfg.net.C, cfg.net.N, cfg.net.bn_affine, cfg.net.bn_track_running_stats) == (36, 12, False, False)
    lm = cfg.landmarks
    assert (lm.m, lm.selection, lm.schedule, lm.max_coef, lm.loss_form, lm.landmark_warmup_epochs) == (
        100, "random", "cosine_increase", 10.0, "hinge", 10)
    assert (lm.pair_sampler, lm.n_pairs) == ("official", 1)
    a = cfg.algo
    assert (a.seed_archs, a.new_archs, a.random_archs, a.pool_update, a.keep_top, a.round_every) == (
        100, 300, 400, "top", 100, 40)
    assert (a.controller_epochs, a.controller_batch_size, a.controller_lr, a.trade_off, a.expand) == (
        1000, 100, 1e-3, 0.8, 8)
    assert (a.hidden, a.mlp_hidden, a.mlp_layers) == (48, 64, 2)
    assert (cfg.eval.pool_size, cfg.eval.every, cfg.eval.batch_size) == (200, 30, 256)
    assert cfg.use_landmarks


def test_table_paths_seed_the_pool_from_the_table(monkeypatch):
    """train.path_sampler = table: NAO's seed cells (generate_arch, official random_topology) are
    cells of the run's GT table; its warm-up paths stay the space's. The micro NB201 table holds
    300 of the 15,625 cells, so cells drawn from the space would almost all fall outside it."""
    from lmreg.experiments.runner import make_trainer, prepare
    cfg = load_config("micro-nao", ["train.path_sampler=table", "algo.seed_archs=40"])
    plan = prepare(cfg)
    table = set(plan.gt.index)
    trainer = make_trainer(cfg, plan)
    assert len(trainer.pool) > 30 and all(SPACE.key(a) in table for a in trainer.pool)
    assert sum(SPACE.key(a) in table for a in trainer.random_archs(40)) == len(trainer.random_archs(40))
    space_trainer = make_trainer(load_config("micro-nao", ["algo.seed_archs=40"]), plan)
    assert sum(SPACE.key(a) in table for a in space_trainer.pool) < 5
    warm = []
    monkeypatch.setattr(trainer.model, "forward", lambda x, arch: (warm.append(arch), trainer.model.__class__.forward(
        trainer.model, x, arch))[1])
    trainer.train_epoch(0, max_steps=20)  # epoch 0 is in the warm-up: paths from the space
    assert sum(SPACE.key(a) in table for a in warm) < 5


def test_random_cells_from_a_table_by_space():
    """Each encoding draws its random cells through the table when given one: NB101's keeps only
    7-vertex cells (the official generate_arch), DARTS's canonicalises the genotype."""
    from lmreg.algorithms.nao import ENCODINGS
    from lmreg.spaces.base import get_space
    for name in ("nb101", "darts-nds"):
        space, rng = get_space(name), random.Random(0)
        enc = ENCODINGS[name]("official")
        cells = space.sample(60, 1)
        draw = lambda r: cells[r.randrange(len(cells))]  # noqa: E731
        drawn = [enc.random(space, rng, draw) for _ in range(100)]
        keys = {space.key(c) for c in cells}
        assert all(space.key(enc.to_cell(a)) in keys for a in drawn)
        if name == "nb101":
            assert all(enc.to_cell(a).num_vertices == 7 for a in drawn)
            assert any(c.num_vertices < 7 for c in cells)  # the filter had something to drop
