"""Grid geometry and values, PNG modes, scaling, uint8 mapping, GIF frames, input validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz.images import make_grid, save_gif, save_image_grid, to_uint8


def test_to_uint8_endpoints_and_clamp():
    x = torch.tensor([-1.0, 1.0, 0.0, -3.0, 2.5])
    assert to_uint8(x).tolist() == [0, 255, 128, 0, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_make_grid_known_2x2_with_padding():
    # four 1x2x2 images with constant values -> uint8 0, 64, 191, 255 (round((v+1)*127.5))
    vals = [-1.0, -0.5, 0.5, 1.0]
    imgs = torch.stack([torch.full((1, 2, 2), v) for v in vals])  # [4, 1, 2, 2]
    grid = make_grid(imgs, padding=1, pad_value=0.0)  # nrow = ceil(sqrt(4)) = 2; pad -> 128
    assert grid.dtype == np.uint8 and grid.shape == (7, 7, 1)
    p = 128
    expected = np.array([
        [p, p, p, p, p, p, p],
        [p, 0, 0, p, 64, 64, p],
        [p, 0, 0, p, 64, 64, p],
        [p, p, p, p, p, p, p],
        [p, 191, 191, p, 255, 255, p],
        [p, 191, 191, p, 255, 255, p],
        [p, p, p, p, p, p, p],
    ], dtype=np.uint8)
    np.testing.assert_array_equal(grid[:, :, 0], expected)


def test_make_grid_rows_fill_and_rgb():
    imgs = torch.ones(5, 3, 4, 6)  # 5 RGB images -> nrow 3, 2 rows, one empty cell
    grid = make_grid(imgs, padding=2)
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (6 + 2) + 2, 3)
    assert grid[2, 2].tolist() == [255, 255, 255]          # first image
    assert (grid[8:12, 18:24] == 0).all()                 # the unused cell: pad_value -1 -> 0
    one_row = make_grid(imgs[:2], nrow=4, padding=0)        # nrow larger than N: one row of 2
    assert one_row.shape == (4, 12, 3)
    column = make_grid(imgs[:3, :1], nrow=1, padding=0)
    assert column.shape == (12, 6, 1)


def test_make_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="4-D"):
        make_grid(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        make_grid(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="float"):
        make_grid(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_save_image_grid_modes_roundtrip(tmp_path):
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(4, 1, 5, 5, generator=g) * 2 - 1
    rgb = torch.rand(3, 3, 5, 5, generator=g) * 2 - 1
    p_grey = save_image_grid(grey, tmp_path / "a" / "b" / "grey.png")  # creates parent dirs
    p_rgb = save_image_grid(rgb, tmp_path / "rgb.png", nrow=3)
    with Image.open(p_grey) as im:
        assert im.format == "PNG" and im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), make_grid(grey)[:, :, 0])
    with Image.open(p_rgb) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), make_grid(rgb, nrow=3))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a", "rgb.png"]  # no temp files left


def test_save_image_grid_scale(tmp_path):
    imgs = torch.rand(4, 1, 3, 3) * 2 - 1
    base = make_grid(imgs)  # [12, 12, 1]
    path = save_image_grid(imgs, tmp_path / "big.png", scale=3)
    with Image.open(path) as im:
        arr = np.asarray(im)
    assert arr.shape == (base.shape[0] * 3, base.shape[1] * 3)
    np.testing.assert_array_equal(arr[::3, ::3], base[:, :, 0])  # nearest upsampling
    np.testing.assert_array_equal(arr[2::3, 1::3], base[:, :, 0])
    with pytest.raises(ValueError, match="scale"):
        save_image_grid(imgs, tmp_path / "bad.png", scale=0)


def test_save_gif_frame_count(tmp_path):
    frames = [np.full((6, 8, 3), v, dtype=np.uint8) for v in (0, 100, 200)]
    path = save_gif(frames, tmp_path / "anim.gif", fps=10)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 3
    grey = [np.full((6, 8, 1), v, dtype=np.uint8) for v in (10, 20, 30, 40)]
    with Image.open(save_gif(grey, tmp_path / "grey.gif")) as im:
        assert im.n_frames == 4
    with pytest.raises(ValueError):
        save_gif([], tmp_path / "empty.gif")


def test_row_labels_write_a_margin_with_text(tmp_path):
    from gankit.viz.images import save_image_grid

    images = torch.zeros(6, 1, 8, 8)  # mid-grey cells
    plain = np.asarray(Image.open(save_image_grid(images, tmp_path / "a.png", nrow=3, scale=4)))
    labelled = np.asarray(Image.open(save_image_grid(images, tmp_path / "b.png", nrow=3, scale=4,
                                                      row_labels=["ψ = 1", "ψ = 0.5"])))
    margin = labelled.shape[1] - plain.shape[1]
    assert labelled.shape[0] == plain.shape[0] and margin > 10
    assert np.array_equal(labelled[:, margin:], plain) and labelled[:, :margin].max() > 200  # white text
    with pytest.raises(ValueError, match="3 labels for a grid of 2 rows"):
        save_image_grid(images, tmp_path / "c.png", nrow=3, row_labels=["a", "b", "c"])
