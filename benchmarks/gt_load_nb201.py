"""Load time, peak memory and all-architecture GT query: nas_201_api on an
official-layout .pth versus our compact HDF5 store.

    python benchmarks/gt_load_nb201.py                       # full size (needs tens of GB)
    python benchmarks/gt_load_nb201.py --epochs200 20        # scaled down: 15,625 cells, 20-epoch curves

Step 1 writes an official v1_1-layout file into --dir (default /tmp, never the
repo) with nas_201_api's own ResultsCount / ArchResults: --archs cells, the
four datasets, hp '200' with the v1_1 seed counts (2225 cells x 1 seed, 5439 x 2,
7961 x 3, scaled to --archs) and hp '12' (cifar10-valid x 2 seeds, others x 1),
per-epoch train and eval accuracies/losses/times. The pickle is streamed
(legacy torch format, pickler without memo, one architecture in memory at a
time), so every value is its own object on load, as in the real file.

Step 2 converts it with bench.nb201_official.convert_nb201 (timed, whole process).

Step 3 runs each side in its own fresh subprocess, which reports its own peak
RSS (resource.getrusage(RUSAGE_SELF).ru_maxrss, i.e. what the parent's
RUSAGE_CHILDREN would report for that child alone) and its RSS after imports,
so the load's own cost is the difference:
  theirs: NASBench201API(path) (torch.load defaults to weights_only=False via
          TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, the API's own code path), then
          get_more_info(i, 'cifar10', hp='200', is_random=False) for every cell;
  ours:   registry-style open of ('cifar10', '200') and per_arch('test_acc').
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
EVAL_NAMES = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
              "cifar100": ("x-valid", "x-test", "ori-test"),
              "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
EVAL_SIZE = {"x-valid": 5000, "x-test": 5000, "ori-test": 10000}
V11_SEED_COUNTS = (2225, 5439, 7961)   # cells trained once / twice / three times (hp 200, v1_1)


class _FastPickler(pickle.Pickler):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.fast = True   # no memo: nothing is kept alive, and no object is shared on load


class _LazyItems:
    """Pickles as a plain dict whose items are produced one at a time."""

    def __init__(self, n, make):
        self.n, self.make = n, make

    def __reduce__(self):
        return (dict, (), None, None, ((i, self.make(i)) for i in range(self.n)))


def _trial(rng, ds, seed, epochs, arch):
    from nas_201_api import ResultsCount
    cfg = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 10}
    acc = (rng.integers(1000, 50000, epochs) / 50000 * 100).tolist()
    los = rng.uniform(0.1, 2.5, epochs).tolist()
    rc = ResultsCount(ds, None, dict(enumerate(acc)), dict(enumerate(los)), float(rng.uniform(0.1, 1.5)),
                      float(rng.uniform(10, 200)), cfg, seed, epochs, [float(rng.uniform(0.005, 0.03))])
    rc.update_train_info(dict(enumerate(acc)), dict(enumerate((rng.uniform(50, 100, epochs)).tolist())),
                         dict(enumerate(los)), dict(enumerate(rng.uniform(5, 10, epochs).tolist())))
    accs, losses, times = {}, {}, {}
    for name in EVAL_NAMES[ds]:
        n = EVAL_SIZE[name]
        a = (rng.integers(n // 10, n, epochs) / n * 100).tolist()
        lo = rng.uniform(0.1, 2.5, epochs).tolist()
        t = rng.uniform(0.5, 1.0, epochs).tolist()
        for e in range(epochs):
            k = f"{name}@{e}"
            accs[k], losses[k], times[k] = a[e], lo[e], t[e]
    rc.update_eval(accs, losses, times)
    return rc


def generate(path: Path, n_archs: int, epochs200: int, epochs12: int, seed: int = 0) -> dict:
    import torch
    from nas_201_api import ArchResults
    from lmreg.spaces import nb201

    order = list(range(nb201.NUM_ARCHS))
    random.Random(seed).shuffle(order)          # the official order is not our base-5 order
    meta = [nb201.to_str(nb201.from_index(i)) for i in order]
    counts = [round(c * n_archs / sum(V11_SEED_COUNTS)) for c in V11_SEED_COUNTS]
    counts[2] = n_archs - counts[0] - counts[1]
    nseeds = [1] * counts[0] + [2] * counts[1] + [3] * counts[2]
    random.Random(seed + 1).shuffle(nseeds)

    def make(idx):
        rng = np.random.default_rng([seed, idx])
        out = {}
        for hp, key, epochs in (("12", "less", epochs12), ("200", "full", epochs200)):
            res = ArchResults(idx, meta[idx])
            for ds in DATASETS:
                if hp == "200":
                    seeds = (777, 888, 999)[:nseeds[idx]]
                else:
                    seeds = (777, 888) if ds == "cifar10-valid" else (777,)
                for s in seeds:
                    res.update(ds, s, _trial(rng, ds, s, epochs, meta[idx]))
            out[key] = res.state_dict()
        return out

    data = {"meta_archs": meta, "total_archs": len(meta), "arch2infos": _LazyItems(n_archs, make),
            "evaluated_indexes": set(range(n_archs))}
    tmp = path.with_name(path.name + ".tmp")
    module = types.SimpleNamespace(Pickler=_FastPickler, dump=pickle.dump, load=pickle.load,
                                   Unpickler=pickle.Unpickler, __name__="pickle")
    torch.save(data, tmp, pickle_module=module, _use_new_zipfile_serialization=False)
    os.replace(tmp, path)
    return {"archs": n_archs, "seed_counts_hp200": dict(zip(("1", "2", "3"), counts))}


THEIRS = r"""
import json, os, resource, sys, time
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
from nas_201_api import NASBench201API
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); api = NASBench201API(sys.argv[1], verbose=False); load = time.perf_counter() - t
t = time.perf_counter()
gt = {api[i]: api.get_more_info(i, "cifar10", hp="200", is_random=False)["test-accuracy"] for i in range(len(api))
      if i in api.arch2infos_dict}
