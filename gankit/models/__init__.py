"""Model families (one file each) and the two steps that turn a config into networks.

`resolve_model_options` fills each family's shared fields (`img_resolution`, `img_channels`,
`data_dim`, `c_dim`) from the dataset and writes the full, validated option groups back into
the config, so a run's config.yaml alone rebuilds its networks (`build_models`, `gankit.load`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from gankit.config import TrainConfig, build_options
from gankit.errors import GankitError
from gankit.models import dcgan, ensemble, mlp, progan  # noqa: F401  (register the families)
from gankit.models import stylegan, stylegan2  # noqa: F401  (StyleGAN 1 and 2)
from gankit.models import stylegan3  # noqa: F401  (StyleGAN3 T and R)
from gankit.models import r3gan  # noqa: F401  (R3GAN, 2024)
from gankit.models.base import Discriminator, Generator, ModelFamily, PackedDiscriminator, one_hot
from gankit.registry import MODELS

__all__ = ["Generator", "Discriminator", "ModelFamily", "one_hot", "resolve_model_options", "build_models", "build_generator"]


def _data_fields(data: Any, conditional: bool) -> dict:
    """The options every family takes from its data: shape and number of classes."""
    if conditional and not data.num_classes:
        raise GankitError(f"conditional=true needs labelled data, and {data.name} has no labels")
    c_dim = data.num_classes if conditional else 0
    if data.kind == "vector":
        return {"data_dim": data.dim, "c_dim": c_dim}
    return {"img_resolution": data.resolution, "img_channels": data.channels, "data_dim": 0, "c_dim": c_dim}


def resolve_model_options(cfg: TrainConfig, data: Any) -> TrainConfig:
    """Fill G.*/D.* from the data and the family defaults; check the data suits the family."""
    family: ModelFamily = MODELS.get(cfg.model)
    if data.kind == "vector" and not family.vector_data:
        raise GankitError(f"model {cfg.model!r} makes images; for vector data {data.name!r} use model=mlp (or a toy-* preset)")
    shared = _data_fields(data, cfg.conditional)
    for name, options_cls in (("G", family.G_options), ("D", family.D_options)):
        fields = {f.name for f in dataclasses.fields(options_cls)}
        given = dict(getattr(cfg, name))
        for key, value in shared.items():
            if key in fields:
                given[key] = value
        setattr(cfg, name, dataclasses.asdict(build_options(options_cls, given, name)))
    return cfg


def build_models(cfg: TrainConfig) -> tuple[Generator, Discriminator]:
    """G and D from a resolved config (fresh weights drawn from torch's global RNG)."""
    family: ModelFamily = MODELS.get(cfg.model)
    return build_generator(cfg), build_discriminator(family, build_options(family.D_options, cfg.D, "D"))


def build_discriminator(family: ModelFamily, opts: Any) -> Discriminator:
    """The family's D; with `pack: m > 1` its inner D takes m samples side by side (PackedDiscriminator)."""
    pack = getattr(opts, "pack", 1)
    if pack == 1 or family.packs_itself:
        return family.build_D(opts)
    if pack < 1 or opts.c_dim:
        raise GankitError("D.pack must be an integer >= 1, and packing needs an unconditional model (c_dim 0)")
    widened = {"data_dim": opts.data_dim * pack} if getattr(opts, "data_dim", 0) else {"img_channels": opts.img_channels * pack}
    return PackedDiscriminator(family.build_D(dataclasses.replace(opts, pack=1, **widened)), pack, opts)


def build_generator(cfg: TrainConfig) -> Generator:
    """G alone from a resolved config."""
    family: ModelFamily = MODELS.get(cfg.model)
    return family.build_G(build_options(family.G_options, cfg.G, "G"))
