import math

import pytest
import torch

from gankit.losses import adversarial as adv
from gankit.registry import LOSSES


def test_logistic_d_loss_hand_computed():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0])
    assert adv.d_logistic(real, fake).item() == pytest.approx(2 * math.log(2))
    assert adv.d_seed_bce(real, fake).item() == pytest.approx(math.log(2))
    # the seed's BCELoss on sigmoid outputs
    r, f = torch.tensor([1.5, -0.3]), torch.tensor([0.2, -2.0])
    bce = torch.nn.BCELoss()
    seed = (bce(torch.sigmoid(r), torch.ones(2)) + bce(torch.sigmoid(f), torch.zeros(2))) / 2
    assert adv.d_seed_bce(r, f).item() == pytest.approx(seed.item(), rel=1e-6)
    assert adv.g_nonsaturating(f).item() == pytest.approx(bce(torch.sigmoid(f), torch.ones(2)).item(), rel=1e-6)


def test_generator_losses_hand_computed():
    f = torch.tensor([0.0, 2.0])
    assert adv.g_minimax(f).item() == pytest.approx(torch.log(1 - torch.sigmoid(f)).mean().item(), rel=1e-6)
    assert adv.g_wasserstein(f).item() == pytest.approx(-1.0)
    assert adv.d_wasserstein(torch.tensor([3.0]), torch.tensor([1.0])).item() == pytest.approx(-2.0)
    assert adv.d_hinge(torch.tensor([0.5]), torch.tensor([-0.5])).item() == pytest.approx(1.0)
    assert adv.d_least_squares(torch.tensor([1.0]), torch.tensor([0.0])).item() == 0.0
    assert adv.g_least_squares(torch.tensor([0.0])).item() == pytest.approx(0.5)


@pytest.mark.parametrize("name", LOSSES.names())
def test_signs_d_scores_real_high(name):
    """Every D loss falls as real logits rise and fake logits fall; every G loss falls as fake logits rise."""
    loss = LOSSES.get(name)
    real = torch.tensor([0.3, 0.2], requires_grad=True)  # inside (0, 1): every loss is monotone there
    fake = torch.tensor([0.1, 0.4], requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake_g = torch.tensor([0.1, 0.4], requires_grad=True)
    loss.generator_loss(fake_g, torch.tensor([0.3, 0.2])).backward()
    assert (fake_g.grad < 0).all()


def test_minimax_saturates_where_nonsaturating_does_not():
    """When D confidently rejects fakes, the minimax G gradient vanishes; the -log D one does not."""
    fake = torch.tensor([-10.0], requires_grad=True)
    adv.g_minimax(fake).backward()
    minimax_grad = fake.grad.abs().item()
    fake.grad = None
    adv.g_nonsaturating(fake).backward()
    assert minimax_grad < 1e-4 < fake.grad.abs().item()


def test_relativistic_pairing_against_autograd_of_its_closed_form():
    """RpGAN: d/dD(x_i) of mean softplus(-(D(x_i) - D(G(z_i)))) = -σ(-(r_i - f_i))/N, and the mirror for G."""
    real = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    fake = torch.tensor([0.2, 0.3, -0.4], requires_grad=True)
    loss = LOSSES.get("rpgan")
    loss.d_loss(real, fake).backward()
    expected = -torch.sigmoid(-(real - fake)).detach() / 3
    assert torch.allclose(real.grad, expected) and torch.allclose(fake.grad, -expected)
    real.grad = fake.grad = None
    loss.generator_loss(fake, real).backward()
    assert real.grad is None  # the reals carry no gradient into G's loss
    assert torch.allclose(fake.grad, -torch.sigmoid(-(fake - real)).detach() / 3)
    assert loss.d_loss(torch.zeros(2), torch.zeros(2)).item() == pytest.approx(math.log(2))


def test_relativistic_loss_needs_the_real_logits():
    loss = LOSSES.get("rpgan")
    assert loss.relativistic and not LOSSES.get("nonsaturating").relativistic
    with pytest.raises(ValueError, match="relativistic"):
        loss.generator_loss(torch.zeros(2))
    assert LOSSES.get("nonsaturating").generator_loss(torch.zeros(2), torch.ones(2)).item() == pytest.approx(math.log(2))