query = time.perf_counter() - t
print(json.dumps({"load_s": load, "query_s": query, "n": len(gt), "rss_after_import_kb": rss0,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sample": sorted(gt.items())[:3]}))
"""

OURS = r"""
import json, resource, sys, time
from lmreg.bench.nb201_official import open_nb201
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); table = open_nb201("cifar10", "200", sys.argv[1]); load = time.perf_counter() - t
t = time.perf_counter(); gt = table.per_arch("test_acc"); query = time.perf_counter() - t
t = time.perf_counter(); gt2 = table.per_arch("test_acc"); query2 = time.perf_counter() - t
t = time.perf_counter(); cv = open_nb201("cifar10-valid", "200", sys.argv[1]).per_arch("valid_acc", 11)
other = time.perf_counter() - t
print(json.dumps({"load_s": load, "query_s": query, "query_again_s": query2, "open_and_query_other_s": other,
                  "n": len(gt), "rss_after_import_kb": rss0,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sample": sorted(gt.items())[:3]}))
"""


STAGE = r"""
import json, sys
sys.path.insert(0, %r)  # this script's folder, for generate()
from gt_load_nb201 import generate
from lmreg.bench.nb201_official import convert_nb201
if sys.argv[1] == "gen":
    print(json.dumps(generate(__import__("pathlib").Path(sys.argv[2]), *map(int, sys.argv[3:6]))))
else:
    print(json.dumps(convert_nb201(sys.argv[2], sys.argv[3])))
""" % str(Path(__file__).resolve().parent)


def _child(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=15625)
    ap.add_argument("--epochs200", type=int, default=200)
    ap.add_argument("--epochs12", type=int, default=12)
    ap.add_argument("--dir", default="/tmp/lmreg_gt_load_nb201")
    ap.add_argument("--repeats", type=int, default=3, help="fresh subprocesses per side")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    d = Path(args.dir)
    if ROOT in d.resolve().parents or d.resolve() == ROOT:
        raise SystemExit("--dir must be outside the repository")
    d.mkdir(parents=True, exist_ok=True)
    pth, store = d / "NAS-Bench-201-v1_1-synthetic.pth", d / "nb201.h5"
    try:
        # generation and conversion run in their own processes: a child started from a
        # big parent would inherit the parent's peak RSS in its own ru_maxrss (Linux exec)
        t = time.perf_counter()
        info = _child(STAGE, "gen", str(pth), str(args.archs), str(args.epochs200), str(args.epochs12))
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        summary = _child(STAGE, "convert", str(pth), str(store))
        conv_s = time.perf_counter() - t
        theirs = [_child(THEIRS, str(pth)) for _ in range(args.repeats)]
        ours = [_child(OURS, str(store), str(ROOT)) for _ in range(args.repeats)]
        assert theirs[0]["n"] == ours[0]["n"] == args.archs
        for (a, x), (b, y) in zip(theirs[0]["sample"], ours[0]["sample"]):
            assert a == b and abs(x - y) < 1e-9, (a, x, b, y)

        def med(rs, k):
            return float(np.median([r[k] for r in rs]))
        res = {"setup": {"archs": args.archs, "epochs_hp200": args.epochs200, "epochs_hp12": args.epochs12,
                         **info, "pth_bytes": pth.stat().st_size, "store_bytes": store.stat().st_size,
                         "generate_s": round(gen_s, 1), "convert_s": round(conv_s, 1),
                         "repeats": args.repeats, "python": sys.version.split()[0]},
               "groups": {k: {kk: v[kk] for kk in ("rows", "archs", "archs_with_fewer_seeds")}
                          for k, v in summary["groups"].items()}}
        for name, rs in (("nas_201_api", theirs), ("lmreg_store", ours)):
            res[name] = {"load_s": med(rs, "load_s"), "query_all_s": med(rs, "query_s"),
                         "peak_rss_MiB": med(rs, "peak_rss_kb") / 1024,
                         "load_rss_MiB": (med(rs, "peak_rss_kb") - med(rs, "rss_after_import_kb")) / 1024}
        res["lmreg_store"]["query_again_s"] = med(ours, "query_again_s")
        res["lmreg_store"]["open_and_query_other_group_s"] = med(ours, "open_and_query_other_s")
        a, b = res["nas_201_api"], res["lmreg_store"]
        res["ratios"] = {"load_speedup": a["load_s"] / b["load_s"],
                         "query_speedup": a["query_all_s"] / b["query_all_s"],
                         "peak_rss_ratio": a["peak_rss_MiB"] / b["peak_rss_MiB"],
                         "load_rss_ratio": a["load_rss_MiB"] / max(b["load_rss_MiB"], 1e-3)}
        print(json.dumps(res, indent=2))
    finally:
        if not args.keep:
            for p in (pth, store, pth.with_name(pth.name + ".tmp")):
                p.unlink(missing_ok=True)
            try:
                d.rmdir()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
