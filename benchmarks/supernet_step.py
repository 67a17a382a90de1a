"""Cost of a super-net single-path training step against the stand-alone
network of the same architecture.

Both networks share one NetConfig (the micro run's super-net: C=8, N=1, BN with
batch statistics), the stand-alone one starts from the super-net's weights
(spaces.nb201_net.subnet_state), both see the same pre-normalised batches of
128 training images and take the SPOS step of algorithms/spos.py: forward,
cross-entropy, backward, clip_grad_norm_(5.0) over the model's parameters, SGD
(lr 0.05, momentum 0.9, weight decay 5e-4) step, then zero_grad as
train.unsampled_grads says: "zero" (the default, the official PyTorch 1.6
semantics: every weight used once is decayed and moved by momentum on every
later step, so the super-net's optimiser touches all its used weights) or
"none" (off-path weights frozen). The super-net keeps one optimiser over all its
parameters, as the SPOS trainer does; its cell type is the run's default (net.cell).

Each repeat times a block of steps of each model per architecture, alternating
which model goes first; the table shows medians and the ratio of medians
super-net / stand-alone. Target: median ratio <= 1.15.

    python benchmarks/supernet_step.py [--archs 5] [--steps 20] [--repeats 5] [--quick]
        [--unsampled-grads zero|none]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import _common  # noqa: E402
from lmreg.algorithms.base import TrainConfig as SPOSConfig  # noqa: E402
from lmreg.bench.datasets.tasks import load_task  # noqa: E402
from lmreg.experiments.runconfig import NetSpec  # noqa: E402
from lmreg.spaces import nb201  # noqa: E402
from lmreg.spaces.nb201_net import NB201Net, NetConfig, subnet_state  # noqa: E402

TARGET = 1.15


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="micro-fmnist")
    ap.add_argument("--archs", type=int, default=None,
                    help="architectures sampled with nb201.sample (default 5; 2 with --quick)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per model per architecture per repeat (default 20; 3 with --quick)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per model and architecture")
    ap.add_argument("--unsampled-grads", choices=("zero", "none"), default=SPOSConfig().unsampled_grads,
                    help="train.unsampled_grads (default: %(default)s)")
    _common.add_common_args(ap, repeats=5)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    n_archs = args.archs or (2 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 20)
    spos, net = SPOSConfig(), NetSpec()

    task = load_task(args.task, device)
    gen = torch.Generator().manual_seed(args.seed)
    batches = [b for _, b in zip(range(steps), task.batches("train", spos.batch_size, gen,
                                                             shuffle=True, drop_last=True))]
    cfg = NetConfig(C=net.C, N=net.N, in_channels=task.spec.in_channels,
                    num_classes=task.spec.num_classes, bn_affine=net.bn_affine,
                    bn_track_running_stats=net.bn_track_running_stats)
    super_cfg = dataclasses.replace(cfg, cell=net.cell)
    set_to_none = args.unsampled_grads == "none"

    def sgd(model):
        return torch.optim.SGD(model.parameters(), lr=spos.lr, momentum=spos.momentum,
                               weight_decay=spos.weight_decay)

    supernet = NB201Net(super_cfg)
    archs = nb201.sample(n_archs, args.seed)
    standalone = {}
    for arch in archs:
        model = NB201Net(cfg, arch)
        model.load_state_dict(subnet_state(supernet, model))
        model = _common.prepare_model(model, device)
        standalone[arch] = (model, sgd(model))
    supernet = _common.prepare_model(supernet, device)
    super_opt = sgd(supernet)

    def block(model, opt, arch, n):
        """n SPOS steps; arch is None for a stand-alone network."""
        model.train()
        for i in range(n):
            x, y = batches[i % len(batches)]
            logits = model(x) if arch is None else model(x, arch)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), spos.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=set_to_none)

    _common.header("super-net step vs stand-alone step", args, device,
                   f"task {args.task}, C={cfg.C} N={cfg.N}, cell {super_cfg.cell}, unsampled grads "
                   f"{args.unsampled_grads}, batch {spos.batch_size}, {steps} steps per "
                   f"block, {n_archs} archs (seed {args.seed}), warm-up {args.warmup} steps")
    for arch in archs:
        model, opt = standalone[arch]
        block(model, opt, None, args.warmup)
        block(supernet, super_opt, arch, args.warmup)

    if not set_to_none:  # steady state of a long run: every super-net weight has been used
        for p in supernet.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)

    t_sa = {a: [] for a in archs}
    t_sn = {a: [] for a in archs}
    for r in range(args.repeats):
        for arch in archs:
            model, opt = standalone[arch]
            runs = [(t_sa, model, opt, None), (t_sn, supernet, super_opt, arch)]
            if r % 2:
                runs.reverse()
            for store, m, o, a in runs:
                store[arch].append(_common.timed(lambda: block(m, o, a, steps), device))

    rows, ratios = [], []
    for arch in archs:
        sa, sn = _common.median(t_sa[arch]), _common.median(t_sn[arch])
        ratios.append(_common.ratio(sn, sa))
        rows.append([_common.arch_label(arch), 1000 * sa / steps, 1000 * sn / steps, ratios[-1],
                     min(t_sn[arch]) / min(t_sa[arch])])
    print()
    _common.table(["arch", "stand-alone ms/step", "super-net ms/step", "ratio (medians)", "ratio (minima)"],
                  rows)
    print(_common.OPS_LEGEND)
    med = _common.median(ratios)
    total = _common.ratio(sum(_common.median(t_sn[a]) for a in archs),
                          sum(_common.median(t_sa[a]) for a in archs))
    verdict = "PASS" if med <= TARGET else "FAIL"
    print()
    print(f"median ratio super-net/stand-alone over {n_archs} archs: {med:.3f} (target <= {TARGET}: {verdict}); "
          f"summed medians ratio {total:.3f}")
    print(f"SUMMARY supernet_step: median ratio super-net/stand-alone {med:.3f} "
          f"(target <= {TARGET}: {verdict}), unsampled grads {args.unsampled_grads}, "
          f"{n_archs} archs x {steps} steps x {args.repeats} repeats, "
          f"{device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
