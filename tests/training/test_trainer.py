"""The trainer: a resumed run takes its config's optimizer values, not the checkpoint's; a diverging run stops in
one line and never writes a diverged checkpoint."""
import json
import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.runs.checkpoint import first_bad_tensor, list_checkpoints, load_checkpoint
from gankit.training import Trainer
from gankit.training.trainer import Diverged
from tests.conftest import run_cli, tiny_config, tiny_images

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


HUGE_LR = ["optim.G.lr=1e6", "optim.D.lr=1e6"]


def _all_finite(run_dir) -> bool:
    return all(first_bad_tensor(load_checkpoint(c).tensors) is None for c in list_checkpoints(run_dir))


def test_a_nan_loss_stops_toy_training_with_one_line(tmp_path):
    """toy-wgan-gp at lr 1e6 (the issue's reproduction, shrunk): NaN within a few steps."""
    cfg = tiny_config("toy-wgan-gp", *HUGE_LR, "log.every=5", "checkpoint.kimg=0.016", steps=50, batch=8)
    with pytest.raises(Diverged) as err:
        Trainer(cfg, tmp_path / "run").train()
    message = str(err.value)
    assert "\n" not in message and message.startswith("training diverged at step ")
    assert "loss/" in message or "reg/" in message or "weight" in message or "bias" in message
    assert "lower learning rate" in message and "optim.G.lr=1e+05" in message
    assert int(message.split("step ")[1].split(":")[0]) < 50  # stopped early, not at the end
    assert _all_finite(tmp_path / "run")  # never a NaN checkpoint


def test_exploding_dcgan_weights_stop_the_run(tmp_path):
    """dcgan at lr 1e6 keeps finite losses of ~1e14 and weights of ~1e31: caught by magnitude."""
    cfg = tiny_config("dcgan", *HUGE_LR, "log.every=1000", "checkpoint.kimg=0.04", steps=30)
    with pytest.raises(Diverged, match="beyond 1e\\+12|is [0-9.]+e\\+"):
        Trainer(cfg, tmp_path / "run", data=tiny_images()).train()
    assert _all_finite(tmp_path / "run")


def test_diverged_message_names_the_last_good_checkpoint_and_resume_lowers_lr(tmp_path):
    data = tiny_images()
    cfg = tiny_config("dcgan", "checkpoint.kimg=0.016", steps=2)
    Trainer(cfg, tmp_path / "run", data=data).train()

    trainer = Trainer.resume(tmp_path / "run", ["steps=4"], data=data)
    with torch.no_grad():
        next(trainer.G.parameters()).fill_(float("nan"))
    with pytest.raises(Diverged, match=f"last good checkpoint is {tmp_path / 'run' / 'checkpoints' / '00000002'}.*--resume"):
        trainer.train()
    resumed = Trainer.resume(tmp_path / "run", ["steps=4", "optim.G.lr=1e-5", "optim.D.lr=3e-5"], data=data)
    assert resumed.state.step == 2
    assert {g["lr"] for g in resumed.opt_G.param_groups} == {1e-5}  # the checkpoint's optimizer state kept its own lr
    assert {g["lr"] for g in resumed.opt_D.param_groups} == {3e-5}
    assert resumed.train().state.step == 4


def test_cli_exits_2_with_one_line_no_checkpoint_and_a_strict_json_log(monkeypatch, capsys, tmp_path):
    """No log interval falls inside the run: the final log line holds the NaN losses (as null), the
    final checkpoint is refused."""
    code, out, err = run_cli(monkeypatch, capsys, "train", "toy-wgan-gp", *HUGE_LR, "steps=20", "batch_size=8",
                             "log.every=1000", "log.progress=false", "eval.kimg=0", "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: training diverged at step 20: ")
    assert "done:" not in out and list_checkpoints(tmp_path / "run") == []
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in log.jsonl")) for line in lines]
    assert records[-1]["loss/D"] is None
