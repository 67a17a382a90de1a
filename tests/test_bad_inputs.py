"""Bad input, one test per class: a clear one-line `lmreg: error:` with exit 2 (1 for a
folder that cannot be made), nothing created, no internal error (exit 70).

Each class is tested on more than the case that exposed it: every config float, every
registered space's keys, every damaged byte of a record. tests/sweep_bad_inputs.py runs
the same classes against the real command in child processes (test_sweep_fast_subset)."""

import dataclasses
import json
import typing
from pathlib import Path

import h5py
import numpy as np
import pytest

from lmreg.algorithms.base import ALGORITHMS, get_algorithm
from lmreg.algorithms.standalone import StandaloneRecipe
from lmreg.bench import registry
from lmreg.bench.datasets import tasks
from lmreg.bench.ground_truth import gt_metric
from lmreg.bench.gt_table import GTFileError, GTTable
from lmreg.core.errors import ConfigError
from lmreg.experiments import cli
from lmreg.experiments.config import override
from lmreg.experiments.gt_build import journal_path
from lmreg.experiments.runconfig import RunConfig, load_config
from lmreg.results.records import RecordError, read_record, write_record
from lmreg.spaces.base import ArchError, get_space, space_names
from tests.fixtures import BUILD, TINY, TINY_SET, run_main

ROOT = Path(__file__).resolve().parent.parent
INT64_MAX = 2**63 - 1  # numpy, torch and HDF5 take seeds as int64
MICRO_GT = ROOT / "bench" / "data" / "micro_fmnist_nb201.h5"
_main = run_main


def _refused(argv, capsys, *fragments, rc=2):
    code, err = _main(argv, capsys)
    assert code == rc, err
    if err and err[0].startswith("usage:"):  # argparse: the usage line, then its error line
        err = err[-1:]
    assert len(err) == 1 and ": error:" in err[0], err
    for f in fragments:
        assert f.lower() in err[0].lower(), (f, err[0])
    return err[0]


# An empty folder left behind: data is checked before anything is created ------------
@pytest.fixture
def broken_embedded(tmp_path, monkeypatch):
    """The embedded data folder with micro-fmnist's file truncated."""
    data = tmp_path / "data"
    data.mkdir()
    for f in tasks.DATA_DIR.glob("*.npz"):
        (data / f.name).write_bytes(f.read_bytes())
    npz = data / tasks.get_spec("micro-fmnist").embedded
    npz.write_bytes(npz.read_bytes()[:1000])
    monkeypatch.setattr(tasks, "DATA_DIR", data)


@pytest.mark.parametrize("seeds", ["0", "0,1"])
def test_missing_dataset_is_one_line_and_creates_no_folder(tmp_path, capsys, monkeypatch, seeds):
    monkeypatch.setenv("LMREG_FMNIST_DIR", str(tmp_path / "nowhere"))
    out = tmp_path / "out" / "runs"
    _refused(["train", *TINY, "--set", "task=fmnist", "--seeds", seeds, "--out", out], capsys, "fashion-mnist")
    assert not (tmp_path / "out").exists()


def test_corrupt_embedded_data_creates_no_folder(tmp_path, capsys, broken_embedded):
    for argv in (["train", *TINY, "--set", "task=micro-fmnist", "--seeds", "0,1", "--out", tmp_path / "o" / "t"],
                 ["demo", "--quick", "--no-progress", "--set", "task=micro-fmnist", "--out", tmp_path / "o" / "d"],
                 ["bench", "build", *BUILD, "--task", "micro-fmnist", "--out", tmp_path / "o" / "b" / "gt.h5"]):
        _refused(argv, capsys, "micro_fmnist16.npz", "corrupt")
    assert not (tmp_path / "o").exists()


# One rule for every number: floats finite, integers within int64 --------------------
def _float_keys(obj, prefix=""):
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _float_keys(value, f"{prefix}{f.name}.")
        elif float in (hints[f.name], *typing.get_args(hints[f.name])):
            yield prefix + f.name


def _run_float_keys():
    """Every float of the run config, the `algo` options of every registered algorithm included."""
    keys = {("spos", k) for k in _float_keys(RunConfig())}
    for name in ALGORITHMS:
        opts = get_algorithm(name).options_type()
        keys |= {(name, f"algo.{k}") for k in _float_keys(opts)}
    return sorted(keys)


