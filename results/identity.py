"""When two runs count as the same configuration: one definition for the run
folder's hash, the grouping of runs over seeds, and the regression gate.

Two runs have the same *setting* when their resolved configs agree on every key
except those that do not change what is computed: the seed (it varies inside a
group), the device and the number of threads (they change float paths only). A key
added after runs were published is left out while it holds the value every earlier
run had (`ADDED_KEYS`), so a new option renames no finished run."""

from __future__ import annotations

import hashlib
import json

import numpy as np

NOT_SETTING = ("seed", "device", "threads")
# key -> the behaviour of every run made before the key existed
ADDED_KEYS = {"train.path_sampler": "space"}


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested config dict -> {"train.epochs": 16, ...}."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def comparable(config: dict) -> dict:
    """The flattened config without the added keys that hold their old behaviour, so that
    a config written before a key existed compares equal to today's of the same run."""
    return {k: v for k, v in flatten(config).items() if not (k in ADDED_KEYS and v == ADDED_KEYS[k])}


def setting(config: dict) -> dict:
    """The flattened config without the keys that do not change what a run computes."""
    return {k: v for k, v in comparable(config).items() if k not in NOT_SETTING}


def setting_hash(config: dict, without: tuple[str, ...] = ()) -> str:
    """8 hex digits of the setting, leaving out `without` too (e.g. use_landmarks, so
    both variants of a setting share the hash)."""
    data = {k: v for k, v in setting(config).items() if k not in without}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def ground_truth_digest(gt) -> str:
    """16 hex digits naming a ground truth exactly: the architecture keys and their
    float64 values (a pandas Series). A rebuilt table changes the landmarks, the pool and
    every metric, while the config stays the same; records and baselines carry this
    digest so that runs scored against different tables are never mixed."""
    gt = gt.sort_index()
    h = hashlib.sha256("\n".join(map(str, gt.index)).encode())
    h.update(np.ascontiguousarray(gt.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()[:16]
