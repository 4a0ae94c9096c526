"""Periodic evaluation during training: metrics.jsonl and metrics.png in the run folder.

`EvalHook` runs `gankit.metrics.evaluate` on the sampling generator (G_ema when the run has one)
every `eval.kimg` and at the end (metrics.png is drawn at the end), with the same protocol as `gankit eval` (latents from a fresh
generator seeded like the run's `eval` stream, so the final record equals `gankit eval RUN` with
the same options). It never changes training: the networks are switched to eval mode and back,
the training RNG streams are not drawn from, and torch's global RNG state is saved and restored
around the evaluation (for generators with random noise inputs).

metrics.jsonl has one line per metric per evaluation: `{"step", "kimg", "metric", <values>,
"floor": {...}, "protocol": {...}}` — values at the top level (e.g. `"fid": 12.3` or the mode
coverage fields), the real-vs-real floor and the protocol beside them. A resumed run drops the
lines written after its checkpoint (LogHook truncates metrics.jsonl with log.jsonl).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from gankit.config import TrainConfig
from gankit.runs import records
from gankit.training.hooks import IntervalHook, sample_generator

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer

PLOT_SKIP = {"num_modes", "num_samples"}  # constant fields, not curves


class EvalHook(IntervalHook):
    """Evaluate `eval.metrics` every `eval.kimg` (and at the end) into metrics.jsonl and metrics.png."""

    name = "eval"

    def __init__(self, cfg: TrainConfig) -> None:
        from gankit.metrics.evaluate import parse_metrics

        super().__init__(cfg.eval.kimg)
        self.cfg = cfg
        self.metrics = parse_metrics(list(cfg.eval.metrics))
        self.ctx = None
        self.last_report: Optional[dict] = None

    def on_start(self, t: "Trainer") -> None:
        from gankit.metrics.evaluate import EvalContext, GeneratorSource, check_evaluator

        if t.rank != 0:
            return
        e = self.cfg.eval
        toy = None
        if t.data.kind == "vector":  # the training mixture itself (it may be a custom one), on the CPU
            from gankit.data import ToyDistribution

            toy = ToyDistribution(t.data.name, *(x.detach().cpu() for x in (t.data.means, t.data.stds, t.data.weights)))
        self.ctx = EvalContext(GeneratorSource(sample_generator(t), "training"), str(self.cfg.data), self.metrics,
                               split=e.split, extractor_name=e.extractor, weights=e.weights, seed=self.cfg.seed,
                               batch_size=e.batch_size, device=t.device, progress=False, toy_data=toy)
        for metric in self.metrics:  # fail now, not after hours of training
            self.ctx.check(metric)
        check_evaluator(self.ctx, str(self.cfg.data), during_training=True)
        if any(metric.reference for metric in self.metrics):
            self.ctx.extractor  # noqa: B018  (load it now: missing weights are an error at the start)

    def on_end(self, t: "Trainer") -> None:
        super().on_end(t)
        self.plot(t)

    def on_interrupt(self, t: "Trainer") -> None:
        self.plot(t)

    def plot(self, t: "Trainer") -> None:
        """Draw metrics.png from metrics.jsonl (at the end, as loss.png: a redraw per evaluation costs seconds)."""
        if t.run_dir is not None and t.rank == 0 and (t.run_dir / "metrics.jsonl").is_file():
            plot_metrics(t.run_dir / "metrics.jsonl", t.run_dir / "metrics.png")

    def fire(self, t: "Trainer") -> None:
        """Measure the current generator; append one line per metric to metrics.jsonl."""
        from gankit.metrics.evaluate import evaluate

        if self.ctx is None:
            return
        G = sample_generator(t)
        was_training = G.training
        G.eval()
        self.ctx.source.G = G
        self.ctx.reset_samples()
        devices = [t.device] if t.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                self.last_report = evaluate(self.ctx, self.cfg.eval.n)
        finally:
            G.train(was_training)
        if t.run_dir is None:
            return
        kimg = round(t.state.cur_nimg / 1000, 4)
        path = t.run_dir / "metrics.jsonl"
        with open(path, "a") as f:
            for name, result in self.last_report["results"].items():
                record = {"step": t.state.step, "kimg": kimg, "metric": name, **result["values"],
                          "floor": result["floor"], "protocol": result["protocol"]}
                f.write(records.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl (blank lines skipped)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _curves(records: list[dict]) -> dict[str, tuple[list[float], list[float], Optional[float]]]:
    """value key -> (kimg list, value list, latest floor) for every numeric value in the records."""
    curves: dict[str, tuple[list[float], list[float], Optional[float]]] = {}
    for record in records:
        floor = record.get("floor") or {}
        for key, value in record.items():
            if key in ("step", "kimg", "metric", "floor", "protocol") or key in PLOT_SKIP or key.endswith("_std"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and "/" not in key:
                xs, ys, _ = curves.get(key, ([], [], None))
                xs.append(record["kimg"])
                ys.append(float(value))
                curves[key] = (xs, ys, floor.get(key))
    return curves


def plot_metrics(path: Path, out: Path) -> Optional[Path]:
    """metrics.png: one panel per value (fid, kid, precision, ...) against kimg, floor dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from gankit.metrics.reference import _atomic_write

    curves = _curves(read_metrics(path))
    if not curves:
        return None
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig = Figure(figsize=(4 * cols, 3 * rows))
    FigureCanvasAgg(fig)
    for i, (key, (xs, ys, floor)) in enumerate(sorted(curves.items())):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.0, label="generated")
        if floor is not None:
            ax.axhline(floor, linestyle="--", color="tab:gray", linewidth=1.0, label="real-vs-real floor")
            ax.legend(loc="best", fontsize=7)
        ax.set_title(key)
        ax.set_xlabel("kimg")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=90))
    return out


def summary_lines(path: Path) -> list[str]:
    """Markdown lines for summary.md: the last evaluation's values beside their floors."""
    if not path.is_file():
        return []
    records = read_metrics(path)
    if not records:
        return []
    last_step = records[-1]["step"]
    latest = [r for r in records if r["step"] == last_step]
    n_fake = next((r["protocol"]["n_fake"] for r in latest if "n_fake" in r.get("protocol", {})), 0)
    lines = [f"Evaluation at step {last_step} ({n_fake:,} samples; `gankit eval` protocol):", "",
             "| metric | value | real-vs-real floor |", "|---|---|---|"]
    for record in latest:
        floor = record.get("floor") or {}
        for key, value in record.items():
            if key in ("step", "kimg", "metric", "floor", "protocol") or key in PLOT_SKIP or key.endswith("_std"):
                continue
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            if value is None:  # written as null: NaN/Inf
                shown = "inf (no sample within 3 std of a mode)" if key == "reverse_kl" else "NaN/Inf"
            floor_value = floor.get(key)
            floor_shown = "—" if floor_value is None else (f"{floor_value:.4g}" if isinstance(floor_value, float) else str(floor_value))
            lines.append(f"| {key} | {shown} | {floor_shown} |")
    return lines + [""]
