"""The feature-extractor contract shared by every evaluator network and the evaluation pipeline.

An extractor maps images [N, C, H, W] in [-1, 1] (any channels, any size the extractor accepts) to
penultimate features [N, feature_dim] and, where it classifies, logits [N, num_classes]. All input
conversion (channel count, crop, resize) happens in `prepare`, and everything that changes the
features is named by `protocol()`, which keys the cached reference statistics.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from gankit.registry import Registry


class FeatureExtractor(nn.Module):
    """Base of every extractor: `forward(images) -> (features [N, F], logits [N, K] or None)`."""

    name: str = ""
    feature_dim: int = 0
    num_classes: int = 0  # 0 = no logits (no IS, no label accuracy)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Convert images [N, C, H, W] in [-1, 1] to this network's input (channels, crop, resize)."""
        raise NotImplementedError

    def protocol(self) -> dict:
        """What defines these features: name, weights' sha256, input size, crop/resize rule."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        raise NotImplementedError


# name -> builder(weights: str | None, device) -> FeatureExtractor (eval mode, no grad)
EXTRACTORS: Registry[Callable[..., FeatureExtractor]] = Registry("feature extractor")


def load_extractor(name: str, weights: Optional[str] = None, device: str | torch.device = "cpu") -> FeatureExtractor:
    """The registered extractor `name` with its weights, in eval mode on `device`."""
    extractor = EXTRACTORS.get(name)(weights=weights, device=device)
    return extractor.eval().requires_grad_(False)
