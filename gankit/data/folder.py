"""Image folders and archives (png/jpg/jpeg/webp, recursive) read with Pillow.

Labels come from NVIDIA's `dataset.json` at the root when there is one (`{"labels": [["00000/img00000000.png",
6], ...]}` or `null`, as written by StyleGAN2-ADA/StyleGAN3's dataset_tool), else from immediate class
sub-folders (sorted names), else the images are unlabelled. Every unreadable file is found in one pass and
reported at once; `skip_bad=True` leaves them out instead, listed in the dataset's `skipped`.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gankit.data.base import ImageDataset, check_split
from gankit.errors import GankitError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})
LABELS_FILE = "dataset.json"
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, zipfile.BadZipFile,
                  Image.DecompressionBombError)
_SHOWN = 10  # unreadable files named in an error line


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


@dataclass
class Listing:
    """What a folder or archive holds: image names ('/'-separated, relative, sorted), labels and skipped files."""

    where: str  # "image folder /abs/pets" or "zip archive /abs/pets.zip"
    names: list[str]
    read: Callable[[str], bytes | Path]  # name -> its bytes (archives) or its path (folders)
    labels: torch.Tensor | None = None  # int64 [N]
    classes: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    label_source: str = ""  # "dataset.json" | "class sub-folders" | ""

    def open(self, name: str) -> Image.Image:
        """The Pillow image of `name` (not yet decoded)."""
        data = self.read(name)
        return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)


def split_names(names: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Image names (sorted) and the other files with why they are left out (hidden, not an image)."""
    images, skipped = [], []
    for name in sorted(names):
        if name.endswith("/") or name == LABELS_FILE:
            continue
        if any(part.startswith(".") or part == "__MACOSX" for part in name.split("/")):
            skipped.append((name, "hidden"))
        elif (suffix := Path(name).suffix.lower()) in EXTENSIONS:
            images.append(name)
        else:
            skipped.append((name, f"not an image ({suffix or 'no extension'})"))
    return images, skipped


def folder_labels(names: list[str], where: str) -> tuple[torch.Tensor | None, list[str] | None]:
    """int64 labels [N] from the immediate sub-folder of each name (sorted class names), or (None, None)."""
    tops = [name.split("/")[0] if "/" in name else None for name in names]
    classes = sorted({t for t in tops if t is not None})
    if not classes:
        return None, None
    loose = [name for name, top in zip(names, tops, strict=True) if top is None]
    if loose:
        raise GankitError(
            f"{where} mixes class sub-folders with {len(loose)} loose images (e.g. {loose[0]}); "
            "move them into a class folder, or point at a folder without sub-folders"
        )
    index = {name: i for i, name in enumerate(classes)}
    return torch.tensor([index[t] for t in tops], dtype=torch.int64), classes


def json_labels(text: bytes | str, names: list[str], where: str) -> tuple[torch.Tensor | None, list[str] | None]:
    """int64 labels [N] from NVIDIA's dataset.json (`{"labels": [[name, int], ...] | null}`), or (None, None)."""
    try:
        pairs = json.loads(text)["labels"]
        table = {str(name).replace("\\", "/"): label for name, label in pairs} if pairs is not None else None
    except (ValueError, KeyError, TypeError) as err:
        raise GankitError(f"{LABELS_FILE} of {where} is not NVIDIA's format "
                          f'{{"labels": [["00000/img00000000.png", 6], ...]}} ({err})') from None
    if table is None:
        return None, None
    missing = [name for name in names if name not in table]
    if missing:
        raise GankitError(f"{LABELS_FILE} of {where} has no label for {len(missing)} of {len(names)} images "
                          f"(e.g. {missing[0]}); add them, or remove {LABELS_FILE} to train unlabelled")
    values = [table[name] for name in names]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        bad = next(v for v in values if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0))
        raise GankitError(f"{LABELS_FILE} of {where} holds the label {bad!r}; gankit takes class indices "
                          "(integers >= 0), not label vectors")
    labels = torch.tensor(values, dtype=torch.int64)
    return labels, [str(k) for k in range(int(labels.max()) + 1)]


def list_folder(root: Path) -> Listing:
    """The images of a folder (recursive), with labels from dataset.json or class sub-folders."""
    root = Path(root)
    where = f"image folder {root.resolve()}"
    names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    images, skipped = split_names(names)
    listing = Listing(where, images, lambda name: root / name, skipped=skipped)
    return label_listing(listing, (root / LABELS_FILE).read_bytes() if (root / LABELS_FILE).is_file() else None)


def label_listing(listing: Listing, labels_json: bytes | None) -> Listing:
    """Fill in labels: dataset.json when given, else class sub-folders; refuse a listing without images."""
    if not listing.names:
        raise GankitError(f"no images ({', '.join(sorted(EXTENSIONS))}) found in {listing.where}")
    if labels_json is not None:
        listing.labels, listing.classes = json_labels(labels_json, listing.names, listing.where)
        listing.label_source = LABELS_FILE
    else:
        listing.labels, listing.classes = folder_labels(listing.names, listing.where)
        listing.label_source = "class sub-folders" if listing.classes else ""
    return listing


