"""Distributed training on torch's own engine: torchrun's environment, DDP wrappers, gathered values.

    torchrun --nproc_per_node N -m gankit train PRESET key=value ... --out RUN

How the pieces fit (GUIDE §4):
- Every rank draws the *global* batch of data indices, latents and noise from the same generators
  and keeps its slice, so a run sees the same numbers whatever its world size, and a checkpoint
  (global RNG states, data order, optimizer states) resumes on any number of processes.
- G and D are wrapped in DDP separately and the phases call the wrappers (`G_train`, `D_train`).
  The phases switch `requires_grad_` on whole networks, so a backward reaches all of a network's
  parameters or none of them and DDP needs no `find_unused_parameters`. A lazy penalty (R1 every
  k steps) does not reach every parameter (D's last bias does not change grad_x D): `reach_all`
  adds 0 x each parameter, so every DDP hook fires and every parameter takes its optimizer step
  (SG2-ADA's `real_logits * 0`) whatever the number of processes. ProGAN (a `lod` buffer: stages above the
  current one take no part) is wrapped with `find_unused_parameters=True`.
- Gradient accumulation (`batch_gpu`): each D or G step runs `rounds` forward/backward pairs on
  micro-batches, under `no_sync` in all but the last, then one optimizer step.
- BatchNorm uses per-process batch statistics (DDP broadcasts rank 0's running statistics at each
  forward); `sync_bn=true` converts to SyncBatchNorm, which torch implements for GPUs only.
- Only rank 0 writes files (the hooks check `t.rank`); logged scalars are averaged over ranks.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job: global rank, world size, rank on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0


def env_from_torchrun() -> DistEnv:
    """The RANK / WORLD_SIZE / LOCAL_RANK variables torchrun sets (one process when absent)."""
    try:
        return DistEnv(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                       int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise GankitError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (launch with torchrun)") from None


def init_from_env() -> DistEnv:
    """Join torchrun's process group: gloo for CPU tensors, NCCL for CUDA tensors; one process: no group."""
    env = env_from_torchrun()
    if env.world == 1 or dist.is_initialized():
        return env
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend)
    return env


def describe_processes(world: int, global_batch: int) -> str:
    """'1 process', or '2 processes (DDP over gloo, 8 images per process per step)'."""
    if world == 1:
        return "1 process"
    backend = dist.get_backend() if dist.is_initialized() else "no process group"
    return f"{world} processes (DDP over {backend}, {global_batch // world} images per process per step)"


def shutdown() -> None:
    """Leave the process group (after training)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_and_world(rank: int | None, world: int | None) -> tuple[int, int]:
    """Explicit values, else those of the initialized process group, else (0, 1)."""
    if rank is not None and world is not None:
        return rank, world
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def accumulation_rounds(batch_size: int, world: int, batch_gpu: int | None) -> int:
    """How many micro-batches of `batch_gpu` make one process's share of the global batch."""
    if batch_size % world:
        raise GankitError(f"batch_size {batch_size} must be divisible by the number of processes {world}")
    local = batch_size // world
    if batch_gpu is None or batch_gpu >= local:
        return 1
    if local % batch_gpu:
        raise GankitError(f"batch_gpu {batch_gpu} must divide the per-process batch {local} (batch_size / processes)")
    return local // batch_gpu


def round_slices(n: int, rounds: int) -> list[slice]:
    """`rounds` equal consecutive slices of n samples (the accumulation micro-batches)."""
    size = n // rounds
    return [slice(i * size, (i + 1) * size) for i in range(rounds)]


def wrap(t: "Trainer") -> None:
    """SyncBatchNorm when asked, then DDP around G and D in `t.G_train` / `t.D_train` (world > 1)."""
    if t.cfg.sync_bn and t.world > 1:
        if t.device.type != "cuda":
            raise GankitError("sync_bn=true needs GPUs (torch's SyncBatchNorm); on CPU BatchNorm is per process")
        t.G = nn.SyncBatchNorm.convert_sync_batchnorm(t.G)
        t.D = nn.SyncBatchNorm.convert_sync_batchnorm(t.D)
    if t.world == 1:
        return
    if not dist.is_initialized():
        raise GankitError(f"world={t.world} needs a process group: launch with torchrun (or call "
                          "torch.distributed.init_process_group first)")
    if t.accum > 1 and t.cfg.reuse_fakes and t.cfg.phase_order == "d_first":
        raise GankitError("batch_gpu accumulation with several processes does not combine with reuse_fakes in "
                          "d_first order (G's graphs span two phases); set batch_gpu=null or reuse_fakes=false")
    device_ids = [t.device.index if t.device.index is not None else torch.cuda.current_device()] \
        if t.device.type == "cuda" else None
    for name in ("G", "D"):
        module = getattr(t, name).requires_grad_(True)  # DDP registers the parameters that require grad now
        growing = hasattr(module, "lod")  # ProGAN: blocks above the current stage take no part in a step
        setattr(t, f"{name}_train", DDP(module, device_ids=device_ids, find_unused_parameters=growing))


def grad_sync(module: nn.Module, last_round: bool) -> contextlib.AbstractContextManager:
    """`no_sync()` on accumulation rounds before the last, so gradients are all-reduced once per step."""
    inner = getattr(module, "_orig_mod", module)
    if last_round or not isinstance(inner, DDP):
        return contextlib.nullcontext()
    return inner.no_sync()


def reach_all(loss: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """loss + 0 x every parameter: a penalty that misses some still fires every DDP hook, and every
    parameter takes the same optimizer step with one process as with several."""
    return loss + sum(p.reshape(-1)[0] for p in module.parameters() if p.requires_grad) * 0.0


def _collective_device() -> torch.device:
    """Where collective buffers live: the GPU when the group has NCCL, else the CPU (gloo)."""
    if "nccl" in str(dist.get_backend()):
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Average each scalar over all ranks (identity without a process group); keys must agree."""
    if not values or not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    keys = sorted(values)
    device = _collective_device()
    buf = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(buf)
    buf /= dist.get_world_size()
    return dict(zip(keys, buf.tolist()))


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate a [n, ...] tensor from every rank in rank order (same n on each); identity alone."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def rank0_decides(flag: bool) -> bool:
    """Rank 0's value of a flag on every rank (a wall-clock stop must be taken by all at once)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return flag
    device = _collective_device()
    buf = torch.tensor([int(flag)], device=device)
    dist.broadcast(buf, 0)
    return bool(buf.item())
