"""The evaluation pipeline: sample sources, the metric registry, the real-vs-real floor and the report.

`evaluate(EvalContext(source, data, metrics), n)` streams generated (or folder) images through a feature
extractor into FeatureSets, compares them with the cached reference split of a dataset, and
computes each metric twice: for the samples, and for real images of the dataset's other split
(the real-vs-real floor, same count), so every number is printed beside what a perfect generator
would score under the same protocol. Vector (toy) runs are measured by `modes` (GUIDE §6).

A metric is one registration in `gankit.registry.METRICS`: a `Metric` whose `run(ctx, n)` returns
(values, floor values or None). `feature_metric` builds the common kind, a function of
(samples' FeatureSet, reference FeatureSet) applied to both fakes and the floor set. Latents come
from a dedicated generator seeded like the run's `eval` RNG stream (`eval_seed`), so the same run,
seed and batch size give the same numbers, in `gankit eval` and in the training hook alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from gankit.errors import GankitError
from gankit.metrics import equivariance, ppl
from gankit.metrics.base import IMAGE_N, Metric, eval_seed
from gankit.metrics.frechet import frechet_distance
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kernel_inception_distance
from gankit.metrics.modes import mode_coverage
from gankit.metrics.prdc import prdc
from gankit.metrics.reference import RAW_ITEMS, FeatureSet, cached_values, extract, key_hash, real_feature_set
from gankit.metrics.stats import first_non_finite
from gankit.registry import METRICS

EVAL_BATCH = 250
TOY_N = 2_500  # GUIDE §6: mode coverage of 2,500 samples
ModelBatches = Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]


# ---- what is evaluated ------------------------------------------------------------------------
class GeneratorSource:
    """Samples of a generator: z from the evaluation generator, balanced classes 0..c_dim-1 cycling."""

    def __init__(self, G: torch.nn.Module, description: str = "generator") -> None:
        self.G = G
        self.description = description
        self.kind = "vector" if G.is_vector else "image"
        self.num_classes = G.c_dim
        self.resolution = None if G.is_vector else G.img_resolution
        self.channels = None if G.is_vector else G.img_channels
        self.max_count: Optional[int] = None

    @torch.no_grad()
    def batches(self, n: int, generator: torch.Generator, batch_size: int = EVAL_BATCH) -> ModelBatches:
        """(samples [b, C, H, W] in [-1, 1] or [b, D], class labels [b] or None), `n` in all.

        StyleGAN 1/2 generators (those with per-pixel noise inputs) draw fresh noise per sample, as
        the official metrics do, from `generator` too (their constant eval-mode noise would score
        one noise realisation)."""
        device = next(self.G.parameters()).device
        noisy = hasattr(self.G, "set_noise_generator")
        kwargs = {"noise_mode": "random"} if noisy else {}
        previous = getattr(self.G, "noise_generator", None)
        if noisy:
            self.G.set_noise_generator(generator)
        try:
            yield from self._batches(n, generator, batch_size, device, kwargs)
        finally:
            if noisy:
                self.G.set_noise_generator(previous)

    def _batches(self, n: int, generator: torch.Generator, batch_size: int, device: torch.device, kwargs: dict) -> ModelBatches:
        """The batches of `batches`, G called with `kwargs`; non-finite samples raise before the clamp."""
        from gankit.models import one_hot

        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = torch.randn(b, self.G.z_dim, generator=generator)  # [b, z_dim]
            labels = torch.arange(start, start + b) % self.num_classes if self.num_classes else None  # [b]
            c = one_hot(labels, self.num_classes, b, device) if labels is not None else None
            x = self.G(z.to(device), c, **kwargs).float()
            bad = first_non_finite(x)
            if bad is not None:  # checked before the clamp, which would turn ±Inf into ±1
                raise GankitError(f"the generator produced non-finite (NaN or Inf) images at sample {start + bad}; "
                                  "its weights have diverged: evaluate an earlier checkpoint")
            yield (x if self.kind == "vector" else x.clamp(-1, 1)), labels


class FolderSource:
    """Images read from a folder (png/jpg), in sorted order; class sub-folders give labels.

    Labels are the sub-folders' sorted positions, so for `acc` name them so that they sort in the
    classifier's class order (0, 1, ... 9; zero-padded beyond ten classes).
    """

    def __init__(self, root: Path) -> None:
        from PIL import Image

        from gankit.data.folder import is_colour, scan_folder

        self.paths, self.labels, self.classes = scan_folder(root)
        sizes, colour = set(), False
        for path in self.paths:
            with Image.open(path) as image:
                sizes.add(image.size)
                colour = colour or is_colour(image)
        squares = sorted(w for w, h in sizes if w == h)
        if len(sizes) != 1 or not squares:
            raise GankitError(f"images in {root} must all be one square size to be evaluated; found {sorted(sizes)[:4]}")
        self.description = f"image folder {root}"
        self.kind = "image"
        self.resolution, self.channels = squares[0], 3 if colour else 1
        self.num_classes = len(self.classes) if self.classes else 0
        self.max_count = len(self.paths)

    def batches(self, n: int, generator: torch.Generator, batch_size: int = EVAL_BATCH) -> ModelBatches:
        """(images [b, C, R, R] in [-1, 1], labels [b] or None) for the first `n` files."""
        from gankit.data.folder import load_images

        for start in range(0, min(n, len(self.paths)), batch_size):
            chunk = self.paths[start:start + batch_size]
            images = load_images(chunk, self.resolution, self.channels).float() / 127.5 - 1  # [b, C, R, R]
            yield images, None if self.labels is None else self.labels[start:start + len(chunk)]


# ---- metrics ----------------------------------------------------------------------------------
def feature_metric(name: str, summary: str, fn: Callable[[FeatureSet, FeatureSet], dict], *, raw_items: int = 0,
                   logits: bool = False, check: Optional[Callable[["EvalContext"], None]] = None) -> Metric:
    """An image metric `fn(samples, reference) -> values`, applied to the fakes and to the floor set."""

    def run(ctx: "EvalContext", n: int) -> tuple[dict, Optional[dict]]:
        return fn(ctx.fakes(n), ctx.reference()), ctx.floor(name, fn, n)

    return Metric(name, summary, "image", run, IMAGE_N, raw_items, logits, check, reference=True)


def _needs_logits(ctx: "EvalContext", metric: str) -> None:
    if not ctx.extractor.num_classes:
        raise GankitError(f"{metric} needs an extractor with class logits; {ctx.extractor.name!r} has none")


def _check_acc(ctx: "EvalContext") -> None:
    if not ctx.source.num_classes:
        raise GankitError("acc needs a conditional generator (this one has c_dim=0) or an image folder with class sub-folders")
    _needs_logits(ctx, "acc")
    if ctx.source.num_classes != ctx.extractor.num_classes:
        raise GankitError(f"acc: the samples have {ctx.source.num_classes} classes but extractor "
                          f"{ctx.extractor.name!r} classifies {ctx.extractor.num_classes}; use an extractor trained on the same labels")


def _fid(s: FeatureSet, r: FeatureSet) -> dict:
    return {"fid": frechet_distance(s.stats.mean, s.stats.cov, r.stats.mean, r.stats.cov)}


def _kid(s: FeatureSet, r: FeatureSet) -> dict:
    mean, std = kernel_inception_distance(r.stats.features, s.stats.features)
    return {"kid": mean, "kid_std": std}


def _is(s: FeatureSet, r: FeatureSet) -> dict:
    mean, std = inception_score(s.logits)
    return {"is": mean, "is_std": std}


def _prdc(s: FeatureSet, r: FeatureSet) -> dict:
    """Precision/recall (k=3) and density/coverage (k=5) from one set of k-NN passes, shared by pr and dc."""
    key = ("prdc", id(r))
    if key not in s.derived:
        s.derived[key] = prdc(r.stats.features, s.stats.features, k_pr=3, k_dc=5)
    return s.derived[key]


def _pr(s: FeatureSet, r: FeatureSet) -> dict:
    values = _prdc(s, r)
    return {"precision": values["precision"], "recall": values["recall"]}


def _dc(s: FeatureSet, r: FeatureSet) -> dict:
    values = _prdc(s, r)
    return {"density": values["density"], "coverage": values["coverage"]}


def _acc(s: FeatureSet, r: FeatureSet) -> dict:
    if s.labels is None:  # an unlabelled floor split
        return {}
    correct = (s.predictions == s.labels).double()  # [n]
    values = {"acc": float(correct.mean())}
    for k in range(int(s.labels.max()) + 1):
        mine = s.labels == k
        if mine.any():
            values[f"acc/{k}"] = float(correct[mine].mean())
    return values


def _modes(ctx: "EvalContext", n: int) -> tuple[dict, Optional[dict]]:
    toy = ctx.toy()
    values = mode_coverage(ctx.vector_samples(n), toy.means, toy.stds).as_dict()
    real = toy.sample(n, torch.Generator().manual_seed(eval_seed(ctx.seed)))  # [n, D]
    return values, mode_coverage(real, toy.means, toy.stds).as_dict()


for _metric in (
    feature_metric("fid", "Fréchet distance of feature Gaussians (float64, eigh square root)", _fid),
    feature_metric("kid", "kernel distance: cubic kernel, unbiased MMD², 100 subsets of up to 1,000", _kid, raw_items=RAW_ITEMS),
    feature_metric("is", "Inception Score (10 splits) from the extractor's logits", _is, logits=True,
                   check=lambda ctx: _needs_logits(ctx, "is")),
    feature_metric("pr", "precision/recall, k=3 nearest neighbours (Kynkäänniemi 2019)", _pr, raw_items=RAW_ITEMS),
    feature_metric("dc", "density/coverage, k=5 (Naeem 2020)", _dc, raw_items=RAW_ITEMS),
    feature_metric("acc", "label accuracy of a conditional G: generate class k, classify", _acc, check=_check_acc),
    Metric("modes", "toy mode coverage: modes covered, % high quality, reverse KL (GUIDE §6)", "vector", _modes, TOY_N),
):
    METRICS.register(_metric.name)(_metric)

equivariance.register_metrics()  # eqt, eqt_frac, eqr: StyleGAN3's equivariance metrics (a property of G alone)
ppl.register_metrics()  # ppl, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend: perceptual path length (a property of G alone)


def parse_metrics(spec: str | list[str]) -> list[Metric]:
    """'fid,kid' or ['fid', 'kid'] -> registered Metrics (an unknown name lists the valid ones)."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise GankitError(f"name at least one metric; valid: {', '.join(METRICS.names())}")
    return [METRICS.get(name) for name in dict.fromkeys(names)]


