"""Overfitting, measured: a held-out real split and D's mean sign on training vs held-out reals.

`holdout=N` keeps N images of an image dataset out of training (a permutation seeded by `seed`,
so a resumed run holds out the same images). Every `eval.kimg` (and at the end) `SignGapHook`
scores N training reals (a fixed, seeded choice) and the N held-out reals with D in eval mode — no
augmentation, BatchNorm on its running statistics — and appends one record beside the other
metrics in metrics.jsonl: `{"metric": "d_sign", "d_sign_train", "d_sign_holdout", "d_sign_gap"}`,
the gap being train − held-out. A D that memorises its training set scores its reals as real
(sign +1) and unseen reals less so: the gap grows (Karras et al. 2020, Fig. 1).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import torch

from gankit.config import TrainConfig
from gankit.data import ImageDataset
from gankit.errors import GankitError
from gankit.models import one_hot
from gankit.training.hooks import IntervalHook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def _subset(data: ImageDataset, index: torch.Tensor) -> ImageDataset:
    labels = None if data.labels is None else data.labels[index]
    return ImageDataset(data.name, data.images[index], labels, data.num_classes, data.class_names)


def split_holdout(data, n: int, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """(training images, n held-out images) of an image dataset, chosen by a permutation seeded by `seed`."""
    if getattr(data, "kind", None) != "image":
        raise GankitError("holdout=N needs an image dataset (toy data is sampled fresh; it cannot be memorised)")
    if not 0 < n < len(data):
        raise GankitError(f"holdout={n} must leave training images: the dataset has {len(data)}")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    held, kept = perm[:n].sort().values, perm[n:].sort().values
    return _subset(data, kept.to(data.images.device)), _subset(data, held.to(data.images.device))


@torch.no_grad()
def mean_sign(D: torch.nn.Module, data: ImageDataset, index: torch.Tensor, device: torch.device,
              batch_size: int = 250) -> float:
    """E[sign(D(x))] over data[index], with D in eval mode (restored after).

    D always sees whole batches of `batch_size` (the caller passes the micro-batch D trains on, so a
    minibatch-stddev D sees the groups it was trained with): the last batch is filled up with the
    set's first images again, and only its own images' signs count."""
    was_training = D.training
    D.eval()
    total, n = 0.0, len(index)
    try:
        for start in range(0, n, batch_size):
            part = index[torch.arange(start, start + batch_size) % n]  # [batch_size], wrapping round the set
            x, labels = data.get(part)
            c = one_hot(labels, D.c_dim, len(part), device) if D.c_dim else None
            total += D(x.to(device), c).float().sign()[:min(batch_size, n - start)].sum().item()
    finally:
        D.train(was_training)
    return total / n


class SignGapHook(IntervalHook):
    """D's mean sign on training reals vs held-out reals every `eval.kimg` (and at the end), into metrics.jsonl."""

    name = "sign_gap"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg.eval.kimg)
        self.n, self.seed = cfg.holdout, cfg.seed
        self.last: dict | None = None

    def fire(self, t: "Trainer") -> None:
        """Score the two sets with D and append the record (rank 0)."""
        if t.rank != 0 or t.holdout_data is None:
            return
        n = min(self.n, len(t.data))
        train_index = torch.randperm(len(t.data), generator=torch.Generator().manual_seed(self.seed + 1))[:n]
        micro_batch = t.batch_size // (t.world * t.accum)  # what D sees in a training round
        train = mean_sign(t.D, t.data, train_index, t.device, micro_batch)
        held = mean_sign(t.D, t.holdout_data, torch.arange(len(t.holdout_data)), t.device, micro_batch)
        self.last = {"step": t.state.step, "kimg": round(t.state.cur_nimg / 1000, 4), "metric": "d_sign",
                     "d_sign_train": train, "d_sign_holdout": held, "d_sign_gap": train - held,
                     "floor": {}, "protocol": {"n_train": n, "n_holdout": len(t.holdout_data), "d_mode": "eval"}}
        if t.run_dir is not None:
            with open(t.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(self.last) + "\n")
