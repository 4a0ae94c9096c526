"""Feature sets of image samples, streamed through an extractor, and the on-disk cache of real ones.

A `FeatureSet` is what every metric reads: float64 running mean/covariance (FeatureStats) plus the
first `raw_items` raw feature rows (for KID and the k-NN metrics), the classifier's prediction and
the sample's label per image, and optionally the logits (Inception Score). Images are streamed in
batches, so no more than one batch of images is ever in memory.

Real feature sets (the reference split, and the real-vs-real floor's other split) are cached in
`$GANKIT_CACHE/stats` (else `~/.cache/gankit/stats`) as `<sha256>.npz`, where the sha256 is that
of a canonical JSON key naming the dataset (and a sha256 of its pixels and labels), split,
resolution, channels, the extractor's full protocol (weights' hash, input size, crop/resize rule),
the count and subset rule. Files are written atomically and read with `allow_pickle=False`; the
key stored inside is compared on load, so a changed option recomputes and never reuses.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from gankit.data import ImageDataset
from gankit.metrics.features.base import FeatureExtractor
from gankit.metrics.stats import FeatureStats

CACHE_FORMAT = 1
RAW_ITEMS = 10_000  # raw feature rows kept per set: the pool KID subsets and the k-NN metrics use
SUBSET_SEED = 0  # a real set smaller than its split is a seeded random subset of it

Batches = Iterable[tuple[torch.Tensor, Optional[torch.Tensor]]]  # (images [b, C, H, W] in [-1, 1], labels [b] or None)


def cache_dir() -> Path:
    """Where reference statistics are cached: $GANKIT_CACHE/stats, else ~/.cache/gankit/stats."""
    env = os.environ.get("GANKIT_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "gankit") / "stats"


def canonical_json(key: dict) -> str:
    """The one JSON text of `key` (sorted keys, no spaces) that its hash is taken of."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def key_hash(key: dict) -> str:
    """sha256 (hex) of the canonical JSON of `key`."""
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()


def _atomic_write(path: Path, write: Callable[[object], None]) -> None:
    """Write through a temporary file in the same folder, then rename into place (umask respected)."""
    from gankit.viz.images import file_mode

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, file_mode())  # mkstemp makes it owner-only; metrics.png is shared like the run's other files
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass
class FeatureSet:
    """Extractor outputs of `count` images: stats (+ raw rows), predictions, labels, logits if kept."""

    stats: FeatureStats
    predictions: Optional[torch.Tensor]  # int64 [count]; None when the extractor has no logits
    labels: Optional[torch.Tensor]  # int64 [count]: generated-as or true class; None when unlabelled
    logits: Optional[torch.Tensor]  # float32 [count, K] when kept
    count: int
    derived: dict = field(default_factory=dict, repr=False, compare=False)  # results shared by metrics (not saved)

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for an npz file (None fields left out)."""
        out = {f"stats_{k}": v.numpy() for k, v in self.stats.state_dict().items()}
        for name in ("predictions", "labels", "logits"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.numpy()
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FeatureSet":
        """Inverse of `arrays()`."""
        mean = arrays["stats_mean"]
        stats = FeatureStats(len(mean))
        stats.load_state_dict({k[6:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("stats_")})
        get = lambda name: torch.from_numpy(np.array(arrays[name])) if name in arrays else None  # noqa: E731
        return cls(stats, get("predictions"), get("labels"), get("logits"), stats.count)


@torch.no_grad()
def extract(batches: Batches, extractor: FeatureExtractor, total: int, raw_items: int = RAW_ITEMS,
            keep_logits: bool = False, desc: str = "features", progress: bool = True) -> FeatureSet:
    """Stream image batches through `extractor` into a FeatureSet (one batch of images in memory)."""
    device = next(extractor.parameters()).device
    stats = FeatureStats(extractor.feature_dim, max_items=raw_items)
    predictions, labels, logits = [], [], []
    with tqdm(total=total, desc=desc, unit="img", disable=None if progress else True, leave=False) as bar:
        for images, batch_labels in batches:
            features, batch_logits = extractor(images.to(device))  # [b, F], [b, K] or None
            stats.update(features)
            if batch_logits is not None:
                batch_logits = batch_logits.float().cpu()  # [b, K]
                predictions.append(batch_logits.argmax(dim=1))
                if keep_logits:
                    logits.append(batch_logits)
            if batch_labels is not None:
                labels.append(batch_labels.cpu().long())
            bar.update(len(images))
    cat = lambda parts: torch.cat(parts) if parts else None  # noqa: E731
    return FeatureSet(stats, cat(predictions), cat(labels), cat(logits), stats.count)


def dataset_batches(dataset: ImageDataset, index: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(images [b, C, H, W] in [-1, 1], labels [b] or None) for the rows `index` of `dataset`."""
    for part in index.split(batch_size):
        yield dataset.get(part)


