"""The run folder as one layer: its checkpoints, manifest, RNG streams (rng.py) and `load`.

Everything that reads a run (evaluation, the CLI, export, the tools) depends on this layer, not on
training. Floors (GUIDE §2): runs sits above models and below training and metrics.
"""
from gankit.runs.load import load

__all__ = ["load"]
