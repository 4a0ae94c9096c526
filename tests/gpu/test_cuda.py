"""Checks that need a CUDA GPU (all skipped without one; CI has none).

fp16 with gradient scalers (and its checkpoint), exact resume with the CUDA RNG (dropout), bf16 on every generator family, GPU maths equal to
CPU maths, channels-last with the data set held on the GPU, torch.compile, two DDP ranks on CUDA
tensors with SyncBatchNorm, equivariance metrics, and StyleGAN3's checkpointed layers' memory. One GPU cannot host two NCCL ranks (NCCL refuses a duplicate GPU), so
the two ranks share the GPU through gloo, which also all-reduces CUDA tensors: that exercises DDP's
GPU path and SyncBatchNorm; NCCL itself needs a machine with two GPUs.

    python -m pytest tests/gpu        # on a GPU machine (benchmarks/gpu.sh --tests runs it)
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import gankit
from gankit.training import Trainer
from gankit.runs.checkpoint import model_tensors
from tests.conftest import tiny_config, tiny_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
BATCH = 16


def data(resolution: int = 8):
    return tiny_images(n=64, resolution=resolution, channels=3, classes=0)


def finite(module: nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in module.parameters())


@pytest.mark.parametrize("preset", ["dcgan", "stylegan2"])
def test_fp16_trains_with_gradient_scalers_and_resumes_from_its_checkpoint(preset, tmp_path):
    cfg = tiny_config(preset, "device=cuda", "speed.precision=fp16", steps=3, batch=BATCH)
    trainer = Trainer(cfg, tmp_path / "run", data=data()).train()
    assert finite(trainer.G) and finite(trainer.D)
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())  # autocast: fp32 master weights
    scales = {net: s.get_scale() for net, s in trainer.amp.scalers.items()}
    assert set(scales) == {"G", "D"} and all(0 < s < float("inf") for s in scales.values())
    resumed = Trainer.resume(tmp_path / "run", ["steps=5"], data=data())
    assert resumed.state.step == 3
    assert {net: s.get_scale() for net, s in resumed.amp.scalers.items()} == scales  # scaler state saved
    assert finite(resumed.train().G) and resumed.state.step == 5
    G = gankit.load(tmp_path / "run", device="cpu")  # a GPU run's weights load on a CPU
    assert torch.isfinite(G(torch.randn(2, G.z_dim))).all()


def test_resume_on_the_gpu_is_exact_with_dropout(tmp_path, device="cuda"):
    """The CUDA RNG state (dropout draws on the GPU) is in the checkpoint: 3 + 3 resumed steps == 6 straight."""
    def cfg(steps):
        return tiny_config("seed-gan", f"device={device}", "D.dropout=0.5", steps=steps, batch=BATCH)

    straight = Trainer(cfg(6), data=data()).train()
    Trainer(cfg(3), tmp_path / "run", data=data()).train()
    resumed = Trainer.resume(tmp_path / "run", ["steps=6"], data=data()).train()
    a, b = model_tensors(straight.models()), model_tensors(resumed.models())
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("preset, resolution", [("dcgan", 8), ("stylegan2", 8), ("stylegan3-t", 16), ("stylegan3-r", 16)])
def test_bf16_trains_every_generator_family_on_the_gpu(preset, resolution):
    trainer = Trainer(tiny_config(preset, "device=cuda", "speed.precision=bf16", steps=2, batch=8),
                      data=data(resolution)).train()
    assert trainer.state.step == 2 and finite(trainer.G) and finite(trainer.D)


def test_gpu_fp32_takes_the_same_steps_as_the_cpu():
    """The RNG contract draws on the CPU, so a run's numbers do not depend on the device (MLP: no cuDNN)."""
    weights = {}
    for device in ("cpu", "cuda"):
        trainer = Trainer(tiny_config("seed-gan", f"device={device}", "seed=3", steps=3, batch=BATCH), data=data())
        weights[device] = {k: v.cpu() for k, v in model_tensors(trainer.train().models()).items()}
    lr = tiny_config("seed-gan").optim.G.lr
    for key, ref in weights["cpu"].items():
        assert (weights["cuda"][key] - ref).abs().max().item() < 0.05 * lr * 3, key


