"""The divergences lab's maths: the D* identity, JS saturating at log 2, W1's constant gradient."""
import math

import pytest
import torch

from gankit.lab import divergences as dv


@pytest.mark.parametrize("theta", [0.0, 0.7, 2.0, 5.0, 12.0])
def test_value_at_optimal_discriminator_is_2js_minus_log4(theta):
    x, w = dv.gaussian_pair_grid(theta)
    lp, lq = dv.normal_log_pdf(x, 0.0), dv.normal_log_pdf(x, theta)
    d_star = dv.optimal_discriminator(lp, lq)
    value = dv.game_value_from_logits(lp - lq, lp, lq, w)  # logit of D* = log p_data - log p_g
    assert abs(float(value) - (2 * float(dv.js_divergence(lp, lq, w)) - math.log(4))) < 1e-8
    assert abs(float(dv.game_value(d_star.clamp(1e-300, 1 - 1e-16), lp, lq, w)) - float(value)) < 1e-8
    if theta == 0.0:  # equilibrium: D* = 1/2 everywhere, value -log 4
        assert torch.allclose(d_star, torch.full_like(d_star, 0.5)) and abs(float(value) + math.log(4)) < 1e-8


def test_js_saturates_at_log2_and_its_gradient_vanishes():
    js, grad = dv.gaussian_js(20.0)
    assert abs(js - math.log(2)) < 1e-9 and abs(grad) < 1e-6
    js1, grad1 = dv.gaussian_js(1.0)
    # closed form check of the slope at theta=1 by central differences
    assert abs(grad1 - (dv.gaussian_js(1.0 + 1e-4)[0] - dv.gaussian_js(1.0 - 1e-4)[0]) / 2e-4) < 1e-6 and grad1 > 0.1


@pytest.mark.parametrize("theta", [0.5, 3.0, 20.0])
def test_w1_is_abs_theta_with_gradient_one(theta):
    w1, grad = dv.gaussian_w1(theta)
    assert abs(w1 - theta) < 1e-8 and abs(grad - 1.0) < 1e-8


def test_uniform_js_is_theta_log2_until_disjoint():
    assert abs(dv.uniform_js(0.5) - 0.5 * math.log(2)) < 1e-3
    assert abs(dv.uniform_js(3.0) - math.log(2)) < 1e-3


def test_trained_discriminator_reaches_the_identity():
    theta = 2.0
    D = dv.train_discriminator(theta, "logistic", steps=100, batch=512)
    target = 2 * dv.gaussian_js(theta)[0] - math.log(4)
    value = dv.trained_value(D, theta)
    assert value <= target + 1e-6 and target - value < 1e-2
