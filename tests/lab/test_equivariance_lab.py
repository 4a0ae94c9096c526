import json

from PIL import Image

from gankit.lab import equivariance as lab


def test_quick_lab_writes_the_gif_and_scores(tmp_path, monkeypatch):
    monkeypatch.setitem(lab.PROTOCOLS, "quick", {"train_seconds": 0, "n": 4, "frames": 4, "samples": 1})
    section = lab.run(tmp_path, "quick", progress=False)
    gif = Image.open(tmp_path / "equivariance.gif")
    assert gif.n_frames == 4 and gif.size[1] == 4 * (3 * 32 + 4 * 2)  # 3 rows of 32 px, padding 2, ×4
    scores = section.results["scores_db"]
    assert set(scores) == {name for name, _, _ in lab.MODELS}
    sg2, sg3t, sg3r = (scores[name] for name, _, _ in lab.MODELS)
    assert sg3t["eqt"] > sg2["eqt"] + 20 and sg3r["eqr"] > sg2["eqr"] + 20
    assert "EQ-T" in section.markdown and json.dumps(section.results)
