"""The redesign's promise, end to end: a space and an algorithm plug in through their
registries. NB101 (a real second space) builds a ground truth with the builder and
trains SPOS with landmarks on it; a toy algorithm defined here, outside the package,
trains through the runner with its own `algo.*` option."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from lmreg.algorithms import base as algorithms
from lmreg.algorithms.base import SuperNetTrainer
from lmreg.algorithms.standalone import StandaloneRecipe
from lmreg.core.errors import ConfigError
from lmreg.experiments.gt_build import build
from lmreg.experiments.runconfig import load_config
from lmreg.experiments.runner import run
from lmreg.results.records import read_record

SMOKE = ["task=smoke-fmnist", "train.epochs=2", "train.warmup_epochs=0", "train.batch_size=64",
         "landmarks.m=4", "eval.pool_size=10", "eval.every=1", "eval.n_images=256", "eval.batch_size=128"]


@pytest.fixture(scope="module")
def nb101_gt(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb101") / "gt.h5"
    table = build(out, task="smoke-fmnist", space="nb101", recipe=StandaloneRecipe(C=8, epochs=1, batch_size=64),
                  n_archs=16, seeds=(0,), workers=1, progress=False)
    return out, table


@pytest.mark.slow
def test_nb101_ground_truth_from_the_builder(nb101_gt):
    _, table = nb101_gt
    gt = table.per_arch("test_acc")
    assert table.space == "nb101" and len(gt) == 16 and table.meta["complete"]
    assert gt.notna().all() and gt.std() > 0          # trained, not constant
    assert table.meta["identity"]["network"] == "nb101-model-builder"


def test_bench_info_judges_a_table_by_its_own_space(nb101_gt, capsys):
    from lmreg.experiments.cli import main
    path, _ = nb101_gt
    assert main(["bench", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "networks    nb101-model-builder" in out and "older than" not in out


@pytest.mark.slow
def test_spos_with_landmarks_on_nb101(nb101_gt, tmp_path):
    path, _ = nb101_gt
    cfg = load_config("micro-nb101", [*SMOKE, f"benchmark={path}", "gt_metric=test_acc", "net.C=8"])
    rec = read_record(run(cfg, tmp_path))
    assert rec["attrs"]["config"]["space"] == "nb101"
    assert len(rec["tables"]["pool"]) == 10 and len(rec["tables"]["landmarks"]) == 4
    assert rec["tables"]["curves"]["landmark_loss"].iloc[-1] > 0  # the regulariser was active
    assert -1 <= rec["attrs"]["final_metrics"]["kendall_tau"] <= 1


def test_space_and_benchmark_must_agree(nb101_gt):
    path, _ = nb101_gt
    with pytest.raises(ConfigError, match="covers the nb201 space"):
        load_config("micro", ["space=nb101"])
    from lmreg.experiments.checks import check_runnable
    with pytest.raises(ConfigError, match="covers the nb101 space"):
        check_runnable(load_config("micro", [*SMOKE, f"benchmark={path}"]))


# A toy algorithm, registered from outside the package -----------------------------
@dataclasses.dataclass(frozen=True)
class ManyPathsOptions:
    paths_per_step: int = 2


class ManyPathsSPOS(SuperNetTrainer):
    """FairNAS-like toy: k paths per batch, their gradients summed before one step."""
    options_type = ManyPathsOptions
    calls: list = []  # (epoch, paths, loss, images) of every step, for the test to check

    def forward_backward(self, x, y, epoch):
        k = self.options.paths_per_step
        total = torch.zeros((), device=x.device)
        for _ in range(k):
            logits = self.model(x, self.space.sample_path(self.path_rng))
            loss = F.cross_entropy(logits, y) / k
            loss.backward()
            total += loss.detach()
        self.calls.append((epoch, k, total.item(), len(y)))
        return total, (logits.detach().argmax(1) == y).sum()


def test_a_toy_algorithm_plugs_in(monkeypatch, tmp_path):
    """The runner trains with the toy's forward_backward on every step of every epoch,
    with its option, and its losses are the record's training curve."""
    from lmreg.bench.datasets.tasks import get_spec, split_sizes
    monkeypatch.setattr(algorithms, "ALGORITHMS", algorithms.ALGORITHMS.copy())
    algorithms.ALGORITHMS.register("many-paths", ManyPathsSPOS)
    monkeypatch.setattr(ManyPathsSPOS, "calls", [])
    cfg = load_config("quick", [*SMOKE, "algorithm=many-paths", "algo.paths_per_step=3"])
    assert cfg.algo == ManyPathsOptions(3)
    rec = read_record(run(cfg, tmp_path))
    assert rec["attrs"]["config"]["algo"] == {"paths_per_step": 3}
    steps = -(-split_sizes(get_spec("smoke-fmnist"))["train"] // 64)
    calls = ManyPathsSPOS.calls
    assert [c[0] for c in calls] == [e for e in range(2) for _ in range(steps)] and {c[1] for c in calls} == {3}
    curves = rec["tables"]["curves"]
    for e in range(2):
        mine = [(loss, n) for epoch, _, loss, n in calls if epoch == e]
        want = sum(loss * n for loss, n in mine) / sum(n for _, n in mine)
        assert curves["train_loss"].iloc[e] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ConfigError, match="unknown config key 'algo.nope'"):
        load_config("quick", ["algorithm=many-paths", "algo.nope=1"])
    with pytest.raises(ConfigError, match="algo has no options"):
        load_config("quick", ["algo.paths_per_step=3"])  # SPOS has none
    with pytest.raises(ConfigError, match="unknown algorithm 'nope'"):
        load_config("quick", ["algorithm=nope"])


def test_widths_a_space_cannot_build_fail_before_training(tmp_path):
    from lmreg.core.errors import ConfigError as Err
    with pytest.raises(Err, match="NB101 needs net.C >= 5"):
        build(tmp_path / "gt.h5", task="smoke-fmnist", space="nb101", recipe=StandaloneRecipe(C=3), n_archs=2,
              seeds=(0,), workers=1, progress=False)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="NB101 needs net.C >= 5"):
        load_config("micro-nb101", ["net.C=4"])
