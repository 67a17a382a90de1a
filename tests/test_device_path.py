"""What keeps the CUDA path free of host syncs, checked where no GPU is (the GPU side
is tests/test_cuda.py)."""

import torch

from lmreg.algorithms.base import algorithm_names, get_algorithm
from lmreg.algorithms.landmark_reg import flat_hinge
from lmreg.core.devices import to_device


def test_flat_hinge_is_read_on_the_cpu():
    assert flat_hinge("hinge", torch.zeros(3))
    assert not flat_hinge("hinge", torch.tensor([0.0, 0.2, 0.0]))
    assert not flat_hinge("softplus", torch.zeros(3))  # only the hinge is flat at zero


def test_flat_hinge_never_reads_a_device_tensor():
    """On any other device the answer is False without reading the terms: a meta tensor
    stands in for a CUDA one, and reading it raises."""
    assert not flat_hinge("hinge", torch.zeros(3, device="meta"))


def test_to_device_keeps_values():
    t = torch.arange(5)
    assert torch.equal(to_device(t, "cpu"), t)


def test_only_declared_algorithms_sync():
    declared = [name for name in algorithm_names() if get_algorithm(name).host_syncs_per_step]
    assert declared == ["gdas"]  # it reads each cell's sampled ops on the host to run only those