@pytest.mark.parametrize("algorithm, key", _run_float_keys())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_run_config_float_must_be_finite(algorithm, key, value):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        load_config("quick", [f"algorithm={algorithm}", f"{key}={value}"])


@pytest.mark.parametrize("key", list(_float_keys(StandaloneRecipe())))
def test_every_recipe_float_must_be_finite(key):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        override(StandaloneRecipe(), [f"{key}=nan"])


def test_nan_float_in_a_preset_file_is_refused(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('algorithm = "gdas"\n[algo]\nalpha_init_std = nan\n')
    with pytest.raises(ConfigError, match="algo.alpha_init_std must be a finite number"):
        load_config(str(preset))


def test_nan_algo_float_on_the_command_line_creates_nothing(tmp_path, capsys):
    load_config("quick", ["algorithm=gdas", "algo.search_epochs=1", *TINY_SET])  # valid but for the NaN
    _refused(["train", *TINY, "--set", "algorithm=gdas", "--set", "algo.search_epochs=1",
              "--set", "algo.alpha_init_std=nan", "--out", tmp_path / "o"], capsys, "algo.alpha_init_std", "finite")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [
    ["train", "--set", f"seed={INT64_MAX + 1}"],
    ["train", "--seeds", f"0,{INT64_MAX + 1}"],
    ["train", "--set", f"landmarks.selection_seed={-INT64_MAX - 2}"],
    ["bench", "build", "--sample-seed", str(INT64_MAX + 1)],
    ["bench", "build", "--seeds", str(2**64)],
])
def test_integers_beyond_int64_are_refused_before_any_folder(tmp_path, capsys, argv):
    out = tmp_path / "o"
    extra = ["--out", out / "gt.h5", *BUILD[:2]] if argv[0] == "bench" else [*TINY, "--out", out]
    _refused([*argv, *extra], capsys)
    assert not out.exists()


def test_largest_int64_seed_still_trains_its_config():
    assert load_config("quick", [f"seed={INT64_MAX}"]).seed == INT64_MAX


