"""The 1,000-mode goal (R3GAN issue): stacked-modes rows trained long, scored at every checkpoint.

Each `--rows` row of `gankit lab stacked-modes` (dcgan's network on 28 px stacks, with the lab's loss
and penalties for that row) trains for `--steps` generator steps per `--seeds` seed, with `--set`
overrides added (`ema.kimg=10` keeps a G_ema beside G; it does not change G's training) and a
checkpoint every `--every-kimg`. Afterwards every checkpoint's G, and its G_ema when kept, is scored as
the lab scores a row: the modes covered (of 1,000) and the reverse KL to uniform of `-n` samples
(the papers: 26,000). A checkpoint's CPU-minutes are the row's training CPU time (`time.process_time`)
times its share of the steps: a row's step cost is constant.

Writes OUT/<row>-seed<k>/ (the run: checkpoints, log, compute.json, scores.json), OUT/results.json and
OUT/stacked_modes_long.png (reverse KL against CPU-minutes, with the goal 0.08 and the training
data's own KL at the same sample count), rewritten after every row. `--score RUN_DIR ...` trains
nothing: it scores the checkpoints of finished runs not scored yet and redraws.

    python benchmarks/stacked_modes_long.py [--rows "RpGAN + R1;RpGAN + R1 + R2"] [--steps 30000]
                                            [--every-kimg 256] [--seeds 0] [--set ema.kimg=10] [-n 26000]
                                            [--threads 1] [--out bench_out/stacked_modes_long]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import gankit
from gankit.data import load_dataset
from gankit.lab.stacked_modes import (NETWORK, NETWORKS, ROWS, data_statistics, mode_statistics, run_folder, sample_modes,
                                      train_row)
from gankit.runs.checkpoint import load_checkpoint

GOAL_KL = 0.08  # the goal: all 1,000 modes and reverse KL <= 0.08 within 60 CPU-minutes per row


def train(name: str, seed: int, steps: int, every_kimg: float, overrides: list[str], data, out: Path) -> Path:
    """One row's run in OUT/<row>-seed<k>, with a checkpoint every `every_kimg` and its compute in compute.json."""
    run_dir = out / f"{run_folder(out, name).name}-seed{seed}"
    # checkpoint.keep=steps: no run has more checkpoints than steps, so every one is kept, whatever the batch
    _, compute = train_row(name, steps, [f"checkpoint.kimg={every_kimg:g}", f"checkpoint.keep={steps}", f"seed={seed}",
                                         *overrides], data, run_dir)
    (run_dir / "compute.json").write_text(json.dumps({"row": name, "seed": seed, "overrides": overrides, **compute}))
    return run_dir


def score(run_dir: Path, n: int) -> list[dict]:
    """Every checkpoint's G (and G_ema) not scored yet, added to RUN_DIR/scores.json; all of its scores, in step order."""
    compute = json.loads((run_dir / "compute.json").read_text())
    file = run_dir / "scores.json"
    scores = json.loads(file.read_text()) if file.exists() else {}
    for checkpoint in sorted(p for p in (run_dir / "checkpoints").iterdir() if p.is_dir() and not p.is_symlink()
                             and not p.name.startswith(".")):
        tensors = load_checkpoint(checkpoint).tensors
        for which in ("G", "G_ema"):
            key = f"{checkpoint.name}/{which}"
            if key in scores or not any(k.startswith(which + ".") for k in tensors):
                continue
            stats = mode_statistics(*sample_modes(gankit.load(checkpoint, which=which), n))
            stats.pop("counts")
            step = int(checkpoint.name)
            scores[key] = {"network": which, "step": step, "samples": n,
                           "cpu_min": compute["cpu_seconds"] / 60 * step / compute["generator_steps"], **stats}
            file.write_text(json.dumps(scores, indent=1))
            print(f"{compute['row']} seed {compute['seed']} step {step} {which}: {stats['modes']} modes, reverse KL "
                  f"{stats['reverse_kl']:.3f}", flush=True)
    return sorted(scores.values(), key=lambda s: (s["network"], s["step"]))


