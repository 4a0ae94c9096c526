"""LPIPS-VGG16 v0.1 (Zhang et al. 2018), the image distance of StyleGAN's projector and PPL, on files the user gives.

The trunk is our own plain-PyTorch VGG16 `features` in torchvision's layer layout, so torchvision's
ImageNet state dict `vgg16-397923af.pth` loads by key (`features.0.weight` ...; its classifier is
ignored); it is checked by sha256 (torchvision names the file by the first 8 hex digits of it). The
calibration ("lin") layers come from the `lpips` package's data file `weights/v0.1/vgg.pth`, found
without importing the package (which would import torchvision), or from a file the user names; they
are non-negative 1x1 convolutions without bias, one per tapped layer.

d(x, y) for images in [-1, 1]: grey is repeated to RGB; each input is shifted and scaled per channel
by LPIPS's constants; VGG16 activations after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 are
unit-normalised over channels (v / (|v| + 1e-10)); the squared difference goes through that layer's
calibration, is averaged over space and summed over the five layers. No resize: images must be at
least 16 px a side (relu5_3 sits after four 2x poolings). Every value carries `protocol()`.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import pickle
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.runs.checkpoint import file_sha256

Tensor = torch.Tensor
NAME = "lpips-vgg16"
VERSION = "0.1"
VGG16_FILE = "vgg16-397923af.pth"
# torchvision's ImageNet VGG16 weights (VGG16_Weights.IMAGENET1K_V1); the prefix is the one in the file's name.
VGG16_SHA256 = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"
# weights/v0.1/vgg.pth of the lpips package (0.1.4; the same file in its repository).
LIN_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"
LIN_PACKAGE_PATH = ("weights", "v0.1", "vgg.pth")
# VGG16's convolutions up to conv5_3 ("M": 2x2 max pooling), in torchvision's `features` order.
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
TAPS = (3, 8, 15, 22, 29)  # indices in `features` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
TAP_CHANNELS = (64, 128, 256, 512, 512)
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS's ScalingLayer: (x - shift) / scale per RGB channel
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
MIN_SIZE = 16
LIN_HINT = "run `make lpips` (pip install --no-deps lpips==0.1.4) or give the calibration file with --lpips-lin"
WEIGHTS_HINT = (f"give torchvision's ImageNet VGG16 file {VGG16_FILE} (the file torchvision.models.vgg16(weights="
                "'IMAGENET1K_V1') downloads into ~/.cache/torch/hub/checkpoints) to --lpips-weights")


def vgg16_features() -> nn.Sequential:
    """VGG16's convolutional trunk up to relu5_3, with torchvision's module indices (so its keys load)."""
    layers: list[nn.Module] = []
    c_in = 3
    for spec in VGG16_LAYERS:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, int(spec), 3, padding=1), nn.ReLU()]
            c_in = int(spec)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """LPIPS-VGG16 v0.1: d(x, y) [N] for images [N, 1 or 3, H, W] in [-1, 1], H and W at least 16."""

    name = NAME
    score_key = "lpips"
    note = ""

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg16_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in TAP_CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.vgg16_sha256 = self.lin_sha256 = "random"
        self.lin_source = "random"

    def activations(self, images: Tensor) -> list[Tensor]:
        """Unit-normalised (over channels) activations at the five taps: [N, C_k, H / 2^k, W / 2^k] each."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise GankitError(f"LPIPS takes images [N, 1 or 3, H, W]; got shape {tuple(images.shape)}")
        if min(images.shape[-2:]) < MIN_SIZE:
            raise GankitError(f"LPIPS-VGG16 needs images of at least {MIN_SIZE}x{MIN_SIZE} px; "
                              f"got {images.shape[-1]}x{images.shape[-2]}")
        x = (images.to(torch.float32).expand(-1, 3, -1, -1) - self.shift) / self.scale  # [N, 3, H, W]
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + NORM_EPS))
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self.activations(x), self.activations(y)
        return sum(lin((a - b).square()).mean((1, 2, 3)) for lin, a, b in zip(self.lins, fx, fy))  # [N]

    def protocol(self) -> dict:
        """The distance's definition, version and both weight files' sha256."""
        return {"distance": NAME,
                "distance_definition": "LPIPS v0.1 (Zhang et al. 2018): VGG16 relu1_2, relu2_2, relu3_3, relu4_3, "
                                       "relu5_3 of (x - shift) / scale, channel-unit-normalised, squared difference "
                                       "through the non-negative 1x1 calibration, spatial mean, summed over the layers",
                "lpips": {"net": "vgg16", "version": VERSION, "vgg16_weights_sha256": self.vgg16_sha256,
                          "lin_weights_sha256": self.lin_sha256, "lin_source": self.lin_source,
                          "input": f"[-1, 1], grey repeated to RGB, no resize (at least {MIN_SIZE} px)"}}


