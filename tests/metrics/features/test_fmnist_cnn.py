"""The fmnist-cnn evaluator: input conversion, shipped weights and their checksum, deterministic training, CLI."""
from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from gankit.cli import app
from gankit.data import ImageDataset, load_dataset
from gankit.errors import GankitError
from gankit.metrics.features import fmnist_cnn, load_extractor
from gankit.metrics.features.fmnist_cnn import SHIPPED_SHA256, SHIPPED_WEIGHTS, FmnistCNN, file_sha256, predicted_labels
from gankit.metrics.features.train_classifier import random_shift, save_classifier, train_classifier
from tests.conftest import tiny_images

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SMALL = (8, 8, 8)  # conv widths for fast training tests


def untrained(**kwargs) -> FmnistCNN:
    torch.manual_seed(0)
    return FmnistCNN(**kwargs).eval()


def test_shapes_for_grey_rgb_and_other_sizes() -> None:
    model = untrained()
    for shape in [(5, 1, 28, 28), (5, 3, 32, 32), (5, 1, 8, 8), (5, 3, 64, 64)]:
        features, logits = model(torch.rand(shape) * 2 - 1)
        assert features.shape == (5, 256) and logits.shape == (5, 10)
        assert model.prepare(torch.zeros(shape)).shape == (5, 1, 28, 28)
    rgb = untrained(in_channels=3, num_classes=4)
    assert rgb(torch.zeros(2, 1, 32, 32))[1].shape == (2, 4)  # grey input repeated to RGB


def test_32_is_the_centre_crop_of_28_and_rgb_becomes_luminance() -> None:
    model = untrained()
    small = torch.rand(6, 1, 28, 28) * 2 - 1
    padded = F.pad(small, (2, 2, 2, 2), value=5.0)  # the border must be cut off, whatever it holds
    assert torch.equal(model.prepare(padded), small)
    torch.testing.assert_close(model(padded)[0], model(small)[0], rtol=0, atol=0)
    torch.testing.assert_close(model.prepare(small.repeat(1, 3, 1, 1)), small)  # BT.601 weights sum to 1
    red = torch.zeros(1, 3, 28, 28)
    red[:, 0] = 1.0
    torch.testing.assert_close(model.prepare(red), torch.full((1, 1, 28, 28), 0.299))
    assert "centre-cropped" in model.protocol()["crop_resize"]


