"""LPIPS-VGG16: loading torchvision's layout and the calibration file, the sha256 checks, the distance's form,
and (only when GANKIT_LPIPS_VGG16 names the real VGG16 file) the real weights."""
import hashlib
import importlib
import os
import sys

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import lpips_vgg
from gankit.metrics.lpips_vgg import LIN_SHA256, LPIPS, TAPS, VGG16_SHA256, load_lpips, packaged_lin_path
from tests.conftest import write_random_lpips_files


def _images(n=3, channels=3, size=16, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    vgg, lin = write_random_lpips_files(tmp_path_factory.mktemp("lpips"))
    return load_lpips(vgg, lin, check_sha256=False)


@pytest.mark.parametrize("legacy", [False, True])
def test_torchvision_layout_loads_by_key_and_the_classifier_is_ignored(tmp_path, legacy):
    vgg, lin = write_random_lpips_files(tmp_path, legacy=legacy)
    state = torch.load(vgg, weights_only=True)
    loaded = load_lpips(vgg, lin, check_sha256=False)
    for index in (0, 2, 5, 28):  # conv1_1, conv1_2, conv2_1, conv5_3
        assert torch.equal(loaded.features[index].weight, state[f"features.{index}.weight"])
        assert torch.equal(loaded.features[index].bias, state[f"features.{index}.bias"])
    assert [type(loaded.features[i]).__name__ for i in TAPS] == ["ReLU"] * 5
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_identical_images_are_at_distance_zero(model):
    x = _images()
    assert torch.equal(model(x, x), torch.zeros(3))
    near = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    assert torch.all(model(x, near) > 0) and torch.all(model(x, near) < model(x, _images(seed=2)))


def test_the_distance_follows_lpips_v01_step_by_step(model):
    x, y = _images(2, size=32), _images(2, size=32, seed=1)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)  # LPIPS's ScalingLayer
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    a, b, expected = (x - shift) / scale, (y - shift) / scale, torch.zeros(2)
    k = 0
    for index, layer in enumerate(model.features):
        a, b = layer(a), layer(b)
        if index in TAPS:
            na = a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = b / (b.square().sum(1, keepdim=True).sqrt() + 1e-10)
            weight = model.lins[k].weight.view(1, -1, 1, 1)  # [1, C_k, 1, 1]
            expected += ((na - nb).square() * weight).sum(1).mean((1, 2))
            k += 1
    assert k == 5
    assert torch.allclose(model(x, y), expected, rtol=1e-5)


def test_grey_images_are_repeated_to_rgb(model):
    x, y = _images(2, channels=1, size=28), _images(2, channels=1, size=28, seed=1)
    assert torch.equal(model(x, y), model(x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)))


def test_images_below_16_px_are_refused(model):
    with pytest.raises(GankitError, match="at least 16x16"):
        model(_images(size=8), _images(size=8))


def test_wrong_sha256_is_refused_in_one_line(tmp_path, monkeypatch):
    vgg, lin = write_random_lpips_files(tmp_path)
    with pytest.raises(GankitError) as err:
        load_lpips(vgg, lin)
    assert "is not torchvision's VGG16" in _one_line(err) and VGG16_SHA256[:12] in str(err.value)
    monkeypatch.setattr(lpips_vgg, "VGG16_SHA256", lpips_vgg.file_sha256(vgg))  # the trunk passes; the lin file not
    with pytest.raises(GankitError) as err:
        load_lpips(vgg, lin)
    assert "calibration" in _one_line(err) and LIN_SHA256[:12] in str(err.value)
    with pytest.raises(GankitError, match="no torchvision's VGG16"):
        load_lpips(tmp_path / "missing.pth", lin)


def test_files_that_are_not_weights_are_refused_in_one_line(tmp_path):
    vgg, lin = write_random_lpips_files(tmp_path)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    for bad, message in ((tmp_path / "junk.pth", "not a readable"), (tmp_path / "partial.pth", "features")):
        with pytest.raises(GankitError) as err:
            load_lpips(bad, lin, check_sha256=False)
        assert message in _one_line(err)
    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "short-lin.pth")
    with pytest.raises(GankitError, match="lin1.model.1.weight"):
        load_lpips(vgg, tmp_path / "short-lin.pth", check_sha256=False)


