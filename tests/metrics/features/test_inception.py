"""FID Inception-v3: the weight file's layout, the TF1 resize, input preparation, weight lookup and loading."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.features import EXTRACTORS, load_extractor
from gankit.metrics.features import inception
from gankit.metrics.features.inception import (
    WEIGHTS_FILE,
    FIDInceptionV3,
    build_fid_inception,
    download_weights,
    find_weights,
    tf1_resize_bilinear,
    tf1_resize_matrix,
)

# Layout of pt_inception-2015-12-05-6726825d.pth, from its reference definition (pytorch-fid's
# fid_inception_v3: torchvision's Inception3 with aux_logits=False, num_classes=1008, FID blocks):
# 94 conv+BN units (5 stem, 3 x 7 in Mixed_5b-d, 4 in 6a, 4 x 10 in 6b-e, 6 in 7a, 2 x 9 in 7b-c),
# each `conv.weight` + `bn.{weight,bias,running_mean,running_var}`, plus `fc.{weight,bias}`: 472 tensors.
# The file may or may not also hold the 94 `bn.num_batches_tracked` counters; both load.
N_CONV_BN = 94
N_TENSORS = 5 * N_CONV_BN + 2
N_PARAMETERS = 23_850_960  # 23,834,568 of torchvision's Inception-v3 without AuxLogits, + 8 classes x 2049
KNOWN_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2a_3x3.conv.weight": (32, 32, 3, 3),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_3b_1x1.conv.weight": (80, 64, 1, 1),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5c.branch_pool.conv.weight": (64, 256, 1, 1),
    "Mixed_5d.branch3x3dbl_3.bn.running_mean": (96,),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6a.branch3x3dbl_3.conv.weight": (96, 96, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6b.branch7x7dbl_2.conv.weight": (128, 128, 7, 1),
    "Mixed_6c.branch7x7_1.conv.weight": (160, 768, 1, 1),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_6e.branch_pool.conv.weight": (192, 768, 1, 1),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch1x1.conv.weight": (320, 1280, 1, 1),
    "Mixed_7b.branch3x3_2a.conv.weight": (384, 384, 1, 3),
    "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    "Mixed_7c.branch3x3dbl_3b.bn.weight": (384,),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}
TOP_LEVEL = {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
             "Mixed_7a", "Mixed_7b", "Mixed_7c", "fc"}


@pytest.fixture(scope="module")
def model() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def _tensors(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def test_state_dict_matches_the_weight_file_layout(model):
    state = model.state_dict()
    tensors = _tensors(state)
    assert len(tensors) == N_TENSORS
    assert len(state) - len(tensors) == N_CONV_BN
    for key, shape in KNOWN_SHAPES.items():
        assert tuple(tensors[key].shape) == shape, key
    assert {k.split(".")[0] for k in state} == TOP_LEVEL  # no AuxLogits
    assert sum(k.endswith("conv.weight") for k in tensors) == N_CONV_BN
    assert sum(p.numel() for p in model.parameters()) == N_PARAMETERS
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_fid_specific_pooling(model):
    x = torch.zeros(1, 1, 3, 3)
    x[..., 0, 0] = 9.0
    # count_include_pad=False: the corner window averages its 4 real pixels, not 9 with padding
    assert inception._avg_pool_3x3(x)[0, 0, 0, 0] == pytest.approx(9 / 4)
    assert (model.Mixed_7b.pool, model.Mixed_7c.pool) == ("avg", "max")


def test_tf1_resize_hand_computed():
    # 2 -> 4: sources 0, 0.5, 1, 1.5 (the last clamps to pixel 1); torch's half-pixel rule gives 0, .25, .75, 1
    row = torch.tensor([[[[0.0, 1.0]]]])
    assert tf1_resize_bilinear(row.expand(1, 1, 2, 2), 4)[0, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.0]
    # 4 -> 3: sources 0, 4/3, 8/3
    expected = torch.tensor([[1, 0, 0, 0], [0, 2 / 3, 1 / 3, 0], [0, 0, 1 / 3, 2 / 3]])
    assert torch.allclose(tf1_resize_matrix(4, 3), expected)
    # 2-D: [[0, 1], [2, 3]] -> 4x4 is separable; row 1 (source 0.5) averages the two rows
    image = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    expected_2d = torch.tensor([[0, 0.5, 1, 1], [1, 1.5, 2, 2], [2, 2.5, 3, 3], [2, 2.5, 3, 3]])
    assert torch.equal(tf1_resize_bilinear(image, 4)[0, 0], expected_2d)


def test_tf1_resize_rows_sum_to_one_and_identity():
    for n_in, n_out in [(28, 299), (32, 299), (512, 299), (299, 299)]:
        matrix = tf1_resize_matrix(n_in, n_out, torch.float64)
        assert torch.allclose(matrix.sum(1), torch.ones(n_out, dtype=torch.float64))
    assert torch.equal(tf1_resize_matrix(299, 299), torch.eye(299))


def test_prepare_grey_and_scale(model):
    images = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 28, 28)
    x = model.prepare(images)
    assert x.shape == (2, 3, 299, 299)
    assert torch.allclose(x[0], torch.full_like(x[0], -1.0))  # pixel 0 -> (0 - 128) / 128
    assert torch.allclose(x[1], torch.full_like(x[1], 127 / 128))  # pixel 255 -> 127 / 128
    with pytest.raises(GankitError):
        model.prepare(torch.zeros(1, 2, 8, 8))


def test_forward_shapes_on_small_input(model):
    # the smallest input the stride pattern allows (75x75) keeps this fast; the full 299 path is below
    with torch.no_grad():
        features, logits = model.forward_prepared(torch.randn(2, 3, 75, 75))
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(features).all() and (features >= 0).all()  # pooled ReLU outputs
    assert torch.allclose(logits, features @ model.fc.weight.T)  # no bias, as the reference IS code
    assert not torch.allclose(logits, model.fc(features))


@pytest.mark.slow
def test_forward_full_299_path(model):
    with torch.no_grad():
        features, logits = model(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(logits).all()


def test_missing_weights_error_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_WEIGHTS", raising=False)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    monkeypatch.setattr(inception, "WEIGHTS_URL", "http://127.0.0.1:9/unreachable.pth")  # offline
    with pytest.raises(GankitError) as err:
        load_extractor("inception-v3")
    message = str(err.value)
    assert "download failed" in message and "GANKIT_WEIGHTS" in message and "--weights" in message
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE in message
    assert str(tmp_path / "weights") in message
    with pytest.raises(GankitError, match="not found at"):
        find_weights(tmp_path / "nothing.pth")
    with pytest.raises(GankitError, match="looked in"):
        find_weights(download=False)


def test_download_checks_sha256_prefix(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"fid weights stand-in")
    prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    dest = tmp_path / "cache" / "w.pth"
    assert download_weights(source.as_uri(), dest, prefix).read_bytes() == source.read_bytes()
    bad = tmp_path / "cache" / "bad.pth"
    with pytest.raises(GankitError, match="checksum mismatch"):
        download_weights(source.as_uri(), bad, "00000000" if prefix != "00000000" else "11111111")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["w.pth"]  # no partial file left


def test_state_dict_round_trip_through_the_loader(model, tmp_path, monkeypatch):
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    saved = _tensors(model.state_dict())  # like a TF-converted file: no num_batches_tracked
    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    torch.save(saved, weights_dir / WEIGHTS_FILE)
    monkeypatch.setenv("GANKIT_WEIGHTS", str(weights_dir))  # a directory holding the file
    with pytest.warns(UserWarning, match="not comparable"):  # our file is not the official one
        loaded = load_extractor("inception-v3")
    assert "inception-v3" in EXTRACTORS
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    for key, value in _tensors(loaded.state_dict()).items():
        assert torch.equal(value, saved[key]), key
    protocol = loaded.protocol()
    assert protocol["weights_sha256"] == hashlib.sha256((weights_dir / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert "unverified" in protocol["verification"]


def test_loader_rejects_a_wrong_state_dict(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(GankitError, match="not the FID Inception state dict"):
        build_fid_inception(weights=str(path))


def test_cache_directory_is_searched(tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_WEIGHTS", raising=False)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    cached = tmp_path / "weights" / WEIGHTS_FILE
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    assert find_weights(download=False) == cached
    assert find_weights(Path(cached.parent)) == cached  # weights=DIR finds the file inside
