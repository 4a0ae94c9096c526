"""Periodic evaluation: it never changes training, it writes metrics.jsonl/metrics.png, resume truncates."""
import json
import shutil

import pytest
import torch

import gankit
from gankit.metrics.evaluate import EvalContext, GeneratorSource, evaluate, parse_metrics
from gankit.training import Trainer
from gankit.runs.checkpoint import load_checkpoint
from tests.conftest import tiny_config
from tests.metrics.eval_fixtures import make_idx_data

EVAL = ["eval.metrics=[fid,is]", "eval.extractor=test-tiny", "eval.n=24", "eval.batch_size=10"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return make_idx_data(tmp_path / "data")


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v.clone() for name, model in trainer.models().items() for k, v in model.state_dict().items()}


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_evaluation_never_changes_training(data_dir, tmp_path):
    base = ["ema.kimg=0.01", f"data={data_dir}"]  # BatchNorm in G and D, an EMA copy: all must match
    off = Trainer(tiny_config("dcgan", *base, steps=4), tmp_path / "off").train()
    global_off = torch.get_rng_state()
    on = Trainer(tiny_config("dcgan", *base, "eval.kimg=0.008", *EVAL, steps=4), tmp_path / "on").train()
    assert torch.equal(torch.get_rng_state(), global_off)
    a, b = weights(off), weights(on)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("data", "latent", "noise", "eval"):
        assert torch.equal(getattr(off.rng, name).get_state(), getattr(on.rng, name).get_state())
    assert not (tmp_path / "off" / "metrics.jsonl").exists()
    lines = records(tmp_path / "on")
    assert [(r["step"], r["metric"]) for r in lines] == [(s, m) for s in (1, 2, 3, 4) for m in ("fid", "is")]
    assert all(r["protocol"]["n_fake"] == 24 and r["floor"] is not None for r in lines)
    assert (tmp_path / "on" / "metrics.png").stat().st_size > 0
    assert "| fid |" in (tmp_path / "on" / "summary.md").read_text()


def test_final_record_equals_gankit_eval_of_the_checkpoint(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    Trainer(tiny_config("cdcgan", f"data={data_dir}", "eval.kimg=1", *EVAL, steps=3), run_dir).train()
    (fid, is_) = records(run_dir)
    G = gankit.load(run_dir)
    ctx = EvalContext(GeneratorSource(G), str(data_dir), parse_metrics("fid,is"), extractor_name="test-tiny",
                      seed=G.config.seed, batch_size=10, progress=False)
    report = evaluate(ctx, n=24)["results"]
    assert fid["fid"] == report["fid"]["values"]["fid"] and is_["is"] == report["is"]["values"]["is"]
    assert fid["floor"] == report["fid"]["floor"]


def test_resume_truncates_metrics_and_continues(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    extra = [f"data={data_dir}", "eval.kimg=0.008", *EVAL, "checkpoint.kimg=0.016"]
    Trainer(tiny_config("dcgan", *extra, steps=3), run_dir).train()  # checkpoints at steps 2 and 3 (end)
    ckpt = load_checkpoint(run_dir / "checkpoints" / "00000002")
    (run_dir / "checkpoints" / "latest").write_text("00000002\n")
    shutil.rmtree(run_dir / "checkpoints" / "00000003")  # as if the run had died after step 3's evaluation
    assert ckpt.state["counters"]["step"] == 2
    Trainer.resume(run_dir, ["steps=4"]).train()
    steps = [r["step"] for r in records(run_dir) if r["metric"] == "fid"]
    assert steps == [1, 2, 3, 4]


def test_misconfigured_evaluation_fails_at_start(data_dir, tmp_path):
    from gankit.errors import GankitError

    cfg = tiny_config("dcgan", f"data={data_dir}", "eval.kimg=1", "eval.metrics=[acc]", "eval.extractor=test-tiny")
    with pytest.raises(GankitError, match="acc needs a conditional generator"):
        Trainer(cfg, tmp_path / "run").train()
    with pytest.raises(GankitError, match="unknown feature extractor 'nope'"):
        Trainer(tiny_config("dcgan", f"data={data_dir}", "eval.kimg=1", "eval.extractor=nope"), tmp_path / "r1").train()
    with pytest.raises(GankitError, match="unknown metric 'nope'"):
        Trainer(tiny_config("dcgan", f"data={data_dir}", "eval.kimg=1", "eval.metrics=[nope]"), tmp_path / "r2")


def test_toy_preset_writes_mode_coverage(tmp_path):
    run_dir = tmp_path / "toy"
    Trainer(tiny_config("toy-gan", "eval.kimg=0.016", steps=3, batch=8), run_dir).train()
    lines = records(run_dir)
    assert [r["step"] for r in lines] == [2, 3] and all(r["metric"] == "modes" for r in lines)
    assert lines[-1]["num_modes"] == 8 and lines[-1]["protocol"]["n_fake"] == 2500 and lines[-1]["floor"]["modes_covered"] == 8
    assert "modes_covered" in (run_dir / "summary.md").read_text()
    # three steps in, no sample is near a mode: reverse KL is infinite, stored as null and explained
    assert lines[-1]["reverse_kl"] is None and "Infinity" not in (run_dir / "metrics.jsonl").read_text()
    assert "| reverse_kl | inf (no sample within 3 std of a mode) |" in (run_dir / "summary.md").read_text()
