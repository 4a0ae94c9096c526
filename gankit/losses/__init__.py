"""Adversarial losses (pure functions of logits) and regularizers."""
from gankit.losses.adversarial import AdversarialLoss  # noqa: F401  (registers the losses)
from gankit.losses.regularizers import DBatch, Regularizer, build_regularizers, clip_weights, lazy_compensation

__all__ = ["AdversarialLoss", "DBatch", "Regularizer", "build_regularizers", "clip_weights", "lazy_compensation"]
