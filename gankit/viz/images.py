"""Image grids, PNGs and GIFs with torch + Pillow only (no torchvision on these machines)."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

__all__ = ["to_uint8", "make_grid", "save_image_grid", "save_gif"]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map floats in [-1, 1] to uint8: round((x + 1) * 127.5), clamped to [0, 255]."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if not images.is_floating_point():
        raise ValueError(f"to_uint8 expects a float tensor in [-1, 1], got dtype {images.dtype}")
    x = (images.detach().float() + 1.0) * 127.5
    return x.clamp_(0.0, 255.0).round_().to(torch.uint8)


def _check_images(images: torch.Tensor, what: str) -> torch.Tensor:
    """Validate an [N, C, H, W] float batch with C in {1, 3}; return it detached on the CPU."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() != 4:
        raise ValueError(
            f"{what} expects a 4-D tensor [N, C, H, W], got {images.dim()}-D with shape "
            f"{tuple(images.shape)} (add a batch dimension with x[None] for a single image)"
        )
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"{what} expects 1 (grey) or 3 (RGB) channels, got C={c} in shape {tuple(images.shape)}")
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"{what} got an empty batch of shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{what} expects float images in [-1, 1], got dtype {images.dtype}")
    return images.detach().cpu()


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = -1.0) -> np.ndarray:
    """[N, C, H, W] float in [-1, 1] (C = 1 or 3) -> uint8 [H', W', C] grid; nrow defaults to ceil(sqrt(N)).

    `nrow` is the number of images per row (as in torchvision); `padding` pixels of `pad_value`
    separate the cells and frame the grid; unused cells of the last row are filled with `pad_value`.
    """
    images = _check_images(images, "make_grid")
    n, c, h, w = images.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError(f"make_grid: nrow must be >= 1, got {nrow}")
    if padding < 0:
        raise ValueError(f"make_grid: padding must be >= 0, got {padding}")
    ncol_imgs = min(nrow, n)  # images per row actually used
    nrows = math.ceil(n / ncol_imgs)
    height = nrows * (h + padding) + padding
    width = ncol_imgs * (w + padding) + padding
    fill = int(to_uint8(torch.tensor(float(pad_value))))
    grid = np.full((height, width, c), fill, dtype=np.uint8)  # [H', W', C]
    cells = to_uint8(images).permute(0, 2, 3, 1).numpy()  # [N, H, W, C]
    for i in range(n):
        r, col = divmod(i, ncol_imgs)
        y = padding + r * (h + padding)
        x = padding + col * (w + padding)
        grid[y:y + h, x:x + w] = cells[i]
    return grid


def _atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _to_pil(array: np.ndarray) -> Image.Image:
    """uint8 [H, W, C] (C = 1 or 3) or [H, W] -> a Pillow image of mode L or RGB."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got dtype {array.dtype} (use to_uint8 first)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array))  # mode L
    if array.ndim == 3 and array.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(array))  # mode RGB
    raise ValueError(f"expected a uint8 image [H, W], [H, W, 1] or [H, W, 3], got shape {array.shape}")


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1,
                    row_labels: list[str] | None = None) -> Path:
    """Write a PNG grid (grey as mode L, colour as RGB); `scale` upsamples by nearest for small images; creates parent dirs; atomic (tmp + os.replace).

    `row_labels`, one per grid row, are written in a margin left of the rows (e.g. "ψ = 0.7").
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"save_image_grid: scale must be a positive integer, got {scale!r}")
    grid = make_grid(images, nrow=nrow)  # [H', W', C]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    img = _to_pil(grid)
    if row_labels is not None:
        img = label_rows(img, row_labels, cell=(images.shape[-2] + 2) * scale, top=2 * scale)
    return _atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def label_rows(img: Image.Image, labels: list[str], cell: int, top: int = 2) -> Image.Image:
    """`img` with a black margin on the left holding one white label per row of `cell` pixels below a `top`
    border (DejaVu Sans, which has Greek letters)."""
    from matplotlib import get_data_path
    from PIL import ImageDraw, ImageFont

    rows = max(1, (img.height - top) // cell)
    if len(labels) != rows:
        raise ValueError(f"label_rows: {len(labels)} labels for a grid of {rows} rows")
    size = max(10, min(cell // 3, 24))
    font = ImageFont.truetype(os.path.join(get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)
    width = max(int(font.getlength(label)) for label in labels) + size
    out = Image.new(img.mode, (img.width + width, img.height), 0)
    out.paste(img, (width, 0))
    draw, white = ImageDraw.Draw(out), 255 if img.mode == "L" else (255, 255, 255)
    for i, label in enumerate(labels):
        draw.text((size // 2, i * cell + (cell + top) // 2), label, fill=white, font=font, anchor="lm")
    return out


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 15) -> Path:
    """Write uint8 frames [H, W, C] (C = 1 or 3, or [H, W]) as a looping GIF; atomic.

    Pillow merges consecutive identical frames (summing their durations), so a GIF of repeated
    frames reads back with fewer frames than were given.
    """
    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"save_gif: fps must be positive, got {fps}")
    pil = [_to_pil(f) for f in frames]
    sizes = {(im.size, im.mode) for im in pil}
    if len(sizes) != 1:
        raise ValueError(f"save_gif: all frames must share one shape and channel count, got {sorted(sizes)}")
    duration = max(1, round(1000 / fps))  # ms per frame

    def write(tmp: str) -> None:
        pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:], duration=duration, loop=0)

    return _atomic_write(path, write)
