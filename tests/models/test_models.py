"""Forward, backward and one CPU training step for every registered model and every preset."""
import pytest
import torch

from gankit.config import load_config, preset_names
from gankit.data import gaussian_mixture
from gankit.errors import GankitError
from gankit.models import build_models, resolve_model_options
from gankit.models.dcgan import stage_sizes
from gankit.registry import MODELS
from gankit.training import Trainer
from tests.conftest import TINY, tiny_config, tiny_images


def _models(model, data, conditional=False, *extra):
    cfg = load_config(model, TINY.get(model, []) + [f"conditional={str(conditional).lower()}", *extra])
    resolve_model_options(cfg, data)
    return build_models(cfg)


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("conditional", [False, True])
def test_forward_backward(model, conditional):
    data = tiny_images(resolution=8)
    G, D = _models(model, data, conditional)
    z = torch.randn(4, G.z_dim)
    c = torch.nn.functional.one_hot(torch.arange(4), 10).float() if conditional else None
    x = G(z, c)
    assert x.shape == (4, 1, 8, 8)
    G.eval()
    assert G(z, c).abs().max() <= 1  # the generator API's range (style-based G: unbounded in training)
    G.train()
    logits = D(x, c)
    assert logits.shape == (4,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
    assert all(p.grad is not None for p in D.parameters())


@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 3), (64, 1)])
def test_dcgan_sizes(resolution, channels):
    G, D = _models("dcgan", tiny_images(n=4, resolution=resolution, channels=channels))
    x = G(torch.randn(2, G.z_dim))
    assert x.shape == (2, channels, resolution, resolution)
    assert D(x).shape == (2,)


def test_dcgan_preset_matches_the_reference_architecture():
    """The dcgan preset at 28 px (= benchmarks/reference_loop.py): G 128@7 -> 64@14 -> 1@28, D 32@14 -> 64@7 -> 1."""
    cfg = load_config("dcgan")
    resolve_model_options(cfg, tiny_images(n=4, resolution=28))
    G, D = build_models(cfg)
    assert G.project.in_features == 100 and G.start_shape == (128, 7, 7)  # the 1x1 -> 7x7 transposed conv
    convs = [m for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(128, 64), (64, 1)]
    dconvs = [m for m in D.features if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in dconvs] == [(1, 32), (32, 64)]
    assert not isinstance(D.features[1], torch.nn.BatchNorm2d)  # no norm on D's input layer
    assert stage_sizes(28) == [14, 7] and stage_sizes(32) == [16, 8, 4]
    with pytest.raises(GankitError, match="resolution"):
        stage_sizes(30)


def test_dcgan_options():
    data = tiny_images(n=4, resolution=28)
    _, D = _models("dcgan", data, False, "D.norm=layer", "D.spectral=true")
    assert any(isinstance(m, torch.nn.GroupNorm) for m in D.modules())
    assert any("parametrizations" in n for n, _ in D.named_parameters())
    with pytest.raises(GankitError, match="D.norm"):
        _models("dcgan", data, False, "D.norm=weird")


def test_mlp_vector_data_has_linear_output():
    data = gaussian_mixture([[0.0, 0.0], [10.0, 10.0]], [0.1, 0.1])
    cfg = load_config("toy-gan")
    resolve_model_options(cfg, data)
    G, D = build_models(cfg)
    x = G(torch.randn(3, G.z_dim))
    assert x.shape == (3, 2) and G.is_vector and D(x).shape == (3,)
    assert not isinstance(G.net[-1], torch.nn.Tanh)


def test_seed_mlp_keeps_the_batchnorm_eps_quirk():
    cfg = load_config("seed-gan")
    resolve_model_options(cfg, tiny_images(n=4, resolution=28))
    G, _ = build_models(cfg)
    norms = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3 and all(m.eps == 0.8 and m.momentum == 0.1 for m in norms)
    widths = [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 256, 512, 1024, 784]


