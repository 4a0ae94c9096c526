"""Metrics: pure maths on arrays, apart from feature extraction (GUIDE §3.6)."""
from gankit.metrics.modes import ModeCoverage, mode_coverage

__all__ = ["ModeCoverage", "mode_coverage"]
