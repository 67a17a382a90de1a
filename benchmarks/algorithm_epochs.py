"""Epoch cost of every super-net algorithm, plain and landmark-regularised, and the
cost of scoring one architecture on each algorithm's super-net.

For each algorithm's micro preset (micro, micro-fairnas, micro-gdas, micro-pcdarts, micro-nao:
the same task, width and batch; only the algorithm and its cell type differ) two
trainers start from the same weights, one without and one with the landmark
regulariser (m=50 landmarks of the micro GT, coefficient positive from epoch 0).
Timed phases:
  spos, fairnas   their one kind of step;
  gdas, pcdarts   "relaxed" (the Gumbel / softmax mixture forward, alpha frozen)
                  and "search" (the same plus one alpha step on a held-out batch).
  gdas, pcdarts   also "warmup" (one uniformly drawn path per step, no landmarks:
                  the coefficient is zero before the warm-up ends).
  nao             its step (one path from the child-architecture pool) and, apart, one
                  controller round (score the pool, train the controller, generate),
                  the round in plain SPOS epochs (`round` in the factors file).
Every ratio is against the plain SPOS epoch of the same repeat set. Scoring: the
micro run's scoring (2000 images, batch 256, BN batch statistics) of 10 architectures.
--spaces also times a plain SPOS epoch and a scoring on each search space's micro preset
(nb201: micro, nb101: micro-nb101, darts-nds: micro-darts; their networks differ in size),
against NB201's: the space factors the estimate scales a run's training and scoring by.

The repeats alternate the order of the timed cells; medians are shown (--stat min: the
fastest repeat of each cell, the least disturbed on a shared machine). --steps
truncates the train split so an "epoch" is that many batches. --json writes the
factors `lmreg reproduce --dry-run` estimates with (experiments/measured/cpu_epochs.json
is the committed copy; a --quick run is marked as such and never read by the estimate);
with --algorithms, the file keeps the other algorithms' factors, so on a busy machine
each algorithm can be timed beside SPOS in a short run of its own.

    python benchmarks/algorithm_epochs.py [--steps 20] [--repeats 3] [--stat median|min] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
from pathlib import Path

import torch

import _common
from lmreg.algorithms.base import get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkRegularizer
from lmreg.algorithms.scoring import score
from lmreg.bench.datasets.tasks import Task, load_arrays
from lmreg.experiments.runconfig import load_config
from lmreg.spaces import nb201
from lmreg.spaces.base import get_space

PRESETS = {"spos": "micro", "fairnas": "micro-fairnas", "gdas": "micro-gdas", "pcdarts": "micro-pcdarts",
           "nao": "micro-nao"}
SPACE_PRESETS = {"nb201": "micro", "nb101": "micro-nb101", "darts-nds": "micro-darts"}
SPACE = "space:"  # prefix of the space cells' names among the algorithms'


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="training batches per timed epoch (default 20; 3 with --quick)")
    ap.add_argument("--algorithms", default=",".join(PRESETS), help="comma-separated subset of " + ",".join(PRESETS))
    ap.add_argument("--spaces", default=",".join(SPACE_PRESETS),
                    help="comma-separated search spaces to time SPOS on, against NB201 (default: "
                         + ",".join(SPACE_PRESETS) + "; '' for none)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="per timed cell over the repeats: median (default), or min, the least disturbed "
                         "repeat, for a machine shared with other work")
    ap.add_argument("--json", default=None,
                    help="write the measured factors here (the committed copy: experiments/measured/cpu_epochs.json)")
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
    spaces = [sp for sp in args.spaces.split(",") if sp and sp != "nb201"]  # nb201 is SPOS's own cells
    bad = [sp for sp in spaces if sp not in SPACE_PRESETS]
    if bad:
        raise SystemExit(f"unknown space(s) {', '.join(bad)}; valid: {', '.join(SPACE_PRESETS)}")

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
        # NAO: epoch 1 draws from the pool and holds no controller round (the round is timed apart)
        phases = ({"step": 0} if name in ("spos", "fairnas") else {"step": 1} if name == "nao"
                  else {"relaxed": 0, "search": 1})
        for phase, epoch in phases.items():
            for variant, trainer in trainers.items():
                cells[(name, phase, variant)] = (trainer, epoch)
        if len(phases) > 1:  # a warm-up epoch: epoch 0 of a run whose warm-up is one epoch long
            warm_model = _common.prepare_model(
                space.build_supernet(cfg.net, spec.in_channels, spec.num_classes), device)
            warm_model.load_state_dict(plain_model.state_dict())
            warm_cfg = dataclasses.replace(cfg.train, warmup_epochs=1, epochs=3)
            cells[(name, "warmup", "plain")] = (trainer_type(warm_model, task, warm_cfg, args.seed, space, None,
                                                             cfg.algo), 0)
        if name == "nao":  # one controller round: score the pool, train the controller, generate
            cells[(name, "round", "")] = (trainers["plain"], None)
        cells[(name, "score", "")] = (plain_model, archs)
    for sp in spaces:  # SPOS on another space's micro network: no GT needed, paths from the space
        cfg = load_config(SPACE_PRESETS[sp], ["train.warmup_epochs=0", "train.epochs=2", "train.path_sampler=space"])
        space = get_space(cfg.space)
        torch.manual_seed(args.seed)
        model = _common.prepare_model(space.build_supernet(cfg.net, spec.in_channels, spec.num_classes), device)
        cells[(SPACE + sp, "step", "plain")] = (get_algorithm("spos")(model, task, cfg.train, args.seed, space), 0)
        cells[(SPACE + sp, "score", "")] = (model, space.sample(10, args.seed + 1))

    _common.header("super-net epoch cost by algorithm", args, device,
                   f"micro presets, {steps} steps of batch 128 per timed epoch, m=50 landmarks, "
                   f"scoring 10 architectures on 2000 images")
    for trainer, epoch in (v for k, v in cells.items() if k[1] not in ("score", "round")):
        trainer.train_epoch(epoch)  # untimed: caches, allocator, first-touch of every op
    times = {k: [] for k in cells}
    order = list(cells)
    for r in range(args.repeats):
        for key in (order if r % 2 == 0 else order[::-1]):
            obj, arg = cells[key]  # a trainer and its epoch; a super-net and the architectures it scores
            if key[1] == "round":
                times[key].append(_common.timed(lambda: obj.controller_round(1), device))
            elif key[1] == "score":
                times[key].append(_common.timed(lambda: score(obj, arg, task, "test", n=2000, batch_size=256),
                                                device) / len(arg))
            else:
                times[key].append(_common.timed(lambda: obj.train_epoch(arg), device))

    stat = _common.median if args.stat == "median" else min
    ref = stat(times[("spos", "step", "plain")])
    rows = []
    for key in order:
        m = stat(times[key])
        name, phase, variant = key
        if phase == "round":
            rows.append([name, "controller round", "", m, _common.ratio(m, ref)])
        elif phase == "score":
            rows.append([name, "score / arch", "", m, _common.ratio(m, stat(times[("spos", "score", "")]))])
        elif name.startswith(SPACE):
            rows.append([name, "SPOS plain", "", m, _common.ratio(m, ref)])
        else:
            rows.append([name, phase, variant, m, _common.ratio(m, ref)])
    print()
    _common.table(["algorithm", "phase", "variant", f"{args.stat} s", "x SPOS plain (score: x SPOS score)"], rows)
    summary = ", ".join(f"{k[0]} {k[1]} {k[2]} {_common.ratio(stat(v), ref):.2f}"
                        for k, v in times.items() if k[1] not in ("score", "round") and k != ("spos", "step", "plain"))
    print(f"SUMMARY algorithm_epochs: SPOS plain epoch of {steps} steps {ref:.2f} s; ratios: {summary}; "
          f"{args.repeats} repeats, {device}, {args.threads} thread(s)")
    if args.json:
        write_factors(Path(args.json), times, stat, steps * cfg.train.batch_size, args, device)


def write_factors(path: Path, times: dict, stat, images: int, args, device) -> None:
    """The cost model's input: per algorithm, each kind of epoch in plain SPOS epochs and its
    scoring in SPOS scorings, with when and how it was timed; the plain SPOS epoch and scoring in
    seconds per image. An existing file of the same setting keeps the algorithms this run did not
    time (each algorithm's ratios come from one run, against that run's SPOS)."""
    ref = stat(times[("spos", "step", "plain")])

    def f(name, phase, variant):
        return round(stat(times[(name, phase, variant)]) / ref, 3)
    score_ref = stat(times[("spos", "score", "")])
    when = datetime.datetime.now().isoformat(timespec="seconds")
    load = [round(x, 2) for x in os.getloadavg()]
    setting = {"format": "lmreg-cpu-epochs/1", "measured_by": "benchmarks/algorithm_epochs.py",
               "torch": torch.__version__, "device": str(device), "cpu": platform.processor() or "cpu",
               "threads": args.threads, "quick": bool(args.quick), "images_per_epoch": images,
               "weights": "fresh (about half the landmark pairs violated, where the flat-hinge skip saves least)"}
    factors = {}
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    spaces = {}
    if isinstance(old, dict) and all(old.get(k) == v for k, v in setting.items()):
        factors.update(old.get("factors", {}))
        spaces.update(old.get("space_factors", {}))
    spaces["nb201"] = {"train": 1.0, "score": 1.0}  # the reference: SPOS's own micro network
    for name in sorted({k[0] for k in times if k[0].startswith(SPACE)}):
        net = load_config(SPACE_PRESETS[name[len(SPACE):]]).net  # the network the factor holds for
        spaces[name[len(SPACE):]] = {"train": f(name, "step", "plain"),
                                     "score": round(stat(times[(name, "score", "")]) / score_ref, 3),
                                     "net": {"C": net.C, "N": net.N}}
    for name in {k[0] for k in times if not k[0].startswith(SPACE)}:
        if (name, "step", "plain") in times:
            plain, reg = f(name, "step", "plain"), f(name, "step", "regularised")
            kinds = {"warmup": plain, "plain": plain, "regularised": reg, "search": plain, "search_regularised": reg}
        else:
            kinds = {"warmup": f(name, "warmup", "plain"), "plain": f(name, "relaxed", "plain"),
                     "regularised": f(name, "relaxed", "regularised"), "search": f(name, "search", "plain"),
                     "search_regularised": f(name, "search", "regularised")}
        kinds["scoring"] = round(stat(times[(name, "score", "")]) / score_ref, 3)
        if (name, "round", "") in times:  # one controller round (NAO), in plain SPOS epochs
            kinds["round"] = f(name, "round", "")
        kinds["measured"] = {"when": when, "repeats": args.repeats, "statistic": args.stat,
                             "load_average_after": load,
                             "seconds": {" ".join(filter(None, k[1:])): [round(x, 4) for x in v]
                                         for k, v in times.items() if k[0] in (name, "spos")}}
        factors[name] = kinds
    out = {**setting, "when": when, "spos_plain_epoch_s_per_image": ref / images,
           "spos_score_s_per_arch_image": score_ref / 2000, "factors": dict(sorted(factors.items())),
           "space_factors": dict(sorted(spaces.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
