"""gankit: generative adversarial networks from Goodfellow 2014 to StyleGAN3.

    import gankit
    run = gankit.train("dcgan", out="runs/dcgan", steps=2000)   # or overrides=["steps=2000"]
    G = gankit.load("runs/dcgan")          # G_ema when the run has one, else G; eval mode
    images = G.sample(16, seed=0)          # [16, C, H, W] in [-1, 1]
"""
from __future__ import annotations

from pathlib import Path

from gankit.version import __version__

__all__ = ["__version__", "train", "load", "load_config", "project"]


def train(config="dcgan", out: str | Path | None = None, overrides: list[str] | str | None = None, **kwargs):
    """Train a preset name, YAML path, dict or TrainConfig into run folder `out` (default runs/<preset>-<time>,
    announced); returns the Trainer.

    Overrides are `key=value` strings (a list, or one string: "steps=5 batch_size=8") and/or keywords:
    `gankit.train("dcgan", steps=5, optim={"G": {"lr": 1e-4}})`. The keywords `hooks`, `rank`, `world`
    and `data` given a Dataset object go to the Trainer.
    """
    import shlex

    from gankit.errors import GankitError
    from gankit.runs.checkpoint import list_checkpoints
    from gankit.runs.outputs import check_new_run_dir, default_run_dir
    from gankit.training import train as _train

    if isinstance(overrides, str):
        overrides = shlex.split(overrides)
    overrides = list(overrides or [])
    trainer_kwargs = {k: kwargs.pop(k) for k in ("hooks", "rank", "world") if k in kwargs}
    if "data" in kwargs and not isinstance(kwargs["data"], (str, Path)):
        trainer_kwargs["data"] = kwargs.pop("data")
    overrides += [f"{key}={_override_value(value)}" for key, value in _dotted(kwargs)]
    if out is None:
        out = default_run_dir(config)
        print(f"gankit: training into {out}")
    check_new_run_dir(out, "out=")
    if list_checkpoints(out):
        raise GankitError(f"{out} already holds a run; continue it with `gankit train --resume {out}` or choose another out=")
    return _train(config, out, overrides, **trainer_kwargs)


def _dotted(values: dict, prefix: str = ""):
    """{"optim": {"G": {"lr": 1e-4}}} -> ("optim.G.lr", 1e-4), ...: nested dicts as dotted keys."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _override_value(value) -> str:
    """A Python value as the text of a `key=value` override (lists and numbers as JSON, strings as they are)."""
    import json

    return str(value) if isinstance(value, (str, Path)) else json.dumps(value)


def load_config(spec="dcgan", overrides: list[str] | None = None):
    """Resolve a preset/YAML/dict plus overrides into a validated TrainConfig."""
    from gankit.config import load_config as _load_config

    return _load_config(spec, overrides)


def load(path: str | Path, device: str = "cpu", which: str | None = None):
    """One network of a run, checkpoint folder or NVIDIA snapshot (.pkl) in eval mode: `which` = "G_ema" (default when present), "G" or "D"."""
    from gankit.runs.load import load as _load

    return _load(path, device, which)


def project(G, images, space: str | None = None, steps: int = 1000, seed: int = 0, **kwargs):
    """Project images [N, C, H, W] in [-1, 1] into G's latent space (w/w+ for style-based G, else z); one Projection each."""
    from gankit.projection import project as _project

    return _project(G, images, space, steps, seed, **kwargs)
