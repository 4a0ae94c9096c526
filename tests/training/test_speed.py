"""Speed options: bf16 autocast, channels-last, torch.compile and the sync-free loss statistics."""
from __future__ import annotations

import pytest
import torch

from gankit.errors import GankitError
from gankit.training import Trainer
from gankit.runs.checkpoint import model_tensors
from gankit.training.trainer import PhaseStats
from tests.conftest import tiny_config, tiny_images


def data():
    return tiny_images(n=32, resolution=8, classes=0)


def final_weights(*overrides: str, preset: str = "dcgan", steps: int = 2) -> dict[str, torch.Tensor]:
    trainer = Trainer(tiny_config(preset, "device=cpu", *overrides, steps=steps), data=data()).train()
    return model_tensors(trainer.models())


def test_bf16_step_runs_with_fp32_weights_and_fp16_on_cpu_is_refused():
    trainer = Trainer(tiny_config("dcgan", "speed.precision=bf16", "device=cpu", steps=1), data=data()).train()
    assert trainer.state.step == 1
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in trainer.G.parameters())
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in trainer.D.parameters())
    with pytest.raises(GankitError, match="fp16 needs a GPU"):
        Trainer(tiny_config("dcgan", "speed.precision=fp16", "device=cpu"), data=data())


def test_channels_last_is_the_same_maths():
    trainer = Trainer(tiny_config("dcgan", "device=cpu", "speed.channels_last=true"), data=data())
    convs = [p for p in trainer.D.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    ours, ref = final_weights("speed.channels_last=true"), final_weights()
    for key in ref:
        assert torch.allclose(ours[key], ref[key], rtol=1e-4, atol=1e-5), key


def test_phase_stats_average_without_per_value_sync():
    stats = PhaseStats()
    for v in range(600):  # crosses the 256-value compaction twice
        stats.add("loss/D", torch.tensor(float(v)))
    stats.add("loss/G", torch.tensor(2.0, dtype=torch.bfloat16))
    assert stats.means() == {"loss/D": pytest.approx(299.5), "loss/G": 2.0}
    stats.reset()
    assert stats.means() == {} and not stats.counts


@pytest.mark.slow
def test_compiled_training_matches_eager():
    """torch.compile in fp32 keeps the maths (fusion changes rounding only)."""
    ours, ref = final_weights("speed.compile=true", preset="seed-gan"), final_weights(preset="seed-gan")
    for key in ref:
        assert torch.allclose(ours[key], ref[key], rtol=1e-3, atol=1e-4), key


def test_speed_notes_warn_of_emulated_bf16_and_compile_time(monkeypatch):
    from gankit.training import speed

    assert speed.cpu_has_native_bf16() in (True, False, None)  # this machine's answer, whatever it is
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(speed, "cpu_has_native_bf16", lambda: False)
    assert "no native bf16" in speed.speed_notes("bf16", False, cpu)[0]
    assert speed.speed_notes("bf16", False, gpu) == [] and speed.speed_notes("fp32", False, cpu) == []
    monkeypatch.setattr(speed, "cpu_has_native_bf16", lambda: True)
    assert speed.speed_notes("bf16", False, cpu) == []
    assert "compile G and D" in speed.speed_notes("fp32", True, cpu)[0]
