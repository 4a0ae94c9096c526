"""scikit-learn digits as an ImageDataset."""
import pytest
import torch

from gankit.data import load_dataset
from gankit.errors import GankitError


def test_digits():
    ds = load_dataset("digits")
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == torch.uint8
    assert int(ds.images.max()) == 255 and int(ds.images.min()) == 0
    assert ds.num_classes == 10 and ds.class_names == [str(d) for d in range(10)]
    assert ds.labels.dtype == torch.int64 and set(ds.labels.tolist()) == set(range(10))
    big = load_dataset("digits", resolution=32, channels=3)
    assert big.images.shape == (1797, 3, 32, 32) and big.images.dtype == torch.uint8
    with pytest.raises(GankitError, match="digits has no split 'test'"):
        load_dataset("digits", split="test")
