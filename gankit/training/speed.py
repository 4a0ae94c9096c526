"""Speed options (`speed.*`): mixed precision, torch.compile, channels-last, data held on the GPU.

- `precision=bf16`: forward passes and losses under `torch.autocast(dtype=bfloat16)` on CPU or GPU;
  weights, gradients and optimizer states stay fp32. On a CPU without AVX-512 BF16 / AMX (such as
  an AVX2-only EPYC) torch emulates bf16 matrix products, so bf16 is usually *slower* there.
- `precision=fp16`: autocast to float16 plus one gradient scaler per network (GPUs only).
- `compile=true`: `torch.compile` on the modules the phases call (after any DDP wrapper); G, D and
  G_ema stay plain modules, so checkpoints, sampling and EMA never see the compiled wrapper.
- `channels_last=true`: convolution weights (and so activations) in NHWC, for conv models.
- `data_on_device=true`: an in-memory image dataset moves to the GPU when it takes at most a
  quarter of the free memory, so each batch is one gather on the device.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn

from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast context, scaled backward and scaled optimizer step for one `speed.precision`."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in DTYPES:
            raise GankitError(f"speed.precision must be fp32, bf16 or fp16, not {name!r}")
        if name == "fp16" and device.type != "cuda":
            raise GankitError("speed.precision=fp16 needs a GPU (gradient scaling); on CPU use bf16 or fp32")
        self.name, self.device, self.dtype = name, device, DTYPES[name]
        self.enabled = name != "fp32"
        self._null = contextlib.nullcontext()
        self.scalers = {net: torch.amp.GradScaler("cuda") for net in ("G", "D")} if name == "fp16" else {}

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region for forward passes and losses (a no-op in fp32)."""
        if not self.enabled:
            return self._null
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, net: str) -> None:
        """loss.backward(), scaled in fp16."""
        scaler = self.scalers.get(net)
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, net: str) -> None:
        """optimizer.step(); in fp16 unscale first, skip steps with inf/nan gradients, adapt the scale."""
        scaler = self.scalers.get(net)
        if scaler is None:
            optimizer.step()
            return
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict:
        return {net: scaler.state_dict() for net, scaler in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for net, scaler in self.scalers.items():
            if net in state:
                scaler.load_state_dict(state[net])


def cpu_has_native_bf16() -> bool | None:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX); None where torch cannot tell."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if None in checks:
        return None
    return any(check() for check in checks)


def speed_notes(precision: str, compile_networks: bool, device: torch.device) -> list[str]:
    """One-line notes for the user about speed settings that may surprise: emulated bf16, compile time."""
    notes = []
    if precision == "bf16" and device.type == "cpu" and cpu_has_native_bf16() is False:
        notes.append("this CPU has no native bf16 (AVX-512 BF16 or AMX): torch emulates bf16 matrix products, "
                     "usually slower than speed.precision=fp32")
    if compile_networks:
        notes.append("speed.compile: the first steps compile G and D (minutes for the StyleGAN families); "
                     "on CPUs compiled steps are often no faster (BENCHMARKS.md)")
    return notes


def has_conv(module: nn.Module) -> bool:
    """True when the module holds a 4-D (convolution) weight."""
    return any(p.dim() == 4 for p in module.parameters())


def prepare_layout(t: "Trainer") -> None:
    """Channels-last conv weights and the dataset on the GPU, as `speed.*` asks (before DDP wrapping)."""
    speed = t.cfg.speed
    if speed.channels_last:
        for model in t.models().values():
            if has_conv(model):
                model.to(memory_format=torch.channels_last)
    images = getattr(t.data, "images", None)
    if speed.data_on_device and t.device.type == "cuda" and images is not None and images.device != t.device:
        free, _ = torch.cuda.mem_get_info(t.device)
        if images.numel() * images.element_size() <= free // 4:
            t.data.to(t.device)


def uncompiled(module: nn.Module) -> nn.Module:
    """The module inside torch.compile's wrapper: penalties that differentiate twice (R1, gradient
    penalty) run it eagerly, since compiled graphs do not support double backward."""
    return getattr(module, "_orig_mod", module)


def compile_networks(t: "Trainer") -> None:
    """torch.compile the training modules (after DDP wrapping) when `speed.compile=true`."""
    if not t.cfg.speed.compile:
        return
    t.G_train = torch.compile(t.G_train)
    t.D_train = torch.compile(t.D_train)
