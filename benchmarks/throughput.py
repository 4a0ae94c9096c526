"""gankit's training throughput as a ratio to the seed-style reference loop (GUIDE §9).

For each preset and its reference model (`benchmarks/reference_loop.py`), in this one process and
interleaved -- reference, gankit, reference, gankit, ... for `--repeats` rounds, so machine drift
hits both alike -- train for a window of `--seconds` after one untimed warm-up step, as the
reference does, and report the median images/s of each side and their ratio gankit / reference.

Two kinds of row:
- **same maths** (seed-gan, seed-wgan, seed-cgan, dcgan): the reference runs the same models and loop;
  both sides fp32, batch 64, the real Fashion-MNIST train split read from the same files. The ratio
  is gankit's speed-up.
- **anchored** (every other preset that runs on a CPU): no seed-style loop trains that model, so the
  reference `dcgan` loop runs in the same rounds as the machine's yardstick, and the gankit side
  keeps its preset's own batch size and data. The ratio says how many images the preset trains
  per image of the reference DCGAN on this machine: a machine-independent cost, not a speed-up.
  ProGAN is measured at its final resolution (`growth.start_resolution` set to it). The `-paper`
  presets (1024 px, data not shipped) are GPU-sized: `gpu.sh` measures StyleGAN2 and SG3-T there.
Timing excludes loading the data and building the models.

"images" = generator steps x batch size on both sides: the real images drawn from the dataset. For
seed-wgan gankit's own clock (`cur_nimg`) counts 5x that, because each of the 5 critic steps counts
the one real batch they reuse; the JSON keeps that number too. Peak RSS is the process's high-water
mark over one window (reset before it through /proc/self/clear_refs, Linux only); both sides' data
sets are resident throughout, so it compares the two sides rather than measuring either alone. On a
GPU the table adds gankit's peak allocated GPU memory.

`--precision bf16|fp16`, `--compile` and `--set KEY=VALUE` change the gankit side only (the
reference stays the fp32 seed loop); compiled runs take 5 untimed warm-up steps (compilation)
instead of 1. Model FLOP/s: the matmul/convolution FLOPs of one gankit step (forward and backward,
counted once by `torch.utils.flop_counter.FlopCounterMode`) times steps/s, also given as a fraction
of the GEMM ceiling measured at the start (best of square 1024 matrix products in the run's dtype).

    python benchmarks/throughput.py [--presets same-maths|all|NAME,NAME,...] [--seconds 20]
                                    [--repeats 3] [--precision fp32|bf16|fp16] [--compile] [--set KEY=VALUE ...]
                                    [--out results.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gankit.config import load_config, preset_names
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.training.trainer import Trainer
from reference_loop import DEFAULT_ROOT, _cpu_name, load_fashion_mnist, run_reference

SAME_MATHS = {"seed-gan": "gan", "seed-wgan": "wgan", "seed-cgan": "cgan", "dcgan": "dcgan"}
ANCHOR = "dcgan"  # the reference model timed beside every other preset
PRESET_OVERRIDES = {"progan": ["growth.start_resolution=32"]}  # measured at its final size
BATCH = 64
OVERRIDES = ["steps=100000000", "log.progress=false", "log.every=1000000", "log.sample_kimg=0", "checkpoint.kimg=0"]
COUNTING = ("images = generator steps x batch size on both sides (real images drawn per G step; batch 64 "
            "for same-maths rows); seed-wgan's gankit cur_nimg counts its one real batch once per critic "
            "step (5x) and is not used")


def cpu_presets() -> list[str]:
    """Every shipped preset that trains on a CPU: all but the GPU-sized `-paper` ones, same-maths first."""
    rest = [p for p in preset_names() if not p.endswith("-paper") and p not in SAME_MATHS]
    return list(SAME_MATHS) + rest


def preset_overrides(preset: str) -> list[str]:
    """Config overrides of the gankit side: benchmark settings, batch 64 for same-maths rows, preset extras."""
    return OVERRIDES + ([f"batch_size={BATCH}"] if preset in SAME_MATHS else []) + PRESET_OVERRIDES.get(preset, [])


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark to its current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measured(window: Callable[[], dict]) -> dict:
    """Run one timed window and add the peak RSS (MiB) reached during it, or None if it cannot be isolated."""
    isolated = reset_peak_rss()
    result = window()
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1) if isolated else None
    gc.collect()
    return result


def reference_window(model: str, seconds: float, data: tuple, device: str) -> dict:
    """One reference window: the seed-style loop for `seconds` after its warm-up step."""
    res = run_reference(model, seconds=seconds, batch_size=BATCH, data=data, device=device)
    return {"steps": res["steps"], "seconds": res["seconds"], "images": res["images"],
            "images_per_s": res["images_per_s"]}


def preset_data(preset: str, fmnist):
    """The data set the preset trains on: the Fashion-MNIST already loaded when it is that at 28 px, else its own."""
    cfg = load_config(preset, preset_overrides(preset))
    if cfg.data == "fashion-mnist" and cfg.resolution in (None, fmnist.resolution) and cfg.channels in (None, fmnist.channels):
        return fmnist
    return load_dataset(cfg.data, resolution=cfg.resolution, channels=cfg.channels, download=False)


def gankit_window(preset: str, seconds: float, data, device: str, speed: list[str]) -> dict:
    """One gankit window: Trainer.step() for `seconds` after untimed warm-up steps (1, or 5 compiled)."""
    trainer = Trainer(load_config(preset, preset_overrides(preset) + [f"device={device}"] + speed), data=data).start()

    def sync() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    for _ in range(5 if trainer.cfg.speed.compile else 1):  # warm-up, untimed, as the reference
        trainer.step()
    sync()
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    nimg0, steps = trainer.state.cur_nimg, 0
    start = time.perf_counter()
    while True:
        trainer.step()
        steps += 1
        if time.perf_counter() - start >= seconds:
            break
    sync()
    elapsed = time.perf_counter() - start
    images = steps * trainer.batch_size
    gpu_peak = torch.cuda.max_memory_allocated(trainer.device) / 2**20 if trainer.device.type == "cuda" else None
    return {"steps": steps, "seconds": elapsed, "images": images, "images_per_s": images / elapsed,
            "batch_size": trainer.batch_size, "cur_nimg": trainer.state.cur_nimg - nimg0, "gpu_peak_mib": gpu_peak}


class FlopCount(TorchDispatchMode):
    """Counts matmul/convolution FLOPs with torch's own per-op formulas (`flop_registry`). Unlike
    `FlopCounterMode` it tracks no modules, whose backward hooks break `autograd.grad` (gradient penalties)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def step_flops(preset: str, data, device: str, speed: list[str]) -> float:
    """Matmul/conv FLOPs of one gankit step (forward + backward), counted uncompiled after a warm-up step."""
    eager = [o for o in speed if not o.startswith("speed.compile")]
    trainer = Trainer(load_config(preset, preset_overrides(preset) + [f"device={device}"] + eager), data=data).start()
    trainer.step()
    with FlopCount() as counter:
        trainer.step()
    return float(counter.total)


