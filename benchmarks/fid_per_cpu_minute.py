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

`results.json` and the figure are rewritten after every run, so a benchmark stopped early keeps the
runs it finished; `--plot A.json B.json ...` draws several such files on one figure without training.
`--case NAME:PRESET:OVERRIDES` adds a variant of a preset (overrides comma-separated; a list such as
`G.widths=[128,64]` keeps its commas) under its own name. `--kimg K --every-kimg E` gives every run the same number of images instead of the same CPU time
(snapshots every E kimg): it separates a preset's cost per image from what it learns per image.
Every snapshot records both its CPU-minutes and its kimg.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
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


def parse_case(spec: str) -> tuple[str, str, tuple[str, ...]]:
    """NAME:PRESET:OVERRIDES -> (name, preset, overrides); commas inside [...] stay in one override (G.widths=[64,32])."""
    name, preset, overrides = (spec.split(":", 2) + [""])[:3]
    return name, preset, tuple(o for o in re.split(r",(?![^\[]*\])", overrides) if o)


def snapshots(preset: str, seed: int, budget: float, every: float, data, unit: str = "min",
              overrides: tuple[str, ...] = ()) -> tuple[list[dict], dict]:
    """Train `preset` (with `overrides`) for `budget` CPU-minutes (unit "min") or kimg (unit "kimg"),
    copying its generator every `every` units; each snapshot keeps the CPU-minutes and kimg it was taken at."""
    cfg = load_config(preset, QUIET + [*overrides, f"seed={seed}"])
    trainer = Trainer(cfg, data=data if cfg.data == "fashion-mnist" and cfg.resolution in (None, 28) else None).start()
    kept, next_snapshot, cpu_s = [], every, 0.0
    start = time.process_time()
    while True:
        trainer.step()
        cpu_s = time.process_time() - start
        kimg = trainer.state.cur_nimg / 1000
        used = cpu_s / 60 if unit == "min" else kimg
        if used >= next_snapshot or used >= budget:
            paused = time.process_time()
            G = copy.deepcopy(trainer.G_ema if trainer.G_ema is not None else trainer.G).eval()
            kept.append({"min": round(cpu_s / 60, 2), "kimg": round(kimg, 1), "G": G})
            start += time.process_time() - paused  # the copy is not training
            next_snapshot += every
        if used >= budget:
            return kept, {"steps": trainer.state.step, "kimg": round(kimg, 1)}


def plot(results: dict, path: Path, unit: str) -> None:
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for k, (preset, runs) in enumerate(results.items()):
        style = {"color": f"C{k % 10}", "linestyle": "-" if k < 10 else "--"}  # 13 image presets: 10 colours, then dashes
        for i, run in enumerate(runs):
            xs, ys = [p[unit] for p in run["curve"]], [p["fid"] for p in run["curve"]]
            ax.plot(xs, ys, marker="o", markersize=3, label=preset if i == 0 else None, **style)
    ax.set_xlabel("CPU-minutes of training" if unit == "min" else "thousands of real images shown (kimg)")
    ax.set_ylabel("FID (fmnist-cnn, test split)")
    ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=2)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def figure_name(unit: str) -> str:
    return "fid_per_cpu_minute.png" if unit == "min" else "fid_per_kimg.png"


def save(results: dict, args: argparse.Namespace, unit: str) -> None:
    """results.json and the figure of the runs so far."""
    plot(results, args.out / figure_name(unit), unit)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))


def plot_files(paths: list[Path], out: Path, unit: str) -> None:
    """One figure of every run in these results.json files (a name in several files keeps all its runs)."""
    merged: dict[str, list[dict]] = {}
    for path in paths:
        for name, runs in json.loads(path.read_text())["results"].items():
            merged.setdefault(name, []).extend(runs)
    out.mkdir(parents=True, exist_ok=True)
    plot(merged, out / figure_name(unit), unit)
    print(f"wrote {out / figure_name(unit)}: {', '.join(merged)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(IMAGE_PRESETS), help="comma-separated; '' for --case runs only")
    ap.add_argument("--case", action="append", default=[],
                    help="NAME:PRESET:OVERRIDES (comma-separated), run after the presets, e.g. "
                         "dcgan-rpgan:dcgan:loss=rpgan,reuse_fakes=false,reg.r1.gamma=0.05,reg.r2.gamma=0.05")
    ap.add_argument("--minutes", type=float, default=20.0, help="CPU-minutes of training per preset and seed")
    ap.add_argument("--every", type=float, default=4.0, help="CPU-minutes between scored snapshots")
    ap.add_argument("--kimg", type=float, default=None,
                    help="budget in images instead (kimg per run, snapshots every --every-kimg): equal images, not equal CPU")
    ap.add_argument("--every-kimg", type=float, default=20.0, help="kimg between scored snapshots with --kimg")
    ap.add_argument("-n", type=int, default=5000, help="samples per FID")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the budget is CPU time, summed over them)")
    ap.add_argument("--out", type=Path, default=Path("reports/fid_per_minute"))
    ap.add_argument("--plot", type=Path, nargs="+", metavar="RESULTS_JSON",
                    help="no training: draw these results.json files' runs on one figure in --out")
    args = ap.parse_args(argv)
    if args.plot:
        return plot_files(args.plot, args.out, "min" if args.kimg is None else "kimg")
    runs = [(p, p, ()) for p in args.presets.split(",") if p]  # (name, preset, overrides)
    runs += [parse_case(spec) for spec in args.case]
    unknown = [preset for _, preset, _ in runs if preset not in IMAGE_PRESETS]
    if unknown or not runs:
        problem = f"unknown image preset {unknown[0]!r}" if unknown else "nothing to run"
        ap.error(f"{problem}; choose from {', '.join(IMAGE_PRESETS)}")
    unit, budget, every = ("min", args.minutes, args.every) if args.kimg is None else ("kimg", args.kimg, args.every_kimg)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion-mnist")
    print(f"# FID per CPU-minute: {_cpu_name()}, {args.threads} torch threads, torch {torch.__version__}, "
          f"{budget:g} {unit} per run, snapshots every {every:g}, FID of {args.n} samples", flush=True)
    results: dict[str, list[dict]] = {}
    for name, preset, overrides in runs:
        for seed in (int(s) for s in args.seeds.split(",")):
            kept, info = snapshots(preset, seed, budget, every, data, unit, overrides)
            curve = [{"min": s["min"], "kimg": s["kimg"], "fid": round(fid(s.pop("G"), args.n), 2)} for s in kept]
            results.setdefault(name, []).append({"seed": seed, "overrides": list(overrides), "curve": curve, **info})
            print(f"{name} seed {seed}: " + ", ".join(f"{p['min']:g} min / {p['kimg']:g} kimg: {p['fid']:g}" for p in curve)
                  + f" ({info})", flush=True)
            save(results, args, unit)
    print("\n| preset | seed | FID at each snapshot (CPU-min / kimg: FID) | best FID | steps | kimg |\n|---|---|---|---:|---:|---:|")
    for name, name_runs in results.items():
        for run in name_runs:
            best = min((p["fid"] for p in run["curve"]), default=float("nan"))
            cells = ", ".join(f"{p['min']:g} / {p['kimg']:g}: {p['fid']:g}" for p in run["curve"])
            print(f"| {name} | {run['seed']} | {cells} | {best:g} | {run['steps']} | {run['kimg']} |")


if __name__ == "__main__":
    sys.exit(main())
