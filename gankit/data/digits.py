"""scikit-learn's bundled 8x8 digits (1,797 images, 10 labels) as an ImageDataset."""
from __future__ import annotations

import numpy as np
import torch

from gankit.data.base import ImageDataset, check_channels, check_resolution, check_split, resize_batch, set_channels
from gankit.registry import DATASETS


@DATASETS.register("digits")
def digits(
    *, resolution: int | None = None, channels: int | None = None, split: str = "train",
    root: str | None = None, download: bool = True,
) -> ImageDataset:
    """sklearn load_digits: 8x8 grey, 0..16 scaled to 0..255; train split only; resized batched in torch."""
    check_split(split, "digits", has_test=False)
    check_resolution(resolution)
    check_channels(channels)
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # [N, 8, 8]
    images = torch.from_numpy(pixels).unsqueeze(1)  # [N, 1, 8, 8]
    images = set_channels(resize_batch(images, resolution or 8), channels)
    labels = torch.from_numpy(bunch.target.astype(np.int64))  # [N]
    return ImageDataset("digits", images, labels, 10, [str(d) for d in range(10)])
