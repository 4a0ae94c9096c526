"""Feature extractors for image metrics; importing this package registers them."""
from gankit.metrics.features.base import EXTRACTORS, FeatureExtractor, load_extractor

__all__ = ["EXTRACTORS", "FeatureExtractor", "load_extractor"]
