"""Super-net runs: records, checkpoint/resume after a kill, scoring BN modes."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lmreg.algorithms.scoring import score
from lmreg.algorithms.base import TrainConfig
from lmreg.algorithms.spos import SPOS
from lmreg.bench.datasets.tasks import load_task
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import load_config, run_name
from lmreg.experiments.runner import CHECKPOINT_NAME, evaluate, run
from lmreg.results.records import RecordError, load_runs, read_record, write_record
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig, subnet_state
from lmreg.spaces.nb201_space import SPACE
from tests.fixtures import LMREG

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["train.epochs=5", "train.warmup_epochs=1", "eval.every=2"]


def _tables_equal(a: dict, b: dict) -> None:
    for name in ("evals", "pool", "landmarks"):
        pd.testing.assert_frame_equal(a["tables"][name], b["tables"][name])
    ca, cb = a["tables"]["curves"].drop(columns="epoch_time"), b["tables"]["curves"].drop(columns="epoch_time")
    pd.testing.assert_frame_equal(ca, cb)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_record(tmp_path):
    cmd = [*LMREG, "train", "--preset", "quick", "--workers", "1",
           "--no-progress", "--out", str(tmp_path / "killed"), *sum((["--set", s] for s in QUICK), [])]
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cfg = load_config("quick", QUICK)
    ckpt = tmp_path / "killed" / run_name(cfg) / CHECKPOINT_NAME
    deadline = time.time() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "run made no progress"
        if ckpt.exists():
            try:
                epoch = torch.load(ckpt, weights_only=False)["state"]["epoch"]
            except Exception:  # replaced while reading
                epoch = 0
            if epoch >= 2:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker, mid-training
    proc.wait()
    assert not (ckpt.parent / "record.h5").exists()

    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert not ckpt.exists()
    ref_path = run(cfg, tmp_path / "ref")
    _tables_equal(read_record(ckpt.parent / "record.h5"), read_record(ref_path))


def test_record_contents_and_loader(tmp_path):
    cfg = load_config("quick", ["train.epochs=2", "train.warmup_epochs=1", "eval.every=1", "landmarks.m=5",
                                "eval.pool_size=12"])
    path = run(cfg, tmp_path)
    rec = read_record(path)
    attrs, tables = rec["attrs"], rec["tables"]
    assert attrs["config"]["landmarks"]["m"] == 5 and attrs["git_commit"]
    assert attrs["versions"]["torch"] == torch.__version__
    assert attrs["versions"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert list(tables["curves"].epoch) == [0, 1]
    assert tables["curves"].coef.iloc[0] == 0 and tables["curves"].coef.iloc[1] > 0
    assert list(tables["evals"].epoch) == [0, 1]
    assert len(tables["pool"]) == 12 and len(tables["landmarks"]) == 5
    assert not set(tables["pool"].arch) & set(tables["landmarks"].arch)
    assert list(tables["landmarks"]["gt"]) == sorted(tables["landmarks"]["gt"])
    assert (path.parent / "supernet.pt").exists()
    frame = load_runs([tmp_path])
    from scipy import stats
    pool_tau = stats.kendalltau(tables["pool"]["score_acc"], tables["pool"]["gt"]).statistic
    assert len(frame) == 1 and frame.landmarks.iloc[0] and frame.kendall_tau.iloc[0] == pytest.approx(pool_tau)
    # A finished run is not trained again.
    mtime = path.stat().st_mtime_ns
    assert run(cfg, tmp_path) == path and path.stat().st_mtime_ns == mtime
    # Re-scoring with the run's own settings gives its metrics again; another BN mode works too.
    again = evaluate(path.parent)["metrics"]
    assert again == pytest.approx({k: attrs["final_metrics"][k] for k in again})
    out = evaluate(path.parent, ["eval.bn_mode=recalibrate", "eval.recal_batches=2"])
    assert out["eval"]["bn_mode"] == "recalibrate" and -1 <= out["metrics"]["kendall_tau"] <= 1
    with pytest.raises(ConfigError, match="only changes eval"):
        evaluate(path.parent, ["train.epochs=3"])


def test_record_errors(tmp_path):
    with pytest.raises(RecordError, match="no such run record"):
        read_record(tmp_path / "nope.h5")
    (tmp_path / "bad.h5").write_text("garbage")
    with pytest.raises(RecordError, match="unreadable"):
        read_record(tmp_path / "bad.h5")
    write_record(tmp_path / "ok.h5", {"attrs": {"x": 1}, "tables": {"t": [{"a": 1.0, "b": "s"}]}})
    with pytest.raises(RecordError, match="not a super-net run record"):
        read_record(tmp_path / "ok.h5")
    rec = read_record(tmp_path / "ok.h5", run=False)
    assert rec["attrs"]["x"] == 1 and rec["tables"]["t"].b.iloc[0] == "s"
    assert not list(tmp_path.glob("*.tmp"))


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'; valid keys: epochs"):
        load_config("micro", ["train.epoch=3"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("nonexistent")
    with pytest.raises(ConfigError, match="takes a int"):
        load_config("micro", ["train.epochs=many"])
    with pytest.raises(ConfigError, match="warmup_epochs"):
        load_config("micro", ["train.warmup_epochs=40"])
    with pytest.raises(ConfigError, match="unknown eval.bn_mode 'precise'; valid modes: batch"):
        load_config("micro", ["eval.bn_mode=precise"])
    with pytest.raises(ConfigError, match="eval.every must be >= 1"):
        load_config("micro", ["eval.every=0"])
    cfg = load_config("micro", ["eval.n_images=none", "use_landmarks=false"])
    assert cfg.eval.n_images is None and cfg.use_landmarks is False
    paper = load_config("nb201-cifar10")
    assert (paper.train.epochs, paper.train.warmup_epochs, paper.train.lr, paper.net.C, paper.net.N) == (400, 150, 0.025, 16, 5)
    with pytest.raises(ConfigError, match="unknown draws"):
        load_config("micro", ["draws=shared"])
    with pytest.raises(ConfigError, match="valid cell types"):
        load_config("micro", ["net.cell=op_on_edge"])


def test_paper_preset_is_the_official_setting():
    """The official NB201 SPOS block (validate-landmarkloss.sh, cnn_search_configs.py)."""
    p = load_config("nb201-cifar10")
    assert (p.train.lr_min, p.train.momentum, p.train.weight_decay, p.train.batch_size, p.train.grad_clip,
            p.train.unsampled_grads, p.train.drop_last, p.train.landmark_augment) == (
        0.001, 0.9, 5e-4, 256, 5.0, "zero", False, True)
    assert (p.net.cell, p.net.bn_affine, p.net.bn_track_running_stats) == ("op_on_node", True, False)
    lm = p.landmarks
    assert (lm.m, lm.selection, lm.pair_sampler, lm.n_pairs, lm.pair_reduction, lm.loss_form, lm.schedule,
            lm.max_coef, lm.landmark_warmup_epochs) == (50, "random", "official", 1, "sum", "hinge",
                                                        "cosine_increase", 10.0, 10)
    assert (p.eval.pool_size, p.eval.batch_size, p.eval.every, p.eval.bn_mode, p.draws) == (
        200, 256, 30, "batch", "run_seed")


def test_draws_follow_the_run_seed():
    """Official: landmarks, pool and data split come from the run seed; both arms of a
    seed share them (paired differences). 'fixed' keeps them for every seed."""
    from lmreg.bench.datasets.tasks import resplit
    from lmreg.experiments.runconfig import draw_seeds
    from lmreg.experiments.runner import choose_archs

    def draws(*sets):
        cfg = load_config("micro", list(sets))
        _, landmarks, pool = choose_archs(cfg)
        return landmarks, pool, draw_seeds(cfg)["split"]

    s0, s1 = draws("seed=0"), draws("seed=1")
    assert s0 == draws("seed=0", "use_landmarks=false")  # both arms of a seed
    assert s0[0] != s1[0] and s0[1] != s1[1] and s0[2] != s1[2]
    assert not set(s0[0]) & set(s0[1])  # landmarks never in the pool
    f0, f1 = draws("seed=0", "draws=fixed"), draws("seed=1", "draws=fixed")
    assert f0 == f1 and f0[2] is None

    rng = np.random.default_rng(0)
    arrays = {f"{s}_{k}": (rng.integers(0, 255, (n, 1, 2, 2), dtype=np.uint8) if k == "x"
                           else np.arange(n) + off)
              for s, n, off in (("train", 6, 0), ("valid", 4, 100), ("test", 3, 200)) for k in ("x", "y")}
    a, b = resplit(arrays, s0[2]), resplit(arrays, s1[2])
    for split in (a, b):
        assert len(split["train_y"]) == 6 and len(split["valid_y"]) == 4
        assert sorted(np.concatenate([split["train_y"], split["valid_y"]])) == sorted(
            np.concatenate([arrays["train_y"], arrays["valid_y"]]))
        assert np.array_equal(split["test_y"], arrays["test_y"])
    assert not np.array_equal(a["train_y"], b["train_y"])


def test_sample_path_is_uniform_over_ops():
    import random
    rng = random.Random(0)
    draws = np.array([SPACE.sample_path(rng) for _ in range(5000)])
    for pos in range(6):
        counts = np.bincount(draws[:, pos], minlength=5) / len(draws)
        assert np.all(np.abs(counts - 0.2) < 0.03)


def test_nan_loss_stops_with_clear_error():
    task = load_task("smoke-fmnist")
    model = NB201Net(NetConfig(C=4, N=1, in_channels=1))
    trainer = SPOS(model, task, TrainConfig(epochs=2, warmup_epochs=0, lr=1e30, grad_clip=1e30), 0, SPACE)
    with pytest.raises(FloatingPointError, match="loss became nan|loss became inf"):
        for epoch in range(2):
            trainer.train_epoch(epoch)


def test_scoring_batch_mode_matches_standalone_forward():
    task = load_task("smoke-fmnist")
    torch.manual_seed(0)
    cfg = NetConfig(C=4, N=1, in_channels=1, bn_track_running_stats=False)
    supernet = NB201Net(cfg)
    archs = nb201.sample(4, seed=2)
    acc, loss = score(supernet, archs, task, n=300, batch_size=100, bn_mode="batch")
    for arch, a, l in zip(archs, acc, loss):
        net = NB201Net(cfg, arch)
        net.load_state_dict(subnet_state(supernet, net))
        net.eval()
        with torch.no_grad():
            logits = torch.cat([net(x) for x, _ in task.batches("test", 100)][:3])
        y = task.y["test"][:300]
        assert math.isclose(a, 100 * (logits.argmax(1) == y).double().mean().item(), abs_tol=1e-9)
        assert math.isclose(l, torch.nn.functional.cross_entropy(logits, y).item(), rel_tol=1e-5)


def test_scoring_modes_leave_the_model_unchanged():
    task = load_task("smoke-fmnist")
    tracked = NB201Net(NetConfig(C=4, N=1, in_channels=1, bn_track_running_stats=True))
    tracked.train()
    for x, _ in task.batches("train", 100):  # give the running statistics some history
        tracked(x, nb201.sample(1, seed=0)[0])
    before = {k: v.clone() for k, v in tracked.state_dict().items()}
    archs = nb201.sample(3, seed=1)
    results = {m: score(tracked, archs, task, n=200, batch_size=100, bn_mode=m, recal_batches=2)[0]
               for m in ("batch", "recalibrate", "running")}
    after = tracked.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert tracked.training
    assert not np.array_equal(results["batch"], results["running"])
    untracked = NB201Net(NetConfig(C=4, N=1, in_channels=1, bn_track_running_stats=False))
    with pytest.raises(ValueError, match="bn_track_running_stats"):
        score(untracked, archs, task, n=100, bn_mode="running")
    with pytest.raises(KeyError, match="valid modes"):
        score(untracked, archs, task, n=100, bn_mode="precise")


def test_runs_scored_against_a_rebuilt_table_are_refused(tmp_path):
    """A rebuilt ground truth keeps the config but moves landmarks, pool and every metric:
    a finished run, a checkpoint and a baseline from the old table must not be reused."""
    from lmreg.bench import registry
    from lmreg.bench.gt_table import GTTable
    from lmreg.experiments.run_folders import finished_record
    from lmreg.paper_figures.regress import BaselineError, gate, make_baseline
    from lmreg.results.identity import ground_truth_digest

    table_path = tmp_path / "gt.h5"
    table = GTTable.read(registry.resolve("micro-fmnist-nb201"))
    table.write(table_path)
    cfg = load_config("quick", ["train.epochs=1", "train.warmup_epochs=0", "eval.every=1", "landmarks.m=4",
                                "eval.pool_size=10", f"benchmark={table_path}"])
    path = run(cfg, tmp_path / "runs")
    rec = read_record(path)
    gt = registry.load(str(table_path)).per_arch("eval_acc")
    assert rec["attrs"]["ground_truth"] == {"benchmark": str(table_path), "metric": "eval_acc",
                                            "cells": len(gt), "digest": ground_truth_digest(gt)}
    assert finished_record(path, cfg)

    # Rebuild: one pool architecture's accuracy changes by a hundredth of a point.
    arch = rec["tables"]["pool"]["arch"].iloc[0]
    rows = [i for i, a in enumerate(table.archs) if a == arch]
    table.curves["eval_acc"][rows, -1] += 0.01
    table.write(table_path)
    with pytest.raises(ConfigError, match="another version"):
        run(cfg, tmp_path / "runs")
    with pytest.raises(ConfigError, match="another version"):
        evaluate(path.parent)
    # A record written before the digest was stored is caught by its pool's GT values.
    legacy = {"attrs": {k: v for k, v in rec["attrs"].items() if k != "ground_truth"},
              "tables": {k: v.to_dict("records") for k, v in rec["tables"].items()}}
    write_record(path, legacy)
    with pytest.raises(ConfigError, match="another version"):
        finished_record(path, cfg)

    # The gate refuses runs scored against another table than its baseline's.
    baseline = make_baseline([rec, {**rec, "attrs": {**rec["attrs"], "config": {**rec["attrs"]["config"], "seed": 1}}}])
    moved = {**rec, "attrs": {**rec["attrs"], "ground_truth": {**rec["attrs"]["ground_truth"], "digest": "0" * 16}}}
    with pytest.raises(BaselineError, match="table has changed"):
        gate(baseline, [moved])
    results, notes = gate(baseline, [rec])
    assert results and not any("digest" in n for n in notes)
