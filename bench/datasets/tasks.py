"""Image-classification tasks: which dataset, at which resolution, with which
fixed split. The training set is split once, with a seeded permutation, into a
train half and a held-out half (the paper's train_portion 0.5): stand-alone and
super-net training use the train half, landmark batches and validation use the
held-out half, and the test set gives the ground truth.

Tensors stay uint8 on their device; batches are normalised as they are drawn.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from lmreg.core.devices import to_device
from lmreg.core.fileio import atomic_path
from lmreg.core.registry import Registry

from . import augment, readers
from .readers import DataFileError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SPLITS = ("train", "valid", "test")
# Optional fixed evaluation split: the training-set images neither the train nor the
# held-out half uses (45,000 of Fashion-MNIST's 60,000 for the micro task). Only the
# ground-truth builder reads it, to estimate stand-alone accuracy with less noise.
EXTRA = "extra"


@dataclass(frozen=True)
class Dataset:
    """A raw image dataset: where its files are and how to read them.

    ``reader(root)`` gets the dataset's folder and returns uint8 images and integer
    labels as ``{"train_x": (N, C, H, W), "train_y": (N,), "test_x": ..., "test_y": ...}``
    (it raises ``DataFileError`` naming the file when one is missing or malformed).
    """
    name: str
    reader: Callable[[Path], dict[str, np.ndarray]]
    mean: tuple[float, ...]      # per channel, on the 0..1 scale
    std: tuple[float, ...]
    sizes: tuple[int, int]       # (train, test) images as published
    dir_env: str                 # environment variable that points at the folder
    dir_default: str             # folder used when the variable is unset (~ expanded)
    hint: str                    # how to get the files, shown when the folder is missing

    def __post_init__(self):
        if not self.mean or len(self.mean) != len(self.std):
            raise ValueError(f"dataset {self.name!r}: mean and std need one value per channel")

    @property
    def in_channels(self) -> int:
        return len(self.mean)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: str
    resolution: int
    n_train: int | None        # taken from the train half; None: the whole half
    n_valid: int | None        # taken from the held-out half
    n_test: int | None         # first n of the test set; None: all
    split_seed: int = 0
    crop_padding: int = 0      # training augmentation
    hflip: bool = False
    embedded: str | None = None  # uint8 arrays shipped under bench/data (regenerable)
    subset_of: str | None = None  # the first n of each split of another task
    num_classes: int = 10
    extra: bool = False          # has the EXTRA evaluation split
    extra_embedded: str | None = None  # shipped file holding it (else built from the raw data)

    @property
    def in_channels(self) -> int:
        return get_dataset(self.dataset).in_channels


# The registries: name -> record. Fill them only through register_dataset / register_task.
DATASETS: Registry[Dataset] = Registry("dataset")
TASKS: Registry[TaskSpec] = Registry("task")


def register_dataset(dataset: Dataset) -> Dataset:
    """Make a raw dataset known by its name; a name can be registered once."""
    return DATASETS.register(dataset.name, dataset)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make a task known to `load_task` and to configs by its name; its dataset (or the
    task it is a subset of) must be registered first; a name can be registered once."""
    get_dataset(spec.dataset)
    if spec.subset_of is not None:
        get_spec(spec.subset_of)
    return TASKS.register(spec.name, spec)


def get_dataset(name: str) -> Dataset:
    return DATASETS.get(name)


def get_spec(name: str) -> TaskSpec:
    return TASKS.get(name)


# Built-in datasets and tasks: registrations like any other.
register_dataset(Dataset(
    "fashion-mnist", readers.read_fashion_mnist, (0.2860,), (0.3530,), (60_000, 10_000),
    "LMREG_FMNIST_DIR", "/usr/share/datasets/fashion-mnist",
    "install it with `apt-get install dataset-fashion-mnist` (Debian) or point "
    "LMREG_FMNIST_DIR at a folder holding the four IDX files"))
register_dataset(Dataset(
    "cifar10", readers.read_cifar10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), (50_000, 10_000),
    "LMREG_CIFAR10_DIR", "~/data/cifar-10-batches-py",
    "download cifar-10-python.tar.gz, unpack it and point LMREG_CIFAR10_DIR at its "
    "cifar-10-batches-py folder"))

# The embedded default: 16x16 Fashion-MNIST, 10k training images, 5k held out,
# the full 10k test set (small test sets make the ground truth noisy).
register_task(TaskSpec("micro-fmnist", "fashion-mnist", 16, 10_000, 5_000, None,
                       embedded="micro_fmnist16.npz", extra=True,
                       extra_embedded="micro_fmnist16_extra.npz"))
