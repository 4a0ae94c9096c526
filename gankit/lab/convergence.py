"""Why a GAN converges (Mescheder, Geiger & Nowozin 2018; Huang et al. 2024, R3GAN): the Dirac-GAN.

The data is one point x = c, the generator one point θ (p_θ = δ_θ), the discriminator linear,
D_ψ(x) = ψ·x. The equilibrium is (θ, ψ) = (c, 0). Each loss below is written in gankit's
convention (D minimises `d_loss(real_logits, fake_logits)`, D scores real high); gradient descent
on both players is the vector field v(θ, ψ) = (−∂L_G/∂θ, −∂L_D/∂ψ). Its Jacobian at the
equilibrium decides local convergence: eigenvalues with negative real parts converge, purely
imaginary ones circle (and simultaneous gradient steps of any size spiral outwards).

For a linear D, ∇ₓD = ψ everywhere, so R1 (on reals) and R2 (on fakes) are the same penalty γ/2·ψ²:
on the Dirac-GAN RpGAN + R1 + R2 is RpGAN + R1 with twice the weight. The image-scale difference
between them (R2 keeps D smooth where the fakes are) needs the ring/grid and image labs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.nn.functional import softplus

from gankit.lab.report import LabSection, markdown_table, save_figure

Tensor = torch.Tensor
THREADS = 1  # scalar maths: threads only add synchronisation


@dataclass(frozen=True)
class DiracGame:
    """One training method on the Dirac-GAN: the two players' losses as functions of (θ, ψ)."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (real_logit, fake_logit) -> D's loss
    g_loss: Callable[[Tensor, Tensor], Tensor]  # (real_logit, fake_logit) -> G's loss
    r1: float = 0.0  # γ of R1: γ/2·|∇ₓD(real)|² added to D's loss
    r2: float = 0.0  # γ of R2: γ/2·|∇ₓD(fake)|² added to D's loss


def _nonsaturating_d(real: Tensor, fake: Tensor) -> Tensor:
    return softplus(-real) + softplus(fake)


def _rpgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return softplus(-(real - fake))


def games(gamma: float = 1.0) -> list[DiracGame]:
    """The six methods of the R3GAN issue, with penalty weight γ."""
    ns_g = lambda real, fake: softplus(-fake)  # noqa: E731
    rp_g = lambda real, fake: softplus(-(fake - real))  # noqa: E731
    return [
        DiracGame("NS", _nonsaturating_d, ns_g),
        DiracGame("NS + R1", _nonsaturating_d, ns_g, r1=gamma),
        DiracGame("WGAN", lambda real, fake: fake - real, lambda real, fake: -fake),
        DiracGame("RpGAN", _rpgan_d, rp_g),
        DiracGame("RpGAN + R1", _rpgan_d, rp_g, r1=gamma),
        DiracGame("RpGAN + R1 + R2", _rpgan_d, rp_g, r1=gamma, r2=gamma),
    ]


def vector_field(game: DiracGame, theta: Tensor, psi: Tensor, c: float = 0.0) -> tuple[Tensor, Tensor]:
    """(−∂L_G/∂θ, −∂L_D/∂ψ) at (θ, ψ), by autograd (differentiable again); θ and ψ are scalar tensors."""
    theta, psi = (t if t.requires_grad else t.detach().requires_grad_(True) for t in (theta, psi))
    real, fake = psi * c, psi * theta  # D_ψ(x) = ψ·x on the real point and the generated one
    grad_x = psi  # ∇ₓ D_ψ(x) = ψ at every x: what R1 and R2 penalise
    d_loss = game.d_loss(real, fake) + 0.5 * (game.r1 + game.r2) * grad_x.square()
    g_loss = game.g_loss(real, fake)
    (d_theta,) = torch.autograd.grad(g_loss, theta, create_graph=True)
    (d_psi,) = torch.autograd.grad(d_loss, psi, create_graph=True)
    return -d_theta, -d_psi


def jacobian_at_equilibrium(game: DiracGame, c: float = 0.0) -> np.ndarray:
    """The 2×2 Jacobian of the vector field at (θ, ψ) = (c, 0), float64."""
    def field(point: Tensor) -> Tensor:
        v_theta, v_psi = vector_field(game, point[0], point[1], c)
        return torch.stack([v_theta, v_psi])

    point = torch.tensor([c, 0.0], dtype=torch.float64)
    return torch.autograd.functional.jacobian(field, point, create_graph=False).numpy()


def simulate(game: DiracGame, start: tuple[float, float], lr: float, steps: int, c: float = 0.0) -> np.ndarray:
    """Simultaneous gradient descent from `start`: the trajectory [steps + 1, 2] of (θ, ψ)."""
    theta, psi = (torch.tensor(v, dtype=torch.float64) for v in start)
    path = [(float(theta), float(psi))]  # θ, ψ: float64 scalars
    for _ in range(steps):
        v_theta, v_psi = vector_field(game, theta, psi, c)
        theta, psi = (theta + lr * v_theta).detach(), (psi + lr * v_psi).detach()
        path.append((float(theta), float(psi)))
    return np.array(path)


