"""Time to quality: seconds of CPU training until a preset first reaches a classifier-space FID target,
gankit against the seed-style reference loop (GUIDE §9, the scale-and-speed issue).

For each preset and its reference model, in this one process and one after the other, train for
`--seconds` of timed training (the same windows as `throughput.py`: fp32, batch 64, the same maths,
one untimed warm-up step) and keep a copy of the generator every `--every` seconds of training; the
copying is not counted as training time on either side. Afterwards every copy is scored the same
way: FID of `-n` samples in the shipped `fmnist-cnn` feature space against the Fashion-MNIST test
split (10,000 images), samples from the evaluation seed, the generator in eval mode (gankit's G_ema
when the preset keeps one; neither seed preset does). The table gives, for each FID target, the
first snapshot time at or under it on each side, and the ratio reference / gankit.

Snapshot times have the granularity of `--every`; a side that never reaches a target in the
window shows "—". One seed per side: read ratios as indicative.

    python benchmarks/time_to_quality.py [--presets seed-gan,dcgan] [--seconds 240] [--every 20]
                                         [-n 2000] [--targets 130,120,70,60,50] [--threads 1] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.metrics.evaluate import EvalContext, GeneratorSource, evaluate, parse_metrics
from gankit.training.trainer import Trainer
from reference_loop import DEFAULT_ROOT, DCGAN_Generator, _cpu_name, load_fashion_mnist, run_reference
from throughput import BATCH, OVERRIDES, SAME_MATHS as PRESETS

Snapshots = list[tuple[float, torch.nn.Module]]  # (seconds of training, generator copy)


class ReferenceGenerator(torch.nn.Module):
    """A reference loop's generator dressed as a gankit image generator (the attributes the evaluator reads)."""

    is_vector = False
    c_dim = 0
    z_dim = 100
    img_resolution = 28
    img_channels = 1

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(self.net, DCGAN_Generator):  # its z is [N, 100, 1, 1]
            z = z[:, :, None, None]
        return self.net(z).view(-1, 1, 28, 28)  # [N, 1, 28, 28] in [-1, 1]


def reference_snapshots(model: str, seconds: float, every: float, data: tuple) -> Snapshots:
    """Train the reference loop for `seconds`, copying its generator every `every` seconds of training."""
    kept: Snapshots = []

    def keep(at: float, modules: list[torch.nn.Module]) -> None:
        kept.append((at, ReferenceGenerator(copy.deepcopy(modules[0])).eval()))

    run_reference(model, seconds=seconds, batch_size=BATCH, data=data, snapshot_every=every, on_snapshot=keep)
    return kept


def gankit_snapshots(preset: str, seconds: float, every: float, data) -> Snapshots:
    """Train `preset` for `seconds` with Trainer.step(), copying its generator every `every` seconds of training."""
    trainer = Trainer(load_config(preset, OVERRIDES), data=data).start()
    trainer.step()  # warm-up, untimed, as the reference
    kept: Snapshots = []
    start, next_snapshot = time.perf_counter(), every
    while True:
        trainer.step()
        trained = time.perf_counter() - start
        if trained >= next_snapshot:
            paused = time.perf_counter()
            kept.append((trained, copy.deepcopy(trainer.G_ema or trainer.G).eval()))
            start += time.perf_counter() - paused  # the copy is not training time
            next_snapshot += every
        if trained >= seconds:
            return kept


def fid(G: torch.nn.Module, n: int) -> float:
    """Classifier-space FID of `n` samples of G against the Fashion-MNIST test split (fmnist-cnn)."""
    ctx = EvalContext(source=GeneratorSource(G), data="fashion-mnist", metrics=parse_metrics("fid"), progress=False)
    return float(evaluate(ctx, n)["results"]["fid"]["values"]["fid"])


def first_reaching(curve: list[tuple[float, float]], target: float) -> float | None:
    """The first training time whose FID is at or under `target`, or None."""
    return next((at for at, value in curve if value <= target), None)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="seed-gan,dcgan", help="comma-separated subset of " + ",".join(PRESETS))
    ap.add_argument("--seconds", type=float, default=240.0, help="timed training seconds per side")
    ap.add_argument("--every", type=float, default=20.0, help="seconds of training between generator snapshots")
    ap.add_argument("-n", type=int, default=2000, help="samples per FID")
    ap.add_argument("--targets", default="130,120,70,60,50", help="FID targets, comma-separated")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both sides (default: torch's)")
    ap.add_argument("--out", type=Path, default=None, help="also write every curve as JSON here")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        ap.error(f"unknown preset {unknown[0]!r}; choose from {', '.join(PRESETS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    targets = [float(t) for t in args.targets.split(",")]
    raw = load_fashion_mnist(DEFAULT_ROOT, "train")
    data = load_dataset("fashion-mnist")
    print(f"# time to quality: {_cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{args.seconds:g} s per side, snapshot every {args.every:g} s, FID of {args.n} samples (fmnist-cnn, test split)",
          flush=True)
    results = {}
    for preset in presets:
        curves = {}
        for side, snapshots in (("reference", lambda: reference_snapshots(PRESETS[preset], args.seconds, args.every, raw)),
                                ("gankit", lambda: gankit_snapshots(preset, args.seconds, args.every, data))):
            curves[side] = [(round(at, 1), round(fid(G, args.n), 2)) for at, G in snapshots()]
            print(f"{preset} {side}: " + ", ".join(f"{at:g}s {value:g}" for at, value in curves[side]), flush=True)
        results[preset] = curves
    print("\n| preset | FID target | reference s | gankit s | ratio |\n|---|---:|---:|---:|---:|")
    for preset, curves in results.items():
        for target in targets:
            ref, ours = (first_reaching(curves[side], target) for side in ("reference", "gankit"))
            ratio = f"**{ref / ours:.2f}×**" if ref and ours else "—"
            print(f"| {preset} | {target:g} | {ref if ref is not None else '—'} | {ours if ours is not None else '—'} | {ratio} |")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "curves": results}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
