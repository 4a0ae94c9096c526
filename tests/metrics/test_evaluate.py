"""The evaluation pipeline: equivalences with the floor, exact label accuracy, mode coverage, clear errors."""
import math

import pytest
import torch
from PIL import Image

from gankit.data import gaussian_mixture, load_dataset
from gankit.errors import GankitError
from gankit.metrics.evaluate import EvalContext, FolderSource, GeneratorSource, evaluate, format_report, parse_metrics
from gankit.registry import METRICS
from tests.metrics.eval_fixtures import ClassBrightnessG, PointsG, make_idx_data


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return make_idx_data(tmp_path / "data")


def context(source, data, metrics, **kwargs):
    kwargs.setdefault("extractor_name", "test-tiny")
    return EvalContext(source, str(data), parse_metrics(metrics), progress=False, **kwargs)


def write_split_as_pngs(data_dir, split, out, by_class=False):
    """The split's images as PNG files in index order (optionally in class sub-folders)."""
    data = load_dataset(data_dir, split=split)
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        folder = out / f"c{int(label)}" if by_class else out
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(folder / f"{i:05d}.png")
    return out


def test_registry_holds_every_metric():
    assert {"fid", "kid", "is", "pr", "dc", "acc", "modes"} <= set(METRICS.names())


def test_real_train_images_as_fakes_score_exactly_the_floor(data_dir, tmp_path):
    """A folder holding the whole train split, evaluated against test, is the real-vs-real floor itself."""
    folder = write_split_as_pngs(data_dir, "train", tmp_path / "pngs")
    report = evaluate(context(FolderSource(folder), data_dir, "fid,kid,is,pr,dc"), n=120)
    for name, result in report["results"].items():
        assert result["protocol"]["n_fake"] == 120 == result["protocol"]["n_floor"]
        assert result["values"] == pytest.approx(result["floor"], rel=1e-9, abs=1e-12), name
    assert report["split"] == "test" and report["floor_split"] == "train"
    assert report["results"]["fid"]["protocol"]["n_real"] == 60
    assert report["results"]["fid"]["values"]["fid"] > 0  # train and test differ


def test_label_accuracy_is_exact_and_per_class(data_dir):
    good = context(GeneratorSource(ClassBrightnessG()), data_dir, "acc", weights="brightness=1")
    result = evaluate(good, n=50)["results"]["acc"]
    assert result["values"]["acc"] == 1.0 and all(result["values"][f"acc/{k}"] == 1.0 for k in range(10))
    assert result["floor"]["acc"] == 1.0  # the classifier on real images of the other split
    swapped = list(range(10))
    swapped[3], swapped[7] = 7, 3  # G draws class 7 when asked for 3, and 3 for 7
    bad = context(GeneratorSource(ClassBrightnessG(permutation=swapped)), data_dir, "acc", weights="brightness=1")
    values = evaluate(bad, n=50)["results"]["acc"]["values"]
    assert values["acc/3"] == 0.0 and values["acc/7"] == 0.0 and values["acc"] == pytest.approx(0.8)


def test_mode_coverage_of_a_toy_generator_and_its_floor():
    ring = gaussian_mixture(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), 0.01, name="four")
    full = context(GeneratorSource(PointsG(ring.means)), "ring", "modes", toy_data=ring)
    result = evaluate(full)["results"]["modes"]
    assert result["protocol"]["n_fake"] == 2500  # GUIDE §6
    assert result["values"]["modes_covered"] == 4 and result["values"]["high_quality"] == 1.0
    assert result["floor"]["modes_covered"] == 4 and result["floor"]["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # 2-D: P(r < 3 std)
    half = context(GeneratorSource(PointsG(ring.means, use=2)), "ring", "modes", toy_data=ring)
    values = evaluate(half, n=400)["results"]["modes"]["values"]
    assert values["modes_covered"] == 2 and values["reverse_kl"] == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=0.02)


def test_same_seed_same_numbers_other_seed_other_numbers(data_dir):
    G = ClassBrightnessG()
    G.scale.data.fill_(0.3)
    run = lambda seed: evaluate(context(GeneratorSource(G), data_dir, "fid,pr", seed=seed), n=40)["results"]  # noqa: E731
    a, b, c = run(0), run(0), run(1)
    assert a == b
    assert a["fid"]["values"] != c["fid"]["values"]
    assert a["fid"]["floor"] == c["fid"]["floor"]


def test_report_table_shows_values_beside_the_floor(data_dir):
    report = evaluate(context(GeneratorSource(ClassBrightnessG()), data_dir, "fid,is"), n=30)
    table = format_report(report)
    assert "floor (train vs test)" in table and "is" in table and "±" in table
    assert table.splitlines()[2].split()[0] == "fid"


