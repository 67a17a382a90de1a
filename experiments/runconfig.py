"""The configuration of one super-net run: dataclass defaults (the micro preset),
overridden by a TOML preset, then by `--set section.key=value`; frozen and
written into the run record."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmreg.algorithms.base import NoOptions, TrainConfig, get_algorithm
from lmreg.algorithms.landmark_reg import LandmarkConfig
from lmreg.algorithms.search import SearchConfig
from lmreg.experiments.checks import check_config
from lmreg.experiments.config import ConfigError, override
from lmreg.results.identity import comparable, flatten, setting, setting_hash
from lmreg.spaces.base import NetSpec

PRESET_DIR = Path(__file__).resolve().parent / "presets"
DRAWS = ("run_seed", "fixed")


@dataclass(frozen=True)
class EvalConfig:
    pool_size: int = 100          # non-landmark architectures whose ranking is measured
    pool_seed: int = 0            # used when RunConfig.draws = "fixed"
    every: int = 4                # evaluate the pool every k epochs (and at the end)
    split: str = "test"
    n_images: int | None = 2000   # first n images of the split; None: all
    batch_size: int = 256         # official evaluate_batch_size (batch-statistics BN: it matters)
    bn_mode: str = "batch"        # batch | recalibrate | running
    recal_batches: int = 10

    def __post_init__(self):
        from lmreg.algorithms.scoring import BN_MODES
        from lmreg.bench.datasets.tasks import SPLITS
        if self.bn_mode not in BN_MODES:
            raise ConfigError(f"unknown eval.bn_mode {self.bn_mode!r}; valid modes: {', '.join(BN_MODES)}")
        if self.split not in SPLITS:
            raise ConfigError(f"unknown eval.split {self.split!r}; valid splits: {', '.join(SPLITS)}")
        for key in ("pool_size", "every", "batch_size", "recal_batches"):
            if getattr(self, key) < 1:
                raise ConfigError(f"eval.{key} must be >= 1, got {getattr(self, key)}")


@dataclass(frozen=True)
class RunConfig:
    """One super-net run: top-level keys, then one section per part of the run."""
    name: str = "micro"           # the run folder's first part (run_name)
    benchmark: str = "micro-fmnist-nb201"  # the ground-truth table the rankings are measured against
    gt_metric: str = "test_acc"   # the table's metric that is the ground truth
    task: str = "micro-fmnist"    # the data the super-net trains and is scored on
    space: str = "nb201"          # spaces.base.SPACES; must be the benchmark's space
    algorithm: str = "spos"       # algorithms.base.ALGORITHMS
    seed: int = 0                 # the run seed: paths, data order, initial weights (and see draws)
    device: str = "cpu"           # torch device
    threads: int = 1              # torch.set_num_threads of the run's process
    use_landmarks: bool = True    # the landmark regulariser on (true) or the baseline (false)
    # "run_seed" (official): landmarks, evaluation pool and the train/held-out split
    # are drawn from the run seed; "fixed": from landmarks.selection_seed,
    # eval.pool_seed and the task's shipped split, the same for every seed.
    # Either way both arms of a seed share all three, so differences stay paired.
    draws: str = "run_seed"
    net: NetSpec = field(default_factory=NetSpec)
    train: TrainConfig = field(default_factory=TrainConfig)
    algo: object = field(default_factory=NoOptions)  # the algorithm's own options (its options_type)
    landmarks: LandmarkConfig = field(default_factory=LandmarkConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    search: SearchConfig = field(default_factory=SearchConfig)  # the search after training

    def __post_init__(self):
        if self.draws not in DRAWS:
            raise ConfigError(f"unknown draws {self.draws!r}; valid: {', '.join(DRAWS)}")


def draw_seeds(cfg: RunConfig) -> dict[str, int | None]:
    """The seeds of the landmark draw, the pool draw and the data split (None: the
    task's shipped split). Derived from the run seed so that no stream repeats another."""
    if cfg.draws == "fixed":
        return {"landmarks": cfg.landmarks.selection_seed, "pool": cfg.eval.pool_seed, "split": None}
    return {purpose: int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
            for k, purpose in enumerate(("landmarks", "pool", "split"), start=1)}


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _assignments(table: dict) -> list[str]:
    """A nested config table as `key.sub=value` overrides (None written as `none`)."""
    return [f"{k}={'none' if v is None else v}" for k, v in flatten(table).items()]


def _with_algorithm(cfg: RunConfig, assignments: list[str]) -> RunConfig:
    """The `algo` section takes the options type of the algorithm the assignments end
    with, so that `algo.*` keys are checked against the right algorithm."""
    name = cfg.algorithm
    for item in assignments:
        key, _, value = item.partition("=")
        if key == "algorithm":
            name = value
    options = get_algorithm(name).options_type
    return cfg if type(cfg.algo) is options else dataclasses.replace(cfg, algorithm=name, algo=options())


def _preset_path(preset: str) -> Path:
    path = Path(preset) if preset.endswith(".toml") else PRESET_DIR / f"{preset}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(presets())} "
                          "(or a path to a .toml file)")
    return path


