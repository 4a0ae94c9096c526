"""Progressive growth: the lod formula, faded reals, optimizer resets, batch per resolution, mid-fade resume."""
import pytest
import torch

from gankit.errors import GankitError
from gankit.training import Hook, Trainer
from gankit.runs.checkpoint import load_checkpoint
from gankit.training.schedules import GrowthSchedule, fade_reals, growth_lod, lod_changed, stage_resolution
from tests.conftest import tiny_config, tiny_images

# stage 0.02 kimg, fade 0.02 kimg at batch 8, 8 px from 4 px: per step (images before it) 0, 8, 16 -> lod 1
# (stabilize 4x4), 24 -> 0.8, 32 -> 0.4 (fade 8x8 in), 40 and on -> 0 (stabilize 8x8).
GROW = ["growth.start_resolution=4", "growth.stage_kimg=0.02", "growth.fade_kimg=0.02"]
LODS = [1.0, 1.0, 1.0, 0.8, 0.4, 0.0, 0.0]


@pytest.mark.parametrize("kimg,expected", [
    (0, 3.0), (300, 3.0), (600, 3.0),  # stabilize 4x4 first (the code default order), then fade
    (900, 2.5), (1199.4, 2.001), (1200, 2.0), (1500, 2.0), (2100, 1.5), (3000, 1.0), (3600, 0.0), (9000, 0.0),
])
def test_lod_formula_code_default(kimg, expected):
    """32 px from 4 px with PG's code default, 600 kimg stages and 600 kimg fades."""
    assert growth_lod(int(kimg * 1000), 32, 4, 600, 600) == pytest.approx(expected, abs=1e-9)


def test_lod_formula_paper_and_edge_cases():
    assert growth_lod(800_000, 1024, 4, 800, 800) == 8.0  # 4x4 for 800k, then the 8x8 fade starts
    assert growth_lod(1_200_000, 1024, 4, 800, 800) == 7.5
    assert growth_lod(13_600_000, 1024, 4, 800, 800) == 0.0  # 1024 fully faded in after 800 + 8 * 1600 kimg
    assert growth_lod(15_000, 32, 4, 10, 0) == 2.0  # no fades: the resolution jumps every stage
    assert growth_lod(10**9, 32, 32, 600, 600) == 0.0  # starting at the target = no growth
    assert [stage_resolution(lod, 32) for lod in (3.0, 2.5, 2.0, 0.3, 0.0)] == [4, 8, 8, 32, 32]


def test_batch_size_per_resolution():
    schedule = GrowthSchedule(32, 4, 600, 600, {4: 128, 8: 64}, default_batch=16)
    assert [schedule.batch_size(schedule.lod(k * 1000)) for k in (0, 700, 1300, 2500, 5000)] == [128, 64, 64, 16, 16]


def test_lod_changed_is_pgs_reset_rule():
    assert lod_changed(3.0, 2.9) and lod_changed(2.1, 2.0) and lod_changed(3.0, 2.0)
    assert not lod_changed(2.9, 2.5) and not lod_changed(2.0, 2.0)


def test_fade_reals_matches_process_reals():
    x = torch.randn(3, 2, 16, 16)
    assert torch.equal(fade_reals(x, 0.0), x)
    pooled = torch.nn.functional.avg_pool2d(x, 4)  # stage lod 2 = 4x4
    assert torch.allclose(fade_reals(x, 2.0), pooled.repeat_interleave(4, 2).repeat_interleave(4, 3), atol=1e-6)
    for level in (0, 1, 2):  # linear in frac(lod): the same form as G's faded output
        for beta in (0.25, 0.5, 0.9):
            expected = torch.lerp(fade_reals(x, level), fade_reals(x, level + 1), beta)
            assert torch.allclose(fade_reals(x, level + beta), expected, atol=1e-6)
    assert torch.allclose(fade_reals(x, 1.3).mean((2, 3)), x.mean((2, 3)), atol=1e-6)


class Recorder(Hook):
    """Records lod, batch size and Adam's step count of one always-used D weight after each step."""

    name = "recorder"

    def __init__(self) -> None:
        self.lods, self.batches, self.adam_steps = [], [], []

    def after_step(self, t) -> None:
        self.lods.append(float(t.G.lod))
        self.batches.append(t.batch_size)
        self.adam_steps.append(int(t.opt_D.state[t.D.head.out.weight]["step"]))


def _progan(steps, *extra):
    return tiny_config("progan", *GROW, "ema.kimg=0.01", *extra, steps=steps)


def test_hook_sets_lod_resets_adam_and_batch():
    recorder = Recorder()
    trainer = Trainer(_progan(7), data=tiny_images(), hooks=[recorder]).train()
    assert recorder.lods == pytest.approx(LODS)
    assert float(trainer.D.lod) == float(trainer.G_ema.lod) == 0.0
    assert recorder.adam_steps == [1, 2, 3, 1, 2, 1, 2]  # reset when the fade starts and when it ends

    recorder = Recorder()
    Trainer(_progan(4, "growth.batch_sizes={4: 8, 8: 16}"), data=tiny_images(), hooks=[recorder]).train()
    assert recorder.batches == [8, 8, 8, 16]


def test_batch_gpu_splits_each_resolutions_batch_afresh():
    """Per-resolution batches with batch_gpu: every micro-batch has batch_gpu images (none dropped, none empty)."""
    sizes = []
    trainer = Trainer(_progan(4, "growth.batch_sizes={4: 8, 8: 16}", "batch_gpu=4"), data=tiny_images())
    trainer.D.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    trainer.train()
    assert trainer.batch_size == 16 and trainer.accum == 4 and set(sizes) == {4}
    with pytest.raises(GankitError, match=r"growth.batch_sizes\[4\]: batch_gpu 4 must divide the per-process batch 6"):
        Trainer(_progan(1, "growth.batch_sizes={4: 6}", "batch_gpu=4"), data=tiny_images()).train()


def test_real_images_are_faded(images8):
    trainer = Trainer(_progan(1), data=images8)
    trainer.train()  # installs the transform; the first step ran at lod 1
    reals, _ = trainer.feeder.next(8)
    assert torch.equal(reals[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3), reals)


def test_resume_mid_fade_continues_the_same_lod(tmp_path):
    """Stopped inside the fade (lod 0.8) and resumed == straight through, bit for bit."""
    data = tiny_images()
    straight = Trainer(_progan(7), tmp_path / "a", data=data).train()
    Trainer(_progan(4), tmp_path / "b", data=data).train()
    tensors = load_checkpoint(tmp_path / "b").tensors
    assert {k: float(v) for k, v in tensors.items() if k.endswith(".lod")} == pytest.approx(
        {"G.lod": 0.8, "D.lod": 0.8, "G_ema.lod": 0.8})
    recorder = Recorder()
    resumed = Trainer.resume(tmp_path / "b", ["steps=7"], data=data, hooks=[recorder])
    assert float(resumed.G.lod) == pytest.approx(0.8)
    resumed.train()
    assert recorder.lods == pytest.approx(LODS[4:]) and recorder.adam_steps == [2, 1, 2]
    a, b = straight.models(), resumed.models()
    for name in a:
        for (key, x), y in zip(a[name].state_dict().items(), b[name].state_dict().values()):
            assert torch.equal(x, y), f"{name}.{key}"


def test_growth_needs_a_growing_model_and_valid_sizes(images8):
    with pytest.raises(GankitError, match="growing model"):
        Trainer(tiny_config("dcgan", *GROW, steps=1), data=images8).train()
    with pytest.raises(GankitError, match="powers of two"):
        Trainer(_progan(1, "growth.start_resolution=16"), data=images8).train()
