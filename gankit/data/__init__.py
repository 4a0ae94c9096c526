"""Datasets: in-memory uint8 images (idx, CIFAR-10, image folders and zips, sklearn digits) and toy mixtures."""
from __future__ import annotations

import os
import sys
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
from gankit.data.archive import load_zip
from gankit.data.cifar import is_cifar_dir, load_cifar_dir
from gankit.data.folder import LABELS_FILE, load_folder
from gankit.data.idx import load_idx_dir
from gankit.data.toy import gaussian_mixture, load_mixture, save_mixture
from gankit.errors import GankitError
from gankit.registry import DATASETS

__all__ = ["ImageDataset", "ToyDistribution", "gaussian_mixture", "load_dataset", "load_mixture", "random_xflip",
           "resolve_data_spec", "save_mixture"]


def load_dataset(
    spec: str | os.PathLike, *, resolution: int | None = None, channels: int | None = None,
    split: str = "train", root: str | None = None, download: bool = True, skip_bad: bool = False,
) -> ImageDataset | ToyDistribution:
    """A registered dataset by name, a Gaussian-mixture .json file, a .zip of images, or a directory: idx
    files, cifar-10-batches-py, or images. A folder or zip prints one line saying what was found (stderr)."""
    check_resolution(resolution)
    check_channels(channels)
    if str(spec) in DATASETS:
        build = DATASETS.get(str(spec))
        return build(resolution=resolution, channels=channels, split=split, root=root, download=download)
    path = Path(spec).expanduser()
    accepted = ("a path to an image folder, a .zip of images (dataset.json labels read), an idx or "
                "cifar-10-batches-py directory, or a Gaussian-mixture .json")
    if not path.exists():
        what = f"data path {str(spec)!r} does not exist" if looks_like_path(str(spec)) else (
            f"unknown dataset {str(spec)!r}: not a registered name and no such path")
        raise GankitError(f"{what}; registered datasets: {', '.join(DATASETS.names())}; or {accepted}")
    options = {"resolution": resolution, "channels": channels, "split": split}
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json" and path.name != LABELS_FILE:
            return load_mixture(path)
        if suffix != ".zip":
            hint = f"; point at the folder or zip that holds {LABELS_FILE}" if path.name == LABELS_FILE else ""
            raise GankitError(f"unsupported data file type {suffix or '(no suffix)'!r} ({path}){hint}; data= takes "
                              f"a registered dataset ({', '.join(DATASETS.names())}) or {accepted}")
        return _announce(load_zip(path, skip_bad=skip_bad, **options))
    check_split(split, str(path))
    for candidate in (path, path / "cifar-10-batches-py"):
        if is_cifar_dir(candidate):
            return load_cifar_dir(candidate, **options)
    if any(p.name.endswith(("-images-idx3-ubyte", "-images-idx3-ubyte.gz")) for p in path.iterdir()):
        return load_idx_dir(path, **options)
    return _announce(load_folder(path, skip_bad=skip_bad, **options))


def looks_like_path(spec: str) -> bool:
    """True when `spec` is written like a path (a separator, ~, a leading dot, or a file suffix)."""
    return any(sep in spec for sep in ("/", "\\")) or spec.startswith((".", "~")) or bool(Path(spec).suffix)


def resolve_data_spec(spec: str) -> str:
    """A registered name as is; an existing path made absolute (so a run resumes from any directory)."""
    if spec in DATASETS:
        return spec
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _announce(data: ImageDataset) -> ImageDataset:
    print(f"gankit: data {data.describe()}", file=sys.stderr)
    return data
