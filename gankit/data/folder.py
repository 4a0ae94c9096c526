"""Image folders (png/jpg/jpeg/webp, recursive; class sub-folders become labels) read with Pillow."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gankit.data.base import ImageDataset, check_split
from gankit.errors import GankitError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)


def is_colour(image: Image.Image) -> bool:
    """True unless the image's mode is a grey one (L, 1, I, F, LA, I;16...)."""
    return image.mode not in _GREY_MODES


def fit_image(image: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """uint8 [R, R, C]: convert to L or RGB, resize the shorter side to R (Lanczos), centre-crop R x R."""
    image = image.convert("L" if channels == 1 else "RGB")
    w, h = image.size
    if (w, h) != (resolution, resolution):
        scale = resolution / min(w, h)
        nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
        image = image.resize((nw, nh), Image.Resampling.LANCZOS)
        left, top = (nw - resolution) // 2, (nh - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
    return np.asarray(image).reshape(resolution, resolution, channels)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except _DECODE_ERRORS as err:
        raise GankitError(f"cannot decode image {path} ({err}); remove or replace it") from err


def scan_folder(root: Path) -> tuple[list[Path], torch.Tensor | None, list[str] | None]:
    """Image paths under `root` (sorted), int64 labels [N] from immediate class sub-folders, class names."""
    paths = sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not paths:
        raise GankitError(f"no images ({', '.join(sorted(EXTENSIONS))}) found under {root}")
    tops = [p.relative_to(root).parts[0] for p in paths]
    classes = sorted({t for p, t in zip(paths, tops, strict=True) if p.parent != root})
    if not classes:
        return paths, None, None
    loose = [p for p in paths if p.parent == root]
    if loose:
        raise GankitError(
            f"{root} mixes class sub-folders with {len(loose)} loose images (e.g. {loose[0].name}); "
            "move them into a class folder, or point at a folder without sub-folders"
        )
    index = {name: i for i, name in enumerate(classes)}
    return paths, torch.tensor([index[t] for t in tops], dtype=torch.int64), classes


def load_images(paths: list[Path], resolution: int | None, channels: int | None) -> torch.Tensor:
    """uint8 [N, C, R, R] from image files; R defaults to the one shared square size, C to 3 if any is colour."""
    sizes, colour = set(), False
    for path in paths:
        with _open(path) as image:
            sizes.add(image.size)
            colour = colour or is_colour(image)
    if resolution is None:
        squares = {w for w, h in sizes if w == h}
        if len(sizes) != 1 or not squares:
            shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:5])
            raise GankitError(f"images are not all one square size ({shown}...); pass resolution= (e.g. 64)")
        resolution = squares.pop()
    channels = channels or (3 if colour else 1)
    out = np.empty((len(paths), resolution, resolution, channels), dtype=np.uint8)  # [N, R, R, C]
    for i, path in enumerate(paths):
        with _open(path) as image:
            try:
                out[i] = fit_image(image, resolution, channels)
            except _DECODE_ERRORS as err:
                raise GankitError(f"cannot decode image {path} ({err}); remove or replace it") from err
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # [N, C, R, R]


def load_folder(
    root: Path, *, resolution: int | None = None, channels: int | None = None, split: str = "train"
) -> ImageDataset:
    """An ImageDataset from an image folder; class sub-folders (sorted) give labels, none means unlabelled."""
    check_split(split, f"image folder {root}", has_test=False)
    paths, labels, classes = scan_folder(root)
    images = load_images(paths, resolution, channels)
    return ImageDataset(root.resolve().name, images, labels, len(classes) if classes else 0, classes)
