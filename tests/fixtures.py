"""Small files in the real formats, written by the tests themselves."""

from __future__ import annotations

import gzip
import pickle
import sys
from pathlib import Path

import numpy as np


# `python -m lmreg` in a child process. -P keeps the working folder off sys.path, so a
# source checkout's lmreg/ folder never shadows the installed package (CI installs a wheel).
LMREG = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "lmreg"]

# A run of seconds (the quick preset shrunk) and a one-cell ground-truth build.
TINY = ["--preset", "quick", "--no-progress", "--workers", "1", "--set", "train.epochs=2",
        "--set", "eval.every=1", "--set", "eval.pool_size=10", "--set", "landmarks.m=4",
        "--set", "eval.n_images=200"]
TINY_SET = [TINY[i + 1] for i, a in enumerate(TINY) if a == "--set"]
BUILD = ["--task", "smoke-fmnist", "--archs", "1", "--seeds", "0", "--workers", "1", "--no-progress",
         "--set", "C=4", "--set", "epochs=1", "--set", "batch_size=100", "--set", "eval_batch_size=500"]


def run_main(argv, capsys) -> tuple[int, list[str]]:
    """Exit code and stderr lines of `lmreg ARGV`, in this process."""
    from lmreg.experiments import cli
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        rc = e.code
    return rc, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def tiny_task(n_train: int = 16, n_valid: int = 16, crop: int = 0, n_test: int = 8, seed: int = 0):
    """A Task of random 8x8 one-channel images (the smoke-fmnist spec, crop as given),
    small enough to train by hand-checked steps."""
    import dataclasses

    from lmreg.bench.datasets.tasks import Task, get_spec
    spec = dataclasses.replace(get_spec("smoke-fmnist"), crop_padding=crop)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        arrays[f"{split}_x"] = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
        arrays[f"{split}_y"] = rng.integers(0, 10, n).astype(np.int64)
    return Task(spec, arrays)


class Interrupted(Exception):
    pass


def algorithm_overrides(name: str) -> list[str]:
    """`--set` overrides that select a registered algorithm for a short test run (its
    class's `smoke_overrides` on top of `algorithm=NAME`)."""
    from lmreg.algorithms.base import get_algorithm
    return [f"algorithm={name}", *get_algorithm(name).smoke_overrides]


def interrupted_and_whole(cfg, tmp_path: Path, after_epoch: int = 1) -> tuple[dict, dict]:
    """(record of a run stopped after `after_epoch` and resumed, record of the same run
    made in one go): the run driver's checkpoint/resume, in process."""
    from lmreg.experiments.runner import run
    from lmreg.results.records import read_record

    def stop(curve):
        if curve["epoch"] == after_epoch:
            raise Interrupted
    try:
        run(cfg, tmp_path / "killed", on_epoch=stop)
    except Interrupted:
        pass
    else:
        raise AssertionError(f"the run never reached epoch {after_epoch}")
    return read_record(run(cfg, tmp_path / "killed")), read_record(run(cfg, tmp_path / "whole"))


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_fashion_mnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    write_idx(root / "train-images-idx3-ubyte", arrays["train_x"])
    write_idx(root / "train-labels-idx1-ubyte", arrays["train_y"])
    write_idx(root / "t10k-images-idx3-ubyte", arrays["test_x"], compress=False)
    write_idx(root / "t10k-labels-idx1-ubyte", arrays["test_y"], compress=False)
    return arrays


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> dict:
    """cifar-10-batches-py layout: pickled dicts with bytes keys, rows of 3072 uint8."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * per_batch}, f, protocol=2)
        split = "test" if name == "test_batch" else "train"
        out[f"{split}_x"].append(data.reshape(-1, 3, 32, 32))
        out[f"{split}_y"].append(np.array(labels))
    return {k: np.concatenate(v) for k, v in out.items()}


def is_installed(dist: str) -> bool:
    """Whether an optional distribution is installed (looked up, not imported)."""
    import importlib.metadata
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
