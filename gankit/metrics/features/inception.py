"""`inception-v3`: the FID Inception network (TensorFlow's 2015 graph, as ported by pytorch-fid), in plain PyTorch.

The layers and their names are those of the standard weight file `pt_inception-2015-12-05-6726825d.pth`
(torchvision's Inception-v3 layout without the auxiliary classifier, as pytorch-fid defines it), so that
file loads as it is; the names and shapes are tested against that definition, not against the file,
which is not available offline. The FID graph differs from torchvision's Inception-v3 (GUIDE §7):
- the A, C and first E blocks average-pool with `count_include_pad=False` (TensorFlow never averages
  the padding zeros);
- the last E block (Mixed_7c) max-pools in its pool branch;
- the classifier has 1008 outputs (1000 ImageNet classes and 8 unused ones).
Features are the 2048-d global average pool after Mixed_7c ("pool_3"). Logits are pool_3 @ fc.weight.T
*without* the fc bias, as the reference Inception Score code (improved-GAN) takes them from the graph's
`softmax/logits/MatMul`, so that IS computed from them is the published IS.

Weights are found at `weights=PATH`, else `$GANKIT_WEIGHTS` (the file, or a directory holding it), else
`$GANKIT_DATA/weights/` or `~/.cache/gankit/weights/` (the download cache of `gankit.data.sources`),
else downloaded from the pytorch-fid release and checked against the sha256 prefix in its name.
The port's agreement with published (TensorFlow) FIDs cannot be checked offline, and is not claimed.
Checked once by hand: with the same random weights, features and unbiased logits agree with
torch-fidelity 0.4.0's independent TF1-compatible port (its resize included) to float32 rounding.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import os
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.sources import data_home, download
from gankit.errors import GankitError
from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor

NAME = "inception-v3"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub convention: the name ends with the first 8 hex digits of the sha256
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
HOW_TO_GET = (
    f"download {WEIGHTS_URL} (sha256 begins {WEIGHTS_SHA256_PREFIX}) and pass --weights FILE, set $GANKIT_WEIGHTS "
    f"to it (or to its directory), or put it in {{cache}}"
)


def tf1_resize_matrix(in_size: int, out_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Matrix [out_size, in_size] of TF1 `resize_bilinear(align_corners=False, half_pixel_centers=False)`.

    TensorFlow 1's legacy bilinear resize (the `ResizeBilinear` op of the FID graph) maps output pixel i
    to source coordinate s = i * in_size / out_size: no half-pixel centres, so pixel 0 samples exactly at
    source pixel 0 and the image shifts by up to one source pixel towards the top left. With
    x0 = floor(s), x1 = min(x0 + 1, in_size - 1) and f = s - x0, out[i] = (1 - f) * in[x0] + f * in[x1].
    torch's `F.interpolate(mode="bilinear", align_corners=False)` (used by pytorch-fid) samples at
    (i + 0.5) * in_size / out_size - 0.5 instead, which differs. The TensorFlow FID code (TTUR) feeds
    images to the graph's `ExpandDims:0`, upstream of its `ResizeBilinear` to 299, so this legacy rule is
    the reference; torch-fidelity's "TF1.x" interpolation is the same. Rows of the matrix sum to 1.
    """
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)  # TF computes coordinates in float32
    source = torch.arange(out_size, dtype=torch.float32) * scale  # [out]
    lower = source.floor().long().clamp(max=in_size - 1)
    upper = (lower + 1).clamp(max=in_size - 1)
    frac = (source - lower).double()
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    matrix.index_put_((rows, lower), 1 - frac, accumulate=True)
    matrix.index_put_((rows, upper), frac, accumulate=True)
    return matrix.to(dtype)


def tf1_resize_bilinear(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize [N, C, H, W] to [N, C, size, size] exactly as TF1's legacy `resize_bilinear` (see `tf1_resize_matrix`)."""
    h, w = images.shape[-2:]
    rows = tf1_resize_matrix(h, size, images.dtype).to(images.device)  # [size, H]
    cols = tf1_resize_matrix(w, size, images.dtype).to(images.device)  # [size, W]
    return rows @ images @ cols.T  # [N, C, size, size]


class BasicConv2d(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3, as in TensorFlow), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # TF: padding not averaged


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1, 5x5, double 3x3 and average-pool branches."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool_3x3(x)),
        ], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction (Mixed_6a): strided 3x3, double 3x3 and max-pool branches."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b-e): factorised 7x7 branches and an average-pool branch."""

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            self.branch7x7dbl_5(self.branch7x7dbl_4(dbl)),
            self.branch_pool(_avg_pool_3x3(x)),
        ], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction (Mixed_7a): strided 3x3, 7x7-then-strided-3x3 and max-pool branches."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            self.branch7x7x3_4(b7),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b, Mixed_7c): split 1x3/3x1 branches; pool branch averages (7b) or max-pools (7c)."""

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        self.pool = pool  # "avg" | "max"
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _avg_pool_3x3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
            self.branch_pool(pooled),
        ], 1)


