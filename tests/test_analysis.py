"""Analysis stage: definitions registry, reproduce dry-runs, rendering from synthetic
records, the regression gate, and report. Most tests use tiny fake records written
in the runner's format, so no training is needed; the quick-run tests (marked slow)
train 6 quick super-nets into a temporary folder once per session (about a minute
on 2 cores) and never read runs from the repository."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmreg.experiments.cli import main
from lmreg.experiments.reproduce import plan, render
from lmreg.experiments.run_folders import ground_truth_info
from lmreg.experiments.runconfig import load_config, to_dict
from lmreg.experiments.runconfig import describe_setting
from lmreg.paper_figures.aggregate import group_records, to_latex
from lmreg.paper_figures.definitions import DEFINITIONS, PAPER_VALUES, get_definition
from lmreg.paper_figures.metrics import all_metrics
from lmreg.paper_figures.regress import (BaselineError, gate, make_baseline, parse_tolerance, read_baseline,
                                         upper_bound)
from lmreg.paper_figures.stats import hierarchical_bootstrap, hierarchical_bootstrap_diff
from lmreg.results.records import RECORD_NAME, read_record, write_record

ROOT = Path(__file__).resolve().parents[1]
QUICK_BASELINE = ROOT / "results" / "baselines" / "quick.json"
GATE_BASELINE = ROOT / "results" / "baselines" / "gate.json"


def fake_record(cfg, quality: float, seed_noise: int = 0, n_pool: int = 20, n_lm: int = 5) -> dict:
    """A record shaped like experiments/runner.py writes, with super-net scores that
    agree with GT more the higher `quality` (0..1)."""
    rng = np.random.default_rng(1000 + cfg.seed + 7 * seed_noise)
    gt = np.round(rng.uniform(80, 88, n_pool + n_lm), 2)
    score = quality * (gt - gt.mean()) / gt.std() + (1 - quality) * rng.normal(size=gt.size)
    pool_gt, lm_gt = gt[:n_pool], np.sort(gt[n_pool:])
    pool_s, lm_s = score[:n_pool], score[n_pool:]
    epochs = cfg.train.epochs
    evals = [{"epoch": float(e), **all_metrics(pool_s + rng.normal(scale=0.3 * (epochs - e) / epochs, size=n_pool),
                                               pool_gt)}
             for e in range(epochs) if (e + 1) % cfg.eval.every == 0 or e == epochs - 1]
    evals[-1] = {"epoch": float(epochs - 1), **all_metrics(pool_s, pool_gt)}
    curves = [{"epoch": float(e), "lr": 0.05, "coef": float(cfg.use_landmarks and e >= cfg.train.warmup_epochs),
               "train_loss": 1.0, "train_acc": 60.0, "landmark_loss": 0.0, "violated_fraction": float("nan"),
               "epoch_time": 0.1} for e in range(epochs)]
    arch = [f"|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|none~2|#{i}" for i in range(gt.size)]
    return {"attrs": {"config": to_dict(cfg), "versions": {"torch": "fake"}, "git_commit": "fake",
                      "seeds": {"run": cfg.seed},
                      "final_metrics": {**evals[-1], "search_gt_percentile": float(rng.uniform(50, 100))},
                      "timings": {"train_s": 1.0, "score_s": 1.0},
                      "ground_truth": ground_truth_info(cfg)},  # as if scored against today's table
            "tables": {"curves": curves, "evals": evals,
                       "landmarks": [{"arch": a, "gt": float(g), "score_acc": float(s), "score_loss": 1.0}
                                     for a, g, s in zip(arch[n_pool:], lm_gt, lm_s)],
                       "pool": [{"arch": a, "gt": float(g), "score_acc": float(s), "score_loss": 1.0}
                                for a, g, s in zip(arch[:n_pool], pool_gt, pool_s)]}}


def write_grid(defn_name: str, out: Path, quality=lambda cfg: 0.8 if cfg.use_landmarks else 0.4, limit=None,
               seeds=None):
    """Fake records for every runnable run of a definition's micro grid (of the given seeds only)."""
    runs = [r for r in plan(get_definition(defn_name), "micro", out)
            if r.config is not None and (seeds is None or r.seed in seeds)]
    for r in runs[:limit]:
        write_record(out / r.name / RECORD_NAME, fake_record(r.config, quality(r.config)))
    return runs


