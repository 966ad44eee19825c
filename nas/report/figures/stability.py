"""Ranking stability and the degree of sharing (Zhang et al.): tau over the last steps and the scored
epochs, each architecture's rank across seeds, tau against the degree of sharing, and interference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nas.report.figures.common import error_bars, no_data, pyplot, variant_colors
from nas.report.formats import STABILITY_LABELS
from nas.report.tables import stability_summary


def stability_time_figure(table: pd.DataFrame):
    """Three panels, one line per run (colour = variant): τ between consecutive dense-scored steps, τ of
    each scored epoch's ranking to the final one, and τ against the ground truth at each scored epoch."""
    runs = table[table["seed"] != -1]
    variants = list(dict.fromkeys(runs["variant"]))
    colors = variant_colors(variants)
    fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    panels = [("step", "consecutive_tau", "τ between consecutive steps", "steps before the end of the run"),
              ("epoch", "tau_to_final", "τ to the final ranking", "epoch"),
              ("epoch", "tau_to_truth", "τ vs stand-alone ground truth", "epoch")]
    for ax, (series, statistic, title, xlabel) in zip(axes, panels):
        rows = runs[(runs["series"] == series) & (runs["statistic"] == statistic)]
        for (variant, seed), g in rows.groupby(["variant", "seed"], sort=False):
            # steps counted back from the run's end: runs of different lengths (per-group compute) line up
            x = g["point"] - g["point"].max() if series == "step" else g["point"]
            ax.plot(x, g["value"], marker=".", color=colors[variant], alpha=0.8,
                    label=variant if seed == rows[rows["variant"] == variant]["seed"].min() else None)
        if rows.empty:
            no_data(ax, "no points (supernet.dense_steps / save_epochs)")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Kendall τ")
        ax.grid(alpha=0.3)
    if variants:
        axes[2].legend(fontsize=7, ncol=2)
    return fig


def ranks_figure(ranks: pd.DataFrame, truth: pd.DataFrame, columns: int = 3):
    """One panel per variant: each architecture's rank under each super-net seed (a box per
    architecture), architectures ordered by their stand-alone rank (best left)."""
    variants = list(dict.fromkeys(ranks["variant"]))
    order = truth.sort_values(["accuracy", "arch_id"], ascending=[False, True])["arch_id"].tolist()
    rows_ = max(1, math.ceil(len(variants) / columns))
    fig, axes = pyplot().subplots(rows_, columns, figsize=(5 * columns, 2.6 * rows_), layout="constrained",
                                  squeeze=False)
    for ax, variant in zip(axes.flat, variants):
        r = ranks[ranks["variant"] == variant]
        ids = [a for a in order if a in set(r["arch_id"])]
        ax.boxplot([r[r["arch_id"] == a]["rank"].to_numpy() for a in ids], widths=0.6, showfliers=False,
                   medianprops={"color": "C1"})
        ax.set_xticks([])
        ax.set_title(f"{variant} ({r['seed'].nunique()} seeds)", fontsize=9)
        ax.set_ylabel("super-net rank")
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(variants):]:
        ax.axis("off")
    fig.supxlabel("architectures, best stand-alone first")
    return fig