def data_kl(n: int) -> float:
    """The reverse KL of `n` training stacks, classified as the samples are: the floor at this sample count."""
    return data_statistics(load_dataset("stacked-fmnist", resolution=NETWORKS[NETWORK]), n)["reverse_kl"]


def plot(results: list[dict], floor: float, path: Path) -> None:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for k, run in enumerate(results):
        for which, style in (("G", "-"), ("G_ema", "--")):
            points = [s for s in run["scores"] if s["network"] == which]
            if points:
                ax.plot([s["cpu_min"] for s in points], [s["reverse_kl"] for s in points], style, marker="o", markersize=3,
                        color=f"C{k % 10}", label=f"{run['row']}, seed {run['seed']}" + (" (G_ema)" if which == "G_ema" else ""))
    ax.axhline(GOAL_KL, color="black", linestyle=":", label=f"goal: {GOAL_KL}")
    ax.axhline(floor, color="grey", linestyle="-.", label=f"training data: {floor:.3f}")
    ax.set_xlabel("CPU-minutes of training")
    ax.set_ylabel("reverse KL to uniform over 1,000 modes (nats)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(run_dirs: list[Path], n: int, out: Path, floor: float) -> None:
    """Score the runs, print each one's first checkpoint that meets the goal, write results.json and the figure."""
    results = []
    for run_dir in run_dirs:
        compute = json.loads((run_dir / "compute.json").read_text())
        results.append({**compute, "run": str(run_dir), "scores": score(run_dir, n)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"samples": n, "training_data_kl": floor, "runs": results}, indent=1))
    plot(results, floor, out / "stacked_modes_long.png")
    print(f"\ntraining data, {n:,} stacks: reverse KL {floor:.3f}\n"
          "| row | seed | network | first checkpoint with 1,000 modes and KL <= 0.08 | lowest KL (step) |\n|---|---|---|---|---|")
    for run in results:
        for which in ("G", "G_ema"):
            points = [s for s in run["scores"] if s["network"] == which]
            if not points:
                continue
            met = next((s for s in points if s["modes"] == 1000 and s["reverse_kl"] <= GOAL_KL), None)
            best = min(points, key=lambda s: s["reverse_kl"])
            first = f"step {met['step']}, {met['cpu_min']:.1f} CPU-min, KL {met['reverse_kl']:.3f}" if met else "none"
            print(f"| {run['row']} | {run['seed']} | {which} | {first} | {best['reverse_kl']:.3f} ({best['step']}) |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=";".join(ROWS), help=f"';'-separated rows of the lab: {'; '.join(ROWS)}")
    ap.add_argument("--steps", type=int, default=30_000, help="generator steps per row (batch 64)")
    ap.add_argument("--every-kimg", type=float, default=256.0, help="kimg between checkpoints, each one scored")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every row")
    ap.add_argument("-n", type=int, default=26_000, help="samples scored per checkpoint")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=Path("bench_out/stacked_modes_long"))
    ap.add_argument("--score", type=Path, nargs="+", metavar="RUN_DIR", help="no training: score these runs' checkpoints")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.score:
        missing = [str(d) for d in args.score if not (d / "compute.json").is_file()]
        if missing:
            ap.error(f"not a finished run of this script (no compute.json): {', '.join(missing)}")
        return report(args.score, args.n, args.out, data_kl(args.n))
    rows = [r.strip() for r in args.rows.split(";") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        ap.error((f"unknown row {unknown[0]!r}" if unknown else "no rows") + f"; choose from {'; '.join(ROWS)}")
    data = load_dataset("stacked-fmnist", resolution=NETWORKS[NETWORK])
    floor, run_dirs = data_kl(args.n), []
    for name in rows:
        for seed in (int(s) for s in args.seeds.split(",")):
            run_dirs.append(train(name, seed, args.steps, args.every_kimg, args.set, data, args.out))
            report(run_dirs, args.n, args.out, floor)


if __name__ == "__main__":
    sys.exit(main())
