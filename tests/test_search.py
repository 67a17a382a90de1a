"""The official regularised evolution after training (algorithms/search.py), its
mutations, and the search result in the run record. Expected values are worked by hand
from the official loop (utils_evaluate.py:74-121) and mutation rules."""

import math
import random
from collections import Counter

import numpy as np
import pytest

from lmreg.algorithms.search import SearchConfig, regularized_evolution
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb101, nb201
from lmreg.spaces.nb101_space import NB101Space
from lmreg.spaces.nb201_space import SPACE


class ScriptedRng:
    """Hands out scripted tournament draws (the official `random.sample(range(n), k)`)."""

    def __init__(self, draws):
        self.draws, self.calls = list(draws), []

    def sample(self, population, k):
        self.calls.append((len(population), k))
        return self.draws.pop(0)


def test_evolution_by_hand():
    """Population 3, tournament 2, budget 5. Initial a(1) b(3) c(2). Query 4: draws [2, 0]:
    members a, c, the fitter c is mutated to c' (0), appended, the oldest a removed: [b, c, c'].
    Query 5: draws [0, 1]: b, c: b is mutated to b' (5): [c, c', b']. Distinct cells ranked by
    fitness: b' 5, b 3, c 2."""
    fit = {"a": 1, "b": 3, "c": 2, "c'": 0, "b'": 5}
    initial = iter("abc")
    rng = ScriptedRng([[2, 0], [0, 1]])
    parents = []

    def mutate(parent, _):
        parents.append(parent)
        return parent + "'"
    res = regularized_evolution(lambda _: next(initial), mutate, fit.__getitem__, rng, population=3,
                                tournament=2, budget=5, top=3)
    assert parents == ["c", "b"]                   # with the oldest kept, query 5 would draw a, b
    assert rng.calls == [(3, 2), (3, 2)]           # the population stays at 3
    assert [a for a, _ in res.history] == ["a", "b", "c", "c'", "b'"] and res.queries == 5
    assert res.top == [("b'", 5), ("b", 3), ("c", 2)]


def test_evolution_tie_goes_to_the_younger_and_rescore_ranks():
    """Equal fitness in a tournament: the official stable sort's last, the younger member.
    The final ranking uses `rescore` (the official test-batch accuracy), not the fitness."""
    initial = iter(["x", "y"])
    res = regularized_evolution(lambda _: next(initial), lambda p, _: p + "+", lambda a: 2.0,
                                ScriptedRng([[0, 1]]), population=2, tournament=2, budget=3,
                                rescore={"x": 1.0, "y": 3.0, "y+": 2.0}.__getitem__, top=5)
    assert res.history[-1][0] == "y+"
    assert res.top == [("y", 3.0), ("y+", 2.0), ("x", 1.0)]


def test_evolution_counts_repeated_queries_and_runs_the_whole_initial_population():
    res = regularized_evolution(lambda rng: "same", lambda p, rng: p, lambda a: 1.0, random.Random(0),
                                population=4, tournament=2, budget=10)
    assert res.queries == 10 and res.top == [("same", 1.0)]
    res = regularized_evolution(lambda rng: rng.random(), lambda p, rng: p, lambda a: a, random.Random(0),
                                population=6, tournament=2, budget=3)
    assert res.queries == 6  # official: the population is drawn in full whatever the budget


def test_nb201_mutation_is_the_official_rule():
    """R-EA mutate_arch_func: node uniform in 1..3, then one of its input edges uniform, then a
    different op uniform: P(edge) = 1/3 for 1<-0, 1/6 for each edge into node 2, 1/9 into node 3;
    every other op equally likely."""
    rng = random.Random(0)
    parent = (0, 1, 2, 3, 4, 0)
    n = 36000
    edges, ops = Counter(), Counter()
    for _ in range(n):
        child = SPACE.mutate(parent, rng)
        changed = [e for e in range(6) if child[e] != parent[e]]
        assert len(changed) == 1
        edges[changed[0]] += 1
        ops[(changed[0], child[changed[0]])] += 1
    expected = [1 / 3, 1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9]
    for e, p in enumerate(expected):
        assert edges[e] / n == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))
    for e in range(6):
        for op in range(5):
            if op != parent[e]:
                assert ops[(e, op)] / edges[e] == pytest.approx(0.25, abs=0.035)


