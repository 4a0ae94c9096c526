"""The Dirac-GAN lab: vector fields and Jacobian eigenvalues against their closed forms."""
import math

import numpy as np
import pytest
import torch

from gankit.lab.convergence import flow_behaviour, games, jacobian_at_equilibrium, simulate, step_behaviour, vector_field


def _game(name, gamma=1.0):
    return {g.name: g for g in games(gamma)}[name]


def _sigmoid(t):
    return 1 / (1 + math.exp(-t))


@pytest.mark.parametrize("c", [0.0, 0.7])
def test_vector_fields_match_their_closed_forms(c):
    theta, psi = 0.3, -1.2
    t, p = torch.tensor(theta, dtype=torch.float64), torch.tensor(psi, dtype=torch.float64)
    # NS: L_D = softplus(-ψc) + softplus(ψθ) + γ/2 ψ², L_G = softplus(-ψθ)
    v = vector_field(_game("NS + R1", 0.5), t, p, c)
    expected = (psi * _sigmoid(-psi * theta), c * _sigmoid(-psi * c) - theta * _sigmoid(psi * theta) - 0.5 * psi)
    assert np.allclose([float(x.detach()) for x in v], expected)
    # RpGAN: L_D = softplus(ψ(θ - c)) + (γ1 + γ2)/2 ψ², L_G = softplus(-ψ(θ - c))
    v = vector_field(_game("RpGAN + R1 + R2", 0.5), t, p, c)
    expected = (psi * _sigmoid(-psi * (theta - c)), -(theta - c) * _sigmoid(psi * (theta - c)) - 1.0 * psi)
    assert np.allclose([float(x.detach()) for x in v], expected)
    # WGAN: L_D = ψθ - ψc, L_G = -ψθ
    v = vector_field(_game("WGAN"), t, p, c)
    assert np.allclose([float(x.detach()) for x in v], (psi, c - theta))


@pytest.mark.parametrize("gamma", [0.3, 1.0, 4.0])
def test_eigenvalues_at_the_equilibrium_match_the_analysis(gamma):
    def eig(name, c=0.4):
        return np.sort_complex(np.linalg.eigvals(jacobian_at_equilibrium(_game(name, gamma), c)))

    assert np.allclose(eig("NS", c=0.0), [-0.5j, 0.5j])  # J = [[0, f'(0)], [-f'(0), 0]]: ±i f'(0), f' = σ
    assert np.allclose(eig("RpGAN"), [-0.5j, 0.5j])
    assert np.allclose(eig("WGAN"), [-1j, 1j])  # f(t) = t
    for name, damping in [("RpGAN + R1", gamma), ("RpGAN + R1 + R2", 2 * gamma)]:  # J = [[0, 1/2], [-1/2, -d]]
        roots = np.roots([1, damping, 0.25])
        assert np.allclose(eig(name), np.sort_complex(roots.astype(complex)))


def test_penalties_converge_and_unpenalised_games_do_not():
    for game in games(1.0):
        eig = np.linalg.eigvals(jacobian_at_equilibrium(game, 0.0))
        path = simulate(game, (1.0, 1.0), lr=0.05, steps=2000)
        end = math.hypot(*path[-1])
        if game.r1 or game.r2:
            assert flow_behaviour(eig) == "converges" and step_behaviour(eig, 0.05) == "converges" and end < 1e-4
        else:
            assert flow_behaviour(eig) == "cycles" and step_behaviour(eig, 0.05) == "spirals out" and end > 0.1
    wgan = simulate(_game("WGAN"), (1.0, 1.0), lr=0.05, steps=2000)
    assert math.hypot(*wgan[-1]) > math.hypot(*wgan[0])  # simultaneous steps move away from the equilibrium
