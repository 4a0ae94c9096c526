"""Train every preset for the same CPU time and collect what it produced (GUIDE §9: say the budget).

    python benchmarks/train_presets.py --seconds 240 --out reports/presets [--presets dcgan,seed-gan]

Each preset trains on its own data (Fashion-MNIST, or its toy mixture) for `--seconds` of
training time, into `OUT/<preset>/`; the script prints a Markdown table (steps, kimg, images/s,
final losses, and for toy data the GUIDE §6 mode coverage of 2,500 samples) and copies each
final sample grid to `OUT/<preset>.png`. Image quality numbers need the evaluator (issue 3);
until then the grids are the evidence.
"""
from __future__ import annotations

import argparse
import json
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(preset_names()))
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--out", type=Path, default=Path("reports/presets"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| preset | steps | kimg | train s | G-step images/s | final losses | toy modes / HQ / KL |")
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for preset in args.presets.split(","):
        row = train_one(preset, args.seconds, args.out)
        rows.append(row)
        losses = ", ".join(f"{k[5:]} {v:.3f}" for k, v in row["losses"].items())
        m = row.get("modes")
        modes = f"{m['modes_covered']}/{m['num_modes']} / {100 * m['high_quality']:.1f} % / {m['reverse_kl']:.2f}" if m else "—"
        print(f"| {preset} | {row['steps']} | {row['kimg']} | {row['seconds']} | {row['img_per_s']} | {losses} | {modes} |", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
