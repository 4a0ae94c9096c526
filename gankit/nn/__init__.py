"""Shared layers: equalized learning rate, pixel norm, minibatch stddev (and, per family, more)."""
from gankit.nn.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, lrelu_agc

__all__ = ["EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "PixelNorm", "lrelu_agc"]
