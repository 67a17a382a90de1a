"""Throughput of super-net scoring (algorithms.scoring.score, BN mode "batch")
against a plain forward pass over the same networks.

Scoring: score(supernet, pool, task, "test", n=2000, batch_size=500,
bn_mode="batch") on the micro run's super-net (C=8, N=1, BN with batch
statistics, channels_last on the CPU), as experiments/runner.py scores its pool.
Plain: for each architecture of the pool, the stand-alone NB201Net holding the
super-net's weights (subnet_state), in eval mode under torch.inference_mode,
run on the same images in the same batches of 500, normalised beforehand;
forward only. All stand-alone networks are built before any timing.

Throughput is architectures x images per second. The repeats alternate which
side goes first; the table shows medians and the ratio of medians
scoring / plain (target >= 0.9). Outside the timing, the accuracies of both
sides are compared, so the two do compute the same thing.

    python benchmarks/scoring_throughput.py [--pool 20] [--images 2000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import _common  # noqa: E402
from lmreg.algorithms.scoring import score  # noqa: E402
from lmreg.bench.datasets.tasks import load_task  # noqa: E402
from lmreg.experiments.runconfig import NetSpec  # noqa: E402
from lmreg.spaces import nb201  # noqa: E402
from lmreg.spaces.nb201_net import NB201Net, NetConfig, subnet_state  # noqa: E402

TARGET = 0.9


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="micro-fmnist")
    ap.add_argument("--pool", type=int, default=None,
                    help="architectures scored, drawn with nb201.sample (default 20; 4 with --quick)")
    ap.add_argument("--images", type=int, default=None,
                    help="first n test images (default 2000; 1000 with --quick)")
    ap.add_argument("--batch-size", type=int, default=500)
    _common.add_common_args(ap, repeats=5)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    n_pool = args.pool or (4 if args.quick else 20)
    n_img = args.images or (1000 if args.quick else 2000)
    bs = args.batch_size
    net = NetSpec()

    task = load_task(args.task, device)
    n_img = min(n_img, task.size("test"))
    cfg = NetConfig(C=net.C, N=net.N, in_channels=task.spec.in_channels,
                    num_classes=task.spec.num_classes, bn_affine=net.bn_affine,
                    bn_track_running_stats=net.bn_track_running_stats)
    supernet = NB201Net(cfg)
    pool = nb201.sample(n_pool, args.seed)
    plain_nets = []
    for arch in pool:
        model = NB201Net(cfg, arch)
        model.load_state_dict(subnet_state(supernet, model))
        plain_nets.append(_common.prepare_model(model, device).eval())
    supernet = _common.prepare_model(supernet, device)
    x_all, y_all = task.normalize(task.x["test"][:n_img]), task.y["test"][:n_img]
    batches = [x_all[i: i + bs] for i in range(0, n_img, bs)]

    def run_score():
        return score(supernet, pool, task, split="test", n=n_img, batch_size=bs, bn_mode="batch")

    @torch.inference_mode()
    def run_plain():
        for model in plain_nets:
            for x in batches:
                model(x)

    _common.header("scoring throughput vs plain forward", args, device,
                   f"task {args.task}, C={cfg.C} N={cfg.N}, pool {n_pool} archs (seed {args.seed}), "
                   f"{n_img} test images, batch {bs}, BN mode batch")

    # Warm-up, and the check that both sides compute the same accuracies.
    acc_score, loss_score = run_score()
    acc_plain, loss_plain = np.empty(n_pool), np.empty(n_pool)
    with torch.inference_mode():
        for k, model in enumerate(plain_nets):
            logits = torch.cat([model(x) for x in batches])
            acc_plain[k] = 100.0 * (logits.argmax(1) == y_all).sum().item() / n_img
            loss_plain[k] = F.cross_entropy(logits, y_all).item()
    acc_diff = float(np.max(np.abs(acc_score - acc_plain)))
    loss_diff = float(np.max(np.abs(loss_score - loss_plain) / np.abs(loss_plain)))
    run_plain()

    t = {"scoring": [], "plain": []}
    for r in range(args.repeats):
        runs = [("scoring", run_score), ("plain", run_plain)]
        if r % 2:
            runs.reverse()
        for name, fn in runs:
            t[name].append(_common.timed(fn, device))

    work = n_pool * n_img
    rows = []
    for name in ("scoring", "plain"):
        m = _common.median(t[name])
        rows.append([name, m, 1000 * m / n_pool, work / m, work / min(t[name])])
    print()
    _common.table(["side", "median s", "ms/arch", "arch*img/s (median)", "arch*img/s (best)"], rows)
    ratio = _common.ratio(_common.median(t["plain"]), _common.median(t["scoring"]))
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print()
    print(f"agreement check (untrained super-net): max |accuracy difference| {acc_diff:.3f} points, "
          f"max relative cross-entropy difference {loss_diff:.1e}, over {n_pool} archs")
    if acc_diff > 0.5 or loss_diff > 1e-3:
        print("WARNING: scoring and the plain forward disagree; the comparison is not like for like")
    print(f"throughput ratio scoring/plain (ratio of medians): {ratio:.3f} (target >= {TARGET}: {verdict})")
    print(f"SUMMARY scoring_throughput: scoring {work / _common.median(t['scoring']):,.0f} arch*img/s, "
          f"plain {work / _common.median(t['plain']):,.0f} arch*img/s, ratio {ratio:.3f} "
          f"(target >= {TARGET}: {verdict}), {n_pool} archs x {n_img} images x {args.repeats} repeats, "
          f"{device}, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
