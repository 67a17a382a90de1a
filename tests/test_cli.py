"""The `lmreg` command: working verbs and one-line errors with non-zero exits."""

import subprocess
import sys
from pathlib import Path

import pytest

from lmreg.experiments.cli import main
from lmreg.spaces import nb201
from tests.fixtures import LMREG

ROOT = Path(__file__).resolve().parent.parent
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _lmreg(*args):
    return subprocess.run([*LMREG, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, fragment", [
    (["bench", "query", "micro-fmnist-nb201", "|nor_conv_3x3~0|+|bad~0|"], "malformed NB201 string"),
    (["bench", "query", "micro-fmnist-nb201", GOOD.replace("avg_pool_3x3", "max_pool_3x3")], "unknown NB201 op"),
    (["bench", "info", "no-such-bench"], "unknown benchmark 'no-such-bench'; valid names"),
    (["bench", "info", "missing.h5"], "missing.h5: no such ground-truth file"),
    (["bench", "build", "--out", "x.h5", "--set", "epoch=3"], "unknown config key 'epoch'"),
    (["bench", "build", "--out", "x.h5", "--task", "imagenet"], "unknown task 'imagenet'"),
    (["train", "--set", "landmarks.count=5"], "unknown config key 'landmarks.count'"),
    (["train", "--preset", "paper"], "unknown preset 'paper'"),
    (["evaluate", "no/such/run"], "no such run record"),
])
def test_bad_input_gives_one_line_error(args, fragment, tmp_path):
    proc = _lmreg(*[a.replace("x.h5", str(tmp_path / "x.h5")) for a in args])
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmreg: error:"), proc.stderr
    assert fragment in lines[0]


