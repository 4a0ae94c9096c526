"""A tiny deterministic feature extractor for pipeline tests, registered as `test-tiny`.

Grey mean, 4x4 average pool, a fixed random linear map to 8 features (tanh) and a linear head
to `classes` logits; with `brightness=1` the logits instead pick the class k whose level k/5 - 0.9
is nearest to the image's mean (exact label-accuracy tests). `weights` is not a file here but
options, e.g. "seed=1,classes=5".
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor

NAME = "test-tiny"


class TinyExtractor(FeatureExtractor):
    name = NAME
    feature_dim = 8

    def __init__(self, seed: int = 0, classes: int = 10, brightness: bool = False) -> None:
        super().__init__()
        self.seed, self.num_classes, self.brightness = seed, classes, brightness
        g = torch.Generator().manual_seed(seed)
        self.proj = nn.Parameter(torch.randn(16, self.feature_dim, generator=g) * 0.5)  # [16, F]
        self.head = nn.Parameter(torch.randn(self.feature_dim, classes, generator=g)) if classes else None  # [F, K]

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images.float().mean(1, keepdim=True), 4).flatten(1)  # [N, 16]

    def protocol(self) -> dict:
        return {"extractor": NAME, "seed": self.seed, "classes": self.num_classes, "brightness": self.brightness, "crop_resize": "grey mean, 4x4 average pool"}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        features = torch.tanh(self.prepare(images) @ self.proj)  # [N, F]
        if self.brightness:
            levels = torch.arange(self.num_classes, device=images.device) / 5 - 0.9  # [K]
            return features, -(images.float().mean((1, 2, 3))[:, None] - levels).square()  # [N, K]
        return features, None if self.head is None else features @ self.head


def build(weights: Optional[str] = None, device: str | torch.device = "cpu") -> TinyExtractor:
    options = dict(item.split("=") for item in weights.split(",")) if weights else {}
    return TinyExtractor(int(options.get("seed", 0)), int(options.get("classes", 10)), options.get("brightness") == "1").to(device)


if NAME not in EXTRACTORS:
    EXTRACTORS.register(NAME)(build)
