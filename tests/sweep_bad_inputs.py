"""A sweep of bad inputs and injected faults against the real `lmreg` command.

A tool to see, case by case, what a user meets (test_bad_inputs.py and
test_reliability.py test each class of failure in process; test_bad_inputs.py
also runs this sweep's fast subset). Run from the repository root:

    python tests/sweep_bad_inputs.py [--fast] [--only SUBSTRING] [--jobs N] [--json FILE]

Each case runs `python -m lmreg ...` in its own process and session. A bad input
passes when it ends with its expected exit code (2 for bad input, 1 for a folder or
file that cannot be written), exactly one line on stderr starting with
`lmreg: error:` (argparse's usage line plus its error line count as one), no
traceback, within the time limit, and creates nothing: an output folder named by
the case must not exist afterwards, and a fixture folder must hold nothing new.
Faults (signals, read-only and full file systems, corrupt files, concurrent runs)
have their own checks. Full-disk and read-only cases need `unshare -rm` (user
namespaces); they are skipped where it is unavailable. The exit code is 1 when any
case fails. `--fast` runs one or two cases of every class, no faults and no
training (about a minute on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The installed lmreg in a child process; -P keeps the working folder off sys.path, so a
# source checkout's lmreg/ folder (its __init__, __main__ and core/) never shadows it.
LMREG = [PY, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "lmreg"]
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY_TRAIN = ["--preset", "quick", "--no-progress", "--workers", "1",
              "--set", "train.epochs=2", "--set", "eval.every=1", "--set", "eval.pool_size=10",
              "--set", "landmarks.m=4", "--set", "eval.n_images=200"]
TINY_BUILD = ["--task", "smoke-fmnist", "--archs", "1", "--seeds", "0", "--workers", "1", "--no-progress",
              "--set", "C=4", "--set", "epochs=1", "--set", "batch_size=100", "--set", "eval_batch_size=500"]


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str = "error"                  # error | custom
    fragment: str | None = None            # must appear in stderr (case-insensitive)
    env: dict = field(default_factory=dict)
    wrap: str | None = None                # ro | full: run inside a user namespace with that mount
    empty: str | None = None               # folder that must not be created (or, if it exists, gain nothing)
    timeout: float = 90
    check: Callable | None = None          # custom(proc, work) -> str | None (a failure reason)
    code: int = 2                          # the expected exit code: 2 bad input, 1 a write that failed
    fast: bool = False                     # in the --fast subset


def _unshare_ok() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _wrap(cmd: list[str], mode: str, target: Path, size: str = "96k") -> list[str]:
    if mode == "ro":
        mount = f"mount --bind {target} {target} && mount -o remount,bind,ro {target}"
    else:
        mount = f"mount -t tmpfs -o size={size} none {target}"
    return ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', "sh", *cmd]


def run_cli(argv, env=None, wrap=None, target=None, timeout=90, cwd=ROOT, size="96k"):
    cmd = [*LMREG, *argv]
    if wrap:
        cmd = _wrap(cmd, wrap, target, size)
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    t0 = time.time()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, "timeout", out, err), time.time() - t0
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.time() - t0


def _entries(folder: str | None) -> set[str] | None:
    """What a case's folder holds (None: it does not exist)."""
    if folder is None or not Path(folder).exists():
        return None
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")}


def judge_error(proc, case: Case, work: Path, before: set[str] | None = None) -> str | None:
    """Why a bad-input case failed (None when it passed); ``before`` is _entries(case.empty)
    taken before the case ran."""
    err = proc.stderr.strip()
    if proc.returncode == "timeout":
        return f"no answer within {case.timeout:.0f} s"
    if proc.returncode != case.code:
        return f"exit code {proc.returncode}, expected {case.code}: " + " / ".join(err.splitlines())[-200:]
    if "Traceback" in err or "enforce fail" in err:
        return "traceback: " + err.splitlines()[-1][:150]
    lines = [l for l in err.splitlines() if l.strip()]
    if lines and lines[0].startswith("usage:"):  # argparse: the usage line(s), then one error line
        errors = [l for l in lines if ": error:" in l]
        if len(errors) != 1 or errors[0] != lines[-1]:
            return "argparse output without exactly one final error line"
    elif len(lines) != 1 or not lines[0].startswith("lmreg: error:"):
        return f"{len(lines)} stderr lines: " + " / ".join(lines)[:200]
    if case.fragment and case.fragment.lower() not in err.lower():
        return f"message lacks {case.fragment!r}: {err[:200]}"
    after = _entries(case.empty)
    if after is not None and before is None:
        return f"created {case.empty}" + (f" holding {', '.join(sorted(after))[:150]}" if after else " (empty)")
    if after is not None and after - before:
        return "left behind: " + ", ".join(sorted(after - before))[:200]
    return None


