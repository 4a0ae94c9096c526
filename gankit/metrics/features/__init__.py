"""Feature extractors for image metrics; importing this package registers them."""
from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor, load_extractor
from gankit.metrics.features import fmnist_cnn as _fmnist_cnn  # noqa: F401  (registers "fmnist-cnn")
from gankit.metrics.features import inception as _inception  # noqa: F401  (registers "inception-v3")
from gankit.metrics.features import effnet as _effnet  # noqa: F401  (registers "effnet-lite0")

__all__ = ["EXTRACTORS", "FeatureExtractor", "load_extractor"]
