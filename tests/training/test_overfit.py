"""holdout=N and D's mean sign on training vs held-out reals."""
from __future__ import annotations

import json

import pytest
import torch

from gankit.errors import GankitError
from gankit.training import Trainer
from gankit.training.eval_hook import summary_lines
from gankit.training.overfit import mean_sign, split_holdout
from tests.conftest import tiny_config, tiny_images


def test_split_is_seeded_disjoint_and_complete():
    data = tiny_images(n=40, resolution=8)
    train, held = split_holdout(data, 10, seed=1)
    again, held_again = split_holdout(data, 10, seed=1)
    assert len(train) == 30 and len(held) == 10 and torch.equal(held.images, held_again.images)
    rows = {tuple(x.flatten().tolist()) for x in torch.cat([train.images, held.images])}
    assert len(rows) == 40  # every image once
    assert not torch.equal(split_holdout(data, 10, seed=2)[1].images, held.images)
    with pytest.raises(GankitError, match="holdout=40"):
        split_holdout(data, 40, seed=1)


class SignByBrightness(torch.nn.Module):
    """A fake D: 'real' (positive) when the image's mean is above 0."""

    c_dim = 0

    def forward(self, x, c=None):
        return x.mean((1, 2, 3))


def test_mean_sign_of_a_fake_d():
    data = tiny_images(n=8, resolution=4, classes=0)
    data.images[:6] = 255  # six bright images (+1), two dark (-1)
    data.images[6:] = 0
    assert mean_sign(SignByBrightness(), data, torch.arange(8), torch.device("cpu"), batch_size=3) == pytest.approx(0.5)
    assert mean_sign(SignByBrightness(), data, torch.arange(5, 8), torch.device("cpu"), batch_size=4) == pytest.approx(-1 / 3)


def test_holdout_works_with_a_minibatch_stddev_d(tmp_path):
    """Regression: D (minibatch-stddev groups of 4) was scored in batches of 250 and the run crashed."""
    data = tiny_images(n=31, resolution=16, classes=0)
    trainer = Trainer(tiny_config("stylegan2", "data.holdout=13", "batch_size=8", steps=1), tmp_path / "run",
                      data=data).train()
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(trainer.holdout_data) == 13 and record["metric"] == "d_sign"


def test_holdout_run_writes_the_sign_gap_beside_the_metrics(tmp_path):
    data = tiny_images(n=48, resolution=8, classes=0)
    trainer = Trainer(tiny_config("dcgan", "data.holdout=16", steps=2), tmp_path / "run", data=data).train()
    assert len(trainer.data) == 32 and len(trainer.holdout_data) == 16
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert record["metric"] == "d_sign" and record["protocol"]["n_holdout"] == 16
    assert record["d_sign_gap"] == pytest.approx(record["d_sign_train"] - record["d_sign_holdout"])
    assert all(-1 <= record[k] <= 1 for k in ("d_sign_train", "d_sign_holdout"))
    assert any("d_sign_gap" in line for line in summary_lines(tmp_path / "run" / "metrics.jsonl"))
