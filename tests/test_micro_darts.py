"""The micro DARTS presets (SPOS, GDAS, PC-DARTS, NAO on the NDS DARTS cell space): each
resolves to its algorithm's micro rules on the DARTS space and runs end to end (`lmreg train
--smoke`) against a DARTS ground-truth table in the real format; the micro DARTS table itself
is not shipped yet, and its absence is one line."""

import dataclasses
import json
import random
from pathlib import Path

import pytest

from lmreg.bench.gt_table import CURVES, OPTIONAL_CURVES, SCALARS, GTTable
from lmreg.experiments.cli import main
from lmreg.experiments.runconfig import load_config
from lmreg.spaces.base import get_space

# the network of the micro DARTS table, from its build's journal (the build's identity)
BUILD_JOURNAL = Path(__file__).resolve().parent.parent / "results" / "gt_builds" / "micro_fmnist_darts.h5.journal.jsonl"
BUILD_NET = tuple(json.loads(BUILD_JOURNAL.read_text().splitlines()[0])["identity"]["recipe"][k] for k in "CN")
MICRO_DARTS = {"micro-darts": ("spos", "micro"), "micro-darts-gdas": ("gdas", "micro-gdas"),
               "micro-darts-pcdarts": ("pcdarts", "micro-pcdarts"), "micro-darts-nao": ("nao", "micro-nao")}


@pytest.fixture(scope="module")
def darts_table(tmp_path_factory):
    """40 NDS DARTS cells x 2 seeds with made-up accuracies, written by GTTable as the builder writes."""
    space, rng, rows = get_space("darts-nds"), random.Random(0), []
    for arch in space.sample(40, 0):
        true = rng.uniform(80, 90)
        for seed in (0, 1):
            acc = true + rng.gauss(0, 0.5)
            rows.append({"arch": space.key(arch), "seed": seed, **{c: [acc] for c in (*CURVES, *OPTIONAL_CURVES)},
                         **{s: 1.0 for s in SCALARS}})
    path = tmp_path_factory.mktemp("darts") / "darts.h5"
    GTTable.from_rows(rows, "darts-nds", "micro-fmnist", {}, {}).write(path)
    return path


@pytest.mark.parametrize("preset", sorted(MICRO_DARTS))
def test_micro_darts_presets_are_their_algorithms_micro_rules_on_darts(preset):
    algorithm, micro = MICRO_DARTS[preset]
    cfg, ref = load_config(preset), load_config(micro)
    assert (cfg.algorithm, cfg.space, cfg.benchmark, cfg.net.C, cfg.net.N) == (
        algorithm, "darts-nds", "micro-fmnist-darts", *BUILD_NET)
    # everything but the space, its table and network, and NAO's pool rule is the NB201 micro run's
    assert (cfg.train, cfg.landmarks, cfg.eval, cfg.search, cfg.task) == (
        dataclasses.replace(ref.train, path_sampler=cfg.train.path_sampler), ref.landmarks, ref.eval, ref.search,
        ref.task)
    # SPOS's paths and NAO's random cells are the table's, as the official DARTS-NDS default draws them
    assert cfg.train.path_sampler == ("table" if algorithm in ("spos", "nao") else "space")


def test_micro_darts_ground_truth_missing_is_one_line(tmp_path, monkeypatch, capsys):
    from lmreg.bench import registry
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path)  # as on a checkout without the table
    assert main(["train", "--preset", "micro-darts", "--smoke"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "micro_fmnist_darts.h5: no such ground-truth file" in err[0], err
    assert "benchmark micro-fmnist-darts" in err[0]


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(MICRO_DARTS))
def test_micro_darts_presets_smoke(preset, darts_table, capsys):
    assert main(["train", "--preset", preset, "--smoke", "--set", f"benchmark={darts_table}"]) == 0
    algorithm = MICRO_DARTS[preset][0]
    assert f"smoke run of {preset} passed ({algorithm} on micro-fmnist, cpu, C={BUILD_NET[0]} N={BUILD_NET[1]})" in capsys.readouterr().out
