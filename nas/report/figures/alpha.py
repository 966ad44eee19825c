"""DARTS's figures: each edge's softmax(alpha) over the epochs, and alpha against the super-net's
accuracy with the operation removed (DARTS-PT's evidence)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from nas.report.figures.common import pyplot
from nas.report.formats import fmt


ALPHA_COLUMN = re.compile(r"alpha\[(.+)\]\[(.+)\]")  # history columns of methods with alpha (DARTS)


def alpha_figure(histories: dict[str, pd.DataFrame]):
    """Each choice's softmax(alpha) per operation over the epochs, one row of panels per run whose
    history has alpha columns; None when none has."""
    runs = {name: h for name, h in histories.items() if any(ALPHA_COLUMN.fullmatch(str(c)) for c in h.columns)}
    if not runs:
        return None
    layout = {}
    for name, h in runs.items():
        for c in h.columns:
            if m := ALPHA_COLUMN.fullmatch(str(c)):
                layout.setdefault(name, {}).setdefault(m[1], []).append((m[2], c))
    width = max(len(edges) for edges in layout.values())
    fig, axes = pyplot().subplots(len(layout), width, figsize=(2.4 * width, 2.2 * len(layout)), squeeze=False,
                                  sharey=True, layout="constrained")
    for r, (name, edges) in enumerate(layout.items()):
        for k, (edge, ops) in enumerate(edges.items()):
            ax = axes[r][k]
            for i, (op, column) in enumerate(ops):
                ax.plot(runs[name]["epoch"], runs[name][column], label=op, color=f"C{i}")
            ax.set_title(f"{name} {edge}", fontsize=8)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
        for k in range(len(edges), width):
            axes[r][k].axis("off")
    axes[0][0].set_ylabel("softmax(alpha)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8), fontsize=7)
    return fig


def alpha_damage_figure(logs: dict[str, pd.DataFrame]):
    """One panel per run with a DARTS-PT decision log: every edge's operations at decision 0, alpha
    against the accuracy with the operation removed, coloured by operation; None without logs."""
    from nas.selection.perturbation import alpha_vs_damage

    runs = {name: log[(log["decision"] == 0) & (log["phase"] == "operation")] for name, log in logs.items()}
    runs = {name: log for name, log in runs.items() if len(log)}
    if not runs:
        return None
    ops = sorted({op for log in runs.values() for op in log["op"]})
    width = min(len(runs), 3)
    height = -(-len(runs) // width)
    fig, axes = pyplot().subplots(height, width, figsize=(3.6 * width, 3.0 * height), squeeze=False,
                                  layout="constrained")
    for ax, (name, log) in zip(axes.flat, runs.items()):
        for i, op in enumerate(ops):
            d = log[log["op"] == op]
            ax.scatter(d["alpha"], d["accuracy"], s=14, color=f"C{i}", label=op, alpha=0.8)
        tau = alpha_vs_damage(log)["tau"].to_numpy(dtype=float)
        mean = fmt(float(np.nanmean(tau)), 2) if np.isfinite(tau).any() else "n/a"
        ax.set_title(f"{name}: mean per-edge τ {mean}", fontsize=8)
        ax.set_xlabel("softmax(alpha)", fontsize=8)
        ax.set_ylabel("valid accuracy, op removed (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 8), fontsize=7)
    return fig