def test_random_shift_is_a_translation() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(4 * 2 * 6 * 6, dtype=torch.float32).view(4, 2, 6, 6)
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    shifted = random_shift(x, g)
    for b in range(4):
        crops = [padded[b, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(shifted[b], crop) for crop in crops)


def test_shipped_weights_match_their_checksum_and_protocol() -> None:
    assert file_sha256(SHIPPED_WEIGHTS) == SHIPPED_SHA256
    assert SHIPPED_WEIGHTS.stat().st_size < 2 * 1024 * 1024
    for model in (load_extractor("fmnist-cnn"), fmnist_cnn.load_fmnist_cnn()):  # either way: no dropout, running BN stats
        assert not model.training and not any(p.requires_grad for p in model.parameters())
    protocol = model.protocol()
    assert protocol["weights_sha256"] == SHIPPED_SHA256
    assert (protocol["extractor"], protocol["dataset"], protocol["input_size"], protocol["num_classes"]) == (
        "fmnist-cnn", "fashion-mnist", 28, 10)
    assert model.class_names[9] == "Ankle boot"


def test_corrupt_or_foreign_weights_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corrupt = tmp_path / "fmnist-cnn.safetensors"
    data = bytearray(SHIPPED_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    monkeypatch.setattr(fmnist_cnn, "SHIPPED_WEIGHTS", corrupt)
    with pytest.raises(GankitError, match="corrupt.*gankit evaluator train"):
        load_extractor("fmnist-cnn")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not safetensors at all")
    with pytest.raises(GankitError, match="not a readable safetensors"):
        load_extractor("fmnist-cnn", weights=str(garbage))
    with pytest.raises(GankitError, match="does not exist"):
        load_extractor("fmnist-cnn", weights=str(tmp_path / "missing.safetensors"))


@pytest.mark.skipif(not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason=f"Fashion-MNIST is not installed in {FMNIST_DIR}")
def test_shipped_model_classifies_real_fashion_mnist() -> None:
    test28 = load_dataset("fashion-mnist", split="test", root=str(FMNIST_DIR), download=False)
    test32 = load_dataset("fashion-mnist", split="test", root=str(FMNIST_DIR), download=False, resolution=32)
    index = torch.arange(400)
    model = load_extractor("fmnist-cnn")
    labels28 = predicted_labels(model, test28.get(index)[0])
    accuracy = (labels28 == test28.labels[index]).float().mean().item()
    assert accuracy >= 0.90, accuracy
    assert torch.equal(predicted_labels(model, test32.get(index)[0]), labels28)  # zero-padded 32 crops back to 28


def tiny_training_set() -> ImageDataset:
    data = tiny_images(n=64, resolution=8, channels=3, classes=3)  # resized to 28, RGB model
    return ImageDataset("tiny", data.images, data.labels, 3, ["a", "b", "c"])


def test_training_is_deterministic(tmp_path: Path) -> None:
    data = tiny_training_set()
    before = torch.random.get_rng_state()
    options = dict(epochs=1, batch_size=16, widths=SMALL, hflip=True, shift=2, progress=False)
    runs = [train_classifier(data, seed=seed, **options) for seed in (3, 3, 4)]
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is untouched
    states = [run.state_dict() for run in runs]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.equal(states[0]["head.weight"], states[2]["head.weight"])
    paths = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    assert save_classifier(runs[0], paths[0]) == save_classifier(runs[1], paths[1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_extractor("fmnist-cnn", weights=str(paths[0]))
    assert (loaded.in_channels, loaded.num_classes, loaded.widths, loaded.class_names) == (3, 3, SMALL, ["a", "b", "c"])
    images = data.get(torch.arange(8))[0]
    torch.testing.assert_close(loaded(images)[1], runs[0](images)[1], rtol=0, atol=0)
    assert loaded.protocol()["weights_sha256"] == file_sha256(paths[0])


def write_idx_dir(directory: Path, n: int = 48) -> None:
    """Train and test idx files: 3 classes told apart by brightness."""
    directory.mkdir()
    g = torch.Generator().manual_seed(0)
    for prefix in ("train", "t10k"):
        labels = torch.randint(0, 3, (n,), generator=g)
        noise = torch.randint(0, 40, (n, 28, 28), generator=g)
        images = (labels[:, None, None] * 100 + noise).to(torch.uint8)
        header = struct.pack(">BBBB3I", 0, 0, 0x08, 3, n, 28, 28)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.numpy().tobytes()))
        label_bytes = struct.pack(">BBBBI", 0, 0, 0x08, 1, n) + labels.to(torch.uint8).numpy().tobytes()
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(label_bytes)


def test_cli_trains_an_evaluator(tmp_path: Path) -> None:
    data_dir = tmp_path / "shades"
    write_idx_dir(data_dir)
    out = tmp_path / "evaluator" / "shades.safetensors"
    args = ["evaluator", "train", "--data", str(data_dir), "--out", str(out), "--epochs", "1", "--seed", "1",
            "--batch-size", "16", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "test accuracy:" in result.output and "wrote" in result.output
    model = load_extractor("fmnist-cnn", weights=str(out))
    protocol = model.protocol()
    assert (protocol["dataset"], protocol["num_classes"]) == (str(data_dir), 3)
    assert protocol["weights_sha256"] == file_sha256(out)
    assert model.metadata["seed"] == "1" and "test_accuracy" in model.metadata
    shutil.rmtree(data_dir)
    result = CliRunner().invoke(app, ["evaluator", "train", "--data", "ring", "--out", str(out)])
    assert isinstance(result.exception, GankitError) and "toy" in str(result.exception)
