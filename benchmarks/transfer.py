"""Transfer learning on 100 images (GUIDE §11): fine-tuning with and without Freeze-D and ADA vs scratch.

Pretrain `--preset` on the Fashion-MNIST train split without one class (`--target-class`, default 7:
sneaker) for `--pretrain-kimg`; then train on `--shots` images of that class (seeded) for `--kimg`
in each arm, one after the other in this process, at equal images shown:

- `scratch`: from a fresh initialisation (no augmentation);
- `scratch+ada`: the same with ADA;
- `finetune`: `init=` the pretrained run (fresh optimizers and clock, as `init=` always starts);
- `finetune+freezeD`: that, with D's first `--freeze` layers frozen (Mo et al. 2020);
- `finetune+ada`, `finetune+freezeD+ada`: the same with ADA (target 0.6, `augment.ada.kimg`).

Every `--eval-kimg` the generator (G_ema where the preset keeps one) is scored by FID of `-n` samples
in the shipped `fmnist-cnn` feature space against the test split's images of the target class
(1,000 for Fashion-MNIST); the real-vs-real floor (the shots themselves against that reference) is
printed beside it. Each arm's training CPU time (`time.process_time`, evaluations excluded) is recorded.
Writes OUT/results.json, OUT/transfer.png (FID vs kimg per arm) and each run's folder.

    python benchmarks/transfer.py [--preset dcgan] [--target-class 7] [--shots 100] [--pretrain-kimg 200]
                                  [--kimg 40] [--eval-kimg 2] [-n 1000] [--freeze 2] [--seed 0]
                                  [--arms scratch,finetune,...] [--threads 1] [--out bench_out/transfer]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gankit.config import load_config
from gankit.data import ImageDataset, load_dataset
from gankit.metrics.evaluate import GeneratorSource
from gankit.metrics.features import load_extractor
from gankit.metrics.frechet import frechet_from_features
from gankit.training.trainer import Trainer
from small_data import save_figure, subset

ARMS = {
    "scratch": [],
    "scratch+ada": ["augment.ada.target=0.6"],
    "finetune": ["init={pretrained}"],
    "finetune+freezeD": ["init={pretrained}", "D.freeze_layers={freeze}"],
    "finetune+ada": ["init={pretrained}", "augment.ada.target=0.6"],
    "finetune+freezeD+ada": ["init={pretrained}", "D.freeze_layers={freeze}", "augment.ada.target=0.6"],
}
QUIET = ["log.progress=false", "log.sample_kimg=0", "eval.kimg=0", "steps=null"]  # --kimg ends each run


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels [N, C, H, W] -> float in [-1, 1]."""
    return images.float() / 127.5 - 1


@torch.no_grad()
def features(extractor, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """fmnist-cnn features [N, F] of images [N, C, H, W] in [-1, 1]."""
    return torch.cat([extractor(images[i:i + batch])[0] for i in range(0, len(images), batch)])


@torch.no_grad()
def generator_fid(G: torch.nn.Module, reference: torch.Tensor, extractor, n: int, seed: int) -> float:
    """FID of n samples of G (its own seeded latents) against reference features [M, F]."""
    gen = torch.Generator().manual_seed(seed)
    was_training = G.training
    G.eval()
    fakes = torch.cat([features(extractor, x) for x, _ in GeneratorSource(G).batches(n, gen)])
    G.train(was_training)
    return frechet_from_features(fakes, reference)


def train_arm(cfg_overrides: list[str], args, data: ImageDataset, run_dir: Path, reference: torch.Tensor,
              extractor) -> dict:
    """Train to --kimg, scoring every --eval-kimg; the FID curve and the training CPU time."""
    cfg = load_config(args.preset, QUIET + [f"seed={args.seed}", f"kimg={args.kimg}", "checkpoint.kimg=0"]
                      + cfg_overrides)
    trainer = Trainer(cfg, run_dir, data=data).start()
    curve, next_eval, cpu = [], args.eval_kimg, 0.0
    while not trainer.done():
        start = time.process_time()
        trainer.step()
        cpu += time.process_time() - start
        kimg = trainer.state.cur_nimg / 1000
        if kimg >= next_eval or trainer.done():
            G = trainer.G_ema if trainer.G_ema is not None else trainer.G
            curve.append((round(kimg, 2), generator_fid(G, reference, extractor, args.n, seed=12345)))
            next_eval += args.eval_kimg
    trainer.finish()
    logs = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    p = [(r["kimg"], r["augment/p"]) for r in logs if "augment/p" in r]
    best = min(curve, key=lambda kv: kv[1])
    return {"fid": curve, "p": p, "train_cpu_s": round(cpu, 1), "best_fid": best[1], "best_kimg": best[0],
            "final_fid": curve[-1][1]}


def plot(results: dict, floor: float, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for arm, r in results.items():
        ax.plot(*zip(*r["fid"]), marker="o", markersize=3, label=arm, linestyle="--" if "scratch" in arm else "-")
    ax.axhline(floor, color="grey", linewidth=0.8, label="floor (the shots vs the reference)")
    ax.set(xlabel="kimg on the target class", ylabel="FID (fmnist-cnn, vs test-split sneakers)",
           title="Transfer to 100 images", yscale="log")
    save_figure(fig, [ax], path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dcgan")
    parser.add_argument("--target-class", type=int, default=7)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--pretrain-kimg", type=float, default=200)
    parser.add_argument("--kimg", type=float, default=40)
    parser.add_argument("--eval-kimg", type=float, default=2)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--freeze", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench_out/transfer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    resolution = load_config(args.preset).resolution  # e.g. 32 px for stylegan2
    full, test = (load_dataset("fashion-mnist", resolution=resolution, split=split) for split in ("train", "test"))
    k = args.target_class
    gen = torch.Generator().manual_seed(20_000 + args.seed)
    target_pool = (full.labels == k).nonzero().squeeze(1)
    shots = target_pool[torch.randperm(len(target_pool), generator=gen)[:args.shots]].sort().values
    others = (full.labels != k).nonzero().squeeze(1)
    extractor = load_extractor("fmnist-cnn")
    reference = features(extractor, to_unit(test.images[test.labels == k]))
    shot_data = subset(full, shots)
    floor = frechet_from_features(features(extractor, to_unit(shot_data.images)), reference)
    print(json.dumps({"target_class": full.class_names[k] if full.class_names else k, "shots": len(shots),
                      "reference": int((test.labels == k).sum()), "floor_fid": round(floor, 3)}), flush=True)

    pretrained = out / "pretrained"
    if not (pretrained / "checkpoints").exists():
        start = time.process_time()
        cfg = load_config(args.preset, QUIET + [f"seed={args.seed}", f"kimg={args.pretrain_kimg}"])
        Trainer(cfg, pretrained, data=subset(full, others)).train()
        print(json.dumps({"pretrain_kimg": args.pretrain_kimg, "cpu_s": round(time.process_time() - start, 1)}),
              flush=True)
    results = {}
    for arm in args.arms.split(","):
        overrides = [o.format(pretrained=pretrained.resolve(), freeze=args.freeze) for o in ARMS[arm]]
        results[arm] = train_arm(overrides, args, shot_data, out / arm, reference, extractor)
        print(json.dumps({"arm": arm, **{k: v for k, v in results[arm].items() if k not in ("fid", "p")}}), flush=True)
        (out / "results.json").write_text(json.dumps({"args": vars(args), "floor_fid": floor,
                                                      "shots": shots.tolist(), "results": results}, indent=1))
        plot(results, floor, out / "transfer.png")


if __name__ == "__main__":
    main()
