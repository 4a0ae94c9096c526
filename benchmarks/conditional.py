"""Does a conditional generator draw the class it is asked for? Label accuracy and FID per design.

    python benchmarks/conditional.py digits --out /tmp/cond/data            # a second labelled folder (+ its evaluator)
    python benchmarks/conditional.py run --out /tmp/cond/runs \\
        --case base:cdcgan:fashion-mnist:steps=1000 --case cbn:cdcgan:fashion-mnist:steps=1000,G.cond_bn=true

`digits` writes scikit-learn's 8x8 digits (1,797 images, 16 grey levels), upscaled to 20x20 and
placed on a 28x28 canvas with a seeded random rotation (±12°), scale (0.85-1.1) and shift (±2 px),
as class-per-subfolder PNG folders: `digits-train` (1,497 source images × 7 draws = 10,479) and
`digits-holdout` (the other 300 × 3 = 900), then trains the `fmnist-cnn` classifier on
`digits-train` with `gankit evaluator train` and prints its accuracy on `digits-holdout`.

`run` trains each case NAME:CONFIG:DATA:OVERRIDES (overrides comma-separated) with `gankit train`
into OUT/NAME, scores it with `gankit eval -m acc,fid` (10,000 samples; for a folder, the
evaluator `digits` wrote, its FID and floor against the training folder itself), and prints one
Markdown row per case; `--json FILE` appends each case's full report.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

GANKIT = [sys.executable, "-m", "gankit"]


def render(image8: np.ndarray, rng: np.random.Generator):
    """One 8x8 digit (values 0..16) as a jittered 28x28 grey PIL image."""
    from PIL import Image

    image = Image.fromarray((image8 * (255 / 16)).astype(np.uint8)).resize((20, 20), Image.Resampling.BICUBIC)
    image = image.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR)
    size = max(14, round(20 * rng.uniform(0.85, 1.1)))
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (28, 28))
    offset = (28 - size) // 2
    dx, dy = rng.integers(-2, 3, 2)
    canvas.paste(image, (offset + int(dx), offset + int(dy)))
    return canvas


def make_digits(out: Path) -> None:
    """Write digits-train / digits-holdout and the evaluator digits-cnn.safetensors under `out`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.images))
    holdout = set(order[:300].tolist())
    parts = (("digits-train", [i for i in order if i not in holdout], 7), ("digits-holdout", sorted(holdout), 3))
    for name, rows, copies in parts:
        for k in range(10):
            (out / name / str(k)).mkdir(parents=True, exist_ok=True)
        for i in rows:
            for copy in range(copies):
                render(digits.images[i], rng).save(out / name / str(digits.target[i]) / f"{i:04d}-{copy}.png")
    weights = out / "digits-cnn.safetensors"
    subprocess.run([*GANKIT, "evaluator", "train", "--data", str(out / "digits-train"), "--out", str(weights),
                    "--shift", "2", "--quiet"], check=True)
    report = out / "holdout.json"
    subprocess.run([*GANKIT, "eval", str(out / "digits-holdout"), "--data", str(out / "digits-train"), "-m", "acc",
                    "--weights", str(weights), "--json", str(report), "-q"], check=True)
    acc = json.loads(report.read_text())["results"]["acc"]["values"]["acc"]
    print(f"evaluator {weights}: accuracy {acc:.4f} on the {sum(1 for _ in (out / 'digits-holdout').rglob('*.png'))} held-out images")


def run_case(spec: str, out: Path, weights: str | None, n: int) -> dict:
    """Train and score one NAME:CONFIG:DATA:OVERRIDES case; its row."""
    name, config, data, overrides = (spec.split(":", 3) + [""])[:4]
    run = out / name
    extra = [o for o in overrides.split(",") if o]
    if data != "default":
        extra.append(f"data={data}")
    if not (run / "summary.md").exists():
        subprocess.run([*GANKIT, "train", config, *extra, "log.progress=false", "--out", str(run)], check=True)
    report = run / "eval.json"
    command = [*GANKIT, "eval", str(run), "-m", "acc,fid", "-n", str(n), "--json", str(report), "-q"]
    if weights and Path(data).is_dir():
        command += ["--weights", weights]
    subprocess.run(command, check=True, capture_output=True)
    results = json.loads(report.read_text())["results"]
    return {"case": name, "config": config, "data": data, "overrides": overrides,
            "acc": results["acc"]["values"]["acc"], "fid": results["fid"]["values"]["fid"],
            "fid_floor": (results["fid"]["floor"] or {}).get("fid"),
            "worst_class_acc": min(v for k, v in results["acc"]["values"].items() if k.startswith("acc/"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["digits", "run"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--case", action="append", default=[], help="NAME:CONFIG:DATA:OVERRIDES (DATA 'default' = the config's)")
    parser.add_argument("--weights", help="evaluator weights for folder data (digits writes OUT/digits-cnn.safetensors)")
    parser.add_argument("-n", type=int, default=10_000, help="samples per evaluation")
    parser.add_argument("--json", type=Path, help="append each case's row here")
    args = parser.parse_args()
    if args.what == "digits":
        make_digits(args.out)
        return
    print("| case | config | data | overrides | label acc | worst class | FID (floor) |\n|---|---|---|---|---|---|---|")
    for spec in args.case:
        row = run_case(spec, args.out, args.weights, args.n)
        floor = f" ({row['fid_floor']:.3g})" if row["fid_floor"] is not None else ""
        print(f"| {row['case']} | {row['config']} | {row['data']} | {row['overrides']} | {row['acc']:.3f} | "
              f"{row['worst_class_acc']:.3f} | {row['fid']:.3g}{floor} |", flush=True)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
