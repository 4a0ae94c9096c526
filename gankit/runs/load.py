"""`gankit.load`: one network of a run folder or checkpoint folder, in eval mode."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from gankit.config import build_options
from gankit.errors import GankitError
from gankit.models import build_discriminator, build_generator
from gankit.models.base import ModelFamily
from gankit.registry import MODELS
from gankit.runs.checkpoint import load_checkpoint, load_model

NETWORKS = ("G_ema", "G", "D")


def load(path: str | Path, device: str = "cpu", which: str | None = None) -> nn.Module:
    """`which` network ("G_ema", "G" or "D") of a run or checkpoint folder; default G_ema when present, else G."""
    if which is not None and which not in NETWORKS:
        raise GankitError(f"which={which!r} is not a network of a run; valid: {', '.join(NETWORKS)}")
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
