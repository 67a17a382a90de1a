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
batch plus two landmark forward/backwards on a held-out batch, so the paper's
design costs about 3x a plain step.

The repeats alternate which trainer goes first; the table shows medians and
the ratio of medians regularised / plain. --steps (or --quick) truncates the
train split to that many batches, so an "epoch" is then a fraction of one.

    python benchmarks/regularised_epoch.py [--steps N] [--repeats 5] [--quick]
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
from lmreg.spaces import nb201  # noqa: E402
from lmreg.spaces.nb201_net import NB201Net, NetConfig  # noqa: E402


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
    ap.add_argument("--landmarks", type=int, default=50, help="m, landmarks drawn with nb201.sample")
    ap.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per trainer first")
    ap.add_argument("--every", type=int, default=1, help="landmarks.every: a landmark pair every k-th step")
    ap.add_argument("--landmark-batch", type=int, default=0,
                    help="landmarks.batch_size: held-out images per landmark batch (0: the training batch)")
    _common.add_common_args(ap, repeats=5)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    spos = SPOSConfig(warmup_epochs=0)
    net = NetSpec()

    spec = get_spec(args.task)
    arrays = load_arrays(spec)
    n_full = len(arrays["train_y"]) // spos.batch_size
    steps = args.steps or (4 if args.quick else n_full)
    if not 1 <= steps <= n_full:
        raise SystemExit(f"--steps must be in 1..{n_full} for {args.task}")
    task = truncated_task(spec, arrays, steps * spos.batch_size, device)
    warm_task = truncated_task(spec, arrays, args.warmup_steps * spos.batch_size, device)

    cfg = NetConfig(C=net.C, N=net.N, in_channels=spec.in_channels, num_classes=spec.num_classes,
                    bn_affine=net.bn_affine, bn_track_running_stats=net.bn_track_running_stats)
    plain_model = NB201Net(cfg)
    reg_model = NB201Net(cfg)
    reg_model.load_state_dict(plain_model.state_dict())
    plain_model = _common.prepare_model(plain_model, device)
    reg_model = _common.prepare_model(reg_model, device)

    lm_cfg = LandmarkConfig(m=args.landmarks, every=args.every, batch_size=args.landmark_batch)
    landmarks = nb201.sample(lm_cfg.m, args.seed)

    def regularizer():
        return LandmarkRegularizer(lm_cfg, landmarks, warmup_epochs=spos.warmup_epochs, epochs=spos.epochs)

    reg = regularizer()
    coef = reg.coefficient(0)
    assert coef > 0, "the landmark coefficient must be positive at epoch 0"
    plain = SPOS(plain_model, task, spos, args.seed, SPACE, None)
    regularised = SPOS(reg_model, task, spos, args.seed, SPACE, reg)

    _common.header("regularised vs plain SPOS epoch", args, device,
                   f"task {args.task}, C={cfg.C} N={cfg.N}, batch {spos.batch_size}, {steps} steps per "
                   f"epoch{'' if steps == n_full else f' (of {n_full})'}, m={lm_cfg.m} landmarks, "
                   f"pair sampler {lm_cfg.pair_sampler}, every {lm_cfg.every} step(s), landmark batch "
                   f"{lm_cfg.batch_size or spos.batch_size}, coefficient {coef:.4f} at epoch 0")
    if args.warmup_steps > 0:  # caches, allocator, landmark paths; the timed trainers start fresh
        SPOS(plain_model, warm_task, spos, args.seed + 100, SPACE, None).train_epoch(0)
        SPOS(reg_model, warm_task, spos, args.seed + 100, SPACE, regularizer()).train_epoch(0)

    wall = {"plain": [], "regularised": []}
    inner = {"plain": [], "regularised": []}
    for r in range(args.repeats):
        runs = [("plain", plain), ("regularised", regularised)]
        if r % 2:
            runs.reverse()
        for name, trainer in runs:
            out = {}
            wall[name].append(_common.timed(lambda: out.update(trainer.train_epoch(0)), device))
            inner[name].append(out["epoch_time"])
            if name == "regularised" and not out["landmark_loss"] >= 0:
                raise RuntimeError(f"regularised epoch returned landmark loss {out['landmark_loss']}")

    rows = []
    for name in ("plain", "regularised"):
        m = _common.median(wall[name])
        rows.append([name, m, 1000 * m / steps, _common.median(inner[name]), min(wall[name]), max(wall[name])])
    print()
    _common.table(["epoch", "median s", "ms/step", "median epoch_time s", "min s", "max s"], rows)
    ratio = _common.ratio(_common.median(wall["regularised"]), _common.median(wall["plain"]))
    print()
    print(f"ratio of medians regularised/plain: {ratio:.2f} (the paper's design: about 3; "
          f"each landmark forward/backward costs {(ratio - 1) * lm_cfg.every / 2:.2f} plain steps)")
    print(f"SUMMARY regularised_epoch: plain {_common.median(wall['plain']):.2f} s, regularised "
          f"{_common.median(wall['regularised']):.2f} s per epoch of {steps} steps, ratio {ratio:.2f} "
          f"(every {lm_cfg.every}, landmark batch {lm_cfg.batch_size or spos.batch_size}), {args.repeats} repeats, "
          f"{device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
