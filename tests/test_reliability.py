"""Nothing lost, nothing silent: one test per class of failure, plus the split between
user errors and bugs in the command's exit.

The sweep behind these classes (tests/sweep_bad_inputs.py) runs every case
against the real command; these tests keep each mechanism honest."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lmreg.bench.gt_table import GTTable
from lmreg.core import fileio
from lmreg.core.errors import BusyError, ConfigError, WriteError
from lmreg.experiments import cli
from lmreg.experiments.gt_build import journal_path
from lmreg.experiments.run_folders import preflight
from lmreg.experiments.runconfig import load_config, run_name, to_dict
from lmreg.experiments.runner import CHECKPOINT_NAME, WEIGHTS_NAME, RunError, evaluate, run
from lmreg.results.records import RECORD_NAME, write_record
from tests.fixtures import BUILD, LMREG, TINY, TINY_SET, run_main

ROOT = Path(__file__).resolve().parent.parent
MICRO_GT = ROOT / "bench" / "data" / "micro_fmnist_nb201.h5"
_main = run_main


def _one_line(lines: list[str], *fragments: str) -> None:
    assert len(lines) == 1 and lines[0].startswith("lmreg: error:"), lines
    for f in fragments:
        assert f.lower() in lines[0].lower(), (f, lines[0])


# 1. Silent data loss ---------------------------------------------------------
def test_run_folders_are_per_config_locked_and_never_shared(tmp_path, capsys):
    a = load_config("quick", TINY_SET)
    b = load_config("quick", [*TINY_SET, "eval.n_images=300"])
    assert run_name(a) != run_name(b)  # another config, another folder
    a1 = load_config("quick", [*TINY_SET, "seed=1"])
    assert run_name(a).rsplit("-", 1)[1] == run_name(a1).rsplit("-", 1)[1]  # seeds share the config hash
    # The same config twice, or a seed listed twice, is refused before anything runs.
    with pytest.raises(ConfigError, match="share the folder"):
        preflight([a, a], tmp_path)
    rc, err = _main(["train", *TINY, "--seeds", "0,0", "--out", str(tmp_path)], capsys)
    assert rc == 2 and "seed listed twice" in err[-1]
    # A run folder another process writes is refused at once (flock, per open file).
    run_dir = tmp_path / run_name(a)
    run_dir.mkdir()
    with fileio.locked(run_dir):
        assert fileio.is_locked(run_dir)
        with pytest.raises(BusyError, match="another process"):
            run(a, tmp_path)
        rc, err = _main(["train", *TINY, "--out", str(tmp_path)], capsys)
        assert rc == 1
        _one_line(err, "another process", run_dir.name)
    assert not fileio.is_locked(run_dir) and not any(run_dir.iterdir())
    # Writers never share a temp file, and none is left behind.
    target = tmp_path / "x.bin"
    with fileio.atomic_path(target) as t1, fileio.atomic_path(target) as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path
        t1.write_bytes(b"1")
        t2.write_bytes(b"2")
    assert target.read_bytes() == b"1" and not fileio.temp_files(tmp_path)


# 2. Orphans ----------------------------------------------------------------------
def _session(sid: int) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != sid:
            try:
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[3]) == sid and stat[0] != "Z":
                found.append(int(p.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("verb, sig", [("train", signal.SIGTERM), ("train", signal.SIGKILL),
                                       ("build", signal.SIGTERM)])
def test_stopped_or_killed_parent_leaves_no_process(tmp_path, verb, sig):
    """The caller captures the output, as a CI job or a notebook does: it must see EOF
    soon after the parent ends, whatever signal ended it, and no process may live on."""
    journal = journal_path(tmp_path / "gt.h5")
    if verb == "train":
        argv = ["train", *TINY, "--seeds", "0,1", "--workers", "2", "--set", "train.epochs=40",
                "--out", str(tmp_path)]
        started = lambda: any(tmp_path.glob("*/" + CHECKPOINT_NAME))  # noqa: E731
    else:
        argv = ["bench", "build", "--out", str(tmp_path / "gt.h5"), *BUILD, "--archs", "40", "--workers", "2"]
        started = lambda: journal.exists() and len(journal.read_text().splitlines()) > 1  # noqa: E731
    env = dict(os.environ)
    proc = subprocess.Popen([*LMREG, *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 150
        while not started():
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.time() < deadline, "no progress"
            time.sleep(0.1)
        assert len(_session(proc.pid)) >= 2  # workers (and the resource tracker) are running
        os.kill(proc.pid, sig)  # the parent only, as a job manager or the OOM killer would
        _, err = proc.communicate(timeout=30)  # EOF: no process holds the caller's pipes any more
        deadline = time.time() + 10
        while _session(proc.pid):
            assert time.time() < deadline, f"processes left: {_session(proc.pid)}"
            time.sleep(0.1)
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGKILL:  # nothing reaches the caller: no "leaked semaphore" warning either
        assert err.decode() == ""
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err.decode()
        assert "stopped by SIGTERM" in err.decode() and "Traceback" not in err.decode()
        if verb == "train":  # the last checkpoint is whole and resumable
            for ckpt in tmp_path.glob("*/" + CHECKPOINT_NAME):
                assert torch.load(ckpt, weights_only=False)["state"]["epoch"] >= 1
        else:
            assert len(journal.read_text().splitlines()) >= 2
        assert not list(tmp_path.rglob(".*.tmp"))


# 3. Range checks at load time --------------------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["train", "--set", "train.batch_size=0"], ["train.batch_size", ">= 1"]),
    (["train", "--set", "train.batch_size=6000"], ["train.batch_size", "5000 held-out images"]),
    (["train", "--set", "train.batch_size=20000"], ["train.batch_size", "10000 training images"]),
    (["train", "--set", "train.lr=-0.1"], ["train.lr", "> 0"]),
    (["train", "--set", "train.lr=nan"], ["train.lr", "finite"]),
    (["train", "--set", "landmarks.m=280"], ["landmarks.m=280", "300 architectures"]),
    (["train", "--set", "eval.n_images=-5"], ["eval.n_images", ">= 1"]),
    (["train", "--set", "eval.n_images=20000"], ["eval.n_images", "10000 test images"]),
    (["train", "--set", "eval.pool_size=5"], ["eval.pool_size", "precision@10"]),
    (["train", "--set", "net.C=0"], ["net.C"]),
    (["train", "--set", "device=foo"], ["unknown device 'foo'"]),
    (["train", "--set", "name=../x"], ["name"]),
    (["train", "--set", "eval.bn_mode=running"], ["bn_track_running_stats"]),
    (["bench", "query", "micro-fmnist-nb201", "--epoch", "99", "--top", "3"], ["--epoch 99", "0..3"]),
    (["bench", "query", "micro-fmnist-nb201", "--metric", "acc", "--top", "3"], ["unknown metric 'acc'"]),
    (["bench", "query", "micro-fmnist-nb201", "--top", "-3"], ["--top", ">= 0"]),
    (["bench", "query", "micro-fmnist-nb201", "15625"], ["0..15624"]),
    (["bench", "build", "--out", "OUT/gt.h5", "--set", "epochs=0"], ["epochs", ">= 1"]),
    (["bench", "build", "--out", "OUT/gt.h5", "--seeds", "1,1"], ["seed listed twice"]),
    (["bench", "build", "--out", "OUT/gt.h5", "--archs", "7000"], ["6466"]),
])
def test_bad_values_fail_before_any_work(argv, fragments, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    if argv[0] == "train":
        argv += ["--preset", "micro", "--no-progress", "--out", str(tmp_path)]
    rc, err = _main(argv, capsys)
    assert rc == 2
    if err[0].startswith("usage:"):  # argparse: usage, then its error line
        err = ["lmreg: error: " + err[-1].split("error: ", 1)[1]]
    _one_line(err, *fragments)
    assert not any(tmp_path.iterdir())  # no run folder, table or journal was made


def test_documented_index_form_and_metric_are_honoured(capsys):
    from lmreg.spaces import nb201
    arch = GTTable.read(MICRO_GT).archs[0]
    index = nb201.to_index(nb201.parse(arch))
    assert cli.main(["bench", "query", "micro-fmnist-nb201", str(index)]) == 0
    assert cli.main(["bench", "query", "micro-fmnist-nb201", "--metric", "valid_acc", arch]) == 0
    out = capsys.readouterr().out
    assert "mean test_acc over seeds" in out and "mean valid_acc over seeds" in out


# 4. Write failures and corrupt files: one line naming the file and the cause -----
def test_write_failures_and_corrupt_files_name_the_path(tmp_path, capsys, monkeypatch):
    # A file where a folder should be.
    (tmp_path / "afile").write_text("x")
    rc, err = _main(["train", *TINY, "--out", str(tmp_path / "afile" / "runs")], capsys)
    assert rc in (1, 2)
    _one_line(err, "afile")
    # A full disk at the moment of the fsync: the cause in words, no temp file left.
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(WriteError, match="record.h5: no space left on device"):
        write_record(tmp_path / "r" / RECORD_NAME, {"attrs": {"x": 1}, "tables": {}})
    with pytest.raises(WriteError, match="w.pt: no space left on device"):
        fileio.torch_save({"a": torch.zeros(2)}, tmp_path / "w.pt")
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    assert not fileio.temp_files(tmp_path / "r") and not (tmp_path / "r" / RECORD_NAME).exists()
    # Corrupt shipped data names the file and how to restore it.
    from lmreg.bench.datasets import tasks
    data = tmp_path / "data"
    data.mkdir()
    shipped = tasks.DATA_DIR / "micro_fmnist16.npz"
    (data / shipped.name).write_bytes(shipped.read_bytes()[:100_000])
    monkeypatch.setattr(tasks, "DATA_DIR", data)
    rc, err = _main(["bench", "build", "--out", str(tmp_path / "gt.h5"), *BUILD, "--task", "micro-fmnist"], capsys)
    assert rc == 2
    _one_line(err, "micro_fmnist16.npz", "git checkout", "lmreg data embed")
    assert not (tmp_path / "gt.h5").exists()
    monkeypatch.undo()
    # A checkpoint or weights file of the wrong structure names the file.
    cfg = load_config("quick", TINY_SET)
    run_dir = tmp_path / "runs" / run_name(cfg)
    run_dir.mkdir(parents=True)
    torch.save({"something": 1}, run_dir / CHECKPOINT_NAME)
    with pytest.raises(RunError, match=f"{CHECKPOINT_NAME}: not an lmreg checkpoint"):
        run(cfg, tmp_path / "runs")
    (run_dir / CHECKPOINT_NAME).unlink()
    write_record(run_dir / RECORD_NAME, {"attrs": {"config": to_dict(cfg), "final_metrics": {}, "timings": {}},
                                         "tables": {t: [] for t in ("curves", "evals", "landmarks", "pool")}})
    torch.save({"other": torch.zeros(3)}, run_dir / WEIGHTS_NAME)
    with pytest.raises(RunError, match=f"{WEIGHTS_NAME}: not the super-net weights"):
        evaluate(run_dir)
    (run_dir / WEIGHTS_NAME).write_bytes(b"garbage")
    with pytest.raises(RunError, match=f"{WEIGHTS_NAME}: unreadable"):
        evaluate(run_dir)


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs user namespaces (unshare -rm) for a tiny tmpfs")
@pytest.mark.parametrize("mount, cause", [("tmpfs -o size=8k none", "no space left on device"),
                                          ("RO", "read-only file system")])
def test_real_full_and_read_only_file_systems(tmp_path, mount, cause):
    """A real full disk and a real read-only folder, for `bench build`."""
    target = tmp_path / "mnt"
    target.mkdir()
    if mount == "RO":
        mount_cmd = f"mount --bind {target} {target} && mount -o remount,bind,ro {target}"
    else:
        mount_cmd = f"mount -t {mount} {target}"
    cmd = [*LMREG, "bench", "build", "--out", str(target / "gt.h5"), *BUILD]
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", f'{mount_cmd} && exec "$@"', "sh", *cmd], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True,
                          timeout=180)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 1, proc.stderr
    _one_line(lines, str(target), cause)


# 5. bench build failures ---------------------------------------------------------
INJECTED = """
def failing_run_one(arch_str, seed, recipe):  # runs in a spawned build worker
    raise ValueError(f"injected failure training {arch_str}")
