"""`gankit.load`: one network of a run folder, checkpoint folder or NVIDIA snapshot (.pkl), in eval mode."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gankit.config import build_options
from gankit.errors import GankitError
from gankit.models import build_discriminator, build_generator
from gankit.models.base import ModelFamily
from gankit.registry import MODELS
from gankit.runs.checkpoint import load_checkpoint, load_model
from gankit.runs.nvidia import is_snapshot_path

NETWORKS = ("G_ema", "G", "D")


def load(path: str | Path, device: str = "cpu", which: str | None = None) -> nn.Module:
    """`which` network ("G_ema", "G" or "D") of a run, checkpoint folder or NVIDIA snapshot; default G_ema when present, else G.

    A snapshot is read without executing anything from it (gankit.runs.nvidia).
    """
    if which is not None and which not in NETWORKS:
        raise GankitError(f"which={which!r} is not a network of a run; valid: {', '.join(NETWORKS)}")
    if is_snapshot_path(path):
        from gankit.runs.nvidia_import import load_snapshot

        return load_snapshot(path, device, which)
    checkpoint = load_checkpoint(path)
    cfg = checkpoint.config()
    prefixes = {k.split(".", 1)[0] for k in checkpoint.tensors}
    which = which or ("G_ema" if "G_ema" in prefixes else "G")
    if which not in prefixes:
        raise GankitError(f"checkpoint {checkpoint.path} has no {which}; it has {', '.join(sorted(prefixes))}")
    if which == "D":
        family: ModelFamily = MODELS.get(cfg.model)
        network = build_discriminator(family, build_options(family.D_options, cfg.D, "D"))
    else:
        network = build_generator(cfg)
    load_model(network, checkpoint.tensors, which, checkpoint.path)
    network.config = cfg
    return network.to(device).eval().requires_grad_(False)


def network_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every network's tensors ('G.…', 'D.…', 'G_ema.…') of a run, checkpoint folder or snapshot (for `init=`)."""
    if is_snapshot_path(path):
        from gankit.runs.nvidia_import import snapshot_tensors

        return snapshot_tensors(path)
    return load_checkpoint(path).tensors


def init_weights(models: dict[str, nn.Module], path: str | Path) -> None:
    """Copy the G, D and G_ema weights of a run or snapshot into `models` (G_ema falls back to G).

    A missing or differently shaped tensor is one line naming the first such tensor.
    """
    tensors = network_tensors(path)
    prefixes = {k.split(".", 1)[0] for k in tensors}
    for name, model in models.items():
        source = name if name in prefixes else ("G" if name == "G_ema" and "G" in prefixes else None)
        if source is None:
            raise GankitError(f"init={path} has no {name} weights (it has {', '.join(sorted(prefixes))})")
        rebuilt = {n for n, _ in model.named_buffers()} - set(model.state_dict())
        theirs = {k[len(source) + 1:]: v for k, v in tensors.items() if k.startswith(source + ".")}
        ours = model.state_dict()
        for key, value in ours.items():
            if key not in theirs:
                raise GankitError(f"init={path} does not fit this model: it has no {source}.{key}")
            if tuple(theirs[key].shape) != tuple(value.shape):
                raise GankitError(f"init={path} does not fit this model: {source}.{key} is {list(theirs[key].shape)} "
                                  f"there and {list(value.shape)} here (match resolution, channels, classes and widths)")
        extra = sorted(set(theirs) - set(ours) - rebuilt)
        if extra:
            raise GankitError(f"init={path} does not fit this model: {source}.{extra[0]} has no place here")
        load_model(model, {f"{source}.{k}": v for k, v in theirs.items()}, source, Path(path))
