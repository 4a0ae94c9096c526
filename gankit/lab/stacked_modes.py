"""1,000 modes (R3GAN §5, after VEEGAN/PacGAN's Stacked MNIST), on Stacked Fashion-MNIST.

Every training image stacks three random Fashion-MNIST images as its channels (`stacked-fmnist`,
10³ = 1,000 modes). One network is trained on it three times, changing only the loss and the
penalties: NS + R1, RpGAN + R1 and RpGAN + R1 + R2 (R3GAN's ablation; the paper reports that
RpGAN + R1 without R2 diverges). The network is the `dcgan` preset's (28 px stacks): at these CPU
budgets it forms garments, while the `r3gan` CPU preset's samples are still blobs after 192 kimg,
which a classifier sorts into a few classes whatever the loss (BENCHMARKS.md; `network="r3gan"`
trains its rows). A sample's mode is the class the shipped `fmnist-cnn` gives each
of its channels; the table reports the modes covered (of 1,000) and the reverse KL from the
samples' mode histogram to the uniform one, KL(q ‖ U) = Σ q log(1000 q), with the compute spent,
and the share of samples whose three channels fmnist-cnn classifies with probability ≥ 0.9: how
sure the mode labels are (57 % of the training stacks). It is not a quality score: a blank channel
can be classified confidently.
The paper's anchor: RpGAN + R1 + R2 covers all 1,000 modes with KL 0.078; the standard loss with
R1 + R2 covers 693 with KL 0.93.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.lab.report import LabSection, markdown_table, save_figure
from gankit.metrics.features.fmnist_cnn import class_probabilities, load_fmnist_cnn
from gankit.metrics.modes import kl_to_uniform
from gankit.training.trainer import Trainer

MODES = 1000
EVAL_SEED = 2024
CONFIDENT = 0.9  # a channel's class is confident when fmnist-cnn gives it at least this probability
ROWS: dict[str, dict] = {  # each row's loss and whether R2 joins R1 (both at the r3gan preset's gamma, 0.05)
    "NS + R1": {"loss": "nonsaturating", "r2": False},
    "RpGAN + R1": {"loss": "rpgan", "r2": False},
    "RpGAN + R1 + R2": {"loss": "rpgan", "r2": True},
}
GAMMA = 0.05
NETWORKS = {"r3gan": 32, "dcgan": 28}  # presets whose networks can train the rows -> their stacks' resolution
NETWORK = "dcgan"  # the lab's
TINY = ["G.base_channels=8", "D.base_channels=8", "batch_size=8"]
PROTOCOLS = {  # generator steps per row (r3gan's schedules span them), samples scored (the papers: 26,000)
    "quick": {"steps": 2, "samples": 256, "overrides": TINY},
    "default": {"steps": 1500, "samples": 10_000, "overrides": []},
    "paper": {"steps": 6000, "samples": 26_000, "overrides": []},
}


def classify_stacks(extractor: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks [n, 3, H, W] in [-1, 1] -> (mode 100·a + 10·b + c of fmnist-cnn's class of each channel, int64 [n];
    confident: every channel's class has probability >= CONFIDENT, bool [n])."""
    probs = [class_probabilities(extractor, images[:, k:k + 1]) for k in range(3)]  # 3 × [n, 10]
    confidence, classes = torch.stack(probs, 1).max(2)  # [n, 3] each
    return classes[:, 0] * 100 + classes[:, 1] * 10 + classes[:, 2], (confidence >= CONFIDENT).all(1)