def gemm_ceiling(device: str, dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Best FLOP/s of square n x n matrix products in `dtype` on `device` (the roofline for model FLOP/s)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * n ** 3 / best


def machine_info(device: str) -> dict:
    """CPU (or GPU) model, cores, torch version and intra-op threads of this run."""
    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else _cpu_name()
    return {"device": device, "model": name, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> None:
    """Benchmark each preset against its reference; print a Markdown table, optionally write JSON."""
    ap = argparse.ArgumentParser(description="gankit vs the seed-style reference loop: images/s, same run.")
    ap.add_argument("--presets", default="all",
                    help="same-maths (the four with a seed-style reference), all (every CPU preset), or names: "
                         + ",".join(cpu_presets()))
    ap.add_argument("--seconds", type=float, default=20.0, help="timed seconds per window")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved reference/gankit rounds per preset")
    ap.add_argument("--out", type=Path, default=None, help="write every repeat's raw numbers here as JSON")
    ap.add_argument("--root", default=DEFAULT_ROOT, help="folder with the Fashion-MNIST idx .gz files")
    ap.add_argument("--device", default="cpu", help="device for both sides (cpu, cuda, cuda:N)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="gankit side's speed.precision")
    ap.add_argument("--compile", action="store_true", help="gankit side with speed.compile=true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another config override for the gankit side, e.g. speed.channels_last=true (repeatable)")
    args = ap.parse_args(argv)
    speed = [f"speed.precision={args.precision}"] + (["speed.compile=true"] if args.compile else []) + args.set
    known = cpu_presets()
    groups = {"all": known, "same-maths": list(SAME_MATHS)}
    presets = groups.get(args.presets) or [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in known]
    if unknown or not presets:
        ap.error(f"unknown preset(s) {', '.join(unknown) or '(none)'}; choose from all, same-maths, {', '.join(known)}")
    if args.seconds <= 0 or args.repeats < 1:
        ap.error("--seconds must be > 0 and --repeats >= 1")
    for preset in presets:  # bad --set keys or values: one line now, not a traceback mid-run
        try:
            load_config(preset, preset_overrides(preset) + speed)
        except GankitError as err:
            ap.error(f"{preset}: {err}")
    try:
        ref_data = load_fashion_mnist(args.root, "train")
        fmnist = load_dataset("fashion-mnist", root=args.root, download=False)
    except (FileNotFoundError, GankitError) as err:
        sys.exit(f"throughput.py: Fashion-MNIST is needed: {err}\n"
                 "Install it with `make data` (Debian package dataset-fashion-mnist) or pass --root DIR.")

    machine = machine_info(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    ceiling = gemm_ceiling(args.device, dtype)
    machine["gemm_ceiling_gflops"] = {args.precision: round(ceiling / 1e9, 2)}
    report = {"machine": machine, "protocol": {"seconds": args.seconds, "repeats": args.repeats, "batch_size": BATCH,
                                               "dtype": "float32", "warmup_steps": 1, "counting": COUNTING,
                                               "gankit_precision": args.precision, "gankit_compile": args.compile,
                                               "gankit_overrides": args.set},
              "presets": {}}
    print(f"Machine: {machine['model']}, {machine['cores']} cores, torch {machine['torch']}, "
          f"{machine['threads']} threads, device {args.device}; {args.precision} GEMM ceiling "
          f"{ceiling / 1e9:.1f} GFLOP/s (square 1024, measured now)")
    print(f"Protocol: interleaved rounds: {args.repeats} x {args.seconds:g} s per side, medians; reference fp32, "
          f"batch {BATCH}; {COUNTING}" + (f"; gankit side also {' '.join(args.set)}" if args.set else "") + ".\n")
    gpu = args.device.startswith("cuda")
    print("| preset | batch | precision | compile | reference (kind) | reference img/s | gankit img/s | ratio "
          "| model GFLOP/s (% of GEMM ceiling) | repeats | peak RSS MiB (ref / gankit) |"
          + (" gankit GPU peak MiB |" if gpu else ""))
    print("|---|---:|---|---|---|---:|---:|---:|---:|---:|---|" + ("---:|" if gpu else ""), flush=True)
    for preset in presets:
        model = SAME_MATHS.get(preset, ANCHOR)
        kind = "same maths" if preset in SAME_MATHS else "anchor"
        gk_data = preset_data(preset, fmnist)
        ref_runs, gk_runs = [], []
        flops = step_flops(preset, gk_data, args.device, speed)
        for _ in range(args.repeats):
            ref_runs.append(measured(lambda: reference_window(model, args.seconds, ref_data, args.device)))
            gk_runs.append(measured(lambda: gankit_window(preset, args.seconds, gk_data, args.device, speed)))
        ref_med = statistics.median(r["images_per_s"] for r in ref_runs)
        gk_med = statistics.median(r["images_per_s"] for r in gk_runs)
        rss = [[r["peak_rss_mib"] for r in runs] for runs in (ref_runs, gk_runs)]
        rss_cell = "n/a" if None in rss[0] + rss[1] else f"{max(rss[0]):.0f} / {max(rss[1]):.0f}"
        batch = gk_runs[0]["batch_size"]
        model_flops = flops * gk_med / batch  # FLOP/s at the median speed
        gpu_cell = f" {max(r['gpu_peak_mib'] for r in gk_runs):.0f} |" if gpu else ""
        print(f"| {preset} | {batch} | {args.precision} | {'yes' if args.compile else 'no'} | {model} ({kind}) | "
              f"{ref_med:.0f} | {gk_med:.0f} | {gk_med / ref_med:.3g}x | {model_flops / 1e9:.1f} "
              f"({100 * model_flops / ceiling:.0f} %) | {args.repeats} | {rss_cell} |{gpu_cell}", flush=True)
        report["presets"][preset] = {
            "reference_model": model, "reference_kind": kind, "batch_size": batch,
            "reference_images_per_s": ref_med, "gankit_images_per_s": gk_med,
            "step_flops": flops, "model_flops_per_s": model_flops, "fraction_of_gemm_ceiling": model_flops / ceiling,
            "ratio": gk_med / ref_med, "round_ratios": [g["images_per_s"] / r["images_per_s"]
                                                       for r, g in zip(ref_runs, gk_runs)],
            "reference_runs": ref_runs, "gankit_runs": gk_runs}
        if args.out is not None:  # after every preset, so an interrupted run keeps what it measured
            args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
