"""NDS DARTS ground truth: fixture files in the layout of facebookresearch/nds DARTS.json
(as the official landmark loader reads it), converted to the compact table and read back
with h5py; malformed and truncated files are refused in one line, writing nothing."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

from lmreg.bench import nds, registry
from lmreg.bench.gt_table import GTFileError
from lmreg.spaces import darts

G1 = {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 0], ["sep_conv_3x3", 1],
                 ["skip_connect", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["skip_connect", 2]],
      "normal_concat": [2, 3, 4, 5],
      "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 0],
                 ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["avg_pool_3x3", 0]],
      "reduce_concat": [2, 3, 4, 5]}
# G1 with the two pairs of its first normal node (and of one reduce node) written the other way
G1_SWAPPED = json.loads(json.dumps(G1))
G1_SWAPPED["normal"][0], G1_SWAPPED["normal"][1] = G1["normal"][1], G1["normal"][0]
G1_SWAPPED["reduce"][2], G1_SWAPPED["reduce"][3] = G1["reduce"][3], G1["reduce"][2]
G2 = {**G1, "normal": [["dil_conv_5x5", 1], ["avg_pool_3x3", 1]] + G1["normal"][2:], "normal_concat": [4, 5]}
G3 = {**G1, "reduce": [["sep_conv_5x5", 0], ["dil_conv_3x3", 1]] + G1["reduce"][2:]}


def job(genotype, seed, test_err, train_err, params=1.5e6, flops=2.5e8, width=16, depth=8, loss=True):
    out = {"job_id": seed, "rng_seed": seed, "net": {"genotype": genotype, "width": width, "depth": depth,
                                                    "aux": False, "drop_prob": 0.0},
           "optim": {"base_lr": 0.1, "max_ep": len(test_err), "wd": 5e-4},
           "test_ep_top1": test_err, "train_ep_top1": train_err, "params": params, "flops": flops,
           "min_test_top1": min(test_err), "exp_mem": 1.0, "act_mem": 1.0}
    if loss:
        out["train_ep_loss"] = [e / 50 for e in train_err]
    return out


JOBS = [job(G1, 0, [60.0, 30.0, 10.0], [70.0, 35.0, 12.0]),
        job(G2, 0, [80.0, 50.0, 40.0], [85.0, 55.0, 45.0], params=1.0e6, width=20, depth=11),
        job(G1_SWAPPED, 1, [55.0, 28.0, 12.0], [65.0, 30.0, 14.0]),
        job(G3, 7, [90.0, 90.0, 90.0], [90.0, 90.0, 90.0], loss=False),
        job(G3, 7, [62.0, 31.0, 20.5], [66.0, 33.0, 21.0])]       # same genotype and seed: replaces


def write(tmp_path, jobs, name="DARTS.json"):
    path = tmp_path / name
    path.write_text(json.dumps(jobs))
    return path


def key(g):
    return darts.key(darts.check(g))


def test_conversion_by_hand(tmp_path):
    out = tmp_path / "nds.h5"
    summary = nds.convert_nds(write(tmp_path, JOBS), out)
    assert summary["archs"] == 3 and summary["rows"] == 4 and summary["jobs"] == 5 and summary["epochs"] == 3
    # the format's own library: one row per (canonical genotype, seed), accuracy = 100 - error
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "lmreg-gt/1" and f.attrs["space"] == "darts-nds"
        rows = {(a.decode(), int(s)): i for i, (a, s) in enumerate(zip(f["arch"][()], f["seed"][()]))}
        assert set(rows) == {(key(G1), 0), (key(G1), 1), (key(G2), 0), (key(G3), 7)}
        test, train, loss = f["test_acc"][()], f["train_acc"][()], f["train_loss"][()]
        np.testing.assert_array_equal(test[rows[key(G1), 1]], [45.0, 72.0, 88.0])
        np.testing.assert_array_equal(train[rows[key(G2), 0]], [15.0, 45.0, 55.0])
        np.testing.assert_array_equal(test[rows[key(G3), 7]], [38.0, 69.0, 79.5])     # the later job
        np.testing.assert_allclose(loss[rows[key(G1), 0]], [1.4, 0.7, 0.24])
        assert np.isnan(f["valid_acc"][()]).all() and np.isnan(f["test_loss"][()]).all()
        assert f["params"][rows[key(G2), 0]] == 1.0e6 and f["flops"][rows[key(G1), 0]] == 2.5e8
        meta, recipe = json.loads(f.attrs["meta"]), json.loads(f.attrs["recipe"])
    assert meta["replaced_same_seed"] == 1 and meta["archs"] == 3
    assert recipe["net"]["width"] == [16, 20] and recipe["net"]["depth"] == [8, 11] and recipe["epochs"] == 3
    table = nds.load(out)
    acc = table.per_arch("test_acc")
    assert acc[key(G1)] == (90.0 + 88.0) / 2 and acc[key(G2)] == 60.0 and acc[key(G3)] == 79.5
    assert set(table.seed_matrix().columns) == {0, 1, 7}


def test_genotypes_merge_only_when_canonically_equal():
    assert key(G1) == key(G1_SWAPPED) and len({key(G1), key(G2), key(G3)}) == 3
    assert darts.parse(key(G2)).normal_concat == (4, 5)


def _drop(field):
    j = job(G1, 0, [50.0], [50.0])
    del j[field]
    return [j]


def _net(**kw):
    j = job(G1, 0, [50.0], [50.0])
    j["net"].update(kw)
    return [j]


def _with(**kw):
    return [{**job(G1, 0, [50.0], [50.0]), **kw}]


@pytest.mark.parametrize("content, match", [
    (json.dumps(JOBS)[:700], "not valid JSON, truncated or corrupt"),
    ("", "not valid JSON"),
    (json.dumps({"jobs": JOBS}), "a JSON list of jobs, got a dict"),
    ("[]", "holds no jobs"),
    (json.dumps([1]), "job 0: a job is a JSON object"),
    (json.dumps(_drop("net")), "job 0: a job needs net.genotype"),
    (json.dumps(_net(genotype=[1, 2])), "net.genotype must be an object"),
    (json.dumps(_net(genotype={k: v for k, v in G1.items() if k != "reduce"})), "missing reduce"),
    (json.dumps(_net(genotype={**G1, "normal": [["none", 0]] + G1["normal"][1:]})),
     "'none' is not in this space's op set"),
    (json.dumps(_net(genotype={**G1, "normal": [["sep_conv_3x3", 3]] + G1["normal"][1:]})),
     "normal pair 0 feeds node 2"),
    (json.dumps(_with(rng_seed="0")), "rng_seed must be an int"),
    (json.dumps(_drop("test_ep_top1")), "test_ep_top1 must be a non-empty list"),
    (json.dumps(_with(test_ep_top1=[50.0, None])), r"test_ep_top1\[1\] must be a finite number"),
    (json.dumps(_with(test_ep_top1=[0.9, 0.8], train_ep_top1=[0.9, 180.0], train_ep_loss=[1, 1])),
     r"train_ep_top1 must be top-1 errors in % \(0..100\)"),
    (json.dumps(_with(train_ep_top1=[50.0, 40.0])), "train_ep_top1 has 2 epochs, test_ep_top1 1"),
    (json.dumps(_drop("params")), "params must be a finite number"),
    (json.dumps(JOBS[:1] + [job(G2, 0, [50.0], [50.0])]), "job 1: 1 epochs, but job 0 has 3"),
])
def test_malformed_files_are_refused_in_one_line(tmp_path, content, match):
    path = tmp_path / "DARTS.json"
    path.write_text(content)
    out = tmp_path / "out.h5"
    with pytest.raises(GTFileError, match=match) as e:
        nds.convert_nds(path, out)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_missing_file(tmp_path):
    with pytest.raises(GTFileError, match="no such NDS file"):
        nds.convert_nds(tmp_path / "DARTS.json", tmp_path / "out.h5")


def test_benchmark_converts_on_first_use_from_the_env(tmp_path, monkeypatch):
    monkeypatch.setenv(nds.ENV_H5, str(tmp_path / "store.h5"))
    monkeypatch.delenv(nds.ENV_JSON, raising=False)
    bench = registry.BENCHMARKS["nds-darts"]
    assert bench.space == "darts-nds" and bench.state()[0] == "absent"
    with pytest.raises(GTFileError, match=f"set \\${nds.ENV_JSON}"):
        registry.load("nds-darts")
    monkeypatch.setenv(nds.ENV_JSON, str(write(tmp_path, JOBS)))
    assert bench.state()[0] == "available"
    table = registry.load("nds-darts")
    assert (tmp_path / "store.h5").is_file() and bench.state()[0] == "present"
    assert math.isclose(table.per_arch()[key(G2)], 60.0)
    from lmreg.spaces.base import get_space
    space = get_space(table.space)
    assert all(space.key(space.parse(a)) == a for a in table.archs)


def test_spos_smoke_run_on_an_nds_table(tmp_path, capsys):
    """The existing runner, SPOS and the landmark loss run on darts-nds against an NDS-layout
    table (values random; the run checks the plumbing, not a ranking)."""
    from lmreg.experiments.cli import main
    rng = np.random.default_rng(0)
    jobs = []
    for g in darts.sample(16, 5, darts.NDS_OPS):
        genotype = {"normal": [list(p) for p in g.normal], "normal_concat": list(g.normal_concat),
                    "reduce": [list(p) for p in g.reduce], "reduce_concat": list(g.reduce_concat)}
        err = float(rng.uniform(5, 50))
        jobs.append(job(genotype, 0, [err + 10, err], [err + 12, err + 1]))
    table = tmp_path / "nds.h5"
    nds.convert_nds(write(tmp_path, jobs), table)
    code = main(["train", "--smoke", "--preset", "micro", "--seeds", "0", "--no-progress",
                 "--set", "space=darts-nds", "--set", f"benchmark={table}", "--set", "gt_metric=test_acc",
                 "--set", "net.C=4", "--set", "net.N=3", "--set", "net.bn_affine=false"])
    assert code == 0 and "smoke run of micro passed (spos" in capsys.readouterr().out


def test_bench_query_reads_a_genotype_of_the_nds_table(tmp_path, monkeypatch, capsys):
    """`lmreg bench query nds-darts` finds a genotype typed as NDS's JSON object, its node
    pairs in another order, and prints the mean over its seeds (G1: 100 - 10 and 100 - 12)."""
    from lmreg.experiments.cli import main
    monkeypatch.setenv(nds.ENV_H5, str(tmp_path / "store.h5"))
    monkeypatch.setenv(nds.ENV_JSON, str(write(tmp_path, JOBS)))
    assert main(["bench", "query", "nds-darts", json.dumps(G1_SWAPPED)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "mean test_acc over seeds: 89.000"
    assert main(["bench", "query", "nds-darts", "{not json"]) != 0
    assert "malformed DARTS genotype" in capsys.readouterr().err