def _merged(base: dict, child: dict) -> dict:
    """`base` with `child`'s keys set over it, section by section."""
    out = dict(base)
    for key, value in child.items():
        both_tables = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both_tables else value
    return out


def preset_tables(preset: str) -> list[tuple[str, dict]]:
    """A preset's chain, the preset first, then its base, its base's base, ...: each with
    the settings its own file lists. A preset file may say `base = "NAME"`, a preset in
    experiments/presets, and list only what differs from it."""
    chain: list[tuple[str, dict]] = []
    name, path = preset, _preset_path(preset)
    while True:
        try:
            table = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML ({e})") from None
        base = table.pop("base", None)
        chain.append((name, table))
        if base is None:
            return chain
        if base not in presets():
            raise ConfigError(f"{path}: unknown base preset {base!r}; valid presets: {', '.join(presets())}")
        if base in [n for n, _ in chain]:
            raise ConfigError(f"{path}: base presets form a cycle: {' -> '.join([n for n, _ in chain] + [base])}")
        name, path = base, PRESET_DIR / f"{base}.toml"


def resolve_preset(preset: str) -> tuple[dict, list[str]]:
    """A preset's settings with its bases applied (the nearest file wins, section by
    section), and the names of its chain."""
    chain = preset_tables(preset)
    resolved: dict = {}
    for _, table in reversed(chain):
        resolved = _merged(resolved, table)
    return resolved, [name for name, _ in chain]


def load_config(preset: str | None = None, overrides: list[str] = ()) -> RunConfig:
    cfg = RunConfig()
    table = resolve_preset(preset)[0] if preset else {}
    try:
        cfg = _with_algorithm(cfg, _assignments(table) + list(overrides))
        cfg = override(cfg, _assignments(table))
        cfg = override(cfg, list(overrides))
        check_config(cfg)
        return cfg
    except (ValueError, KeyError) as e:  # a sub-config's own validation
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(str(e.args[0] if e.args else e)) from None


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def _as_dict(c: RunConfig | dict) -> dict:
    return to_dict(c) if isinstance(c, RunConfig) else c


def same_setting(a: RunConfig | dict, b: RunConfig | dict) -> bool:
    """Whether two configs compute the same run (results.identity)."""
    return setting(_as_dict(a)) == setting(_as_dict(b))


def same_config(a: RunConfig | dict, b: RunConfig | dict) -> bool:
    """Whether two configs agree on every key, seed, device and threads included (keys added
    since one was written compared at their old behaviour: results.identity.ADDED_KEYS)."""
    return comparable(_as_dict(a)) == comparable(_as_dict(b))


def from_dict(data: dict) -> RunConfig:
    return load_config(None, _assignments(data))


def config_hash(cfg: RunConfig) -> str:
    """8 hex digits of the run's setting (results.identity: seed, device and threads
    left out) without the variant, so the seeds and both variants of one setting share it."""
    return setting_hash(to_dict(cfg), without=("use_landmarks",))


def run_name(cfg: RunConfig) -> str:
    """The run folder: readable parts plus the config hash, so two configs never share
    a folder (e.g. `--set task=...` on the micro preset still gets its own)."""
    return f"{cfg.name}-{'landmarks' if cfg.use_landmarks else 'baseline'}-seed{cfg.seed}-{config_hash(cfg)}"


def describe_setting(flat: dict) -> tuple[str | None, list[str]]:
    """The preset named by a flattened config's `name` and the key=value overrides
    that turn that preset into it (for baselines, so a reader can rerun a variant)."""
    name = flat.get("name")
    preset = name if name in presets() else None
    ref = flatten(to_dict(load_config(preset)))
    changes = sorted(_assignments({k: v for k, v in flat.items() if k != "seed" and ref.get(k) != v}))
    return preset, changes
