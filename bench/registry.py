"""Benchmarks by name. A name maps to a compact ground-truth file; any path to
such a file works wherever a name does."""

from __future__ import annotations

from pathlib import Path

from bench.gt_table import GTFileError, GTTable

DATA_DIR = Path(__file__).resolve().parent / "data"

BENCHMARKS = {
    "micro-fmnist-nb201": (DATA_DIR / "micro_fmnist_nb201.h5",
                           "NB201 cells trained stand-alone on the micro Fashion-MNIST task "
                           "(built by this harness; see README)"),
}


def resolve(name_or_path: str) -> Path:
    if name_or_path in BENCHMARKS:
        return BENCHMARKS[name_or_path][0]
    path = Path(name_or_path)
    if path.suffix in (".h5", ".hdf5") or path.exists():
        return path
    raise GTFileError(f"unknown benchmark {name_or_path!r}; valid names: {', '.join(sorted(BENCHMARKS))} "
                      "(or a path to a .h5 ground-truth table)")


def load(name_or_path: str) -> GTTable:
    return GTTable.read(resolve(name_or_path))
