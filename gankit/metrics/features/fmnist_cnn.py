"""`fmnist-cnn`: the offline evaluator, a small CNN classifier on 28x28 images (GUIDE §7).

Three conv blocks (conv 3x3, 2x2 max-pool, BatchNorm, ReLU; 32/64/128 channels, 28 -> 14 -> 7 -> 3)
and a 256-unit BatchNorm-ReLU layer whose output is the feature vector for FID/KID/PR/DC; a linear
layer on it gives the class logits for IS and label accuracy.

The package ships weights trained on the Fashion-MNIST train split (`weights/fmnist-cnn.safetensors`,
1.5 MB fp32, checked against `SHIPPED_SHA256` at load; 92.63 % Fashion-MNIST test accuracy). They
were produced by (torch 2.13.0+cpu; see `train_classifier` for the recipe):

    gankit evaluator train --data fashion-mnist --out fmnist-cnn.safetensors \
        --epochs 4 --seed 0 --flip --shift 0 --threads 1

`gankit evaluator train --data NAME --out FILE` trains the same network on any labelled dataset;
`load_extractor("fmnist-cnn", weights=FILE)` then uses it, with its dataset, classes, channels and
sha256 in `protocol()`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor
from gankit.runs.checkpoint import file_sha256

NAME = "fmnist-cnn"
INPUT_SIZE = 28
CROP_MARGIN = 2  # pixels cut from each side of a (INPUT_SIZE + 2 * CROP_MARGIN)-sized image
WEIGHTS_DIR = Path(__file__).parent / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "fmnist-cnn.safetensors"
SHIPPED_SHA256 = "1b61c552652ceedc08d888092e2a38ddb1e4e837119a59b9df441c4e284957e0"
RETRAIN_HINT = "gankit evaluator train --data fashion-mnist --out FILE, then pass weights=FILE (or --weights FILE)"
LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for RGB -> grey
METADATA_KEY = "gankit"  # safetensors metadata: {"gankit": JSON of dataset, classes, channels, recipe ...}
WIDTHS = (32, 64, 128)  # conv channels of the three blocks


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    # pooling before BatchNorm/ReLU does their (memory-bound) work on a quarter of the pixels
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class FmnistCNN(FeatureExtractor):
    """Small CNN evaluator: images in [-1, 1] -> (features [N, 256], logits [N, num_classes])."""

    name = NAME
    feature_dim = 256

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, widths: tuple[int, ...] = WIDTHS,
        metadata: Optional[dict] = None,
    ) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise GankitError(f"{NAME} takes 1 or 3 input channels, got {in_channels}")
        if num_classes < 2:
            raise GankitError(f"{NAME} needs at least 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        if len(widths) != 3 or min(widths) < 1:
            raise GankitError(f"{NAME} has three conv blocks; widths must be three positive ints, got {widths}")
        self.widths = tuple(int(w) for w in widths)
        self.metadata = dict(metadata or {})  # dataset, class names, sha256 ... (strings), for protocol()
        blocks = [_conv_block(c_in, c_out) for c_in, c_out in zip((in_channels,) + self.widths[:2], self.widths)]
        self.body = nn.Sequential(*blocks, nn.Flatten())  # 28 -> 14 -> 7 -> 3: [N, widths[2] * 3 * 3]
        self.embed = nn.Sequential(
            nn.Linear(self.widths[2] * 3 * 3, self.feature_dim, bias=False), nn.BatchNorm1d(self.feature_dim), nn.ReLU()
        )
        self.dropout = nn.Dropout(0.3)  # active only while training
        self.head = nn.Linear(self.feature_dim, num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in [-1, 1] -> [N, in_channels, 28, 28]: channels, then 32 -> centre crop, other -> resize."""
        if images.ndim != 4:
            raise GankitError(f"{NAME} takes images [N, C, H, W]; got shape {tuple(images.shape)}")
        x = images.to(torch.float32)
        channels = x.shape[1]
        if channels == 3 and self.in_channels == 1:
            weights = x.new_tensor(LUMINANCE).view(1, 3, 1, 1)
            x = (x * weights).sum(1, keepdim=True)  # [N, 1, H, W]
        elif channels == 1 and self.in_channels == 3:
            x = x.expand(-1, 3, -1, -1)  # [N, 3, H, W]
        elif channels != self.in_channels:
            raise GankitError(f"{NAME} takes images with 1 or 3 channels; got {channels}")
        h, w = x.shape[-2:]
        m = CROP_MARGIN
        if (h, w) == (INPUT_SIZE, INPUT_SIZE):
            return x
        if (h, w) == (INPUT_SIZE + 2 * m, INPUT_SIZE + 2 * m):
            return x[..., m:-m, m:-m]  # [N, C, 28, 28]
        return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, C, H, W] in [-1, 1] -> (features [N, 256], logits [N, num_classes])."""
        return self.forward_prepared(self.prepare(images))

    def forward_prepared(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Already prepared input [N, in_channels, 28, 28] -> (features [N, 256], logits [N, num_classes])."""
        features = self.embed(self.body(x))  # [N, 256]
        return features, self.head(self.dropout(features))

    def protocol(self) -> dict:
        """Name, weights' sha256, training dataset, input size, crop/resize rule and classes."""
        size, big = INPUT_SIZE, INPUT_SIZE + 2 * CROP_MARGIN
        return {
            "extractor": NAME,
            "weights_sha256": self.metadata.get("sha256", "untrained"),
            "dataset": self.metadata.get("dataset", "none"),
            "split": self.metadata.get("split", "none"),
            "input_size": size,
            "channels": "grey (RGB -> BT.601 luminance)" if self.in_channels == 1 else "RGB (grey repeated)",
            "crop_resize": f"{size}x{size} as is; {big}x{big} centre-cropped to {size}x{size}; "
                           f"other sizes resized to {size}x{size} (bilinear, antialiased)",
            "num_classes": self.num_classes,
        }

    @property
    def class_names(self) -> list[str]:
        """Class names from the training data ("0", "1", ... when the dataset named none)."""
        names = json.loads(self.metadata.get("class_names", "null"))
        return names or [str(k) for k in range(self.num_classes)]


