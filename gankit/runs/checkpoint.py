"""Checkpoints: weights in safetensors, state in a weights-only torch file, never code.

Layout (GUIDE §4): `checkpoints/<step:08d>/` holding `model.safetensors` (prefixes `G.`, `D.`,
`G_ema.`, buffers included), `state.pt` (optimizers, counters, RNG tensors), `config.yaml` and
`manifest.json` (format version, gankit version, sha256 of each file, the step and image count it
holds). A checkpoint is written in a temporary folder, renamed into place and the folder fsynced;
`checkpoints/latest` names the newest complete one; a corrupt checkpoint is reported by file and
skipped in favour of the previous good one. Checkpoints are ordered by the images and steps they
hold, not by name, and pruning never deletes the one just written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gankit.errors import GankitError

FORMAT_VERSION = 1
FILES = ("model.safetensors", "state.pt", "config.yaml")


@dataclass
class Checkpoint:
    path: Path
    tensors: dict[str, torch.Tensor]
    state: dict
    config_yaml: str

    def config(self, overrides: list[str] | None = None):
        """The run's resolved TrainConfig (plus `key=value` overrides)."""
        import yaml

        from gankit.config import load_config

        return load_config(yaml.safe_load(self.config_yaml), overrides)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make the folder's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def model_tensors(models: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """{'G.net.0.weight': ...} for every parameter and buffer of each named model."""
    out = {}
    for prefix, model in models.items():
        for key, value in model.state_dict().items():
            out[f"{prefix}.{key}"] = value.detach().cpu().contiguous().clone()
    return out


def load_model(model: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, source: Path) -> None:
    """Load the `prefix.` tensors into `model`, strictly; a mismatch names the checkpoint.

    Buffers the model rebuilds from its config (non-persistent: FIR filters) are not saved; copies
    that older checkpoints hold are ignored.
    """
    rebuilt = {name for name, _ in model.named_buffers()} - set(model.state_dict())
    sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    sub = {k: v for k, v in sub.items() if k not in rebuilt}
    try:
        model.load_state_dict(sub, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise GankitError(f"checkpoint {source} does not fit this model ({prefix}): {first}") from None


def save_checkpoint(run_dir: Path, name: str, models: dict[str, nn.Module], state: dict, config_yaml: str, keep: int = 3) -> Path:
    """Write checkpoints/<name>/ atomically, point `latest` at it and keep the newest `keep`."""
    from gankit.version import __version__

    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(model_tensors(models), str(tmp / "model.safetensors"))
    torch.save(state, tmp / "state.pt")
    (tmp / "config.yaml").write_text(config_yaml)
    counters = state.get("counters", {})
    manifest = {"format_version": FORMAT_VERSION, "gankit_version": __version__,
                "sha256": {f: _sha256(tmp / f) for f in FILES},
                "progress": {"cur_nimg": int(counters.get("cur_nimg", 0)), "step": int(counters.get("step", 0))}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(tmp)
    final = root / name
    if final.exists():
        old = root / f".old-{name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(root)
    _write_text_atomic(root / "latest", name + "\n")
    others = [p for p in list_checkpoints(run_dir) if p != final]  # oldest first, by what they hold
    for stale in others[:max(len(others) - (keep - 1), 0)]:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def checkpoint_progress(path: Path) -> tuple[int, int]:
    """(images shown to D, generator steps) that a checkpoint holds: from its manifest, else (older
    checkpoints) its state.pt; (-1, -1) when neither can be read."""
    try:
        progress = json.loads((Path(path) / "manifest.json").read_text())["progress"]
        return int(progress["cur_nimg"]), int(progress["step"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        counters = torch.load(Path(path) / "state.pt", map_location="cpu", weights_only=True)["counters"]
        return int(counters["cur_nimg"]), int(counters["step"])
    except Exception:  # a missing or corrupt state.pt: order it first (resolve_checkpoint reports it)
        return -1, -1


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete-looking checkpoint folders of a run, oldest first by the images and steps they hold (then name)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists()]
    return sorted(found, key=lambda p: (checkpoint_progress(p), p.name))


def verify_checkpoint(path: Path) -> None:
    """Check the manifest and every file's sha256; a GankitError names the bad file."""
    manifest_path = Path(path) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        raise GankitError(f"checkpoint {path} has no readable manifest.json: it is incomplete or corrupt") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise GankitError(f"checkpoint {path} has format_version {manifest.get('format_version')}; this gankit reads {FORMAT_VERSION}")
    for name, expected in manifest.get("sha256", {}).items():
        file = Path(path) / name
        if not file.is_file() or _sha256(file) != expected:
            raise GankitError(f"checkpoint file {file} is missing or corrupt (sha256 mismatch)")


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or the newest good checkpoint of a run folder (skipping corrupt ones)."""
    path = Path(path)
    if (path / "manifest.json").exists():
        verify_checkpoint(path)
        return path
    if not path.exists():
        raise GankitError(f"no run or checkpoint at {path}")
    candidates = list_checkpoints(path)
    latest_file = path / "checkpoints" / "latest"
    if latest_file.exists():
        named = path / "checkpoints" / latest_file.read_text().strip()
        if named in candidates:
            candidates.remove(named)
            candidates.append(named)
    for candidate in reversed(candidates):
        try:
            verify_checkpoint(candidate)
            return candidate
        except GankitError as err:
            warnings.warn(f"skipping {candidate}: {err}", stacklevel=2)
    raise GankitError(f"{path} holds no complete checkpoint (train first, or pass a checkpoint folder)")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Verify and read a checkpoint (or a run's newest good one)."""
    path = resolve_checkpoint(path)
    tensors = load_file(str(path / "model.safetensors"))
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    return Checkpoint(path, tensors, state, (path / "config.yaml").read_text())
