"""Mode collapse on toy mixtures (GUIDE §6): PacGAN's Table 1 with our own recipes, seeds trained at once.

Every recipe is a `model: mlp` TrainConfig; its seeds run together as one `model: ensemble`
(stacked weights, one trainer run, `gankit.models.ensemble`), evaluated per member on 2,500
samples with `gankit.metrics.mode_coverage` and averaged with a standard error. Compute is
stated per row: generator steps per seed and the CPU seconds of the whole ensemble run.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from matplotlib.figure import Figure

from gankit.config import TrainConfig, load_config
from gankit.data import load_dataset
from gankit.lab.report import LabSection, markdown_table, save_figure
from gankit.metrics import mode_coverage
from gankit.models.ensemble import ensemble_config
from gankit.training.hooks import Hook
from gankit.training.trainer import Trainer

THREADS = 1  # small stacked MLPs: one torch thread is fastest (and robust on a shared machine)
EVAL_SAMPLES = 2500
EVAL_SEED = 2024  # z of the evaluation samples (independent of every training stream)

_TOY_NETS = {"G": {"z_dim": 8, "widths": [128, 128, 128], "norm": "none", "output": "linear"},
             "D": {"widths": [128, 128, 128]}}

# name -> (what it is, config layers); each layer is a preset name or a dict, applied in order.
RECIPES: dict[str, tuple[str, list]] = {
    "gan-seed": ("the seed's GAN maths (§2.3 G-first loop, BCE, Adam 2e-4 (0.5, 0.999), batch 64) on toy MLPs",
                 [{"model": "mlp", "loss": "bce", "phase_order": "g_first", "reuse_fakes": True, "batch_size": 64,
                   **_TOY_NETS, "optim": {"G": {"lr": 2e-4, "betas": [0.5, 0.999]}, "D": {"lr": 2e-4, "betas": [0.5, 0.999]}}}]),
    "wgan-seed": ("the seed's WGAN maths (§4.2: 5 critic steps on one real batch, clip 0.01, RMSprop 5e-5, batch 64) on toy MLPs",
                  [{"model": "mlp", "loss": "wasserstein", "n_critic": 5, "d_reuse_real": True, "batch_size": 64,
                    **_TOY_NETS, "reg": {"clip": {"value": 0.01}},
                    "optim": {"G": {"name": "rmsprop", "lr": 5e-5}, "D": {"name": "rmsprop", "lr": 5e-5}}}]),
    "gan": ("non-saturating GAN, preset toy-gan (3x128 MLPs, Adam 1e-4, batch 256)", ["toy-gan"]),
    "wgan-gp": ("WGAN-GP, preset toy-wgan-gp (5 critic steps, GP 0.1, Adam 1e-4 (0.5, 0.9))", ["toy-wgan-gp"]),
    "pack2": ("toy-gan with PacGAN packing m=2 (D.pack=2)", ["toy-gan", {"D": {"pack": 2}}]),
    "pack3": ("toy-gan with PacGAN packing m=3 (D.pack=3; batch 255, a multiple of 3)", ["toy-gan", {"D": {"pack": 3}, "batch_size": 255}]),
    "pack4": ("toy-gan with PacGAN packing m=4 (D.pack=4)", ["toy-gan", {"D": {"pack": 4}}]),
    "pacgan": ("PacGAN's own networks (G 4x400 BN-ReLU, z 2; D 3x200 maxout 5, pack 4 on the grid / 2 on the ring), "
               "Adam 1e-4 (0.8, 0.999), batch 100", ["pacgan"]),
    "gankit-best": ("gankit's best recipe, preset toy-best (see its description)", ["toy-best"]),
    "ns-r1": ("toy-gan with R1 (gamma 0.1, every D step): the non-saturating baseline of R3GAN's comparison",
              ["toy-gan", {"reg": {"r1": {"gamma": 0.1}}}]),
    "rpgan-r1-r2": ("toy-gan with R3GAN's loss: relativistic pairing, R1 and R2 (gamma 0.1 each, every D step)",
                    ["toy-gan", {"loss": "rpgan", "reg": {"r1": {"gamma": 0.1}, "r2": {"gamma": 0.1}}}]),
}

# Compute budgets: generator steps per seed, seeds, snapshots over training.
PROTOCOLS: dict[str, dict] = {
    "quick": {"steps": 10, "seeds": 1, "snapshots": 2},
    "default": {"steps": 800, "seeds": 2, "snapshots": 4},
    "paper": {"steps": 2000, "seeds": 5, "snapshots": 5},  # whole table ~45 CPU-min at 1 thread (3,000: > 60)
}


def recipe_config(name: str, dataset: str, steps: int, overrides: list[str] | None = None) -> TrainConfig:
    """The single-seed TrainConfig of a recipe on `dataset` ("ring", "grid" or "bimodal")."""
    description, layers = RECIPES[name]
    merged: dict = {}
    for layer in layers:
        layer_cfg = load_config(layer) if isinstance(layer, str) else None
        merged = _merge(merged, _as_dict(layer_cfg) if layer_cfg is not None else layer)
    if name == "pacgan" and dataset != "grid":
        merged = _merge(merged, {"D": {"pack": 2}})
    merged = _merge(merged, {"data": dataset, "steps": steps, "seconds": None, "kimg": None,
                             "log": {"progress": False, "sample_kimg": 0}, "checkpoint": {"kimg": 0}, "eval": {"kimg": 0}})
    cfg = load_config(merged, overrides)
    cfg.description = description
    return cfg


def _as_dict(cfg: TrainConfig) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class SnapshotHook(Hook):
    """Every member's samples [E, n, D] at chosen generator steps (own z; never touches training RNG)."""

    name = "lab-snapshots"

    def __init__(self, steps: list[int], n: int) -> None:
        self.steps, self.n = set(steps), n
        self.samples: dict[int, torch.Tensor] = {}

    def after_step(self, t: Trainer) -> None:
        if t.state.step in self.steps:
            self.samples[t.state.step] = member_samples(t, self.n)