def scan_folder(root: Path) -> tuple[list[Path], torch.Tensor | None, list[str] | None]:
    """Image paths under `root` (sorted), int64 labels [N] (dataset.json or class sub-folders), class names."""
    listing = list_folder(root)
    return [Path(root) / name for name in listing.names], listing.labels, listing.classes


def _why(err: BaseException) -> str:
    if isinstance(err, UnidentifiedImageError):
        return "unreadable: not an image Pillow can identify"
    if isinstance(err, Image.DecompressionBombError):
        return "unreadable: too many pixels (Pillow's decompression-bomb guard)"
    return f"unreadable: {str(err).splitlines()[0] if str(err) else type(err).__name__}"


def _refuse_bad(bad: list[tuple[str, str]], total: int, where: str) -> GankitError:
    shown = "; ".join(f"{name} ({why.split(': ', 1)[-1]})" for name, why in bad[:_SHOWN])
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    return GankitError(f"{len(bad)} of {total} image files in {where} cannot be read: {shown}{more}; remove or "
                       "replace them, or set skip_bad=true to leave them out (listed in the run's skipped.txt)")


def read_listing(listing: Listing, resolution: int | None, channels: int | None,
                 skip_bad: bool = False) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """uint8 [N, C, R, R] of the readable images, their positions in `listing.names`, and the unreadable
    ones with why. R defaults to the one shared square size, C to 3 if any image is colour."""
    sizes, colour, bad, good = set(), False, [], []
    for i, name in enumerate(listing.names):  # pass 1: headers only
        try:
            with listing.open(name) as image:
                sizes.add(image.size)
                colour = colour or is_colour(image)
            good.append(i)
        except _DECODE_ERRORS as err:
            bad.append((name, _why(err)))
    if not good:
        raise GankitError(f"none of the {len(listing.names)} image files in {listing.where} can be read")
    if resolution is None:
        squares = {w for w, h in sizes if w == h}
        if len(sizes) != 1 or not squares:
            if bad and not skip_bad:
                raise _refuse_bad(bad, len(listing.names), listing.where)
            shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:5])
            raise GankitError(f"images in {listing.where} are not all one square size ({shown}...); "
                              "pass resolution= (e.g. 64)")
        resolution = squares.pop()
    channels = channels or (3 if colour else 1)
    out = np.empty((len(good), resolution, resolution, channels), dtype=np.uint8)  # [N, R, R, C]
    kept = []
    for i in good:  # pass 2: decode (a truncated file fails only here); then every bad file is reported at once
        name = listing.names[i]
        try:
            with listing.open(name) as image:
                out[len(kept)] = fit_image(image, resolution, channels)
            kept.append(i)
        except _DECODE_ERRORS as err:
            bad.append((name, _why(err)))
    if bad and not skip_bad:
        raise _refuse_bad(bad, len(listing.names), listing.where)
    if not kept:
        raise GankitError(f"none of the {len(listing.names)} image files in {listing.where} can be read")
    images = torch.from_numpy(out[:len(kept)]).permute(0, 3, 1, 2).contiguous()  # [N, C, R, R]
    return images, kept, bad


def load_images(paths: list[Path], resolution: int | None, channels: int | None) -> torch.Tensor:
    """uint8 [N, C, R, R] from image files; R defaults to the one shared square size, C to 3 if any is colour."""
    names = [str(p) for p in paths]
    listing = Listing("the image files", names, lambda name: Path(name))
    return read_listing(listing, resolution, channels)[0]


def dataset_from_listing(listing: Listing, name: str, resolution: int | None, channels: int | None,
                         skip_bad: bool = False) -> ImageDataset:
    """An ImageDataset of a listing's readable images (with `skip_bad`, unreadable ones are left out and listed)."""
    images, kept, bad = read_listing(listing, resolution, channels, skip_bad)
    labels = None if listing.labels is None else listing.labels[torch.tensor(kept, dtype=torch.int64)]
    classes = listing.classes
    origin = listing.where + (f", labels from {listing.label_source}" if listing.label_source else "")
    return ImageDataset(name, images, labels, len(classes) if classes else 0, classes, origin,
                        skipped=listing.skipped + bad)


def load_folder(root: Path, *, resolution: int | None = None, channels: int | None = None, split: str = "train",
                skip_bad: bool = False) -> ImageDataset:
    """An ImageDataset from an image folder; dataset.json or class sub-folders (sorted) give labels."""
    check_split(split, f"image folder {root}", has_test=False)
    return dataset_from_listing(list_folder(root), Path(root).resolve().name, resolution, channels, skip_bad)