def flow_behaviour(eigenvalues: np.ndarray) -> str:
    """The continuous gradient flow near the equilibrium: negative real parts converge, zero ones circle."""
    largest = float(np.max(eigenvalues.real))
    if largest < -1e-12:
        return "converges"
    return "cycles" if largest <= 1e-12 else "diverges"


def step_behaviour(eigenvalues: np.ndarray, lr: float) -> str:
    """Simultaneous gradient steps of size lr near the equilibrium: the spectral radius of I + lr·J against 1."""
    radius = float(np.max(np.abs(1 + lr * eigenvalues)))
    return "converges" if radius < 1 - 1e-12 else "spirals out"


PROTOCOLS = {"quick": {"steps": 200, "grid": 9}, "default": {"steps": 3000, "grid": 15}, "paper": {"steps": 10000, "grid": 21}}


def _plot(results: list[dict], trajectories: list[np.ndarray], game_list: list[DiracGame], grid: int, c: float) -> Figure:
    fig = Figure(figsize=(12, 7.5))
    axes = fig.subplots(2, 3)
    lim = 2.0
    ticks = np.linspace(-lim, lim, grid)
    for ax, game, path, result in zip(axes.flat, game_list, trajectories, results):
        u = np.zeros((grid, grid))
        v = np.zeros((grid, grid))
        for i, psi in enumerate(ticks):
            for j, theta in enumerate(ticks):
                vt, vp = vector_field(game, torch.tensor(theta + c, dtype=torch.float64), torch.tensor(psi, dtype=torch.float64), c)
                u[i, j], v[i, j] = float(vt.detach()), float(vp.detach())
        ax.quiver(ticks + c, ticks, u, v, color="0.6", angles="xy")
        ax.plot(path[:, 0], path[:, 1], color="tab:red", linewidth=1.2)
        ax.plot([path[0, 0]], [path[0, 1]], "o", color="tab:red", markersize=4)
        ax.plot([c], [0], "*", color="black", markersize=10)
        ax.set_xlim(c - lim, c + lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(f"{game.name}: flow {result['flow']}, steps {result['steps']}", fontsize=9)
        ax.set_xlabel("θ (generator)")
        ax.set_ylabel("ψ (discriminator)")
    return fig


def run(out: Path, protocol: str = "default", progress: bool = True) -> LabSection:
    """The Dirac-GAN for six training methods: eigenvalues at the equilibrium, trajectories, a figure."""
    settings = PROTOCOLS[protocol]
    cpu0 = time.process_time()
    gamma, lr, c, start = 1.0, 0.05, 0.0, (1.0, 1.0)
    game_list = games(gamma)
    results, trajectories = [], []
    for game in game_list:
        eig = np.linalg.eigvals(jacobian_at_equilibrium(game, c))
        path = simulate(game, start, lr, settings["steps"], c)
        distance = float(np.hypot(path[-1, 0] - c, path[-1, 1]))
        results.append({"method": game.name, "eigenvalues": [[float(e.real), float(e.imag)] for e in eig],
                        "flow": flow_behaviour(eig),
                        "steps": step_behaviour(eig, lr), "final_distance": distance,
                        "start_distance": float(math.hypot(start[0] - c, start[1]))})
        trajectories.append(path)
    figure = save_figure(_plot(results, trajectories, game_list, settings["grid"], c), out / "convergence_dirac.png")
    rows = [[r["method"], ", ".join(f"{re:+.3f}{im:+.3f}i" for re, im in r["eigenvalues"]), r["flow"], r["steps"],
             f"{r['final_distance']:.3g}"] for r in results]
    markdown = "\n\n".join([
        f"The Dirac-GAN (Mescheder et al. 2018): data at x = {c:g}, G = δ_θ, D_ψ(x) = ψ·x; simultaneous gradient "
        f"descent with step {lr} for {settings['steps']} steps from (θ, ψ) = {start}, penalty weight γ = {gamma}.",
        markdown_table(["method", "eigenvalues of the Jacobian at (c, 0)", "gradient flow", f"steps of {lr} near (c, 0)",
                        "final distance to (c, 0)"], rows),
        "Purely imaginary eigenvalues (NS, WGAN, RpGAN without penalties) make the players circle the equilibrium, and "
        "discrete simultaneous steps spiral outwards; a zero-centred gradient penalty adds −γ to D's diagonal and makes "
        "every eigenvalue's real part negative. With a linear D, R1 and R2 penalise the same ∇ₓD = ψ, so on this game "
        "R2 only doubles the damping.",
        f"![Dirac-GAN vector fields and trajectories]({figure})",
    ])
    return LabSection("convergence", "Why GANs converge: the Dirac-GAN (Mescheder et al. 2018; R3GAN 2024)", markdown,
                      [figure], {"gamma": gamma, "lr": lr, "start": list(start), "methods": results,
                       "compute": {"steps": settings["steps"], "cpu_seconds": round(time.process_time() - cpu0, 2)}})
