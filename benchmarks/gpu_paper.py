"""Paper-size super-net throughput on synthetic data in the CIFAR-10 layout, and the
estimated wall time of each paper-scale run.

Data: uint8 images of 3x32x32 on the device (25,000 train, 25,000 held out, 10,000
test: the official 50/50 split of CIFAR-10's 50,000), the cifar10 task's crop and
flip augmentation. Networks: each paper preset's super-net (nb201-cifar10*: C=16
or 36, N=5). Batch 256. Every figure is the median of --repeats timed epochs of
--steps steps, after one untimed epoch.

Measured, for SPOS (the paper's setting):
  data        forming and augmenting the batches alone (share of a plain step)
  plain       super-net steps, images/s
  regularised steps with the landmark loss (one pair: two landmark forward/backwards)
  channels_last and bf16 autocast: the plain and regularised steps again with each
  host syncs  synchronising CUDA calls during one plain and one regularised epoch
              (torch.cuda.set_sync_debug_mode("warn"); the per-epoch .item() calls
              give a few; a count near the step count means one per step)
then one plain and one regularised epoch of FairNAS, GDAS (search phase) and
PC-DARTS (search phase), the scoring cost per architecture (10,000 test images),
and from all of these the estimated hours of every paper preset's run. The
figures are written as JSON to --json (default benchmarks/measured/gpu_paper.json),
which `lmreg reproduce --scale paper --dry-run` reads for its GPU-hour estimates.

    python benchmarks/gpu_paper.py [--device cuda] [--steps 30] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path

import numpy as np
import torch

import _common
from lmreg.algorithms.base import get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.algorithms.scoring import score
from lmreg.bench.datasets.tasks import Task, get_spec
from lmreg.core.devices import count_host_syncs
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb201
from lmreg.spaces.base import get_space

HERE = Path(__file__).resolve().parent
PRESETS = {"spos": "nb201-cifar10", "fairnas": "nb201-cifar10-fairnas", "gdas": "nb201-cifar10-gdas",
           "pcdarts": "nb201-cifar10-pcdarts"}
TRAIN_IMAGES = 25_000  # the official train half of CIFAR-10's 50,000


def synthetic_task(device, n_train: int, n_valid: int, n_test: int, seed: int) -> Task:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        arrays[f"{split}_x"] = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        arrays[f"{split}_y"] = rng.integers(0, 10, n).astype(np.int64)
    return Task(get_spec("cifar10"), arrays, device)


def trainer_for(name: str, task: Task, device, regularised: bool, channels_last: bool, seed: int, net_override=None):
    cfg = load_config(PRESETS[name], ["train.warmup_epochs=0", "train.epochs=2", f"device={device.type}"]
                      + (["algo.search_epochs=1"] if name in ("gdas", "pcdarts") else []))
    space = get_space(cfg.space)
    torch.manual_seed(seed)
    model = space.build_supernet(net_override or cfg.net, task.spec.in_channels, task.spec.num_classes).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    reg = None
    if regularised:
        reg = LandmarkRegularizer(cfg.landmarks, nb201.sample(cfg.landmarks.m, seed), warmup_epochs=0,
                                  epochs=cfg.train.epochs)
    train = cfg.train
    epoch = 1 if name in ("gdas", "pcdarts") else 0  # differentiable: a search-phase epoch
    return get_algorithm(name)(model, task, train, seed, space, reg, cfg.algo), epoch, cfg


def timed_epochs(trainer, epoch: int, device, repeats: int, autocast: bool) -> float:
    ctx = (torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext())
    with ctx:
        trainer.train_epoch(epoch)  # untimed: allocator, cuDNN autotuning
        return _common.median([_common.timed(lambda: trainer.train_epoch(epoch), device) for _ in range(repeats)])


def count_syncs(trainer, epoch: int, device) -> int | None:
    return count_host_syncs(lambda: trainer.train_epoch(epoch)) if device.type == "cuda" else None


def paper_hours(cfg, step_s: dict, score_s: float) -> float:
    """Hours of one run of a paper preset from measured per-step times (plain, regularised)."""
    steps = math.ceil(TRAIN_IMAGES / cfg.train.batch_size)
    epochs, warm = cfg.train.epochs, cfg.train.warmup_epochs
    reg_epochs = epochs - warm if cfg.use_landmarks else 0
    n_evals = sum(1 for e in range(epochs) if (e + 1) % cfg.eval.every == 0 or e == epochs - 1)
    scorings = n_evals * cfg.eval.pool_size + cfg.landmarks.m
    seconds = steps * (step_s["plain"] * (epochs - reg_epochs) + step_s["regularised"] * reg_epochs)
    return (seconds + scorings * score_s * (cfg.eval.n_images or 10_000) / 10_000) / 3600


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="steps per timed epoch (default 30; 2 with --quick)")
    ap.add_argument("--algorithms", default=",".join(PRESETS))
    ap.add_argument("--json", default=str(HERE / "measured" / "gpu_paper.json"),
                    help="where to write the figures (default benchmarks/measured/gpu_paper.json)")
    _common.add_common_args(ap, repeats=3, quick_repeats=1)
    ap.set_defaults(device="cuda")
    args = ap.parse_args(argv)
    device = _common.setup(args)
    steps = args.steps or (2 if args.quick else 30)
    batch = 256
    names = [a for a in args.algorithms.split(",") if a]
    bad = [a for a in names if a not in PRESETS]
    if bad:
        raise SystemExit(f"unknown algorithm(s) {', '.join(bad)}; valid: {', '.join(PRESETS)}")
    net_override = None
    if args.quick:  # a smoke run on any device: a tiny net
        from lmreg.spaces.base import NetSpec
        net_override = NetSpec(C=8, N=1)
    task = synthetic_task(device, steps * batch, 2 * batch, 2_000 if args.quick else 10_000, args.seed)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({args.threads} threads)"
    _common.header("paper-size super-net throughput (synthetic CIFAR-10 layout)", args, device,
                   f"{card}; batch {batch}, {steps} steps per timed epoch, C/N of each paper preset"
                   + (" (QUICK: C=8, N=1)" if args.quick else ""))

    out = {"device": card, "torch": torch.__version__, "steps": steps, "batch": batch, "quick": args.quick,
           "repeats": args.repeats, "per_step_s": {}, "syncs_per_epoch": {}}
    gen = torch.Generator().manual_seed(args.seed)

    def data_epoch():
        for x, y in task.batches("train", batch, gen, shuffle=True, train_augment=True):
            pass
    data_epoch()
    data_s = _common.median([_common.timed(data_epoch, device) for _ in range(args.repeats)]) / steps
    rows = []
    for name in ["spos"] + [n for n in names if n != "spos"]:
        variants = [("plain", False, False, False), ("regularised", True, False, False)]
        if name == "spos":
            variants += [("plain channels_last", False, True, False), ("regularised channels_last", True, True, False),
                         ("plain bf16", False, False, True), ("regularised bf16", True, False, True)]
        for label, regularised, cl, amp in variants:
            trainer, epoch, cfg = trainer_for(name, task, device, regularised, cl, args.seed, net_override)
            per_step = timed_epochs(trainer, epoch, device, args.repeats, amp) / steps
            out["per_step_s"][f"{name} {label}"] = per_step
            syncs = count_syncs(trainer, epoch, device) if label in ("plain", "regularised") else None
            if syncs is not None:
                out["syncs_per_epoch"][f"{name} {label}"] = syncs
            rows.append([name, label, 1000 * per_step, batch / per_step, "" if syncs is None else syncs])
    model = trainer_for("spos", task, device, False, False, args.seed, net_override)[0].model
    archs = nb201.sample(10, args.seed + 1)
    score(model, archs[:1], task, "test", batch_size=256)  # warm
    score_s = _common.timed(lambda: score(model, archs, task, "test", batch_size=256), device) / len(archs)
    out["score_s_per_arch_10k"] = score_s * 10_000 / task.size("test")
    out["data_s_per_step"] = data_s

    print()
    _common.table(["algorithm", "variant", "ms/step", "images/s", "syncs in one epoch"], rows)
    p = out["per_step_s"]
    ratio = p["spos regularised"] / p["spos plain"]
    print(f"\ndata (batching + augmentation) {1000 * data_s:.2f} ms/step = {100 * data_s / p['spos plain']:.1f} % "
          f"of a plain SPOS step; regularised / plain {ratio:.2f}; scoring {out['score_s_per_arch_10k']:.2f} s "
          f"per architecture on 10,000 images")
    for k in ("channels_last", "bf16"):
        print(f"{k}: plain x{p['spos plain'] / p[f'spos plain {k}']:.2f}, regularised "
              f"x{p['spos regularised'] / p[f'spos regularised {k}']:.2f} (speed-up; > 1 is faster)")
    hours = {}
    for name in names:
        steps_s = {"plain": p[f"{name} plain"], "regularised": p[f"{name} regularised"]}
        hours[PRESETS[name]] = {v: paper_hours(load_config(PRESETS[name], [f"use_landmarks={v == 'landmarks'}"]),
                                                steps_s, out["score_s_per_arch_10k"])
                                for v in ("baseline", "landmarks")}
        print(f"estimated {PRESETS[name]}: baseline {hours[PRESETS[name]]['baseline']:.1f} h, landmarks "
              f"{hours[PRESETS[name]]['landmarks']:.1f} h per run (search-phase step times for every "
              f"epoch of GDAS/PC-DARTS: an upper bound)" if name in ("gdas", "pcdarts") else
              f"estimated {PRESETS[name]}: baseline {hours[PRESETS[name]]['baseline']:.1f} h, landmarks "
              f"{hours[PRESETS[name]]['landmarks']:.1f} h per run")
    out["paper_run_hours"] = hours
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"SUMMARY gpu_paper: {card}, SPOS plain {batch / p['spos plain']:.0f} img/s, regularised "
          f"{batch / p['spos regularised']:.0f} img/s (x{ratio:.2f}), data {100 * data_s / p['spos plain']:.1f} % of "
          f"a plain step, paper SPOS run {hours.get('nb201-cifar10', {}).get('landmarks', float('nan')):.1f} h; "
          f"written {path}")


if __name__ == "__main__":
    main()