# Fixtures ------------------------------------------------------------------
def make_fixtures(work: Path, train: bool = True) -> dict:
    """Files the cases read; ``train`` also makes a finished tiny run (for evaluate,
    report and regress cases)."""
    import h5py
    import numpy as np

    from lmreg.bench.gt_table import GTTable
    from lmreg.results.records import write_record

    fx = {}
    (work / "fake.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    (work / "garbage.h5").write_text("not a table")
    (work / "garbage.toml").write_text("this is = = not toml")
    (work / "unknown.toml").write_text('name = "x"\n[train]\nepoch = 3\n')
    (work / "badtype.toml").write_text('name = "x"\n[train]\nepochs = "many"\n')
    (work / "afile").write_text("a file, not a folder")
    (work / "garbage.json").write_text("{not json")
    (work / "garbage.pth").write_bytes(b"garbage" * 10)
    (work / "garbage.tfrecord").write_bytes(b"garbage" * 10)
    (work / "empty").mkdir()
    (work / "ro").mkdir()
    (work / "full").mkdir()
    write_record(work / "rec" / "record.h5", {"attrs": {"x": 1}, "tables": {}})
    micro = GTTable.read(ROOT / "bench" / "data" / "micro_fmnist_nb201.h5")
    fx["gt_arch"] = micro.archs[0]
    from lmreg.spaces import nb201
    fx["gt_index"] = str(nb201.to_index(nb201.parse(micro.archs[0])))
    keep = sorted(set(micro.archs))[:60]
    rows = [r for r in micro.rows() if r["arch"] in keep]
    small = GTTable.from_rows(rows, micro.space, micro.task, micro.recipe, dict(micro.meta))
    small.write(work / "gt60.h5")
    nocost = GTTable.from_rows(micro.rows(), micro.space, micro.task, micro.recipe, dict(micro.meta))
    nocost.scalars["wall_time"][:] = np.nan
    nocost.write(work / "nocost.h5")
    (work / "badseeds.h5").write_bytes((ROOT / "bench" / "data" / "micro_fmnist_nb201.h5").read_bytes())
    with h5py.File(work / "badseeds.h5", "r+") as f:  # a damaged seed column
        seeds = f["seed"][()].astype(float)
        del f["seed"]
        f.create_dataset("seed", data=np.where(np.arange(len(seeds)) % 7 == 0, np.nan, seeds))
    scored = [{"arch": f"flipme{i}", "gt": float(i), "score_acc": 0.5, "score_loss": 1.0} for i in range(12)]
    write_record(work / "flipped" / "record.h5", {
        "attrs": {"config": {"name": "x"}, "final_metrics": {"kendall_tau": 0.1}, "timings": {"train_s": 1.0}},
        "tables": {"curves": [{"epoch": 0}], "evals": [{"epoch": 0}], "landmarks": scored[:4], "pool": scored[4:]}})
    flipped = bytearray((work / "flipped" / "record.h5").read_bytes())
    flipped[flipped.find(b"flipme7")] ^= 0x01  # one bit of an architecture name: a silent change if unnoticed
    (work / "flipped" / "record.h5").write_bytes(flipped)
    fx["nb101_key"] = GTTable.read(ROOT / "bench" / "data" / "micro_fmnist_nb101.h5").archs[0]
    # A finished build's table and a journal holding a row of the wrong shape.
    proc, _ = run_cli(["bench", "build", "--out", str(work / "built" / "gt.h5"), *TINY_BUILD], timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"fixture build failed: {proc.stderr}")
    built = GTTable.read(work / "built" / "gt.h5")
    header = {"identity": built.meta["identity"]}
    (work / "built" / "gt.h5.journal.jsonl").write_text(
        json.dumps(header) + "\n" + json.dumps({**built.rows()[0], "test_acc": "high"}) + "\n")
    if not train:
        fx["run"] = str(work / "no-run")
        return fx
    # A finished tiny run to evaluate.
    proc, _ = run_cli(["train", *TINY_TRAIN, "--out", str(work / "done")], timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"fixture run failed: {proc.stderr}")
    fx["run"] = str(next((work / "done").glob("*/record.h5")).parent)
    shutil.copytree(fx["run"], work / "noweights")
    (work / "noweights" / "supernet.pt").unlink()
    shutil.copytree(fx["run"], work / "badweights")
    (work / "badweights" / "supernet.pt").write_bytes(b"garbage")
    shutil.copytree(fx["run"], work / "otherweights")
    import torch
    torch.save({"something": torch.zeros(3)}, work / "otherweights" / "supernet.pt")
    return fx


def cases(work: Path, fx: dict) -> list[Case]:
    w = str(work)
    out = lambda name: str(work / "out" / name)  # noqa: E731
    c: list[Case] = []
    add = lambda *a, **k: c.append(Case(*a, **k))  # noqa: E731

    # bench info / list / query
    add("info unknown name", ["bench", "info", "no-such-bench"], fragment="valid names", fast=True)
    add("info missing file", ["bench", "info", f"{w}/missing.h5"], fragment="missing.h5")
    add("info hdf5 signature only", ["bench", "info", f"{w}/fake.h5"], fragment="fake.h5")
    add("info text file", ["bench", "info", f"{w}/garbage.h5"], fragment="garbage.h5", fast=True)
    add("info damaged seed column", ["bench", "info", f"{w}/badseeds.h5"], fragment="seed column", fast=True)
    add("query damaged seed column", ["bench", "query", f"{w}/badseeds.h5", "--top", "3"], fragment="badseeds.h5")
    add("info a folder", ["bench", "info", f"{w}/empty"])
    add("info a run record", ["bench", "info", f"{w}/rec/record.h5"])
    add("info absent nb201 store", ["bench", "info", "nb201-cifar10"], env={"LMREG_NB201_H5": f"{w}/none.h5"})
    add("info absent nb101 store", ["bench", "info", "nb101"], env={"LMREG_NB101_H5": f"{w}/none.h5"})
    add("info empty name", ["bench", "info", ""])
    add("info table without costs", ["bench", "info", f"{w}/nocost.h5"], expect="custom",
        check=lambda p, _: None if p.returncode == 0 and "nan" not in p.stdout.lower()
        else f"rc {p.returncode}, out: {[l for l in p.stdout.splitlines() if 'cost' in l]} {p.stderr[-200:]}")
    add("list says analog is absent while info works", ["bench", "list"], expect="custom",
        check=_check_list)
    q = ["bench", "query", "micro-fmnist-nb201"]
    add("query malformed", [*q, "|nor_conv_3x3~0|+|bad~0|"], fragment="malformed", fast=True)
    q101 = ["bench", "query", "micro-fmnist-nb101"]
    add("query nb101 cell key", [*q101, fx["nb101_key"]], expect="custom", fast=True,
        check=lambda p, _: None if p.returncode == 0 and "mean test_acc" in p.stdout
        else f"rc {p.returncode}: {p.stderr.strip()[:200]}")
    add("query nb201 string against an nb101 table", [*q101, GOOD], fragment="covers the nb101 space", fast=True)
    add("query nb101 key against an nb201 table", [*q, fx["nb101_key"]], fragment="covers the nb201 space")
    add("query nb101 malformed key", [*q101, "011/001:input,output"], fragment="malformed NB101")
    add("query unknown op", [*q, GOOD.replace("avg_pool_3x3", "max_pool_3x3")], fragment="unknown NB201 op")
    add("query index form", [*q, fx["gt_index"]], expect="custom",
        check=lambda p, _: None if p.returncode == 0 and "mean test_acc" in p.stdout
        else f"rc {p.returncode}: {p.stderr.strip()[:200]}")
    add("query index out of range", [*q, "15625"], fragment="15624")
    add("query negative index", [*q, "--", "-1"])
    add("query negative top", [*q, "--top", "-3"])
    add("query no arch no top", q, fragment="--top")
    add("query epoch too large", [*q, "--epoch", "99", "--top", "3"], fragment="epoch")
    add("query epoch too negative", [*q, "--epoch", "-99", GOOD], fragment="epoch")
    add("query unknown metric with top", [*q, "--metric", "bogus", "--top", "3"], fragment="bogus")
    add("query unknown metric with arch", [*q, "--metric", "bogus", fx["gt_arch"]], fragment="bogus")
    add("query top not a number", [*q, "--top", "abc"])
    add("query blank arch", [*q, "   "])
    add("query four groups", [*q, GOOD + "+|none~0|"])
    add("query unknown benchmark", ["bench", "query", "nope", GOOD], fragment="valid names")
    add("query garbage table", ["bench", "query", f"{w}/garbage.h5", GOOD], fragment="garbage.h5")

    # bench build
    def build(name, *extra, fragment=None, **kw):
        target = work / "out" / name.replace(" ", "_")
        args = ["bench", "build", "--out", str(target / "gt.h5"), *TINY_BUILD, *extra]
        add(f"build {name}", args, fragment=fragment, empty=str(target), **kw)
    for key, value in [("epochs", "0"), ("epochs", "-1"), ("C", "0"), ("N", "0"), ("batch_size", "0"),
                       ("batch_size", "999999"), ("lr", "-0.1"), ("lr", "nan"), ("lr", "inf"),
                       ("momentum", "-1"), ("weight_decay", "-1"), ("warmup_fraction", "1.5"),
                       ("label_smoothing", "1.5"), ("eval_batch_size", "0")]:
        build(f"{key}={value}", "--set", f"{key}={value}", fragment=key)
    build("nesterov=maybe", "--set", "nesterov=maybe", fragment="nesterov")
    build("epochs=abc", "--set", "epochs=abc", fragment="epochs")
    build("set without =", "--set", "epochs", fragment="key=value")
    build("unknown key", "--set", "epoch=3", fragment="unknown config key")
    build("archs 0", "--archs", "0")
    build("archs beyond the unique cells", "--archs", "7000", fragment="6466")
    build("duplicate seeds", "--seeds", "0,0", fragment="seed")
    build("negative seed", "--seeds", "-1", fragment="seed")
    build("seeds not numbers", "--seeds", "a,b")
    build("empty seeds", "--seeds", "")
    build("workers 0", "--workers", "0")
    build("threads 0", "--threads", "0")
    build("device foo", "--device", "foo", fragment="foo")
    build("device cuda without cuda", "--device", "cuda", fragment="cuda")
    build("device cuda:99", "--device", "cuda:99", fragment="cuda")
    build("unknown task", "--task", "imagenet", fragment="unknown task")
    build("missing dataset", "--task", "fmnist", env={"LMREG_FMNIST_DIR": f"{w}/nowhere"}, fragment="fashion",
          fast=True)
    build("lr=nan", "--set", "lr=nan", fragment="finite")
    build("sample seed beyond int64", "--sample-seed", str(2**63), fragment="seed", fast=True)
    build("seed beyond int64", "--seeds", str(2**64), fragment="seed")
    build("slurm without slurm", "--executor", "slurm", "--partition", "p", env={"PATH": f"{w}/nopath"},
          fragment="srun", fast=True)
    build("slurm without a partition", "--executor", "slurm", fragment="--partition")
    build("max-parallel 0", "--max-parallel", "0", fragment="max-parallel", fast=True)
    build("max-parallel negative", "--max-parallel", "-3", fragment="max-parallel")
    add("build journal row of the wrong shape", ["bench", "build", "--out", f"{w}/built/gt.h5", *TINY_BUILD,
                                                 "--archs", "2"],
        fragment="line 2", empty=f"{w}/built", fast=True)
    build("merge missing journal", "--merge", f"{w}/none.jsonl", fragment="none.jsonl")
    build("merge garbage journal", "--merge", f"{w}/garbage.json", fragment="garbage.json")
    build("negative sample seed", "--sample-seed", "-1", fragment="seed")
    add("build out under a file", ["bench", "build", "--out", f"{w}/afile/gt.h5", *TINY_BUILD], fragment="afile",
        code=1)
    add("build out is a folder", ["bench", "build", "--out", f"{w}/empty", *TINY_BUILD], fragment="empty",
        empty=f"{w}/empty")
    add("build out is a non-table file", ["bench", "build", "--out", f"{w}/garbage.h5", *TINY_BUILD],
        fragment="garbage.h5")
    add("build out empty string", ["bench", "build", "--out", "", *TINY_BUILD])

    # bench convert
    add("convert nb201 without a path", ["bench", "convert", "nb201", "--out", f"{w}/o.h5"])
    add("convert nb201 missing file", ["bench", "convert", "nb201", f"{w}/none.pth", "--out", f"{w}/o.h5"],
        fragment="none.pth")
    add("convert nb201 garbage", ["bench", "convert", "nb201", f"{w}/garbage.pth", "--out", f"{w}/o.h5"],
        fragment="garbage.pth")
    add("convert nb101 missing file", ["bench", "convert", "nb101", f"{w}/none.tfrecord", "--out", f"{w}/o.h5"],
        fragment="none.tfrecord")
    add("convert nb101 garbage", ["bench", "convert", "nb101", f"{w}/garbage.tfrecord", "--out", f"{w}/o.h5"],
        fragment="garbage.tfrecord")
    add("convert unknown kind", ["bench", "convert", "nb999", "x"])
    add("convert nb101 into a file-as-folder", ["bench", "convert", "nb101", f"{w}/garbage.tfrecord",
                                                 "--out", f"{w}/afile/o.h5"])

    # train
    def train(name, *extra, fragment=None, **kw):
        target = work / "out" / ("train_" + name.replace(" ", "_").replace("/", "_"))
        add(f"train {name}", ["train", *TINY_TRAIN, "--out", str(target), *extra], fragment=fragment,
            empty=str(target), **kw)
    train("unknown preset", "--preset", "paper", fragment="unknown preset", fast=True)
    train("garbage toml", "--preset", f"{w}/garbage.toml", fragment="garbage.toml")
    train("missing toml", "--preset", f"{w}/none.toml", fragment="none.toml")
    train("toml unknown key", "--preset", f"{w}/unknown.toml", fragment="train.epoch")
    train("toml bad type", "--preset", f"{w}/badtype.toml", fragment="epochs")
    for key, value in [("train.epochs", "0"), ("train.epochs", "-1"), ("train.batch_size", "0"),
                       ("train.batch_size", "100000"), ("train.lr", "-1"), ("train.lr", "nan"),
                       ("train.lr_min", "-1"), ("train.momentum", "2"), ("train.weight_decay", "-1"),
                       ("train.grad_clip", "0"), ("train.warmup_epochs", "-1"), ("landmarks.m", "1"),
                       ("landmarks.m", "500"), ("landmarks.m", "395"), ("landmarks.max_coef", "-1"),
                       ("landmarks.selection", "foo"), ("landmarks.pair_sampler", "foo"),
                       ("landmarks.loss_form", "foo"), ("landmarks.schedule", "foo"), ("landmarks.n_pairs", "0"),
                       ("landmarks.beta", "0"), ("eval.n_images", "-5"), ("eval.n_images", "0"),
                       ("eval.n_images", "99999"), ("eval.pool_size", "0"), ("eval.pool_size", "8"), ("eval.pool_size", "1000"),
                       ("eval.batch_size", "0"), ("eval.split", "foo"), ("eval.recal_batches", "0"),
                       ("eval.every", "0"), ("net.C", "0"), ("net.N", "0"), ("net.C", "-4"), ("threads", "0"),
                       ("device", "foo"), ("device", "cuda"), ("benchmark", "nope"),
                       ("gt_metric", "foo"), ("task", "nope"), ("seed", "-1"), ("name", ""),
                       ("name", "a/b"), ("name", ".."), ("use_landmarks", "maybe"), ("train.epochs", "1.5")]:
        frag = (value if value == "foo" else key.split(".")[-1]) if key not in ("benchmark", "task", "name") else None
        train(f"{key}={value}", "--set", f"{key}={value}", fragment=frag)
    train("bn running without running stats", "--set", "eval.bn_mode=running", fragment="running")
    train("absent nb201 store", "--set", "benchmark=nb201-cifar10", env={"LMREG_NB201_H5": f"{w}/none.h5"})
    train("garbage benchmark file", "--set", f"benchmark={w}/garbage.h5", fragment="garbage.h5")
    train("landmarks 70 on a 60-cell GT", "--set", f"benchmark={w}/gt60.h5", "--set", "landmarks.m=70",
          fragment="landmarks")
    train("missing dataset", "--set", "task=fmnist", env={"LMREG_FMNIST_DIR": f"{w}/nowhere"}, fragment="fashion",
          fast=True)
    train("missing dataset, two seeds", "--seeds", "0,1", "--set", "task=fmnist",
          env={"LMREG_FMNIST_DIR": f"{w}/nowhere"}, fragment="fashion", fast=True)
    train("nan algo float", "--set", "algorithm=gdas", "--set", "algo.search_epochs=1",
          "--set", "algo.alpha_init_std=nan", fragment="finite", fast=True)
    train("inf algo float", "--set", "algorithm=pcdarts", "--set", "algo.search_epochs=1",
          "--set", "algo.arch_lr=inf", fragment="finite")
    train("seed beyond int64", "--set", f"seed={2**63}", fragment="seed", fast=True)
    train("seeds beyond int64", "--seeds", f"1,{2**70}", fragment="seed")
    train("landmark batch above the held-out split", "--set", "landmarks.batch_size=100000",
          fragment="landmarks.batch_size", fast=True)
    train("landmark interval above an epoch", "--set", "landmarks.every=100000", fragment="landmarks.every",
          fast=True)
    train("damaged seed column", "--set", f"benchmark={w}/badseeds.h5", fragment="seed column")
    train("set empty key", "--set", "=3")
    train("set section as value", "--set", "train=5", fragment="train")
    train("duplicate seeds", "--seeds", "0,0", fragment="seed")
    train("negative seeds", "--seeds", "-1", fragment="seed")
    train("workers 0", "--workers", "0")
    add("train out under a file", ["train", *TINY_TRAIN, "--out", f"{w}/afile/runs"], fragment="afile", code=1,
        fast=True)
    add("train out is a file", ["train", *TINY_TRAIN, "--out", f"{w}/afile"], fragment="afile", code=1)

    # evaluate
    add("evaluate missing run", ["evaluate", f"{w}/no/such/run"], fragment="no such run")
    add("evaluate without weights", ["evaluate", f"{w}/noweights"], fragment="supernet.pt")
    add("evaluate non-eval key", ["evaluate", fx["run"], "--set", "train.epochs=3"], fragment="eval")
    add("evaluate negative n_images", ["evaluate", fx["run"], "--set", "eval.n_images=-5"], fragment="n_images")
    add("evaluate unknown bn mode", ["evaluate", fx["run"], "--set", "eval.bn_mode=foo"], fragment="bn_mode")
    add("evaluate garbage weights", ["evaluate", f"{w}/badweights"], fragment="supernet.pt")
    add("evaluate wrong weights", ["evaluate", f"{w}/otherweights"], fragment="supernet.pt")
    add("evaluate pool larger than GT", ["evaluate", fx["run"], "--set", "eval.pool_size=1000"],
        fragment="pool_size")
    add("evaluate a record file", ["evaluate", f"{w}/rec/record.h5"])
    add("evaluate a folder without a record", ["evaluate", f"{w}/empty"], fragment="empty")

    # demo, reproduce, report, regress, data
    def demo(name, *extra, fragment=None):
        target = work / "out" / ("demo_" + name.replace(" ", "_"))
        add(f"demo {name}", ["demo", "--quick", "--no-progress", "--out", str(target), *extra],
            fragment=fragment, empty=str(target))
    demo("duplicate seeds", "--seeds", "0,0", fragment="seed")
    demo("workers 0", "--workers", "0")
    demo("epochs 0", "--set", "train.epochs=0", fragment="epochs")
    demo("batch size 0", "--set", "train.batch_size=0", fragment="batch_size")
    add("demo out under a file", ["demo", "--quick", "--no-progress", "--out", f"{w}/afile/demo"], fragment="afile",
        code=1)
    add("demo missing dataset", ["demo", "--quick", "--no-progress", "--set", "task=fmnist",
                                 "--out", out("demo_missing_dataset")],
        env={"LMREG_FMNIST_DIR": f"{w}/nowhere"}, fragment="fashion", empty=out("demo_missing_dataset"))
    add("reproduce unknown", ["reproduce", "T9"], fragment="T9")
    add("reproduce unknown scale", ["reproduce", "T1", "--scale", "huge"])
    add("reproduce workers 0", ["reproduce", "T1", "--workers", "0"])
    add("reproduce out under a file", ["reproduce", "T1", "--no-progress", "--out", f"{w}/afile/r"], fragment="afile",
        code=1)
    add("reproduce dry run into a file", ["reproduce", "T1", "--dry-run", "--out", f"{w}/afile"], fragment="afile",
        code=1, fast=True)
    add("reproduce seconds per epoch inf", ["reproduce", "T1", "--dry-run", "--seconds-per-epoch", "inf"],
        fragment="seconds", fast=True)
    add("reproduce slurm without slurm", ["reproduce", "T1", "--executor", "slurm", "--partition", "p",
                                          "--out", out("repro_slurm")],
        env={"PATH": f"{w}/nopath"}, fragment="srun", empty=out("repro_slurm"))
    add("reproduce max-parallel negative", ["reproduce", "T1", "--max-parallel", "-1", "--out", out("repro_mp")],
        fragment="max-parallel", empty=out("repro_mp"))
    add("report missing", ["report", f"{w}/no/such"], fragment="no/such")
    add("report unknown metric", ["report", fx["run"], "--metrics", "bogus"], fragment="bogus")
    add("report empty folder", ["report", f"{w}/empty"])
    add("report garbage record", ["report", f"{w}/garbage.h5"], fragment="garbage.h5", fast=True)
    add("report record with a flipped byte", ["report", f"{w}/flipped"], fragment="damaged", fast=True)
    add("report wrong-format record", ["report", f"{w}/rec/record.h5"])
    add("report level 2", ["report", fx["run"], "--level", "2"])
    add("report out under a file", ["report", fx["run"], "--out", f"{w}/afile/rep", "--no-figures"],
        fragment="afile", code=1)
    add("regress missing baseline", ["regress", "--baseline", f"{w}/none.json", fx["run"]], fragment="none.json")
    add("regress garbage baseline", ["regress", "--baseline", f"{w}/garbage.json", fx["run"]],
        fragment="garbage.json")
    add("regress bad tolerance", ["regress", "--baseline", f"{w}/garbage.json", "--tolerance", "abc", fx["run"]])
    add("regress baseline exists", ["regress", "--write-baseline", f"{w}/garbage.json", fx["run"]],
        fragment="force")
    add("regress write baseline under a file", ["regress", "--write-baseline", f"{w}/afile/b.json", fx["run"]],
        fragment="afile", code=1)
    add("regress write baseline with --against", ["regress", "--write-baseline", f"{w}/out/b.json",
                                                  "--against", "gate-landmarks", fx["run"]],
        fragment="--against")
    add("data embed unknown", ["data", "embed", "nope"], fragment="nope")
    add("data embed without an embedded file", ["data", "embed", "smoke-fmnist"], fragment="smoke-fmnist")
    add("data embed missing raw", ["data", "embed", "micro-fmnist", "--raw", f"{w}/nowhere"], fragment="nowhere")
    add("no verb", [])
    add("unknown verb", ["frobnicate"])
    return c


def _check_list(proc, work):
    if proc.returncode != 0:
        return f"rc {proc.returncode}"
    line = next((l for l in proc.stdout.splitlines() if l.startswith("analog-nb201")), "")
    try:
        import importlib.util
        installed = importlib.util.find_spec("analognasbench") is not None
    except Exception:
        installed = False
    if installed and " absent " in line:
        return f"analog-nb201 listed absent although its package is installed: {line.strip()}"
    return None


# Faults --------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    """Every process in the session of pid (the run, its workers, helpers)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != pid:
            try:
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[3]) == pid and stat[0] != "Z":  # session id
                found.append(int(p.name))
    return found


