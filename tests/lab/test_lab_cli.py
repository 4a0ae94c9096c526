"""`gankit lab ... --quick` runs each lab end to end and writes the three report files."""
import json

import pytest
from typer.testing import CliRunner

import gankit
from gankit.cli import app


@pytest.mark.parametrize("lab, key", [("divergences", "divergences"), ("vanishing-gradients", "vanishing_gradients"),
                                      ("mode-collapse", "mode_collapse"), ("convergence", "convergence"), ("stacked-modes", "stacked_modes")])
def test_quick_lab_writes_report(tmp_path, lab, key):
    result = CliRunner().invoke(app, ["lab", lab, "--quick", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").read_text().startswith("# gankit lab report")
    assert "<table>" in (tmp_path / "report.html").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    lab_results = results["labs"][key]
    assert results["protocol"] == "quick"
    for figure in tmp_path.glob("*.png"):
        assert figure.stat().st_size > 1000
    if key == "mode_collapse":
        runs = lab_results["runs"]
        assert {r["dataset"] for r in runs} == {"ring", "grid", "bimodal"}
        assert all(r["seeds"] and r["generator_steps"] == 10 and r["cpu_seconds"] > 0 for r in runs)
        assert all(0 <= r["high_quality"]["mean"] <= 1 for r in runs)
    elif key == "stacked_modes":
        assert [r["row"] for r in lab_results["rows"]] == ["NS + R1", "RpGAN + R1", "RpGAN + R1 + R2"]
        assert all(0 < r["modes"] <= 1000 and r["reverse_kl"] >= 0 and 0 <= r["confident"] <= 1 for r in lab_results["rows"])
        assert lab_results["training_data"]["confident"] > 0.3  # real stacks: most channels classified with confidence
        for row in ("ns-r1", "rpgan-r1", "rpgan-r1-r2"):  # each row a run: its G_ema reloads to be rescored
            assert gankit.load(tmp_path / "stacked_modes_runs" / row).z_dim > 0
        kept_rows = json.loads((tmp_path / "stacked_modes_rows.json").read_text())  # written as each row ends
        assert [(r["row"], r["modes"]) for r in kept_rows] == [(r["row"], r["modes"]) for r in lab_results["rows"]]
    elif key == "convergence":  # deterministic: no seeds
        assert len(lab_results["methods"]) == 6 and lab_results["compute"]["steps"] == 200
    else:
        assert lab_results["seeds"] and lab_results["compute"]


def test_unknown_protocol_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["lab", "divergences", "--protocol", "huge", "--out", str(tmp_path)])
    assert result.exit_code != 0
