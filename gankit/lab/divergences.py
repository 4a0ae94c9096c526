"""The game's value, the optimal D, JS against Wasserstein (seed §2.2, §3.1–3.3, §4.1).

On the pair p_data = N(0, 1), p_g = N(theta, 1): D* = p_data / (p_data + p_g) and
max_D V(G, D) = V(G, D*) = 2 JS(p_data || p_g) - log 4, by quadrature in float64; JS(theta) and its
derivative (autograd through the quadrature) against W1 = |theta|; the same for disjoint supports;
and, learned, the generator's gradient d/dtheta through a trained D (minimax, non-saturating) and a
trained WGAN-GP critic, with G(z) = z + theta.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch.nn.functional import softplus

from gankit.lab.report import LabSection, markdown_table, save_figure
from gankit.losses.adversarial import d_logistic, d_wasserstein, g_minimax, g_nonsaturating, g_wasserstein
from gankit.losses.regularizers import gradient_penalty
from gankit.models.mlp import MLPDiscriminator, MLPDOptions

LOG2 = math.log(2.0)
THREADS = 1  # 1-D MLPs: one torch thread is fastest
PROTOCOLS = {  # thetas: where a D is trained; curve_step: spacing of the closed-form curves on [0, 20]
    "quick": {"thetas": [0.5, 6.0], "d_steps": 30, "batch": 128, "curve_step": 1.0},
    "default": {"thetas": [0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0], "d_steps": 1500, "batch": 1024, "curve_step": 0.25},
    "paper": {"thetas": [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0], "d_steps": 3000, "batch": 1024, "curve_step": 0.25},
}


def quadrature(lo: float, hi: float, n: int = 40001) -> tuple[torch.Tensor, torch.Tensor]:
    """Trapezoid nodes x [n] and weights w [n] on [lo, hi], float64."""
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    w = torch.full_like(x, (hi - lo) / (n - 1))
    w[0] = w[-1] = w[0] / 2
    return x, w


def normal_log_pdf(x: torch.Tensor, mean: torch.Tensor | float, std: float = 1.0) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def gaussian_pair_grid(theta: float, n: int = 40001) -> tuple[torch.Tensor, torch.Tensor]:
    """Quadrature covering N(0, 1) and N(theta, 1) to 14 standard deviations."""
    return quadrature(min(0.0, theta) - 14.0, max(0.0, theta) + 14.0, n)


def optimal_discriminator(log_p_data: torch.Tensor, log_p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data / (p_data + p_g), from log densities (stable)."""
    return torch.sigmoid(log_p_data - log_p_g)


