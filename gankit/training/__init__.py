"""Training: the phase loop, hooks, EMA, checkpoints and the RNG plan."""
from gankit.training.hooks import Hook
from gankit.training.trainer import Trainer, train

__all__ = ["Hook", "Trainer", "train"]