# ---- the context metrics read from ------------------------------------------------------------
@dataclass
class EvalContext:
    """Everything a metric reads, each loaded or computed once, on first use."""

    source: GeneratorSource | FolderSource
    data: str  # dataset name or path
    metrics: list[Metric]
    split: Optional[str] = None  # None: test when the dataset has one, else train
    extractor_name: str = "fmnist-cnn"
    weights: Optional[str] = None
    lpips_weights: Optional[str] = None  # torchvision's VGG16 file: PPL measures with LPIPS-VGG16
    lpips_lin: Optional[str] = None  # LPIPS's calibration file (default: the lpips package's)
    seed: int = 0
    batch_size: int = EVAL_BATCH
    device: str | torch.device = "cpu"
    progress: bool = True
    use_cache: bool = True
    toy_data: Optional[object] = None  # an already loaded ToyDistribution (else `data` is loaded)
    _memo: dict = field(default_factory=dict, repr=False)

    def _once(self, key, make: Callable):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def reset_samples(self) -> None:
        """Forget generated samples (the generator changed); keep real statistics and floors."""
        for key in [k for k in self._memo if isinstance(k, tuple) and k[0] in ("fakes", "vector")]:
            del self._memo[key]

    @property
    def data_id(self) -> str:
        path = Path(self.data).expanduser()
        return str(path.resolve()) if path.is_dir() else str(self.data)

    @property
    def extractor(self):
        """The feature extractor, loaded once."""
        from gankit.metrics.features import load_extractor

        return self._once("extractor", lambda: load_extractor(self.extractor_name, self.weights, self.device))

    @property
    def distance(self):
        """The image distance of PPL (gankit.metrics.distances.select_distance), loaded once."""
        from gankit.metrics.distances import select_distance

        def make():
            fmnist = self.weights if self.extractor_name == "fmnist-cnn" else None
            effnet = self.weights if self.extractor_name == "effnet-lite0" else None
            return select_distance(self.source.channels, self.source.resolution, self.lpips_weights, self.lpips_lin,
                                   fmnist, effnet, self.device)

        return self._once("distance", make)

    def _dataset(self, split: str):
        """The real images of `split` at the samples' resolution and channels, or None if there is no such split."""
        from gankit.data import load_dataset

        def load():
            try:
                data = load_dataset(self.data, resolution=self.source.resolution, channels=self.source.channels, split=split)
            except GankitError as err:
                if "has no split" in str(err) and split != self.split:
                    return None
                raise
            if data.kind != "image":
                raise GankitError(f"{self.data} is vector (toy) data; image metrics need an image dataset (--data)")
            return data

        return self._once(("data", split), load)

    @property
    def reference_split(self) -> str:
        if self.split is not None:
            return self.split
        return "test" if self._dataset("test") is not None else "train"

    @property
    def floor_split(self) -> Optional[str]:
        other = "train" if self.reference_split == "test" else "test"
        return other if self._dataset(other) is not None else None

    def reference_entry(self) -> tuple[FeatureSet, dict]:
        """Features of the whole reference split (cached on disk) and their cache key."""
        return self._once("reference", lambda: self._real(self.reference_split, None, False))

    def reference(self) -> FeatureSet:
        """Features of the whole reference split."""
        return self.reference_entry()[0]

    def _real(self, split: str, count: Optional[int], keep_logits: bool) -> tuple[FeatureSet, dict]:
        return real_feature_set(self._dataset(split), self.data_id, split, self.extractor, count, keep_logits,
                                self.batch_size, self.progress, self.use_cache)

    def floor_set(self, n: int) -> Optional[tuple[FeatureSet, dict]]:
        """`n` real images of the other split (cached), or None when the dataset has one split."""
        if self.floor_split is None:
            return None
        keep_logits = self.extractor.num_classes > 0
        return self._once(("floor_set", n), lambda: self._real(self.floor_split, n, keep_logits))

    def floor(self, name: str, fn: Callable[[FeatureSet, FeatureSet], dict], n: int) -> Optional[dict]:
        """`fn` on real images of the other split versus the reference: the real-vs-real floor (cached)."""
        floor = self.floor_set(n)
        if floor is None:
            return None
        (floor_features, floor_key), (reference, reference_key) = floor, self.reference_entry()
        from gankit.version import __version__

        key = {"metric": name, "floor": key_hash(floor_key), "reference": key_hash(reference_key), "gankit": __version__}
        return self._once(("floor", name, n), lambda: cached_values(key, lambda: fn(floor_features, reference), self.use_cache))

    def fakes(self, n: int) -> FeatureSet:
        """Features of `n` samples, streamed once and shared by every metric of this evaluation."""

        def make() -> FeatureSet:
            raw = max(m.raw_items for m in self.metrics)
            logits = any(m.logits for m in self.metrics)
            generator = torch.Generator().manual_seed(eval_seed(self.seed))
            batches = self.source.batches(n, generator, self.batch_size)
            return extract(batches, self.extractor, n, raw, logits, desc="samples", progress=self.progress)

        return self._once(("fakes", n), make)

    def vector_samples(self, n: int) -> torch.Tensor:
        """`n` vector samples [n, D] (toy runs)."""

        def make() -> torch.Tensor:
            generator = torch.Generator().manual_seed(eval_seed(self.seed))
            return torch.cat([x.cpu() for x, _ in self.source.batches(n, generator, self.batch_size)])

        return self._once(("vector", n), make)

    def toy(self):
        """The toy distribution `data` names (its modes are what `modes` measures against)."""
        from gankit.data import load_dataset

        toy = self._once("toy", lambda: self.toy_data if self.toy_data is not None else load_dataset(self.data))
        if toy.kind != "vector":
            raise GankitError(f"modes needs toy (vector) data with known modes; {self.data} holds images")
        return toy

    def n_for(self, metric: Metric, n: Optional[int]) -> int:
        """Samples for `metric`: `n` or its protocol's default, at most what the source holds."""
        n = n or metric.default_n
        return min(n, self.source.max_count) if self.source.max_count is not None else n

    def check(self, metric: Metric) -> None:
        """Raise a one-line GankitError when `metric` cannot apply to these samples."""
        if metric.data != self.source.kind:
            what = "vector (toy) samples" if self.source.kind == "vector" else "images"
            valid = [m for m in METRICS.names() if METRICS.get(m).data == self.source.kind]
            raise GankitError(f"metric {metric.name!r} measures {metric.data} samples, but {self.source.description} "
                              f"gives {what}; use {', '.join(valid)}")
        if metric.check is not None:
            metric.check(self)

    def protocol(self, metric: Metric, n: int) -> dict:
        """What defines `metric`'s numbers: counts, split, extractor protocol (crop/resize), seed, version."""
        from gankit.version import __version__

        common = {"n_fake": n, "seed": self.seed, "eval_seed": eval_seed(self.seed), "batch_size": self.batch_size,
                  "dataset": self.data_id, "gankit_version": __version__}
        if metric.data == "vector":
            return {**common, "n_real": n, "floor": f"{n} samples of {self.data} itself", "high_quality_within_std": 3.0}
        if metric.protocol is not None:
            common.update(metric.protocol(self))
        if not metric.reference:
            return {**common, "resolution": self.source.resolution, "channels": self.source.channels}
        floor = self.floor_set(n)
        return {**common, "n_real": self.reference().count, "split": self.reference_split,
                "floor_split": self.floor_split, "n_floor": floor[0].count if floor else None,
                "resolution": self.source.resolution, "channels": self.source.channels,
                "extractor": self.extractor.protocol()}