def member_samples(t: Trainer, n: int) -> torch.Tensor:
    """`n` evaluation samples from every member of an ensemble run, [E, n, D] (G_ema when the run has one)."""
    G = t.G_ema if t.G_ema is not None else t.G
    was_training = G.training
    G.eval()
    samples = G.sample_members(n, seed=EVAL_SEED)
    G.train(was_training)
    return samples


@dataclass
class RecipeRun:
    """One recipe on one dataset, all seeds in one ensemble run."""

    recipe: str
    dataset: str
    seeds: list[int]
    steps: int
    cpu_seconds: float
    wall_seconds: float
    per_seed: list[dict]  # mode_coverage of each member
    snapshots: dict[int, torch.Tensor] = field(repr=False)  # step -> [E, n, D]
    description: str = ""
    run_seed: int = 0  # the ensemble run's `seed`; "seeds" are its members 0..E-1

    def summary(self) -> dict:
        """Mean and standard error of each metric over seeds, with the compute used."""
        out = {"recipe": self.recipe, "description": self.description, "dataset": self.dataset,
               "seeds": self.seeds, "run_seed": self.run_seed,
               "seeds_mean": "ensemble members of one run: member k = the k-th G/D drawn after torch.manual_seed(run_seed), "
                             "trained on rows k*b..(k+1)*b of each batch draw",
               "generator_steps": self.steps, "cpu_seconds": round(self.cpu_seconds, 2),
               "wall_seconds": round(self.wall_seconds, 2), "eval_samples": EVAL_SAMPLES, "per_seed": self.per_seed}
        for key in ("modes_covered", "high_quality", "reverse_kl"):
            out[key] = mean_and_se([r[key] for r in self.per_seed])
        return out


