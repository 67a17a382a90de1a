import numpy as np
import pytest
import torch

from lmreg.bench.datasets import augment, readers, tasks
from lmreg.bench.datasets.readers import DataFileError
from tests.fixtures import write_cifar10, write_fashion_mnist, write_idx


def test_idx_reader_gz_and_raw(tmp_path):
    arrays = write_fashion_mnist(tmp_path)
    got = readers.read_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(got["train_x"][:, 0], arrays["train_x"])
    np.testing.assert_array_equal(got["test_x"][:, 0], arrays["test_x"])
    np.testing.assert_array_equal(got["train_y"], arrays["train_y"])
    assert got["train_x"].shape == (40, 1, 28, 28)


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 5, 5), np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataFileError, match="truncated"):
        readers.read_idx(path)
    other = tmp_path / "notes.txt"
    other.write_text("hello world")
    with pytest.raises(DataFileError, match="not an IDX file"):
        readers.read_idx(other)
    with pytest.raises(DataFileError, match="no such file"):
        readers.read_idx(tmp_path / "missing")


def test_cifar10_reader(tmp_path):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    got = readers.read_cifar10(tmp_path / "cifar-10-batches-py")
    for key in arrays:
        np.testing.assert_array_equal(got[key], arrays[key])
    assert got["train_x"].shape == (30, 3, 32, 32)


def test_cifar10_reader_errors(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    write_cifar10(root)
    (root / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataFileError, match="data_batch_3: not a CIFAR-10 python batch"):
        readers.read_cifar10(root)
    (root / "data_batch_3").unlink()
    with pytest.raises(DataFileError, match="data_batch_3: no such file"):
        readers.read_cifar10(root)
    with pytest.raises(DataFileError, match="CIFAR-10 folder not found"):
        readers.read_cifar10(tmp_path / "nowhere")


def test_missing_dataset_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREG_FMNIST_DIR", str(tmp_path / "none"))
    with pytest.raises(DataFileError, match="apt-get install dataset-fashion-mnist"):
        tasks.read_raw("fashion-mnist")


def test_task_split_is_fixed_and_disjoint(tmp_path):
    """Train and held-out images are distinct training-set images (found by their raw
    pixels at full resolution), with their own labels, never test images; the same spec
    gives the same split, another split seed another one, and a smaller resolution
    resizes the same images."""
    import dataclasses
    raw = readers.read_fashion_mnist(_fmnist(tmp_path))
    spec = tasks.TaskSpec("t", "fashion-mnist", 28, 10, 10, None)
    a, b = tasks.make_arrays(spec, raw), tasks.make_arrays(spec, raw)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    index = {img.tobytes(): i for i, img in enumerate(raw["train_x"])}
    assert len(index) == 40  # the fixture's images are all different
    picked = {}
    for split in ("train", "valid"):
        assert a[f"{split}_x"].shape == (10, 1, 28, 28)
        picked[split] = [index[img.tobytes()] for img in a[f"{split}_x"]]  # KeyError: not a training image
        assert len(set(picked[split])) == 10
        np.testing.assert_array_equal(a[f"{split}_y"], raw["train_y"][picked[split]])
    assert not set(picked["train"]) & set(picked["valid"])
    np.testing.assert_array_equal(a["test_x"], raw["test_x"])
    other = tasks.make_arrays(dataclasses.replace(spec, split_seed=1), raw)
    assert [index[img.tobytes()] for img in other["valid_x"]] != picked["valid"]
    small = tasks.make_arrays(dataclasses.replace(spec, resolution=16), raw)
    for split in ("train", "valid"):
        assert small[f"{split}_x"].shape == (10, 1, 16, 16)
        np.testing.assert_array_equal(small[f"{split}_x"], tasks._resize(raw["train_x"][picked[split]], 16))


def _fmnist(tmp_path):
    write_fashion_mnist(tmp_path / "fm")
    return tmp_path / "fm"


def test_embedded_micro_task_matches_its_recipe():
    """The shipped uint8 file is what `lmreg data embed micro-fmnist` makes from Debian's files."""
    spec = tasks.get_spec("micro-fmnist")
    shipped = tasks.load_arrays(spec, extra=True)
    assert shipped["train_x"].shape == (10_000, 1, 16, 16)
    assert shipped["test_x"].shape == (10_000, 1, 16, 16)
    if not tasks.raw_dir("fashion-mnist").is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    raw = tasks.read_raw("fashion-mnist")
    rebuilt = tasks.make_arrays(spec, raw)
    assert tasks.arrays_digest(rebuilt) == tasks.arrays_digest(shipped)
    # the extra evaluation split is exactly the rest of the 60,000 training images
    assert shipped["extra_x"].shape == (45_000, 1, 16, 16)
    used = np.concatenate([shipped["train_y"], shipped["valid_y"], shipped["extra_y"]])
    assert np.array_equal(np.bincount(used, minlength=10), np.bincount(raw["train_y"], minlength=10))


def test_extra_split_is_disjoint_and_fixed(tmp_path):
    """On a small IDX fixture: train, held-out and extra partition the training images
    (checked on the raw pixels, resolution unchanged), and a run-seed resplit leaves
    the extra split alone."""
    import dataclasses
    spec = dataclasses.replace(tasks.get_spec("micro-fmnist"), n_train=8, n_valid=4, resolution=28,
                               embedded=None, extra_embedded=None)
    raw = readers.read_fashion_mnist(_fmnist(tmp_path))
    arrays = tasks.make_arrays(spec, raw)
    rows = {a.tobytes() for a in raw["train_x"]}
    parts = [arrays[f"{s}_x"] for s in ("train", "valid", "extra")]
    assert sum(len(p) for p in parts) == len(raw["train_x"])
    seen = [a.tobytes() for p in parts for a in p]
    assert len(set(seen)) == len(seen) and set(seen) <= rows
    again = tasks.resplit(arrays, 7)
    assert np.array_equal(again["extra_x"], arrays["extra_x"])
    # only the ground-truth builder asks for it
    assert "extra" not in tasks.load_task("micro-fmnist").splits
    assert tasks.load_task("micro-fmnist", extra=True).size("extra") == 45_000


def test_batches_cover_split_and_normalise():
    task = tasks.load_task("smoke-fmnist")
    seen = 0
    for x, y in task.batches("valid", 128):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 16, 16)
        seen += len(y)
    assert seen == task.size("valid")
    x = task.normalize(task.x["train"])
    assert abs(x.mean().item()) < 0.2 and 0.8 < x.std().item() < 1.2
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    (xa, ya), (xb, yb) = next(task.batches("train", 64, g1, shuffle=True)), next(task.batches("train", 64, g2, shuffle=True))
    assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_random_crop_and_flip():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    out = augment.random_crop(x, 1, g, fill=-1.0)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
    for i in range(2):  # each output is some 4x4 window of its padded input
        windows = [padded[i, :, r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)
    flipped = augment.random_hflip(x, torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))
    assert torch.equal(augment.random_crop(x, 0), x)


