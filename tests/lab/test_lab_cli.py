"""`gankit lab ... --quick` runs each lab end to end and writes the three report files."""
import json
import math

import pytest
from typer.testing import CliRunner

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
        assert all(0 < r["modes"] <= 1000 and r["reverse_kl"] >= 0 for r in lab_results["rows"])
    elif key == "convergence":  # deterministic: no seeds
        assert len(lab_results["methods"]) == 6 and lab_results["compute"]["steps"] == 200
    else:
        assert lab_results["seeds"] and lab_results["compute"]


def test_unknown_protocol_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["lab", "divergences", "--protocol", "huge", "--out", str(tmp_path)])
    assert result.exit_code != 0


def test_stacked_modes_counts_and_kl():
    import torch

    from gankit.lab.stacked_modes import mode_statistics

    uniform = mode_statistics(torch.arange(1000).repeat(3))
    assert uniform["modes"] == 1000 and abs(uniform["reverse_kl"]) < 1e-9
    collapsed = mode_statistics(torch.full((50,), 7))
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(1000))


def test_stacked_fashion_mnist_stacks_three_images_and_labels_their_mode():
    import torch

    from gankit.data.stacked import stack_channels

    images = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 1, 2, 2).contiguous()  # image i is all i
    labels = torch.tensor([3, 1, 4, 1])
    stacked, modes = stack_channels(images, labels, 6, seed=0)
    assert stacked.shape == (6, 3, 2, 2)
    for x, mode in zip(stacked, modes):
        picked = x[:, 0, 0].long()  # which image went into each channel
        assert mode == labels[picked[0]] * 100 + labels[picked[1]] * 10 + labels[picked[2]]
