"""Training: the phase loop, its hooks, EMA, schedules, distributed and speed settings."""
from gankit.training.hooks import Hook
from gankit.training.trainer import Trainer, train

__all__ = ["Hook", "Trainer", "train"]
