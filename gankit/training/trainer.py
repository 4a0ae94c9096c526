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
from gankit.errors import GankitError
from gankit.losses import DBatch, build_regularizers, lazy_compensation
from gankit.losses.regularizers import GBatch
from gankit.models import build_models, one_hot, resolve_model_options
from gankit.models.base import frozen_parameters
from gankit.nn.device import pick_device
from gankit.nn.layers import MinibatchStdDev
from gankit.registry import LOSSES
from gankit.runs import checkpoint as ckpt
from gankit.runs.lock import RunLock
from gankit.runs.rng import TrainingRNG
from gankit.training import distributed, speed
from gankit.training.ema import make_ema
from gankit.nn.augment import install_diffaugment
from gankit.nn.draws import SampleDraws
from gankit.training.feed import DataFeeder, check_batch_fits, load_training_data, write_data_record
from gankit.training.hooks import CheckpointHook, EmaHook, Hook, LogHook, ProgressHook, SampleHook, WeightClipHook
from gankit.training.overfit import split_holdout
from gankit.training.summary import SummaryHook


DIVERGED_AT = ckpt.DIVERGED_AT  # a loss or weight this large in magnitude (or NaN/Inf) means the run has diverged


class Diverged(GankitError):
    """Training diverged: the one-line message names the step, the value, the last good checkpoint and a remedy."""


@dataclass
class TrainState:
    """Counters saved in every checkpoint."""

    step: int = 0  # generator steps
    d_steps: int = 0
    cur_nimg: int = 0  # real images shown to D, all ranks
    elapsed_s: float = 0.0  # training seconds before this process started

    def state_dict(self) -> dict:
        return dict(self.__dict__)


def default_hooks(cfg: TrainConfig) -> list[Hook]:
    """The hooks every run has, in call order."""
    hooks: list[Hook] = []
    if cfg.growth.start_resolution > 0:
        from gankit.training.schedules import GrowthHook

        hooks.append(GrowthHook(cfg.growth, cfg.batch_size))
    if cfg.reg.clip.value > 0:
        hooks.append(WeightClipHook(cfg.reg.clip.value))
    if cfg.optim.lr_decay < 1:
        from gankit.training.lr_schedule import LrDecayHook

        hooks.append(LrDecayHook())
    if cfg.schedule.kimg > 0:
        from gankit.training.lr_schedule import CosineScheduleHook

        hooks.append(CosineScheduleHook())
    if cfg.ema.kimg > 0:
        hooks.append(EmaHook())
    if cfg.augment.blur_sigma > 0:
        from gankit.training.blur import DiscriminatorBlurHook

        hooks.append(DiscriminatorBlurHook(cfg.augment.blur_sigma, cfg.augment.blur_fade_kimg))
    if cfg.augment.ada.target is not None or cfg.augment.p > 0:
        from gankit.training.ada import AugmentHook

        hooks.append(AugmentHook(cfg))
    hooks += [ProgressHook(cfg) if cfg.log.progress else Hook(), LogHook(cfg), SampleHook(cfg)]
    if cfg.eval.kimg > 0:
        from gankit.training.eval_hook import EvalHook

        hooks.append(EvalHook(cfg))
    if cfg.holdout > 0:
        from gankit.training.overfit import SignGapHook

        hooks.append(SignGapHook(cfg))
    hooks += [CheckpointHook(cfg), SummaryHook()]
    return hooks


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


def apply_hyperparameters(optimizer: torch.optim.Optimizer, cfg, compensation: float = 1.0) -> None:
    """Set every param group's lr, betas, eps and weight decay as `build_optimizer` would (after loading a
    state, which carries the old values); an lr schedule re-derives its start from the new lr."""
    fresh = build_optimizer([torch.zeros(1, requires_grad=True)], cfg, compensation).param_groups[0]
    for group in optimizer.param_groups:
        group.pop("initial_lr", None)  # LrDecayHook's base lr, saved with the group: take the new one
        for key in ("lr", "betas", "eps", "weight_decay"):  # the OptimConfig fields
            if key in fresh and key in group:
                group[key] = fresh[key]


