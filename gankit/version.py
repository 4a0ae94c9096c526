"""gankit's version, on the bottom floor so that any module can record it (checkpoints, metric protocols)."""
__version__ = "0.1.0"