SHIPPED_SIZES = (28, 32)  # Fashion-MNIST's 28x28, and 32x32 (padded) as the presets train it


def fmnist_misfit(extractor, source, shipped: bool) -> str:
    """What makes the fmnist-cnn evaluator unfit for these samples ('' when it fits): channels, and for the
    shipped Fashion-MNIST weights also the image size and the class count."""
    problems = []
    if source.channels != extractor.in_channels:
        problems.append("RGB" if source.channels == 3 else "grey")
    if shipped and source.resolution not in SHIPPED_SIZES:
        problems.append(f"{source.resolution}x{source.resolution}")
    if shipped and source.num_classes and source.num_classes != extractor.num_classes:
        problems.append(f"{source.num_classes}-class")
    return " ".join(problems)


def check_evaluator(ctx: "EvalContext", data: str, during_training: bool = False) -> None:
    """Refuse, in one line, to score images with an fmnist-cnn evaluator made for other data (the hint names
    the CLI's options, or the config keys when evaluating during training)."""
    if ctx.source.kind != "image" or ctx.extractor_name != "fmnist-cnn":
        return
    if ctx.metrics and not any(metric.reference for metric in ctx.metrics):
        return  # e.g. equivariance metrics: no features involved
    extractor = ctx.extractor
    misfit = fmnist_misfit(extractor, ctx.source, shipped=ctx.weights is None)
    if misfit:
        made_for = (f"{extractor.metadata.get('dataset', '?')}: {'grey' if extractor.in_channels == 1 else 'RGB'}"
                    + (", 28x28" if ctx.weights is None else "") + f", {extractor.num_classes} classes")
        raise GankitError(
            f"the fmnist-cnn evaluator ({made_for}) does not fit {misfit} images; train one on this data "
            f"(gankit evaluator train --data {data} --out evaluator.safetensors, then "
            + ("eval.weights=evaluator.safetensors) or use eval.extractor=effnet-lite0" if during_training
               else "--weights evaluator.safetensors) or use --extractor effnet-lite0"))


