"""Why a regularised SPOS step costs more than 3 plain steps: the forward/backward of
a landmark architecture against that of a uniformly drawn path, at the micro size.

A regularised step is one training forward/backward on a uniform path plus two
on landmark architectures (one pair). Landmarks are drawn from the ground truth's
cells, which are isomorphism-class representatives (nb201.sample: 6,466 classes);
the training paths are uniform over all 15,625 op tuples. Representatives hold
fewer 'none' and dead-end edges, so they run more ops. This script times both
populations (same weights, same batch; forward, cross-entropy, backward; the
paths alternate between the populations) and counts the convolutions each runs.

    python benchmarks/landmark_cost.py [--archs 50] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import random

import torch.nn.functional as F

import _common
from lmreg.bench.datasets.tasks import load_task
from lmreg.spaces import nb201
from lmreg.spaces.nb201_net import NB201Net, NetConfig
from lmreg.spaces.nb201_space import SPACE


def convs(arch) -> int:
    """Convolutions a single path computes per cell (ops on edges that reach the output)."""
    return sum(nb201.OPS[arch[p]].startswith("nor_conv") for p in nb201.computed_edges(arch))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=None, help="architectures per population (default 50; 6 with --quick)")
    _common.add_common_args(ap, repeats=3)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    n = args.archs or (6 if args.quick else 50)
    task = load_task("micro-fmnist", device)
    x, y = next(task.batches("train", 128))
    model = _common.prepare_model(NB201Net(NetConfig(C=8, N=1, in_channels=1, cell="op_on_node")), device)
    rng = random.Random(args.seed)
    populations = {"uniform path": [SPACE.sample_path(rng) for _ in range(n)],
                   "landmark (GT cell)": nb201.sample(n, args.seed)}

    def step(arch):
        F.cross_entropy(model(x, arch), y).backward()
        model.zero_grad(set_to_none=False)

    for archs in populations.values():  # warm every op
        for a in archs[:3]:
            step(a)
    times = {k: [] for k in populations}
    for r in range(args.repeats):
        for i in range(n):
            order = list(populations) if (r + i) % 2 == 0 else list(populations)[::-1]
            for k in order:
                times[k].append(_common.timed(lambda: step(populations[k][i]), device))
    _common.header("landmark vs uniform-path forward/backward", args, device,
                   f"micro size (C=8, N=1, op_on_node), batch 128, {n} architectures per population")
    rows = []
    for k, archs in populations.items():
        rows.append([k, 1000 * _common.median(times[k]), sum(map(convs, archs)) / n,
                     sum(len(nb201.computed_edges(a)) for a in archs) / n])
    _common.table(["population", "median ms", "convs per cell", "ops computed per cell"], rows)
    ratio = _common.median(times["landmark (GT cell)"]) / _common.median(times["uniform path"])
    print(f"SUMMARY landmark_cost: a landmark forward/backward costs {ratio:.2f}x a uniform path's; "
          f"a regularised step (1 path + 2 landmarks) is then about {1 + 2 * ratio:.2f} path forward/backwards")


if __name__ == "__main__":
    main()
