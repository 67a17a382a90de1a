"""Stand-alone training and evaluation throughput on the micro task.

Training: images/s of one step (forward, cross-entropy, backward, SGD step) at
the micro GT recipe's batch size and net size (algorithms.standalone's
StandaloneRecipe defaults: C=8, N=1, batch 128, SGD Nesterov momentum 0.9,
wd 5e-4), on batches drawn from the train split and normalised beforehand.
Evaluation: images/s of algorithms.standalone.evaluate (eval mode, inference
mode, batch 1000) over the test split.

Every architecture is measured once per repeat (train block, then eval), the
repeats interleave the architectures, and the table shows medians.

    python benchmarks/standalone_throughput.py [--archs 5] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import _common  # noqa: E402
from lmreg.algorithms.standalone import StandaloneRecipe, evaluate  # noqa: E402
from lmreg.bench.datasets.tasks import Task, get_spec, load_arrays  # noqa: E402
from lmreg.spaces import nb201  # noqa: E402
from lmreg.spaces.nb201_net import NB201Net, NetConfig, count_flops, count_params  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="micro-fmnist")
    ap.add_argument("--archs", type=int, default=None, help="architectures sampled with nb201.sample "
                    "(default 5; 2 with --quick)")
    ap.add_argument("--steps", type=int, default=None,
                    help="training steps timed per architecture per repeat (default 20; 3 with --quick)")
    ap.add_argument("--eval-images", type=int, default=None,
                    help="test images evaluated per architecture per repeat (default: the whole "
                         "test split; 2000 with --quick)")
    _common.add_common_args(ap, repeats=5)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    n_archs = args.archs or (2 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 20)
    recipe = StandaloneRecipe()

    spec = get_spec(args.task)
    arrays = load_arrays(spec)
    n_eval = args.eval_images or (2000 if args.quick else len(arrays["test_y"]))
    arrays["test_x"], arrays["test_y"] = arrays["test_x"][:n_eval], arrays["test_y"][:n_eval]
    task = Task(spec, arrays, device)

    gen = torch.Generator().manual_seed(args.seed)
    batches = [b for _, b in zip(range(steps), task.batches("train", recipe.batch_size, gen,
                                                             shuffle=True, drop_last=True))]
    if len(batches) < steps:
        raise SystemExit(f"the train split only gives {len(batches)} batches of {recipe.batch_size}")

    # Built as train_standalone builds them.
    cfg = NetConfig(C=recipe.C, N=recipe.N, in_channels=spec.in_channels, num_classes=spec.num_classes,
                    bn_affine=True, bn_track_running_stats=True)
    archs = nb201.sample(n_archs, args.seed)
    nets = []
    for arch in archs:
        model = NB201Net(cfg, arch)
        info = (count_params(model), count_flops(model, task.input_shape) / 1e6)
        model = _common.prepare_model(model, device)
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
        nets.append((arch, model, opt, info))

    def train_block(model, opt, n):
        model.train()
        for i in range(n):
            x, y = batches[i % len(batches)]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    _common.header("stand-alone throughput", args, device,
                   f"task {args.task}, C={recipe.C} N={recipe.N}, train batch {recipe.batch_size} x "
                   f"{steps} steps, eval batch {recipe.eval_batch_size} x {n_eval} images, "
                   f"{n_archs} archs (seed {args.seed})")
    for _, model, opt, _ in nets:  # warm-up: allocator, oneDNN primitives, momentum buffers
        train_block(model, opt, 2)
        evaluate(model, task, "test", recipe.eval_batch_size)

    train_t = {a: [] for a, *_ in nets}
    eval_t = {a: [] for a, *_ in nets}
    mix_train, mix_eval = [], []
    for _ in range(args.repeats):
        tot_train = tot_eval = 0.0
        for arch, model, opt, _ in nets:
            t = _common.timed(lambda: train_block(model, opt, steps), device)
            train_t[arch].append(t)
            tot_train += t
            t = _common.timed(lambda: evaluate(model, task, "test", recipe.eval_batch_size), device)
            eval_t[arch].append(t)
            tot_eval += t
        mix_train.append(n_archs * steps * recipe.batch_size / tot_train)
        mix_eval.append(n_archs * n_eval / tot_eval)

    rows, train_ips, eval_ips = [], [], []
    for arch, _, _, (params, mflops) in nets:
        tr = steps * recipe.batch_size / _common.median(train_t[arch])
        ev = n_eval / _common.median(eval_t[arch])
        train_ips.append(tr)
        eval_ips.append(ev)
        rows.append([_common.arch_label(arch), params, round(mflops, 2),
                     1000 * _common.median(train_t[arch]) / steps, tr, ev])
    print()
    _common.table(["arch", "params", "MMACs", "ms/step", "train img/s", "eval img/s"], rows)
    train_med, eval_med = _common.median(train_ips), _common.median(eval_ips)
    print(_common.OPS_LEGEND)
    print()
    print(f"median over architectures: train {train_med:,.0f} img/s, eval {eval_med:,.0f} img/s")
    print(f"whole mix (total images / total time, median of repeats): train "
          f"{_common.median(mix_train):,.0f} img/s, eval {_common.median(mix_eval):,.0f} img/s")
    print(f"SUMMARY standalone_throughput: train {train_med:,.0f} img/s (batch {recipe.batch_size}), "
          f"eval {eval_med:,.0f} img/s (batch {recipe.eval_batch_size}), median of {n_archs} archs, "
          f"{args.repeats} repeats, {device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
