"""Rows of labelled mid-slice panels, shared by the synthesis and calibration figures."""

from __future__ import annotations

import numpy as np


def draw_panels(row, panels) -> None:
    """``panels``: (image, cmap, vmin, vmax, title) per axis of ``row``; a colour bar on every non-gray panel."""
    for ax, (img, cmap, lo, hi, title) in zip(row, panels):
        im = ax.imshow(np.rot90(img), cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
        if cmap != "gray":
            ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