def test_cifar_crop_padding_is_black_in_every_channel():
    """torchvision pads the raw image with 0 before normalising, so a padded pixel
    is (0 - mean_c) / std_c in channel c (CIFAR-10's published mean and std)."""
    from lmreg.bench.datasets.tasks import Task, get_spec
    spec = get_spec("cifar10")
    white = np.full((64, 3, 32, 32), 255, np.uint8)
    labels = np.zeros(64, np.int64)
    task = Task(spec, {f"{s}_{k}": (white if k == "x" else labels) for s in ("train", "valid", "test")
                       for k in ("x", "y")})
    x, _ = next(task.batches("train", 64, torch.Generator().manual_seed(0), shuffle=True, train_augment=True))
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    black = torch.tensor([(0 - m) / s for m, s in zip(mean, std)]).view(1, 3, 1, 1)
    white_n = torch.tensor([(1 - m) / s for m, s in zip(mean, std)]).view(1, 3, 1, 1)
    is_black = torch.isclose(x, black.expand_as(x), atol=1e-5)
    is_white = torch.isclose(x, white_n.expand_as(x), atol=1e-5)
    assert bool((is_black | is_white).all())
    assert bool(is_black.any())  # some crops were shifted into the padding
    assert bool((is_black.all(1) | is_white.all(1)).all())  # a pixel is black in all channels or none