def evaluate(ctx: EvalContext, n: Optional[int] = None) -> dict:
    """Run every metric of `ctx` (checked first, so none starts when one cannot apply); the report dict."""
    from gankit.version import __version__

    for metric in ctx.metrics:
        ctx.check(metric)
    results = {}
    for metric in ctx.metrics:
        count = ctx.n_for(metric, n)
        try:
            values, floor = metric.run(ctx, count)
        except ValueError as err:  # e.g. fewer samples than the metric's k or splits
            raise GankitError(f"{metric.name} cannot be computed from {count} samples ({err}); use more (-n)") from None
        results[metric.name] = {"values": values, "floor": floor, "protocol": ctx.protocol(metric, count)}
    report = {"gankit_version": __version__, "source": ctx.source.description, "dataset": ctx.data_id,
              "seed": ctx.seed, "results": results}
    if any(metric.reference for metric in ctx.metrics):
        report.update(split=ctx.reference_split, floor_split=ctx.floor_split, extractor=ctx.extractor.protocol(),
                      classes=getattr(ctx.extractor, "class_names", None))
    return report


def _fmt(values: Optional[dict], key: str) -> str:
    if values is None or key not in values:
        return "—"
    value = values[key]
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    std = values.get(f"{key}_std")
    return f"{text} ± {std:.2g}" if std is not None else text


