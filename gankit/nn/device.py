"""The torch device of a `device` option: auto, cpu, cuda or cuda:N (training, evaluation and loading share it)."""
from __future__ import annotations

import torch

from gankit.errors import GankitError


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GankitError(f"config key 'device': unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GankitError("device=cuda but no CUDA GPU is available; use device=cpu")
    return device