@dataclass
class PhaseStats:
    """The scalars each phase reports, for logs and the progress bar. Values stay tensors until
    `means()` (no host sync per phase, so GPU steps stay asynchronous); every 256 are summed."""

    values: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: torch.Tensor) -> None:
        pending = self.values.setdefault(name, [])
        pending.append(value.detach().float())  # no copy for fp32
        if len(pending) >= 256:
            self.values[name] = [torch.stack(pending).sum()]
        self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: torch.stack(v).sum().item() / self.counts[k] for k, v in self.values.items()}

    def reset(self) -> None:
        self.values.clear()
        self.counts.clear()


class Trainer:
    """Builds data, networks, optimizers and hooks from a config, then runs the loop."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, *, data=None,
                 hooks: list[Hook] | None = None, rank: int | None = None, world: int | None = None,
                 load_init: bool = True) -> None:
        if cfg.steps is None and cfg.kimg is None and cfg.seconds is None:
            raise GankitError("say how long to train: steps=N (generator steps), kimg=K (thousands of images) or seconds=S")
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.rank, self.world = distributed.rank_and_world(rank, world)  # default: the process group's
        self.device = pick_device(cfg.device)
        self.data = data if data is not None else load_training_data(cfg)
        self.holdout_data = None  # holdout=N: images kept out of training (D's sign gap, gankit.training.overfit)
        if cfg.holdout:
            self.data, self.holdout_data = split_holdout(self.data, cfg.holdout, cfg.seed)
        check_batch_fits(self.data, cfg)
        resolve_model_options(cfg, self.data)
        if self.data.kind == "image":
            cfg.resolution, cfg.channels = self.data.resolution, self.data.channels
        torch.manual_seed(cfg.seed)
        self.rng = TrainingRNG(cfg.seed)
        self.draws = SampleDraws(self.rng.noise)  # per-sample noise keyed by global index (gankit.nn.draws)
        G, D = build_models(cfg)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.G_ema = make_ema(self.G) if cfg.ema.kimg > 0 else None
        if cfg.init and load_init:  # transfer learning: pretrained weights, fresh optimizers/clock/RNG
            from gankit.runs.load import init_weights

            init_weights(self.models(), cfg.init)
        # The modules the phases call; distributed training swaps in DDP wrappers here.
        self.G_train: nn.Module = self.G
        self.D_train: nn.Module = self.D
        if cfg.augment.diffaugment:  # D's input path, reals and fakes alike
            install_diffaugment(self.D, cfg.augment.diffaugment, self.draws)
        if hasattr(self.G, "set_noise_generator"):  # style mixing and noise inputs
            self.G.set_noise_generator(self.draws)
        if hasattr(self.G, "set_world"):  # StyleGAN3's magnitude EMAs count the global batch
            self.G.set_world(self.world)
        self.loss = LOSSES.get(cfg.loss)
        if self.loss.relativistic and cfg.reuse_fakes:
            raise GankitError(f"loss={cfg.loss} pairs each fake with a fresh real image; it cannot reuse fakes (set reuse_fakes=false)")
        # RpGAN pairs real i with fake i: a conditional G draws fake i with real i's label (as R3GAN does)
        self._pair_labels = self.loss.relativistic and bool(self.G.c_dim)
        self.regularizers = build_regularizers(cfg.reg)
        # Non-lazy R1/R2 take grad_x D(x) from the D step's own pass (its inputs require grad), as the R3GAN
        # and StyleGAN2-ADA code do, instead of running D again: the sides ("reals", "fakes") that need it.
        self.penalty_inputs = frozenset(r.gradient_at for r in self.regularizers
                                        if r.network == "D" and not r.lazy and r.gradient_at)
        self.opt_G = build_optimizer(self.G.parameters(), cfg.optim.G, lazy_compensation(self.regularizers, "G"))
        frozen = {id(p) for p in frozen_parameters(self.D, cfg.D.get("freeze_layers", 0))}  # Freeze-D: not optimized
        self.opt_D = build_optimizer([p for p in self.D.parameters() if id(p) not in frozen], cfg.optim.D,
                                     lazy_compensation(self.regularizers, "D"))
        self.feeder = DataFeeder(self.data, self.rng.data, self.device, self.rank, self.world, cfg.augment.xflip)
        self.state = TrainState()
        self.batch_size = cfg.batch_size  # global; a schedule hook may change it
        self.stats = PhaseStats()
        # D with batch statistics (BatchNorm, minibatch stddev) scores reals and fakes in separate passes
        self._d_batch_dependent = any(isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchStdDev)) for m in self.D.modules())
        self.hooks: list[Hook] = default_hooks(cfg) + list(hooks or [])
        self._reals: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._last_fakes: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.real_logits: list[torch.Tensor] = []  # the last D step's logits on reals, per round (ADA reads their signs)
        distributed.accumulation_rounds(cfg.batch_size, self.world, cfg.batch_gpu)  # a bad batch_gpu fails here
        self.amp = speed.Precision(cfg.speed.precision, self.device)
        speed.prepare_layout(self)  # channels-last, data on the GPU
        distributed.wrap(self)  # SyncBatchNorm, DDP in G_train / D_train
        speed.compile_networks(self)
        self._start_time = time.perf_counter()

    # ---- construction from files -------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] | None = None, **kwargs) -> "Trainer":
        """Continue a run from its newest good checkpoint (overrides may extend steps/kimg)."""
        checkpoint = ckpt.load_checkpoint(run_dir)
        cfg = checkpoint.config(overrides)
        trainer = cls(cfg, run_dir, load_init=False, **kwargs)  # the checkpoint's weights replace init=
        trainer.load_state(checkpoint)
        return trainer

    def load_state(self, checkpoint: ckpt.Checkpoint) -> None:
        """Restore weights, optimizers, counters, RNG streams, data order and hook state."""
        for name, model in self.models().items():
            ckpt.load_model(model, checkpoint.tensors, name, checkpoint.path)
        state = checkpoint.state
        saved = checkpoint.config().optim
        for name, optimizer in (("G", self.opt_G), ("D", self.opt_D)):
            old, new = getattr(saved, name), getattr(self.cfg.optim, name)
            if old.name != new.name:
                raise GankitError(f"optim.{name}.name cannot change when resuming ({old.name} -> {new.name}): "
                                  "its saved state would not fit; keep it or start a new run")
            optimizer.load_state_dict(state[f"opt_{name}"])
            # the saved state carries the old lr and betas: apply this config's (a resume may override them)
            apply_hyperparameters(optimizer, new, lazy_compensation(self.regularizers, name))
        self.rng.load_state_dict(state["rng"])
        self.feeder.load_state_dict(state["feeder"])
        self.state = TrainState(**state["counters"])
        self.batch_size = int(state["batch_size"])
        self.amp.load_state_dict(state.get("scalers", {}))
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
            "rng": self.rng.state_dict(), "feeder": self.feeder.state_dict(), "scalers": self.amp.state_dict(),
            "hooks": {h.name: h.state_dict() for h in self.hooks if h.state_dict()},
        }

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current state (rank 0 only); raises Diverged instead of writing non-finite
        or exploded weights."""
        if self.run_dir is None:
            return None
        tensors = {f"{name}.{k}": v for name, m in self.models().items() for k, v in m.state_dict().items()}
        bad = ckpt.first_bad_tensor(tensors, DIVERGED_AT)  # identical on every rank: all decide alike
        if bad is not None:
            self.diverged(f"{bad} is NaN/Inf or beyond {DIVERGED_AT:.0e}")
        if self.rank != 0:
            return None
        name = f"{self.state.step:08d}"
        return ckpt.save_checkpoint(self.run_dir, name, self.models(), self.state_dict(), to_yaml(self.cfg), self.cfg.checkpoint.keep)

    # ---- divergence ------------------------------------------------------------------------
    def check_losses(self) -> None:
        """Raise Diverged when a loss mean since the last log is NaN/Inf or beyond DIVERGED_AT (one host sync;
        rank 0 decides for all)."""
        means = {k: torch.stack(v).sum() / self.stats.counts[k] for k, v in self.stats.values.items()}
        bad = ckpt.first_bad_tensor(means, DIVERGED_AT)
        if distributed.rank0_decides(bad is not None):
            self.diverged(f"{bad} is {means[bad].item():.3g}" if bad is not None else "rank 0's losses diverged")

    def diverged(self, what: str) -> None:
        """Stop with one line: the step, what went wrong, the last good checkpoint and what to try."""
        last = ckpt.list_checkpoints(self.run_dir)[-1:] if self.run_dir is not None else []
        G_lr, D_lr = self.cfg.optim.G.lr, self.cfg.optim.D.lr
        where = (f"the last good checkpoint is {last[0]}; continue from it with a lower learning rate: "
                 f"gankit train --resume {self.run_dir} optim.G.lr={G_lr / 10:.3g} optim.D.lr={D_lr / 10:.3g}"
                 if last else f"no checkpoint was written; train again with a lower learning rate "
                 f"(optim.G.lr={G_lr / 10:.3g} optim.D.lr={D_lr / 10:.3g})")
        raise Diverged(f"training diverged at step {self.state.step}: {what}; {where}")

    # ---- the loop ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.state.elapsed_s + time.perf_counter() - self._start_time

    def done(self) -> bool:
        cfg = self.cfg
        return (cfg.steps is not None and self.state.step >= cfg.steps) or (
            cfg.kimg is not None and self.state.cur_nimg >= cfg.kimg * 1000) or (
            cfg.seconds is not None and distributed.rank0_decides(self.elapsed() >= cfg.seconds))

    def start(self) -> "Trainer":
        """Write the run's config and start the clock and the hooks (schedules, logs); `train()` calls it,
        and code that drives `step()` itself must call it first."""
        self._lock = RunLock(self.run_dir if self.rank == 0 else None).acquire()  # one writer per run folder
        if self.run_dir is not None and self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(to_yaml(self.cfg))
            write_data_record(self.run_dir, self.data)
        self._start_time = time.perf_counter()
        self._call("on_start")
        return self

    def train(self) -> "Trainer":
        """Run steps until `steps` or `kimg` is reached; Ctrl-C saves a checkpoint first; divergence stops
        with Diverged (no checkpoint of the diverged state is written)."""
        self.start()
        try:
            while not self.done():
                self.step()
            self.finish()
        except Diverged:
            self._call("on_interrupt")
            raise
        except KeyboardInterrupt:
            where = self.save_checkpoint()
            self._call("on_interrupt")
            raise GankitError(f"interrupted at step {self.state.step}; saved {where}; continue with "
                              f"`gankit train --resume {self.run_dir}`") from None
        finally:
            self._lock.release()
        return self

    def finish(self) -> None:
        """End the run: the hooks' last work (final checkpoint, samples, evaluation, summary), then release
        the run folder; `train()` calls it, and code that drives `step()` itself calls it once at the end."""
        try:
            self._call("on_end")
        finally:
            self._lock.release()

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
        if self.state.step % self.cfg.log.every == 0:
            self.check_losses()
        self._call("after_step")

    def _call(self, event: str) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self)

    # ---- phases --------------------------------------------------------------------------
    @property
    def accum(self) -> int:
        """Micro-batch rounds per phase for the current global batch (a growth schedule may change it)."""
        return distributed.accumulation_rounds(self.batch_size, self.world, self.cfg.batch_gpu)

    def draw_latents(self, global_batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z [b, z_dim] and one-hot labels [b, c_dim] (or None) for this rank's slice of the batch."""
        local = global_batch // self.world
        shard = slice(self.rank * local, (self.rank + 1) * local)
        z = torch.randn(global_batch, self.G.z_dim, generator=self.rng.latent)[shard].to(self.device)
        if not self.G.c_dim:
            return z, None
        labels = torch.randint(self.G.c_dim, (global_batch,), generator=self.rng.latent)[shard]
        return z, one_hot(labels, self.G.c_dim, local, self.device)

    def _rows(self, seed: int, global_batch: int, part: slice):
        """Keyed draws (noise inputs, mixing, penalties, DiffAugment) for micro-batch `part` of this rank's slice."""
        start = self.rank * (global_batch // self.world) + part.start
        return self.draws.rows(seed, global_batch, start, part.stop - part.start)

    def d_phase(self, index: int) -> None:
        """One discriminator step (in `accum` micro-batch rounds): adversarial loss + regularizers,
        then after_d_step hooks."""
        if index == 0 or not self.cfg.d_reuse_real or self._reals is None:
            self._reals = self.feeder.next(self.batch_size)
        all_reals, all_labels = self._reals
        given = self._last_fakes if self.cfg.reuse_fakes else None  # g_first: the G step's images, per round
        keep_graph = self.cfg.reuse_fakes  # d_first: the G step will re-score these images
        if given is None:
            all_z, all_c = self.draw_latents(self.batch_size)
            if keep_graph:
                self._last_fakes = []
        self.real_logits = []
        rounds = distributed.round_slices(len(all_reals), self.accum)
        seed = self.draws.phase_seed()
        self.opt_D.zero_grad(set_to_none=True)
        batches = []
        for i, part in enumerate(rounds):
            reals = all_reals[part]
            c_real = one_hot(all_labels[part], self.D.c_dim, len(reals), self.device) if self.D.c_dim else None
            with self._rows(seed, self.batch_size, part):
                if given is not None:
                    fakes, c_fake = given[i]
                else:
                    z, c_fake = all_z[part], c_real if self._pair_labels else None if all_c is None else all_c[part]
                    self.G.requires_grad_(keep_graph)
                    with torch.set_grad_enabled(keep_graph), self.amp.autocast():
                        fakes = self.G_train(z, c_fake)
                    if keep_graph:
                        self._last_fakes.append((fakes, c_fake))
                        fakes = fakes.detach()
                self.G.requires_grad_(False)
                self.D.requires_grad_(True)
                with distributed.grad_sync(self.D_train, i == len(rounds) - 1):
                    with self.amp.autocast():
                        if self.penalty_inputs:  # leaves whose gradient the penalties read
                            reals = reals.detach().requires_grad_("reals" in self.penalty_inputs)
                            fakes = fakes.detach().requires_grad_("fakes" in self.penalty_inputs)
                        real_logits, fake_logits = self._score(reals, c_real, fakes, c_fake)
                        self.real_logits.append(real_logits.detach())
                        loss = self.loss.d_loss(real_logits, fake_logits)
                        self.stats.add("loss/D", loss)
                        batch = DBatch(speed.uncompiled(self.D_train), reals, fakes, c_real, c_fake, real_logits,
                                       self.draws, *self._input_gradients(reals, fakes, real_logits, fake_logits))
                        for reg in self.regularizers:
                            if reg.network == "D" and not reg.lazy:
                                penalty = reg(batch)
                                self.stats.add(f"reg/{reg.name}", penalty)
                                loss = loss + penalty
                    self.amp.backward(loss / len(rounds) if len(rounds) > 1 else loss, "D")
            batches.append(batch)
        self.amp.step(self.opt_D, "D")
        self._lazy_phase(batches, rounds)
        self.state.d_steps += 1
        self.state.cur_nimg += self.batch_size
        self._call("after_d_step")

    def _score(self, reals, c_real, fakes, c_fake) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits for reals and fakes: one batched pass when D has no batch statistics
        (the same maths, about 1.7x faster for small MLPs), two passes when it has BatchNorm.
        With penalty inputs D runs eagerly: compiled graphs do not support double backward."""
        D = speed.uncompiled(self.D_train) if self.penalty_inputs else self.D_train
        if self._d_batch_dependent:
            return D(reals, c_real), D(fakes, c_fake)
        c = None if c_real is None else torch.cat([c_real, c_fake])
        logits = D(torch.cat([reals, fakes]), c)  # [2b], or [2b/m] for a packed D (D.pack=m)
        n_real = len(logits) * len(reals) // (len(reals) + len(fakes))
        return logits[:n_real], logits[n_real:]

    def _input_gradients(self, reals, fakes, real_logits, fake_logits) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """grad of sum D(x) at the main pass's reals and fakes, for the sides in `penalty_inputs` (else None):
        one autograd.grad for both, keeping its graph so the penalties built on it train D. Each logit
        depends on its own side only (a batched pass has no batch statistics; packs do not straddle)."""
        sides = [(x, logits) for name, x, logits in (("reals", reals, real_logits), ("fakes", fakes, fake_logits))
                 if name in self.penalty_inputs]
        if not sides:
            return None, None
        grads = iter(torch.autograd.grad(sum(logits.sum() for _, logits in sides), [x for x, _ in sides],
                                         create_graph=True))
        return tuple(next(grads) if name in self.penalty_inputs else None for name in ("reals", "fakes"))

    def _lazy_phase(self, batches: list[DBatch], rounds: list[slice]) -> None:
        """Lazy D regularizers (interval k): their own step every k D steps, penalty times k."""
        lazy = [r for r in self.regularizers if r.network == "D" and r.lazy and self.state.d_steps % r.interval == 0]
        if not lazy:
            return
        seed = self.draws.phase_seed()
        self.opt_D.zero_grad(set_to_none=True)
        for i, (batch, part) in enumerate(zip(batches, rounds)):
            batch.real_logits = batch.real_grad = batch.fake_grad = None  # the lazy penalties run D on this step's weights
            with self._rows(seed, self.batch_size, part), distributed.grad_sync(self.D_train, i == len(batches) - 1):
                with self.amp.autocast():
                    penalty = sum(r(batch) * r.interval for r in lazy)
                    self.stats.add("reg/lazy_D", penalty)
                    penalty = distributed.reach_all(penalty, self.D)
                self.amp.backward(penalty / len(batches) if len(batches) > 1 else penalty, "D")
        self.amp.step(self.opt_D, "D")

    def g_phase(self) -> None:
        """One generator step on fresh latents (in `accum` micro-batch rounds)."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        given = None
        if self.cfg.reuse_fakes and self.cfg.phase_order == "d_first" and self._last_fakes is not None:
            given, self._last_fakes = self._last_fakes, None  # still attached to G's graph from the D step
        else:
            all_z, all_c = self.draw_latents(self.batch_size)
        all_reals, all_labels = self.feeder.next(self.batch_size) if self.loss.relativistic else (None, None)
        keep = self.cfg.reuse_fakes and self.cfg.phase_order == "g_first"
        kept = []
        n_rounds = len(given) if given is not None else self.accum
        seed = self.draws.phase_seed()
        self.opt_G.zero_grad(set_to_none=True)
        for i, part in enumerate(distributed.round_slices(self.batch_size // self.world, n_rounds)):
            with self._rows(seed, self.batch_size, part), distributed.grad_sync(self.G_train, i == n_rounds - 1):
                with self.amp.autocast():
                    real_logits = None
                    if given is not None:
                        fakes, c = given[i]
                    else:
                        c = None if all_c is None else all_c[part]
                        if all_reals is not None:  # relativistic: D's view of a fresh real batch, paired with the fakes
                            c_real = one_hot(all_labels[part], self.D.c_dim, len(all_reals[part]), self.device) if self.D.c_dim else None
                            c = c_real if self._pair_labels else c
                            with torch.no_grad():
                                real_logits = self.D_train(all_reals[part], c_real)  # [b]
                        fakes = self.G_train(all_z[part], c)
                    loss = self.loss.generator_loss(self.D_train(fakes, c), real_logits)
                    self.stats.add("loss/G", loss)
                self.amp.backward(loss / n_rounds if n_rounds > 1 else loss, "G")
            if keep:
                kept.append((fakes.detach(), c))
        self.amp.step(self.opt_G, "G")
        if keep:
            self._last_fakes = kept
        self._lazy_g_phase()

    def _lazy_g_phase(self) -> None:
        """G regularizers (path length, interval k): their own step every k G steps on batch/batch_shrink, penalty times k."""
        due = [r for r in self.regularizers if r.network == "G" and self.state.step % r.interval == 0]
        if not due:
            return
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        for reg in due:
            global_batch = max(self.batch_size // reg.batch_shrink, self.world)
            z, c = self.draw_latents(global_batch)
            with self._rows(self.draws.phase_seed(), global_batch, slice(0, len(z))), self.amp.autocast():
                penalty = reg(GBatch(self.G, z, c, self.draws, self.world)) * reg.interval
                self.stats.add(f"reg/{reg.name}", penalty / reg.interval)
            self.amp.backward(penalty, "G")
        if self.world > 1:  # this phase calls G's parts outside DDP: average the gradients here
            for p in self.G.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.world
        self.amp.step(self.opt_G, "G")


def train(config: str | Path | dict | TrainConfig = "dcgan", out: str | Path | None = None,
          overrides: list[str] | None = None, **kwargs) -> Trainer:
    """Train a preset/YAML/dict config (plus `key=value` overrides) into run folder `out`."""
    cfg = config if isinstance(config, TrainConfig) and not overrides else load_config(config, overrides)
    return Trainer(cfg, out, **kwargs).train()