def test_image_model_refuses_vector_data():
    with pytest.raises(GankitError, match="model=mlp"):
        resolve_model_options(load_config("dcgan"), gaussian_mixture([[0.0, 0.0]], [1.0]))


def test_conditional_needs_labels():
    with pytest.raises(GankitError, match="labels"):
        resolve_model_options(load_config("cdcgan"), tiny_images(classes=0))


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_trains_one_step(preset):
    cfg = tiny_config(preset, steps=1)
    data = gaussian_mixture([[0.0, 0.0], [1.0, 1.0]], [0.1, 0.1]) if cfg.data in ("ring", "grid", "bimodal") else tiny_images(resolution=8)
    trainer = Trainer(cfg, data=data)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.train()
    assert trainer.state.step == 1 and trainer.state.d_steps == cfg.n_critic
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


@pytest.mark.parametrize("order,reuse,forwards", [("d_first", True, 1), ("g_first", True, 1), ("d_first", False, 2)])
def test_reuse_fakes_runs_g_once_per_step(order, reuse, forwards):
    cfg = tiny_config("dcgan", f"phase_order={order}", f"reuse_fakes={str(reuse).lower()}", steps=3)
    trainer = Trainer(cfg, data=tiny_images(resolution=8))
    calls = []
    trainer.G.register_forward_hook(lambda *_: calls.append(1))
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.train()
    assert len(calls) == 3 * forwards
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()) if a.dim() > 1)


def test_dcgan_sngan_arch_is_the_standard_cnn_depth():
    """D.arch=sngan: a 3x3 stride-1 conv before each strided conv and a last 3x3 conv doubling channels."""
    from gankit.models.dcgan import DCGANDiscriminator, DCGANDOptions

    def convs(arch):
        D = DCGANDiscriminator(DCGANDOptions(img_resolution=28, img_channels=1, base_channels=8, norm="none",
                                             spectral=True, arch=arch))
        layers = [m for m in D.features if isinstance(m, torch.nn.Conv2d)]
        return D, [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in layers]

    D, layout = convs("sngan")
    assert layout == [(1, 8, 3, 1), (8, 8, 4, 2), (8, 16, 3, 1), (16, 16, 4, 2), (16, 32, 3, 1)]
    assert D(torch.randn(2, 1, 28, 28)).shape == (2,)
    assert [s for *_, s in convs("dcgan")[1]] == [2, 2]
    with pytest.raises(GankitError, match="D.arch must be dcgan or sngan"):
        convs("resnet")


def test_dcgan_resize_upsampling_has_no_checkerboard_bias():
    """G.upsample=resize: nearest ×2 then a 3×3 conv. On a constant map its output is constant inside,
    whatever the weights; a stride-2 transposed 4×4 conv gives even and odd pixels different taps."""
    from gankit.models.dcgan import DCGANGenerator, DCGANGOptions

    def last_stage(upsample):  # [upsampling conv(s), Tanh] of a fresh G
        G = DCGANGenerator(DCGANGOptions(img_resolution=28, img_channels=1, z_dim=4, base_channels=4,
                                         upsample=upsample))
        assert G(torch.randn(3, 4)).shape == (3, 1, 28, 28)
        return G, G.net[-3:] if upsample == "resize" else G.net[-2:]

    torch.manual_seed(0)
    constant = torch.full((1, 4, 14, 14), 0.1)
    with torch.no_grad():
        G, stage = last_stage("resize")
        assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())
        inside = stage(constant)[0, 0, 1:-1, 1:-1]
        assert torch.allclose(inside, inside[0, 0].expand_as(inside), atol=1e-6)
        _, stage = last_stage("transposed")
        inside = stage(constant)[0, 0, 1:-1, 1:-1]
        assert (inside[0::2, 0::2] - inside[1::2, 1::2]).abs().min() > 1e-4  # the checkerboard
    with pytest.raises(GankitError, match="G.upsample must be transposed or resize"):
        last_stage("bilinear")
