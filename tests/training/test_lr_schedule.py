"""optim.lr_decay and R3GAN's schedule.*: closed forms, the hooks on real runs, resume and config checks."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.training.cosine import cosine_factor, cosine_value, ema_half_life_kimg
from gankit.training.trainer import Trainer
from tests.conftest import tiny_config, tiny_images

TINY = ["steps=4", "batch_size=16", "G.widths=[8]", "D.widths=[8]", "log.progress=false", "log.sample_kimg=0",
        "eval.kimg=0", "checkpoint.kimg=0", "optim.G.lr=1e-3", "optim.D.lr=2e-3"]


def test_cosine_factor_closed_form():
    assert cosine_factor(0.0, 0.1) == 1.0
    assert cosine_factor(1.0, 0.1) == pytest.approx(0.1)
    assert cosine_factor(0.5, 0.1) == pytest.approx(0.55)
    assert cosine_factor(0.25, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_factor(2.0, 0.3) == pytest.approx(0.3)  # clamped past the end


def test_hook_sets_lrs_from_configured_lr():
    t = Trainer(load_config("toy-gan", TINY + ["optim.lr_decay=0.1"])).train()
    factor = cosine_factor(3 / 4, 0.1)  # the lr of the last step (step index 3 of 4)
    assert t.opt_G.param_groups[0]["lr"] == pytest.approx(1e-3 * factor)
    assert t.opt_D.param_groups[0]["lr"] == pytest.approx(2e-3 * factor)
    assert t.opt_G.param_groups[0]["initial_lr"] == pytest.approx(1e-3)  # in the optimizer's state: resumes exactly


def test_no_decay_by_default_and_bad_values_rejected():
    t = Trainer(load_config("toy-gan", TINY)).train()
    assert t.opt_G.param_groups[0]["lr"] == pytest.approx(1e-3) and "initial_lr" not in t.opt_G.param_groups[0]
    for bad in ("0", "1.5"):
        with pytest.raises(GankitError, match="lr_decay"):
            load_config("toy-gan", [f"optim.lr_decay={bad}"])
    with pytest.raises(GankitError, match="lr_decay"):
        Trainer(load_config("toy-gan", TINY[1:] + ["steps=null", "seconds=5", "optim.lr_decay=0.5"])).train()


def _r3gan(run_dir, steps, data, *extra):
    cfg = tiny_config("r3gan", "schedule.kimg=0.064", "ema.kimg=0.05", "checkpoint.kimg=0.024", *extra, steps=steps)
    return Trainer(cfg, run_dir, data=data).train()


def test_cosine_schedules_follow_their_closed_forms():
    """lr, Adam beta2, the R1/R2 gammas and the EMA half-life at cur_nimg = (steps - 1)·batch, R3GAN's formula."""
    t = _r3gan(None, 5, tiny_images(resolution=8))
    progress = 4 * 8 / 64  # before the last step: 4 steps of 8 images over schedule.kimg = 64 images
    assert cosine_value(progress, 2.0, 0.5) == pytest.approx(0.5 + 1.5 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    for opt in (t.opt_G, t.opt_D):
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-4 * cosine_value(progress, 1.0, 0.25))
        assert opt.param_groups[0]["betas"] == pytest.approx((0.0, cosine_value(progress, 0.9, 0.99)))
    gammas = {r.name: r.weight for r in t.regularizers}
    assert gammas == pytest.approx({"r1": 0.05 * cosine_value(progress, 1, 0.1), "r2": 0.05 * cosine_value(progress, 1, 0.1)})
    assert ema_half_life_kimg(0.05, 0.064, True, 0) == 0.0 and ema_half_life_kimg(0.05, 0.064, True, 10**6) == 0.05
    assert ema_half_life_kimg(0.05, 0.064, False, 0) == 0.05
    with pytest.raises(GankitError, match="lr_decay"):
        load_config("r3gan", ["optim.lr_decay=0.5"])


def test_r3gan_resume_is_exact_through_the_schedules(tmp_path):
    data = tiny_images(resolution=8)
    straight = _r3gan(tmp_path / "a", 6, data)
    _r3gan(tmp_path / "b", 3, data)
    resumed = Trainer.resume(tmp_path / "b", ["steps=6"], data=data).train()
    for name, model in straight.models().items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, resumed.models()[name].state_dict()[key]), (name, key)
    assert resumed.opt_D.param_groups[0]["betas"] == straight.opt_D.param_groups[0]["betas"]
