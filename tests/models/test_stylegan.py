"""StyleGAN 1/2: mapping (truncation, mixing, w̄), layer order, path length, lazy compensation, Fourier input, resume."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.losses.regularizers import GBatch, PathLengthRegularizer, build_regularizers, lazy_compensation, path_lengths
from gankit.models import build_models, resolve_model_options
from gankit.models.stylegan import MappingNetwork, ResidualBlock, ResidualDiscriminator, StyleEpilogue, check_resolution
from gankit.training import Trainer
from gankit.training.trainer import build_optimizer
from gankit.runs.checkpoint import load_checkpoint, load_model
from tests.conftest import TINY, tiny_config, tiny_images


def _G(model: str, resolution: int = 8, *extra: str, conditional: bool = False):
    cfg = load_config(model, TINY[model] + [f"conditional={str(conditional).lower()}", *extra])
    resolve_model_options(cfg, tiny_images(n=4, resolution=resolution))
    return build_models(cfg)


def test_truncation_and_cutoff_on_mapping():
    mapping = MappingNetwork(z_dim=6, c_dim=0, w_dim=5, num_ws=6, num_layers=2)
    with torch.no_grad():
        mapping.w_avg.copy_(torch.randn(5))
    z = torch.randn(3, 6)
    ws = mapping(z)
    assert ws.shape == (3, 6, 5) and torch.equal(ws[:, 0], ws[:, 5])  # one w broadcast to every layer
    assert torch.allclose(mapping(z, psi=0), mapping.w_avg.expand(3, 6, 5))
    half = mapping(z, psi=0.5, cutoff=2)
    assert torch.allclose(half[:, :2], mapping.w_avg + 0.5 * (ws[:, :2] - mapping.w_avg), atol=1e-6)
    assert torch.equal(half[:, 2:], ws[:, 2:])


def test_w_avg_is_an_ema_of_w_in_training():
    mapping = MappingNetwork(z_dim=4, c_dim=0, w_dim=3, num_ws=2, num_layers=1, w_avg_beta=0.9)
    z = torch.randn(8, 4)
    w = mapping(z)[:, 0]
    mapping(z, update_w_avg=True)
    assert torch.allclose(mapping.w_avg, 0.1 * w.mean(0), atol=1e-6)


def test_stylegan_truncates_the_first_8_ws_by_default():
    G, _ = _G("stylegan", 64)
    G.eval()
    assert G.num_ws == 2 * 6 - 2
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    ws = G.mapping(torch.randn(2, G.z_dim), psi=0.0)
    assert torch.allclose(ws[:, :8], G.w_avg.expand(2, 8, -1))
    assert not torch.allclose(ws[:, 8:], G.w_avg.expand(2, 2, -1))


@pytest.mark.parametrize("model", ["stylegan", "stylegan2"])
def test_style_mixing_in_training_only(model):
    G, _ = _G(model, 16, "G.mixing_prob=1.0")
    G.set_noise_generator(torch.Generator().manual_seed(0))
    z = torch.randn(3, G.z_dim)
    w1 = G.mapping(z)[:, 0]
    for _ in range(5):
        ws = G.training_styles(z)  # [3, L, w_dim]
        own = torch.isclose(ws, w1[:, None]).all(dim=2).all(dim=0)  # [L]: layers that kept z's w
        cutoff = int(own.sum())
        assert 1 <= cutoff < G.num_ws and own[:cutoff].all()  # one crossover, z's w before it
        assert torch.equal(ws[:, cutoff:], ws[:, -1:].expand_as(ws[:, cutoff:]))  # a second w after it
    G.mixing_prob = 0.0
    assert torch.allclose(G.training_styles(z), G.mapping(z))
    G.eval()
    G.mixing_prob = 1.0
    torch.manual_seed(0)
    a = G(z, noise_mode="const")
    assert torch.allclose(a, G.synthesis(G.mapping(z), noise_mode="const").clamp(-1, 1))  # eval: no mixing


def test_stylegan_epilogue_styles_instance_normalised_features():
    """After instance norm each channel has mean 0 and mean square 1, so the output's channel mean
    is y_b and its RMS about that mean is |y_s + 1| (StyleGAN's layer epilogue, REFERENCE §2)."""
    layer = StyleEpilogue(channels=4, w_dim=3, resolution=8)
    x, w = torch.randn(2, 4, 8, 8) * 3 + 1, torch.randn(2, 3)
    out = layer(x, w, "random", None)
    y_s, y_b = layer.style(w).chunk(2, dim=1)  # [2, 4] each
    assert torch.allclose(out.mean(dim=(2, 3)), y_b, atol=1e-4)
    assert torch.allclose((out - y_b[:, :, None, None]).square().mean(dim=(2, 3)).sqrt(), (y_s + 1).abs(), atol=1e-4)


def test_path_length_penalty_matches_a_direct_jacobian():
    G, _ = _G("stylegan2", 8, "G.mixing_prob=0")
    G.set_noise_generator(None)
    z = torch.randn(2, G.z_dim)
    lengths = path_lengths(G, z, None, torch.Generator().manual_seed(5))
    ws = G.mapping(z).detach()
    images = G.synthesis(ws)
    y = torch.randn(images.shape, generator=torch.Generator().manual_seed(5)) / math.sqrt(8 * 8)
    direct = []
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda w: G.synthesis(w[None])[0], ws[i], vectorize=True)  # [C, H, W, L, w_dim]
        g = (jac * y[i][..., None, None]).sum(dim=(0, 1, 2))  # Jᵀy [L, w_dim]
        direct.append(g.square().sum(1).mean().sqrt())
    assert torch.allclose(lengths, torch.stack(direct), rtol=1e-4)
    reg = PathLengthRegularizer("pl", "G", weight=2.0, interval=4, batch_shrink=2, decay=0.01)
    penalty = reg(GBatch(G, z, None, torch.Generator().manual_seed(5)))
    a = 0.01 * lengths.mean()
    assert torch.allclose(G.pl_mean, a) and torch.allclose(penalty, 2 * (lengths - a).square().mean(), rtol=1e-4)