def test_nb101_mutation_gives_valid_cells_with_about_one_op_change():
    """NB101's mutate_spec at rate 1: each of the 5 interior ops changes with probability 1/5
    (to a different op), each of the 21 edges flips with probability 1/7; invalid results are
    drawn again. On the 7-vertex chain every vertex stays on the path when no edge of it is
    removed; the mean number of op changes among results keeping all 7 vertices is about 1."""
    space = NB101Space()
    chain = nb101.cell([[int(j == i + 1) for j in range(7)] for i in range(7)],
                       ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"])
    rng = random.Random(0)
    changes = []
    for _ in range(3000):
        child = space.mutate(chain, rng)
        assert isinstance(child, nb101.Cell)
        if child.num_vertices == 7:
            changes.append(sum(a != b for a, b in zip(child.ops, chain.ops)))
    assert len(changes) > 300 and np.mean(changes) == pytest.approx(1.0, abs=0.15)
    small = nb101.cell([[0, 1], [0, 0]], ["input", "output"])
    assert all(isinstance(space.mutate(small, rng), nb101.Cell) for _ in range(200))


def test_search_config_is_checked():
    with pytest.raises(ConfigError, match="search.method"):
        load_config("quick", ["search.method=grid"])
    with pytest.raises(ConfigError, match="tournament"):
        load_config("quick", ["search.tournament=20"])
    assert SearchConfig() == SearchConfig("evolution", 50, 10, 1000, 21, 256, 5, True)  # the official values


# In the run record ----------------------------------------------------------------------
SMOKE = ["task=smoke-fmnist", "train.batch_size=64", "landmarks.m=4", "eval.pool_size=10", "eval.every=1",
         "eval.n_images=256", "eval.batch_size=128", "train.epochs=2", "train.warmup_epochs=1"]


@pytest.mark.parametrize("algorithm", ["spos", "fairnas"])
def test_evolution_is_the_search_of_single_path_runs(algorithm, tmp_path, monkeypatch):
    """The record holds the evolution's result; a found cell the table lacks is trained with the
    table's recipe and seeds (here a stand-in trainer that records its call) and flagged; its GT
    percentile is among the table's cells and itself: 100 * (cells with lower GT) / cells."""
    from lmreg.bench import registry
    from lmreg.experiments import runner
    from lmreg.results.records import read_record
    calls = []

    def fake_train(table, arch, metric, device="cpu"):
        calls.append((table.recipe, metric))
        return 85.0, [0, 1]
    monkeypatch.setattr(runner, "train_cell", fake_train)
    cfg = load_config("quick", [*SMOKE, f"algorithm={algorithm}", "search.train_missing=true"])
    rec = read_record(runner.run(cfg, tmp_path))
    res = rec["attrs"]["search_result"]
    assert res["method"].startswith("regularised evolution (population 8, tournament 3, 20 queries")
    assert res["queries"] == 20 and 1 <= res["candidates"] <= 20
    scores = [v for _, v in res["top"]]
    assert len(scores) == min(5, res["candidates"]) and scores == sorted(scores, reverse=True)
    assert res["top"][0][1] == res["supernet_acc"]
    table = registry.load("micro-fmnist-nb201")
    gt = table.per_arch("eval_acc")
    key = nb201.to_str(nb201.representative(nb201.parse(res["arch"])))
    if key in gt.index:
        assert res["gt_source"] == "table" and res["gt"] == gt[key] and not calls
        assert res["gt_percentile"] == pytest.approx(100 * (gt < res["gt"]).sum() / (len(gt) - 1))
    else:
        assert res["gt_source"].startswith("trained") and res["gt"] == 85.0
        assert calls == [(table.recipe, "eval_acc")]
        assert res["gt_percentile"] == pytest.approx(100 * (gt < 85.0).sum() / len(gt))
    assert rec["attrs"]["final_metrics"]["search_gt_percentile"] == res["gt_percentile"]


def test_a_found_cell_the_table_lacks_is_flagged_missing_when_not_trained(tmp_path, monkeypatch):
    from lmreg.experiments import runner
    from lmreg.results.records import read_record
    import itertools
    from lmreg.bench import registry
    gt = registry.load("micro-fmnist-nb201").per_arch("eval_acc")
    outside = next(a for a in itertools.product(range(5), repeat=6)
                   if nb201.to_str(nb201.representative(a)) not in gt.index)
    monkeypatch.setattr(runner, "regularized_evolution", lambda *a, **k: _found(outside))
    rec = read_record(runner.run(load_config("quick", SMOKE), tmp_path))
    res = rec["attrs"]["search_result"]
    assert res["gt_source"].startswith("missing") and math.isnan(res["gt"]) and math.isnan(res["gt_percentile"])


def _found(arch):
    from lmreg.algorithms.search import EvolutionResult
    return EvolutionResult(history=[(arch, 50.0)], top=[(arch, 50.0)])


def test_a_run_killed_after_its_search_resumes_without_searching_again(tmp_path, monkeypatch):
    """The evolution's outcome and then the whole search result are checkpointed: a run killed
    while the found cell trains resumes without a second evolution, one killed after the
    search without a second cell training, and both end with the uninterrupted run's record."""
    from lmreg.experiments import runner
    from lmreg.results.records import read_record
    cfg = load_config("quick", [*SMOKE, "search.train_missing=true"])
    calls = {"evolution": 0, "train": 0}
    real_evolution = runner.regularized_evolution

    def counted_evolution(*a, **k):
        calls["evolution"] += 1
        return real_evolution(*a, **k)

    class Killed(Exception):
        pass

    fail = {"next": False}

    def fake_train(table, arch, metric, device="cpu"):
        calls["train"] += 1
        if fail["next"]:
            fail["next"] = False
            raise Killed  # killed while the found cell trains
        return 85.0, [0, 1]
    monkeypatch.setattr(runner, "regularized_evolution", counted_evolution)
    monkeypatch.setattr(runner, "train_cell", fake_train)
    want = read_record(runner.run(cfg, tmp_path / "whole"))  # the uninterrupted run
    assert calls == {"evolution": 1, "train": 0 if want["attrs"]["search_result"]["gt_source"] == "table" else 1}
    if want["attrs"]["search_result"]["gt_source"] == "table":
        pytest.skip("the found cell is in the table: no cell training to interrupt")
    calls.update(evolution=0, train=0)
    fail["next"] = True
    with pytest.raises(Killed):
        runner.run(cfg, tmp_path / "killed")
    assert calls == {"evolution": 1, "train": 1}
    real_write = runner.write_record

    def killed_at_write(*a, **k):
        raise Killed  # killed after the search, before the record
    monkeypatch.setattr(runner, "write_record", killed_at_write)
    with pytest.raises(Killed):
        runner.run(cfg, tmp_path / "killed")
    assert calls == {"evolution": 1, "train": 2}  # resumed: trained again, no second evolution
    monkeypatch.setattr(runner, "write_record", real_write)
    got = read_record(runner.run(cfg, tmp_path / "killed"))
    assert calls == {"evolution": 1, "train": 2}  # resumed after the search: neither again
    drop = ("search_s", "query_s", "gt_train_s")
    strip = lambda r: {k: v for k, v in r["attrs"]["search_result"].items() if k not in drop}  # noqa: E731
    assert strip(got) == strip(want)
    for name in ("pool", "landmarks", "evals"):
        assert got["tables"][name].equals(want["tables"][name])
    assert not list((tmp_path / "killed").glob("*/checkpoint.pt"))  # the record replaced it