def test_unknown_and_inapplicable_metrics_are_one_line_errors(data_dir, tmp_path):
    with pytest.raises(GankitError, match="unknown metric 'fidd'; valid: ") as err:
        parse_metrics("fid,fidd")
    assert all(name in str(err.value) for name in ("acc", "dc", "fid", "is", "kid", "modes", "pr"))
    uncond = GeneratorSource(ClassBrightnessG(c_dim=0))
    with pytest.raises(GankitError, match="acc needs a conditional generator"):
        evaluate(context(uncond, data_dir, "fid,acc"), n=20)
    with pytest.raises(GankitError, match="generator has 5 classes|samples have 10 classes but extractor 'test-tiny' classifies 5"):
        evaluate(context(GeneratorSource(ClassBrightnessG()), data_dir, "acc", weights="classes=5"), n=20)
    with pytest.raises(GankitError, match="is needs an extractor with class logits"):
        evaluate(context(GeneratorSource(ClassBrightnessG()), data_dir, "is", weights="classes=0"), n=20)
    toy = GeneratorSource(PointsG(torch.zeros(3, 2)))
    with pytest.raises(GankitError, match="'fid' measures image samples.*use modes"):
        evaluate(context(toy, "ring", "fid"), n=20)
    with pytest.raises(GankitError, match="'modes' measures vector samples"):
        evaluate(context(GeneratorSource(ClassBrightnessG()), data_dir, "modes"))
    folder = write_split_as_pngs(data_dir, "test", tmp_path / "pngs")
    with pytest.raises(GankitError, match="has no split 'test'"):
        evaluate(context(GeneratorSource(ClassBrightnessG()), folder, "fid", split="test"), n=20)


def test_a_dataset_with_one_split_has_no_floor(data_dir, tmp_path):
    folder = write_split_as_pngs(data_dir, "test", tmp_path / "pngs")  # an image folder has one split
    report = evaluate(context(GeneratorSource(ClassBrightnessG()), folder, "fid"), n=30)
    assert report["split"] == "train" and report["floor_split"] is None
    assert report["results"]["fid"]["floor"] is None and "floor (one split: none)" in format_report(report)


def test_a_metric_of_G_alone_needs_no_dataset_or_extractor():
    """A Metric with reference=False (as eqt) runs without loading data, reference or extractor."""
    from gankit.metrics.evaluate import Metric

    mean_pixel = Metric("mean_pixel", "mean pixel of n samples", "image",
                        lambda ctx, n: ({"mean_pixel": float(torch.cat([x for x, _ in ctx.source.batches(n, torch.Generator())]).mean())}, None))
    ctx = EvalContext(GeneratorSource(ClassBrightnessG()), "/no/such/data", [mean_pixel], extractor_name="no-such-extractor")
    report = evaluate(ctx, n=20)
    assert report["results"]["mean_pixel"]["values"]["mean_pixel"] == pytest.approx(-0.9 + 0.2 * 4.5, abs=0.02)
    assert "split" not in report and "mean_pixel" in format_report(report)


class DivergedG(ClassBrightnessG):
    """ClassBrightnessG whose sample `bad_at` (counted over the whole evaluation) is `value` everywhere."""

    def __init__(self, bad_at: int, value: float) -> None:
        super().__init__()
        self.bad_at, self.value, self.seen = bad_at, value, 0

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = super().forward(z, c).clone()
        if self.seen <= self.bad_at < self.seen + len(z):
            x[self.bad_at - self.seen] = self.value
        self.seen += len(z)
        return x


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_generator_images_are_one_clear_error_naming_the_sample(data_dir, value):
    """NaN once gave a linear-algebra traceback from FID and coverage 0.0; Inf was clamped to 1 unseen."""
    for metrics in ("fid", "dc", "acc"):
        ctx = context(GeneratorSource(DivergedG(bad_at=37, value=value)), data_dir, metrics, batch_size=16)
        with pytest.raises(GankitError, match="generator produced non-finite .* images at sample 37"):
            evaluate(ctx, n=60)


def test_non_finite_features_name_the_extractor(data_dir, monkeypatch):
    from tests.metrics.tiny_extractor import TinyExtractor

    real_forward = TinyExtractor.forward
    monkeypatch.setattr(TinyExtractor, "forward", lambda self, x: (real_forward(self, x)[0] / 0 * 0, None))
    with pytest.raises(GankitError, match="extractor 'test-tiny' gave non-finite features at sample 0"):
        evaluate(context(GeneratorSource(ClassBrightnessG()), data_dir, "fid"), n=20)


def test_stylegan_metrics_draw_fresh_noise_reproducibly():
    """StyleGAN 1/2 are sampled with random per-pixel noise (the official protocol), drawn from the
    evaluation generator: two samples of one z differ, the same seed repeats, G's own stream is kept."""
    from gankit.config import load_config
    from gankit.models import build_models, resolve_model_options
    from tests.conftest import TINY, tiny_images

    for model in ("stylegan", "stylegan2"):
        cfg = load_config(model, TINY[model])
        resolve_model_options(cfg, tiny_images(n=4, resolution=8))
        G, _ = build_models(cfg)
        for m in G.modules():  # noise that matters: the tiny G starts with zero noise strengths
            for name in ("noise_strength", "noise_weight"):
                if isinstance(getattr(m, name, None), torch.nn.Parameter):
                    getattr(m, name).data.fill_(1.0)
        G.eval()
        own = torch.Generator()
        G.set_noise_generator(own)
        source = GeneratorSource(G)
        draw = lambda: torch.cat([x for x, _ in source.batches(4, torch.Generator().manual_seed(5), batch_size=2)])  # noqa: E731
        first, again = draw(), draw()
        assert torch.equal(first, again)
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5))  # the stream's first batch of z
        const = G(z).clamp(-1, 1)  # eval-mode default: the layers' constant noise
        assert not torch.allclose(first[:2], const, atol=1e-4), model
        assert G.noise_generator is own and G.synthesis.generator is own
