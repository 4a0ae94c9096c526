"""Train every preset for the same CPU time and collect what it produced (GUIDE §9: say the budget).

    python benchmarks/train_presets.py --seconds 240 --out reports/presets [--presets dcgan,seed-gan]

Each preset trains on its own data (Fashion-MNIST, or its toy mixture) for `--seconds` of
training time, into `OUT/<preset>/`; the script prints a Markdown table (steps, kimg, images/s,
final losses, and for toy data the GUIDE §6 mode coverage of 2,500 samples) and copies each
final sample grid to `OUT/<preset>.png`. With `--eval N`, each image run is then scored by
`gankit eval` on N samples with the shipped `fmnist-cnn` (FID, KID, precision/recall,
density/coverage, and label accuracy for conditional presets), beside the real-vs-real floor.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import gankit
from gankit.config import preset_names


def train_one(preset: str, seconds: float, out: Path) -> dict:
    """Train `preset` for `seconds` into out/preset and summarise the run."""
    run = out / preset
    shutil.rmtree(run, ignore_errors=True)
    trainer = gankit.train(preset, out=run, overrides=[f"seconds={seconds}", "steps=100000000", "log.progress=false"])
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    last = records[-1]
    row = {"preset": preset, "steps": trainer.state.step, "kimg": round(trainer.state.cur_nimg / 1000, 1),
           "seconds": round(trainer.elapsed(), 1),
           "img_per_s": round(trainer.state.step * trainer.batch_size / trainer.elapsed(), 1),
           "losses": {k: v for k, v in last.items() if k.startswith("loss/")}}
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        row["modes"] = json.loads(metrics.read_text().splitlines()[-1])
    grid = sorted((run / "samples").glob("*.png"))[-1]
    shutil.copy(grid, out / f"{preset}.png")
    return row


IMAGE_METRICS = ["fid", "kid", "precision", "recall", "density", "coverage"]


def evaluate_run(run: Path, n: int, conditional: bool) -> dict:
    """`gankit eval` of a finished image run: {metric: (value, floor)}."""
    report_path = run / "eval.json"
    metrics = "fid,kid,pr,dc" + (",acc" if conditional else "")
    subprocess.run([sys.executable, "-m", "gankit", "eval", str(run), "--metrics", metrics, "-n", str(n),
                    "--json", str(report_path), "-q"], check=True, stdout=subprocess.DEVNULL)
    report = json.loads(report_path.read_text())
    scores = {}
    for result in report["results"].values():
        for key, value in result["values"].items():
            floor = (result["floor"] or {}).get(key)
            scores[key] = (value, floor)
    return scores


def _cell(scores: dict, key: str) -> str:
    if key not in scores:
        return "—"
    value, floor = scores[key]
    return f"{value:.3g}" + (f" ({floor:.3g})" if floor is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(preset_names()))
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--out", type=Path, default=Path("reports/presets"))
    parser.add_argument("--eval", type=int, default=0, help="score image runs with gankit eval on N samples (0 = off)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    quality = [*IMAGE_METRICS, "acc"] if args.eval else []
    print("| preset | steps | kimg | train s | G-step images/s | final losses | toy modes / HQ / KL |"
          + "".join(f" {q} (floor) |" for q in quality))
    print("|---|---|---|---|---|---|---|" + "---|" * len(quality), flush=True)
    rows = []
    for preset in args.presets.split(","):
        row = train_one(preset, args.seconds, args.out)
        rows.append(row)
        losses = ", ".join(f"{k[5:]} {v:.3f}" for k, v in row["losses"].items())
        m = row.get("modes")
        modes = f"{m['modes_covered']}/{m['num_modes']} / {100 * m['high_quality']:.1f} % / {m['reverse_kl']:.2f}" if m else "—"
        if args.eval and not m:
            cfg = gankit.load_config(preset)
            row["quality"] = evaluate_run(args.out / preset, args.eval, cfg.conditional)
        cells = "".join(f" {_cell(row.get('quality', {}), q)} |" for q in quality)
        print(f"| {preset} | {row['steps']} | {row['kimg']} | {row['seconds']} | {row['img_per_s']} | {losses} | {modes} |{cells}", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