# Registry and dry runs ---------------------------------------------------------------
def test_registry_errors(capsys):
    assert list(DEFINITIONS) == ["T1", "T2", "F1", "F2", "B1", "G1", "B2"]
    with pytest.raises(KeyError, match="valid tables and figures: T1, T2, F1, F2, B1, G1, B2"):
        get_definition("T3")
    with pytest.raises(KeyError, match="valid scales: micro, paper"):
        get_definition("T1").grid("huge")
    assert main(["reproduce", "T3", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valid tables and figures: T1, T2, F1, F2, B1, G1, B2" in err[0]
    # Paper values: none recorded, every field ready to fill
    assert all(pv.paper_value is None for table in PAPER_VALUES.values() for pv in table.values())


def test_dry_run_lists_runs_and_costs(tmp_path, capsys):
    t1 = plan(get_definition("T1"), "micro", tmp_path)
    assert len(t1) == 70 and all(not r.status and not r.done for r in t1)
    assert sorted(r.name.rsplit("-", 1)[0] for r in t1) == sorted(
        f"{p}-{v}-seed{s}" for p in ("micro", "micro-fairnas", "micro-gdas", "micro-pcdarts", "micro-nao",
                                     "micro-nb101", "micro-nb101-nao")
        for v in ("baseline", "landmarks") for s in range(5))
    # T2: reference + default + 3 (M) + 3 (coef) + 4 (official schedules) + 2 (loss) + 2 (sampling)
    # configs, 3 seeds
    t2 = plan(get_definition("T2"), "micro", tmp_path)
    assert len(t2) == 16 * 3 and len({r.name for r in t2}) == 48
    assert len(plan(get_definition("F1"), "micro", tmp_path)) == 6
    base = next(r for r in t1 if r.name.startswith("micro-baseline-seed0-"))  # name + config hash
    lm = next(r for r in t1 if r.name.startswith("micro-landmarks-seed0-"))
    assert (base.cost["plain_epochs"], base.cost["reg_epochs"]) == (16, 0)
    assert (lm.cost["plain_epochs"], lm.cost["reg_epochs"]) == (6, 10)
    assert lm.cost["scorings"] == 4 * 100 + 50 and lm.cost["seconds"] > base.cost["seconds"] > 0

    assert main(["reproduce", "T2", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "48 runs (0 finished, 48 to run, 0 not runnable)" in out and "estimate" in out
    assert "micro-m10-landmarks-seed2" in out and "micro-sel-fixed-landmarks-seed0" in out
    assert not list(tmp_path.iterdir())  # a dry run writes nothing

    assert main(["reproduce", "T1", "--scale", "paper", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ground truth missing: benchmark 'nb101'" in out and "GPU hours are unknown" in out
    assert "nb101-cifar10-landmarks-seed1268" in out
    assert "nb201-cifar10-landmarks-seed1268" in out
    # the DARTS-NDS rows: four algorithms x two arms x the darts_nds branches' seeds, against the NDS table
    assert "66 runs" in out and "ground truth missing: benchmark 'nds-darts'" in out
    assert all(f"darts-nds-cifar10{a}-{v}-seed{s}-" in out for a in ("", "-gdas", "-pcdarts", "-nao")
               for v in ("baseline", "landmarks") for s in (1269, 1270, 1271))
    assert main(["reproduce", "T1", "--scale", "paper", "--dry-run", "--seconds-per-epoch", "30",
                 "--out", str(tmp_path)]) == 0
    assert "h of device time" in capsys.readouterr().out


# Rendering from synthetic records ---------------------------------------------------
def test_render_t1_f1_f2_from_synthetic_records(tmp_path, capsys):
    write_grid("T1", tmp_path, seeds=(0, 1, 2))  # 3 of T1's 5 seeds finished: the intervals below by hand
    text, paths = render("T1", "micro", tmp_path)
    names = {p.name for p in paths}
    assert names == {"T1.md", "T1.csv", "T1.tex", "T1_gain.png", "T1_gain.pdf"}
    md = (tmp_path / "T1.md").read_text()
    assert "| SPOS | NB201 | baseline | 3 |" in md and "landmarks − baseline (paired)" in md
    for alg in ("FairNAS", "GDAS", "PC-DARTS", "NAO"):
        assert f"| {alg} | NB201 | landmarks | 3 |" in md
    assert "paper (kendall_tau)" in md and md.count("n/a") >= 3
    # the GT's noise ceiling is a row of the table (paper_figures.noise on the shipped micro GT)
    from lmreg.bench import registry
    from lmreg.paper_figures.noise import noise_ceiling
    for bench, space in (("micro-fmnist-nb201", "NB201"), ("micro-fmnist-nb101", "NB101")):
        c = noise_ceiling(registry.load(bench).seed_matrix("eval_acc"))
        assert f"| noise ceiling of the GT | {bench} | — | {c['k']} GT seeds | {c['ceiling']:.3f} [" in md
    for alg in ("SPOS", "NAO"):  # the NB101 rows, each scored against its own GT
        assert f"| {alg} | NB101 | landmarks | 3 |" in md and f"| {alg} | NB101 | landmarks − baseline (paired) |" in md
    assert "ground truths micro-fmnist-nb201, micro-fmnist-nb101" in md
    import pandas as pd
    csv = pd.read_csv(tmp_path / "T1.csv")
    assert {"paper_value", "paper_source", "mean", "std", "ci_lo", "ci_hi", "n", "hb_lo", "hb_hi",
            "pool_size"} <= set(csv.columns)
    row = csv[(csv.variant == "landmarks") & (csv.metric == "kendall_tau")].iloc[0]
    recs = [read_record(next(tmp_path.glob(f"micro-landmarks-seed{s}-*")) / RECORD_NAME) for s in (0, 1, 2)]
    taus = [r["attrs"]["final_metrics"]["kendall_tau"] for r in recs]
    # the t interval over the three seeds, by hand: t_{0.975, 2} = 0.95 * sqrt(2 / 0.0975)
    half = 0.95 * (2 / 0.0975) ** 0.5 * np.std(taus, ddof=1) / 3 ** 0.5
    assert (row["mean"], row["ci_lo"], row["ci_hi"]) == pytest.approx((np.mean(taus), np.mean(taus) - half,
                                                                       np.mean(taus) + half))
    # the hierarchical bootstrap on the records' pools (the fake runs share one pool of 20)
    pools = [(r["tables"]["pool"]["score_acc"].to_numpy(), r["tables"]["pool"]["gt"].to_numpy()) for r in recs]
    hb = hierarchical_bootstrap(pools, "kendall_tau", shared_pool=True)
    assert (row["hb_lo"], row["hb_hi"], row["n"], row["pool_size"]) == pytest.approx((hb["lo"], hb["hi"], 3, 20))
    assert row["hb_lo"] < row["mean"] < row["hb_hi"]
    diff = csv[(csv.variant == "landmarks-baseline") & (csv.metric == "kendall_tau")].iloc[0]
    base = [read_record(next(tmp_path.glob(f"micro-baseline-seed{s}-*")) / RECORD_NAME) for s in (0, 1, 2)]
    base_pools = [(r["tables"]["pool"]["score_acc"].to_numpy(), r["tables"]["pool"]["gt"].to_numpy()) for r in base]
    hbd = hierarchical_bootstrap_diff(base_pools, pools, "kendall_tau", shared_pool=True)
    assert (diff["hb_lo"], diff["hb_hi"]) == pytest.approx((hbd["lo"], hbd["hi"]))
    # every interval in the Markdown and LaTeX tables has its n beside it
    # 7 algorithm-space pairs (5 on NB201, 2 on NB101) x 3 rows (two arms, the difference) x 4 pool
    # metrics; the search result's percentile is a per-run value: its n has no pool
    assert md.count("(3 seeds; pool 20)") == 7 * 3 * 4 and "[t " in md and "; hb " in md
    assert md.count("(3 seeds)") == 7 * 3 and "search_gt_percentile" in md
    assert csv.paper_value.isna().all()
    tex = (tmp_path / "T1.tex").read_text()
    assert r"\begin{tabular}" in tex and r"kendall\_tau" in tex and r"$\pm$" in tex
    assert tex.count("(3 seeds; pool 20)") == 7 * 3 * 4
    # Figures through the command (all runs present: nothing is trained)
    for name in ("F1", "F2"):
        assert main(["reproduce", name, "--out", str(tmp_path), "--no-progress"]) == 0
        for ext in (".png", ".pdf"):
            assert (tmp_path / f"{name}{ext}").stat().st_size > 1000
    assert "written:" in capsys.readouterr().out


def test_render_t2_with_missing_rows(tmp_path):
    runs = write_grid("T2", tmp_path, limit=None)
    # drop the linear-schedule runs: the table says they were not run
    for r in runs:
        if "sched-linear" in r.name:
            shutil.rmtree(tmp_path / r.name)
    text, paths = render("T2", "micro", tmp_path)
    assert {p.name for p in paths} >= {"T2.md", "T2.csv", "T2.tex", "T2_ablations.png", "T2_ablations.pdf"}
    md = (tmp_path / "T2.md").read_text()
    assert "| schedule | linear_step_decrease | not run |" in md and "not run yet" in md
    assert "| number of landmarks M | 50 (default) | 3 |" in md and "Δ kendall_tau vs default" in md


def test_render_g1_rows_and_rounds(tmp_path):
    runs = write_grid("G1", tmp_path)
    assert len(runs) == 15  # 5 settings x 3 seeds
    for r in runs:  # the growing runs get rounds as runner._grow writes them
        cfg = r.config
        if cfg.use_landmarks and cfg.landmarks.grow_rounds:
            rec = read_record(tmp_path / r.name / RECORD_NAME)
            rec["tables"] = {k: v.to_dict("records") for k, v in rec["tables"].items()}
            top = cfg.landmarks.grow_select == "top"
            rec["tables"]["grow"] = [{"round": float(k), "epoch": float(7 + 3 * k), "candidates": 150.0,
                                      "added": "a b", "landmarks": float(50 + 10 * k),
                                      "added_gt_mean": 85.0, "added_gt_best": 88.0,
                                      "added_percentile_mean": (80.0 if top else 50.0) + cfg.seed,
                                      "added_percentile_best": 99.0, "pool_kendall_tau": 0.3 + 0.1 * k}
                                     for k in (1, 2)]
            write_record(tmp_path / r.name / RECORD_NAME, rec)
    text, paths = render("G1", "micro", tmp_path)
    assert {p.name for p in paths} >= {"G1.md", "G1.csv", "G1.tex", "G1_rounds.md", "G1_rounds.csv"}
    md = (tmp_path / "G1.md").read_text()
    assert "M=50, no growing (50 labels) (default) | 3 |" in md and "noise ceiling" in md
    rounds = (tmp_path / "G1_rounds.md").read_text()
    assert "| grow: super-net top-k | 1 | 10 | 3 | 60 | 81.0 ± 1.0 |" in rounds
    assert "| grow: random | 2 | 13 | 3 | 70 | 51.0 ± 1.0 |" in rounds


def test_group_records_and_latex_escape(tmp_path):
    cfgs = [load_config("quick", [f"seed={s}", f"use_landmarks={lm}", "landmarks.m=5"])
            for s in (0, 1) for lm in (False, True)]
    cfgs.append(load_config("quick", ["seed=0", "landmarks.m=8"]))
    recs = [fake_record(c, 0.5) for c in cfgs]
    groups = group_records(recs)
    assert [g.label for g in groups] == ["quick-baseline (landmarks.m=5)", "quick-landmarks (landmarks.m=5)",
                                         "quick-landmarks (landmarks.m=8)"]
    assert [g.seeds for g in groups] == [[0, 1], [0, 1], [0]]
    with pytest.raises(Exception, match="appear twice"):
        group_records(recs + [fake_record(cfgs[0], 0.5)])
    rebuilt = fake_record(load_config("quick", ["seed=2", "use_landmarks=False", "landmarks.m=5"]), 0.5)
    rebuilt["attrs"]["ground_truth"] = {**rebuilt["attrs"]["ground_truth"], "digest": "f" * 16}
    with pytest.raises(Exception, match="2 different versions of their ground truth"):
        group_records(recs + [rebuilt])
    import pandas as pd
    assert r"a\_b \& 50\%" in to_latex(pd.DataFrame({"x": ["a_b & 50%"]}))


# Regression gate ------------------------------------------------------------------
def _records(quality_lm: float, quality_base: float = 0.4, noise: int = 0):
    cfgs = [load_config("quick", [f"seed={s}", f"use_landmarks={lm}"]) for s in (0, 1, 2) for lm in (False, True)]
    return [fake_record(c, quality_lm if c.use_landmarks else quality_base, seed_noise=noise) for c in cfgs]


def test_regress_pass_and_fail_on_synthetic_values(tmp_path, capsys):
    baseline = make_baseline(_records(0.8), describe=describe_setting)
    assert set(baseline["variants"]) == {"quick-baseline", "quick-landmarks"}
    v = baseline["variants"]["quick-baseline"]
    assert v["preset"] == "quick" and v["overrides"] == ["use_landmarks=False"] and v["seeds"] == [0, 1, 2]
    # fresh draws (other noise) of the baseline's quality pass; the baseline's own records would
    # pass a gate that merely matches values
    results, notes = gate(baseline, _records(0.8, noise=1))
    assert len(results) == 8 and all(r.passed for r in results) and not notes
    assert all(r.new_mean != r.base_mean for r in results if r.metric == "kendall_tau")  # really other runs
    results, _ = gate(baseline, _records(0.0, noise=1))  # landmark runs lose their ranking
    failed = {(r.variant, r.metric) for r in results if not r.passed}
    assert ("quick-landmarks", "kendall_tau") in failed and not any(v == "quick-baseline" for v, _ in failed)
    # the rule, by hand: pooled t upper bound of new mean - baseline mean against -tolerance.
    # new [0.1, 0.2, 0.3], base [0.3, 0.4, 0.5]: D = -0.2, s_p = 0.1, 4 dof, t_{0.95, 4} = 2.1318
    d, u, dof = upper_bound([0.1, 0.2, 0.3], [0.3, 0.4, 0.5])
    assert (d, dof) == (pytest.approx(-0.2), 4) and u == pytest.approx(-0.2 + 2.131847 * 0.1 * (2 / 3) ** 0.5)
    assert upper_bound([0.5], [0.6]) == (pytest.approx(-0.1), pytest.approx(-0.1), 0)  # no spread estimate
    one = make_baseline(_records(0.8))
    variant = one["variants"]["quick-landmarks"]
    b = np.array(variant["values"]["kendall_tau"])
    # three fresh seeds shifted 0.2 down: U = D + 2.1318 * s_p * sqrt(2/3), s_p pooled from both sides
    new = _records(0.8, noise=2)
    for rec in new:
        if rec["attrs"]["config"]["use_landmarks"]:
            rec["attrs"]["final_metrics"]["kendall_tau"] -= 0.2
    res = {(r.variant, r.metric): r for r in gate(one, new, tolerance=0.05)[0]}
    r = res[("quick-landmarks", "kendall_tau")]
    a = np.array([rec["attrs"]["final_metrics"]["kendall_tau"] for rec in new if rec["attrs"]["config"]["use_landmarks"]])
    s_p = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    assert not np.isclose(np.std(a, ddof=1), np.std(b, ddof=1), rtol=0.05)  # the pooling matters
    u = a.mean() - b.mean() + 2.131847 * s_p * (2 / 3) ** 0.5
    assert r.upper == pytest.approx(u, abs=1e-5) and r.passed == (u >= -0.05) and r.dof == 4
    assert "pooled t, 4 dof" in r.line(0.95)
    assert parse_tolerance(["0.1", "p_at_10=0.2"])["p_at_10"] == 0.2
    with pytest.raises(BaselineError, match="gated metrics"):
        parse_tolerance(["top5_percentile=1"])

    runs_ok, runs_new, runs_bad = tmp_path / "ok", tmp_path / "new", tmp_path / "bad"
    for folder, recs in ((runs_ok, _records(0.8)), (runs_new, _records(0.8, noise=1)), (runs_bad, _records(0.0, noise=1))):
        for rec in recs:
            c = rec["attrs"]["config"]
            name = f"{c['name']}-{'landmarks' if c['use_landmarks'] else 'baseline'}-seed{c['seed']}"
            write_record(folder / name / RECORD_NAME, rec)
    bfile = tmp_path / "base.json"
    assert main(["regress", "--write-baseline", str(bfile), str(runs_ok)]) == 0
    written = json.loads(bfile.read_text())
    assert written["format"] == "lmreg-baseline/1"
    # where the runs were measured (float paths differ between CPU kernels and threads)
    assert all(v["machines"] == ["torch fake, cpu not recorded, ? thread(s), device cpu"]
               for v in written["variants"].values())
    # the baseline as a distribution: mean, seed sd and n per metric, as numpy computes them
    v = written["variants"]["quick-landmarks"]
    tau = np.array(v["values"]["kendall_tau"])
    assert v["spread"]["kendall_tau"] == {"n": 3, "mean": pytest.approx(tau.mean()),
                                          "sd": pytest.approx(tau.std(ddof=1))}
    assert main(["regress", "--write-baseline", str(bfile), str(runs_ok)]) == 2  # exists: needs --force
    capsys.readouterr()
    assert main(["regress", "--baseline", str(bfile), str(runs_new)]) == 0  # held-out runs, not the baseline's
    assert main(["regress", "--baseline", str(bfile), str(runs_bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("FAIL quick-landmarks ") for line in err)
    # a huge tolerance lets the drop through; a config that matches nothing is an input error
    assert main(["regress", "--baseline", str(bfile), str(runs_bad), "--tolerance", "2"]) == 0
    # a baseline carries its own tolerance (sized from its spread): used unless --tolerance is given
    wide = tmp_path / "wide.json"
    assert main(["regress", "--write-baseline", str(wide), "--tolerance", "2", "--note", "sized by hand",
                 str(runs_ok)]) == 0
    assert json.loads(wide.read_text())["rule"]["tolerance"] == 2.0
    assert json.loads(wide.read_text())["note"] == "sized by hand"
    assert main(["regress", "--baseline", str(wide), str(runs_bad)]) == 0
    assert main(["regress", "--baseline", str(wide), "--tolerance", "0.05", str(runs_bad)]) == 1
    doctored = json.loads(wide.read_text())
    doctored["rule"]["tolerance"] = "lots"
    (tmp_path / "doctored.json").write_text(json.dumps(doctored))
    assert main(["regress", "--baseline", str(tmp_path / "doctored.json"), str(runs_bad)]) == 2
    other = tmp_path / "other"
    rec = fake_record(load_config("quick", ["seed=0", "train.epochs=3"]), 0.8)
    write_record(other / "x" / RECORD_NAME, rec)
    capsys.readouterr()
    assert main(["regress", "--baseline", str(bfile), str(other)]) == 2
    assert "train.epochs" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{}")
    assert main(["regress", "--baseline", str(tmp_path / "junk.json"), str(runs_ok)]) == 2


def test_regress_against_a_named_variant(tmp_path, capsys):
    """A change written as a config override (here a 'regression' that halves the epochs)
    is compared with a named baseline variant; without --against it matches nothing."""
    bfile = tmp_path / "base.json"
    for rec in _records(0.8):
        c = rec["attrs"]["config"]
        write_record(tmp_path / "ok" / f"{c['use_landmarks']}-{c['seed']}" / RECORD_NAME, rec)
    assert main(["regress", "--write-baseline", str(bfile), str(tmp_path / "ok")]) == 0
    for s in (0, 1, 2):  # far worse rankings under a changed config
        rec = fake_record(load_config("quick", [f"seed={s}", "train.epochs=2"]), 0.0)
        write_record(tmp_path / "half" / str(s) / RECORD_NAME, rec)
    capsys.readouterr()
    assert main(["regress", "--baseline", str(bfile), str(tmp_path / "half")]) == 2  # no variant has that config
    capsys.readouterr()
    assert main(["regress", "--baseline", str(bfile), "--against", "quick-landmarks", str(tmp_path / "half")]) == 1
    out, err = capsys.readouterr()
    assert "configs differ in train.epochs: 4 vs 2" in out
    assert err.count("FAIL quick-landmarks kendall_tau") == 1
    # the same runs against the baseline arm's variant, with a tolerance that swallows the drop
    assert main(["regress", "--baseline", str(bfile), "--against", "quick-baseline", "--tolerance", "1",
                 str(tmp_path / "half")]) == 0
    assert main(["regress", "--baseline", str(bfile), "--against", "nope", str(tmp_path / "half")]) == 2
    assert "no such variant; it has quick-baseline, quick-landmarks" in capsys.readouterr().err


# The quick runs and the committed quick baseline ------------------------------------
@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory) -> Path:
    """6 quick runs (quick preset, the three seeds after the committed quick baseline's, so the
    gate grades fresh runs, with and without landmarks), trained once per session into a
    temporary folder (about a minute on 2 cores); nothing in the repository is written."""
    from lmreg.experiments.runner import run_many
    used = max(max(v["seeds"]) for v in read_baseline(QUICK_BASELINE)["variants"].values())
    seeds = (used + 1, used + 2, used + 3)
    cfgs = [load_config("quick", [f"seed={s}", f"use_landmarks={lm}"]) for s in seeds for lm in (False, True)]
    folder = tmp_path_factory.mktemp("demo-quick")
    run_many(cfgs, folder, workers=2, progress=False)
    return folder


@pytest.mark.slow
def test_quick_baseline_gate(quick_runs, tmp_path, capsys):
    assert QUICK_BASELINE.is_file(), "results/baselines/quick.json is missing"
    assert main(["regress", "--baseline", str(QUICK_BASELINE), str(quick_runs)]) == 0
    assert "8/8 metric(s) pass" in capsys.readouterr().out
    # a doctored copy whose landmark runs' metrics drop sharply must fail with exit 1
    for path in sorted(quick_runs.glob(f"*/{RECORD_NAME}")):
        rec = read_record(path)
        rec["tables"] = {k: v.to_dict("records") for k, v in rec["tables"].items()}
        if rec["attrs"]["config"]["use_landmarks"]:
            fm = rec["attrs"]["final_metrics"]
            for m in ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10"):
                fm[m] -= 0.5
        write_record(tmp_path / path.parent.name / RECORD_NAME, rec)
    assert main(["regress", "--baseline", str(QUICK_BASELINE), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("FAIL quick-landmarks") for line in err)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("LMREG_GATE_TEST") != "1",
                    reason="opt-in (LMREG_GATE_TEST=1): on an AMD EPYC machine with AVX2 kernels, unchanged "
                           "code failed this gate (seeds 8-9: Kendall tau 0.363 against the baseline's 0.461), "
                           "so the baseline does not yet hold the spread of the machines CI draws")
def test_gate_with_signal_passes_unchanged_code(tmp_path, capsys):
    """The gate CI runs: two fresh runs of the gate preset (landmarks arm, the two seeds after the
    baseline's, so never one of its own runs; about 3 minutes on 2 cores) against the committed
    8-seed baseline. Its Kendall tau is clearly above zero (the quick preset's is not), so a
    ranking regression has room to show; unchanged code passes with the false-alarm rate measured
    for 2 fresh seeds."""
    base = read_baseline(GATE_BASELINE)
    assert list(base["variants"]) == ["gate-landmarks"]
    tau = np.array(base["variants"]["gate-landmarks"]["values"]["kendall_tau"])
    assert len(tau) >= 8 and tau.mean() - 3 * tau.std(ddof=1) / np.sqrt(len(tau)) > 0.2  # real signal
    used = base["variants"]["gate-landmarks"]["seeds"]
    fresh = (max(used) + 1, max(used) + 2)
    from lmreg.experiments.runner import run_many
    run_many([load_config("gate", [f"seed={s}"]) for s in fresh], tmp_path, workers=2, progress=False)
    code = main(["regress", "--baseline", str(GATE_BASELINE), str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "3/3 metric(s) pass" in out


@pytest.mark.slow
def test_report_on_quick_runs(quick_runs, tmp_path, capsys):
    assert main(["report", str(quick_runs), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "6 run(s) in 2 config group(s)" in out
    assert "| quick-baseline | 3 |" in out and "| quick-landmarks | 3 |" in out
    assert "Landmarks minus baseline" in out
    for name in ("report.md", "report.csv", "report.tex", "report_differences.md", "F1_rank_scatter.png",
                 "F1_rank_scatter.pdf", "F2_tau_over_epochs.png", "F2_tau_over_epochs.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    import pandas as pd
    recs = [read_record(p) for p in sorted(quick_runs.glob(f"*/{RECORD_NAME}"))]
    by = {(r["attrs"]["config"]["use_landmarks"], r["attrs"]["config"]["seed"]): r for r in recs}
    seeds = sorted({s for _, s in by})
    data = pd.read_csv(tmp_path / "report.csv")
    assert len(data) == 2 * 4 and (data.n == 3).all() and (data.pool_size == 30).all()
    assert np.isfinite(data[["mean", "std", "ci_lo", "ci_hi", "hb_lo", "hb_hi"]].to_numpy(float)).all()
    diffs = pd.read_csv(tmp_path / "report_differences.csv").set_index("metric")
    for m in ("kendall_tau", "sparse_kendall_tau", "spearman_rho", "p_at_10"):
        row = data[(data.group == "quick-landmarks") & (data.metric == m)].iloc[0]
        vals = [by[True, s]["attrs"]["final_metrics"][m] for s in seeds]
        assert row["mean"] == pytest.approx(np.mean(vals), abs=1e-12)
        d = [by[True, s]["attrs"]["final_metrics"][m] - by[False, s]["attrs"]["final_metrics"][m] for s in seeds]
        assert diffs.loc[m, "diff"] == pytest.approx(np.mean(d), abs=1e-12) and diffs.loc[m, "n"] == 3
        assert diffs.loc[m, "hb_lo"] <= diffs.loc[m, "hb_estimate"] <= diffs.loc[m, "hb_hi"]
    assert out.count("(3 seeds; pool 30)") == 3 * 4
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_paper_dry_run_uses_measured_gpu_step_times(tmp_path, monkeypatch, capsys):
    """With benchmarks/measured/gpu_paper.json present, a GPU config's estimate is
    steps per epoch x measured step time per epoch kind, plus scorings; by hand here."""
    import json
    import math
    from lmreg.experiments import reproduce
    from lmreg.experiments.runconfig import load_config
    fake = tmp_path / "gpu_paper.json"
    fake.write_text(json.dumps({"device": "Test GPU", "quick": False, "score_s_per_arch_10k": 2.0,
                                "per_step_s": {"spos plain": 0.01, "spos regularised": 0.03}}))
    monkeypatch.setattr(reproduce, "MEASURED_GPU", fake)
    cfg = load_config("nb201-cifar10")
    steps = math.ceil(25_000 / 256)
    n_evals = sum(1 for e in range(400) if (e + 1) % 30 == 0 or e == 399)
    search_images = 2 * 1000 * 21 * 256  # evolution: 1000 queries of 21 batches, each cell re-scored at most once
    expected = steps * (0.01 * 150 + 0.03 * 250) + 2.0 * (n_evals * 200 + 50 + search_images / 10_000)
    est = reproduce.estimate(cfg)
    assert est["seconds"] == pytest.approx(expected) and est["measured_on"] == "Test GPU"
    assert reproduce.estimate(load_config("nb201-cifar10-gdas"))["seconds"] is None  # not measured
    fake.write_text(json.dumps({"quick": True, "per_step_s": {"spos plain": 1, "spos regularised": 1}}))
    assert reproduce.estimate(cfg)["seconds"] is None  # a --quick smoke file is not a measurement


# The CPU cost model behind --dry-run -------------------------------------------------
def _fake_cpu_measurements(tmp_path, monkeypatch):
    """A measurement file with round numbers: 0.1 ms per training image, 0.01 ms per scored image
    and architecture, a regularised epoch 2x; GDAS with its own warm-up and search factors."""
    from lmreg.experiments import reproduce
    fake = tmp_path / "cpu_epochs.json"
    factors = {"warmup": 1.0, "plain": 1.0, "regularised": 2.0, "search": 1.0, "search_regularised": 2.0,
               "scoring": 1.0}
    data = {"format": "lmreg-cpu-epochs/1", "quick": False, "spos_plain_epoch_s_per_image": 1e-4,
            "spos_score_s_per_arch_image": 1e-5,
            "factors": {"spos": factors, "gdas": {**factors, "warmup": 3.0, "search": 5.0, "search_regularised": 7.0}}}
    fake.write_text(json.dumps(data))
    monkeypatch.setattr(reproduce, "MEASURED_CPU", fake)
    return fake, data


def _found_cell_bound(benchmark: str) -> float:
    """Training a searched cell the table lacks, at most: one run per table seed at the median
    of the run times stored in the table file (read with h5py, not through the harness)."""
    import h5py
    import numpy as np
    from lmreg.bench import registry
    with h5py.File(registry.resolve(benchmark), "r") as f:
        wall = np.asarray(f["wall_time"][()], dtype=float)
        seeds = np.unique(np.asarray(f["seed"][()]))
    return float(len(seeds) * np.median(wall[np.isfinite(wall)]))


def test_cpu_estimate_comes_from_the_committed_measurements(tmp_path, monkeypatch):
    """The committed experiments/measured/cpu_epochs.json (benchmarks/algorithm_epochs.py's output)
    covers every registered algorithm and is what a CPU estimate uses; by hand from a fake file."""
    from lmreg.algorithms.base import algorithm_names
    from lmreg.experiments import reproduce
    committed = reproduce.measured_cpu()
    assert committed is not None and set(algorithm_names()) <= set(committed["factors"])
    assert {"nb201", "nb101", "darts-nds"} <= set(committed["space_factors"])  # every micro preset's space
    lm = load_config("micro")  # 16 epochs, 6 warm-up, 10 regularised; 10,000 images; 4 evals x 100 + 50
    search_images = 2 * 1000 * 4 * 256  # micro's evolution: 1000 queries of 4 batches of 256, each cell re-scored once at most
    found = _found_cell_bound("micro-fmnist-nb201")
    spos = committed["factors"]["spos"]
    plain_s = committed["spos_plain_epoch_s_per_image"] * 10_000
    want = plain_s * (6 * spos["warmup"] + 10 * spos["regularised"]) \
        + committed["spos_score_s_per_arch_image"] * spos["scoring"] * (450 * 2000 + search_images) + found
    assert reproduce.estimate(lm)["seconds"] == pytest.approx(want)

    fake, data = _fake_cpu_measurements(tmp_path, monkeypatch)
    base = load_config("micro", ["use_landmarks=false"])
    assert reproduce.estimate(base)["seconds"] == pytest.approx(1.0 * 16 + 1e-5 * (450 * 2000 + search_images) + found)
    assert reproduce.estimate(lm)["seconds"] == pytest.approx(1.0 * (6 + 2 * 10) + 1e-5 * (450 * 2000 + search_images)
                                                              + found)
    gdas = load_config("micro-gdas")
    warm, search = gdas.train.warmup_epochs, gdas.algo.search_epochs
    middle = gdas.train.epochs - warm - search
    scorings = reproduce.estimate(gdas)["scorings"] * reproduce.estimate(gdas)["images"]
    assert reproduce.estimate(gdas)["seconds"] == pytest.approx(
        3.0 * warm + 2.0 * middle + 7.0 * search + 1e-5 * scorings)
    # --seconds-per-epoch scales training and scoring by the measured ratio
    assert reproduce.estimate(lm, seconds_per_epoch=10.0)["seconds"] == pytest.approx(
        10.0 * 26 + 10.0 / 10_000 * 0.1 * (450 * 2000 + search_images) + found)
    # no stand-alone training when the search cannot need it
    for change in ("search.method=pool", "search.train_missing=false"):
        assert reproduce.estimate(load_config("micro", [change]))["found_cell_s"] == 0.0
    # another space's network: unknown until timed, then scaled by its space factors (training, scoring)
    nb101 = load_config("micro-nb101", ["use_landmarks=false", "search.method=pool"])
    assert reproduce.estimate(nb101)["seconds"] is None
    fake.write_text(json.dumps({**data, "space_factors": {"nb101": {"train": 3.0, "score": 5.0}}}))
    assert reproduce.estimate(nb101)["seconds"] == pytest.approx(3.0 * 16 + 5.0 * 1e-5 * 450 * 2000)
    assert reproduce.estimate(base)["seconds"] == pytest.approx(1.0 * 16 + 1e-5 * (450 * 2000 + search_images) + found)
    assert reproduce.estimate(load_config("micro-fairnas"))["seconds"] is None  # not measured: unknown
    fake.write_text(json.dumps({**data, "quick": True}))
    assert reproduce.estimate(lm)["seconds"] is None  # a --quick smoke file is not a measurement


def test_estimate_sizes_come_from_the_registered_dataset(tmp_path, monkeypatch):
    """A new dataset's own sizes (its train half, its test set), not another dataset's; a task whose
    dataset is not registered is an error."""
    import dataclasses
    from lmreg.bench.datasets import tasks
    from lmreg.core.errors import UnknownNameError
    from lmreg.experiments import reproduce
    _fake_cpu_measurements(tmp_path, monkeypatch)
    monkeypatch.setattr(tasks, "DATASETS", tasks.DATASETS.copy())
    monkeypatch.setattr(tasks, "TASKS", tasks.TASKS.copy())
    fm = tasks.get_dataset("fashion-mnist")
    tasks.register_dataset(dataclasses.replace(fm, name="bigger", sizes=(24_000, 3_000)))
    tasks.register_task(tasks.TaskSpec("bigger-task", "bigger", 16, None, None, None))
    cfg = load_config("micro")  # 6 warm-up and 10 regularised epochs, 4 evals x 100 + 50 landmarks
    cfg = dataclasses.replace(cfg, task="bigger-task", eval=dataclasses.replace(cfg.eval, n_images=0))
    est = reproduce.estimate(cfg)
    assert est["images"] == 3_000
    search_images = 2 * 1000 * 4 * 256  # micro's evolution, whatever the dataset
    assert est["seconds"] == pytest.approx(1e-4 * 12_000 * (6 + 2 * 10) + 1e-5 * (450 * 3_000 + search_images)
                                           + _found_cell_bound("micro-fmnist-nb201"))
    tasks.TASKS.register("orphan", tasks.TaskSpec("orphan", "nowhere", 16, None, None, None))
    with pytest.raises(UnknownNameError, match="unknown dataset 'nowhere'"):
        reproduce.estimate(dataclasses.replace(cfg, task="orphan"))


def test_zero_width_intervals_and_undefined_replicates_say_so():
    """Seeds whose p_at_10 differences are all +0.1 give a paired t interval of zero width: the
    table says there is no spread instead of printing [+0.100, +0.100]; a bootstrap names the
    replicates it left out, and prints no interval past the share."""
    from lmreg.paper_figures.aggregate import cell, diff_cell, difference_cell, paired_differences
    base, lm = [], []
    for s, (b, l) in enumerate(((0.0, 0.1), (0.1, 0.2), (0.1, 0.2))):
        for arm, value, out in ((False, b, base), (True, l, lm)):
            rec = fake_record(load_config("quick", [f"seed={s}", f"use_landmarks={arm}"]), 0.8 if arm else 0.3)
            rec["attrs"]["final_metrics"]["p_at_10"] = value
            out.append(rec)
    groups = group_records(base + lm)
    diffs = paired_differences(groups[0], groups[1], ["p_at_10", "kendall_tau"]).set_index("metric")
    assert diffs.loc["p_at_10", "diff"] == pytest.approx(0.1)
    text = difference_cell(diffs.loc["p_at_10"])
    assert text.startswith("+0.100 [t zero width: no spread over seeds") and "+0.100, +0.100" not in text
    assert "zero width" not in difference_cell(diffs.loc["kendall_tau"])  # a real spread prints its bounds
    assert diff_cell(0.1, 0.05, 0.15, 3, with_n=False) == "+0.100 [t +0.050, +0.150]"
    assert cell(0.5, 0.0, 0.5, 0.5, 3, with_n=False) == "0.500 ± 0.000 [t zero width: no spread over seeds]"
    assert diff_cell(0.1, 0.05, 0.15, 3, hb_lo=0.0, hb_hi=0.2, hb_undefined=7, n_boot=2000, with_n=False) == \
        "+0.100 [t +0.050, +0.150; hb +0.000, +0.200 (7 of 2000 replicates undefined)]"
    assert diff_cell(0.1, math.nan, math.nan, 3, hb_undefined=900, n_boot=2000, with_n=False) == \
        "+0.100 [hb none: 900 of 2000 replicates undefined]"
