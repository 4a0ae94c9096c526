import pytest
import torch
from torch import nn

from gankit.config import RegConfig
from gankit.errors import GankitError
from gankit.losses import DBatch, build_regularizers, clip_weights, lazy_compensation
from gankit.losses.regularizers import gradient_penalty, r1_penalty


class LinearD(nn.Module):
    """D(x) = w . x: its input gradient is w everywhere, so penalties have closed forms."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, c=None):
        return x.flatten(1) @ self.w


def test_gradient_penalty_equals_definition_on_linear_d():
    D = LinearD([3.0, 4.0])  # |grad| = 5 everywhere
    reals, fakes = torch.randn(6, 2), torch.randn(6, 2)
    gp = gradient_penalty(D, reals, fakes, None, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5 - 1) ** 2)
    gp.backward()  # differentiable in D's weights: d/dw (|w|-1)^2 = 2(|w|-1) w/|w|
    assert torch.allclose(D.w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_gradient_penalty_uses_per_sample_interpolates():
    """A quadratic D: the penalty must equal the mean over samples at x + u_i (f - x) with u_i per sample."""

    class Quadratic(nn.Module):
        def forward(self, x, c=None):
            return (x ** 2).sum(1)

    reals, fakes = torch.zeros(4, 3), torch.ones(4, 3)
    noise = torch.Generator().manual_seed(7)
    u = torch.rand(4, generator=torch.Generator().manual_seed(7))
    expected = ((2 * u * 3 ** 0.5 - 1) ** 2).mean()  # grad = 2 x_hat, |x_hat| = u sqrt(3)
    assert gradient_penalty(Quadratic(), reals, fakes, None, noise).item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_and_drift_and_build():
    D = LinearD([1.0, 2.0])
    assert r1_penalty(D, torch.randn(5, 2), None).item() == pytest.approx(5.0)
    cfg = RegConfig()
    cfg.r1.gamma, cfg.drift.weight = 10.0, 0.001
    regs = {r.name: r for r in build_regularizers(cfg)}
    assert set(regs) == {"r1", "drift"}
    batch = DBatch(D, torch.randn(5, 2), torch.randn(5, 2), None, None, torch.full((5,), 2.0), torch.Generator())
    assert regs["r1"](batch).item() == pytest.approx(0.5 * 10 * 5)
    assert regs["drift"](batch).item() == pytest.approx(0.001 * 4)


def test_r2_penalises_the_gradient_on_fakes_only():
    """R2 = gamma/2 E|grad D(G(z))|^2 on the (detached) fakes: for D(x) = sum w_j x_j^2 it is gamma/2 E 4|w x|^2."""

    class QuadraticD(torch.nn.Module):
        def forward(self, x, c=None):
            return (torch.tensor([1.0, 3.0]) * x.square()).sum(1)

    cfg = RegConfig()
    cfg.r2.gamma = 2.0
    regs = {r.name: r for r in build_regularizers(cfg)}
    assert set(regs) == {"r2"}
    reals, fakes = torch.randn(6, 2), torch.randn(6, 2, requires_grad=True)
    batch = DBatch(QuadraticD(), reals, fakes, None, None, None, torch.Generator())
    expected = (2 * torch.tensor([1.0, 3.0]) * fakes.detach()).square().sum(1).mean()
    penalty = regs["r2"](batch)
    assert penalty.item() == pytest.approx(0.5 * 2.0 * expected.item(), rel=1e-6)
    penalty.backward()
    assert fakes.grad is None  # taken on a detached copy: no gradient reaches G


def test_r1_and_r2_read_the_gradient_of_the_d_pass_when_given():
    """With DBatch.real_grad / fake_grad set (the D step's own pass) R1 and R2 square them and never call D."""

    class NoCalls(nn.Module):
        def forward(self, x, c=None):
            raise AssertionError("D ran again")

    cfg = RegConfig()
    cfg.r1.gamma, cfg.r2.gamma, cfg.gp.weight = 4.0, 2.0, 1.0
    regs = {r.name: r for r in build_regularizers(cfg)}
    assert {name: r.gradient_at for name, r in regs.items()} == {"gp": None, "r1": "reals", "r2": "fakes"}
    real_grad, fake_grad = torch.tensor([[1.0, 2.0], [0.0, 3.0]]), torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    batch = DBatch(NoCalls(), torch.randn(2, 2), torch.randn(2, 2), None, None, None, torch.Generator(),
                   real_grad, fake_grad)
    assert regs["r1"](batch).item() == pytest.approx(0.5 * 4.0 * (5 + 9) / 2)
    assert regs["r2"](batch).item() == pytest.approx(0.5 * 2.0 * 4 / 2)


def test_lazy_compensation_matches_stylegan2():
    cfg = RegConfig()
    cfg.r1.gamma, cfg.r1.interval = 1.0, 16
    regs = build_regularizers(cfg)
    c = lazy_compensation(regs, "D")
    assert c == pytest.approx(16 / 17)
    assert 0.002 * c == pytest.approx(0.001882, abs=1e-6) and 0.99 ** c == pytest.approx(0.99059, abs=1e-5)
    assert lazy_compensation(regs, "G") == 1.0
    cfg.gp.weight, cfg.gp.interval = 1.0, 4
    with pytest.raises(GankitError):
        build_regularizers(cfg)


def test_clip_weights():
    D = LinearD([0.5, -0.02])
    clip_weights(D, 0.01)
    assert D.w.tolist() == pytest.approx([0.01, -0.01])
