"""Epoch cost of every super-net algorithm, plain and landmark-regularised, and the
cost of scoring one architecture on each algorithm's super-net.

For each algorithm's micro preset (micro, micro-fairnas, micro-gdas, micro-pcdarts:
the same task, width and batch; only the algorithm and its cell type differ) two
trainers start from the same weights, one without and one with the landmark
regulariser (m=50 landmarks of the micro GT, coefficient positive from epoch 0).
Timed phases:
  spos, fairnas   their one kind of step;
  gdas, pcdarts   "relaxed" (the Gumbel / softmax mixture forward, alpha frozen)
                  and "search" (the same plus one alpha step on a held-out batch).
Every ratio is against the plain SPOS epoch of the same repeat set. Scoring: the
micro run's scoring (2000 images, batch 256, BN batch statistics) of 10 architectures.

The repeats alternate the order of the timed cells; medians are shown. --steps
truncates the train split so an "epoch" is that many batches.

    python benchmarks/algorithm_epochs.py [--steps 20] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse

import torch

import _common
from lmreg.algorithms.base import get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.algorithms.scoring import score
from lmreg.bench.datasets.tasks import Task, load_arrays
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb201
from lmreg.spaces.base import get_space

PRESETS = {"spos": "micro", "fairnas": "micro-fairnas", "gdas": "micro-gdas", "pcdarts": "micro-pcdarts"}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="training batches per timed epoch (default 20; 3 with --quick)")
    ap.add_argument("--algorithms", default=",".join(PRESETS), help="comma-separated subset of " + ",".join(PRESETS))
    _common.add_common_args(ap, repeats=3)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    steps = args.steps or (3 if args.quick else 20)
    algorithms = args.algorithms.split(",")
    bad = [a for a in algorithms if a not in PRESETS]
    if bad:
        raise SystemExit(f"unknown algorithm(s) {', '.join(bad)}; valid: {', '.join(PRESETS)}")
    if "spos" not in algorithms:
        algorithms.insert(0, "spos")  # the reference of every ratio

    cells, archs = {}, nb201.sample(10, args.seed + 1)
    task = None
    for name in algorithms:
        cfg = load_config(PRESETS[name], ["train.warmup_epochs=0", "train.epochs=2"]
                          + (["algo.search_epochs=1"] if name in ("gdas", "pcdarts") else []))
        if task is None:
            from lmreg.bench.datasets.tasks import get_spec
            spec = get_spec(cfg.task)
            arrays = dict(load_arrays(spec))
            arrays["train_x"] = arrays["train_x"][: steps * cfg.train.batch_size]
            arrays["train_y"] = arrays["train_y"][: steps * cfg.train.batch_size]
            task = Task(spec, arrays, device)
        space = get_space(cfg.space)
        torch.manual_seed(args.seed)
        plain_model = _common.prepare_model(
            space.build_supernet(cfg.net, spec.in_channels, spec.num_classes), device)
        reg_model = _common.prepare_model(
            space.build_supernet(cfg.net, spec.in_channels, spec.num_classes), device)
        reg_model.load_state_dict(plain_model.state_dict())
        landmarks = nb201.sample(cfg.landmarks.m, args.seed)
        reg = LandmarkRegularizer(cfg.landmarks, landmarks, warmup_epochs=0, epochs=cfg.train.epochs)
        trainer_type = get_algorithm(name)
        trainers = {"plain": trainer_type(plain_model, task, cfg.train, args.seed, space, None, cfg.algo),
                    "regularised": trainer_type(reg_model, task, cfg.train, args.seed, space, reg, cfg.algo)}
        phases = {"step": 0} if name in ("spos", "fairnas") else {"relaxed": 0, "search": 1}
        for phase, epoch in phases.items():
            for variant, trainer in trainers.items():
                cells[(name, phase, variant)] = (trainer, epoch)
        cells[(name, "score", "")] = (plain_model, None)

    _common.header("super-net epoch cost by algorithm", args, device,
                   f"micro presets, {steps} steps of batch 128 per timed epoch, m=50 landmarks, "
                   f"scoring 10 architectures on 2000 images")
    for trainer, epoch in (v for k, v in cells.items() if k[1] != "score"):
        trainer.train_epoch(epoch)  # untimed: caches, allocator, first-touch of every op
    times = {k: [] for k in cells}
    order = list(cells)
    for r in range(args.repeats):
        for key in (order if r % 2 == 0 else order[::-1]):
            obj, epoch = cells[key]
            if key[1] == "score":
                times[key].append(_common.timed(lambda: score(obj, archs, task, "test", n=2000, batch_size=256),
                                                device) / len(archs))
            else:
                times[key].append(_common.timed(lambda: obj.train_epoch(epoch), device))

    ref = _common.median(times[("spos", "step", "plain")])
    rows = []
    for key in order:
        m = _common.median(times[key])
        name, phase, variant = key
        if phase == "score":
            rows.append([name, "score / arch", "", m, _common.ratio(m, _common.median(times[("spos", "score", "")]))])
        else:
            rows.append([name, phase, variant, m, _common.ratio(m, ref)])
    print()
    _common.table(["algorithm", "phase", "variant", "median s", "x SPOS plain (score: x SPOS score)"], rows)
    summary = ", ".join(f"{k[0]} {k[1]} {k[2]} {_common.ratio(_common.median(v), ref):.2f}"
                        for k, v in times.items() if k[1] != "score" and k != ("spos", "step", "plain"))
    print(f"SUMMARY algorithm_epochs: SPOS plain epoch of {steps} steps {ref:.2f} s; ratios: {summary}; "
          f"{args.repeats} repeats, {device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
