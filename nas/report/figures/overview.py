"""The figures every report has: the headline (Kendall tau of every run against the references),
super-net against stand-alone accuracy and rank per variant, the training curves, and the stand-alone
ground truth seed against seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nas.metrics import REFERENCE, ZERO_COST
from nas.metrics_files import is_missing
from nas.report.figures.common import no_data, panels, pyplot
from nas.report.formats import fmt
from nas.report.tables import SEED_METRIC, SEED_VARIANT, metric_value, split_run, supernet_pick


def _by_variant(frame: pd.DataFrame) -> dict[str, list[str]]:
    """variant -> its runs' names in the frame's `variant` column (a run's name), in sorted order."""
    out: dict[str, list[str]] = {}
    for name in sorted(frame["variant"].unique(), key=lambda n: (split_run(n)[0], int(split_run(n)[1] or 0))):
        out.setdefault(split_run(name)[0], []).append(name)
    return out


def scatter_figure(frame: pd.DataFrame, correlation: pd.DataFrame, selection: pd.DataFrame,
                   variants: list[str], truth_split: str, ranks: bool = False):
    """One panel per variant, every super-net seed in its own colour with its pick starred: super-net
    against stand-alone accuracy, or (`ranks`) their ranks (1 = best), which a dead cell far below the
    rest cannot squeeze into a corner. The title gives Kendall τ per seed."""
    groups = _by_variant(frame) or {"(none)": []}
    fig, axes = panels(len(groups))
    edge = None if ranks else dead_edge(frame["standalone_accuracy"])
    for ax, (variant, runs) in zip(axes, groups.items()):
        if not runs:
            no_data(ax)
        taus = []
        for n, run in enumerate(runs):
            d = frame[frame["variant"] == run]
            if ranks:
                d = d.assign(standalone_accuracy=d["standalone_accuracy"].rank(ascending=False, method="average"),
                             supernet_accuracy=d["supernet_accuracy"].rank(ascending=False, method="average"))
            elif edge is not None:  # dead cells far below the rest: drawn at the edge, not squeezing the rest
                dead = d[d["standalone_accuracy"] < edge]
                ax.scatter(np.full(len(dead), edge), dead["supernet_accuracy"], s=30, marker="<", color=f"C{n % 10}",
                           alpha=0.8)
                d = d[d["standalone_accuracy"] >= edge]
            seed = split_run(run)[1]
            ax.scatter(d["standalone_accuracy"], d["supernet_accuracy"], s=14, alpha=0.6, color=f"C{n % 10}",
                       label=f"seed {seed}" if seed else run)
            pick = supernet_pick(selection, run)
            if pick is not None and not is_missing(pick["arch_id"]):
                p = d[d["arch_id"] == int(pick["arch_id"])]
                ax.scatter(p["standalone_accuracy"], p["supernet_accuracy"], s=110, marker="*", color=f"C{n % 10}",
                           edgecolor="black", linewidth=0.6, zorder=3)
            taus.append(fmt(metric_value(correlation, run, "kendall_tau"), 2))
        ax.set_title(f"{variant}: Kendall τ per seed {', '.join(taus)}\n★ = each seed's super-net pick", fontsize=9)
        if ranks:
            ax.invert_xaxis()
            ax.invert_yaxis()
            ax.set_xlabel(f"stand-alone rank, {truth_split} (1 = best)")
            ax.set_ylabel("super-net rank (1 = best)")
        else:
            ax.set_xlabel(f"stand-alone accuracy, {truth_split} (%)" + (
                f"\n◀ at {edge:.1f}: cells far below the rest (dead), drawn at the edge" if edge is not None else ""))
            ax.set_ylabel("super-net accuracy, valid (%)")
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7, loc="lower right" if ranks else "upper left")
    return fig


def dead_edge(accuracy: pd.Series) -> float | None:
    """Where the accuracy scatter starts when some cells lie far below the rest (dead cells: below the
    lower quartile by more than 3 interquartile ranges), or None when none do."""
    a = accuracy.dropna().to_numpy(dtype=float)
    if len(a) < 8:
        return None
    q1, q3 = np.percentile(a, [25, 75])
    edge = q1 - 3 * (q3 - q1)
    below = a[a < edge]
    return None if len(below) == 0 else float(a[a >= edge].min() - 0.5)