def load_fmnist_cnn(weights: Optional[str] = None, device: str | torch.device = "cpu") -> FmnistCNN:
    """The shipped Fashion-MNIST evaluator (sha256-checked), or one trained by `gankit evaluator train`,
    in eval mode (BatchNorm's running statistics, no dropout) and frozen, like every extractor loader."""
    from safetensors import SafetensorError, safe_open

    path = Path(weights).expanduser() if weights is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        if weights is None:
            raise GankitError(f"the shipped {NAME} weights are missing ({path}); "
                              f"reinstall gankit or retrain: {RETRAIN_HINT}")
        raise GankitError(f"{NAME} weights file {path} does not exist; train one with {RETRAIN_HINT}")
    sha256 = file_sha256(path)
    if weights is None and sha256 != SHIPPED_SHA256:
        raise GankitError(
            f"the shipped {NAME} weights {path} are corrupt (sha256 {sha256[:12]}..., expected "
            f"{SHIPPED_SHA256[:12]}...); reinstall gankit or retrain with {RETRAIN_HINT}"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = json.loads((f.metadata() or {}).get(METADATA_KEY, "{}"))
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise GankitError(f"{path} is not a readable safetensors file ({err}); retrain it with {RETRAIN_HINT}") from err
    if not isinstance(metadata, dict) or metadata.get("extractor") != NAME:
        raise GankitError(f"{path} does not hold {NAME} weights written by `gankit evaluator train`")
    metadata["sha256"] = sha256
    widths = tuple(int(w) for w in metadata.get("widths", ",".join(map(str, WIDTHS))).split(","))
    model = FmnistCNN(int(metadata["num_classes"]), int(metadata["in_channels"]), widths, metadata)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise GankitError(f"{path} does not match the {NAME} network ({err}); retrain it with {RETRAIN_HINT}") from err
    return model.to(device).eval().requires_grad_(False)


EXTRACTORS.register(NAME)(load_fmnist_cnn)


@torch.no_grad()
def class_probabilities(extractor: FeatureExtractor, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The classifier's class probabilities for each image [N, C, H, W] in [-1, 1]: float [N, num_classes]."""
    if not extractor.num_classes:
        raise GankitError(f"extractor {extractor.name!r} has no classifier head, so it cannot label images")
    device = next(extractor.parameters()).device
    probs = [extractor(part.to(device))[1].softmax(1).cpu() for part in images.split(batch_size)]
    return torch.cat(probs) if probs else torch.zeros(0, extractor.num_classes)


def predicted_labels(extractor: FeatureExtractor, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The classifier's label for each image [N, C, H, W] in [-1, 1]: int64 [N] (argmax of the logits)."""
    return class_probabilities(extractor, images, batch_size).argmax(1)
