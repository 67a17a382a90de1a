"""Device names, checked before any work starts."""

from __future__ import annotations

from lmreg.core.errors import ConfigError

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


def to_device(t, device):
    """A host tensor on ``device``. To CUDA it goes from pinned memory without
    blocking: a pageable host-to-device copy waits for the device (a host sync),
    which would stall every step that copies its random draws."""
    import torch
    device = torch.device(device)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def count_host_syncs(fn) -> int:
    """How many synchronising CUDA calls ``fn()`` makes (torch's sync-debug warnings)."""
    import warnings
    import torch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)