def headline_figure(correlation: pd.DataFrame, heuristics: pd.DataFrame | None):
    """The study at a glance: Kendall τ of every super-net run (a dot with its bootstrap interval over
    architectures), each variant's mean over seeds with its interval over seeds (a bar), and of each
    training-free ranker (a square), against the perfect-ranker reference (band) and the stand-alone
    seed-to-seed τ (dashed line)."""
    runs = correlation[(correlation["metric"] == "kendall_tau") & (correlation["variant"] != SEED_VARIANT)]
    groups: dict[str, list] = {}
    for row in runs.itertuples(index=False):
        groups.setdefault(split_run(row.variant)[0], []).append(row)
    fig, ax = pyplot().subplots(figsize=(7.5, 1.4 + 0.42 * max(len(groups), 1)), layout="constrained")
    ref = correlation[correlation["metric"] == REFERENCE]
    if len(ref):
        r = ref.iloc[0]
        ax.axvspan(r["ci_low"], r["ci_high"], color="C2", alpha=0.15, label="perfect-ranker reference (95% CI)")
        ax.axvline(r["value"], color="C2", lw=1)
    seed = correlation[correlation["metric"] == SEED_METRIC]
    if len(seed):
        ax.axvline(seed.iloc[0]["value"], color="grey", ls="--", lw=1, label="stand-alone seed-to-seed τ")
    means = heuristics[heuristics["metric"] == "kendall_tau"].set_index("variant") if heuristics is not None else None
    labelled: set[bool] = set()
    for y, (variant, rows) in enumerate(groups.items()):
        for n, row in enumerate(rows):
            offset = (n - (len(rows) - 1) / 2) * 0.12
            err = None if is_missing(row.ci_low) else [[row.value - row.ci_low], [row.ci_high - row.value]]
            free = str(variant).startswith(ZERO_COST)  # a training-free ranker (nas.zerocost): no seeds
            label = None
            if free not in labelled:  # one legend entry for the runs, one for the rankers
                labelled.add(free)
                label = "training-free ranker (bootstrap CI)" if free else "one run (bootstrap CI over architectures)"
            ax.errorbar([row.value], [y + offset], xerr=err, fmt="s" if free else "o", ms=4,
                        color="C1" if free else "C0", alpha=0.6, capsize=2, label=label)
        if means is not None and variant in means.index:
            m = means.loc[variant]
            if not is_missing(m["ci_low"]):
                ax.plot([m["ci_low"], m["ci_high"]], [y, y], color="C3", lw=5, alpha=0.45, solid_capstyle="butt",
                        label="variant mean, interval over seeds" if y == 0 else None)
            ax.plot([m["mean"]], [y], marker="|", ms=16, mew=2.5, color="C3")
    ax.set_yticks(range(len(groups)), labels=list(groups))
    ax.set_ylim(max(len(groups), 1) - 0.5, -0.5)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("Kendall τ, super-net vs stand-alone ranking")
    ax.grid(axis="x", alpha=0.3)
    if groups:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        no_data(ax)
    return fig


def curves_figure(frame: pd.DataFrame):
    """Training loss and accuracy per epoch of every run: one colour per variant, one line style per seed."""
    fig, (loss, acc) = pyplot().subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    styles = ["-", "--", ":", "-."]
    for n, (variant, runs) in enumerate(_by_variant(frame).items()):
        for m, run in enumerate(runs):
            d = frame[frame["variant"] == run]
            kw = {"color": f"C{n % 10}", "ls": styles[m % len(styles)], "label": run, "lw": 1.2}
            loss.plot(d["epoch"], d["train_loss"], **kw)
            acc.plot(d["epoch"], d["train_accuracy"], **kw)
    for ax, what, unit in [(loss, "train loss", ""), (acc, "train accuracy", " (%)")]:
        if frame.empty:
            no_data(ax)
        ax.xaxis.set_major_locator(pyplot().MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(what + unit)
        ax.set_title(f"super-net {what}", fontsize=10)
        ax.grid(alpha=0.3)
    if not frame.empty:
        acc.legend(fontsize=6, ncol=max(1, math.ceil(frame["variant"].nunique() / 12)), loc="upper left",
                   bbox_to_anchor=(1.01, 1))
    return fig


def seed_columns(standalone: pd.DataFrame, truth_split: str) -> pd.DataFrame:
    """arch_id x seed table of stand-alone accuracy on the truth split (architectures missing a seed dropped)."""
    col = f"{truth_split}_accuracy"
    if col not in standalone:
        col = "test_accuracy"
    if standalone.empty or col not in standalone:
        return pd.DataFrame()
    wide = standalone.pivot_table(index="arch_id", columns="seed", values=col, aggfunc="mean")
    return wide.sort_index(axis=1).dropna()


def standalone_figure(standalone: pd.DataFrame, correlation: pd.DataFrame, truth: pd.DataFrame, truth_split: str):
    fig, ax = pyplot().subplots(figsize=(5, 4.2), layout="constrained")
    wide = seed_columns(standalone, truth_split)
    seed_tau = correlation.loc[correlation["metric"] == SEED_METRIC, "value"]
    tau = f", seed-to-seed Kendall τ {fmt(seed_tau.iloc[0])}" if len(seed_tau) else ""
    if wide.shape[1] >= 2:
        a, b = wide.columns[:2]
        ax.scatter(wide[a], wide[b], s=14, alpha=0.7)
        lo, hi = np.nanmin(wide[[a, b]].to_numpy()), np.nanmax(wide[[a, b]].to_numpy())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")  # perfect seed-to-seed agreement
        ax.set_xlabel(f"seed {a}: {truth_split} accuracy (%)")
        ax.set_ylabel(f"seed {b}: {truth_split} accuracy (%)")
        ax.set_title(f"stand-alone, seed vs seed{tau}", fontsize=10)
    else:
        acc = truth["accuracy"].to_numpy(dtype=float)
        acc = acc[np.isfinite(acc)]
        if acc.size:
            ax.hist(acc, bins=min(20, max(5, acc.size // 3)), color="C0", alpha=0.8, edgecolor="white")
        else:
            no_data(ax)
        ax.yaxis.set_major_locator(pyplot().MaxNLocator(integer=True))
        ax.set_xlabel(f"stand-alone {truth_split} accuracy (%), mean over seeds")
        ax.set_ylabel("architectures")
        seeds = "one seed" if wide.shape[1] == 1 else "fewer than two seeds per architecture"
        ax.set_title(f"stand-alone accuracy ({seeds}){tau}", fontsize=10)
    ax.grid(alpha=0.3)
    return fig
