"""benchmarks/fid_per_cpu_minute.py: results kept after every run, and several results files on one figure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fid_per_cpu_minute.py"
FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def _results(path: Path, name: str, fids: list[float]) -> Path:
    curve = [{"min": 4.0 * (i + 1), "kimg": 10.0 * (i + 1), "fid": f} for i, f in enumerate(fids)]
    path.write_text(json.dumps({"args": {}, "results": {name: [{"seed": 0, "overrides": [], "curve": curve}]}}))
    return path


def test_plot_merges_results_files_without_training(tmp_path):
    a = _results(tmp_path / "a.json", "dcgan", [30.0, 20.0])
    b = _results(tmp_path / "b.json", "r3gan", [110.0, 90.0])
    done = _run("--plot", str(a), str(b), "--out", str(tmp_path / "fig"))
    assert done.returncode == 0, done.stderr
    assert "dcgan, r3gan" in done.stdout
    assert (tmp_path / "fig" / "fid_per_cpu_minute.png").stat().st_size > 1000


@pytest.mark.skipif(not FMNIST.is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
def test_results_are_written_after_each_run(tmp_path):
    done = _run("--presets", "dcgan", "--kimg", "0.128", "--every-kimg", "0.128", "-n", "200", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    runs = json.loads((tmp_path / "results.json").read_text())["results"]["dcgan"]
    assert [p["kimg"] for p in runs[0]["curve"]] == [0.1] and runs[0]["curve"][0]["fid"] > 0
    assert (tmp_path / "fid_per_kimg.png").is_file()


def test_case_overrides_keep_the_commas_of_a_list():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from fid_per_cpu_minute import parse_case
    finally:
        sys.path.pop(0)
    assert parse_case("wide:r3gan:G.widths=[128,128,64,32],reg.r2.gamma=0,D.widths=[8, 8]") == (
        "wide", "r3gan", ("G.widths=[128,128,64,32]", "reg.r2.gamma=0", "D.widths=[8, 8]"))
    assert parse_case("plain:dcgan") == ("plain", "dcgan", ())
