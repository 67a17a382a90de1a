"""Device names, checked before any work starts."""

from __future__ import annotations

from lmreg.bench.errors import ConfigError

DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(device: str, key: str = "device") -> None:
    """The name must parse (cpu, cuda, cuda:N, mps); availability is checked by
    ``check_available`` when a run is about to start."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        dev = None
    if dev is None or dev.type not in DEVICE_TYPES:
        raise ConfigError(f"unknown {key} {device!r}; use cpu, cuda, cuda:N or mps")


def check_available(device: str, key: str = "device") -> None:
    import torch
    check_device(device, key)
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{key} {device!r} requested but CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{key} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                              f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key} {device!r} requested but MPS is not available here")
