"""Lookups in the long tables the stages write (correlation, selection, heuristics, stability), and
the formatted frames both the terminal (nas.report.text) and the page (nas.report.page) show."""

from __future__ import annotations

import pandas as pd

from nas.metrics import REFERENCE, SEED_TO_SEED
from nas.metrics_files import is_missing
from nas.report.formats import (STABILITY_DECIMALS, STABILITY_LABELS, SUMMARY_DECIMALS, SUMMARY_LABELS, fmt, fmt_ci,
                                fmt_test)


CORRELATION_ORDER = ["kendall_tau", "sparse_kendall_tau", "spearman", "pearson", "precision_at_k",
                     "topk_percentile", "top_share_tau"]
SEED_METRIC = SEED_TO_SEED
SEED_VARIANT = "standalone"  # the correlation rows of the ground truth itself (seed-to-seed, reference)


def variant_names(scores, histories, correlation, selection) -> list[str]:
    names = set(scores) | set(histories)
    names |= set(correlation.loc[correlation["variant"] != SEED_VARIANT, "variant"].astype(str))
    names |= set(selection["variant"].astype(str))
    return sorted(names)


def metric_row(correlation: pd.DataFrame, variant: str, metric: str, k=None) -> pd.Series | None:
    """The (value, ci_low, ci_high) row of one statistic, or None if the table lacks it."""
    rows = correlation[(correlation["variant"] == variant) & (correlation["metric"] == metric)]
    rows = rows[rows["k"].isna()] if k is None else rows[(rows["k"] == k).fillna(False).astype(bool)]
    return None if rows.empty else rows.iloc[0]


def metric_text(correlation: pd.DataFrame, variant: str, metric: str, k=None, decimals: int = 3) -> str:
    row = metric_row(correlation, variant, metric, k)
    return "n/a" if row is None else fmt_ci(row["value"], row["ci_low"], row["ci_high"], decimals)


def metric_value(correlation: pd.DataFrame, variant: str, metric: str) -> float:
    row = metric_row(correlation, variant, metric)
    return float("nan") if row is None or is_missing(row["value"]) else float(row["value"])


def metric_columns(correlation: pd.DataFrame) -> list[tuple[str, object]]:
    """(metric, k) pairs in table order: the correlations, then P@k and top-k percentile per k
    ascending, then any metric this module does not know, by name."""
    rows = correlation[~correlation["metric"].isin([SEED_METRIC, REFERENCE])][["metric", "k"]].drop_duplicates()
    pairs = [(str(m), None if is_missing(k) else int(k)) for m, k in rows.itertuples(index=False)]
    known = CORRELATION_ORDER

    def order(pair):
        m, k = pair
        if m in known[:4]:
            return (0, known.index(m), 0, m)
        if m in known:
            return (1, -1 if k is None else k, known.index(m), m)
        return (2, -1 if k is None else k, 0, m)

    return sorted(set(pairs), key=order)


def supernet_pick(selection: pd.DataFrame, variant: str) -> pd.Series | None:
    """The super-net's own pick: method 'supernet', else the first non-baseline method."""
    rows = selection[selection["variant"] == variant]
    for method in ["supernet"] + [m for m in rows["method"] if m not in ("supernet", "oracle", "random")]:
        hit = rows[rows["method"] == method]
        if not hit.empty:
            return hit.iloc[0]
    return None


def split_run(name: str) -> tuple[str, str]:
    """('baseline', '0') from a run's name 'baseline/seed-0' (a name without a seed: (name, ''))."""
    variant, _, seed = str(name).rpartition("/seed-")
    return (variant, seed) if variant else (str(name), "")


def heuristics_baseline(table: pd.DataFrame, baseline: str | None) -> str:
    return baseline if baseline is not None else str(table.attrs.get("baseline", "baseline"))


def has_comparison(table: pd.DataFrame, baseline: str) -> bool:
    variants = table["variant"].unique()
    return baseline in variants and len(variants) > 1


def stability_summary(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["series"] == "summary"]


COMPARED = "Δ regret vs random (paired)"


def selection_summary_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, method): runs and each metric as 'mean [low, high]' (the interval's kind
    after it unless a t-interval), columns labelled — the over-seeds comparison of selection methods —
    and each method's regret against the random pick of the same runs: the paired difference with
    its interval, p, Holm's p over the table and the difference the runs detect."""
    rows = []
    for (variant, method), g in summary.groupby(["variant", "method"], sort=False):
        row = {"variant": variant, "method": method, "runs": int(g["runs"].max())}
        for r in g.itertuples():
            d = SUMMARY_DECIMALS.get(r.metric, 2)
            row[r.metric] = (fmt(r.mean, d) if r.interval == "none" else
                             fmt_ci(r.mean, r.ci_low, r.ci_high, d, kind=r.interval))
            if r.metric == "regret" and "diff" in g and not is_missing(r.diff):
                row[COMPARED] = (f"{fmt_ci(r.diff, r.diff_ci_low, r.diff_ci_high, d, '+', r.diff_interval)} "
                                 f"({fmt_test(r.p_value, r.p_holm, r.detectable, d)})")
        rows.append(row)
    return pd.DataFrame(rows).rename(columns=SUMMARY_LABELS)


def stability_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, one column per summary statistic: 'mean [low, high]'."""
    out: dict[str, dict] = {}
    for row in stability_summary(table).itertuples(index=False):
        r = out.setdefault(str(row.variant), {"variant": str(row.variant)})
        r[STABILITY_LABELS.get(row.statistic, row.statistic)] = fmt_ci(
            row.value, row.ci_low, row.ci_high, STABILITY_DECIMALS.get(row.statistic, 3), kind=row.interval)
    return pd.DataFrame(list(out.values()))
