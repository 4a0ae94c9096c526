"""idx files (MNIST, Fashion-MNIST, KMNIST): a numpy parser with checks, split lookup, 28 -> 32 padding."""
from __future__ import annotations

import gzip
import math
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data.base import ImageDataset, check_channels, check_resolution, check_split, resize_batch, set_channels
from gankit.data.sources import SOURCES, check_content, fetch, find_file
from gankit.errors import GankitError
from gankit.registry import DATASETS

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
MNIST_CLASSES = [str(d) for d in range(10)]
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]

_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}
_IMAGES = re.compile(r"(.+)-images-idx3-ubyte(\.gz)?")


def read_bytes(path: Path) -> bytes:
    """The bytes of an idx file, gunzipped when it is gzip-compressed (by content, not name)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:
            raise GankitError(f"{path} is truncated or corrupt ({err}); delete it and get it again") from err
    return data


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """An idx byte string as a read-only numpy array, with magic number and size checked."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise GankitError(f"{path} is not an idx file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GankitError(f"{path} is truncated: {len(data)} bytes, shorter than its header")
    dims = [int(d) for d in np.frombuffer(data, ">u4", ndim, 4)]
    dtype = np.dtype(_DTYPES[data[2]])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise GankitError(f"{path} is truncated or corrupt: {len(data)} bytes, its header says {expected}")
    return np.frombuffer(data, dtype, math.prod(dims), header).reshape(dims)


def read_idx(path: Path, ndim: int, content_md5: str | None = None) -> np.ndarray:
    """Parse the idx file at `path`, check its content md5 (when given) and number of dimensions."""
    data = read_bytes(path)
    check_content(data, content_md5, path)
    array = parse_idx(data, path)
    if array.ndim != ndim:
        raise GankitError(f"{path} holds a {array.ndim}-d array; expected {ndim}-d")
    return array


def load_split(
    images_path: Path, labels_path: Path | None, md5s: tuple[str | None, str | None] = (None, None)
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 images [N, 1, H, W] and int64 labels [N] (or None) from an idx pair."""
    array = read_idx(images_path, 3, md5s[0])  # [N, H, W]
    if array.dtype != np.uint8:
        raise GankitError(f"{images_path} holds {array.dtype} pixels; expected unsigned bytes (uint8)")
    images = torch.from_numpy(array.copy()).unsqueeze(1)  # [N, 1, H, W]
    if labels_path is None:
        return images, None
    labels = torch.from_numpy(read_idx(labels_path, 1, md5s[1]).astype(np.int64))  # [N]
    if labels.shape[0] != images.shape[0]:
        raise GankitError(f"{labels_path} has {labels.shape[0]} labels for {images.shape[0]} images in {images_path}")
    return images, labels


def fit_idx(images: torch.Tensor, resolution: int | None, channels: int | None) -> torch.Tensor:
    """uint8 [N, 1, 28, 28] -> [N, C, R, R]: 32 zero-pads 2 px a side; other R pads to 32, then resizes."""
    if resolution is not None and resolution != images.shape[-1]:
        if images.shape[-2:] == (28, 28):
            images = F.pad(images, (2, 2, 2, 2))  # [N, 1, 32, 32]
        images = resize_batch(images, resolution)
    return set_channels(images, channels)


def _dataset(
    name: str, images: torch.Tensor, labels: torch.Tensor | None, class_names: list[str] | None,
    resolution: int | None, channels: int | None,
) -> ImageDataset:
    if images.shape[-1] != images.shape[-2] and resolution is None:
        raise GankitError(f"{name} images are {images.shape[-2]}x{images.shape[-1]}; pass resolution= to square them")
    if class_names:
        num_classes = len(class_names)
    else:
        num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    images = fit_idx(images, resolution, channels)
    return ImageDataset(name, images, labels, num_classes, class_names)


def split_files(directory: Path, split: str) -> tuple[Path, Path | None]:
    """The images file of `split` in a directory of idx files, and its labels file (None if absent)."""
    prefixes = {m.group(1) for p in directory.iterdir() if (m := _IMAGES.fullmatch(p.name))}
    chosen = sorted(p for p in prefixes if re.split(r"[-_.]", p)[-1] in _SPLIT_PREFIXES[split])
    if len(chosen) != 1:
        found = ", ".join(sorted(prefixes)) or "none"
        raise GankitError(
            f"{directory}: expected one {split} idx images file named like "
            f"{_SPLIT_PREFIXES[split][0]}-images-idx3-ubyte[.gz]; image prefixes found: {found}"
        )
    images = find_file(directory, f"{chosen[0]}-images-idx3-ubyte")
    return images, find_file(directory, f"{chosen[0]}-labels-idx1-ubyte")  # type: ignore[return-value]


def load_idx_dir(
    directory: Path, *, resolution: int | None = None, channels: int | None = None, split: str = "train"
) -> ImageDataset:
    """An ImageDataset from a user's directory of idx files (labels optional, class names unknown)."""
    check_split(split, str(directory))
    images, labels = load_split(*split_files(directory, split))
    return _dataset(directory.name, images, labels, None, resolution, channels)


def _builder(name: str, class_names: list[str]) -> Callable[..., ImageDataset]:
    def build(
        *, resolution: int | None = None, channels: int | None = None, split: str = "train",
        root: str | None = None, download: bool = True,
    ) -> ImageDataset:
        check_split(split, name)
        check_resolution(resolution)
        check_channels(channels)
        source = SOURCES[name]
        prefix = "train" if split == "train" else "t10k"
        stems = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
        paths = fetch(source, stems, root, download)
        md5s = (source.files[stems[0]].content_md5, source.files[stems[1]].content_md5)
        images, labels = load_split(paths[stems[0]], paths[stems[1]], md5s)
        return _dataset(name, images, labels, class_names, resolution, channels)

    build.__doc__ = f"Load {name} (idx format) from a local copy or its official download."
    return build


DATASETS.register("fashion-mnist")(_builder("fashion-mnist", FASHION_CLASSES))
DATASETS.register("mnist")(_builder("mnist", MNIST_CLASSES))
DATASETS.register("kmnist")(_builder("kmnist", KMNIST_CLASSES))
