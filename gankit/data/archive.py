"""Zip archives of images, as StyleGAN2-ADA/StyleGAN3's dataset_tool writes them (or any zip of an image folder).

Names inside the archive follow the folder rules (gankit.data.folder): `dataset.json` at the archive's root
gives labels, else immediate class sub-folders do. A zip of one folder (`pets/cats/a.png`, ...) is read as
that folder. Members are only read, never extracted to disk.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from gankit.data.base import ImageDataset, check_split
from gankit.data.folder import LABELS_FILE, Listing, dataset_from_listing, label_listing, split_names
from gankit.errors import GankitError


def _common_folder(names: list[str]) -> str:
    """'pets/' when every member lies inside one top folder (a zipped folder) and no dataset.json is at the root."""
    if LABELS_FILE in names or not names or any("/" not in n for n in names if not n.endswith("/")):
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    return f"{tops.pop()}/" if len(tops) == 1 else ""


def list_zip(path: Path) -> tuple[Listing, zipfile.ZipFile]:
    """The images of a zip archive (and the open archive, which the caller closes)."""
    path = Path(path)
    where = f"zip archive {path.resolve()}"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise GankitError(f"{path} is not a readable zip archive ({err})") from None
    members = [n for n in archive.namelist() if not n.endswith("/")]
    prefix = _common_folder(members)
    names = [n[len(prefix):] for n in members]
    images, skipped = split_names(names)
    listing = Listing(where, images, lambda name: archive.read(prefix + name), skipped=skipped)
    labels_json = archive.read(prefix + LABELS_FILE) if LABELS_FILE in names else None
    try:
        return label_listing(listing, labels_json), archive
    except GankitError:
        archive.close()
        raise


def load_zip(path: Path, *, resolution: int | None = None, channels: int | None = None, split: str = "train",
             skip_bad: bool = False) -> ImageDataset:
    """An ImageDataset from a .zip of images; dataset.json or class sub-folders give labels."""
    check_split(split, f"zip archive {path}", has_test=False)
    listing, archive = list_zip(path)
    with archive:
        return dataset_from_listing(listing, Path(path).stem, resolution, channels, skip_bad)