def test_channels_last_with_the_data_set_on_the_gpu():
    cfg = tiny_config("dcgan", "device=cuda", "speed.channels_last=true", "speed.data_on_device=true", steps=2)
    trainer = Trainer(cfg, data=data())
    assert trainer.data.images.is_cuda
    convs = [p for p in trainer.D.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert finite(trainer.train().G)


def test_compiled_training_on_the_gpu_matches_eager():
    def run(*extra: str) -> dict[str, torch.Tensor]:
        trainer = Trainer(tiny_config("seed-gan", "device=cuda", *extra, steps=2, batch=BATCH), data=data())
        return model_tensors(trainer.train().models())

    ours, ref = run("speed.compile=true"), run()
    for key in ref:
        assert torch.allclose(ours[key], ref[key], rtol=1e-3, atol=1e-4), key


def _ddp_worker(rank: int, world: int, tmp: str) -> None:
    """One rank on the shared GPU: DCGAN (BatchNorm) with sync_bn=true; saves its weights."""
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world)
    try:
        trainer = Trainer(tiny_config("dcgan", "device=cuda", "sync_bn=true", "seed=5", steps=3, batch=BATCH),
                          data=data())
        assert any(isinstance(m, nn.SyncBatchNorm) for m in trainer.G.modules())  # DCGAN: BatchNorm in G
        weights = {k: v.cpu() for k, v in model_tensors(trainer.train().models()).items()}
        torch.save(weights, Path(tmp) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ddp_ranks_on_cuda_with_sync_batchnorm_equal_one_process(tmp_path):
    """SyncBatchNorm normalizes over the global batch, so 2 ranks of 8 equal 1 process of 16, BatchNorm included."""
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    for key, value in rank0.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.allclose(value, rank1[key], rtol=0, atol=1e-6), key  # running stats too: synced
    single = Trainer(tiny_config("dcgan", "device=cuda", "seed=5", steps=3, batch=BATCH), data=data()).train()
    lr = single.cfg.optim.G.lr
    for key, ref in model_tensors(single.models()).items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        assert (rank0[key] - ref.cpu()).abs().max().item() < 0.05 * lr * 3, key


def test_equivariance_of_a_stylegan3_measures_the_same_on_gpu_and_cpu():
    """EQ-T / EQ-T_frac / EQ-R: the GPU agrees with the CPU (full fp32, no TF32, during the metric)."""
    from gankit.metrics.equivariance import equivariance
    from gankit.models.stylegan3 import StyleGAN3Generator, StyleGAN3GOptions

    torch.manual_seed(0)
    G = StyleGAN3Generator(StyleGAN3GOptions(img_resolution=16, img_channels=3, z_dim=8, w_dim=8, mapping_layers=1,
                                             channel_base=256, channel_max=16, num_layers=3)).eval()
    on_cpu = equivariance(G, n=8)
    on_gpu = equivariance(G.cuda(), n=8)
    for metric, value in on_cpu.items():  # above 80 dB both sit at float32 rounding: equal enough
        assert abs(min(on_gpu[metric], 80) - min(value, 80)) < 0.5, (metric, on_gpu[metric], value)


def test_checkpointed_stylegan3_layers_need_less_gpu_memory():
    peaks = {}
    for flag in ("false", "true"):
        trainer = Trainer(tiny_config("stylegan3-t", "device=cuda", f"G.checkpoint_layers={flag}", steps=1, batch=8),
                          data=data(16))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        trainer.train()
        peaks[flag] = torch.cuda.max_memory_allocated()
        del trainer
    assert peaks["true"] < peaks["false"], peaks
