"""The playground: watch a toy GAN learn in the browser, driven by the real gankit trainer."""
from gankit.playground.job import RECIPES, TARGETS, PlaygroundJob, Settings

__all__ = ["PlaygroundJob", "Settings", "RECIPES", "TARGETS"]
