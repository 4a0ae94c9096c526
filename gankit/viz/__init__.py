"""Visualisation: image grids, PNGs and GIFs (torch + Pillow); scatter and loss plots (matplotlib Agg)."""
from gankit.viz.images import make_grid, save_gif, save_image_grid, to_uint8
from gankit.viz.plots import plot_losses, save_scatter

__all__ = ["make_grid", "save_image_grid", "save_gif", "to_uint8", "save_scatter", "plot_losses"]
