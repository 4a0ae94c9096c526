"""One playground training job: validated settings, the ordinary gankit Trainer, and the frames a page draws.

A job owns a Trainer built from a toy recipe (no run folder, no file-writing hooks) and a worker
thread that runs `trainer.step()` while the job runs. After steps it builds a *frame*, a small
JSON-ready dict (samples, the discriminator's view, the generator's gradient field, curves), and
keeps only the newest one: a slow reader skips frames instead of queueing them.
"""
from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from gankit.config import TrainConfig, load_config, to_yaml
from gankit.data import gaussian_mixture, load_dataset, save_mixture
from gankit.errors import GankitError
from gankit.metrics import mode_coverage
from gankit.training.hooks import Hook

TARGETS = ("bimodal", "ring", "grid", "drawn")
VIEW_BOXES = {"bimodal": (-4.0, 14.0), "ring": (-1.6, 1.6), "grid": (-6.0, 6.0), "drawn": (-2.0, 2.0)}
DRAWN_STD = 0.05  # std of the Gaussian put on each drawn point, in view coordinates

# Recipe name -> config overrides on top of the toy-gan preset (the networks are set separately).
RECIPES: dict[str, dict[str, Any]] = {
    "seed-gan": {"loss": "bce", "phase_order": "g_first", "reuse_fakes": True},
    "nonsaturating": {"loss": "nonsaturating"},
    "seed-wgan": {"loss": "wasserstein", "d_reuse_real": True, "reg": {"clip": {"value": 0.01}},
                  "optim": {"G": {"name": "rmsprop"}, "D": {"name": "rmsprop"}}},
    "wgan-gp": {"loss": "wasserstein", "reg": {"gp": {"weight": 0.1}},
                "optim": {"G": {"betas": [0.5, 0.9]}, "D": {"betas": [0.5, 0.9]}}},
    "hinge": {"loss": "hinge"},
}
# What the page sets when a recipe is chosen (the user may change them afterwards).
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "seed-gan": {"n_critic": 1, "lr_g": 2e-4, "lr_d": 2e-4},
    "nonsaturating": {"n_critic": 1, "lr_g": 1e-4, "lr_d": 1e-4},
    "seed-wgan": {"n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5},
    "wgan-gp": {"n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4},
    "hinge": {"n_critic": 1, "lr_g": 1e-4, "lr_d": 1e-4},
}
HISTORY_LIMIT = 400  # points kept per curve; older ones are thinned by half
EVAL_SAMPLES = 2500  # GUIDE §6


@dataclass
class Settings:
    """Every control on the page, with its allowed range checked by `validate`."""

    target: str = "ring"
    recipe: str = "nonsaturating"
    points: list = field(default_factory=list)  # drawn target: [[x, y], ...] in the drawn view box
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    n_critic: int = 1
    width: int = 128
    depth: int = 3
    batch_size: int = 256
    seed: int = 0
    pack: int = 1  # PacGAN: D scores `pack` samples side by side

    RANGES = {"lr_g": (1e-6, 0.1), "lr_d": (1e-6, 0.1), "n_critic": (1, 10), "width": (4, 512),
              "depth": (1, 6), "batch_size": (8, 2048), "seed": (0, 2**31 - 1), "pack": (1, 4)}

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Settings from a page's JSON; unknown keys and bad values raise one GankitError."""
        if not isinstance(values, dict):
            raise GankitError("settings must be an object of control values")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise GankitError(f"unknown setting {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        settings = cls()
        for name, value in values.items():
            setattr(settings, name, value)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise GankitError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.recipe not in RECIPES:
            raise GankitError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        for name, (low, high) in self.RANGES.items():
            value = getattr(self, name)
            kind = float if name.startswith("lr") else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
                raise GankitError(f"{name} must be {'a number' if kind is float else 'a whole number'}, got {value!r}")
            if not low <= value <= high or (isinstance(value, float) and math.isnan(value)):
                raise GankitError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
            setattr(self, name, kind(value))
        if self.batch_size % self.pack:
            raise GankitError(f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack})")
        if self.target == "drawn":
            low, high = VIEW_BOXES["drawn"]
            ok = isinstance(self.points, list) and 1 <= len(self.points) <= 500 and all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high for v in p)
                for p in self.points)
            if not ok:
                raise GankitError(f"a drawn target needs 1 to 500 points [x, y] inside [{low:g}, {high:g}]; draw some on the plot")

    def as_dict(self) -> dict:
        return asdict(self)


