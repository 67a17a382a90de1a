"""`lmreg score`: any ranker's scores from a file, evaluated as super-net runs are, on
synthetic files whose Kendall tau is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmreg.bench import nb201_pypi, registry
from lmreg.experiments.cli import main
from lmreg.experiments.runner import choose_archs
from lmreg.experiments.score_file import ScoreFileError, configs_for, evaluate_file, read_scores, render

from tests.test_nb201_real import C10, needs_pkg

MICRO = "micro-fmnist-nb201"


@pytest.fixture(scope="module")
def gt():
    return registry.load(MICRO).per_arch("test_acc")


def _write(path, scores: pd.Series):
    scores.rename("score").rename_axis("arch").to_csv(path)
    return path


def test_exact_and_reversed_scores_reach_plus_and_minus_one(gt, tmp_path):
    configs = configs_for(MICRO, [0, 1, 2])
    exact = evaluate_file(_write(tmp_path / "exact.csv", gt * 4), configs)  # exact in binary: ties stay ties
    rev = evaluate_file(_write(tmp_path / "rev.csv", -gt), configs)
    for r, cfg in zip(exact, configs):
        assert r["attrs"]["final_metrics"]["kendall_tau"] == pytest.approx(1.0)
        # the pool and landmarks are the ones the super-net run of that seed draws
        _, landmarks, pool = choose_archs(cfg)
        assert list(r["tables"]["pool"].arch) == pool and list(r["tables"]["landmarks"].arch) == landmarks
        assert len(pool) == 200 and not set(pool) & set(landmarks)
    assert len({tuple(r["tables"]["pool"].arch) for r in exact}) == 3  # drawn per seed
    assert all(r["attrs"]["final_metrics"]["kendall_tau"] == pytest.approx(-1.0) for r in rev)
    for r, cfg in zip(exact, configs):  # the search: the official evolution, the file's scores as fitness
        found = r["attrs"]["search_result"]
        assert found["queries"] == cfg.search.budget and 0 < found["scored_queries"] < found["queries"]
        assert found["score"] == 4 * gt[found["arch"]] == max(v for _, v in found["top"])
        lower = (gt < gt[found["arch"]]).sum()
        assert found["gt_percentile"] == pytest.approx(100 * lower / (len(gt) - 1))


@needs_pkg
def test_the_search_on_a_file_that_scores_the_whole_space(tmp_path, monkeypatch):
    """On the real NB201 table (every cell scored), 1000 queries of evolution with the GT itself
    as the scores end in the top percent of the space, with the GT reversed in the bottom one."""
    monkeypatch.setenv(nb201_pypi.ENV_DIR, str(tmp_path))
    real = registry.load(C10).per_arch("valid_acc")
    configs = configs_for(C10, [0, 1])
    for sign, check in ((1, lambda p: p >= 99.0), (-1, lambda p: p <= 1.0)):
        records = evaluate_file(_write(tmp_path / f"s{sign}.csv", sign * real), configs)
        for r in records:
            found = r["attrs"]["search_result"]
            assert found["scored_queries"] == found["queries"] == 1000
            assert check(found["gt_percentile"]), found


@pytest.mark.slow
def test_a_file_of_known_tau(gt, tmp_path):
    """Scores from a Gaussian copula with correlation r: population Kendall tau (2/pi) asin(r)."""
    r = 0.7
    z = stats.norm.ppf((gt.rank().to_numpy() - 0.5) / len(gt))
    noise = np.random.default_rng(5).normal(size=len(gt))
    scores = pd.Series(r * z + math.sqrt(1 - r * r) * noise, index=gt.index)
    path = _write(tmp_path / "copula.csv", scores)
    records = evaluate_file(path, configs_for(MICRO, list(range(10))))
    taus = [rec["attrs"]["final_metrics"]["kendall_tau"] for rec in records]
    for rec, tau in zip(records, taus):  # every seed's value is scipy's on that seed's pool
        pool = list(rec["tables"]["pool"].arch)
        assert tau == pytest.approx(stats.kendalltau(scores[pool], gt[pool]).statistic, abs=1e-12)
    assert np.mean(taus) == pytest.approx(2 / math.pi * math.asin(r), abs=0.05)
    out = render(records, tmp_path / "out")
    row = out["data"].set_index("metric").loc["kendall_tau"]
    assert row["ci_lo"] < np.mean(taus) < row["ci_hi"] and row["hb_lo"] < np.mean(taus) < row["hb_hi"]
    assert row["n"] == 10 and row["pool_size"] == 200
    assert {p.name for p in out["files"]} >= {"summary.md", "summary.csv", "rank_scatter.png"}
    assert "noise ceiling" in (tmp_path / "out" / "summary.md").read_text()


def test_json_forms_and_headerless_csv_read_the_same(gt, tmp_path):
    obj = {a: float(v) for a, v in gt.items()}
    (tmp_path / "a.json").write_text(json.dumps(obj))
    (tmp_path / "b.json").write_text(json.dumps([{"arch": a, "score": v} for a, v in obj.items()]))
    (tmp_path / "c.csv").write_text("\n".join(f"{k},{v!r}" for k, v in obj.items()))  # no header
    ref = read_scores(tmp_path / "a.json", "nb201")
    for name in ("b.json", "c.csv"):
        pd.testing.assert_series_equal(read_scores(tmp_path / name, "nb201"), ref)
    assert ref.to_dict() == obj


@pytest.mark.parametrize("case,needle", [
    ("missing", "no score for 1 of the 200"),
    ("duplicate", "listed twice"),
    ("duplicate_spaced", "listed twice"),
    ("duplicate_json", "listed twice"),
    ("unknown", "unknown architecture"),
    ("nan", "not a finite number"),
    ("inf", "not a finite number"),
])
def test_bad_files_are_refused_in_one_line(gt, tmp_path, capsys, case, needle):
    cfg = configs_for(MICRO, [0])[0]
    pool = choose_archs(cfg)[2]
    lines = [f"{a},{v!r}" for a, v in gt.items()]
    path = tmp_path / "bad.csv"
    if case == "missing":
        lines = [l for l in lines if not l.startswith(pool[7] + ",")]
    elif case == "duplicate":
        lines.append(lines[0])
    elif case == "duplicate_spaced":
        lines.append(f" {gt.index[0]} ,1.0")  # the same cell, spelled with spaces
    elif case == "duplicate_json":
        path = tmp_path / "bad.json"
        path.write_text('{"%s": 1, "%s": 2}' % (gt.index[0], gt.index[0]))
    elif case == "unknown":
        lines.append("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0")
    elif case in ("nan", "inf"):
        lines[3] = f"{gt.index[3]},{case}"
    if path.suffix == ".csv":
        path.write_text("arch,score\n" + "\n".join(lines))
    with pytest.raises(ScoreFileError, match=needle):
        evaluate_file(path, [cfg])
    out = tmp_path / "out"
    assert main(["score", str(path), "--benchmark", MICRO, "--seeds", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lmreg: error:") and needle in err[0]
    assert not out.exists()


def test_cli_writes_the_summary(gt, tmp_path, capsys):
    path = _write(tmp_path / "exact.csv", gt)
    assert main(["score", str(path), "--benchmark", MICRO, "--seeds", "0-2", "--set", "landmarks.m=30",
                 "--set", "eval.pool_size=100", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "3 seeds (0, 1, 2), landmarks m=30" in text and "pools of 100" in text
    assert "| kendall_tau | 1.000 ± 0.000" in text
    data = pd.read_csv(tmp_path / "o" / "summary.csv").set_index("metric")
    assert data.loc["kendall_tau", "mean"] == pytest.approx(1.0) and data.loc["kendall_tau", "pool_size"] == 100
