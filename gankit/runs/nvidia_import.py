"""Use an NVIDIA snapshot as a gankit model: its config, `load(PKL, which=...)` and `gankit import PKL --out RUN`.

    G = gankit.load("network-snapshot-000400.pkl")            # G_ema, eval mode, fp32 on the CPU
    D = gankit.load("network-snapshot-000400.pkl", which="D")
    gankit import network-snapshot-000400.pkl --out runs/ffhq   # an ordinary run folder

The config starts from the family's preset (stylegan2, stylegan3-t or stylegan3-r) for the training
keys and takes every architecture option from the snapshot; its `training_set_kwargs` and the
snapshot's own facts (fp16 layers, magnitude-EMA β, source file and sha256) go to `nvidia.json`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from gankit.config import TrainConfig, build_options, load_config, to_yaml
from gankit.errors import GankitError
from gankit.models import build_discriminator, build_generator
from gankit.registry import MODELS
from gankit.runs.checkpoint import load_model, save_checkpoint
from gankit.runs.nvidia import read_snapshot
from gankit.runs.nvidia_convert import Converted, convert

NETWORKS = ("G_ema", "G", "D")


def snapshot_config(conv: Converted) -> TrainConfig:
    """A resolved TrainConfig whose G.* and D.* rebuild the snapshot's networks."""
    cfg = load_config(conv.preset)
    family = MODELS.get(conv.family)
    g_opts = conv.G.options
    d_opts = conv.networks["D"].options if "D" in conv.networks else {
        k: g_opts[k] for k in ("c_dim", "img_resolution", "img_channels")}
    cfg.G = dataclasses.asdict(build_options(family.G_options, {**cfg.G, **g_opts}, "G"))
    cfg.D = dataclasses.asdict(build_options(family.D_options, {**cfg.D, **d_opts}, "D"))
    cfg.resolution, cfg.channels = g_opts["img_resolution"], g_opts["img_channels"]
    cfg.conditional = g_opts["c_dim"] > 0
    cfg.description = f"imported from NVIDIA's snapshot {conv.meta['source']} ({conv.preset}); see nvidia.json"
    dataset = (conv.meta.get("training_set_kwargs") or {}).get("path")
    if isinstance(dataset, str) and dataset:
        cfg.data = dataset
    return cfg


def build_network(conv: Converted, cfg: TrainConfig, which: str) -> nn.Module:
    """gankit's `which` network, loaded strictly with the snapshot's tensors."""
    if which not in conv.networks:
        reason = conv.D_error if which == "D" and conv.D_error else f"it has no {which}"
        raise GankitError(f"cannot load {which} of {conv.meta['source']}: {reason}")
    family = MODELS.get(cfg.model)
    network = (build_discriminator(family, build_options(family.D_options, cfg.D, "D")) if which == "D"
               else build_generator(cfg))
    net = conv.networks[which]
    load_model(network, {f"{which}.{k}": v for k, v in net.tensors.items()}, which, Path(conv.meta["source"]))
    for check in net.checks:
        check(network)
    return network


def read(path: str | Path) -> tuple[Converted, TrainConfig]:
    """Read and convert a snapshot (executing nothing) and derive its config."""
    conv = convert(read_snapshot(path), str(path))
    return conv, snapshot_config(conv)


def load_snapshot(path: str | Path, device: str = "cpu", which: str | None = None) -> nn.Module:
    """`which` network of a snapshot (default G_ema, else G) in eval mode, fp32."""
    if which is not None and which not in NETWORKS:
        raise GankitError(f"which={which!r} is not a network of a snapshot; valid: {', '.join(NETWORKS)}")
    conv, cfg = read(path)
    which = which or ("G_ema" if "G_ema" in conv.networks else "G")
    network = build_network(conv, cfg, which)
    network.config = cfg
    return network.to(device).eval().requires_grad_(False)


def snapshot_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """{'G.…', 'D.…', 'G_ema.…'} tensors in gankit's names, as a run checkpoint holds them."""
    conv, cfg = read(path)
    out = {}
    for which in conv.networks:
        network = build_network(conv, cfg, which)  # checks the architecture as well as renaming
        out.update({f"{which}.{k}": v for k, v in network.state_dict().items()})
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_snapshot(path: str | Path, out: str | Path) -> tuple[Path, list[str]]:
    """Write an ordinary run folder from a snapshot; returns the checkpoint and notes (e.g. a D left out)."""
    from gankit.runs.checkpoint import list_checkpoints

    path, out = Path(path), Path(out)
    if list_checkpoints(out):
        raise GankitError(f"{out} already holds a run; choose another --out")
    conv, cfg = read(path)
    models = {which: build_network(conv, cfg, which) for which in NETWORKS if which in conv.networks}
    notes = [f"D not imported: {conv.D_error}"] if conv.D_error else []
    state = {"counters": {"step": 0, "d_steps": 0, "cur_nimg": 0, "elapsed_s": 0.0}, "imported_from": str(path)}
    out.mkdir(parents=True, exist_ok=True)
    config_yaml = to_yaml(cfg)
    (out / "config.yaml").write_text(config_yaml)
    meta = dict(conv.meta, sha256=_sha256(path), networks=sorted(models))
    (out / "nvidia.json").write_text(json.dumps(meta, indent=2) + "\n")
    checkpoint = save_checkpoint(out, "imported", models, state, config_yaml)
    return checkpoint, notes