def sharing_figure(table: pd.DataFrame, degrees: pd.DataFrame):
    """τ against the ground truth (solid) and seed-to-seed τ (dashed) against the degree of sharing,
    intervals over seeds: against k (prefix sharing; full sharing at k = the number of cells) and
    against g (groups; full sharing at g = 1), one line per partition and compute."""
    summary = stability_summary(table).set_index(["variant", "statistic"])
    d = degrees.set_index("variant")

    def point(variant, statistic):
        if (variant, statistic) not in summary.index:
            return math.nan, math.nan, math.nan
        r = summary.loc[(variant, statistic)]
        return r["value"], r["ci_low"], r["ci_high"]

    full = [v for v in d.index if d.loc[v, "form"] == "full"]
    fig, (by_k, by_g) = pyplot().subplots(1, 2, figsize=(11, 4), layout="constrained")
    lines = {"k": {("", ""): [v for v in d.index if d.loc[v, "form"] in ("prefix", "full")]}}
    lines["g"] = {}
    for v in d.index:
        if d.loc[v, "form"] == "groups":
            lines["g"].setdefault((d.loc[v, "partition"], d.loc[v, "compute"]), []).append(v)
    for key in lines["g"]:
        lines["g"][key] = full[:1] + lines["g"][key]
    for ax, axis in ((by_k, "k"), (by_g, "g")):
        for n, ((partition, compute), members) in enumerate(lines[axis].items()):
            xs = [int(d.loc[v, axis]) for v in members]
            for statistic, style in (("tau_truth", "-"), ("seed_tau", "--")):
                values = [point(v, statistic) for v in members]
                y = np.array([p[0] for p in values], dtype=float)
                err = np.array([[p[0] - p[1], p[2] - p[0]] for p in values], dtype=float).T
                label = ("τ vs truth" if statistic == "tau_truth" else "seed-to-seed τ") + (
                    f" ({partition}, {compute.replace('_', '-')})" if partition else "")
                order = np.argsort(xs)
                ax.errorbar(np.array(xs)[order], y[order], yerr=np.nan_to_num(err[:, order]), ls=style, marker="o",
                            color=f"C{n}", capsize=3, label=label)
        if not lines[axis] or not any(lines[axis].values()):
            no_data(ax)
        ax.set_ylabel("Kendall τ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    by_k.xaxis.set_major_locator(pyplot().MaxNLocator(integer=True))
    by_k.set_xlabel("k: cells shared (prefix sharing; the last = full sharing)")
    by_g.set_xlabel("g: independent super-nets (1 = full sharing)")
    by_g.set_xscale("log", base=2)
    by_k.set_title("prefix sharing", fontsize=10)
    by_g.set_title("grouping", fontsize=10)
    return fig


def interference_figure(table: pd.DataFrame):
    """Left: the mean change of child j's loss after one step on child i, against the operations they
    share, with its 95% t-interval over pairs; one line per variant. Right: each variant's
    interference (mean |change|) against its ranking's steadiness (mean τ between consecutive
    dense-scored steps, or scored epochs where no steps were scored), with their intervals and the
    Spearman correlation over variants: does the variant whose children disturb each other more
    also rank less steadily (the paper's explanation of the variance)?"""
    rows = table[(table["series"] == "interference") & (table["statistic"] == "change")]
    variants = list(dict.fromkeys(rows["variant"]))
    colors = variant_colors(variants)
    fig, (ax, vs) = pyplot().subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    for n, variant in enumerate(variants):
        g = rows[rows["variant"] == variant].sort_values("point")
        offset = (n - (len(variants) - 1) / 2) * 0.03
        ax.errorbar(g["point"] + offset, g["value"], yerr=error_bars(g), marker="o", capsize=3, color=colors[variant],
                    label=variant)
    ax.axhline(0, color="grey", lw=1, ls="--")
    ax.set_xlabel("operations i and j share")
    ax.set_ylabel("change of j's loss after one step on i")
    ax.xaxis.set_major_locator(pyplot().MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if variants:
        ax.legend(fontsize=7, ncol=2)
    from nas.stability import across_variants

    statistics = set(stability_summary(table)["statistic"])
    steady = next((s for s in ("step_consecutive_tau", "epoch_consecutive_tau") if s in statistics), None)
    x, y, rho = across_variants(table, "interference", steady) if steady else (None, [], np.nan)
    if len(y):
        for v in x.index:
            vs.errorbar(x.loc[v, "value"], y.loc[v, "value"], xerr=error_bars(x.loc[[v]]), yerr=error_bars(y.loc[[v]]),
                        marker="o", capsize=2, color=colors[v])
            vs.annotate(v, (x.loc[v, "value"], y.loc[v, "value"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        title = "interference against steadiness"
        if not np.isnan(rho):
            title += f" (Spearman ρ over {len(x)} variants: {rho:+.2f})"
        vs.set_title(title, fontsize=10)
        vs.set_xlabel("interference: mean |change| of j's loss over pairs")
        vs.set_ylabel(STABILITY_LABELS[steady])
        vs.grid(alpha=0.3)
    else:
        no_data(vs, "no scored steps or epochs to compare with")
    return fig