# A slice of the micro task for smoke runs and tests: seconds, not minutes.
register_task(TaskSpec("smoke-fmnist", "fashion-mnist", 16, 1_000, 500, 1_000, subset_of="micro-fmnist"))
register_task(TaskSpec("fmnist", "fashion-mnist", 28, None, None, None, crop_padding=2))
register_task(TaskSpec("cifar10", "cifar10", 32, None, None, None, crop_padding=4, hflip=True))


def split_sizes(spec: TaskSpec) -> dict[str, int]:
    """Images per split of a task built from the published dataset, without loading it
    (for range checks when a config is loaded)."""
    if spec.subset_of:
        parent = split_sizes(get_spec(spec.subset_of))
        limits = {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}
        return {k: min(v, limits[k]) if limits[k] is not None else v for k, v in parent.items()}
    n_train, n_test = get_dataset(spec.dataset).sizes
    halves = {"train": n_train // 2, "valid": n_train - n_train // 2}
    return {"train": min(halves["train"], spec.n_train or halves["train"]),
            "valid": min(halves["valid"], spec.n_valid or halves["valid"]),
            "test": min(n_test, spec.n_test or n_test)}


def raw_dir(dataset: str) -> Path:
    ds = get_dataset(dataset)
    return Path(os.environ.get(ds.dir_env, ds.dir_default)).expanduser()


def read_raw(dataset: str, root: str | Path | None = None) -> dict[str, np.ndarray]:
    ds = get_dataset(dataset)
    root = Path(root) if root is not None else raw_dir(dataset)
    if not root.is_dir():
        raise DataFileError(f"{dataset} not found at {root}: {ds.hint}")
    raw = ds.reader(root)
    _check_raw(ds, root, raw)
    return raw


def _check_raw(ds: Dataset, root: Path, raw: dict[str, np.ndarray]) -> None:
    """A reader's output has the shape the rest of the harness relies on."""
    for split in ("train", "test"):
        x, y = raw.get(f"{split}_x"), raw.get(f"{split}_y")
        if x is None or y is None:
            raise DataFileError(f"{root}: the {ds.name} reader returned no {split}_x/{split}_y arrays")
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != ds.in_channels:
            raise DataFileError(f"{root}: {ds.name} {split}_x must be uint8 (N, {ds.in_channels}, H, W), "
                                f"got {x.dtype} {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise DataFileError(f"{root}: {ds.name} {split}_y must hold one label per image, "
                                f"got shape {y.shape} for {len(x)} images")


def make_arrays(spec: TaskSpec, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Split, subset and resize raw arrays into the task's uint8 arrays."""
    n = len(raw["train_x"])
    perm = np.random.default_rng(spec.split_seed).permutation(n)
    halves = {"train": perm[: n // 2], "valid": perm[n // 2:]}
    out = {}
    for split, limit in (("train", spec.n_train), ("valid", spec.n_valid)):
        idx = halves[split][:limit]
        out[f"{split}_x"], out[f"{split}_y"] = raw["train_x"][idx], raw["train_y"][idx]
    out["test_x"], out["test_y"] = raw["test_x"][: spec.n_test], raw["test_y"][: spec.n_test]
    splits = SPLITS
    if spec.extra:
        unused = np.concatenate([halves["train"][len(out["train_y"]):], halves["valid"][len(out["valid_y"]):]])
        out["extra_x"], out["extra_y"] = raw["train_x"][unused], raw["train_y"][unused]
        splits += (EXTRA,)
    for split in splits:
        out[f"{split}_x"] = _resize(out[f"{split}_x"], spec.resolution)
        out[f"{split}_y"] = out[f"{split}_y"].astype(np.int64)
    return out


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[-1] == size and x.shape[-2] == size:
        return np.ascontiguousarray(x)
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t.round().clamp(0, 255).to(torch.uint8).numpy()


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def _save_npz(path: Path, arrays: dict[str, np.ndarray], spec: TaskSpec) -> str:
    digest = arrays_digest(arrays)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: savez would append .npz to a name
            np.savez_compressed(f, digest=np.array(digest), spec=np.array(repr(asdict(spec))), **arrays)
    return digest


def _is_extra(key: str) -> bool:
    return key.startswith(EXTRA + "_")


def write_embedded(spec: TaskSpec, out: Path, raw_root: str | Path | None = None) -> str:
    """Regenerate a task's embedded file (and its extra-split file, beside it) from the
    raw dataset; returns the main file's digest."""
    arrays = make_arrays(spec, read_raw(spec.dataset, raw_root))
    if spec.extra_embedded:
        _save_npz(Path(out).with_name(spec.extra_embedded), {k: v for k, v in arrays.items() if _is_extra(k)}, spec)
    return _save_npz(Path(out), {k: v for k, v in arrays.items() if not _is_extra(k)}, spec)


def _load_npz(path: Path, spec: TaskSpec) -> dict[str, np.ndarray]:
    restore = (f"restore it with `git checkout -- bench/data/{path.name}` (or reinstall lmreg), or "
               f"rebuild it from the raw {spec.dataset} files with `lmreg data embed {spec.name}` "
               f"({spec.dataset}: {get_dataset(spec.dataset).hint})")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k not in ("digest", "spec")}
            digest = str(f["digest"])
    except Exception as e:  # zipfile, zlib, numpy and OS errors all mean: not the file we shipped
        raise DataFileError(f"{path}: corrupt or truncated ({type(e).__name__}: {e}); {restore}") from None
    if arrays_digest(arrays) != digest:
        raise DataFileError(f"{path}: contents do not match the stored digest (corrupt file); {restore}")
    return arrays


def load_arrays(spec: TaskSpec, extra: bool = False) -> dict[str, np.ndarray]:
    """The task's uint8 arrays; ``extra`` adds the extra evaluation split where the task
    has one (only the ground-truth builder reads it)."""
    if spec.embedded and (DATA_DIR / spec.embedded).is_file():
        arrays = _load_npz(DATA_DIR / spec.embedded, spec)
        if spec.extra and extra:
            extra_path = DATA_DIR / (spec.extra_embedded or "")
            if spec.extra_embedded and extra_path.is_file():
                arrays.update(_load_npz(extra_path, spec))
            else:
                arrays.update({k: v for k, v in make_arrays(spec, read_raw(spec.dataset)).items() if _is_extra(k)})
        return arrays
    if spec.subset_of:
        limits = {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}
        parent = load_arrays(get_spec(spec.subset_of))
        return {k: v[: limits[k.split("_")[0]]] for k, v in parent.items()}
    arrays = make_arrays(spec, read_raw(spec.dataset))
    return arrays if extra else {k: v for k, v in arrays.items() if not _is_extra(k)}


class Task:
    """A task's three splits as uint8 tensors on one device."""

    def __init__(self, spec: TaskSpec, arrays: dict[str, np.ndarray], device: str | torch.device = "cpu"):
        self.spec = spec
        self.device = torch.device(device)
        self.splits = SPLITS + ((EXTRA,) if f"{EXTRA}_y" in arrays else ())
        self.x = {s: torch.from_numpy(arrays[f"{s}_x"]).to(self.device) for s in self.splits}
        self.y = {s: torch.from_numpy(arrays[f"{s}_y"]).to(self.device) for s in self.splits}
        ds = get_dataset(spec.dataset)
        mean, std = ds.mean, ds.std
        self._mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1) * 255
        self._std = torch.tensor(std, device=self.device).view(1, -1, 1, 1) * 255

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x["train"].shape[1:])

    def size(self, split: str) -> int:
        return len(self.y[split])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self._mean) / self._std

    def augment(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Raw (unnormalised) batch -> augmented batch. Padding is black in every channel,
        as torchvision's RandomCrop pads the image before normalisation."""
        if self.spec.crop_padding:
            x = augment.random_crop(x, self.spec.crop_padding, generator, fill=0.0)
        if self.spec.hflip:
            x = augment.random_hflip(x, generator)
        return x

    def batches(self, split: str, batch_size: int, generator: torch.Generator | None = None,
                shuffle: bool = False, train_augment: bool = False,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.size(split)
        order = (to_device(torch.randperm(n, generator=generator), self.device) if shuffle
                 else torch.arange(n, device=self.device))
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start: start + batch_size]
            x = self.x[split][idx]
            if train_augment:
                x = self.augment(x.float(), generator)
            yield self.normalize(x), self.y[split][idx]


def resplit(arrays: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The task's train and held-out images pooled and split again by ``seed``, with
    the same sizes: the official code draws its train/held-out split from the run
    seed. The test split is untouched."""
    pooled_x = np.concatenate([arrays["train_x"], arrays["valid_x"]])
    pooled_y = np.concatenate([arrays["train_y"], arrays["valid_y"]])
    perm = np.random.default_rng(seed).permutation(len(pooled_y))
    n_train = len(arrays["train_y"])
    out = dict(arrays)
    out["train_x"], out["train_y"] = pooled_x[perm[:n_train]], pooled_y[perm[:n_train]]
    out["valid_x"], out["valid_y"] = pooled_x[perm[n_train:]], pooled_y[perm[n_train:]]
    return out


def load_task(name: str, device: str | torch.device = "cpu", split_seed: int | None = None,
              extra: bool = False) -> Task:
    """A task's arrays on a device; ``split_seed`` re-draws the train/held-out split;
    ``extra`` loads the extra evaluation split too (where the task has one)."""
    spec = get_spec(name)
    arrays = load_arrays(spec, extra)
    if split_seed is not None:
        arrays = resplit(arrays, split_seed)
    return Task(spec, arrays, device)