class FIDInceptionV3(FeatureExtractor):
    """The FID Inception-v3: images in [-1, 1] -> (pool_3 features [N, 2048], unbiased logits [N, 1008])."""

    name = NAME
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self) -> None:
        super().__init__()
        self.weights_sha256 = "random"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 1 or 3, H, W] in [-1, 1] -> [N, 3, 299, 299] as the FID graph sees it: (pixel - 128) / 128.

        Pixels are (x + 1) * 127.5 on the [0, 255] scale; like the TF graph, they are resized first
        (TF1 legacy bilinear, `tf1_resize_bilinear`) and then mapped by (p - 128) / 128. No uint8
        rounding happens here: quantizing generated images, if wanted, is the caller's choice.
        """
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise GankitError(f"{NAME} takes images [N, 1 or 3, H, W]; got shape {tuple(images.shape)}")
        pixels = (images.to(torch.float32).expand(-1, 3, -1, -1) + 1) * 127.5  # grey -> RGB; [0, 255]
        if pixels.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            pixels = tf1_resize_bilinear(pixels, INPUT_SIZE)  # [N, 3, 299, 299]
        return (pixels - 128) / 128

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, C, H, W] in [-1, 1] -> (features [N, 2048], unbiased logits [N, 1008])."""
        return self.forward_prepared(self.prepare(images))

    def forward_prepared(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepared input [N, 3, 299, 299] -> (features [N, 2048], unbiased logits [N, 1008])."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # [N, 64, 147, 147]
        x = F.max_pool2d(x, 3, stride=2)  # [N, 64, 73, 73]
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # [N, 192, 71, 71]
        x = F.max_pool2d(x, 3, stride=2)  # [N, 192, 35, 35]
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # [N, 288, 35, 35]
        x = self.Mixed_6a(x)  # [N, 768, 17, 17]
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # [N, 768, 17, 17]
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # [N, 2048, 8, 8]
        features = x.mean(dim=(2, 3))  # [N, 2048]
        return features, features @ self.fc.weight.T  # [N, 1008]; no bias, as the reference IS code

    def protocol(self) -> dict:
        """Name, weights' sha256, input size, resize rule and the verification status of the port."""
        return {
            "extractor": NAME,
            "weights_sha256": self.weights_sha256,
            "input_size": INPUT_SIZE,
            "channels": "RGB (grey repeated)",
            "crop_resize": f"no crop; resized to {INPUT_SIZE}x{INPUT_SIZE} by TF1 legacy bilinear "
                           "(align_corners=False, no half-pixel centres), as the TF FID graph",
            "normalization": "(pixel - 128) / 128 with pixel = (x + 1) * 127.5, no uint8 rounding",
            "num_classes": NUM_CLASSES,
            "logits": "pool_3 @ fc.weight.T without the bias (the reference Inception Score's)",
            "verification": "agreement with published TensorFlow FIDs unverified (offline)",
        }


def weights_cache() -> Path:
    """Directory where downloaded weights live: $GANKIT_DATA/weights, else ~/.cache/gankit/weights."""
    return data_home() / "weights"


def _in(path: Path) -> Path:
    """`path` itself if it is a file, else `path/WEIGHTS_FILE`."""
    return path / WEIGHTS_FILE if path.is_dir() else path


def find_weights(weights: Optional[str | os.PathLike] = None, download: bool = True) -> Path:
    """The FID weight file: `weights`, $GANKIT_WEIGHTS, the cache, else downloaded (sha256-checked)."""
    how = HOW_TO_GET.format(cache=weights_cache())
    if weights is not None:
        path = _in(Path(weights).expanduser())
        if not path.is_file():
            raise GankitError(f"{NAME} weights not found at {path}; {how}")
        return path
    looked = []
    if os.environ.get("GANKIT_WEIGHTS"):
        looked.append(_in(Path(os.environ["GANKIT_WEIGHTS"]).expanduser()))
    looked.append(weights_cache() / WEIGHTS_FILE)
    for path in looked:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p in looked)
    if not download:
        raise GankitError(f"{NAME} weights not found (looked in {where}); {how}")
    try:
        return download_weights(WEIGHTS_URL, weights_cache() / WEIGHTS_FILE, WEIGHTS_SHA256_PREFIX)
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise GankitError(
            f"{NAME} weights not found (looked in {where}) and the download failed ({err}); {how}"
        ) from err


def download_weights(url: str, dest: Path, sha256_prefix: str) -> Path:
    """Download `url` to `dest` atomically and check its sha256 prefix (gankit.data.sources.download)."""
    return download(url, dest, sha256_prefix, algorithm="sha256")


@EXTRACTORS.register(NAME)
def build_fid_inception(weights: Optional[str] = None, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The FID Inception-v3 with the standard pytorch-fid weights (see `find_weights`), in eval mode."""
    path = find_weights(weights)
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = FIDInceptionV3()
        model.load_state_dict(state)  # strict; BatchNorm fills num_batches_tracked when a file lacks it
    except (RuntimeError, ValueError, TypeError, AttributeError, EOFError) as err:
        raise GankitError(f"{path} is not the FID Inception state dict ({err}); "
                          f"{HOW_TO_GET.format(cache=weights_cache())}") from err
    if not sha256.startswith(WEIGHTS_SHA256_PREFIX):
        warnings.warn(f"{path} loads as the FID Inception but is not {WEIGHTS_FILE} (sha256 {sha256[:16]}...); "
                      "its FIDs are not comparable with published ones", stacklevel=2)
    model.weights_sha256 = sha256
    return model.to(device).eval().requires_grad_(False)
