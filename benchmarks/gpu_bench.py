"""One case of `benchmarks/gpu.sh`: train a preset on synthetic images for a timed window, print one JSON line.

Synthetic uint8 images (held on the device) stand in for the data set, so a bare GPU machine needs
no files: speed does not depend on what the pixels show. Each case runs in its own process (and
gpu.sh bounds it with its own timeout), starting after untimed warm-up steps (compilation, cuDNN
autotuning). Reported: images/s, seconds per 1,000 images (one GPU: also GPU-seconds per kimg), and
the peak GPU memory allocated. A preset this source tree lacks is reported as skipped.

    PYTHONPATH=. python benchmarks/gpu_bench.py --case dcgan64-bf16 --preset dcgan --resolution 64 \
        --batch 64 --precision bf16 [--compile] [--set KEY=VALUE ...] [--tiny] [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

# Model sizes shrunk for `--tiny` (gpu.sh --dry-run on CPU): the script's logic, not a benchmark.
TINY = {
    "dcgan": ["G.base_channels=4", "D.base_channels=4", "G.z_dim=8"],
    "stylegan2": ["G.channel_base=256", "G.channel_max=8", "D.channel_base=256", "D.channel_max=8", "G.z_dim=8",
                  "G.w_dim=8", "G.mapping_layers=1", "D.mbstd_group_size=2"],
    "stylegan3": ["G.channel_base=256", "G.channel_max=8", "D.channel_base=256", "D.channel_max=8", "G.z_dim=8",
                  "G.w_dim=8", "G.mapping_layers=1", "G.num_layers=3", "D.mbstd_group_size=2"],
}
QUIET = ["steps=100000000", "log.progress=false", "log.every=1000000", "log.sample_kimg=0", "checkpoint.kimg=0"]


def synthetic_images(n: int, channels: int, resolution: int, device: str):
    """Random uint8 images [n, C, R, R] as an in-memory dataset on `device`."""
    from gankit.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (n, channels, resolution, resolution), generator=g, dtype=torch.uint8)
    return ImageDataset("synthetic", pixels.to(device), None, 0)


def run_case(args: argparse.Namespace) -> dict:
    """Build the trainer, warm up, time `args.seconds` of steps; return the case's numbers."""
    from gankit.config import load_config, preset_names
    from gankit.training import Trainer

    if args.tiny:  # small widths (below), 32 px at most, batch 8 (accumulation then off)
        args.resolution, args.batch = min(args.resolution, 32), 8
    result = {"case": args.case, "preset": args.preset, "resolution": args.resolution, "batch": args.batch,
              "precision": args.precision, "compile": args.compile, "device": args.device}
    if args.preset not in preset_names():
        return {**result, "status": "skipped: preset not present"}
    speed = [f"speed.precision={args.precision}", f"speed.compile={str(args.compile).lower()}"]
    overrides = QUIET + [f"device={args.device}", f"batch_size={args.batch}"] + speed + list(args.set)
    if args.tiny:
        overrides += TINY.get(load_config(args.preset).model, [])
    cfg = load_config(args.preset, overrides)
    data = synthetic_images(max(4 * args.batch, 64), 3, args.resolution, args.device)
    trainer = Trainer(cfg, data=data).start()
    is_cuda = trainer.device.type == "cuda"

    def sync() -> None:
        if is_cuda:
            torch.cuda.synchronize(trainer.device)

    start = time.perf_counter()
    for _ in range(args.warmup + (3 if args.compile else 0)):
        trainer.step()
    sync()
    warmup_s = time.perf_counter() - start
    if is_cuda:
        torch.cuda.reset_peak_memory_stats(trainer.device)
    steps, start = 0, time.perf_counter()
    while True:
        trainer.step()
        steps += 1
        if steps % 2 == 0:
            sync()
            if time.perf_counter() - start >= args.seconds:
                break
    elapsed = time.perf_counter() - start
    images_per_s = steps * args.batch / elapsed
    return {**result, "status": "ok", "steps": steps, "seconds": round(elapsed, 2), "warmup_s": round(warmup_s, 1),
            "images_per_s": round(images_per_s, 2), "s_per_kimg": round(1000 / images_per_s, 2),
            "peak_gpu_mib": round(torch.cuda.max_memory_allocated(trainer.device) / 2**20) if is_cuda else None,
            "gpu": torch.cuda.get_device_name(trainer.device) if is_cuda else None, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> None:
    """Parse one case, run it, print its JSON line (failures too, as a status)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--resolution", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0, help="timed window")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps (3 more when compiling)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--set", action="append", default=[], help="extra key=value override (repeatable)")
    ap.add_argument("--tiny", action="store_true", help="shrunk models: checks the logic, measures nothing")
    args = ap.parse_args(argv)
    try:
        result = run_case(args)
    except Exception as err:  # one line per case, whatever went wrong (e.g. out of memory)
        result = {"case": args.case, "status": f"failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
