"""Table B2 (`lmreg reproduce B2`): paper-scale ranking quality from labels alone, on the real
NAS-Bench-201 CIFAR-10 ground truth (nb201-real-cifar10-valid; extra nb201-pypi). No
super-net is trained and no data is downloaded.

For every seed and every number of landmarks M, the landmarks and the pool of 200 are drawn
by the super-net runs' own code (experiments.score_file.configs_for on the nb201-cifar10
preset, then experiments.runner.choose_archs). On them: the landmark predictors of table B1
(MLP and GCN, mse and pairwise losses, trained only on the M landmarks' GT), parameters and
FLOPs of the CIFAR-10-sized networks (C=16, N=5), and any score files given (with, where
the file also scores the landmarks, its hybrids with the GCN predictor: experiments/hybrid.py). Transfer: the
same CIFAR-10 landmarks and predictions, the pool scored against CIFAR-100 and
ImageNet16-120, beside the CIFAR-10 GT itself used as the ranker.

Every score is kept in OUT/B2/scores.csv.gz (one row per row-label, M, seed and
architecture: pool and landmarks), with the settings that produced it; a rerun with the
same settings reuses it, so the table re-derives from that file alone
(paper_figures/b2.py renders it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lmreg.experiments.b1 import PREDICTOR_FIT, PREDICTORS
from lmreg.paper_figures.b2 import BENCHMARK, SCORE_NAME, TRANSFER

PRESET = "nb201-cifar10"          # the paper's NB201 setting: its draws from the run seed
M_VALUES = (10, 20, 30, 50, 100, 200)
SEEDS = tuple(range(10))
POOL_SIZE = 200                   # the official pool size
NET = {"C": 16, "N": 5}           # NB201's CIFAR-10 networks
SETTINGS_NAME = "settings.json"


def settings(seeds=SEEDS, m_values=M_VALUES, score_files=()) -> dict:
    """Everything that decides the stored scores (compared before they are reused)."""
    from lmreg.bench import nb201_pypi
    return {"benchmark": BENCHMARK, "transfer": list(TRANSFER), "preset": PRESET, "seeds": list(seeds),
            "m_values": list(m_values), "pool_size": POOL_SIZE, "predictors": list(PREDICTORS),
            "predictor_fit": PREDICTOR_FIT, "net": NET, "source_version": nb201_pypi.version(),
            "score_files": [str(Path(p).resolve()) for p in score_files]}


def draws(seed: int, m: int):
    """(config, landmarks, pool) of the super-net run with this seed and M landmarks."""
    from lmreg.experiments.runner import choose_archs
    from lmreg.experiments.score_file import configs_for
    cfg = configs_for(BENCHMARK, [seed], PRESET, [f"landmarks.m={m}", f"eval.pool_size={POOL_SIZE}"])[0]
    _, landmarks, pool = choose_archs(cfg)
    return cfg, landmarks, pool


class FlopCounter:
    """FLOPs (multiply-accumulates, spaces.nb201_net.count_flops) of the C=16, N=5 CIFAR-10
    network of a cell. A network computes exactly the cell's computed_edges, and every edge of
    a cell has the same input and output shape, so its FLOPs depend only on how many computed
    edges are conv1x1 and how many conv3x3: one network is measured per such pair."""

    def __init__(self):
        self._by_signature: dict[tuple[int, int], int] = {}

    @staticmethod
    def signature(arch) -> tuple[int, int]:
        from lmreg.spaces import nb201
        ops = [arch[e] for e in nb201.computed_edges(tuple(arch))]
        return ops.count(nb201.OPS.index("nor_conv_1x1")), ops.count(nb201.OPS.index("nor_conv_3x3"))

    def __call__(self, arch) -> int:
        sig = self.signature(arch)
        if sig not in self._by_signature:
            from lmreg.spaces.base import NetSpec, get_space
            from lmreg.spaces.nb201_net import count_flops
            net = get_space("nb201").build_standalone(tuple(arch), NetSpec(**NET), 3, 10)
            self._by_signature[sig] = count_flops(net, (3, 32, 32))
        return self._by_signature[sig]


def _rows(label: str, kind: str, m: int, seed: int, archs, scores, landmark: bool) -> list[dict]:
    return [{"row": label, "kind": kind, "m": m, "seed": seed, "arch": a, "score": float(s), "landmark": landmark}
            for a, s in zip(archs, scores)]


def compute(out_dir: str | Path, seeds=SEEDS, m_values=M_VALUES, score_files=(), progress: bool = True) -> Path:
    """Write OUT/B2/scores.csv.gz (reused when its settings match) and return its path."""
    import torch
    from lmreg.algorithms.predictors.fit import fit_predict
    from lmreg.bench import registry
    from lmreg.core.fileio import write_bytes
    from lmreg.experiments.hybrid import hybrid_scores
    from lmreg.experiments.score_file import read_scores
    from lmreg.spaces import nb201
    from lmreg.spaces.base import get_space

    folder = Path(out_dir) / "B2"
    path, meta = folder / SCORE_NAME, folder / SETTINGS_NAME
    want = settings(seeds, m_values, score_files)
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == want:
        return path
    torch.set_num_threads(1)
    table = registry.load(BENCHMARK)
    gt = table.per_arch("valid_acc")
    params = table.frame().groupby("arch").params.first()
    flops = FlopCounter()
    files = {Path(p).stem: read_scores(p, "nb201") for p in score_files}
    rows, start = [], time.perf_counter()
    for seed in seeds:
        for m in m_values:
            cfg, landmarks, pool = draws(seed, m)
            space = get_space(cfg.space)
            both = pool + landmarks
            for name in PREDICTORS:
                model, _, loss = name.partition("-")
                pred = fit_predict(model, [space.parse(a) for a in landmarks], gt.loc[landmarks].to_numpy(),
                                   [space.parse(a) for a in both], loss=loss, seed=cfg.seed, space=space,
                                   **PREDICTOR_FIT)
                rows += _rows(name, "predictor", m, seed, pool, pred[:len(pool)], False)
                rows += _rows(name, "predictor", m, seed, landmarks, pred[len(pool):], True)
            for label, score in (("params", params.loc[pool].to_numpy()),
                                 ("flops", [flops(nb201.parse(a)) for a in pool])):
                rows += _rows(label, "cost", m, seed, pool, score, False)
            for label, scores in files.items():
                missing = [a for a in pool if a not in scores.index]
                if missing:
                    from lmreg.experiments.score_file import ScoreFileError
                    raise ScoreFileError(f"score file {label}: no score for {len(missing)} architectures of seed "
                                         f"{seed}'s pool at M={m} (first: {missing[0]})")
                rows += _rows(f"file:{label}", "file", m, seed, pool, scores.loc[pool].to_numpy(), False)
                if scores.index.isin(landmarks).sum() == len(landmarks):  # the hybrids need the landmarks' scores
                    hybrids = hybrid_scores(space, landmarks, gt.loc[landmarks].to_numpy(),
                                            scores.loc[landmarks].to_numpy(), pool, scores.loc[pool].to_numpy(),
                                            seed=cfg.seed, other=f"score file {label}")
                    for name, values in list(hybrids.items())[2:]:  # the two hybrids; both parts are rows already
                        rows += _rows(name, "hybrid", m, seed, pool, values, False)
            if progress:
                print(f"B2: seed {seed}, M={m} done ({time.perf_counter() - start:.0f} s)", flush=True)
    frame = pd.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes(path, _gzip_csv(frame))
    write_bytes(meta, json.dumps(want, indent=1, sort_keys=True).encode())
    return path


def _gzip_csv(frame: pd.DataFrame) -> bytes:
    import gzip
    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


def reproduce(scale: str, out_dir: str | Path | None, dry_run: bool = False, level: float = 0.95,
              score_files=(), progress: bool = True) -> str:
    """`lmreg reproduce B2`: compute (or reuse) the scores, then render; the same at any scale."""
    from lmreg.paper_figures.b2 import render_b2
    out_dir = Path(out_dir or "runs/reproduce-paper")
    if dry_run:
        fits = len(SEEDS) * len(M_VALUES) * len(PREDICTORS)
        return (f"B2: {len(SEEDS)} seeds x M in {list(M_VALUES)}: {fits} predictor fits (about 4 s per seed and M "
                f"for all four on one core of the development machine, so about "
                f"{len(SEEDS) * len(M_VALUES) * 4 / 60:.0f} minutes), no training, no download; scores in "
                f"{out_dir / 'B2' / SCORE_NAME}")
    path = compute(out_dir, score_files=score_files, progress=progress)
    text, paths = render_b2(path, out_dir, level)
    return text + "\n\nwritten: " + ", ".join(str(p) for p in paths)
