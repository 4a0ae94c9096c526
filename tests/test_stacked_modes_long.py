"""benchmarks/stacked_modes_long.py: every checkpoint of a row scored, G and G_ema, and finished runs rescored."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "stacked_modes_long.py"
FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
TINY = ["--set", "G.base_channels=8", "--set", "D.base_channels=8", "--set", "batch_size=8", "-n", "64"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not FMNIST.is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
def test_every_checkpoint_of_g_and_g_ema_is_scored_and_a_finished_run_rescored(tmp_path):
    done = _run("--rows", "RpGAN + R1", "--steps", "6", "--every-kimg", "0.024", "--set", "ema.kimg=0.1", *TINY,
                "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    (run,) = results["runs"]
    assert run["row"] == "RpGAN + R1" and run["generator_steps"] == 6 and run["run"].endswith("rpgan-r1-seed0")
    scored = [(s["network"], s["step"]) for s in run["scores"]]  # checkpoints every 3 steps of 8 images
    assert scored == [("G", 3), ("G", 6), ("G_ema", 3), ("G_ema", 6)]
    assert all(1 <= s["modes"] <= 64 and s["reverse_kl"] > 0 and s["samples"] == 64 for s in run["scores"])
    last = run["scores"][1]
    assert last["cpu_min"] == pytest.approx(run["cpu_seconds"] / 60)
    assert 0 < results["training_data_kl"] < 7 and (tmp_path / "stacked_modes_long.png").stat().st_size > 1000

    again = _run("--score", run["run"], "-n", "64", "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again" / "results.json").read_text())["runs"][0]["scores"] == run["scores"]
    assert "step" not in again.stdout.split("training data")[0]  # nothing new to score


def test_bad_rows_and_unfinished_runs_are_one_line(tmp_path):
    done = _run("--rows", "WGAN", "--out", str(tmp_path))
    assert done.returncode == 2 and "unknown row 'WGAN'; choose from NS + R1; RpGAN + R1" in done.stderr
    assert "Traceback" not in done.stderr
    done = _run("--score", str(tmp_path))
    assert done.returncode == 2 and "no compute.json" in done.stderr and "Traceback" not in done.stderr