def _load_state(path: Path, what: str, hint: str) -> dict:
    """A state dict of tensors from `path` (torch.load weights_only=True), or a one-line GankitError."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise GankitError(f"{path} is not a readable {what} file ({type(err).__name__}); {hint}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GankitError(f"{path} does not hold a state dict of tensors; {hint}")
    return state


def packaged_lin_path() -> Path:
    """The lpips package's weights/v0.1/vgg.pth, found without importing lpips (which imports torchvision)."""
    spec = importlib.util.find_spec("lpips")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder).joinpath(*LIN_PACKAGE_PATH)
        if path.is_file():
            return path
    raise GankitError(f"LPIPS needs its calibration layers and the lpips package is not installed; {LIN_HINT}")


def _package_version(name: str) -> str:
    """The installed distribution's version ("version unknown" when it has no metadata)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "version unknown"


def _checked(path: Path, expected: str, what: str, hint: str, check_sha256: bool) -> str:
    """The file's sha256, refused in one line when it is not `expected` (and check_sha256)."""
    if not path.is_file():
        raise GankitError(f"no {what} file at {path}; {hint}")
    sha256 = file_sha256(path)
    if check_sha256 and sha256 != expected:
        raise GankitError(f"{path} is not {what} (sha256 {sha256[:12]}..., expected {expected[:12]}...); {hint}")
    return sha256


def load_lpips(vgg16_weights: str | Path, lin_weights: Optional[str | Path] = None,
               device: str | torch.device = "cpu", check_sha256: bool = True) -> LPIPS:
    """LPIPS-VGG16 v0.1 from torchvision's VGG16 file and the calibration file (default: the lpips package's),
    both sha256-checked; `check_sha256=False` (Python only) lets tests load random weights in the same layout."""
    model = LPIPS()
    vgg_path = Path(vgg16_weights).expanduser()
    model.vgg16_sha256 = _checked(vgg_path, VGG16_SHA256, f"torchvision's VGG16 ({VGG16_FILE})", WEIGHTS_HINT,
                                  check_sha256)
    state = _load_state(vgg_path, "VGG16 weights", WEIGHTS_HINT)
    trunk = {key[len("features."):]: value for key, value in state.items() if key.startswith("features.")}
    try:
        model.features.load_state_dict(trunk)
    except RuntimeError:
        raise GankitError(f"{vgg_path} does not hold VGG16 `features.*` weights in torchvision's layout; "
                          f"{WEIGHTS_HINT}") from None
    if lin_weights is None:
        lin_path = packaged_lin_path()
        model.lin_source = f"lpips package {_package_version('lpips')}, {'/'.join(LIN_PACKAGE_PATH)}"
    else:
        lin_path = Path(lin_weights).expanduser()
        model.lin_source = f"file {lin_path.name}"
    model.lin_sha256 = _checked(lin_path, LIN_SHA256, "LPIPS v0.1 VGG calibration weights (lpips weights/v0.1/vgg.pth)",
                                LIN_HINT, check_sha256)
    lins = _load_state(lin_path, "LPIPS calibration", LIN_HINT)
    for k, (lin, channels) in enumerate(zip(model.lins, TAP_CHANNELS)):
        weight = lins.get(f"lin{k}.model.1.weight")
        if weight is None or tuple(weight.shape) != (1, channels, 1, 1):
            raise GankitError(f"{lin_path} has no lin{k}.model.1.weight of shape [1, {channels}, 1, 1]; {LIN_HINT}")
        if bool((weight < 0).any()):
            raise GankitError(f"{lin_path} has negative weights in lin{k}; LPIPS's calibration is non-negative; {LIN_HINT}")
        with torch.no_grad():
            lin.weight.copy_(weight)
    return model.to(device).eval().requires_grad_(False)