def format_report(report: dict) -> str:
    """A readable table: a line naming the protocol, then each value beside its real-vs-real floor."""
    results = report["results"]
    first = next(iter(results.values()))["protocol"]
    if "split" in report:
        first = next(r["protocol"] for r in results.values() if "split" in r["protocol"])
        floor_title = f"floor ({report['floor_split']} vs {report['split']})" if report.get("floor_split") else "floor (one split: none)"
        lines = [f"{report['source']}: {first['n_fake']:,} samples vs {report['dataset']} {report['split']} "
                 f"({first['n_real']:,} images), extractor {report['extractor'].get('extractor', '?')}, seed {report['seed']}"]
    elif "high_quality_within_std" in first:
        floor_title = "floor (real samples)"
        lines = [f"{report['source']}: {first['n_fake']:,} samples vs the modes of {report['dataset']}, seed {report['seed']}"]
    else:
        floor_title = "floor"
        lines = [f"{report['source']}: {first['n_fake']:,} samples, seed {report['seed']}"]
    classes = report.get("classes")
    rows = []
    for result in results.values():
        for key in result["values"]:
            if key.endswith("_std"):
                continue
            label = key
            if key.startswith("acc/") and classes:
                label = f"acc {classes[int(key[4:])]}"
            rows.append((label, _fmt(result["values"], key), _fmt(result["floor"], key)))
    widths = [max(len(r[i]) for r in rows + [("metric", "value", floor_title)]) for i in range(3)]
    for row in [("metric", "value", floor_title)] + rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)