def test_calibration_weights_must_be_non_negative(tmp_path, model):
    vgg, lin = write_random_lpips_files(tmp_path)
    lins = torch.load(lin, weights_only=True)
    assert all(float(w.min()) >= 0 for w in lins.values())
    assert all(float(layer.weight.min()) >= 0 for layer in model.lins)
    lins["lin3.model.1.weight"][0, 5] = -0.1
    torch.save(lins, tmp_path / "negative.pth")
    with pytest.raises(GankitError) as err:
        load_lpips(vgg, tmp_path / "negative.pth", check_sha256=False)
    assert "negative weights in lin3" in _one_line(err)


def test_the_packaged_calibration_is_found_without_importing_lpips(tmp_path, monkeypatch):
    vgg, lin = write_random_lpips_files(tmp_path / "files")
    package = tmp_path / "site" / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('gankit must not import lpips')\n")
    (package / "weights" / "v0.1" / "vgg.pth").write_bytes(lin.read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert packaged_lin_path() == package / "weights" / "v0.1" / "vgg.pth"
    loaded = load_lpips(vgg, check_sha256=False)
    assert loaded.lin_source.startswith("lpips package") and "lpips" not in sys.modules


def test_a_missing_calibration_says_to_run_make_lpips(tmp_path, monkeypatch):
    vgg, _ = write_random_lpips_files(tmp_path)
    monkeypatch.setattr(lpips_vgg.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GankitError) as err:
        load_lpips(vgg, check_sha256=False)
    assert "make lpips" in _one_line(err) and "--lpips-lin" in str(err.value)


def test_protocol_stamps_the_version_and_both_files(tmp_path):
    vgg, lin = write_random_lpips_files(tmp_path)
    proto = load_lpips(vgg, lin, check_sha256=False).protocol()
    assert proto["distance"] == "lpips-vgg16"
    stamp = proto["lpips"]
    assert stamp["net"] == "vgg16" and stamp["version"] == "0.1"
    assert stamp["vgg16_weights_sha256"] == hashlib.sha256(vgg.read_bytes()).hexdigest()
    assert stamp["lin_weights_sha256"] == hashlib.sha256(lin.read_bytes()).hexdigest()
    assert stamp["lin_source"] == f"file {lin.name}"
    assert LPIPS().protocol()["lpips"]["vgg16_weights_sha256"] == "random"


REAL_VGG16 = os.environ.get("GANKIT_LPIPS_VGG16")


@pytest.mark.skipif(not REAL_VGG16, reason="set GANKIT_LPIPS_VGG16 to torchvision's vgg16-397923af.pth to test the real weights")
def test_real_weights_load_checked_and_match_the_lpips_package():
    lin = os.environ.get("GANKIT_LPIPS_LIN")  # else the lpips package's file (make lpips)
    model = load_lpips(REAL_VGG16, lin)  # sha256-checked
    x, y = _images(4, size=64), _images(4, size=64, seed=1)
    near = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    assert torch.equal(model(x, x), torch.zeros(4))
    assert torch.all(model(x, near) < model(x, y))
    assert model.protocol()["lpips"]["vgg16_weights_sha256"] == VGG16_SHA256
    lpips_package = pytest.importorskip("lpips", reason="the lpips package (with torchvision) is not installed")
    reference = lpips_package.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False,
                                    model_path=lin or str(packaged_lin_path()))
    state = torch.load(REAL_VGG16, weights_only=True)
    with torch.no_grad():
        for part in (reference.net.slice1, reference.net.slice2, reference.net.slice3, reference.net.slice4,
                     reference.net.slice5):
            for index, layer in part.named_children():
                if isinstance(layer, torch.nn.Conv2d):
                    layer.weight.copy_(state[f"features.{index}.weight"])
                    layer.bias.copy_(state[f"features.{index}.bias"])
    with torch.no_grad():
        expected = reference.eval()(x, y).flatten()
    assert torch.allclose(model(x, y), expected, rtol=1e-5)
