"""SummaryHook: at the end of a run, loss.png and summary.md (with the last evaluation when there is one)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from gankit.registry import DATASETS
from gankit.training.distributed import describe_processes
from gankit.training.eval_hook import summary_lines
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


class SummaryHook(Hook):
    """At the end: loss.png and summary.md, a human summary of the run."""

    name = "summary"

    def on_end(self, t: "Trainer") -> None:
        if t.run_dir is None or t.rank != 0:
            return
        from gankit.viz import plot_losses

        log = t.run_dir / "log.jsonl"
        if log.exists():
            plot_losses(log, t.run_dir / "loss.png")
        samples = sorted((t.run_dir / "samples").glob("*.png"))
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        speeds = [r["img_per_s"] for r in records if r.get("img_per_s")]
        last = records[-1] if records else {}
        cfg = t.cfg
        recipe = cfg.description if cfg.data in DATASETS else (
            f"Recipe of the preset (its text names the dataset it was written for; this run trained on "
            f"{t.data.name}): {cfg.description}")
        lines = [
            f"# gankit run: {cfg.model} on {t.data.name}", "",
            f"- data: {t.data.describe() if hasattr(t.data, 'describe') else t.data.name}", "",
            recipe, "",
            f"- steps: {t.state.step} generator steps, {t.state.cur_nimg / 1000:.1f} kimg shown to D",
            f"- training time: {t.elapsed():.1f} s; median speed {np.median(speeds) if speeds else float('nan'):.1f} images/s",
            f"- loss: {cfg.loss}, n_critic {cfg.n_critic}, batch {cfg.batch_size}, seed {cfg.seed}",
            f"- device: {t.device}; " + describe_processes(t.world, t.batch_size),
            "- final losses: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith(("loss/", "reg/"))),
            f"- G parameters: {sum(p.numel() for p in t.G.parameters()):,}; D parameters: {sum(p.numel() for p in t.D.parameters()):,}",
            "", "Files: `config.yaml` (resolved config), `log.jsonl`, `metrics.jsonl` + `metrics.png` (eval.kimg > 0), `loss.png`, `samples/`, `checkpoints/`.", "",
        ]
        lines += summary_lines(t.run_dir / "metrics.jsonl")
        if samples:
            caption = f"samples of {cfg.model} trained on {t.data.name}, step {int(samples[-1].stem)}"
            lines += [f"![{caption}](samples/{samples[-1].name})", "", f"*{caption}*", ""]
        if log.exists():
            lines += ["![losses](loss.png)", ""]
        (t.run_dir / "summary.md").write_text("\n".join(lines))
