"""Hooks: everything around the phases — EMA, weight clipping, logs, samples, checkpoints, progress.

A hook overrides any of `on_start`, `before_step`, `after_d_step`, `after_step`, `on_end`,
`on_interrupt`; hooks with state to resume return it from `state_dict`. Hooks that write files
do so on rank 0 only and never draw from the training RNG streams, so logging and sampling
never change what is trained.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.losses import clip_weights
from gankit.runs import records
from gankit.training.cosine import ema_half_life_kimg
from gankit.training.ema import ema_beta, update_ema
from gankit.training.distributed import mean_over_ranks

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


class Hook:
    name = "hook"

    def on_start(self, t: "Trainer") -> None: ...
    def before_step(self, t: "Trainer") -> None: ...
    def after_d_step(self, t: "Trainer") -> None: ...
    def after_step(self, t: "Trainer") -> None: ...
    def on_end(self, t: "Trainer") -> None: ...
    def on_interrupt(self, t: "Trainer") -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class IntervalHook(Hook):
    """A hook that runs `fire(t)` each time the image clock crosses a multiple of `kimg` (0 = never) and
    once more at the end, unless the last step already fired."""

    def __init__(self, kimg: float) -> None:
        self.interval = int(kimg * 1000)
        self._nimg_before = 0
        self._fired_step = -1

    def before_step(self, t: "Trainer") -> None:
        self._nimg_before = t.state.cur_nimg

    def due(self, t: "Trainer") -> bool:
        return self.interval > 0 and t.state.cur_nimg // self.interval > self._nimg_before // self.interval

    def fire(self, t: "Trainer") -> None:
        """What the hook does at each interval (subclasses)."""
        raise NotImplementedError

    def after_step(self, t: "Trainer") -> None:
        if self.due(t):
            self._fire(t)

    def on_end(self, t: "Trainer") -> None:
        if self._fired_step != t.state.step:
            self._fire(t)

    def _fire(self, t: "Trainer") -> None:
        self._fired_step = t.state.step
        self.fire(t)


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep the records of a .jsonl log up to `step` (what a resumed run had at its checkpoint)."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in kept))


class WeightClipHook(Hook):
    """The seed's WGAN: clamp every critic weight after each critic step."""

    name = "clip"

    def __init__(self, value: float) -> None:
        self.value = value

    def after_d_step(self, t: "Trainer") -> None:
        clip_weights(t.D, self.value)


class EmaHook(Hook):
    """G_ema <- EMA of G after every step; half-life and ramp-up both on the image clock cur_nimg (training/ema.py)."""

    name = "ema"

    def __init__(self) -> None:
        self._nimg_before = 0

    def before_step(self, t: "Trainer") -> None:
        self._nimg_before = t.state.cur_nimg

    def after_step(self, t: "Trainer") -> None:
        step_nimg = t.state.cur_nimg - self._nimg_before  # n_critic × batch
        half_life = ema_half_life_kimg(t.cfg.ema.kimg, t.cfg.schedule.kimg, t.cfg.schedule.ema_rampup, t.state.cur_nimg)
        update_ema(t.G_ema, t.G, ema_beta(step_nimg, half_life, t.state.cur_nimg, t.cfg.ema.rampup))


def sample_generator(t: "Trainer"):
    """The network that samples are drawn from: G_ema when the run has one, else G."""
    return t.G_ema if t.G_ema is not None else t.G


class SampleHook(IntervalHook):
    """A grid from a fixed z (seeded by the run's seed) every `log.sample_kimg` and at the end."""

    name = "samples"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg.log.sample_kimg)
        self.n = cfg.log.sample_n

    def fire(self, t: "Trainer") -> None:
        """Write samples/<step>.png (and .npy for vector data) from the fixed z."""
        if t.run_dir is None or t.rank != 0:
            return
        from gankit.viz import save_image_grid, save_scatter

        G = sample_generator(t)
        was_training = G.training
        G.eval()
        samples = G.sample(self.n, seed=t.cfg.seed)  # [n, C, H, W] or [n, D]
        G.train(was_training)
        path = t.run_dir / "samples" / f"{t.state.step:08d}"
        if G.is_vector:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path.with_suffix(".npy"), samples.numpy())
            reference = t.data.sample(max(self.n, 1000), torch.Generator().manual_seed(t.cfg.seed))
            save_scatter(samples, path.with_suffix(".png"), reference=reference, modes=t.data.means,
                         title=f"{t.cfg.model} on {t.data.name}, step {t.state.step}")
        else:
            save_image_grid(samples, path.with_suffix(".png"), scale=max(1, 64 // samples.shape[-1]))


class CheckpointHook(IntervalHook):
    """A checkpoint every `checkpoint.kimg` and at the end."""

    name = "checkpoint"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg.checkpoint.kimg)

    def fire(self, t: "Trainer") -> None:
        t.save_checkpoint()


class LogHook(Hook):
    """Mean losses and images/s every `log.every` steps into log.jsonl (and TensorBoard)."""

    name = "log"

    def __init__(self, cfg: TrainConfig) -> None:
        self.every = cfg.log.every
        self.tensorboard = cfg.log.tensorboard
        self.last_record: dict = {}
        self._writer = None
        self._window_start = (0.0, 0)

    def on_start(self, t: "Trainer") -> None:
        self._window_start = (time.perf_counter(), t.state.cur_nimg)
        if t.run_dir is None or t.rank != 0:
            return
        for name in ("log.jsonl", "metrics.jsonl"):  # a resumed run: drop lines written after the checkpoint
            truncate_jsonl(t.run_dir / name, t.state.step)
        if self.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise GankitError("log.tensorboard=true needs TensorBoard: pip install 'gankit[tensorboard]'") from None
            self._writer = SummaryWriter(str(t.run_dir / "tensorboard"))

    def after_step(self, t: "Trainer") -> None:
        if t.state.step % self.every == 0:
            self.write(t)

    def on_end(self, t: "Trainer") -> None:
        if t.stats.counts:
            self.write(t)
        if self._writer is not None:
            self._writer.close()

    def write(self, t: "Trainer") -> None:
        now = time.perf_counter()
        start_time, start_nimg = self._window_start
        record = {"step": t.state.step, "kimg": round(t.state.cur_nimg / 1000, 4), "time_s": round(t.elapsed(), 3),
                  "img_per_s": round((t.state.cur_nimg - start_nimg) / max(now - start_time, 1e-9), 2)}
        record.update({k: round(v, 6) for k, v in mean_over_ranks(t.stats.means()).items()})  # all ranks call this
        t.stats.reset()
        self._window_start = (now, t.state.cur_nimg)
        self.last_record = record
        if t.run_dir is None or t.rank != 0:
            return
        with open(t.run_dir / "log.jsonl", "a") as f:
            f.write(records.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if key != "step":
                    self._writer.add_scalar(key, value, t.state.step)


class ProgressHook(Hook):
    """A tqdm bar over steps (or images) with the latest losses and images/s."""

    name = "progress"

    def __init__(self, cfg: TrainConfig) -> None:
        self.by_steps = cfg.steps is not None
        self.total = cfg.steps if self.by_steps else int(math.ceil((cfg.kimg or 0) * 1000))
        self.bar = None

    def on_start(self, t: "Trainer") -> None:
        if t.rank != 0:
            return
        from tqdm.auto import tqdm

        done = t.state.step if self.by_steps else t.state.cur_nimg
        self._last = (time.perf_counter(), t.state.cur_nimg)
        self.bar = tqdm(total=self.total, initial=done, unit="step" if self.by_steps else "img",
                        dynamic_ncols=True, disable=None, leave=True)

    def after_step(self, t: "Trainer") -> None:
        if self.bar is None:
            return
        self.bar.update(1 if self.by_steps else t.batch_size)
        if t.state.step % 10 == 0 and t.stats.counts:
            now = time.perf_counter()
            last_time, last_nimg = self._last
            postfix = {k.split("/")[-1]: f"{v:.3f}" for k, v in t.stats.means().items()}
            postfix["img/s"] = f"{(t.state.cur_nimg - last_nimg) / max(now - last_time, 1e-9):.0f}"
            self.bar.set_postfix(postfix, refresh=False)
            self._last = (now, t.state.cur_nimg)

    def on_end(self, t: "Trainer") -> None:
        if self.bar is not None:
            self.bar.close()

    on_interrupt = on_end
