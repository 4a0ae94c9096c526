"""Where datasets live: search directories, downloads checked against known md5s, atomic writes.

Checksums (md5 of each file as served) are the ones published by the dataset authors and used by
torchvision; `content_md5` is the md5 of the decompressed idx file, which identifies the data
whether a local copy is gzipped, recompressed (Debian's package is) or raw. Downloads go to
$GANKIT_DATA/<name> when $GANKIT_DATA is set, else ~/.cache/gankit/<name> (never into root=).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from gankit.errors import GankitError


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: URL, md5 as served, and md5 of its decompressed content when known."""

    url: str
    md5: str
    content_md5: str | None = None

    @property
    def filename(self) -> str:
        """The file name the download is saved under."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: its files by stem, extra system directories, and how to get it by hand."""

    name: str
    files: dict[str, RemoteFile]  # stem ("train-images-idx3-ubyte") -> file
    how_to_get: str
    system_dirs: tuple[str, ...] = ()


def _idx_files(base: str, md5s: tuple[str, ...], content: tuple[str, ...] | None) -> dict[str, RemoteFile]:
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return {
        stem: RemoteFile(f"{base}/{stem}.gz", md5, content[i] if content else None)
        for i, (stem, md5) in enumerate(zip(stems, md5s, strict=True))
    }


def _idx_help(name: str, base: str, extra: str = "") -> str:
    return (
        f"to get {name}: {extra}download the four files {base}/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz "
        f"into $GANKIT_DATA/{name} (or ~/.cache/gankit/{name}), or pass root= / a path to a directory holding them"
    )


_FMNIST = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"
_KMNIST = "http://codh.rois.ac.jp/kmnist/dataset/kmnist"
_CIFAR10 = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

SOURCES: dict[str, Source] = {
    "fashion-mnist": Source(
        "fashion-mnist",
        _idx_files(
            _FMNIST,
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
             "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
        ),
        _idx_help("fashion-mnist", _FMNIST, "`apt-get install dataset-fashion-mnist`, or "),
        ("/usr/share/datasets/fashion-mnist",),
    ),
    "mnist": Source(
        "mnist",
        _idx_files(
            _MNIST,
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
        ),
        _idx_help("mnist", _MNIST),
    ),
    "kmnist": Source(
        "kmnist",
        _idx_files(
            _KMNIST,
            ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
             "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
            None,
        ),
        _idx_help("kmnist", _KMNIST),
    ),
    "cifar10": Source(
        "cifar10",
        {"cifar-10-python.tar.gz": RemoteFile(_CIFAR10, "c58f30108f718f92721af3b95e74349a")},
        f"to get cifar10: download {_CIFAR10} and unpack it into $GANKIT_DATA/cifar10 (or ~/.cache/gankit/cifar10), "
        "or pass root= / a path to its cifar-10-batches-py directory",
    ),
}


def data_home() -> Path:
    """Where downloads go: $GANKIT_DATA if set, else ~/.cache/gankit."""
    env = os.environ.get("GANKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


def search_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Directories searched for dataset `name`, in order: root, $GANKIT_DATA/name, ~/.cache/gankit/name, system."""
    dirs = [Path(root).expanduser()] if root is not None else []
    if os.environ.get("GANKIT_DATA"):
        dirs.append(Path(os.environ["GANKIT_DATA"]).expanduser() / name)
    dirs.append(Path.home() / ".cache" / "gankit" / name)
    source = SOURCES.get(name)
    dirs += [Path(d) for d in (source.system_dirs if source else ())]
    return list(dict.fromkeys(dirs))


def find_file(directory: Path, stem: str) -> Path | None:
    """`directory/stem` or `directory/stem.gz`, whichever exists (raw first), else None."""
    for path in (directory / stem, directory / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def md5_hex(data: bytes) -> str:
    """md5 of a bytes object, as hex."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_content(data: bytes, expected: str | None, path: Path) -> None:
    """Raise a GankitError naming `path` when the md5 of `data` differs from `expected` (None: no check)."""
    if expected is not None and (got := md5_hex(data)) != expected:
        raise GankitError(
            f"{path} does not hold the official data (content md5 {got}, expected {expected}); "
            "replace it, or delete it to download it again"
        )


def download(url: str, dest: Path, checksum: str, algorithm: str = "md5") -> Path:
    """Download `url` to `dest` through a temporary file, check that its `algorithm` digest begins with
    `checksum` (a whole md5, or the sha256 prefix in a torch-hub file name), rename into place atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    print(f"gankit: downloading {url} -> {dest}", file=sys.stderr)
    try:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
        if not (got := digest.hexdigest()).startswith(checksum):
            raise GankitError(
                f"checksum mismatch for {dest.name} from {url}: {algorithm} {got}, expected {checksum}...; "
                f"retry, or download it by hand into {dest.parent}"
            )
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _missing(source: Source, dirs: list[Path], reason: str) -> GankitError:
    where = ", ".join(str(d) for d in dirs)
    return GankitError(f"{source.name} not found (looked in {where}) and {reason}; {source.how_to_get}")


def fetch(source: Source, stems: list[str], root: str | os.PathLike | None, allow_download: bool) -> dict[str, Path]:
    """Locate the files `stems` of `source` (raw or .gz) in one search directory, downloading them if needed."""
    dirs = search_dirs(source.name, root)
    for directory in dirs:
        found = {stem: find_file(directory, stem) for stem in stems}
        if all(found.values()):
            return found  # type: ignore[return-value]
    if not allow_download:
        raise _missing(source, dirs, "download=False")
    target = data_home() / source.name
    try:
        for stem in stems:
            if find_file(target, stem) is None:
                remote = source.files[stem]
                download(remote.url, target / remote.filename, remote.md5)
    except (OSError, http.client.HTTPException) as err:
        raise _missing(source, dirs, f"the download failed ({err})") from err
    return {stem: find_file(target, stem) for stem in stems}  # type: ignore[misc]


def fetch_tree(
    source: Source, member: str, root: str | os.PathLike | None, allow_download: bool, is_valid: Callable[[Path], bool]
) -> Path:
    """Locate directory `member` (a search dir itself, or inside one), else download and unpack the source's archive."""
    dirs = search_dirs(source.name, root)
    for candidate in (c for d in dirs for c in (d, d / member)):
        if is_valid(candidate):
            return candidate
    if not allow_download:
        raise _missing(source, dirs, "download=False")
    target = data_home() / source.name
    if (target / member).exists():
        raise GankitError(f"{target / member} is incomplete; delete it to download {source.name} again")
    (remote,) = source.files.values()
    try:
        archive = download(remote.url, target / remote.filename, remote.md5)
    except (OSError, http.client.HTTPException) as err:
        raise _missing(source, dirs, f"the download failed ({err})") from err
    try:
        return extract_tar(archive, target, member)
    finally:
        archive.unlink(missing_ok=True)


def extract_tar(archive: Path, dest: Path, member: str) -> Path:
    """Unpack directory `member` of a tar archive into `dest/member` atomically (safe 'data' filter)."""
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as err:
            raise GankitError(f"{archive} is not a valid archive ({err}); try again") from err
        if not (tmp / member).is_dir():
            raise GankitError(f"{archive} does not contain {member}/")
        os.replace(tmp / member, dest / member)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / member
