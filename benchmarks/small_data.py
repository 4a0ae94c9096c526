"""Small data (GUIDE §11): no augmentation vs DiffAugment vs ADA on a class-balanced Fashion-MNIST subset.

For each seed and arm, in this one process and one after the other: train `--preset` on `--train`
images of the Fashion-MNIST train split (a seeded, class-balanced subset: train/10 per class) for
`--kimg` thousand real images (equal images per arm, as the ADA paper compares arms; each arm's
training CPU time, `time.process_time` less its evaluations, is recorded beside it, so unequal
augmentation costs show), evaluating every `--eval-kimg`: FID of `-n` samples (G_ema when the preset
keeps one) in the shipped `fmnist-cnn` feature space against the full test split (10,000 images),
and D's mean sign (eval mode, no augmentation) on `--holdout` training images vs `--holdout`
held-out train-split images (class-balanced, disjoint from the subset). The subset's and the
held-out images' indices are saved with the results.

Arms: `none` (no augmentation), `diffaugment` (color,translation,cutout), `ada` (bgc pipeline,
target 0.6, p 0 → 1 in `--ada-kimg` kimg). Writes OUT/results.json, OUT/indices.json, each run's
folder (metrics.jsonl, log.jsonl, loss.png) and OUT/small_data.png (FID vs kimg per arm; D's
train − held-out sign gap vs kimg).

    python benchmarks/small_data.py [--preset dcgan] [--train 1000] [--holdout 500] [--kimg 100]
                                    [--eval-kimg 8] [-n 2000] [--seeds 0] [--arms none,diffaugment,ada]
                                    [--ada-kimg 20] [--threads 1] [--out bench_out/small_data]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from gankit.config import load_config
from gankit.data import ImageDataset, load_dataset
from gankit.training.eval_hook import EvalHook
from gankit.training.overfit import SignGapHook
from gankit.training.trainer import Trainer

ARMS = {
    "none": [],
    "diffaugment": ["augment.diffaugment=color,translation,cutout"],
    "ada": ["augment.ada.target=0.6"],
}


def balanced_indices(labels: torch.Tensor, per_class: int, generator: torch.Generator,
                     exclude: torch.Tensor | None = None) -> torch.Tensor:
    """`per_class` indices of each class, drawn with `generator` (skipping `exclude`), sorted."""
    taken = torch.zeros(len(labels), dtype=torch.bool)
    if exclude is not None:
        taken[exclude] = True
    chosen = []
    for k in range(int(labels.max()) + 1):
        pool = ((labels == k) & ~taken).nonzero().squeeze(1)
        chosen.append(pool[torch.randperm(len(pool), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def subset(data: ImageDataset, index: torch.Tensor) -> ImageDataset:
    return ImageDataset(data.name, data.images[index], data.labels[index], data.num_classes, data.class_names)


class EvalTimer:
    """Adds up the CPU time of the trainer's evaluation hooks (so training time is measured without them)."""

    def __init__(self, trainer: Trainer) -> None:
        self.cpu_s = 0.0
        for hook in trainer.hooks:
            if isinstance(hook, (EvalHook, SignGapHook)):
                hook.fire = self.timed(hook.fire)

    def timed(self, fire):
        def run(*args, **kwargs):
            start = time.process_time()
            try:
                return fire(*args, **kwargs)
            finally:
                self.cpu_s += time.process_time() - start
        return run


def run_arm(args, arm: str, seed: int, train: ImageDataset, held: ImageDataset, out: Path) -> dict:
    """Train one arm for --kimg; returns its curves from metrics.jsonl and its CPU time."""
    overrides = [f"seed={seed}", f"kimg={args.kimg}", "steps=null", f"eval.kimg={args.eval_kimg}",
                 "eval.metrics=[fid]", f"eval.n={args.n}", "log.progress=false", "log.every=50",
                 "log.sample_kimg=0", "checkpoint.kimg=0", f"augment.ada.kimg={args.ada_kimg}"] + ARMS[arm]
    cfg = load_config(args.preset, overrides)
    run_dir = out / f"{arm}_seed{seed}"
    gap = SignGapHook(dataclasses.replace(cfg, holdout=len(held)))
    trainer = Trainer(cfg, run_dir, data=train, hooks=[gap])
    trainer.holdout_data = held
    timer = EvalTimer(trainer)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.train()
    train_cpu_s = time.process_time() - cpu_start - timer.cpu_s
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    fid = [(r["kimg"], r["fid"]) for r in records if r["metric"] == "fid"]
    signs = [(r["kimg"], r["d_sign_train"], r["d_sign_holdout"]) for r in records if r["metric"] == "d_sign"]
    logs = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    p = [(r["kimg"], r["augment/p"]) for r in logs if "augment/p" in r]
    best = min(fid, key=lambda kv: kv[1])
    result = {"arm": arm, "seed": seed, "kimg": trainer.state.cur_nimg / 1000, "steps": trainer.state.step,
              "wall_s": round(time.perf_counter() - start, 1),
              "train_cpu_s": round(train_cpu_s, 1), "eval_cpu_s": round(timer.cpu_s, 1), "fid": fid, "d_sign": signs, "p": p,
              "best_fid": best[1], "best_kimg": best[0], "final_fid": fid[-1][1],
              "turned_up": fid[-1][1] > best[1] * 1.05}  # the last FID ≥ 5 % above the run's best
    print(json.dumps({k: v for k, v in result.items() if k not in ("fid", "d_sign", "p")}), flush=True)
    return result


def plot(results: list[dict], path: Path) -> None:
    """FID vs kimg per arm, and D's train − held-out sign gap vs kimg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)
    ax_fid, ax_gap = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = {"none": "tab:red", "diffaugment": "tab:blue", "ada": "tab:green"}
    for r in results:
        label = f"{r['arm']} (seed {r['seed']})"
        ax_fid.plot(*zip(*r["fid"]), marker="o", markersize=3, color=colours.get(r["arm"]), label=label)
        ax_gap.plot([k for k, _, _ in r["d_sign"]], [a - b for _, a, b in r["d_sign"]], marker="o", markersize=3,
                    color=colours.get(r["arm"]), label=label)
    ax_fid.set(xlabel="kimg", ylabel="FID (fmnist-cnn, vs test split)", title="FID vs kimg")
    ax_gap.set(xlabel="kimg", ylabel="E[sign D(train)] − E[sign D(held-out)]", title="D's overfitting gap")
    save_figure(fig, [ax_fid, ax_gap], path)


def save_figure(fig, axes: list, path: Path) -> None:
    """Grid and legend on every axis, then a tight PNG."""
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dcgan")
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--holdout", type=int, default=500)
    parser.add_argument("--kimg", type=float, default=100)
    parser.add_argument("--eval-kimg", type=float, default=8)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--arms", default="none,diffaugment,ada")
    parser.add_argument("--ada-kimg", type=float, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench_out/small_data")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    full = load_dataset("fashion-mnist", resolution=load_config(args.preset).resolution)  # e.g. 32 px for stylegan2
    results, indices = [], {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        gen = torch.Generator().manual_seed(10_000 + seed)
        train_idx = balanced_indices(full.labels, args.train // 10, gen)
        held_idx = balanced_indices(full.labels, args.holdout // 10, gen, exclude=train_idx)
        indices[seed] = {"train": train_idx.tolist(), "holdout": held_idx.tolist()}
        (out / "indices.json").write_text(json.dumps(indices))
        for arm in args.arms.split(","):
            results.append(run_arm(args, arm, seed, subset(full, train_idx), subset(full, held_idx), out))
            (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
            plot(results, out / "small_data.png")


if __name__ == "__main__":
    main()