def test_lazy_regularization_compensation_matches_reference_table():
    cfg = load_config("stylegan2", ["optim.G.lr=0.002", "optim.D.lr=0.002", "optim.G.fused=false", "optim.D.fused=false"])
    regs = build_regularizers(cfg.reg)
    assert {(r.name, r.network, r.interval) for r in regs} == {("r1", "D", 16), ("pl", "G", 4)}
    param = [torch.nn.Parameter(torch.zeros(1))]
    d = build_optimizer(param, cfg.optim.D, lazy_compensation(regs, "D")).param_groups[0]
    g = build_optimizer(param, cfg.optim.G, lazy_compensation(regs, "G")).param_groups[0]
    assert d["lr"] == pytest.approx(0.001882, abs=1e-6) and d["betas"][1] == pytest.approx(0.99059, abs=1e-5)
    assert g["lr"] == pytest.approx(0.0016) and g["betas"][1] == pytest.approx(0.99199, abs=1e-5)
    assert d["betas"][0] == 0 and g["betas"][0] == 0


def test_fourier_input_transform_moves_the_picture():
    G, _ = _G("stylegan2", 32, "G.input=fourier", "G.channel_base=256", "G.channel_max=16")
    G.eval()
    ws = G.mapping(torch.randn(4, G.z_dim))
    transform = G.synthesis.input.transform
    assert transform.shape == (3, 3)
    orig = G.synthesis(ws, noise_mode="none")
    transform[0, 2] = -0.25  # the input plane spans 1 unit: a quarter of the image = 8 pixels to the right
    moved = G.synthesis(ws, noise_mode="none")
    transform.copy_(torch.eye(3))
    shifted = torch.roll(orig, shifts=8, dims=3)
    valid = (slice(None), slice(None), slice(4, -4), slice(12, -4))  # away from the borders and the wrap
    err_shifted = (moved - shifted)[valid].square().mean()
    err_still = (moved - orig)[valid].square().mean()
    assert err_shifted < 0.5 * err_still
    with pytest.raises(AttributeError):
        _G("stylegan2", 8)[0].synthesis.input


