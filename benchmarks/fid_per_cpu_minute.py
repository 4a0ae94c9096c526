"""FID against CPU-minutes for every image preset (the R3GAN issue's goal: the best FID per CPU-minute).

Each preset trains on Fashion-MNIST with its own config for `--minutes` of this process's CPU time
(`time.process_time`, all its threads: a budget that a machine shared with other jobs does not
shrink, unlike wall time), one preset after the other, with `--threads` torch threads. Its
generator (G_ema when the preset keeps one) is copied every `--every` CPU-minutes; the copies are
scored afterwards, outside the budget: FID of `-n` samples in the shipped `fmnist-cnn` feature
space against the Fashion-MNIST test split. The table gives each preset's FID at every snapshot
and its best; the figure plots FID against CPU-minutes.

    python benchmarks/fid_per_cpu_minute.py [--presets r3gan,dcgan] [--minutes 20] [--every 4] [-n 5000]
                                            [--seeds 0] [--threads 1] [--out reports/fid_per_minute]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.training.trainer import Trainer
from reference_loop import _cpu_name
from time_to_quality import fid

IMAGE_PRESETS = ("seed-gan", "seed-cgan", "seed-wgan", "dcgan", "cdcgan", "wgan-gp", "sngan", "progan", "stylegan",
                 "stylegan2", "stylegan3-t", "stylegan3-r", "r3gan")
# The budget ends every run: the presets' own lengths are lifted (no image preset ties a schedule to its length).
QUIET = ["log.progress=false", "log.sample_kimg=0", "checkpoint.kimg=0", "eval.kimg=0", "steps=1000000000", "kimg=null"]


def cpu_snapshots(preset: str, seed: int, minutes: float, every: float, data) -> tuple[list[tuple[float, torch.nn.Module]], dict]:
    """Train `preset` until `minutes` of process CPU time, copying its generator every `every` CPU-minutes."""
    cfg = load_config(preset, QUIET + [f"seed={seed}"])
    trainer = Trainer(cfg, data=data if cfg.data == "fashion-mnist" and cfg.resolution in (None, 28) else None).start()
    kept, next_snapshot, used = [], every * 60, 0.0
    start = time.process_time()
    while used < minutes * 60:
        trainer.step()
        used = time.process_time() - start
        if used >= next_snapshot or used >= minutes * 60:
            paused = time.process_time()
            kept.append((used / 60, copy.deepcopy(trainer.G_ema if trainer.G_ema is not None else trainer.G).eval()))
            start += time.process_time() - paused  # the copy is not training
            next_snapshot += every * 60
    return kept, {"steps": trainer.state.step, "kimg": round(trainer.state.cur_nimg / 1000, 1)}


def plot(results: dict, path: Path) -> None:
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for preset, runs in results.items():
        for i, run in enumerate(runs):
            xs, ys = zip(*run["curve"]) if run["curve"] else ((), ())
            ax.plot(xs, ys, marker="o", markersize=3, label=preset if i == 0 else None)
    ax.set_xlabel("CPU-minutes of training")
    ax.set_ylabel("FID (fmnist-cnn, test split)")
    ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=2)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(IMAGE_PRESETS))
    ap.add_argument("--minutes", type=float, default=20.0, help="CPU-minutes of training per preset and seed")
    ap.add_argument("--every", type=float, default=4.0, help="CPU-minutes between scored snapshots")
    ap.add_argument("-n", type=int, default=5000, help="samples per FID")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the budget is CPU time, summed over them)")
    ap.add_argument("--out", type=Path, default=Path("reports/fid_per_minute"))
    args = ap.parse_args(argv)
    presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in presets if p not in IMAGE_PRESETS]
    if unknown:
        ap.error(f"unknown image preset {unknown[0]!r}; choose from {', '.join(IMAGE_PRESETS)}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion-mnist")
    print(f"# FID per CPU-minute: {_cpu_name()}, {args.threads} torch threads, torch {torch.__version__}, "
          f"{args.minutes:g} CPU-min per run, snapshots every {args.every:g}, FID of {args.n} samples", flush=True)
    results: dict[str, list[dict]] = {}
    for preset in presets:
        for seed in (int(s) for s in args.seeds.split(",")):
            snapshots, info = cpu_snapshots(preset, seed, args.minutes, args.every, data)
            curve = [(round(at, 2), round(fid(G, args.n), 2)) for at, G in snapshots]
            results.setdefault(preset, []).append({"seed": seed, "curve": curve, **info})
            print(f"{preset} seed {seed}: " + ", ".join(f"{at:g} min {v:g}" for at, v in curve) + f" ({info})", flush=True)
    print("\n| preset | seeds | FID at each snapshot (CPU-min: FID) | best FID | steps | kimg |\n|---|---|---|---:|---:|---:|")
    for preset, runs in results.items():
        for run in runs:
            best = min((v for _, v in run["curve"]), default=float("nan"))
            cells = ", ".join(f"{at:g}: {v:g}" for at, v in run["curve"])
            print(f"| {preset} | {run['seed']} | {cells} | {best:g} | {run['steps']} | {run['kimg']} |")
    plot(results, args.out / "fid_per_cpu_minute.png")
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