# A dataset and task registered from outside the package -------------------------
def _read_toy(root):
    """The toy format: four .npy files, images as (N, 8, 8) uint8."""
    out = {}
    for split in ("train", "test"):
        out[f"{split}_x"] = np.load(root / f"{split}_x.npy")[:, None]  # add the channel axis
        out[f"{split}_y"] = np.load(root / f"{split}_y.npy")
    return out


def _write_toy(root, n_train=40, n_test=20, classes=4):
    """Digit-like 8x8 images: class k is a bright bar in row 2k, plus noise."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 60, (n, 8, 8))
        for i, k in enumerate(y):
            x[i, 2 * k] += 180
        np.save(root / f"{split}_x.npy", x.astype(np.uint8))
        np.save(root / f"{split}_y.npy", y.astype(np.int64))
    return root


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(tasks, "DATASETS", tasks.DATASETS.copy())
    monkeypatch.setattr(tasks, "TASKS", tasks.TASKS.copy())


def test_task_registered_from_outside_runs_end_to_end(tmp_path, monkeypatch, clean_registry):
    import random

    from lmreg.spaces.base import NetSpec, get_space
    toy = tasks.register_dataset(tasks.Dataset(
        "toy-digits", _read_toy, mean=(0.25,), std=(0.3,), sizes=(40, 20), dir_env="TOY_DIGITS_DIR",
        dir_default="~/nowhere/toy-digits", hint="run _write_toy"))
    tasks.register_task(tasks.TaskSpec("toy", "toy-digits", resolution=8, n_train=None, n_valid=12,
                                       n_test=None, num_classes=4))
    # missing folder: the dataset's own hint
    monkeypatch.setenv("TOY_DIGITS_DIR", str(tmp_path / "none"))
    with pytest.raises(DataFileError, match="toy-digits not found at .*: run _write_toy"):
        tasks.load_task("toy")
    monkeypatch.setenv("TOY_DIGITS_DIR", str(_write_toy(tmp_path / "toy")))
    task = tasks.load_task("toy")
    assert task.spec.in_channels == toy.in_channels == 1
    assert {s: task.size(s) for s in tasks.SPLITS} == tasks.split_sizes(task.spec) == \
        {"train": 20, "valid": 12, "test": 20}
    x, y = next(task.batches("train", 8))
    assert x.shape == (8, 1, 8, 8) and x.dtype == torch.float32
    space = get_space("nb201")
    net = space.build_supernet(NetSpec(C=4), task.spec.in_channels, task.spec.num_classes)
    logits = net(x, space.sample_path(random.Random(0)))
    logits = logits[-1] if isinstance(logits, tuple) else logits
    assert logits.shape == (8, 4) and torch.isfinite(logits).all()


def test_registry_rejects_duplicates_and_unknown_names(clean_registry):
    fm = tasks.get_dataset("fashion-mnist")
    with pytest.raises(ValueError, match="dataset 'fashion-mnist' is already registered"):
        tasks.register_dataset(fm)
    with pytest.raises(ValueError, match="task 'micro-fmnist' is already registered"):
        tasks.register_task(tasks.get_spec("micro-fmnist"))
    with pytest.raises(KeyError, match="unknown dataset 'svhn'; valid datasets: fashion-mnist, cifar10"):
        tasks.register_task(tasks.TaskSpec("s", "svhn", 32, None, None, None))
    with pytest.raises(KeyError, match="unknown task 'nope'; valid tasks: "):
        tasks.register_task(tasks.TaskSpec("s", "cifar10", 32, None, None, None, subset_of="nope"))
    assert "s" not in tasks.TASKS


def test_reader_output_is_checked(tmp_path, clean_registry):
    arrays = {}
    tasks.register_dataset(tasks.Dataset("bad", lambda root: arrays, (0.5,), (0.5,), (2, 2),
                                         "LMREG_TEST_BAD_DIR", str(tmp_path), "n/a"))
    with pytest.raises(DataFileError, match="the bad reader returned no train_x/train_y arrays"):
        tasks.read_raw("bad")
    arrays.update({f"{s}_{k}": np.zeros((2, 8, 8) if k == "x" else 2, np.uint8) for s in ("train", "test")
                   for k in "xy"})
    with pytest.raises(DataFileError, match=r"bad train_x must be uint8 \(N, 1, H, W\)"):
        tasks.read_raw("bad")