def sample_modes(G: torch.nn.Module, n: int, seed: int = EVAL_SEED, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples of G through `classify_stacks`: (modes int64 [n], confident bool [n])."""
    extractor = load_fmnist_cnn()
    gen = torch.Generator().manual_seed(seed)
    modes, confident = [], []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), G.z_dim, generator=gen)
        with torch.no_grad():
            images = G(z).clamp(-1, 1)  # [b, 3, H, W]
        m, f = classify_stacks(extractor, images)
        modes.append(m)
        confident.append(f)
    return torch.cat(modes), torch.cat(confident)


def mode_statistics(modes: torch.Tensor, confident: torch.Tensor | None = None) -> dict:
    """Modes covered (of 1,000), the reverse KL of the mode histogram to the uniform one, its two parts,
    and (given `confident`, bool [n]) the share of samples whose three classes are confident.

    KL(q ‖ U) = Σ_k KL(q_k ‖ U_10) + TC(q): `channel_kl` are the three channels' class marginals q_k
    against uniform (classes drawn unevenly), `channel_dependence` the total correlation
    TC = KL(q ‖ q_1 q_2 q_3) (channels that are not drawn independently, as the data's are).
    """
    counts = torch.bincount(modes, minlength=MODES).double()  # [1000]
    q = counts / counts.sum()
    cube = q.reshape(10, 10, 10)  # [first channel's class, second's, third's]
    marginals = [cube.sum(dim=[d for d in range(3) if d != k]) for k in range(3)]  # 3 × [10]
    channel_kl = [kl_to_uniform(m) for m in marginals]
    reverse_kl = kl_to_uniform(q)
    confident_share = None if confident is None else float(confident.double().mean())
    return {"modes": int((counts > 0).sum()), "reverse_kl": reverse_kl, "channel_kl": channel_kl,
            "channel_dependence": reverse_kl - sum(channel_kl), "confident": confident_share, "counts": counts.long().tolist()}


def data_statistics(data, n: int) -> dict:
    """`mode_statistics` of n training stacks (a seeded draw) classified as the samples are: the floor that
    the classifier's errors and the sample count allow."""
    picks = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]
    return mode_statistics(*classify_stacks(load_fmnist_cnn(), data.get(picks)[0]))


def _statistics_cells(stats: dict) -> list[str]:
    """Table cells: modes, the reverse KL, each channel's part, the channels' dependence and the confident share."""
    return [str(stats["modes"]), f"{stats['reverse_kl']:.3f}", " / ".join(f"{k:.3f}" for k in stats["channel_kl"]),
            f"{stats['channel_dependence']:.3f}", "—" if stats["confident"] is None else f"{100 * stats['confident']:.1f} %"]


def run_folder(out: Path, name: str) -> Path:
    """Where a row's run (final checkpoint, samples, log) is kept: DIR/stacked_modes_runs/ns-r1 for "NS + R1"."""
    return out / "stacked_modes_runs" / name.lower().replace(" + ", "-").replace(" ", "-")


def row_overrides(name: str, network: str) -> list[str]:
    """The config overrides that give `network`'s preset this row's loss and penalties."""
    row = ROWS[name]
    if network == "r3gan":  # R1 and R2 on by default (gamma 0.05 -> 0.005 along the cosine)
        return [f"loss={row['loss']}", *([] if row["r2"] else ["reg.r2.gamma=0"])]
    # dcgan: no penalties by default; RpGAN pairs each real with a fake of D's own step, so fakes are not reused
    return [f"loss={row['loss']}", f"reg.r1.gamma={GAMMA}", *(["reuse_fakes=false"] if row["loss"] == "rpgan" else []),
            *([f"reg.r2.gamma={GAMMA}"] if row["r2"] else [])]


def train_row(name: str, steps: int, overrides: list[str], data, run_dir: Path | None = None,
              network: str = NETWORK) -> tuple[torch.nn.Module, dict]:
    """`network`'s preset (r3gan or dcgan; `data` at NETWORKS[network] px) with this row's loss and penalties,
    for `steps` generator steps; (G to sample, compute).

    With `run_dir` the row is an ordinary gankit run there: a final checkpoint (`gankit.load(run_dir)` gives
    its G_ema to rescore) and sample grid, and Ctrl-C saves a checkpoint instead of losing the row."""
    base = ["data=stacked-fmnist", "channels=3", "log.progress=false", "log.sample_kimg=0", "checkpoint.kimg=0",
            "eval.kimg=0", "kimg=null", *row_overrides(name, network), *overrides, f"steps={steps}"]
    cfg = load_config(network, base)
    if cfg.schedule.kimg:
        cfg.schedule.kimg = steps * cfg.batch_size / 1000  # the cosine schedules span the run
    cpu0 = time.process_time()
    trainer = Trainer(cfg, run_dir, data=data).train()
    G = trainer.G_ema if trainer.G_ema is not None else trainer.G
    return G.eval(), {"generator_steps": steps, "batch": cfg.batch_size, "cpu_seconds": round(time.process_time() - cpu0, 1),
                      "kimg": trainer.state.cur_nimg / 1000}


def _plot(results: list[dict]) -> Figure:
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    for r in results:
        counts = np.sort(np.array(r["counts"]))[::-1]
        ax.plot(np.arange(1, MODES + 1), counts / max(counts.sum(), 1), label=f"{r['row']}: {r['modes']} modes")
    ax.axhline(1 / MODES, color="black", linestyle=":", label="uniform")
    ax.set_xlabel("modes, most frequent first")
    ax.set_ylabel("share of samples")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return fig


def run(out: Path, protocol: str = "default", progress: bool = True) -> LabSection:
    """Train the three rows on Stacked Fashion-MNIST and count the modes of their samples."""
    p = PROTOCOLS[protocol]
    data = load_dataset("stacked-fmnist", resolution=NETWORKS[NETWORK])
    results = []
    for name in ROWS:
        torch.manual_seed(0)
        G, compute = train_row(name, p["steps"], p["overrides"], data, run_folder(out, name))
        stats = mode_statistics(*sample_modes(G, p["samples"]))
        results.append({"row": name, **stats, "compute": compute, "samples": p["samples"]})
        # A paper-protocol row is most of an hour: each one is kept (and told) as soon as it ends.
        (out / "stacked_modes_rows.json").write_text(json.dumps(results))
        if progress:
            print(f"  {name}: {stats['modes']} modes, reverse KL {stats['reverse_kl']:.3f}, {100 * stats['confident']:.1f} % confident, "
                  f"{compute['cpu_seconds']:.0f} CPU s", file=sys.stderr, flush=True)
    real = data_statistics(data, p["samples"])
    figure = save_figure(_plot(results), out / "stacked_modes.png")
    rows = [[r["row"], *_statistics_cells(r), str(r["compute"]["generator_steps"]),
             f"{r['compute']['kimg']:g}", f"{r['compute']['cpu_seconds']:.0f}"] for r in results]
    rows.append(["training data (same count)", *_statistics_cells(real), "—", "—", "—"])
    markdown = "\n\n".join([
        f"`{NETWORK}` preset's network on `stacked-fmnist` ({NETWORKS[NETWORK]}×{NETWORKS[NETWORK]}, 3 channels, 1,000 modes), "
        f"{p['steps']} generator steps per row; "
        f"{p['samples']:,} samples scored per row by `fmnist-cnn`, one class per channel. The training data's own "
        "row, classified the same way, shows the floor that the classifier's errors and the sample count allow. "
        "Each row's run (final checkpoint, samples, log) is kept in `stacked_modes_runs/`.",
        markdown_table(["row", "modes (of 1,000)", "reverse KL", "of it: each channel's classes", "of it: channels tied",
                        f"classified with p ≥ {CONFIDENT} (3 channels)", "G steps", "kimg", "CPU s"], rows),
        "The reverse KL is the sum of its two parts: each channel's class histogram against uniform (classes "
        "drawn unevenly) and the channels' total correlation (channels not drawn independently, as the data's are). "
        f"The share classified with p ≥ {CONFIDENT} tells how sure the classifier is of every channel's class, which "
        "the mode counts rest on; it is not a quality score (a blank channel can be classified confidently).",
        "The paper's anchor (its own networks and budget): RpGAN + R1 + R2 covers 1,000 modes with reverse KL 0.078; "
        "the standard loss + R1 + R2 693 modes, KL 0.93. The `r3gan` CPU preset's network is not used: after 192 kimg "
        "its samples are still blobs that fmnist-cnn puts in a few classes whatever the loss (64–328 modes; BENCHMARKS.md).",
        f"![mode histograms]({figure})",
    ])
    for r in results:
        del r["counts"]
    return LabSection("stacked_modes", "1,000 modes: Stacked Fashion-MNIST (R3GAN §5)", markdown, [figure],
                      {"rows": results, "training_data": {k: v for k, v in real.items() if k != "counts"},
                       "compute": {"steps_per_row": p["steps"], "samples": p["samples"]}})