def _start_train(out: Path, *extra, epochs=40):
    cmd = [*LMREG, "train", *TINY_TRAIN, "--out", str(out),
           "--set", f"train.epochs={epochs}", *extra]
    env = dict(os.environ)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for(pred, timeout, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def fault_signal(work: Path, sig: int) -> str | None:
    out = work / f"sig{sig}"
    proc = _start_train(out)
    ok = _wait_for(lambda: any(out.glob("*/checkpoint.pt")), 120, proc)
    if not ok:
        proc.kill()
        return "no checkpoint appeared: " + proc.communicate()[1].decode()[-300:]
    session = proc.pid
    os.kill(proc.pid, sig)  # the parent only, as a job manager would
    t0 = time.time()
    try:
        _, err = proc.communicate(timeout=30)  # EOF on the pipes: nobody holds them any more
    except subprocess.TimeoutExpired:
        left = _children(session)
        os.killpg(session, signal.SIGKILL)
        return f"caller's pipes still held after 30 s by {left}"
    problems = []
    if not _wait_for(lambda: not _children(session), 10):
        problems.append(f"processes left: {_children(session)}")
        for p in _children(session):
            os.kill(p, signal.SIGKILL)
    if sig == signal.SIGKILL and err.strip():
        problems.append(f"printed to the caller after SIGKILL: {err.decode().strip()[-200:]}")
    if sig == signal.SIGTERM:
        if proc.returncode != 143:
            problems.append(f"exit code {proc.returncode}, stderr {err.decode()[-300:]}")
        ck = list(out.glob("*/checkpoint.pt"))
        if not ck:
            problems.append("checkpoint gone")
        else:
            import torch
            try:
                torch.load(ck[0], weights_only=False)
            except Exception as e:
                problems.append(f"checkpoint unreadable: {e}")
    if time.time() - t0 > 15:
        problems.append(f"took {time.time() - t0:.0f} s to let go of the pipes")
    return "; ".join(problems) or None


def fault_same_out_different_configs(work: Path) -> str | None:
    out = work / "ident"
    a, _ = run_cli(["train", *TINY_TRAIN, "--out", str(out)], timeout=300)
    b, _ = run_cli(["train", *TINY_TRAIN, "--out", str(out), "--set", "eval.n_images=300"], timeout=300)
    recs = list(out.glob("*/record.h5"))
    if a.returncode == 0 and b.returncode == 0 and len(recs) == 2:
        return None
    if b.returncode != 0 and "lmreg: error:" in b.stderr and len(recs) == 1:
        return None  # a refusal is also acceptable
    return f"rc {a.returncode}/{b.returncode}, {len(recs)} records: {b.stderr[-200:]}"


def fault_concurrent_same_run(work: Path) -> str | None:
    out = work / "concurrent"
    first = _start_train(out, epochs=30)
    if not _wait_for(lambda: any(out.glob("*/checkpoint.pt")), 120, first):
        first.kill()
        return "first run made no checkpoint"
    second, _ = run_cli(["train", *TINY_TRAIN, "--out", str(out), "--set", "train.epochs=30"], timeout=120)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    if second.returncode != 0 and "lmreg: error:" in second.stderr and "Traceback" not in second.stderr:
        return None
    return f"second run: rc {second.returncode}, {second.stderr[-300:]}"


def fault_write(work: Path, mode: str, verb: str) -> str | None:
    target = work / f"{mode}_{verb}"
    target.mkdir(exist_ok=True)
    if verb == "train":
        argv = ["train", *TINY_TRAIN, "--out", str(target / "runs")]
    elif verb == "build":
        argv = ["bench", "build", "--out", str(target / "gt.h5"), *TINY_BUILD]
    else:  # evaluate needs nothing written; report writes tables
        argv = ["report", str(work / "done"), "--out", str(target / "rep")]
    proc, _ = run_cli(argv, wrap=mode, target=target, timeout=180, size="96k" if verb == "train" else "8k")
    case = Case(f"{mode} {verb}", argv, fragment="read-only" if mode == "ro" else "no space left", code=1)
    return judge_error(proc, case, work, set())


def fault_corrupt_npz(work: Path) -> str | None:
    """The embedded data truncated (a copy of bench/data, named by patching DATA_DIR in
    the command's own process: the data must be checked there, before any worker)."""
    data = work / "data"
    shutil.copytree(ROOT / "bench" / "data", data)
    npz = data / "micro_fmnist16.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    argv = ["train", *TINY_TRAIN, "--seeds", "0,1", "--set", "task=micro-fmnist", "--out", str(work / "npz_runs")]
    code = ("import sys; from pathlib import Path; from lmreg.bench.datasets import tasks; "
            f"tasks.DATA_DIR = Path({str(data)!r}); from lmreg.experiments.cli import main; "
            f"sys.exit(main({argv!r}))")
    proc = subprocess.run([PY, "-c", code], cwd=work, capture_output=True, text=True, timeout=120)
    case = Case("npz", [], fragment="micro_fmnist16.npz", empty=str(work / "npz_runs"))
    return judge_error(proc, case, work) or (
        None if ("git checkout" in proc.stderr or "data embed" in proc.stderr) else
        f"no way to restore named: {proc.stderr.strip()[:200]}")


def fault_wrong_checkpoint(work: Path) -> str | None:
    out = work / "badckpt"
    proc = _start_train(out, epochs=30)
    if not _wait_for(lambda: any(out.glob("*/checkpoint.pt")), 120, proc):
        proc.kill()
        return "no checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    ck = next(out.glob("*/checkpoint.pt"))
    import torch
    torch.save({"whatever": 1}, ck)
    again, _ = run_cli(["train", *TINY_TRAIN, "--out", str(out), "--set", "train.epochs=30"], timeout=120)
    return judge_error(again, Case("ckpt", [], fragment="checkpoint.pt"), work)


def faults(work: Path) -> list[tuple[str, Callable[[], str | None]]]:
    f = [("SIGTERM of train", lambda: fault_signal(work, signal.SIGTERM)),
         ("SIGKILL of train's parent", lambda: fault_signal(work, signal.SIGKILL)),
         ("two configs, one --out", lambda: fault_same_out_different_configs(work)),
         ("two processes, one run", lambda: fault_concurrent_same_run(work)),
         ("corrupt micro_fmnist16.npz", lambda: fault_corrupt_npz(work)),
         ("wrong-structure checkpoint", lambda: fault_wrong_checkpoint(work))]
    if _unshare_ok():
        for mode in ("ro", "full"):
            for verb in ("train", "build", "report"):
                f.append((f"{'read-only' if mode == 'ro' else 'full'} file system: {verb}",
                          lambda m=mode, v=verb: fault_write(work, m, v)))
    return f


def run_case(case: Case, work: Path) -> tuple[str | None, float]:
    before = _entries(case.empty)
    proc, secs = run_cli(case.argv, env=case.env, timeout=case.timeout)
    why = judge_error(proc, case, work, before) if case.expect == "error" else case.check(proc, work)
    return why, secs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default=None, help="cases whose name holds this text")
    p.add_argument("--fast", action="store_true", help="the fast subset: a case or two per class, no faults")
    p.add_argument("--jobs", type=int, default=1, help="cases run at once")
    p.add_argument("--no-faults", action="store_true")
    p.add_argument("--no-inputs", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lmreg-sweep-"))
    try:
        fx = make_fixtures(work, train=not args.fast)
        results = []
        if not args.no_inputs:
            chosen = [c for c in cases(work, fx) if (not args.only or args.only in c.name) and
                      (c.fast or not args.fast)]
            with ThreadPoolExecutor(max(1, args.jobs)) as pool:
                for case, (why, secs) in zip(chosen, pool.map(lambda c: run_case(c, work), chosen)):
                    results.append(("input", case.name, why, secs))
                    print(f"{'FAIL' if why else 'ok  '} {secs:5.1f}s  {case.name}" + (f"  -- {why}" if why else ""),
                          flush=True)
        if not args.no_faults and not args.fast:
            for name, fn in faults(work):
                if args.only and args.only not in name:
                    continue
                t0 = time.time()
                try:
                    why = fn()
                except Exception as e:  # a broken fault harness is a failure too
                    why = f"harness: {type(e).__name__}: {e}"
                results.append(("fault", name, why, time.time() - t0))
                print(f"{'FAIL' if why else 'ok  '} {time.time() - t0:5.1f}s  FAULT {name}"
                      + (f"  -- {why}" if why else ""), flush=True)
        for kind in ("input", "fault"):
            rows = [r for r in results if r[0] == kind]
            bad = [r for r in rows if r[2]]
            print(f"SUMMARY {kind}s: {len(rows)} tried, {len(bad)} failing")
        if args.json:
            Path(args.json).write_text(json.dumps([{"kind": k, "name": n, "failure": w, "s": s}
                                                   for k, n, w, s in results], indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if not results or any(r[2] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