def mean_and_se(values: list[float]) -> dict:
    """{"mean", "se"}: the standard error of the mean (0 for one value; inf values stay inf)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2 or not math.isfinite(mean):
        return {"mean": mean, "se": 0.0 if n < 2 else math.nan}
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return {"mean": mean, "se": math.sqrt(var / n)}


def run_recipe(name: str, dataset: str, steps: int, seeds: int, snapshots: int = 0,
               overrides: list[str] | None = None, first_seed: int = 0) -> RecipeRun:
    """Train `seeds` seeds of a recipe at once (one ensemble, one trainer run) and evaluate each."""
    single = recipe_config(name, dataset, steps, overrides)
    single.seed = first_seed
    cfg = ensemble_config(single, seeds)
    snapshot_steps = sorted({max(1, round(steps * (i + 1) / snapshots)) for i in range(snapshots)}) if snapshots else []
    hook = SnapshotHook(snapshot_steps, EVAL_SAMPLES)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    trainer = Trainer(cfg, hooks=[hook]).train()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    samples = member_samples(trainer, EVAL_SAMPLES)  # [E, 2500, D]
    data = load_dataset(dataset)
    per_seed = [evaluate(samples[k], data) for k in range(seeds)]
    return RecipeRun(name, dataset, list(range(seeds)), steps, cpu, wall, per_seed, hook.samples, single.description,
                     first_seed)


def evaluate(samples: torch.Tensor, data) -> dict:
    """GUIDE §6 metrics of samples [n, D] (mode_coverage), plus the mass nearest each mode for 1-D data."""
    result = mode_coverage(samples, data.means, data.stds).as_dict()
    nearest = torch.cdist(samples.double(), data.means).argmin(1)
    result["mass_per_mode"] = (torch.bincount(nearest, minlength=len(data.means)).double() / len(samples)).tolist()
    return result


PUBLISHED = {  # PacGAN Table 1 (GUIDE §6): about 400k generator steps per run, their networks
    "grid": [("GAN (PacGAN Table 1)", 17.3, 94.8, 0.70), ("PacGAN4 (PacGAN Table 1)", 24.8, 93.6, 0.04)],
    "ring": [("GAN (PacGAN Table 1)", 6.3, 98.2, 0.45), ("PacGAN2 (PacGAN Table 1)", 7.9, 95.6, 0.07)],
}


def run(out: Path, protocol: str = "default", progress: bool = True, recipes: list[str] | None = None) -> LabSection:
    """The mode-collapse lab: every recipe on ring and grid (seeds as one ensemble each), the 1-D bimodal, figures, tables."""
    p = PROTOCOLS[protocol]
    names = recipes or list(RECIPES)
    jobs = [(name, dataset) for dataset in ("ring", "grid") for name in names] + [("gan", "bimodal")]
    runs: list[RecipeRun] = []
    from tqdm.auto import tqdm

    for name, dataset in tqdm(jobs, desc="mode-collapse: recipes", disable=not progress or None):
        runs.append(run_recipe(name, dataset, p["steps"], p["seeds"], p["snapshots"]))
    figures = [_plot_snapshots(out, [r for r in runs if r.dataset == d], d) for d in ("ring", "grid")]
    bimodal = runs[-1]
    figures.append(_plot_bimodal(out, bimodal))
    results = {"protocol": {**p, "eval_samples": EVAL_SAMPLES, "eval_seed": EVAL_SEED, "hq_threshold_std": 3.0},
               "runs": [r.summary() for r in runs],
               "bimodal_mass_over_training": _bimodal_mass(bimodal)}
    return LabSection("mode_collapse", "Mode collapse (seed §3.3; PacGAN Table 1 protocol, GUIDE §6)",
                      _markdown(results, figures, protocol), figures, results)


def _bimodal_mass(r: RecipeRun) -> list[dict]:
    data = load_dataset("bimodal")
    out = []
    for step, samples in sorted(r.snapshots.items()):
        masses = [evaluate(samples[k], data)["mass_per_mode"] for k in range(samples.shape[0])]
        out.append({"step": step, "mass_near_2": [m[0] for m in masses], "mass_near_8": [m[1] for m in masses]})
    return out


def _plot_snapshots(out: Path, runs: list[RecipeRun], dataset: str) -> str:
    data = load_dataset(dataset)
    steps = sorted(runs[0].snapshots)
    fig = Figure(figsize=(2.2 * len(steps), 2.2 * len(runs)))
    axes = fig.subplots(len(runs), len(steps), squeeze=False)
    lim = 5.5 if dataset == "grid" else 1.6
    for i, r in enumerate(runs):
        for j, step in enumerate(steps):
            ax = axes[i][j]
            pts = r.snapshots[step][0]  # member 0, [n, 2]
            ax.scatter(data.means[:, 0], data.means[:, 1], s=12, c="tab:blue", marker="x", linewidths=0.8)
            ax.scatter(pts[:, 0], pts[:, 1], s=1, c="tab:orange", alpha=0.5, linewidths=0)
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"step {step}", fontsize=9)
            if j == 0:
                ax.set_ylabel(r.recipe, fontsize=9)
    return save_figure(fig, out / f"mode_collapse_{dataset}.png")


def _plot_bimodal(out: Path, r: RecipeRun) -> str:
    steps = sorted(r.snapshots)
    fig = Figure(figsize=(3 * len(steps), 2.6))
    axes = fig.subplots(1, len(steps), squeeze=False)[0]
    x = torch.linspace(-2, 12, 300, dtype=torch.float64)
    density = load_dataset("bimodal").log_density(x[:, None]).exp()
    for ax, step in zip(axes, steps):
        ax.hist(r.snapshots[step][0][:, 0].numpy(), bins=60, range=(-2, 12), density=True, color="tab:orange", alpha=0.7)
        ax.plot(x, density, color="tab:blue")
        ax.set_title(f"step {step}", fontsize=9)
        ax.set_yticks([])
    return save_figure(fig, out / "mode_collapse_bimodal.png")


def _fmt(m: dict, scale: float = 1.0, digits: int = 1) -> str:
    mean, se = m["mean"] * scale, m["se"] * scale
    if not math.isfinite(mean):
        return "inf"
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{mean:.{digits}f}"


def _markdown(results: dict, figures: list[str], protocol: str) -> str:
    p = results["protocol"]
    parts = [
        f"Each recipe trains {p['seeds']} seed(s) at once as one ensemble (`model: ensemble`, stacked weights) for "
        f"{p['steps']} generator steps, through gankit's trainer; each member is evaluated on {p['eval_samples']} samples: "
        "high quality = within 3 std of the nearest mode, a mode is covered when it is the nearest mode of a high-quality "
        "sample, reverse KL = KL(modes of the high-quality samples || uniform). Mean ± standard error over seeds. "
        "Compute per row: generator steps per seed and CPU seconds of the whole ensemble run (all seeds). "
        + ("" if protocol == "paper" else f"This is the `{protocol}` protocol (scaled down); the goal is judged under `--protocol paper`."),
    ]
    for dataset, k in (("grid", 25), ("ring", 8)):
        rows = [[r["recipe"], _fmt(r["modes_covered"]), _fmt(r["high_quality"], 100), _fmt(r["reverse_kl"], digits=2),
                 str(r["generator_steps"]), f"{r['cpu_seconds']:.0f}", str(len(r["seeds"]))]
                for r in results["runs"] if r["dataset"] == dataset]
        rows += [[name, f"{m:g}", f"{hq:g}", f"{kl:g}", "≈400k", "—", "10"] for name, m, hq, kl in PUBLISHED[dataset]]
        parts += ["", f"### {'2-D grid of 25' if dataset == 'grid' else '2-D ring of 8'} Gaussians", "",
                  markdown_table(["recipe", f"modes (max {k})", "high quality %", "reverse KL", "G steps / seed", "CPU s (all seeds)", "seeds"], rows),
                  "", f"![samples over training, {dataset}]({figures[0 if dataset == 'ring' else 1]})"]
    parts += ["", "### The recipes", ""] + [f"- **{r['recipe']}**: {r['description']}" for r in results["runs"] if r["dataset"] == "grid"]
    mass = results["bimodal_mass_over_training"]
    parts += ["", "### The seed's 1-D bimodal mixture 0.5 N(2,1) + 0.5 N(8,1)", "",
              "Histograms of G's samples (member 0) over training against the data density, and the mass nearest each mode:", "",
              markdown_table(["step", "mass nearer 2 (per seed)", "mass nearer 8 (per seed)"],
                             [[str(m["step"]), ", ".join(f"{v:.2f}" for v in m["mass_near_2"]),
                               ", ".join(f"{v:.2f}" for v in m["mass_near_8"])] for m in mass]),
              "", f"![bimodal]({figures[2]})"]
    return "\n".join(parts)
