"""What a registered metric is (`Metric`) and the seed of evaluation draws; below the pipeline and the metrics.

`gankit.metrics.evaluate` (the pipeline) and the metric modules that register themselves
(`gankit.metrics.equivariance`) both build on this module, so neither imports the other's internals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from gankit.metrics.evaluate import EvalContext

IMAGE_N = 10_000  # default generated images for image metrics


def eval_seed(seed: int) -> int:
    """The seed of a run's `eval` RNG stream (gankit.runs.rng), used for evaluation latents."""
    from gankit.runs.rng import STREAMS

    return seed * 1000 + STREAMS.index("eval") + 1


@dataclass(frozen=True)
class Metric:
    """A registered metric: `run(ctx, n) -> (values, floor values or None)` on `data` runs."""

    name: str
    summary: str
    data: str  # "image" | "vector": what the evaluated samples must be
    run: Callable[["EvalContext", int], tuple[dict, Optional[dict]]]
    default_n: int = IMAGE_N
    raw_items: int = 0  # raw feature rows the samples' FeatureSet must keep
    logits: bool = False  # whether the samples' logits must be kept
    check: Optional[Callable[["EvalContext"], None]] = None  # raises GankitError when not applicable
    reference: bool = False  # compares with a real split (its protocol names split, counts, extractor)
    protocol: Optional[Callable[["EvalContext"], dict]] = None  # more of the metric's protocol (e.g. PPL's distance)
    distance: bool = False  # measures with the image distance of gankit.metrics.distances (--lpips-weights applies)
