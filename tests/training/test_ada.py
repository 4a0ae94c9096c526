"""ADA's p: the adjustment rule, a fake D driving it up and down, exact resume, logs, every D, DDP's r_t."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.runs.checkpoint import model_tensors
from gankit.training import Trainer
from gankit.training.ada import AugmentHook, ada_adjust, ramp_p
from gankit.training.trainer import PhaseStats
from tests.conftest import tiny_config, tiny_images


def test_adjustment_rule_and_schedule():
    assert ada_adjust(0.5, 0.9, 0.6, batch=64, interval=4, kimg=0.256) == pytest.approx(1.0)  # clamped at 1
    assert ada_adjust(0.0, 0.1, 0.6, batch=64, interval=4, kimg=500) == 0.0  # clamped at 0
    assert ada_adjust(0.1, 0.7, 0.6, batch=64, interval=4, kimg=500) == pytest.approx(0.1 + 256 / 500_000)
    assert ada_adjust(0.1, 0.6, 0.6, batch=64, interval=4, kimg=500) == 0.1
    assert ramp_p(0, 0.5, 10) == 0 and ramp_p(5000, 0.5, 10) == pytest.approx(0.25) and ramp_p(99_000, 0.5, 10) == 0.5


def fake_trainer(world: int = 1, rank: int = 0) -> SimpleNamespace:
    """What AugmentHook reads from a trainer, with no networks: logits are set by the test (a fake D)."""
    return SimpleNamespace(draws=torch.Generator().manual_seed(0), rank=rank, world=world,
                           device=torch.device("cpu"), D=torch.nn.Identity(), batch_size=8, stats=PhaseStats(),
                           state=SimpleNamespace(d_steps=0, cur_nimg=0), real_logits=[])


def run_d_steps(hook: AugmentHook, t: SimpleNamespace, logits: torch.Tensor, n: int) -> None:
    for _ in range(n):
        t.real_logits = [logits]
        t.state.d_steps += 1
        hook.after_d_step(t)


def test_p_rises_when_d_is_over_confident_on_reals_and_falls_otherwise():
    cfg = load_config("dcgan", ["augment.ada.target=0.6", "augment.ada.kimg=1", "augment.ada.interval=4"])
    hook, t = AugmentHook(cfg), fake_trainer()
    hook.on_start(t)
    step = 8 * 4 / 1000  # batch · interval / (kimg · 1000)
    run_d_steps(hook, t, torch.tensor([3.0, 2.0, 1.0, 0.5]), 3)
    assert hook.pipeline.p == 0 and hook.rt is None  # not yet 4 D steps
    run_d_steps(hook, t, torch.tensor([3.0, 2.0, 1.0, 0.5]), 13)  # r_t = 1 > 0.6, four adjustments
    assert hook.rt == 1.0 and hook.pipeline.p == pytest.approx(4 * step)
    run_d_steps(hook, t, torch.tensor([1.0, -1.0, -2.0, 3.0]), 8)  # r_t = 0 < 0.6
    assert hook.rt == 0.0 and hook.pipeline.p == pytest.approx(2 * step)
    run_d_steps(hook, t, torch.tensor([-1.0]), 40)
    assert hook.pipeline.p == 0.0  # never below 0


def _ddp_worker(rank: int, world: int, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world)
    try:
        cfg = load_config("dcgan", ["augment.ada.target=0.6", "augment.ada.interval=1"])
        hook, t = AugmentHook(cfg), fake_trainer(world, rank)
        hook.on_start(t)
        # rank 0's D calls all its reals real, rank 1's only a quarter: the global r_t is (4 − 2) / 8
        run_d_steps(hook, t, torch.ones(4) if rank == 0 else torch.tensor([1.0, -1.0, -1.0, -1.0]), 1)
        torch.save({"rt": hook.rt, "p": hook.pipeline.p}, f"{tmp}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_reduces_rt_over_ranks(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert results[0] == results[1] and results[0]["rt"] == pytest.approx(0.25)
    assert results[0]["p"] == 0.0  # 0.25 < 0.6: p stays at 0 on both ranks


ADA = ("augment.ada.target=0.6", "augment.p=0.5", "augment.ada.kimg=0.5", "augment.ada.interval=3", "reg.r1.gamma=0.1",
       "seed=3", "checkpoint.kimg=0.04")  # p starts at 0.5 and moves by 0.048; a checkpoint every 5 steps of 8 images, mid-interval


def test_resume_with_ada_is_exact_and_p_is_visible(tmp_path):
    data = tiny_images(n=64, resolution=8, classes=0)
    straight = Trainer(tiny_config("dcgan", *ADA, steps=9), tmp_path / "straight", data=data).train()
    first = Trainer(tiny_config("dcgan", *ADA, steps=5), tmp_path / "resumed", data=data).train()
    hook = next(h for h in first.hooks if h.name == "ada")
    assert hook._signs[1] == 8 * 2  # stopped with two D steps in the accumulator
    resumed = Trainer.resume(tmp_path / "resumed", ["steps=9"], data=data).train()
    a, b = (next(h for h in tr.hooks if h.name == "ada") for tr in (straight, resumed))
    assert a.pipeline.p != 0.5 and a.pipeline.p == b.pipeline.p and a.rt == b.rt and torch.equal(a._signs, b._signs)
    for key, value in model_tensors(straight.models()).items():
        assert torch.equal(value, model_tensors(resumed.models())[key]), key
    records = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert all("augment/p" in r for r in records) and any("augment/rt" in r for r in records)
    assert "augmentation (ADA pipeline bgc): p " in (tmp_path / "straight" / "summary.md").read_text()
    assert (tmp_path / "straight" / "loss.png").is_file()


@pytest.mark.parametrize("preset", ["dcgan", "progan", "stylegan", "stylegan2"])
def test_every_d_call_sees_augmented_reals(preset):
    data = tiny_images(n=32, resolution=8, classes=0)
    trainer = Trainer(tiny_config(preset, "augment.p=1", "reg.r1.gamma=0.1", "reg.r1.interval=1"), data=data).start()
    seen = []
    trainer.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))  # after ADA's
    trainer.step()
    reals = trainer._reals[0]
    matches = [x for x in seen if x.shape[0] >= len(reals) and torch.equal(x[:len(reals)], reals)]
    assert len(seen) >= 2 and not matches  # the D phase (R1 differentiates its pass) and the G phase: never the raw reals


def test_schedule_and_fixed_p():
    data = tiny_images(n=32, resolution=8, classes=0)
    ramp = Trainer(tiny_config("dcgan", "augment.p=0.4", "augment.p_ramp_kimg=0.032", steps=4), data=data).train()
    assert next(h for h in ramp.hooks if h.name == "ada").pipeline.p == pytest.approx(0.4 * (1 - torch.cos(torch.tensor(torch.pi * 24 / 32)).item()) / 2)
    fixed = Trainer(tiny_config("dcgan", "augment.p=0.3", steps=2), data=data).train()
    assert next(h for h in fixed.hooks if h.name == "ada").pipeline.p == 0.3


@pytest.mark.parametrize("override", ["augment.p=1.5", "augment.ada.kimg=0", "augment.pipeline=bx",
                                      "augment.ada.target=2"])
def test_bad_augment_settings_are_one_line_errors(override):
    with pytest.raises(GankitError, match="augment"):
        load_config("dcgan", [override])


def test_ada_trains_under_bf16_autocast():
    data = tiny_images(n=32, resolution=8, classes=0, channels=3)
    trainer = Trainer(tiny_config("dcgan", "augment.p=0.5", "speed.precision=bf16", steps=1), data=data).train()
    assert all(torch.isfinite(p).all() for p in trainer.D.parameters())
