"""Scatter/histogram and loss-curve PNGs with matplotlib's Agg canvas (no pyplot, no global backend)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gankit.viz.images import _atomic_write

__all__ = ["save_scatter", "plot_losses"]

_GEN_COLOR = "tab:orange"
_REF_COLOR = "tab:blue"
_MODE_COLOR = "black"
_FEW_POINTS = 50  # loss curves with at most this many points are drawn with markers (a one-record run shows a dot)


def _as_points(points: Any, what: str) -> np.ndarray:
    """Array-like of shape [N], [N, 1] or [N, 2] -> float64 [N, D] with D in {1, 2}."""
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise ValueError(
            f"save_scatter: {what} must have shape [N], [N, 1] or [N, 2], got {arr.shape} "
            "(project higher-dimensional data to 2-D first)"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"save_scatter: {what} is empty")
    return arr


def _bounds_pair(bounds: Any) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """bounds as (lo, hi) for every axis or ((xlo, xhi), (ylo, yhi)) -> per-axis pairs."""
    if bounds is None:
        return None
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape == (2,):
        return (float(b[0]), float(b[1])), (float(b[0]), float(b[1]))
    if b.shape == (2, 2):
        return (float(b[0, 0]), float(b[0, 1])), (float(b[1, 0]), float(b[1, 1]))
    raise ValueError(f"save_scatter: bounds must be (lo, hi) or ((xlo, xhi), (ylo, yhi)), got shape {b.shape}")


def _save_figure(fig: Figure, path: str | Path) -> Path:
    """Render `fig` to a PNG atomically."""
    FigureCanvasAgg(fig)  # attach the Agg canvas: no pyplot, no global backend switch
    return _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def save_scatter(points: np.ndarray | torch.Tensor, path: str | Path, reference: Any = None,
                 title: str = "", bounds: Any = None, modes: Any = None) -> Path:
    """2-D: scatter of generated points (and reference/real points in another colour); 1-D: overlaid histograms. Writes PNG.

    `bounds` fixes the axes: (lo, hi) for every axis or ((xlo, xhi), (ylo, yhi)); for 1-D data
    it is the histogram range. `modes` [K, D]: the real distribution's mode centres, drawn as black
    crosses (2-D) or vertical lines (1-D).
    """
    gen = _as_points(points, "points")
    ref = None if reference is None else _as_points(reference, "reference")
    if ref is not None and ref.shape[1] != gen.shape[1]:
        raise ValueError(f"save_scatter: points are {gen.shape[1]}-D but reference is {ref.shape[1]}-D")
    centres = None if modes is None else _as_points(modes, "modes")
    if centres is not None and centres.shape[1] != gen.shape[1]:
        raise ValueError(f"save_scatter: points are {gen.shape[1]}-D but modes are {centres.shape[1]}-D")
    lims = _bounds_pair(bounds)
    fig = Figure(figsize=(5, 5) if gen.shape[1] == 2 else (6, 4))
    ax = fig.add_subplot(1, 1, 1)
    if gen.shape[1] == 2:
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=4, c=_REF_COLOR, alpha=0.4, linewidths=0, label="real")
        ax.scatter(gen[:, 0], gen[:, 1], s=4, c=_GEN_COLOR, alpha=0.6, linewidths=0, label="generated")
        if centres is not None:
            ax.scatter(centres[:, 0], centres[:, 1], s=40, c=_MODE_COLOR, marker="x", linewidths=1.2,
                       label="real modes")
        if lims is not None:
            ax.set_xlim(*lims[0])
            ax.set_ylim(*lims[1])
        ax.set_aspect("equal", adjustable="box")
    else:
        values = [gen[:, 0]] + ([] if ref is None else [ref[:, 0]]) + ([] if centres is None else [centres[:, 0]])
        finite = np.concatenate([v[np.isfinite(v)] for v in values])
        if lims is not None:
            rng = lims[0]
        elif finite.size:
            rng = (float(finite.min()), float(finite.max()))
        else:
            rng = (-1.0, 1.0)
        if rng[0] == rng[1]:
            rng = (rng[0] - 0.5, rng[1] + 0.5)
        bins = np.linspace(rng[0], rng[1], 61)
        if ref is not None:
            ax.hist(ref[:, 0], bins=bins, density=True, alpha=0.5, color=_REF_COLOR, label="real")
        ax.hist(gen[:, 0], bins=bins, density=True, alpha=0.5, color=_GEN_COLOR, label="generated")
        for k, centre in enumerate([] if centres is None else centres[:, 0]):
            ax.axvline(centre, color=_MODE_COLOR, linewidth=0.8, linestyle="--", label="real modes" if k == 0 else None)
        ax.set_xlim(*rng)
        ax.set_ylabel("density")
    if ref is not None or centres is not None:
        ax.legend(loc="upper right", markerscale=3 if centres is None else 1)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save_figure(fig, path)


def _read_jsonl(path: Path) -> list[dict]:
    """Records of a log.jsonl; blank and unparsable lines (e.g. a half-written last line) are skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"plot_losses: no log file at {path}")
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def plot_losses(records: Sequence[dict] | str | Path, path: str | Path, x_key: str = "kimg") -> Path:
    """Loss curves from log.jsonl records (or the path of a log.jsonl): every numeric key starting with 'loss/' is one curve vs x_key; PNG.

    Records without a numeric `x_key` are skipped; raises ValueError when no record has both
    `x_key` and a numeric 'loss/*' value.
    """
    return _save_figure(loss_figure(records, x_key), path)


def loss_figure(records: Sequence[dict] | str | Path, x_key: str = "kimg") -> Figure:
    """The figure `plot_losses` writes. Short runs stay readable: curves of few points get markers, and a
    log whose x values are all equal (one record) is drawn against `step` when it has one."""
    if isinstance(records, (str, Path)):
        records = _read_jsonl(Path(records))
    curves = _loss_curves(records, x_key)
    if x_key != "step" and curves and all(len(set(xs)) == 1 for xs, _ in curves.values()):
        by_step = _loss_curves(records, "step")
        curves, x_key = (by_step, "step") if by_step else (curves, x_key)
    if not curves:
        raise ValueError(
            f"plot_losses: no record has a numeric {x_key!r} together with a numeric 'loss/*' key "
            f"({len(records)} records read)"
        )
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot(1, 1, 1)
    for key in sorted(curves):
        xs, ys = curves[key]
        few = len(xs) <= _FEW_POINTS
        ax.plot(xs, ys, linewidth=1.0, marker="o" if few else None, markersize=4 if few else 0, label=key[len("loss/"):])
    ax.set_xlabel(x_key)
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    n = max(len(xs) for xs, _ in curves.values())
    if n <= _FEW_POINTS:
        ax.set_title(f"{n} log record{'s' if n != 1 else ''}", fontsize=9)
    fig.tight_layout()
    return fig


def _loss_curves(records: Sequence[dict], x_key: str) -> dict[str, tuple[list[float], list[float]]]:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for rec in records:
        x = rec.get(x_key)
        if not _is_number(x):
            continue
        for key, value in rec.items():
            if key.startswith("loss/") and _is_number(value):
                xs, ys = curves.setdefault(key, ([], []))
                xs.append(float(x))
                ys.append(float(value) if math.isfinite(value) else math.nan)
    return curves
