"""Iterative landmark growing: the round schedule, the candidate rule, the picks by hand,
and a run that grows its landmarks, records each round and resumes mid-way."""

import numpy as np
import pandas as pd
import pytest

from lmreg.experiments import growing
from lmreg.experiments.config import ConfigError
from lmreg.experiments.runconfig import load_config
from lmreg.experiments.runner import run
from lmreg.results.records import read_record
from tests.fixtures import interrupted_and_whole


def test_round_epochs_split_the_regularised_epochs_evenly():
    # 10 regularised epochs (6..15) in 3 parts: rounds after epochs 8 and 11 (0-based)
    assert growing.grow_epochs(6, 16, 2) == [8, 11]
    assert growing.grow_epochs(0, 4, 1) == [1]
    assert growing.grow_epochs(6, 16, 0) == []
    assert "needs at least 3 regularised epochs" in growing.check_growing(2, 10, 6, 8, 300, 50, 100)
    assert "only 150 such cells" in growing.check_growing(4, 40, 6, 16, 300, 50, 100)
    assert growing.check_growing(2, 10, 6, 16, 300, 50, 100) is None


def test_candidates_picks_and_round_row_by_hand():
    gt = pd.Series({"a": 80.0, "b": 85.0, "c": 90.0, "d": 70.0, "e": 95.0, "f": 60.0})
    keys = growing.candidates(gt, landmarks=["a", "b"], pool=["c"])
    assert keys == ["d", "e", "f"]  # neither landmark nor pool
    assert growing.pick(keys, [0.1, 0.7, 0.7], 2, "top", None) == ["e", "f"]  # ties: the earlier key
    rng = np.random.default_rng(0)
    picked = growing.pick(keys, None, 2, "random", rng)
    assert len(set(picked)) == 2 and set(picked) <= set(keys)
    new, row = growing.grow_round(gt, ["a", "b"], ["e", "d"], epoch=8, round_index=1, n_candidates=3)
    assert new == ["d", "a", "b", "e"]  # GT-ascending
    # percentiles among all 6 cells: e has 5 below (100 %), d has 1 below (20 %)
    assert row["added_percentile_best"] == 100.0 and row["added_percentile_mean"] == pytest.approx(60.0)
    assert row["added_gt_mean"] == 82.5 and row["landmarks"] == 4 and row["added"] == "e d"


GROW = ["train.epochs=4", "train.warmup_epochs=1", "eval.every=2", "landmarks.m=4", "eval.pool_size=10",
        "landmarks.grow_rounds=2", "landmarks.grow_k=3"]


@pytest.mark.slow
def test_run_grows_its_landmarks_and_resumes(tmp_path):
    cfg = load_config("quick", GROW)
    killed, whole = interrupted_and_whole(cfg, tmp_path, after_epoch=1)  # stops right after round 1
    rec = whole
    grow = rec["tables"]["grow"]
    assert list(grow["epoch"]) == [1.0, 2.0] and list(grow["landmarks"]) == [7.0, 10.0]
    assert grow["pool_kendall_tau"].between(-1, 1).all() and grow["added_percentile_best"].between(0, 100).all()
    lms = rec["tables"]["landmarks"]
    assert len(lms) == 10 and list(lms["gt"]) == sorted(lms["gt"])
    added = " ".join(grow["added"]).split()
    assert set(added) <= set(lms["arch"]) and not set(lms["arch"]) & set(rec["tables"]["pool"]["arch"])
    for name in ("grow", "landmarks", "pool", "evals"):
        pd.testing.assert_frame_equal(killed["tables"][name], rec["tables"][name])
    # the baseline arm of the same setting ignores growing
    base = read_record(run(load_config("quick", [*GROW, "use_landmarks=false"]), tmp_path / "b"))
    assert "grow" not in base["tables"] and len(base["tables"]["landmarks"]) == 4


def test_growing_that_cannot_fit_is_refused_before_training(tmp_path):
    cfg = load_config("quick", [*GROW[:-2], "landmarks.grow_rounds=2", "landmarks.grow_k=500"])
    with pytest.raises(ConfigError, match="such cells"):
        run(cfg, tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="grow_select"):
        load_config("quick", ["landmarks.grow_select=best"])