def subset_index(size: int, count: int) -> torch.Tensor:
    """All rows when count >= size, else a random subset seeded by SUBSET_SEED (sorted)."""
    if count >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(SUBSET_SEED))[:count].sort().values


def content_sha256(dataset: ImageDataset) -> str:
    """sha256 of a dataset's pixels and labels (identifies the data whatever its name or path)."""
    digest = hashlib.sha256(dataset.images.cpu().contiguous().numpy().tobytes())
    if dataset.labels is not None:
        digest.update(dataset.labels.cpu().numpy().astype(np.int64).tobytes())
    return digest.hexdigest()


def real_key(dataset: ImageDataset, data_id: str, split: str, extractor: FeatureExtractor, count: int, keep_logits: bool) -> dict:
    """The cache key of a real feature set: everything that changes its numbers."""
    return {
        "format": CACHE_FORMAT, "dataset": data_id, "split": split, "content_sha256": content_sha256(dataset),
        "resolution": dataset.resolution, "channels": dataset.channels, "extractor": extractor.protocol(),
        "count": count, "subset_seed": SUBSET_SEED if count < len(dataset) else None,
        "raw_items": RAW_ITEMS, "logits": keep_logits,
    }


def load_cached(key: dict) -> Optional[FeatureSet]:
    """The cached FeatureSet for `key`, or None (missing, corrupt, or stored under another key)."""
    path = cache_dir() / f"{key_hash(key)}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != canonical_json(key):
                return None
            return FeatureSet.from_arrays({k: npz[k] for k in npz.files if k != "key"})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        warnings.warn(f"ignoring unreadable cached statistics {path} ({err}); recomputing", stacklevel=2)
        return None


def save_cached(key: dict, features: FeatureSet) -> Path:
    """Write `features` under `key` atomically; returns the file."""
    path = cache_dir() / f"{key_hash(key)}.npz"
    arrays = features.arrays()
    _atomic_write(path, lambda f: np.savez(f, key=np.array(canonical_json(key)), **arrays))
    return path


def real_feature_set(dataset: ImageDataset, data_id: str, split: str, extractor: FeatureExtractor, count: Optional[int] = None,
                     keep_logits: bool = False, batch_size: int = 250, progress: bool = True, use_cache: bool = True) -> tuple[FeatureSet, dict]:
    """Features of `count` images of a real split (all when None), from the cache when it holds them; (set, key)."""
    count = len(dataset) if count is None else min(count, len(dataset))
    key = real_key(dataset, data_id, split, extractor, count, keep_logits)
    cached = load_cached(key) if use_cache else None
    if cached is not None:
        return cached, key
    index = subset_index(len(dataset), count)
    features = extract(dataset_batches(dataset, index, batch_size), extractor, count, RAW_ITEMS, keep_logits,
                       desc=f"{data_id} {split}", progress=progress)
    if use_cache:
        save_cached(key, features)
    return features, key


def cached_values(key: dict, compute: Callable[[], dict], use_cache: bool = True) -> dict:
    """A small JSON result (e.g. a real-vs-real floor) cached under `key`; computed when absent."""
    path = cache_dir() / f"{key_hash(key)}.json"
    if use_cache and path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == json.loads(canonical_json(key)):
                return stored["values"]
        except (OSError, ValueError, AttributeError):
            pass
    values = compute()
    if use_cache:
        text = json.dumps({"key": json.loads(canonical_json(key)), "values": values})
        _atomic_write(path, lambda f: f.write(text.encode()))
    return values
