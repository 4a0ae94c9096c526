"""The trainer's resume: a resumed run takes its config's optimizer values, not the checkpoint's."""
import math

import pytest

from gankit.errors import GankitError
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images

# Lazy R1 every 4 D steps: D's Adam runs with lr*c and betas**c, c = 4/5 (StyleGAN2's compensation).
LAZY = ("reg.r1.gamma=1.0", "reg.r1.interval=4", "checkpoint.kimg=0.016")


def _run(tmp_path):
    data = tiny_images()
    Trainer(tiny_config("dcgan", *LAZY, steps=2), tmp_path / "run", data=data).train()
    return data


def test_resume_applies_new_optimizer_values_with_lazy_compensation(tmp_path):
    data = _run(tmp_path)
    same = Trainer.resume(tmp_path / "run", ["steps=4"], data=data)
    assert same.opt_D.param_groups[0]["lr"] == pytest.approx(same.cfg.optim.D.lr * 0.8)
    resumed = Trainer.resume(tmp_path / "run", ["steps=4", "optim.G.lr=0.001", "optim.D.lr=0.003",
                                                "optim.D.betas=[0.25,0.5]", "optim.lr_decay=0.5"], data=data)
    assert resumed.opt_G.param_groups[0]["lr"] == pytest.approx(0.001)
    d = resumed.opt_D.param_groups[0]
    assert d["lr"] == pytest.approx(0.003 * 0.8) and d["betas"] == pytest.approx((0.25 ** 0.8, 0.5 ** 0.8))
    assert resumed.opt_D.state  # Adam's moments are kept
    resumed.train()  # the lr schedule starts from the new lr: cosine factor 0.5 at the end of 4 steps
    assert resumed.opt_D.param_groups[0]["lr"] == pytest.approx(0.003 * 0.8 * (0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi * 3 / 4))))


def test_resume_refuses_another_optimizer(tmp_path):
    data = _run(tmp_path)
    with pytest.raises(GankitError, match=r"optim.D.name cannot change when resuming \(adam -> sgd\)"):
        Trainer.resume(tmp_path / "run", ["optim.D.name=sgd"], data=data)
