"""Projection quality of a trained style-based run: self-consistency (images G made from known w) and real images.

    python benchmarks/projection.py RUN -n 10 --steps 300 --spaces w,w+ [--real fashion-mnist [--no-self]] [--batch 32]
                                    [--no-noise-maps] [--out DIR]

Self-consistency: w_k = mapping(z_k), z_k from seed 10,000 + k, target = synthesis(w_k) with G's constant
noise; each target is projected by `gankit.projection.project` (the CLI's algorithm and distance) and
scored by PSNR / SSIM / feature distance, and by how close the recovered latent is to w_k:
|ŵ − w| / |w̄ − w| (1 = no closer than the start w̄; for w+ the mean over layers). `--real DATA`
projects the first n images of that dataset's test split too (`--no-self`: only those). The distance is the CLI's default for
G's images (`select_distance`). Prints a Markdown table (means and medians, and the CPU seconds of each
row); `--out DIR` keeps the JSON, a figure (targets over projections) per row, and the real images'
projections as `gankit project` writes them (DIR/real-w/, for `gankit interpolate RUN --from DIR/real-w`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from gankit.metrics.distances import select_distance
from gankit.projection import project, protocol, save_projections, w_statistics
from gankit.runs.load import load


def _row(name: str, space: str, results, distance, cpu_s: float, extra: list[float] | None = None) -> tuple[str, dict]:
    keys = ("psnr", "ssim", *([distance.score_key] if distance.score_key else []))
    summary = {k: [r.scores[k] for r in results] for k in keys}
    cells = [f"{statistics.mean(v):.2f} / {statistics.median(v):.2f}" if k == "psnr" else f"{statistics.mean(v):.3f}"
             for k, v in summary.items()]
    if extra is not None:
        summary["w_rel_error"] = extra
        cells.append(f"{statistics.mean(extra):.3f}")
    else:
        cells.append("—")
    cells.append(f"{cpu_s:.0f}")
    return f"| {name} | {space} | {len(results)} | " + " | ".join(cells) + " |", summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--spaces", default="w,w+")
    parser.add_argument("--real", default=None, help="also project the first n test images of this dataset")
    parser.add_argument("--batch", type=int, default=None, help="images optimised at once (default: the CLI's)")
    parser.add_argument("--no-noise-maps", action="store_true", help="keep G's noise maps fixed (StyleGAN 1/2)")
    parser.add_argument("--no-self", action="store_true", help="skip G's own images: project only the --real ones")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.no_self and not args.real:
        parser.error("--no-self leaves nothing to project without --real DATA")

    G = load(args.run)
    distance = select_distance(G.img_channels, G.img_resolution)
    sets = []
    if not args.no_self:  # G's own images from known w, and w_avg to judge how near the recovered w comes
        w_avg, _ = w_statistics(G)
        with torch.no_grad():
            z = torch.cat([torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(10_000 + k)) for k in range(args.n)])
            ws = G.mapping(z, None)  # [n, num_ws, w_dim]
            sets.append(("G's own images", G.synthesis(ws, noise_mode="const").clamp(-1, 1)))  # [n, C, R, R]
    if args.real:
        from gankit.data import load_dataset

        data = load_dataset(args.real, resolution=G.img_resolution, channels=G.img_channels, split="test")
        sets.append((f"{args.real} test", data.images[: args.n].float() / 127.5 - 1))
    lines = [f"| targets | space | n | PSNR dB (mean / median) | SSIM | {distance.name} distance | w rel. error | CPU s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    report = {"run": str(args.run), "steps": args.steps, "n": args.n, "rows": []}
    for name, images in sets:
        for space in args.spaces.split(","):
            start = time.process_time()
            results = project(G, images, space, args.steps, seed=0, distance=distance, progress=False,
                              batch_size=args.batch, regularize_noise=not args.no_noise_maps)
            cpu_s = time.process_time() - start
            extra = None
            if name == "G's own images":
                extra = [float(((r.latent - ws[k]).norm(dim=1) / (w_avg - ws[k]).norm(dim=1)).mean())
                         for k, r in enumerate(results)]
            line, summary = _row(name, space, results, distance, cpu_s, extra)
            print(line, flush=True)
            lines.append(line)
            report["rows"].append({"targets": name, "space": space, "cpu_s": round(cpu_s, 1), **summary})
            if args.out is not None:
                from gankit.viz import save_image_grid

                args.out.mkdir(parents=True, exist_ok=True)
                grid = torch.cat([images[:10], torch.stack([r.image for r in results[:10]])])
                tag = "self" if extra is not None else "real"
                save_image_grid(grid, args.out / f"{tag}-{space.replace('+', 'plus')}.png", nrow=min(10, len(results)), scale=2)
                if extra is None:
                    save_projections(results, [f"test{k}" for k in range(len(results))], args.out / f"real-{space}",
                                     protocol(space, args.steps, 0, distance, not args.no_noise_maps, G))
    print("\n".join(lines))
    if args.out is not None:
        (args.out / "projection.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
