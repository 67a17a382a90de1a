"""Wall time of a landmark-regularised SPOS epoch against a plain SPOS epoch.

Two super-nets with the same initial weights (the micro run's: C=8, N=1, BN
with batch statistics, channels_last on the CPU) are trained by
algorithms.spos.SPOS.train_epoch on the micro task (batch 128, the
TrainConfig defaults): one without a regulariser, one with a
LandmarkRegularizer (LandmarkConfig defaults: m=50 landmarks drawn with
nb201.sample, the official pair sampler, hinge, cosine increase) whose
warmup_epochs=0, so its coefficient is already positive at epoch 0. Every
timed call is train_epoch(0): same learning rate and coefficient each time.

A regularised step does one cross-entropy forward/backward on the training
batch plus two landmark forwards on a held-out batch, and their backward
unless the hinge is zero on the pair (then the trainer skips it: its gradient
is exactly zero). The paper's design, every backward run, costs about 3x a
plain step; how much the skip saves depends on how often the super-net
already orders the pair, so fresh weights (about half the pairs violated)
understate it. --from RUN_DIR starts both super-nets from a finished run's
weights and uses that run's landmarks, the state late in a regularised run.

A third trainer, "every backward", runs every landmark backward as the
official loop does, so the skip's saving is measured in the same run. The
repeats rotate which trainer goes first; the table shows medians and the
ratios of medians to plain. --steps (or --quick) truncates the
train split to that many batches, so an "epoch" is then a fraction of one.

    python benchmarks/regularised_epoch.py [--from RUN_DIR] [--every K] [--landmark-batch B]
                                           [--steps N] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import torch  # noqa: E402

import _common  # noqa: E402
from lmreg.algorithms.landmark_reg import LandmarkConfig, LandmarkRegularizer  # noqa: E402
from lmreg.algorithms.base import TrainConfig as SPOSConfig  # noqa: E402
from lmreg.algorithms.spos import SPOS  # noqa: E402
from lmreg.spaces.nb201_space import SPACE  # noqa: E402
from lmreg.bench.datasets.tasks import Task, get_spec, load_arrays  # noqa: E402
from lmreg.experiments.runconfig import NetSpec  # noqa: E402
from lmreg.results.records import read_record  # noqa: E402
from lmreg.spaces import nb201  # noqa: E402
from lmreg.spaces.nb201_net import NB201Net, NetConfig  # noqa: E402


class EveryBackward(LandmarkRegularizer):
    """The official loop: the landmark backward runs on every step, also where the hinge is flat."""

    def penalty(self, *args, **kwargs):
        loss, info = super().penalty(*args, **kwargs)
        return loss, {**info, "zero_gradient": False}


def truncated_task(spec, arrays, n_train: int, device) -> Task:
    arrays = dict(arrays)
    arrays["train_x"], arrays["train_y"] = arrays["train_x"][:n_train], arrays["train_y"][:n_train]
    return Task(spec, arrays, device)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="micro-fmnist")
    ap.add_argument("--steps", type=int, default=None,
                    help="training batches per timed epoch (default: the whole train split, "
                         "78 on the micro task; 4 with --quick)")
    ap.add_argument("--landmarks", type=int, default=50, help="m, landmarks drawn with nb201.sample (with --from: the run's)")
    ap.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per trainer first")
    ap.add_argument("--every", type=int, default=1, help="landmarks.every: a landmark pair every k-th step")
    ap.add_argument("--landmark-batch", type=int, default=0,
                    help="landmarks.batch_size: held-out images per landmark batch (0: the training batch)")
    ap.add_argument("--from", dest="start", metavar="RUN_DIR", default=None,
                    help="a finished NB201 run (supernet.pt, record.h5) of the same net: both super-nets "
                         "start from its weights and the regulariser uses its landmarks")
    _common.add_common_args(ap, repeats=5)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    spos = SPOSConfig(warmup_epochs=0)
    record = None
    if args.start:
        start = Path(args.start)
        missing = [n for n in ("supernet.pt", "record.h5") if not (start / n).is_file()]
        if missing:
            raise SystemExit(f"--from {start}: not a finished run (no {' or '.join(missing)})")
        record = read_record(start / "record.h5")
        if record["attrs"]["config"]["space"] != "nb201":
            raise SystemExit(f"--from {start}: an {record['attrs']['config']['space']} run; this benchmark times NB201")
    net = NetSpec(**record["attrs"]["config"]["net"]) if record else NetSpec()

    spec = get_spec(args.task)
    arrays = load_arrays(spec)
    n_full = len(arrays["train_y"]) // spos.batch_size
    steps = args.steps or (4 if args.quick else n_full)
    if not 1 <= steps <= n_full:
        raise SystemExit(f"--steps must be in 1..{n_full} for {args.task}")
    task = truncated_task(spec, arrays, steps * spos.batch_size, device)
    warm_task = truncated_task(spec, arrays, args.warmup_steps * spos.batch_size, device)

    cfg = NetConfig(C=net.C, N=net.N, in_channels=spec.in_channels, num_classes=spec.num_classes,
                    bn_affine=net.bn_affine, bn_track_running_stats=net.bn_track_running_stats, cell=net.cell)
    initial = NB201Net(cfg)
    if record:
        initial.load_state_dict(torch.load(start / "supernet.pt", map_location="cpu"))

    def model():  # each trainer gets its own copy of the same weights
        copy = NB201Net(cfg)
        copy.load_state_dict(initial.state_dict())
        return _common.prepare_model(copy, device)

    if record:  # the run's landmarks, GT-ascending as the regulariser expects
        table = record["tables"]["landmarks"].sort_values("gt", kind="stable")
        landmarks = [SPACE.parse(a) for a in table["arch"]]
    else:
        landmarks = nb201.sample(args.landmarks, args.seed)
    lm_cfg = LandmarkConfig(m=len(landmarks), every=args.every, batch_size=args.landmark_batch)

    kinds = {"plain": None, "regularised": LandmarkRegularizer, "every backward": EveryBackward}
    models = {name: model() for name in kinds}

    def trainer(name, on_task, seed):
        reg = kinds[name] and kinds[name](lm_cfg, landmarks, warmup_epochs=spos.warmup_epochs, epochs=spos.epochs)
        return SPOS(models[name], on_task, spos, seed, SPACE, reg)

    trainers = {name: trainer(name, task, args.seed) for name in kinds}
    coef = trainers["regularised"].reg.coefficient(0)
    assert coef > 0, "the landmark coefficient must be positive at epoch 0"

    _common.header("regularised vs plain SPOS epoch", args, device,
                   f"task {args.task}, C={cfg.C} N={cfg.N} {cfg.cell} cells, batch {spos.batch_size}, {steps} steps per "
                   f"epoch{'' if steps == n_full else f' (of {n_full})'}, m={lm_cfg.m} landmarks, "
                   f"pair sampler {lm_cfg.pair_sampler}, every {lm_cfg.every} step(s), landmark batch "
                   f"{lm_cfg.batch_size or spos.batch_size}, coefficient {coef:.4f} at epoch 0"
                   f"{', weights and landmarks of ' + Path(args.start).name if args.start else ', fresh weights'}")
    if args.warmup_steps > 0:  # caches, allocator, landmark paths; the timed trainers start fresh
        for name in kinds:
            trainer(name, warm_task, args.seed + 100).train_epoch(0)

    wall = {name: [] for name in kinds}
    inner = {name: [] for name in kinds}
    violated = []  # share of landmark steps whose pair the hinge acts on (the others skip their backward)
    names = list(kinds)
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each goes first in turn
            out = {}
            wall[name].append(_common.timed(lambda: out.update(trainers[name].train_epoch(0)), device))
            inner[name].append(out["epoch_time"])
            if name != "plain" and not out["landmark_loss"] >= 0:
                raise RuntimeError(f"{name} epoch returned landmark loss {out['landmark_loss']}")
            if name == "regularised":
                violated.append(out["violated_fraction"])

    rows = []
    for name in kinds:
        m = _common.median(wall[name])
        rows.append([name, m, 1000 * m / steps, _common.median(inner[name]), min(wall[name]), max(wall[name])])
    print()
    _common.table(["epoch", "median s", "ms/step", "median epoch_time s", "min s", "max s"], rows)
    plain = _common.median(wall["plain"])
    ratio = _common.ratio(_common.median(wall["regularised"]), plain)
    official = _common.ratio(_common.median(wall["every backward"]), plain)
    print()
    print(f"ratio of medians to plain: regularised {ratio:.2f}, every backward {official:.2f} (the paper's design: "
          f"about 3; each landmark forward/backward costs {(official - 1) * lm_cfg.every / 2:.2f} plain steps)")
    print(f"violated pairs (their backward runs): median {_common.median(violated):.2f} of the landmark steps"
          f"{'' if args.start else ' (fresh weights: --from RUN_DIR for a trained super-net)'}")
    print(f"SUMMARY regularised_epoch: plain {plain:.2f} s, regularised {_common.median(wall['regularised']):.2f} s, "
          f"every backward {_common.median(wall['every backward']):.2f} s per epoch of {steps} steps, ratios "
          f"{ratio:.2f} and {official:.2f} (every {lm_cfg.every}, landmark batch {lm_cfg.batch_size or spos.batch_size}, "
          f"violated {_common.median(violated):.2f}{', from ' + Path(args.start).name if args.start else ''}), "
          f"{args.repeats} repeats, {device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
