"""CIFAR-10 python batches, read with a restricted unpickler that only rebuilds numpy arrays.

The registered `cifar10` looks in root=, $GANKIT_DATA/cifar10 and ~/.cache/gankit/cifar10 (each either
the cifar-10-batches-py directory itself or its parent) and otherwise downloads the official archive
(md5-checked) and unpacks it there.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer
from PIL import Image

from gankit.data.base import ImageDataset, check_channels, check_resolution, check_split
from gankit.data.folder import fit_image
from gankit.data.sources import SOURCES, fetch_tree
from gankit.errors import GankitError
from gankit.registry import DATASETS

MEMBER = "cifar-10-batches-py"

# Everything a CIFAR-10 batch (pickled by Python 2 numpy) or a modern numpy array pickle refers to.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy's array-rebuilding names and refuses every other global."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for `module.name`, else a GankitError (nothing is imported)."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise GankitError(
                f"{self.path} refers to {module}.{name}, which a CIFAR-10 batch never does; refusing to load it"
            ) from None


def load_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR pickle as a dict with str keys, read by SafeUnpickler."""
    try:
        with open(path, "rb") as f:
            obj = SafeUnpickler(f, path).load()
    except GankitError:
        raise
    except Exception as err:  # any failure to decode means the file is not a CIFAR batch
        raise GankitError(f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise GankitError(f"{path} is not a CIFAR-10 batch (holds {type(obj).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [n, 3, 32, 32] and int64 labels [n] of one batch file."""
    batch = load_pickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        raise GankitError(f"{path}: 'data' is not a uint8 [n, 3072] array")
    if labels is None or len(labels) != len(data):
        raise GankitError(f"{path}: 'labels' missing or not one per image")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def batch_files(directory: Path, split: str) -> list[Path]:
    """test_batch, or the data_batch_<k> files present (k ascending)."""
    if split == "test":
        files = [directory / "test_batch"] if (directory / "test_batch").is_file() else []
    else:
        found = [p for p in directory.glob("data_batch_*") if p.name[11:].isdigit()]
        files = sorted(found, key=lambda p: int(p.name[11:]))
    if not files:
        raise GankitError(f"{directory} has no {split} batches (data_batch_1..5 for train, test_batch for test)")
    return files


def is_cifar_dir(path: Path) -> bool:
    """True for a directory that looks like cifar-10-batches-py."""
    return (path / "batches.meta").is_file() or (path / "data_batch_1").is_file() or (path / "test_batch").is_file()


def load_cifar_dir(
    directory: Path, *, resolution: int | None = None, channels: int | None = None, split: str = "train"
) -> ImageDataset:
    """An ImageDataset from a cifar-10-batches-py directory (native 32x32 RGB)."""
    check_split(split, "cifar10")
    parts = [load_batch(p) for p in batch_files(directory, split)]
    images = np.concatenate([p[0] for p in parts])  # [N, 3, 32, 32]
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))  # [N]
    class_names = None
    if (directory / "batches.meta").is_file():
        names = load_pickle(directory / "batches.meta").get("label_names")
        if not isinstance(names, list):
            raise GankitError(f"{directory / 'batches.meta'} has no label_names list")
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    resolution, channels = resolution or 32, channels or 3
    if (resolution, channels) != (32, 3):
        images = np.stack([fit_image(Image.fromarray(im.transpose(1, 2, 0)), resolution, channels) for im in images])
        images = images.transpose(0, 3, 1, 2)  # [N, C, R, R]
    num_classes = len(class_names) if class_names else int(labels.max()) + 1
    return ImageDataset("cifar10", torch.from_numpy(np.ascontiguousarray(images)), labels, num_classes, class_names)


@DATASETS.register("cifar10")
def cifar10(
    *, resolution: int | None = None, channels: int | None = None, split: str = "train",
    root: str | None = None, download: bool = True,
) -> ImageDataset:
    """CIFAR-10 from a local cifar-10-batches-py directory, or downloaded from its official URL."""
    check_split(split, "cifar10")
    check_resolution(resolution)
    check_channels(channels)
    directory = fetch_tree(SOURCES["cifar10"], MEMBER, root, download, is_cifar_dir)
    return load_cifar_dir(directory, resolution=resolution, channels=channels, split=split)