"""


def test_build_where_no_run_finishes_shows_the_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "gt.h5"
    rc, err = _main(["bench", "build", "--out", str(out), *BUILD, "--device", "foo"], capsys)
    assert rc == 2
    _one_line(err, "unknown device 'foo'")
    assert not any(tmp_path.iterdir())  # no table, no journal, no lock
    import tempfile
    import lmreg.experiments.gt_build as build_mod
    # Spawned workers unpickle the function by module name: give it a module of its own
    # on sys.path (the repository root must stay off it; see pyproject's pytest options).
    (tmp_path / "injected_faults.py").write_text(INJECTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    import injected_faults
    monkeypatch.setattr(build_mod, "_run_one", injected_faults.failing_run_one)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tracebacks"))
    (tmp_path / "tracebacks").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    rc, err = _main(["bench", "build", "--out", str(out), *BUILD], capsys)
    assert rc == 70  # an error nobody anticipated: shown as such, not as "a worker died"
    assert len(err) == 1 and "injected failure training" in err[0] and "internal error" in err[0]
    assert not out.exists()
    assert journal_path(out).read_text().count("\n") == 1  # the header only: nothing finished


# 6. What a new user met -----------------------------------------------------------
def test_new_user_paths(tmp_path, capsys):
    micro = GTTable.read(MICRO_GT)
    keep = set(sorted(set(micro.archs))[:60])
    small = GTTable.from_rows([r for r in micro.rows() if r["arch"] in keep], micro.space, micro.task,
                              micro.recipe, dict(micro.meta))
    small.write(tmp_path / "gt60.h5")
    rc, err = _main(["train", *TINY, "--set", f"benchmark={tmp_path / 'gt60.h5'}", "--set", "landmarks.m=70",
                     "--out", str(tmp_path / "runs")], capsys)
    assert rc == 2
    _one_line(err, "landmarks.m=70", "60 architectures")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    # `--set task=...` alone gets its own folder, not the preset's.
    assert run_name(load_config("micro")) != run_name(load_config("micro", ["task=fmnist"]))
    # A benchmark that is converted on first use is not listed as absent.
    from lmreg.bench.registry import Benchmark
    bench = Benchmark("x", "about", lambda: tmp_path / "none.h5", GTTable.read, source=lambda: MICRO_GT,
                      space="nb201")
    assert bench.state() == ("available", MICRO_GT)
    assert Benchmark("y", "about", lambda: tmp_path / "none.h5", GTTable.read, space="nb201").state()[0] == "absent"


# 7. Durability ---------------------------------------------------------------------
def test_every_write_is_fsynced_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)
    monkeypatch.setattr(fileio.os, "fsync", spy)
    write_record(tmp_path / "a" / RECORD_NAME, {"attrs": {"x": 1}, "tables": {}})
    fileio.torch_save({"w": torch.zeros(2)}, tmp_path / "a" / "w.pt")
    GTTable.read(MICRO_GT).write(tmp_path / "a" / "gt.h5")
    names = [Path(p).name for p in synced]
    # each temp file was fsynced before its rename, and the folder after it
    for target in (RECORD_NAME, "w.pt", "gt.h5"):
        i = next(i for i, n in enumerate(names) if n.startswith(f".{target}."))
        assert synced[i + 1] == str(tmp_path / "a"), synced
    assert len(synced) == 6


# Issue 8: user errors stay one line, bugs keep their traceback ---------------------
def test_user_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    rc, err = _main(["train", "--set", "train.lr=-1"], capsys)
    assert rc == 2
    _one_line(err, "train.lr must be a finite number > 0")

    def buggy(args):
        return {}["a key that a bug forgot"]  # a KeyError that is a bug, not bad input
    monkeypatch.setattr(cli, "cmd_bench_list", buggy)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("LMREG_DEBUG", raising=False)
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    rc, err = _main(["bench", "list"], capsys)
    assert rc == 70 and len(err) == 1
    assert "internal error" in err[0] and "KeyError" in err[0] and "LMREG_DEBUG=1" in err[0]
    saved = list(tmp_path.glob("lmreg-traceback-*.txt"))
    assert len(saved) == 1 and "buggy" in saved[0].read_text() and str(saved[0]) in err[0]
    monkeypatch.setenv("LMREG_DEBUG", "1")
    rc, err = _main(["bench", "list"], capsys)
    assert rc == 70 and err[0].startswith("Traceback") and any("buggy" in l for l in err)


def test_bench_info_without_costs(tmp_path, capsys):
    table = GTTable.read(MICRO_GT)
    table.scalars["wall_time"][:] = np.nan
    table.write(tmp_path / "nocost.h5")
    assert cli.main(["bench", "info", str(tmp_path / "nocost.h5")]) == 0
    cost = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("cost"))
    assert "nan" not in cost and "not recorded" in cost
