"""Real batches from an in-memory dataset: a global epoch permutation sliced per rank.

No per-sample Python: one index tensor per batch, one gather, one float conversion. The epoch
order comes from the `data` generator; each rank takes its slice of every global batch, so
the data seen does not depend on the world size. Vector (toy) data is sampled fresh per batch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from gankit.data import load_dataset, random_xflip, resolve_data_spec
from gankit.errors import GankitError


class DataFeeder:
    def __init__(self, data, generator: torch.Generator, device: torch.device, rank: int = 0, world: int = 1,
                 xflip: bool = False) -> None:
        self.data, self.generator, self.device = data, generator, device
        self.rank, self.world, self.xflip = rank, world, xflip
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0
        self.epoch = 0
        self.transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # set by hooks (ProGAN's faded reals)

    def _shard(self, global_batch: int) -> slice:
        if global_batch % self.world:
            raise GankitError(f"batch_size {global_batch} must be divisible by the number of processes {self.world}")
        local = global_batch // self.world
        return slice(self.rank * local, (self.rank + 1) * local)

    def next(self, global_batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of the next global batch: x [b, ...] on the device, labels [b] or None."""
        shard = self._shard(global_batch)
        if self.data.kind == "vector":
            return self.data.sample(global_batch, self.generator)[shard].to(self.device), None
        if global_batch > len(self.data):
            raise GankitError(f"batch_size {global_batch} is larger than the dataset ({len(self.data)} items)")
        if self.pos + global_batch > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.generator)
            self.pos = 0
            self.epoch += 1
        index = self.perm[self.pos:self.pos + global_batch]
        self.pos += global_batch
        x, labels = self.data.get(index[shard].to(self.data.images.device))
        if self.xflip:
            x = random_xflip(x, self.generator, shard, global_batch)
        x = x.to(self.device, non_blocking=True)
        if self.transform is not None:
            x = self.transform(x)
        return x, None if labels is None else labels.to(self.device)

    def state_dict(self) -> dict:
        return {"perm": self.perm.clone(), "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.pos, self.epoch = state["perm"].clone(), int(state["pos"]), int(state["epoch"])


def load_training_data(cfg):
    """The dataset `cfg.data` names; a path is first made absolute in cfg (resume and eval work from anywhere)."""
    cfg.data = resolve_data_spec(cfg.data)
    return load_dataset(cfg.data, resolution=cfg.resolution, channels=cfg.channels, skip_bad=cfg.skip_bad)


def check_batch_fits(data, cfg) -> None:
    """Refuse image data with fewer images than the largest batch (before a run folder is made)."""
    if data.kind != "image":
        return
    largest = max([cfg.batch_size, *cfg.growth.batch_sizes.values()])
    if largest > len(data):
        raise GankitError(f"batch_size {largest} is larger than the {len(data)} images of {data.name}; "
                          f"use batch_size={len(data)} or less, or add images")


def write_data_record(run_dir: Path, data) -> None:
    """Save what the run's data holds beside its config: classes.json (labelled data), skipped.txt (files left out)."""
    from gankit.runs.classes import save_class_map

    if getattr(data, "num_classes", 0) and getattr(data, "class_names", None):
        save_class_map(run_dir, data.class_names, data.name)
    if getattr(data, "skipped", None):
        lines = [f"{name}\t{why}" for name, why in data.skipped]
        header = f"# files of {data.name} left out while loading ({data.origin}): file<TAB>why\n"
        (run_dir / "skipped.txt").write_text(header + "\n".join(lines) + "\n")
