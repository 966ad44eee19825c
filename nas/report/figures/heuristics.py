"""The heuristics figure: each variant's difference from the baseline (or its mean) with its interval."""

from __future__ import annotations

import pandas as pd

from nas.metrics_files import is_missing
from nas.report.figures.common import pyplot
from nas.report.formats import decimals, fmt_ci, metric_label
from nas.report.tables import has_comparison, heuristics_baseline


def _mean_text(row: pd.Series) -> str:
    return fmt_ci(row["mean"], row["ci_low"], row["ci_high"], decimals(row["metric"], 3), kind=row["interval"])


def heuristics_figure(table: pd.DataFrame, metric: str = "sparse_kendall_tau", k: int | None = None,
                  baseline: str | None = None):
    """One horizontal error bar per non-baseline variant: diff from baseline with its CI (a bare point
    where the CI is undefined), top to bottom in table order. Without a baseline, or with nothing to
    compare it with, each variant's mean with its CI instead. k: for P@k (default: smallest k)."""
    baseline = heuristics_baseline(table, baseline)
    rows = table[table["metric"] == metric]
    if k is None and rows["k"].notna().any():
        k = int(rows["k"].dropna().min())
    rows = rows[rows["k"].isna()] if k is None else rows[(rows["k"] == k).fillna(False).astype(bool)]
    label = metric_label(metric, k)
    pct = f"{100 * float(table.attrs.get('level', 0.95)):g}"
    diff_mode = has_comparison(rows, baseline)
    shown = rows[rows["variant"] != baseline] if diff_mode else rows
    cols = ("diff", "diff_ci_low", "diff_ci_high") if diff_mode else ("mean", "ci_low", "ci_high")
    kinds = set(shown["diff_interval" if diff_mode else "interval"])
    ranged = "; range of the seeds' values with 2 seeds" if "range" in kinds else ""

    fig, ax = pyplot().subplots(figsize=(6, 1.6 + 0.35 * max(len(shown), 1)), layout="constrained")
    for y, row in enumerate(shown.itertuples(index=False)):
        x, low, high = (getattr(row, c) for c in cols)
        xerr = None if is_missing(low) or is_missing(high) else [[x - low], [high - x]]
        ax.errorbar([x], [y], xerr=xerr, fmt="o", color="C0", capsize=4)
        if is_missing(x):
            ax.text(0, y, " n/a", va="center", color="grey")
    ax.set_yticks(range(len(shown)), labels=[str(v) for v in shown["variant"]])
    ax.set_ylim(max(len(shown), 1) - 0.5, -0.5)  # first variant on top
    if shown.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    if diff_mode:
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_xlabel(f"Δ {label} vs {baseline}\n({pct}% CI over seeds{ranged})")  # two lines: it fits
        ax.set_title(f"{baseline}: {label} {_mean_text(rows[rows['variant'] == baseline].iloc[0])}", fontsize=10)
    else:
        ax.set_xlabel(f"{label}\n({pct}% CI over seeds{ranged})")
        if list(shown["variant"]) == [baseline]:
            ax.set_title(f"{baseline}: {label} {_mean_text(shown.iloc[0])}", fontsize=10)
        else:
            ax.set_title(f"{label} per variant" if len(shown) else f"{label}: no data", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig
