"""The trainer: a plain loop of phases (D steps, G step) with hooks around them.

One step = `n_critic` D phases and one G phase, in `phase_order`. Everything else — EMA,
weight clipping, logging, sample grids, checkpoints, the progress bar, and later progressive
growth — is a hook (gankit.training.hooks) called at fixed points: `on_start`, `before_step`,
`after_d_step`, `after_step`, `on_end`. The clock is `cur_nimg`, the real images shown to D
(summed over ranks); `steps` counts generator steps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gankit.config import TrainConfig, load_config, to_yaml
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.losses import DBatch, build_regularizers, lazy_compensation
from gankit.models import build_models, one_hot, resolve_model_options
from gankit.registry import LOSSES
from gankit.training import checkpoint as ckpt
from gankit.training.ema import make_ema
from gankit.training.feed import DataFeeder
from gankit.training.hooks import Hook, default_hooks
from gankit.training.rng import TrainingRNG


@dataclass
class TrainState:
    """Counters saved in every checkpoint."""

    step: int = 0  # generator steps
    d_steps: int = 0
    cur_nimg: int = 0  # real images shown to D, all ranks
    elapsed_s: float = 0.0  # training seconds before this process started

    def state_dict(self) -> dict:
        return dict(self.__dict__)


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GankitError(f"config key 'device': unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GankitError("device=cuda but no CUDA GPU is available; use device=cpu")
    return device


def build_optimizer(params, cfg, compensation: float = 1.0) -> torch.optim.Optimizer:
    """Adam/RMSprop/SGD from an OptimConfig; lazy regularization scales lr and betas by c."""
    lr = cfg.lr * compensation
    if cfg.name == "adam":
        betas = tuple(b ** compensation for b in cfg.betas)
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                fused=cfg.fused or None)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=cfg.weight_decay)


@dataclass
class PhaseStats:
    """Running sums of the scalars each phase reports, for logs and the progress bar."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: torch.Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(value.detach())
        self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()


class Trainer:
    """Builds data, networks, optimizers and hooks from a config, then runs the loop."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, *, data=None,
                 hooks: list[Hook] | None = None, rank: int = 0, world: int = 1) -> None:
        if cfg.steps is None and cfg.kimg is None and cfg.seconds is None:
            raise GankitError("say how long to train: steps=N (generator steps), kimg=K (thousands of images) or seconds=S")
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.rank, self.world = rank, world
        self.device = pick_device(cfg.device)
        self.data = data if data is not None else load_dataset(cfg.data, resolution=cfg.resolution, channels=cfg.channels)
        resolve_model_options(cfg, self.data)
        if self.data.kind == "image":
            cfg.resolution, cfg.channels = self.data.resolution, self.data.channels
        torch.manual_seed(cfg.seed)
        self.rng = TrainingRNG(cfg.seed)
        G, D = build_models(cfg)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.G_ema = make_ema(self.G) if cfg.ema.kimg > 0 else None
        # The modules the phases call; distributed training swaps in DDP wrappers here.
        self.G_train: nn.Module = self.G
        self.D_train: nn.Module = self.D
        self.loss = LOSSES.get(cfg.loss)
        self.regularizers = build_regularizers(cfg.reg)
        self.opt_G = build_optimizer(self.G.parameters(), cfg.optim.G, lazy_compensation(self.regularizers, "G"))
        self.opt_D = build_optimizer(self.D.parameters(), cfg.optim.D, lazy_compensation(self.regularizers, "D"))
        self.feeder = DataFeeder(self.data, self.rng.data, self.device, rank, world, cfg.augment.xflip)
        self.state = TrainState()
        self.batch_size = cfg.batch_size  # global; a schedule hook may change it
        self.stats = PhaseStats()
        self._d_batch_dependent = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        self.hooks: list[Hook] = default_hooks(cfg) + list(hooks or [])
        self._reals: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._last_fakes: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._start_time = time.perf_counter()

    # ---- construction from files -------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] | None = None, **kwargs) -> "Trainer":
        """Continue a run from its newest good checkpoint (overrides may extend steps/kimg)."""
        checkpoint = ckpt.load_checkpoint(run_dir)
        cfg = checkpoint.config(overrides)
        trainer = cls(cfg, run_dir, **kwargs)
        trainer.load_state(checkpoint)
        return trainer

    def load_state(self, checkpoint: ckpt.Checkpoint) -> None:
        """Restore weights, optimizers, counters, RNG streams, data order and hook state."""
        for name, model in self.models().items():
            ckpt.load_model(model, checkpoint.tensors, name, checkpoint.path)
        state = checkpoint.state
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.rng.load_state_dict(state["rng"])
        self.feeder.load_state_dict(state["feeder"])
        self.state = TrainState(**state["counters"])
        self.batch_size = int(state["batch_size"])
        for hook in self.hooks:
            if hook.name in state["hooks"]:
                hook.load_state_dict(state["hooks"][hook.name])

    def models(self) -> dict[str, nn.Module]:
        models = {"G": self.G, "D": self.D}
        if self.G_ema is not None:
            models["G_ema"] = self.G_ema
        return models

    def state_dict(self) -> dict:
        """Everything but the weights that an exact resume needs (weights_only-loadable)."""
        counters = self.state.state_dict()
        counters["elapsed_s"] = self.elapsed()
        return {
            "counters": counters, "batch_size": self.batch_size,
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "rng": self.rng.state_dict(), "feeder": self.feeder.state_dict(),
            "hooks": {h.name: h.state_dict() for h in self.hooks if h.state_dict()},
        }

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current state (rank 0 only)."""
        if self.run_dir is None or self.rank != 0:
            return None
        name = f"{self.state.step:08d}"
        return ckpt.save_checkpoint(self.run_dir, name, self.models(), self.state_dict(), to_yaml(self.cfg), self.cfg.checkpoint.keep)

    # ---- the loop ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.state.elapsed_s + time.perf_counter() - self._start_time

    def done(self) -> bool:
        cfg = self.cfg
        return (cfg.steps is not None and self.state.step >= cfg.steps) or (
            cfg.kimg is not None and self.state.cur_nimg >= cfg.kimg * 1000) or (
            cfg.seconds is not None and self.elapsed() >= cfg.seconds)

    def train(self) -> "Trainer":
        """Run steps until `steps` or `kimg` is reached; Ctrl-C saves a checkpoint first."""
        if self.run_dir is not None and self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(to_yaml(self.cfg))
        self._start_time = time.perf_counter()
        self._call("on_start")
        try:
            while not self.done():
                self.step()
        except KeyboardInterrupt:
            where = self.save_checkpoint()
            self._call("on_interrupt")
            raise GankitError(f"interrupted at step {self.state.step}; saved {where}; continue with "
                              f"`gankit train --resume {self.run_dir}`") from None
        self._call("on_end")
        return self

    def step(self) -> None:
        """One generator step and its `n_critic` discriminator steps."""
        self._call("before_step")
        if self.cfg.phase_order == "g_first":
            self.g_phase()
            for i in range(self.cfg.n_critic):
                self.d_phase(i)
        else:
            for i in range(self.cfg.n_critic):
                self.d_phase(i)
            self.g_phase()
        self.state.step += 1
        self._call("after_step")

    def _call(self, event: str) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self)

    # ---- phases --------------------------------------------------------------------------
    def draw_latents(self, global_batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z [b, z_dim] and one-hot labels [b, c_dim] (or None) for this rank's slice of the batch."""
        local = global_batch // self.world
        shard = slice(self.rank * local, (self.rank + 1) * local)
        z = torch.randn(global_batch, self.G.z_dim, generator=self.rng.latent)[shard].to(self.device)
        if not self.G.c_dim:
            return z, None
        labels = torch.randint(self.G.c_dim, (global_batch,), generator=self.rng.latent)[shard]
        return z, one_hot(labels, self.G.c_dim, local, self.device)

    def d_phase(self, index: int) -> None:
        """One discriminator step: adversarial loss + regularizers, then after_d_step hooks."""
        if index == 0 or not self.cfg.d_reuse_real or self._reals is None:
            self._reals = self.feeder.next(self.batch_size)
        reals, labels = self._reals
        c_real = one_hot(labels, self.D.c_dim, len(reals), self.device) if self.D.c_dim else None
        if self.cfg.reuse_fakes and self._last_fakes is not None:  # g_first: the G step's images
            fakes, c_fake = self._last_fakes
        else:
            z, c_fake = self.draw_latents(self.batch_size)
            keep_graph = self.cfg.reuse_fakes  # d_first: the G step will re-score these images
            self.G.requires_grad_(keep_graph)
            with torch.set_grad_enabled(keep_graph):
                fakes = self.G_train(z, c_fake)
            if keep_graph:
                self._last_fakes = (fakes, c_fake)
                fakes = fakes.detach()
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        real_logits, fake_logits = self._score(reals, c_real, fakes, c_fake)
        loss = self.loss.d_loss(real_logits, fake_logits)
        self.stats.add("loss/D", loss)
        batch = DBatch(self.D_train, reals, fakes, c_real, c_fake, real_logits, self.rng.noise)
        for reg in self.regularizers:
            if not reg.lazy:
                penalty = reg(batch)
                self.stats.add(f"reg/{reg.name}", penalty)
                loss = loss + penalty
        self.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_D.step()
        self._lazy_phase(batch)
        self.state.d_steps += 1
        self.state.cur_nimg += self.batch_size
        self._call("after_d_step")

    def _score(self, reals, c_real, fakes, c_fake) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits for reals and fakes: one batched pass when D has no batch statistics
        (the same maths, about 1.7x faster for small MLPs), two passes when it has BatchNorm."""
        if self._d_batch_dependent:
            return self.D_train(reals, c_real), self.D_train(fakes, c_fake)
        c = None if c_real is None else torch.cat([c_real, c_fake])
        logits = self.D_train(torch.cat([reals, fakes]), c)  # [2b]
        return logits[:len(reals)], logits[len(reals):]

    def _lazy_phase(self, batch: DBatch) -> None:
        """Lazy D regularizers (interval k): their own step every k D steps, penalty times k."""
        lazy = [r for r in self.regularizers if r.lazy and self.state.d_steps % r.interval == 0]
        if not lazy:
            return
        batch.real_logits = None
        penalty = sum(r(batch) * r.interval for r in lazy)
        self.stats.add("reg/lazy_D", penalty)
        self.opt_D.zero_grad(set_to_none=True)
        penalty.backward()
        self.opt_D.step()

    def g_phase(self) -> None:
        """One generator step on fresh latents."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        if self.cfg.reuse_fakes and self.cfg.phase_order == "d_first" and self._last_fakes is not None:
            fakes, c = self._last_fakes  # still attached to G's graph from the D step
            self._last_fakes = None
        else:
            z, c = self.draw_latents(self.batch_size)
            fakes = self.G_train(z, c)
        loss = self.loss.g_loss(self.D_train(fakes, c))
        self.stats.add("loss/G", loss)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_G.step()
        if self.cfg.reuse_fakes and self.cfg.phase_order == "g_first":
            self._last_fakes = (fakes.detach(), c)


def train(config: str | Path | dict | TrainConfig = "dcgan", out: str | Path | None = None,
          overrides: list[str] | None = None, **kwargs) -> Trainer:
    """Train a preset/YAML/dict config (plus `key=value` overrides) into run folder `out`."""
    cfg = config if isinstance(config, TrainConfig) and not overrides else load_config(config, overrides)
    return Trainer(cfg, out, **kwargs).train()
