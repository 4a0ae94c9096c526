"""`make demo` ends with a number: the run's FID, precision and recall beside the real-vs-real floor."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_demo_trains_then_evaluates_the_run():
    plan = subprocess.run(["make", "-n", "-o", ".venv/.installed", "demo"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.splitlines()
    train = next(i for i, line in enumerate(plan) if "gankit train dcgan" in line and "--out runs/demo" in line)
    evaluate = next(i for i, line in enumerate(plan) if "gankit eval runs/demo" in line)
    assert evaluate > train and "--metrics fid,pr" in plan[evaluate] and "-n 2000" in plan[evaluate]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_lpips_installs_the_calibration_package_without_its_dependencies():
    plan = subprocess.run(["make", "-n", "-o", ".venv/.installed", "lpips"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert "pip install" in plan and "--no-deps lpips==0.1.4" in plan and "torchvision" not in plan
