"""optim.lr_decay: the cosine factor's closed form, the hook on a real run, resume and config checks."""
import math

import pytest

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.training.lr_schedule import cosine_factor
from gankit.training.trainer import Trainer

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
