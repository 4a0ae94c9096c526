"""Datasets: in-memory uint8 images (idx, CIFAR-10, image folders, sklearn digits) and toy mixtures."""
from __future__ import annotations

import os
from pathlib import Path

from gankit.data import digits as _digits  # noqa: F401  (registers "digits")
from gankit.data import stacked as _stacked  # noqa: F401  (registers "stacked-fmnist")
from gankit.data.base import (
    ImageDataset,
    ToyDistribution,
    check_channels,
    check_resolution,
    check_split,
    random_xflip,
)
from gankit.data.cifar import is_cifar_dir, load_cifar_dir
from gankit.data.folder import load_folder
from gankit.data.idx import load_idx_dir
from gankit.data.toy import gaussian_mixture, load_mixture, save_mixture
from gankit.errors import GankitError
from gankit.registry import DATASETS

__all__ = ["ImageDataset", "ToyDistribution", "gaussian_mixture", "load_dataset", "load_mixture", "random_xflip",
           "save_mixture"]


def load_dataset(
    spec: str | os.PathLike, *, resolution: int | None = None, channels: int | None = None,
    split: str = "train", root: str | None = None, download: bool = True,
) -> ImageDataset | ToyDistribution:
    """A registered dataset by name, a Gaussian-mixture .json file, or a directory: idx files,
    cifar-10-batches-py, or images."""
    check_resolution(resolution)
    check_channels(channels)
    if str(spec) in DATASETS:
        build = DATASETS.get(str(spec))
        return build(resolution=resolution, channels=channels, split=split, root=root, download=download)
    path = Path(spec).expanduser()
    if path.suffix == ".json" and path.is_file():
        return load_mixture(path)
    if not path.is_dir():
        raise GankitError(
            f"unknown dataset {str(spec)!r}: not a registered name ({', '.join(DATASETS.names())}) "
            f"and not a directory; a path to an image folder, a directory of idx files or a "
            f"cifar-10-batches-py directory is accepted too"
        )
    check_split(split, str(path))
    options = {"resolution": resolution, "channels": channels, "split": split}
    for candidate in (path, path / "cifar-10-batches-py"):
        if is_cifar_dir(candidate):
            return load_cifar_dir(candidate, **options)
    if any(p.name.endswith(("-images-idx3-ubyte", "-images-idx3-ubyte.gz")) for p in path.iterdir()):
        return load_idx_dir(path, **options)
    return load_folder(path, **options)
