"""The `lmreg` command: working verbs and one-line errors with non-zero exits."""

import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _lmreg(*args):
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=ROOT,
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
    assert "400 architectures" in out and "seed tau" in out
    assert main(["bench", "query", "micro-fmnist-nb201", "--top", "3"]) == 0
    top = capsys.readouterr().out.strip().splitlines()
    assert len(top) == 3
    best = top[0].split()[1]
    assert main(["bench", "query", "micro-fmnist-nb201", best]) == 0
    assert "mean test_acc over seeds" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    proc = _lmreg("demo", "--quick", "--seeds", "0,1", "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "| kendall_tau |" in proc.stdout and "paired bootstrap" in proc.stdout
    for name in ("summary.md", "summary.csv", "rank_scatter.png", "rank_scatter.pdf",
                 "tau_over_epochs.png", "tau_over_epochs.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert len(list(tmp_path.glob("*/record.h5"))) == 4