def build_config(settings: Settings) -> TrainConfig:
    """The toy-gan preset with the settings' recipe, networks, learning rates and batch."""
    overrides = dict(RECIPES[settings.recipe])
    data = settings.target if settings.target != "drawn" else "ring"  # replaced by the drawn mixture
    optim = overrides.pop("optim", {})
    cfg = load_config("toy-gan", [f"data={data}", f"seed={settings.seed}", f"batch_size={settings.batch_size}",
                                  "steps=1000000000", "log.progress=false", "log.every=1000000000",
                                  "log.sample_kimg=0", "checkpoint.kimg=0"])
    cfg.description = f"gankit playground: the {settings.recipe} recipe on the {settings.target} target"
    cfg.n_critic = settings.n_critic
    for key, value in overrides.items():
        if key == "reg":
            for group, options in value.items():
                for option, v in options.items():
                    setattr(getattr(cfg.reg, group), option, v)
        else:
            setattr(cfg, key, value)
    widths = [settings.width] * settings.depth
    cfg.G = {**cfg.G, "widths": widths}
    cfg.D = {**cfg.D, "widths": widths, "pack": settings.pack}
    for net, lr in (("G", settings.lr_g), ("D", settings.lr_d)):
        opt = getattr(cfg.optim, net)
        opt.lr = lr
        for option, v in optim.get(net, {}).items():
            setattr(opt, option, v)
    return cfg


def make_target(settings: Settings):
    """The data distribution: a registered toy mixture, or one Gaussian per drawn point."""
    if settings.target == "drawn":
        return gaussian_mixture(settings.points, DRAWN_STD, name="drawn")
    return load_dataset(settings.target)


class CurveRecorder(Hook):
    """Collects each step's mean losses for the page (the trainer's own logging is off)."""

    name = "playground"

    def __init__(self) -> None:
        self.history: dict[str, list] = {"step": [], "loss/D": [], "loss/G": []}

    def after_step(self, t) -> None:
        means = t.stats.means()
        t.stats.reset()
        if "loss/D" in means and "loss/G" in means:
            self.add({"step": t.state.step, "loss/D": means["loss/D"], "loss/G": means["loss/G"]})

    def add(self, record: dict) -> None:
        for key in self.history:
            self.history[key].append(record[key])
        if len(self.history["step"]) > HISTORY_LIMIT:
            for key in self.history:
                self.history[key] = self.history[key][::2]


def _round(values: torch.Tensor, digits: int = 4) -> list:
    return torch.round(values.double(), decimals=digits).tolist()


