"""gankit: generative adversarial networks from Goodfellow 2014 to StyleGAN3.

    import gankit
    run = gankit.train("dcgan", out="runs/dcgan", overrides=["steps=2000"])
    G = gankit.load("runs/dcgan")          # G_ema when the run has one, else G; eval mode
    images = G.sample(16, seed=0)          # [16, C, H, W] in [-1, 1]
"""
from __future__ import annotations

from pathlib import Path

from gankit.version import __version__

__all__ = ["__version__", "train", "load", "load_config", "project"]


def train(config="dcgan", out: str | Path | None = None, overrides: list[str] | None = None, **kwargs):
    """Train a preset name, YAML path, dict or TrainConfig (plus `key=value` overrides); returns the Trainer."""
    from gankit.training import train as _train

    return _train(config, out, overrides, **kwargs)


def load_config(spec="dcgan", overrides: list[str] | None = None):
    """Resolve a preset/YAML/dict plus overrides into a validated TrainConfig."""
    from gankit.config import load_config as _load_config

    return _load_config(spec, overrides)


def load(path: str | Path, device: str = "cpu", which: str | None = None):
    """One network of a run or checkpoint folder in eval mode: `which` = "G_ema" (default when present), "G" or "D"."""
    from gankit.runs.load import load as _load

    return _load(path, device, which)


def project(G, images, space: str | None = None, steps: int = 1000, seed: int = 0, **kwargs):
    """Project images [N, C, H, W] in [-1, 1] into G's latent space (w/w+ for style-based G, else z); one Projection each."""
    from gankit.projection import project as _project

    return _project(G, images, space, steps, seed, **kwargs)
