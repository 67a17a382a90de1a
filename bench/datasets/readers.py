"""Readers for raw image-dataset files, without torchvision: IDX (MNIST and
Fashion-MNIST, optionally gzipped) and CIFAR-10's python pickle batches.
Both return numpy uint8 arrays; errors name the file and what is wrong."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from lmreg.core.errors import UserError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


class DataFileError(UserError, ValueError):
    """A dataset file that is missing, truncated or not in the expected format."""


def _read_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise DataFileError(f"{path}: cannot read ({e})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (``.gz`` or raw) as an array of its declared shape and type."""
    data = _read_bytes(Path(path))
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFileError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES or ndim == 0:
        raise DataFileError(f"{path}: not an IDX file (type code {code:#x}, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataFileError(f"{path}: IDX body holds {len(data) - header} bytes, header {shape} "
                            f"needs {expected} (truncated or corrupt)")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``cifar-10-batches-py`` batch: images (n, 3, 32, 32) uint8 and labels (n,) int64."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        batch = pickle.loads(data, encoding="bytes")
    except Exception as e:  # pickle raises many types on garbage
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise DataFileError(f"{path}: not a CIFAR-10 python batch (top level is {type(batch).__name__})")
    images = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if images is None or labels is None:
        raise DataFileError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels'")
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 2 or images.shape[1] != 3 * 32 * 32 or len(images) != len(labels):
        raise DataFileError(f"{path}: CIFAR-10 batch has data {images.shape} and {len(labels)} labels; "
                            "expected (n, 3072) and n labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(f"{path}: CIFAR-10 labels outside 0..9")
    return images.reshape(-1, 3, 32, 32), labels


def read_cifar10(root: str | Path) -> dict[str, np.ndarray]:
    """The ``cifar-10-batches-py`` folder as train/test images and labels."""
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: CIFAR-10 folder not found (expected cifar-10-batches-py with "
                            "data_batch_1..5 and test_batch)")
    out = {}
    for split, names in (("train", CIFAR10_TRAIN), ("test", CIFAR10_TEST)):
        parts = [read_cifar10_batch(root / n) for n in names]
        out[f"{split}_x"] = np.concatenate([p[0] for p in parts])
        out[f"{split}_y"] = np.concatenate([p[1] for p in parts])
    return out


def read_fashion_mnist(root: str | Path) -> dict[str, np.ndarray]:
    root = Path(root)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataFileError(f"{root}: {prefix} images {x.shape} do not match labels {y.shape}")
        out[f"{split}_x"], out[f"{split}_y"] = x[:, None], y
    return out


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise DataFileError(f"{root}: missing {stem}(.gz)")
