"""Checks on where a command writes (`--out`), made before any data or network is loaded.

Each failure is a GankitError with one line (the CLI prints it and exits 2), so a bad path never
surfaces as a traceback halfway through a run.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from gankit.errors import GankitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RUN_MARKERS = ("config.yaml", "checkpoints", "log.jsonl")  # what makes a folder a gankit run
IGNORED = (".lock", ".DS_Store")


def _writable_ancestor(path: Path, option: str) -> None:
    """The nearest existing ancestor of `path` must be a folder this process can write into."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise GankitError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GankitError(f"{option} {path}: cannot write in {parent} (permission denied)")


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """A folder to write into: it may exist (writable) or be creatable; a file there is refused."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise GankitError(f"{option} {path} is a file; give a folder to write into")
        if not os.access(path, os.W_OK | os.X_OK):
            raise GankitError(f"{option} {path}: cannot write in this folder (permission denied)")
        return path
    _writable_ancestor(path, option)
    return path


def check_out_file(path: str | Path, suffixes: tuple[str, ...] = (), option: str = "--out") -> Path:
    """A file to write: not a folder, one of `suffixes` (when given), in a writable or creatable folder."""
    path = Path(path)
    if path.is_dir():
        raise GankitError(f"{option} {path} is a folder; give a file name" + (f" ending in {suffixes[0]}" if suffixes else ""))
    if suffixes and path.suffix.lower() not in suffixes:
        raise GankitError(f"{option} {path}: write {', '.join(suffixes)} (the suffix picks the format)")
    if path.exists() and not os.access(path, os.W_OK):
        raise GankitError(f"{option} {path}: cannot overwrite this file (permission denied)")
    _writable_ancestor(path, option)
    return path


def is_run_folder(path: str | Path) -> bool:
    """True when `path` holds a gankit run (its config, checkpoints or log)."""
    return any((Path(path) / marker).exists() for marker in RUN_MARKERS)


def check_new_run_dir(path: str | Path, option: str = "--out") -> Path:
    """A folder for a new run: writable, and empty or a run of gankit's own (never the user's other files)."""
    path = check_out_dir(path, option)
    if path.is_dir() and not is_run_folder(path):
        others = sorted(p.name for p in path.iterdir() if p.name not in IGNORED)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise GankitError(f"{option} {path} holds other files ({shown}) but no run; choose an empty or new folder")
    return path


def default_run_dir(config) -> Path:
    """runs/<preset or YAML stem>-<time>: where a run goes when no --out (or out=) is given."""
    name = config if isinstance(config, str) else str(config) if isinstance(config, Path) else "run"
    stem = Path(name).stem if name.endswith((".yaml", ".yml")) else name
    return Path("runs") / f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