class PlaygroundJob:
    """A trainer plus a worker thread: start / pause / step / reset / save, and the latest frame."""

    def __init__(self, settings: Settings | None = None, frame_interval: float = 0.15) -> None:
        self.frame_interval = frame_interval
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._running = False
        self._pending_steps = 0
        self._closed = False
        self.error: str | None = None
        self.frame: dict | None = None
        self.frame_version = 0
        self.reset(settings or Settings())
        self._thread = threading.Thread(target=self._work, name="gankit-playground-job", daemon=True)
        self._thread.start()

    # ---- controls (called from the server's event loop) ---------------------------------
    def reset(self, settings: Settings | None = None, trainer=None) -> None:
        """A fresh trainer from `settings` (or the current ones), paused at step 0."""
        from gankit.training import Trainer

        with self._lock:
            self.settings = settings or self.settings
            self.recorder = CurveRecorder()
            self.modes_history: dict[str, list] = {"step": [], "modes": [], "hq": []}
            if trainer is None:
                cfg = build_config(self.settings)
                trainer = Trainer(cfg, None, data=make_target(self.settings), hooks=[self.recorder])
            else:
                trainer.hooks.append(self.recorder)
            self.trainer = trainer
            data = trainer.data
            self.view = VIEW_BOXES.get(self.settings.target, (-2.0, 2.0))
            eval_gen = torch.Generator().manual_seed(self.settings.seed + 12345)
            self._z = torch.randn(EVAL_SAMPLES, trainer.G.z_dim, generator=eval_gen)  # fixed z for the views
            self._real = data.sample(512, eval_gen)  # [512, D]
            self._running, self._pending_steps = False, 0
            self.error = None
            self._publish()

    def start(self) -> None:
        with self._lock:
            self._running = True
            self._wake.notify_all()

    def pause(self) -> None:
        with self._lock:
            self._running = False

    def step(self, n: int = 1) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10000:
            raise GankitError(f"step count must be a whole number in [1, 10000], got {n!r}")
        with self._lock:
            self._pending_steps += n
            self._wake.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._running = False
            self._wake.notify_all()
        self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._running

    def wait_for_step(self, step: int, timeout: float = 30.0) -> bool:
        """Block until the trainer has reached `step` (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.trainer.state.step >= step and self.frame and self.frame["step"] >= step:
                return True
            time.sleep(0.01)
        return False

    # ---- runs on disk ---------------------------------------------------------------------
    def save(self, runs_dir: Path, name: str | None = None) -> Path:
        """Write the job as a normal run folder (config, checkpoint, log, samples, loss.png, summary.md) that
        sample/eval accept; a failure (a diverged job) leaves no folder behind."""
        import shutil

        from gankit.runs import records
        from gankit.training.hooks import SampleHook
        from gankit.training.summary import SummaryHook

        if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise GankitError("a run name uses letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit")
        with self._lock:
            t = self.trainer
            name = name or f"{self.settings.target}-{self.settings.recipe}-{datetime.now():%Y%m%d-%H%M%S}"
            run_dir = Path(runs_dir) / name
            if run_dir.exists():
                raise GankitError(f"run {name!r} already exists in {runs_dir}; choose another name")
            run_dir.mkdir(parents=True)
            t.run_dir = run_dir
            try:
                if self.settings.target == "drawn":  # the drawn target travels with the run as a mixture file
                    save_mixture(t.data, run_dir / "target.json")
                    t.cfg.data = str((run_dir / "target.json").resolve())
                (run_dir / "config.yaml").write_text(to_yaml(t.cfg))
                t.save_checkpoint()  # refuses a diverged job before anything else is drawn
                history = self.recorder.history
                with open(run_dir / "log.jsonl", "w") as f:
                    for i, step in enumerate(history["step"]):
                        f.write(records.dumps({"step": step, "kimg": round(step * t.batch_size * t.cfg.n_critic / 1000, 4),
                                               "loss/D": history["loss/D"][i], "loss/G": history["loss/G"][i]}) + "\n")
                if not history["step"]:
                    (run_dir / "log.jsonl").unlink()  # step 0: no losses to plot
                SampleHook(t.cfg).fire(t)  # samples/<step>.png (scatter beside the target) and .npy
                SummaryHook().on_end(t)  # loss.png and summary.md
            except BaseException:
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            finally:
                t.run_dir = None
            return run_dir

    def load(self, run_dir: Path) -> None:
        """Continue a saved toy run (any run folder with vector data) in this job, paused."""
        from gankit.training import Trainer
        from gankit.runs.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(run_dir)
        cfg = checkpoint.config(["log.progress=false", "log.every=1000000000", "log.sample_kimg=0", "checkpoint.kimg=0"])
        cfg.steps, cfg.kimg, cfg.seconds = 10**9, None, None
        data = load_dataset(cfg.data)
        if data.kind != "vector":
            raise GankitError(f"{run_dir} trains on images; the playground opens toy (vector) runs")
        trainer = Trainer(cfg, None, data=data)
        trainer.load_state(checkpoint)
        target = cfg.data if cfg.data in TARGETS else "drawn"
        points = data.means.tolist() if target == "drawn" and data.dim == 2 else []
        recipe = next((r for r, o in RECIPES.items() if o.get("loss") == cfg.loss), "nonsaturating")
        widths = cfg.D.get("widths", [128])
        settings = Settings(target=target, recipe=recipe, points=points, lr_g=cfg.optim.G.lr, lr_d=cfg.optim.D.lr,
                            n_critic=cfg.n_critic, width=widths[0], depth=len(widths), batch_size=cfg.batch_size,
                            seed=cfg.seed, pack=cfg.D.get("pack", 1))
        self.reset(settings, trainer=trainer)

    # ---- the worker thread ----------------------------------------------------------------
    def _work(self) -> None:
        last_frame = time.monotonic()
        while True:
            with self._lock:
                while not (self._closed or self._running or self._pending_steps):
                    self._wake.wait()
                if self._closed:
                    return
                try:
                    self.trainer.step()
                    if self._pending_steps:
                        self._pending_steps -= 1
                    now = time.monotonic()
                    if now - last_frame >= self.frame_interval or not (self._running or self._pending_steps):
                        self._publish()
                        last_frame = now
                except GankitError as err:
                    self.error, self._running, self._pending_steps = str(err), False, 0
                except (RuntimeError, ValueError) as err:  # e.g. a diverged run (NaN); keep the server up
                    self.error, self._running, self._pending_steps = f"training stopped: {err}", False, 0
            time.sleep(0)  # let the event loop's threads take the GIL between steps

    # ---- frames ---------------------------------------------------------------------------
    def _publish(self) -> None:
        self.frame = self.build_frame()
        self.frame_version += 1

    def build_frame(self) -> dict:
        """Everything the page draws for the current state (small, JSON-ready)."""
        t = self.trainer
        G, D = t.G, t.D
        was_training = G.training, D.training
        G.eval(), D.eval()
        try:
            with torch.no_grad():
                fakes = G(self._z.to(t.device)).float().cpu()  # [2500, dim]
            frame = {"step": t.state.step, "kimg": round(t.state.cur_nimg / 1000, 3), "running": self._running,
                     "error": self.error, "settings": self.settings.as_dict(), "view": list(self.view),
                     "dim": t.data.dim, "loss_name": t.cfg.loss, "curves": self.recorder.history}
            coverage = mode_coverage(fakes, t.data.means, t.data.stds)
            self._record_modes(t.state.step, coverage)
            frame["modes"] = {**coverage.as_dict(), "reverse_kl": coverage.reverse_kl if math.isfinite(coverage.reverse_kl) else None}
            frame["modes_history"] = self.modes_history
            frame.update(self._one_d_view(fakes) if t.data.dim == 1 else self._two_d_view(fakes))
        finally:
            G.train(was_training[0]), D.train(was_training[1])
        return frame

    def _record_modes(self, step: int, coverage) -> None:
        history = self.modes_history
        if history["step"] and history["step"][-1] == step:
            return
        history["step"].append(step)
        history["modes"].append(coverage.modes_covered)
        history["hq"].append(round(coverage.high_quality, 4))
        if len(history["step"]) > HISTORY_LIMIT:
            for key in history:
                history[key] = history[key][::2]

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits for points x [n, dim]; a packing D sees each point as a pack of copies of itself."""
        return self.trainer.D(x.to(self.trainer.device).repeat_interleave(self.settings.pack, dim=0))  # [n]

    def _d_output(self, x: torch.Tensor) -> torch.Tensor:
        """D's view of points x [n, dim]: probability for logistic losses, raw score otherwise."""
        logits = self._score(x).float().cpu()  # [n]
        return torch.sigmoid(logits) if self.trainer.cfg.loss in ("bce", "minimax", "nonsaturating") else logits

    def _generator_push(self, x: torch.Tensor) -> torch.Tensor:
        """-∂ g_loss / ∂x at fake points x [n, dim]: where the generator's loss moves each sample."""
        x = x.clone().to(self.trainer.device).requires_grad_(True)
        with torch.enable_grad():
            loss = self.trainer.loss.g_loss(self._score(x)) * len(x)
            (grad,) = torch.autograd.grad(loss, x)
        return -grad.float().cpu()  # [n, dim]

    def _two_d_view(self, fakes: torch.Tensor) -> dict:
        low, high = self.view
        cells = 48
        axis = torch.linspace(low, high, cells)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        grid = torch.stack([gx.flatten(), gy.flatten()], dim=1)  # [cells², 2], row-major from the bottom
        with torch.no_grad():
            heat = self._d_output(grid)  # [cells²]
        shown = fakes[:512]
        arrows_at = fakes[:96]
        push = self._generator_push(arrows_at)  # [96, 2]
        return {"real": _round(self._real), "fake": _round(shown), "heat": _round(heat, 3), "heat_cells": cells,
                "heat_range": [float(heat.min()), float(heat.max())], "arrows": {"at": _round(arrows_at), "push": _round(push, 5)},
                "modes_at": _round(self.trainer.data.means.float())}

    def _one_d_view(self, fakes: torch.Tensor) -> dict:
        low, high = self.view
        xs = torch.linspace(low, high, 200)[:, None]  # [200, 1]
        p_data = self.trainer.data.log_density(xs).exp().float()  # [200]
        samples = fakes[:, 0].double()
        bandwidth = max(1.06 * float(samples.std()) * len(samples) ** -0.2, 1e-3)  # Silverman's rule
        kernel = torch.exp(-0.5 * ((xs.double() - samples[None]) / bandwidth) ** 2)  # [200, n]
        p_g = (kernel.mean(1) / (bandwidth * math.sqrt(2 * math.pi))).float()  # [200]
        with torch.no_grad():
            d = self._d_output(xs)  # [200]
        d_star = p_data / (p_data + p_g).clamp_min(1e-12)  # Goodfellow's optimal D for this G
        return {"xs": _round(xs[:, 0]), "p_data": _round(p_data), "p_g": _round(p_g), "d": _round(d),
                "d_star": _round(d_star), "fake": _round(fakes[:512, 0]), "real": _round(self._real[:, 0])}
