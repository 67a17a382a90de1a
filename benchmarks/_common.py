"""Shared pieces of the benchmark scripts: command-line options, device and
thread set-up, a synchronising timer, medians and a plain-text table.

The scripts import this module as `_common` (their own folder is on sys.path
when they are run as `python benchmarks/NAME.py`); the harness itself is
imported as the installed `lmreg` package (`pip install -e .`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from typing import Callable, Sequence

import torch


def add_common_args(parser: argparse.ArgumentParser, repeats: int, quick_repeats: int = 2) -> None:
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed repeats per measurement (default {repeats}; "
                             f"{quick_repeats} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds in all: smaller sizes and fewer repeats (smoke test)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1, as experiments/runner.py)")
    parser.add_argument("--seed", type=int, default=0, help="seed of architectures and weights")
    parser.set_defaults(_repeats_default=repeats, _quick_repeats=quick_repeats)


def setup(args: argparse.Namespace) -> torch.device:
    """Resolve --repeats, set threads and seed, check the device."""
    if args.repeats is None:
        args.repeats = args._quick_repeats if args.quick else args._repeats_default
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device {args.device!r} requested but CUDA is not available")
    return device


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a network the way experiments/runner.py does: channels_last on the CPU."""
    model = model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of fn(), with the device drained before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def header(title: str, args: argparse.Namespace, device: torch.device, extra: str = "") -> None:
    when = datetime.datetime.now().isoformat(timespec="seconds")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# {title}")
    print(f"# {when}  torch {torch.__version__}  device {device} ({where})  threads {args.threads}  "
          f"cpus {os.cpu_count()}  repeats {args.repeats}{'  QUICK' if args.quick else ''}")
    if extra:
        print(f"# {extra}")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as aligned columns; floats get a sensible number of digits."""
    def fmt(v):
        if isinstance(v, float):
            if v != v:
                return "nan"
            if abs(v) >= 100:
                return f"{v:,.0f}"
            if abs(v) >= 10:
                return f"{v:.1f}"
            return f"{v:.3f}"
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    left = [bool(rows) and isinstance(rows[0][i], str) for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.ljust(w) if lft else v.rjust(w)
                         for v, w, lft in zip(values, widths, left)).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in cells:
        print(line(r))


def arch_label(arch) -> str:
    """Compact op-index tuple, e.g. 3,4,4,1,2,2 (ops: 0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avgpool)."""
    return ",".join(str(a) for a in arch)


OPS_LEGEND = "arch = op index per edge (0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3)"