def game_value(D: torch.Tensor, log_p_data: torch.Tensor, log_p_g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """V(G, D) = E_data log D(x) + E_g log(1 - D(x)) by quadrature (D given on the nodes, in (0, 1))."""
    return (w * (log_p_data.exp() * D.log() + log_p_g.exp() * torch.log1p(-D))).sum()


def game_value_from_logits(logits: torch.Tensor, log_p_data: torch.Tensor, log_p_g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """V(G, D) with D = sigmoid(logits): log D = -softplus(-l), log(1 - D) = -softplus(l)."""
    return (w * (-log_p_data.exp() * softplus(-logits) - log_p_g.exp() * softplus(logits))).sum()


def js_divergence(log_p: torch.Tensor, log_q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2, by quadrature (nats)."""
    # log p - log m = log 2 - softplus(log q - log p), exact and stable where p and q differ by 1e300
    kl_p = (w * log_p.exp() * (LOG2 - softplus(log_q - log_p))).sum()
    kl_q = (w * log_q.exp() * (LOG2 - softplus(log_p - log_q))).sum()
    return 0.5 * (kl_p + kl_q)


def gaussian_js(theta: float) -> tuple[float, float]:
    """JS(N(0,1) || N(theta,1)) and dJS/dtheta (autograd through the quadrature)."""
    t = torch.tensor(float(theta), dtype=torch.float64, requires_grad=True)
    x, w = gaussian_pair_grid(float(theta))
    js = js_divergence(normal_log_pdf(x, 0.0), normal_log_pdf(x, t), w)
    (grad,) = torch.autograd.grad(js, t)
    return float(js.detach()), float(grad)


def gaussian_w1(theta: float) -> tuple[float, float]:
    """W1(N(0,1), N(theta,1)) = integral |F_0 - F_theta| dx by quadrature, and its derivative (closed form |theta|, sign)."""
    t = torch.tensor(float(theta), dtype=torch.float64, requires_grad=True)
    x, w = gaussian_pair_grid(float(theta))
    w1 = (w * (torch.special.ndtr(x) - torch.special.ndtr(x - t)).abs()).sum()
    (grad,) = torch.autograd.grad(w1, t)
    return float(w1.detach()), float(grad)


def uniform_js(theta: float, n: int = 50001) -> float:
    """JS(U[0,1] || U[theta, theta+1]) by quadrature: |theta| log 2 while they overlap, log 2 once disjoint."""
    x, w = quadrature(min(0.0, theta) - 1.0, max(0.0, theta) + 2.0, n)
    inside = lambda a: torch.where((x >= a) & (x <= a + 1), 0.0, -math.inf).to(torch.float64)  # log density
    log_p, log_q = inside(0.0), inside(theta)
    terms = []
    for lp, lq in ((log_p, log_q), (log_q, log_p)):
        kl = torch.where(lp > -math.inf, lp.exp() * (LOG2 - softplus(lq - lp)), torch.zeros_like(x))
        terms.append((w * kl).sum())
    return float(0.5 * (terms[0] + terms[1]))


def train_discriminator(theta: float, loss: str, steps: int, batch: int, seed: int = 0) -> MLPDiscriminator:
    """A 1-D MLP D (2 x 64, LeakyReLU) trained on N(0,1) vs N(theta,1): `logistic` or `wgan-gp` (lambda 10)."""
    torch.manual_seed(seed)
    D = MLPDiscriminator(MLPDOptions(data_dim=1, widths=[64, 64]))
    opt = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        reals = torch.randn(batch, 1, generator=gen)
        fakes = torch.randn(batch, 1, generator=gen) + theta
        logits = D(torch.cat([reals, fakes]))  # [2 batch]
        if loss == "logistic":
            value = d_logistic(logits[:batch], logits[batch:])
        else:
            value = d_wasserstein(logits[:batch], logits[batch:]) + 10.0 * gradient_penalty(D, reals, fakes, None, gen)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return D.eval().requires_grad_(False)


def generator_gradient(D: MLPDiscriminator, theta: float, loss: str, n: int = 20000, seed: int = 7) -> float:
    """|d L_G / d theta| for G(z) = z + theta through a fixed D: minimax, nonsaturating or wasserstein."""
    t = torch.tensor(float(theta), requires_grad=True)
    z = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed))
    logits = D(z + t)
    value = {"minimax": g_minimax, "nonsaturating": g_nonsaturating, "wasserstein": g_wasserstein}[loss](logits)
    (grad,) = torch.autograd.grad(value, t)
    return abs(float(grad))


def trained_value(D: MLPDiscriminator, theta: float) -> float:
    """V(G, D) of a trained logistic D by quadrature."""
    x, w = gaussian_pair_grid(theta, 8001)
    with torch.no_grad():
        logits = D(x.float()[:, None]).double()
    return float(game_value_from_logits(logits, normal_log_pdf(x, 0.0), normal_log_pdf(x, theta), w))


def run(out: Path, protocol: str = "default", progress: bool = True) -> LabSection:
    """The divergences lab: numbers, two figures and a Markdown section."""
    p = PROTOCOLS[protocol]
    cpu0 = time.process_time()
    closed = []
    for theta in [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 20.0]:
        x, w = gaussian_pair_grid(theta)
        lp, lq = normal_log_pdf(x, 0.0), normal_log_pdf(x, theta)
        value = float(game_value(optimal_discriminator(lp, lq).clamp(1e-300, 1 - 1e-16), lp, lq, w))
        js = float(js_divergence(lp, lq, w))
        closed.append({"theta": theta, "V(G,D*)": value, "2JS-log4": 2 * js - math.log(4), "identity_error": abs(value - (2 * js - math.log(4)))})
    thetas = [i * p["curve_step"] for i in range(0, round(20 / p["curve_step"]) + 1)]
    curves = {"theta": thetas, "js": [], "d_js": [], "w1": [], "d_w1": [], "js_uniform": [], "js_parallel_lines": [], "w1_parallel_lines": []}
    for theta in thetas:
        js, d_js = gaussian_js(theta)
        w1, d_w1 = gaussian_w1(theta)
        curves["js"].append(js), curves["d_js"].append(d_js), curves["w1"].append(w1), curves["d_w1"].append(d_w1)
        curves["js_uniform"].append(uniform_js(theta))
        curves["js_parallel_lines"].append(0.0 if theta == 0 else LOG2)  # WGAN paper, Example 1: disjoint lines
        curves["w1_parallel_lines"].append(abs(theta))
    learned = []
    from tqdm.auto import tqdm

    for theta in tqdm(p["thetas"], desc="divergences: training D per theta", disable=not progress or None):
        D = train_discriminator(theta, "logistic", p["d_steps"], p["batch"])
        critic = train_discriminator(theta, "wgan-gp", p["d_steps"], p["batch"])
        js, _ = gaussian_js(theta)
        learned.append({"theta": theta, "grad_minimax": generator_gradient(D, theta, "minimax"),
                        "grad_nonsaturating": generator_gradient(D, theta, "nonsaturating"),
                        "grad_wgan_gp": generator_gradient(critic, theta, "wasserstein"),
                        "V(G,D_trained)": trained_value(D, theta), "2JS-log4": 2 * js - math.log(4)})
    d_theta = 2.0
    D2 = train_discriminator(d_theta, "logistic", p["d_steps"], p["batch"])
    figures = [_plot_divergences(out, curves, learned), _plot_discriminator(out, D2, d_theta)]
    results = {
        "setup": "p_data = N(0,1), p_g = N(theta,1); quadrature: trapezoid, 40,001 nodes on [min(0,theta)-14, max(0,theta)+14], float64; "
                 f"learned: 1-D MLP D 2x64 LeakyReLU, Adam 1e-3 (0.5, 0.999), {p['d_steps']} steps of batch {p['batch']} per theta; "
                 "WGAN-GP critic lambda 10; gradients of G(z) = z + theta over 20,000 z",
        "dataset": "1-D Gaussian pair N(0,1) / N(theta,1); uniforms U[0,1] / U[theta,theta+1]; parallel lines (WGAN Example 1)",
        "recipe": "closed forms + trained D per theta", "seeds": [0],
        "compute": {"d_steps_per_theta": p["d_steps"], "batch": p["batch"], "cpu_seconds": round(time.process_time() - cpu0, 2)},
        "identity": closed, "curves": curves, "learned": learned,
        "js_at_20": gaussian_js(20.0)[0], "d_js_at_20": gaussian_js(20.0)[1], "d_w1_at_20": gaussian_w1(20.0)[1],
    }
    return LabSection("divergences", "Divergences: the optimal D, JS against W1 (seed §2.2, §3.1–3.3, §4.1)",
                      _markdown(results, figures, d_theta), figures, results)


def _plot_divergences(out: Path, curves: dict, learned: list[dict]) -> str:
    fig = Figure(figsize=(13, 4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    th = curves["theta"]
    ax1.plot(th, curves["js"], label="JS, Gaussians")
    ax1.plot(th, curves["js_uniform"], label="JS, uniforms", linestyle="--")
    ax1.plot(th, curves["js_parallel_lines"], label="JS, parallel lines", linestyle=":")
    ax1.axhline(LOG2, color="grey", linewidth=0.6)
    ax1.set(xlabel="theta", ylabel="nats", title="JS(p_data || p_theta) saturates at log 2")
    ax1.legend()
    ax2.plot(th, curves["w1"], label="W1 (Gaussians, uniforms, lines: |theta|)")
    ax2.plot(th, curves["d_w1"], label="dW1/dtheta")
    ax2.plot(th, curves["d_js"], label="dJS/dtheta (Gaussians)")
    ax2.set(xlabel="theta", title="W1 grows linearly; its gradient stays 1")
    ax2.legend()
    t = [r["theta"] for r in learned]
    for key, label in (("grad_minimax", "minimax E log(1-D)"), ("grad_nonsaturating", "non-saturating -E log D"), ("grad_wgan_gp", "WGAN-GP critic")):
        ax3.semilogy(t, [max(r[key], 1e-30) for r in learned], marker="o", label=label)
    ax3.set(xlabel="theta", ylabel="|dL_G/dtheta|", title="G's gradient through a trained D")
    ax3.legend()
    return save_figure(fig, out / "divergences.png")


def _plot_discriminator(out: Path, D: MLPDiscriminator, theta: float) -> str:
    x = torch.linspace(-5, theta + 5, 400, dtype=torch.float64)
    d_star = optimal_discriminator(normal_log_pdf(x, 0.0), normal_log_pdf(x, theta))
    with torch.no_grad():
        d_trained = torch.sigmoid(D(x.float()[:, None])).double()
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, normal_log_pdf(x, 0.0).exp(), color="tab:blue", alpha=0.4, label="p_data = N(0,1)")
    ax.plot(x, normal_log_pdf(x, theta).exp(), color="tab:orange", alpha=0.4, label=f"p_g = N({theta:g},1)")
    ax.plot(x, d_star, color="black", label="D* = p_data/(p_data+p_g)")
    ax.plot(x, d_trained, color="tab:red", linestyle="--", label="trained D")
    ax.set(xlabel="x", title="the optimal discriminator and a trained one")
    ax.legend(fontsize=8)
    return save_figure(fig, out / "optimal_discriminator.png")


def _markdown(r: dict, figures: list[str], d_theta: float) -> str:
    identity = markdown_table(["theta", "V(G, D*)", "2 JS - log 4", "|difference|"],
                              [[f"{c['theta']:g}", f"{c['V(G,D*)']:.10f}", f"{c['2JS-log4']:.10f}", f"{c['identity_error']:.1e}"] for c in r["identity"]])
    learned = markdown_table(["theta", "V(G, D trained)", "2 JS - log 4", "grad minimax", "grad non-saturating", "grad WGAN-GP"],
                             [[f"{c['theta']:g}", f"{c['V(G,D_trained)']:.4f}", f"{c['2JS-log4']:.4f}", f"{c['grad_minimax']:.2e}",
                               f"{c['grad_nonsaturating']:.2e}", f"{c['grad_wgan_gp']:.2e}"] for c in r["learned"]])
    return "\n".join([
        "The game on a 1-D pair, p_data = N(0,1) and p_g = N(theta,1). With the optimal discriminator "
        "D* = p_data/(p_data + p_g), the value is max_D V(G, D) = 2 JS(p_data || p_g) - log 4 (quadrature in float64):", "",
        identity, "",
        f"At theta = 20 the supports barely overlap: JS = {r['js_at_20']:.12f} (log 2 = {LOG2:.12f}) and dJS/dtheta = "
        f"{r['d_js_at_20']:.1e}: a generator trained through the optimal D gets no signal. W1 = |theta| has derivative "
        f"{r['d_w1_at_20']:.6f} there. For disjoint supports (two parallel lines, the WGAN paper's Example 1) JS is log 2 "
        "for every theta != 0 and W1 = |theta|; for U[0,1] vs U[theta, theta+1], JS = |theta| log 2 until the supports separate at theta = 1, then flat.", "",
        f"Learned: a D trained per theta ({r['compute']['d_steps_per_theta']} steps of batch {r['compute']['batch']}); "
        "its value approaches 2 JS - log 4 from below, and the generator's gradient through it:", "",
        learned, "",
        f"![divergences]({figures[0]})", "",
        f"![optimal discriminator]({figures[1]}) — D* against a trained D at theta = {d_theta:g}.", "",
        f"Compute: {r['compute']['cpu_seconds']} CPU seconds.",
    ])
