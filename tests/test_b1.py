"""Table B1 (`lmreg reproduce B1`): the rankers on the super-net runs' pools.

The super-net records are synthetic (no training), but their pools and landmarks are the
real draws of the runner from the shipped micro GTs, so the real rankers and predictors run
on them: a grid of the quick preset (NB201) and the micro-nb101 preset, both on the
smoke-fmnist task and shrunk to 12 pool cells and 5 landmarks (C=4; NB101's smallest, C=5),
3 seeds. The rankers are computed once per module (about 30 s on 2 busy cores)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmreg.bench import registry
from lmreg.experiments import b1
from lmreg.experiments.cli import main
from lmreg.experiments.config import ConfigError
from lmreg.experiments.reproduce import collect, plan, render, reproduce
from lmreg.experiments.run_folders import ground_truth_info
from lmreg.experiments.runconfig import to_dict
from lmreg.experiments.runner import choose_archs
from lmreg.paper_figures.b1 import ranking_scores
from lmreg.paper_figures.definitions import DEFINITIONS, GridEntry, get_definition
from lmreg.paper_figures.metrics import all_metrics, best_of_top_k_gt_percentile, get_metric
from lmreg.results.records import RECORD_NAME, read_record, write_record

SEEDS = (0, 1, 2)
SMALL = ("eval.pool_size=12", "landmarks.m=5")
# (space, preset, its overrides) of the test grid, in grid order
SPACES = (("NB201", "quick", ("net.C=4", *SMALL)),
          ("NB101", "micro-nb101", ("task=smoke-fmnist", "eval.n_images=500", "net.C=5", *SMALL)))
TEST_GRID = tuple(GridEntry(f"SPOS / {space} / {v}", preset,
                            (*(("use_landmarks=false",) if v == "baseline" else ()), *small), SEEDS, space=space)
                  for space, preset, small in SPACES for v in ("baseline", "landmarks"))
N_ROWS = 2 + len(b1.ranker_ids())  # per space: the two super-net arms, then every ranker and predictor


def supernet_record(cfg, quality: float) -> dict:
    """A record shaped like experiments/runner.py writes, on the runner's real landmark and pool
    draws; super-net scores agree with the GT more the higher `quality`."""
    gt, landmarks, pool = choose_archs(cfg)
    pool_gt = gt.loc[pool].to_numpy()
    rng = np.random.default_rng(100 + cfg.seed + 7 * cfg.use_landmarks)
    score = quality * (pool_gt - pool_gt.mean()) / pool_gt.std() + (1 - quality) * rng.normal(size=len(pool))
    final = all_metrics(score, pool_gt)
    return {"attrs": {"config": to_dict(cfg), "versions": {"torch": "fake"}, "git_commit": "fake",
                      "seeds": {"run": cfg.seed}, "final_metrics": {**final, "search_gt_percentile": 50.0},
                      "timings": {"train_s": 10.0 + cfg.seed, "score_s": 2.0}, "ground_truth": ground_truth_info(cfg)},
            "tables": {"curves": [{"epoch": 0.0, "train_loss": 1.0}], "evals": [{"epoch": 0.0, **final}],
                       "landmarks": [{"arch": a, "gt": float(gt[a]), "score_acc": 0.0, "score_loss": 1.0}
                                     for a in landmarks],
                       "pool": [{"arch": a, "gt": float(g), "score_acc": float(s), "score_loss": 1.0}
                                for a, g, s in zip(pool, pool_gt, score)]}}


def write_supernets(out: Path, seeds=SEEDS) -> list:
    runs = [r for r in plan(get_definition("B1"), "micro", out) if r.seed in seeds]
    for r in runs:
        write_record(out / r.name / RECORD_NAME, supernet_record(r.config, 0.8 if r.config.use_landmarks else 0.3))
    return runs


@pytest.fixture(scope="module")
def small_grid():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(DEFINITIONS["B1"].grids, "micro", TEST_GRID)
        yield


# B1 computed over the synthetic runs takes minutes (every ranker and predictor): the tests that
# use it are in the slow set.
@pytest.fixture(scope="module")
def b1_out(small_grid, tmp_path_factory):
    """A folder with the synthetic super-net runs and B1 computed by `reproduce` (nothing to train)."""
    out = tmp_path_factory.mktemp("b1")
    write_supernets(out)
    text = reproduce("B1", out_dir=out, progress=False)
    return out, text


def test_real_grid_is_the_demo_runs_and_their_nb101_pair(tmp_path):
    runs = plan(get_definition("B1"), "micro", tmp_path)
    assert sorted(r.name.rsplit("-", 1)[0] for r in runs) == sorted(
        f"{preset}-{v}-seed{s}" for preset in ("micro", "micro-nb101") for v in ("baseline", "landmarks")
        for s in SEEDS)
    nb201 = {r.name for r in runs if r.entry.space == "NB201"}
    assert nb201 == {r.name for r in plan(get_definition("F1"), "micro", tmp_path)}
    assert {r.config.space for r in runs if r.entry.space == "NB101"} == {"nb101"}
    assert {r.entry.row for r in runs if r.entry.space == "NB101"} == {"SPOS / NB101 / baseline",
                                                                       "SPOS / NB101 / landmarks"}
    paper = plan(get_definition("B1"), "paper", tmp_path)
    assert sorted(r.name.rsplit("-", 1)[0] for r in paper) == sorted(
        f"nb201-cifar10-{v}-seed{s}" for v in ("baseline", "landmarks") for s in (1268, 1269, 1270))


def test_search_percentiles_and_nonfinite_scores_by_hand():
    gt = np.array([80.0, 85.0, 90.0, 70.0, 75.0])       # percentiles 50, 75, 100, 0, 25
    pred = np.array([5.0, 1.0, 2.0, 4.0, 3.0])           # best-scored: 80 (50); top 3: 80, 70, 75
    assert best_of_top_k_gt_percentile(pred, gt, 1) == 50.0
    assert best_of_top_k_gt_percentile(pred, gt, 3) == 50.0
    assert best_of_top_k_gt_percentile(pred, gt, 4) == 100.0
    assert get_metric("top1_gt_percentile")(pred, gt) == 50.0
    assert "top1_gt_percentile" not in all_metrics(np.arange(10.0), np.arange(10.0))  # records keep their set
    assert ranking_scores([2.0, np.nan, -np.inf, np.inf, 1.0]).tolist() == [2.0, 0.0, 0.0, 3.0, 1.0]


@pytest.mark.slow
def test_records_written_consistent_and_skipped(b1_out):
    out, _ = b1_out
    paths = sorted((out / b1.RANKER_DIR).glob(f"*/{RECORD_NAME}"))
    assert len(paths) == len(SPACES) * len(SEEDS) * len(b1.ranker_ids())
    sources = {(space, s): read_record(next(out.glob(f"{preset}-landmarks-seed{s}-*")) / RECORD_NAME)
               for space, preset, _ in SPACES for s in SEEDS}
    for path in paths:
        rec = read_record(path, run=False)
        a, pool = rec["attrs"], rec["tables"]["pool"]
        # NB201 records keep the paths of before NB101 (finished ones are still found); NB101's are prefixed
        space = "NB101" if path.parent.name.startswith("nb101-") else "NB201"
        src = sources[(space, a["settings"]["seed"])]
        assert path.parent.name == ("nb101-" if space == "NB101" else "") + f"{a['ranker']}-seed{a['settings']['seed']}"
        assert path == b1.record_path(out, space, a["ranker"], a["settings"]["seed"])
        assert list(pool["arch"]) == list(src["tables"]["pool"]["arch"]) and len(pool) == 12
        assert np.array_equal(pool["gt"], src["tables"]["pool"]["gt"])
        assert a["source_run"] == Path(src["path"]).parent.name
        assert a["ground_truth"]["digest"] == src["attrs"]["ground_truth"]["digest"]
        # the stored metrics are all_metrics of the stored pool (non-finite scores ranked last)
        want = all_metrics(ranking_scores(pool["score"]), pool["gt"])
        assert a["final_metrics"].keys() == want.keys()
        assert all(np.isclose(a["final_metrics"][k], v, equal_nan=True) for k, v in want.items()), a["ranker"]
        if a["ranker_kind"] == "predictor":  # trained on exactly the seed's landmarks
            assert a["gt_labels"] == 5 and a["settings"]["model"] in ("mlp", "gcn") and a["timings"]["train_s"] > 0
            pd.testing.assert_frame_equal(rec["tables"]["landmarks"], src["tables"]["landmarks"][["arch", "gt"]])
        else:
            assert a["gt_labels"] == 0 and a["timings"]["per_arch_s"] > 0
            st = a["settings"]
            assert (st["batch_size"], st["net"]["C"], st["task"], st["space"]) == \
                (64, 4 if space == "NB201" else 5, "smoke-fmnist", space.lower())
            # NASWOT was -inf on every NB101 network while its ReLUs were functions
            assert a["ranker"] != "naswot" or np.isfinite(pool["score"]).all()
    # a rerun computes nothing and rewrites nothing
    mtimes = [p.stat().st_mtime_ns for p in paths]
    defn = get_definition("B1")
    jobs = b1.plan(plan(defn, "micro", out), collect(defn, "micro", out), out)
    assert all(j.done for j in jobs) and b1.compute(jobs, progress=False) == []
    reproduce("B1", out_dir=out, progress=False)
    assert [p.stat().st_mtime_ns for p in paths] == mtimes


@pytest.mark.slow
def test_table_rows_intervals_and_figure(b1_out):
    out, text = b1_out
    md = (out / "B1.md").read_text()
    for row in ("SPOS super-net |", "SPOS super-net + landmarks", "jacob_cov (training-free)",
                "GCN, pairwise loss (on the landmarks)", "MLP, mse loss (on the landmarks)", "noise ceiling of the GT"):
        assert row in md and row in text
    assert md.count("| 3 seeds; pool 12 |") == len(SPACES) * N_ROWS
    # one block per space, in grid order, each closed by the noise ceiling of its own GT
    body = [line for line in md.splitlines() if line.startswith("| NB")]
    assert [line.split("|")[1].strip() for line in body] == ["NB201"] * (N_ROWS + 1) + ["NB101"] * (N_ROWS + 1)
    assert "noise ceiling of the GT (micro-fmnist-nb201)" in body[N_ROWS]
    assert "noise ceiling of the GT (micro-fmnist-nb101)" in body[-1]
    assert all((out / f).is_file() for f in ("B1.tex", "B1_kendall_tau.png", "B1_kendall_tau.pdf"))
    csv = pd.read_csv(out / "B1.csv")
    nb101 = csv[(csv.metric == "kendall_tau") & (csv.space == "NB101")].set_index("row")
    assert len(nb101) == N_ROWS + 1 and (nb101[nb101.kind != "ceiling"].n == 3).all()
    assert nb101.loc["noise ceiling of the GT", "n"] == \
        registry.load("micro-fmnist-nb101").seed_matrix("eval_acc").shape[1]
    tau = csv[(csv.metric == "kendall_tau") & (csv.space == "NB201")].set_index("row")
    assert len(tau) == N_ROWS + 1
    rankers = tau[tau.kind != "ceiling"]
    assert (rankers.n == 3).all() and (rankers.pool_size == 12).all()
    assert set(rankers.gt_labels) == {0, 5} and rankers.loc["SPOS super-net + landmarks", "gt_labels"] == 5
    # jacob_cov can be undefined (NaN) on a constant pool; every other row has both intervals
    finite = rankers.drop(index=[r for r in rankers.index if rankers.loc[r, "n_nan"] > 0])
    assert len(finite) >= N_ROWS - 1
    assert np.isfinite(finite[["ci_lo", "ci_hi", "hb_lo", "hb_hi"]].to_numpy()).all()
    ceiling = tau.loc["noise ceiling of the GT"]
    gt_seeds = registry.load("micro-fmnist-nb201").seed_matrix("eval_acc").shape[1]
    assert np.isfinite([ceiling["mean"], ceiling["ci_lo"], ceiling["ci_hi"]]).all() and ceiling["n"] == gt_seeds
    # the super-net row, by hand: seed mean of the pools' Kendall tau; compute = train + score seconds
    recs = [read_record(next(out.glob(f"quick-landmarks-seed{s}-*")) / RECORD_NAME) for s in SEEDS]
    lm = rankers.loc["SPOS super-net + landmarks"]
    assert lm["mean"] == pytest.approx(np.mean([r["attrs"]["final_metrics"]["kendall_tau"] for r in recs]))
    assert lm["compute_s_per_seed"] == pytest.approx(13.0)
    assert set(csv.metric.dropna()) == {"kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10",
                                        "top1_gt_percentile", "top10_best_gt_percentile"}


@pytest.mark.slow
def test_stale_ground_truth_is_refused(b1_out, tmp_path, capsys):
    out, _ = b1_out
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path = copy / b1.RANKER_DIR / "snip-seed1" / RECORD_NAME
    rec = read_record(path, run=False)
    rec["attrs"]["ground_truth"]["digest"] = "0" * 16  # scored against another version of the table
    write_record(path, {"attrs": rec["attrs"], "tables": {k: t.to_dict("records") for k, t in rec["tables"].items()}})
    with pytest.raises(ConfigError, match="another version of 'micro-fmnist-nb201'"):
        render("B1", "micro", copy)
    assert main(["reproduce", "B1", "--out", str(copy), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "snip-seed1" in err[0] and "move it away" in err[0]


@pytest.mark.slow
def test_dry_run_lists_runs_and_ranker_records(small_grid, b1_out, tmp_path, capsys):
    write_supernets(tmp_path, seeds=(0,))
    assert main(["reproduce", "B1", "--dry-run", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    n = len(b1.ranker_ids())
    assert "12 runs (4 finished, 8 to run, 0 not runnable)" in text
    assert f"B1 rankers: {6 * n} records (0 finished, {2 * n} to compute, {4 * n} waiting" in text
    for record in ("jacob_cov-seed0", "gcn-pairwise-seed2", "nb101-jacob_cov-seed0", "nb101-gcn-pairwise-seed2"):
        assert f"  {record} " in text
    assert "Ranker estimate" in text
    assert not (tmp_path / b1.RANKER_DIR).exists()  # a dry run writes nothing
    out, _ = b1_out
    assert main(["reproduce", "B1", "--dry-run", "--out", str(out)]) == 0
    assert f"({6 * n} finished, 0 to compute, 0 waiting" in capsys.readouterr().out
