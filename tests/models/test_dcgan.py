"""DCGAN: N(0, 0.02) init under spectral norm, class-conditional BatchNorm in G, the projection's embedding."""
import pytest
import torch

from gankit.config import load_config
from gankit.models import build_models, resolve_model_options
from gankit.models.dcgan import ConditionalBatchNorm2d
from tests.conftest import tiny_images


def _models(*overrides: str, conditional: bool = False, resolution: int = 28):
    cfg = load_config("dcgan", [f"conditional={str(conditional).lower()}", *overrides])
    resolve_model_options(cfg, tiny_images(n=4, resolution=resolution))
    return build_models(cfg)


def test_spectral_norm_keeps_the_dcgan_init():
    """The N(0, 0.02) init must reach the trained weights (`original`), not the computed `weight`:
    before, spectral norm kept PyTorch's default init (uniform, std 1/√(3·fan_in), about 0.14 here)."""
    torch.manual_seed(0)
    _, D = _models("D.spectral=true", "D.base_channels=32", conditional=True)
    originals = {name: p for name, p in D.named_parameters() if name.endswith("original") and p.ndim > 1}
    assert {n.split(".parametrizations")[0] for n in originals} >= {"features.0", "head", "embed"}
    for name, weight in originals.items():
        expected = 1.0 if name.startswith("embed") else 0.02  # the projection's embedding: D.embed_std
        assert weight.std().item() == pytest.approx(expected, rel=0.15), name
        assert weight.mean().abs().item() < expected / 2, name


def test_projection_embedding_std_and_label_input():
    """D.embed_std sets the projection's initial class embedding (default nn.Embedding's N(0, 1));
    D.c_input feeds the one-hot label to the first conv as constant channels."""
    torch.manual_seed(0)
    _, D = _models("D.base_channels=32", conditional=True)
    assert D.embed.weight.std().item() == pytest.approx(1.0, rel=0.2)
    _, D = _models("D.base_channels=32", "D.embed_std=0.02", conditional=True)
    assert D.embed.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert D.features[0].in_channels == 1
    _, D = _models("D.base_channels=32", "D.c_input=true", conditional=True)
    assert D.features[0].in_channels == 11
    D.eval()
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)
    with torch.no_grad():
        D.embed.weight.zero_()  # only the input channels can tell the labels apart now
        logits = D(x, torch.eye(10)[[2, 6]])
    assert not torch.isclose(logits[0], logits[1])
    _, D = _models("D.base_channels=32", "D.c_input=true")  # unconditional: no label channels
    assert D.features[0].in_channels == 1


def test_conditional_batchnorm_scales_and_shifts_per_class():
    """G.cond_bn: every BN of G takes a per-class scale and shift; mixing one-hot rows mixes them."""
    torch.manual_seed(0)
    G, _ = _models("G.cond_bn=true", "G.base_channels=8", conditional=True)
    norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 2 and not any(type(m) is torch.nn.BatchNorm2d and m.affine for m in G.modules())
    cbn = norms[0]
    assert cbn.scale.weight.shape == (10, cbn.norm.num_features)
    assert cbn.scale.weight.mean().item() == pytest.approx(1.0, abs=0.01) and not cbn.shift.weight.any()
    with torch.no_grad():
        cbn.scale.weight.copy_(torch.arange(10.0)[:, None].expand_as(cbn.scale.weight))
        cbn.shift.weight.fill_(0.5)
    x = torch.randn(4, cbn.norm.num_features, 3, 3)
    normed = torch.nn.functional.batch_norm(x, None, None, training=True)
    c = torch.eye(10)[[0, 3, 7, 7]]
    torch.testing.assert_close(cbn(x, c), normed * torch.tensor([0.0, 3, 7, 7])[:, None, None, None] + 0.5)
    G.eval()  # the label changes the image for the same z; without cond_bn the net is unchanged
    z = torch.randn(2, G.z_dim).repeat(2, 1)
    images = G(z, torch.eye(10)[[0, 0, 5, 5]])
    assert images.shape == (4, 1, 28, 28) and not torch.allclose(images[:2], images[2:])
    plain, _ = _models("G.base_channels=8", conditional=True)
    assert not any(isinstance(m, ConditionalBatchNorm2d) for m in plain.modules())


def test_flat_projection_is_a_class_specific_linear_head():
    """D.projection=flat: logit = w·flatten(h) + embed(c)·flatten(h), one linear head per class."""
    torch.manual_seed(0)
    _, D = _models("D.base_channels=8", "D.projection=flat", "D.embed_std=0.02", conditional=True)
    feat_dim = D.head.in_features
    assert D.embed.weight.shape == (10, feat_dim) and D.embed.weight.std().item() == pytest.approx(0.02, rel=0.2)
    D.eval()
    x = torch.randn(3, 1, 28, 28)
    c = torch.eye(10)[[1, 4, 9]]
    with torch.no_grad():
        h = D.features(x).flatten(1)  # [3, F]
        expected = D.head(h).squeeze(1) + (h * D.embed.weight[[1, 4, 9]]).sum(1)
        torch.testing.assert_close(D(x, c), expected)
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="D.projection must be mean or flat"):
        _models("D.projection=max", conditional=True)
