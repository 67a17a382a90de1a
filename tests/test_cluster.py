"""Runs submitted through submitit's local executor (the code path of --executor
slurm, without a cluster): records equal to in-process runs, finished runs reused,
a failing task reported in one line with the others kept."""

import pytest

pytest.importorskip("submitit")

from lmreg.experiments.cli import main
from lmreg.experiments.cluster import ClusterError, ClusterOptions
from lmreg.experiments.cluster_runs import submit_runs
from lmreg.experiments.runconfig import load_config
from lmreg.experiments.runner import run
from lmreg.results.records import read_record

TINY = ["task=smoke-fmnist", "train.epochs=2", "train.warmup_epochs=1", "train.batch_size=64", "landmarks.m=4",
        "eval.pool_size=10", "eval.every=1", "eval.n_images=128", "eval.batch_size=128"]


@pytest.mark.slow
def test_local_executor_runs_match_in_process_runs(tmp_path):
    configs = [load_config("quick", [*TINY, f"seed={s}"]) for s in (0, 1)]
    paths = submit_runs(configs, tmp_path / "sub", ClusterOptions("local", time_min=10))
    assert len(paths) == 2 and all(p.is_file() for p in paths) and paths[0] != paths[1]
    assert (tmp_path / "sub" / "submitit").is_dir()
    ref = read_record(run(configs[1], tmp_path / "ref"))
    got = read_record(paths[1])
    for table in ("evals", "pool", "landmarks"):
        assert got["tables"][table].equals(ref["tables"][table]), table
    # finished runs are reused: a second submission returns the same records untouched
    mtime = paths[0].stat().st_mtime_ns
    assert submit_runs(configs[:1], tmp_path / "sub", ClusterOptions("local", time_min=10)) == paths[:1]
    assert paths[0].stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_failing_task_is_one_line_and_others_are_kept(tmp_path):
    good = load_config("quick", [*TINY, "seed=0"])
    bad = load_config("quick", [*TINY, "seed=1", "train.lr=1e30", "train.grad_clip=1e30"])
    with pytest.raises(ClusterError, match="1 of 2 tasks failed") as e:
        submit_runs([good, bad], tmp_path, ClusterOptions("local", time_min=10))
    assert "\n" not in str(e.value) and "rerun the same command" in str(e.value)
    assert len(list(tmp_path.glob("quick-landmarks-seed0-*/record.h5"))) == 1


def test_executor_options_are_checked(capsys):
    with pytest.raises(Exception, match="unknown executor"):
        ClusterOptions("kubernetes")
    with pytest.raises(SystemExit) as stop:  # argparse
        main(["reproduce", "T1", "--executor", "slurm", "--time", "0"])
    assert stop.value.code == 2 and "argument --time: expected a whole number >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_ground_truth_build_through_the_local_executor(tmp_path):
    """The same table as the process pool, the journal written by this process as tasks end."""
    out = tmp_path / "sub" / "gt.h5"
    assert main(["bench", "build", "--out", str(out), "--task", "smoke-fmnist", "--archs", "3", "--seeds", "0",
                 "--set", "epochs=1", "--executor", "local", "--chunk", "2", "--no-progress"]) == 0
    assert main(["bench", "build", "--out", str(tmp_path / "pool" / "gt.h5"), "--task", "smoke-fmnist",
                 "--archs", "3", "--seeds", "0", "--set", "epochs=1", "--workers", "1", "--no-progress"]) == 0
    from lmreg.bench.gt_table import GTTable
    a, b = GTTable.read(out).frame(), GTTable.read(tmp_path / "pool" / "gt.h5").frame()
    cols = ["arch", "seed", "train_acc", "test_acc", "eval_acc"] if "eval_acc" in a else ["arch", "seed", "test_acc"]
    assert a[cols].sort_values(["arch", "seed"]).reset_index(drop=True).equals(
        b[cols].sort_values(["arch", "seed"]).reset_index(drop=True))
    assert (out.parent / "submitit").is_dir()