# Bad values that would train anyway ------------------------------------------------
def test_landmark_batch_and_interval_must_fit_the_data():
    sizes = tasks.split_sizes(tasks.get_spec("smoke-fmnist"))
    steps = -(-sizes["train"] // RunConfig().train.batch_size)
    load_config("quick", [f"landmarks.batch_size={sizes['valid']}", f"landmarks.every={steps}"])  # the limits
    with pytest.raises(ConfigError, match=f"landmarks.batch_size must be <= the {sizes['valid']} held-out"):
        load_config("quick", [f"landmarks.batch_size={sizes['valid'] + 1}"])
    with pytest.raises(ConfigError, match=f"landmarks.every must be <= the {steps} training steps"):
        load_config("quick", [f"landmarks.every={steps + 1}"])
    load_config("quick", [f"landmarks.every={steps + 1}", "use_landmarks=false"])  # no landmark steps: no rule


def test_landmark_sizes_are_checked_against_the_loaded_data(tmp_path, capsys, monkeypatch):
    """A dataset folder smaller than the published dataset: the loaded sizes decide."""
    from tests.fixtures import write_fashion_mnist
    write_fashion_mnist(tmp_path / "fm", n_train=300, n_test=100)
    monkeypatch.setenv("LMREG_FMNIST_DIR", str(tmp_path / "fm"))
    base = ["train", *TINY, "--set", "task=fmnist", "--set", "train.batch_size=16", "--out", tmp_path / "o"]
    _refused([*base, "--set", "landmarks.every=1000"], capsys, "landmarks.every", "training steps")
    _refused([*base, "--set", "landmarks.batch_size=1000"], capsys, "landmarks.batch_size", "held-out")
    assert not (tmp_path / "o").exists()


# Executor options ----------------------------------------------------------------
@pytest.mark.parametrize("extra, fragments", [
    (["--executor", "slurm", "--partition", "gpu"], ["sbatch and srun"]),
    (["--executor", "slurm"], ["--partition"]),
    (["--max-parallel", "0"], ["--max-parallel"]),
    (["--max-parallel", "-2"], ["--max-parallel"]),
    (["--cpus", "0"], ["--cpus"]),
    (["--gpus", "-1"], ["--gpus"]),
])
@pytest.mark.parametrize("verb", ["reproduce", "build"])
def test_executor_options_are_checked_before_anything(tmp_path, capsys, monkeypatch, extra, fragments, verb):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no sbatch, no srun
    argv = (["reproduce", "T1", "--no-progress", "--out", tmp_path / "o"] if verb == "reproduce"
            else ["bench", "build", "--out", tmp_path / "o" / "gt.h5", *BUILD])
    _refused([*argv, *extra], capsys, *fragments)
    assert not (tmp_path / "o").exists()


# Options that would be silently ignored --------------------------------------------
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Two finished tiny runs (seeds 0 and 1)."""
    out = tmp_path_factory.mktemp("runs")
    assert cli.main(["train", *TINY, "--seeds", "0,1", "--out", str(out)]) == 0
    return out


def test_options_of_the_other_regress_mode_are_refused(tmp_path, capsys, tiny_runs):
    base = tmp_path / "b.json"
    _refused(["regress", "--write-baseline", base, "--against", "gate-landmarks", tiny_runs], capsys, "--against")
    assert not base.exists()
    assert _main(["regress", "--write-baseline", base, tiny_runs], capsys)[0] == 0  # the same without --against
    _refused(["regress", "--baseline", base, "--force", tiny_runs], capsys, "--force")
    _refused(["regress", "--baseline", base, "--note", "x", tiny_runs], capsys, "--note")


def test_dry_run_into_a_plain_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for out in (afile, afile / "sub"):
        _refused(["reproduce", "T1", "--dry-run", "--out", out], capsys, str(afile), "file", rc=1)
    assert afile.read_text() == "not a folder"
    code, _ = _main(["reproduce", "T1", "--dry-run", "--out", tmp_path / "new"], capsys)
    assert code == 0 and not (tmp_path / "new").exists()  # a dry run still creates nothing


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_seconds_per_epoch_must_be_finite_and_positive(capsys, value):
    _refused(["reproduce", "T1", "--dry-run", "--seconds-per-epoch", value], capsys, "seconds")


# Architectures are read by the table's space ----------------------------------------
def _present_table(space: str) -> str | None:
    return next((b.name for b in registry.BENCHMARKS.values() if b.space == space and b.path().is_file()), None)


def _a_key(name: str) -> str:
    """A key of the space as tables list it: from a present table of the benchmark registry,
    else the space's own key of a sampled architecture."""
    bench = _present_table(name)
    if bench is None:
        space = get_space(name)
        return space.key(space.sample(1, 0)[0])
    return registry.load(bench).archs[0]


@pytest.mark.parametrize("space", space_names())
def test_query_reads_keys_in_the_tables_space(space, capsys):
    bench = _present_table(space)
    if bench is None:
        pytest.skip(f"no table of the {space} space is present here")
    key = _a_key(space)
    assert cli.main(["bench", "query", bench, key]) == 0
    out = capsys.readouterr().out
    table = registry.load(bench)
    metric = gt_metric(table)
    expected = table.frame().query("arch == @key")[metric].mean()
    assert out.strip().splitlines()[-1] == f"mean {metric} over seeds: {expected:.3f}"
    for other in space_names():
        if other == space:
            continue
        err = _refused(["bench", "query", bench, _a_key(other)], capsys,
                       f"architecture, but this benchmark covers the {space} space")
        named = err.split(" is an ")[1].split(" architecture")[0]
        assert named != space and named in space_names()
        get_space(named).table_keys(_a_key(other))  # the space it names does read it


def test_nb101_cell_key_finds_the_row_of_its_module_hash():
    from lmreg.spaces import nb101
    key = _a_key("nb101")
    module_hash = nb101.module_hash(nb101.parse(key))
    assert get_space("nb101").table_keys(key) == {key: "", module_hash: "its module hash"}
    assert get_space("nb101").table_keys(f" {module_hash.upper()} ") == {module_hash: ""}


@pytest.mark.parametrize("space", space_names())
def test_every_space_refuses_garbage_as_arch_error(space):
    for text in ("", "xyz", "|" * 40):
        with pytest.raises(ArchError):
            get_space(space).table_keys(text)


# Corrupt files: a one-line file error, never an internal error ----------------------
def _damage_seeds(src: Path, dst: Path, seeds) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        n = len(f["seed"])
        del f["seed"]
        f.create_dataset("seed", data=np.resize(np.asarray(seeds), n))
    return dst


@pytest.mark.parametrize("seeds", [[0.5, np.nan], [0], [-1, 1], [b"x", b"y"]])
def test_gt_table_with_a_damaged_seed_column(tmp_path, capsys, seeds):
    bad = _damage_seeds(MICRO_GT, tmp_path / "gt.h5", seeds)
    with pytest.raises(GTFileError, match="corrupt table"):
        GTTable.read(bad)
    _refused(["bench", "info", bad], capsys, "gt.h5")
    _refused(["train", *TINY, "--set", f"benchmark={bad}", "--out", tmp_path / "o"], capsys, "gt.h5")
    assert not (tmp_path / "o").exists()


def _sample_record(path: Path) -> Path:
    rows = [{"arch": f"a{i}", "gt": float(i), "score_acc": 0.5, "score_loss": 1.0} for i in range(12)]
    return write_record(path, {"attrs": {"config": {"name": "x"}, "final_metrics": {"kendall_tau": 0.1},
                                         "timings": {"train_s": 1.0}},
                               "tables": {"curves": [{"epoch": 0, "train_loss": 2.0}],
                                          "evals": [{"epoch": 0, "kendall_tau": 0.1}],
                                          "landmarks": rows[:4], "pool": rows[4:]}})


def test_record_with_any_flipped_byte_is_refused_or_unchanged(tmp_path):
    good = _sample_record(tmp_path / "record.h5")
    ref = read_record(good)
    data = good.read_bytes()
    bad, refused = tmp_path / "bad.h5", 0
    for offset in range(0, len(data), 3):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        bad.write_bytes(damaged)
        try:
            rec = read_record(bad)
        except RecordError:
            refused += 1
            continue
        assert json.dumps(rec["attrs"], sort_keys=True) == json.dumps(ref["attrs"], sort_keys=True), offset
        assert all(rec["tables"][k].equals(ref["tables"][k]) for k in ref["tables"]), offset
    assert refused > len(data) // 3 * 0.9  # only bytes HDF5 never reads (padding) may flip unnoticed


def test_record_lacking_a_scored_column_is_refused(tmp_path, capsys):
    path = _sample_record(tmp_path / "run" / "record.h5")
    rec = read_record(path)
    tables = {k: v.drop(columns=["gt"]).to_dict("records") if k == "pool" else v.to_dict("records")
              for k, v in rec["tables"].items()}
    write_record(path, {"attrs": rec["attrs"], "tables": tables})
    with pytest.raises(RecordError, match="pool.gt"):
        read_record(path)
    _refused(["report", tmp_path / "run"], capsys, "pool.gt")


@pytest.mark.parametrize("row", [
    {"arch": 5, "seed": 0},
    {"arch": "a", "seed": -1},
    {"arch": "a", "seed": 0, "test_acc": "high"},
    "just a string",
    [1, 2, 3],
])
def test_journal_rows_of_the_wrong_shape_are_refused_with_their_line(tmp_path, capsys, row):
    out = tmp_path / "gt.h5"
    assert _main(["bench", "build", "--out", out, *BUILD], capsys)[0] == 0  # finished: its journal is gone
    from lmreg.experiments.gt_build import _identity, check_recipe  # the build's own identity
    recipe = check_recipe(override(StandaloneRecipe(), [a for i, a in enumerate(BUILD) if BUILD[i - 1] == "--set"]))
    ident = _identity("smoke-fmnist", recipe, 0)
    good = GTTable.read(out).rows()[0]
    shaped = {**good, **row} if isinstance(row, dict) else row
    journal_path(out).write_text(json.dumps({"identity": ident}) + "\n" + json.dumps(good) + "\n"
                                 + json.dumps(shaped) + "\n")
    before = out.read_bytes()
    _refused(["bench", "build", "--out", out, *BUILD, "--archs", "2"], capsys, "line 3", "not a build row")
    assert out.read_bytes() == before


# The real command, in child processes ------------------------------------------------
@pytest.mark.slow
def test_sweep_fast_subset(capsys):
    """The sweep's fast subset (a case or two of every class above, no training) must
    pass strictly: expected exit code, one line, nothing created."""
    from tests import sweep_bad_inputs
    rc = sweep_bad_inputs.main(["--fast", "--jobs", "2"])
    out = capsys.readouterr().out
    assert rc == 0, "\n".join(line for line in out.splitlines() if line.startswith(("FAIL", "SUMMARY")))
    assert "SUMMARY inputs:" in out and " 0 failing" in out
