"""ImageDataset batching, random_xflip, and the batched resize / channel helpers."""
import pytest
import torch
import torch.nn.functional as F

from gankit.data import ImageDataset, random_xflip
from gankit.data.base import check_split, resize_batch, set_channels
from gankit.errors import GankitError


def _dataset(labelled: bool = True) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 8, 8), generator=g, dtype=torch.uint8)  # [N, C, H, W]
    labels = torch.arange(20) % 4 if labelled else None
    return ImageDataset("fake", images, labels, 4 if labelled else 0)


def test_properties_and_to():
    ds = _dataset()
    assert (len(ds), ds.resolution, ds.channels, ds.kind) == (20, 8, 3, "image")
    assert ds.to("cpu") is ds


def test_get_is_the_formula():
    ds = _dataset()
    index = torch.tensor([3, 0, 19, 3])
    x, y = ds.get(index)
    assert x.dtype == torch.float32 and x.shape == (4, 3, 8, 8)
    assert torch.equal(x, ds.images[index].float() / 127.5 - 1)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(y, torch.tensor([3, 0, 3, 3]))
    assert _dataset(labelled=False).get(index)[1] is None


def test_xflip_deterministic_and_about_half():
    x = torch.arange(2000 * 4, dtype=torch.float32).reshape(2000, 1, 1, 4)  # no image is symmetric
    a = random_xflip(x, torch.Generator().manual_seed(1))
    b = random_xflip(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    flipped = (a != x).any(dim=(1, 2, 3))
    assert torch.equal(a[flipped], x[flipped].flip(-1))
    assert torch.equal(a[~flipped], x[~flipped])
    assert 900 < int(flipped.sum()) < 1100
    assert not torch.equal(a, random_xflip(x, torch.Generator().manual_seed(2)))


def test_resize_down_is_box_filter_and_up_keeps_constants():
    x = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    down = resize_batch(x, 8)
    assert down.dtype == torch.uint8
    assert torch.equal(down, F.avg_pool2d(x.float(), 2).round().to(torch.uint8))
    up = resize_batch(torch.full((2, 3, 8, 8), 77, dtype=torch.uint8), 20)
    assert up.shape == (2, 3, 20, 20) and bool((up == 77).all())
    assert resize_batch(x, 16) is x


def test_set_channels():
    x = torch.randint(0, 256, (2, 1, 4, 4), dtype=torch.uint8)
    y = set_channels(x, 3)
    assert y.shape == (2, 3, 4, 4) and all(torch.equal(y[:, c], x[:, 0]) for c in range(3))
    assert set_channels(x, None) is x and set_channels(x, 1) is x


def test_check_split():
    check_split("test", "d")
    with pytest.raises(GankitError, match="valid: train"):
        check_split("test", "d", has_test=False)
    with pytest.raises(GankitError, match="'val'"):
        check_split("val", "d")