def test_wrong_file_is_refused(tmp_path, capsys):
    fake = tmp_path / "fake.h5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature and nothing else
    assert main(["bench", "info", str(fake)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fake.h5" in err[0]


def test_missing_dataset_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LMREG_FMNIST_DIR", str(tmp_path / "nowhere"))
    assert main(["bench", "build", "--out", str(tmp_path / "g.h5"), "--task", "fmnist", "--archs", "1"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "Traceback" not in err


def test_bench_verbs(capsys):
    assert main(["bench", "list"]) == 0
    assert "micro-fmnist-nb201" in capsys.readouterr().out
    assert main(["bench", "info", "micro-fmnist-nb201"]) == 0
    out = capsys.readouterr().out
    assert "300 architectures" in out and "seed tau" in out
    assert main(["bench", "query", "micro-fmnist-nb201", "--top", "3"]) == 0
    top = capsys.readouterr().out.strip().splitlines()
    assert len(top) == 3
    best = top[0].split()[1]
    assert main(["bench", "query", "micro-fmnist-nb201", best]) == 0
    by_string = capsys.readouterr().out
    assert "mean test_acc over seeds" in by_string
    # the same cell by its index in the 15,625 NB201 cells
    assert main(["bench", "query", "micro-fmnist-nb201", str(nb201.to_index(nb201.parse(best)))]) == 0
    assert capsys.readouterr().out == by_string


# --- NB101: queried by module hash, on a small converted store ----------------------------------
NB101_CELLS = [  # (matrix, ops)
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]),
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
     ["input", "conv1x1-bn-relu", "maxpool3x3", "output"]),
]


def _nb101_acc(c: int, rep: int, epoch: int) -> float:
    return 0.5 + c / 8 + rep / 64 + epoch / 1024          # exact binary fractions


@pytest.fixture
def nb101_store(tmp_path, monkeypatch) -> list[str]:
    """The NB101_CELLS, 3 repeats each at 108 epochs, converted into $LMREG_NB101_H5."""
    from lmreg.bench import nb101, tfrecord
    records, hashes = [], []
    for c, (m, ops) in enumerate(NB101_CELLS):
        hashes.append(nb101.cell_hash(m, ops))
        for rep in range(3):
            evals = [nb101.EvaluationData(float(e), 10.0 * e, _nb101_acc(c, rep, e) + 1 / 32,
                                          _nb101_acc(c, rep, e), _nb101_acc(c, rep, e) - 1 / 32)
                     for e in (0, 54, 108)]
            metrics = nb101.ModelMetrics(evals, trainable_parameters=300_000 + c, total_time=1234.5)
            records.append(nb101.encode_record(hashes[-1], 108, m, ops, metrics))
    tfrecord.write_records(tmp_path / "nb101.tfrecord", records)
    h5 = nb101.convert_nb101(tmp_path / "nb101.tfrecord", tmp_path / "nb101.h5", verify_hashes=True)
    monkeypatch.setenv(nb101.ENV_H5, str(h5))
    return hashes


def test_bench_query_nb101_by_module_hash(nb101_store, capsys):
    for c, h in enumerate(nb101_store):
        for arg in (h, h.upper()):
            assert main(["bench", "query", "nb101", arg]) == 0
            lines = capsys.readouterr().out.strip().splitlines()
            assert lines[0].split() == ["seed", "train_acc", "valid_acc", "test_acc", "train_time", "params"]
            assert [int(line.split()[0]) for line in lines[1:4]] == [0, 1, 2]
            assert all(line.split()[-1] == str(300_000 + c) for line in lines[1:4])
            mean = sum(_nb101_acc(c, r, 108) - 1 / 32 for r in range(3)) / 3 * 100
            assert lines[-1] == f"mean test_acc over seeds: {mean:.3f}"
    assert main(["bench", "query", "nb101", nb101_store[1], "--epoch", "54"]) == 0
    mean = sum(_nb101_acc(1, r, 54) - 1 / 32 for r in range(3)) / 3 * 100
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"mean test_acc over seeds: {mean:.3f}"
    assert main(["bench", "info", "nb101"]) == 0  # the GroundTruth members only (no .curves)
    assert "seed tau    test_acc" in capsys.readouterr().out
    assert main(["bench", "query", "nb101", "--top", "1"]) == 0
    assert capsys.readouterr().out.split()[1] == nb101_store[1]
    assert main(["bench", "query", "nb101", "0123456789abcdef" * 2]) == 1
    assert capsys.readouterr().err.strip() == "0123456789abcdef" * 2 + " is not in nb101"


@pytest.mark.parametrize("arch, fragment", [
    ("xyz", "malformed NB101 key 'xyz': expected 'ROW/ROW/...:input,OP,...,output', or a module hash (32 hex digits)"),
    ("0" * 31, "'0000000000000000000000000000000' is an nb201 architecture"),  # an NB201 index
    ("g" * 32, "or a module hash (32 hex digits)"),
    (GOOD, f"{GOOD!r} is an nb201 architecture, but this benchmark covers the nb101 space"),
])
def test_bench_query_nb101_bad_hash(nb101_store, capsys, arch, fragment):
    assert main(["bench", "query", "nb101", arch]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lmreg: error: ") and fragment in err[0]
    assert captured.out == ""


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    import numpy as np
    import pandas as pd
    from scipy import stats

    from lmreg.paper_figures.aggregate import RANKING_METRICS
    from lmreg.paper_figures.stats import hierarchical_bootstrap_diff
    from lmreg.results.records import read_record

    proc = _lmreg("demo", "--quick", "--seeds", "0,1", "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for name in ("summary.md", "summary.csv", "rank_scatter.png", "rank_scatter.pdf",
                 "tau_over_epochs.png", "tau_over_epochs.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name

    # The records: both arms, both seeds, pools of 30 (the quick preset's) drawn from the run
    # seed (official): shared by the two arms of a seed, different between seeds; and final
    # metrics that are the metrics of the stored pool scores.
    records = {(r["attrs"]["config"]["use_landmarks"], r["attrs"]["config"]["seed"]): r
               for r in map(read_record, sorted(tmp_path.glob("*/record.h5")))}
    assert sorted(records) == [(False, 0), (False, 1), (True, 0), (True, 1)]
    pools = {k: r["tables"]["pool"] for k, r in records.items()}
    assert all(len(p) == 30 for p in pools.values())
    for seed in (0, 1):
        assert list(pools[True, seed].arch) == list(pools[False, seed].arch)
    assert list(pools[False, 0].arch) != list(pools[False, 1].arch)
    for rec, pool in zip(records.values(), pools.values()):
        fm = rec["attrs"]["final_metrics"]
        assert fm["kendall_tau"] == pytest.approx(stats.kendalltau(pool["score_acc"], pool["gt"]).statistic, abs=1e-12)
        assert fm["spearman_rho"] == pytest.approx(stats.spearmanr(pool["score_acc"], pool["gt"]).statistic, abs=1e-12)

    # summary.csv: one row per ranking metric, every number finite, n beside the intervals,
    # and the numbers are those of the records.
    csv = pd.read_csv(tmp_path / "summary.csv")
    assert list(csv.metric) == list(RANKING_METRICS)
    numbers = csv.drop(columns="metric")
    assert np.isfinite(numbers.to_numpy(float)).all(), csv
    assert (csv.seeds == 2).all() and (csv.pool_size == 30).all()
    t975 = stats.t.ppf(0.975, 1)  # 2 seeds: 1 degree of freedom (12.706)
    assert t975 == pytest.approx(12.706, abs=1e-3)
    for row in csv.itertuples():
        m = row.metric
        base = np.array([records[False, s]["attrs"]["final_metrics"][m] for s in (0, 1)])
        lm = np.array([records[True, s]["attrs"]["final_metrics"][m] for s in (0, 1)])
        assert (row.baseline_mean, row.landmarks_mean) == pytest.approx((base.mean(), lm.mean()), abs=1e-12)
        assert (row.baseline_std, row.landmarks_std) == pytest.approx((base.std(ddof=1), lm.std(ddof=1)), abs=1e-12)
        d = lm - base
        half = t975 * d.std(ddof=1) / np.sqrt(2)
        assert (row.diff, row.diff_lo, row.diff_hi) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half),
                                                                     abs=1e-9)
        hb = hierarchical_bootstrap_diff(
            [(pools[False, s].score_acc.to_numpy(), pools[False, s]["gt"].to_numpy()) for s in (0, 1)],
            [(pools[True, s].score_acc.to_numpy(), pools[True, s]["gt"].to_numpy()) for s in (0, 1)],
            m, shared_pool=False)  # per-seed pools (draws = run_seed)
        assert (row.diff_hb_lo, row.diff_hb_hi) == pytest.approx((hb["lo"], hb["hi"]), abs=1e-12)
        assert row.diff_hb_lo <= hb["estimate"] <= row.diff_hb_hi
        for arm, v in (("baseline", base), ("landmarks", lm)):
            half = t975 * v.std(ddof=1) / np.sqrt(2)
            assert (getattr(row, f"{arm}_ci_lo"), getattr(row, f"{arm}_ci_hi")) == pytest.approx(
                (v.mean() - half, v.mean() + half), abs=1e-9)

    # The printed table (also in summary.md): both arms, every metric, its numbers, n per row.
    md = (tmp_path / "summary.md").read_text()
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| metric |"))
    assert "baseline" in header and "landmarks" in header and "paired t" in header
    assert "hierarchical bootstrap" in header and header in md
    for row in csv.itertuples():
        line = next(line for line in proc.stdout.splitlines() if line.startswith(f"| {row.metric} |"))
        assert line in md and line.endswith("| 2 seeds; pool 30 |")
        assert f"{row.baseline_mean:.3f} ± {row.baseline_std:.3f}" in line
        t_interval = (f"[t {row.diff_lo:+.3f}, {row.diff_hi:+.3f}]" if f"{row.diff_lo:+.3f}" != f"{row.diff_hi:+.3f}"
                      else "[t zero width: no spread over seeds]")
        assert f"{row.diff:+.3f} {t_interval}" in line
        assert f"[hb {row.diff_hb_lo:+.3f}, {row.diff_hb_hi:+.3f}]" in line


def test_the_micro_demo_skips_the_search_it_does_not_report(monkeypatch):
    """The micro demo's table is the pool's ranking: its runs pick the pool's best cell, not the
    preset's 1000-query evolution; a caller's --set still wins."""
    from lmreg.experiments import demo as demo_module

    class Captured(Exception):
        pass

    def capture(configs, *args, **kwargs):
        raise Captured(configs)
    monkeypatch.setattr(demo_module, "run_many", capture)
    for overrides, method in (([], "pool"), (["search.method=evolution"], "evolution")):
        with pytest.raises(Captured) as got:
            demo_module.demo(seeds=(0,), overrides=overrides, progress=False)
        configs = got.value.args[0]
        assert len(configs) == 2 and {c.search.method for c in configs} == {method}
        assert {c.name for c in configs} == {"micro"}


def test_bench_info_figure_draws_each_seed_pair_with_its_seed_tau(tmp_path, monkeypatch, capsys):
    """The figure's panels are the table's own seed columns, and each panel's tau is scipy's
    tau-b of those two columns (what `bench info` prints as the seed tau)."""
    from scipy import stats

    from lmreg.bench import registry
    from lmreg.paper_figures import plots
    drawn = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (drawn.append(fig), real_save(fig, path))[1])
    assert main(["bench", "info", "micro-fmnist-nb201", "--figure", str(tmp_path / "gt")]) == 0
    assert (tmp_path / "gt.png").stat().st_size > 0 and "figure" in capsys.readouterr().out
    table = registry.load("micro-fmnist-nb201")
    (fig,) = drawn
    axes = [ax for ax in fig.axes if ax.collections]
    assert [ax.get_xlabel() for ax in axes] == ["test_acc, seed 0", "eval_acc, seed 0"]
    for ax, metric in zip(axes, ("test_acc", "eval_acc")):
        m = table.seed_matrix(metric).dropna()
        want = stats.kendalltau(m[0], m[1]).statistic
        assert f"Kendall tau {want:.3f} ({len(m)} cells)" == ax.get_title()
        points = ax.collections[0].get_offsets()
        assert sorted(map(tuple, points)) == sorted(zip(m[0], m[1]))


def test_seed_figure_needs_two_seeds(tmp_path):
    import pandas as pd

    from lmreg.paper_figures.plots import seed_agreement
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_agreement({"test_acc": pd.DataFrame({0: [1.0, 2.0, 3.0]})}, tmp_path / "f")