def test_conditioning_reaches_mapping_and_projection():
    G, D = _G("stylegan2", 8, conditional=True)
    G.eval()
    z = torch.randn(2, G.z_dim).repeat(2, 1)
    c = torch.eye(10)[[0, 0, 1, 1]]
    ws = G.mapping(z, c)
    assert not torch.allclose(ws[0], ws[2])
    x = torch.randn(1, 1, 8, 8).repeat(4, 1, 1, 1)
    logits = D(x, c)
    assert logits.shape == (4,) and not torch.isclose(logits[0], logits[2])
    assert isinstance(D, ResidualDiscriminator)


def test_residual_block_clamps_its_second_conv_at_conv_clamp_times_sqrt_half():
    """NVIDIA's Conv2dLayer scales the clamp by the layer's gain: conv1 (gain √½) clamps at ±conv_clamp·√½; the skip is not clamped."""
    torch.manual_seed(0)
    block = ResidualBlock(2, 2, conv_clamp=0.1).double()  # float64: y + x - y gives x back to 1e-12
    with torch.no_grad():
        block.conv1.weight.mul_(1000)  # conv0's output is clamped to ±0.1: make conv1's saturate
    x = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 100
    residual = (block(x) - block.skip(x)).abs()
    assert residual.max().item() == pytest.approx(0.1 * math.sqrt(0.5), rel=1e-9)


def test_resolutions_are_powers_of_two_from_8_to_1024():
    assert check_resolution(8) == 3 and check_resolution(1024) == 10
    for bad in (4, 28, 2048):
        with pytest.raises(GankitError, match="power-of-two"):
            check_resolution(bad)


def test_checkpoint_round_trip_and_exact_resume(tmp_path):
    """Every saved buffer (w_avg, pl_mean, noise constants) survives a checkpoint, FIR filters are rebuilt
    rather than saved, and a resumed run continues exactly (mixing, noise and path-length draws come
    from the saved RNG streams)."""
    extra = ["reg.pl.interval=2", "reg.r1.interval=2", "ema.kimg=0.01", "augment.diffaugment=color,translation,cutout"]
    data = tiny_images(resolution=8)
    straight = Trainer(tiny_config("stylegan2", *extra, steps=4), data=data).train()
    first = Trainer(tiny_config("stylegan2", *extra, "checkpoint.kimg=0", steps=2), tmp_path / "run", data=data).train()
    checkpoint = load_checkpoint(tmp_path / "run")
    for name, model in first.models().items():
        for key, buffer in model.state_dict(keep_vars=True).items():
            assert torch.equal(checkpoint.tensors[f"{name}.{key}"], buffer), key
        assert not [key for key in checkpoint.tensors if key.endswith("_filter")]
    older = dict(checkpoint.tensors, **{"G.synthesis.blocks.0.resample_filter": torch.ones(4, 4) / 16})
    load_model(first.G, older, "G", tmp_path)  # checkpoints that still hold 2-D filter copies load
    with pytest.raises(GankitError, match="does not fit"):
        load_model(first.G, dict(checkpoint.tensors, **{"G.no_such_tensor": torch.ones(1)}), "G", tmp_path)
    assert "G.pl_mean" in checkpoint.tensors and float(checkpoint.tensors["G.pl_mean"]) > 0
    assert "G.mapping.w_avg" in checkpoint.tensors and "G_ema.synthesis.blocks.1.conv0.noise_const" in checkpoint.tensors
    resumed = Trainer.resume(tmp_path / "run", ["steps=4"], data=data).train()
    for a, b in zip(straight.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.D.state_dict().values(), resumed.D.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("preset", ["stylegan2", "stylegan3-t", "stylegan3-r", "stylegan2-paper"])
def test_conditional_style_presets_embed_labels_in_d_as_nvidia_does(preset):
    """Measured (BENCHMARKS, conditional StyleGAN2): NVIDIA's 8-layer label mapping in D beats one
    linear embedding in label accuracy (0.83 vs 0.70 at 100 kimg)."""
    cfg = load_config(preset, ["conditional=true", "G.channel_max=8", "D.channel_max=8"])
    resolve_model_options(cfg, tiny_images(n=4, resolution=16))
    D = build_models(cfg)[1]
    head = D.epilogue.head
    assert head.embed is None and head.mapping is not None
    assert len(head.mapping.layers) == 8 and head.mapping.embed is not None  # embed c, then 8 layers (lr x0.01)
