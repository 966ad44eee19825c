"""What the figure modules share: matplotlib's pyplot (imported on first use), saving a figure as a PNG
whose bytes depend only on the data, a grid of panels, one colour per variant, 'no data', error bars."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from nas.io import atomic_path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, imported on first use: the stages that write
    only tables and metrics JSON (correlate, select, heuristics) need not pay for it."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; must come before pyplot
    import matplotlib.pyplot as plt

    return plt


DPI = 100
# PNG "Software" would embed the matplotlib version; without it the bytes depend only on the data.
PNG_METADATA = {"Software": None}


def save_figure(fig, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)
    finally:
        pyplot().close(fig)


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def panels(count: int, width: float = 4.2, height: float = 3.8):
    ncols = max(1, min(count, 3))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                                  layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    return fig, list(axes.flat)


def variant_colors(variants) -> dict:
    variants = list(variants)
    n = 10 if len(variants) <= 10 else 20
    cmap = pyplot().get_cmap(f"tab{n}")
    return {v: cmap(i % n) for i, v in enumerate(variants)}


def error_bars(rows: pd.DataFrame) -> np.ndarray:
    """Error bar lengths below and above each value (0 where there is no interval)."""
    return np.nan_to_num(np.array([rows["value"] - rows["ci_low"], rows["ci_high"] - rows["value"]], dtype=float))
