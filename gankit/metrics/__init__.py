"""Metrics: pure maths on arrays, apart from feature extraction (GUIDE §3.6)."""
from gankit.metrics.frechet import frechet_distance, frechet_from_features
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kernel_inception_distance
from gankit.metrics.modes import ModeCoverage, mode_coverage
from gankit.metrics.prdc import density_coverage, prdc, precision_recall
from gankit.metrics.stats import FeatureStats

__all__ = [
    "FeatureStats", "ModeCoverage", "density_coverage", "frechet_distance", "frechet_from_features",
    "inception_score", "kernel_inception_distance", "mode_coverage", "prdc", "precision_recall",
]
