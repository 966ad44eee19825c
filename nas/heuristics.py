"""The heuristics table: every super-net variant against the baseline, over super-net seeds.

A heuristics study (after Yu et al., "How to train your super-net") trains several super-net
*variants* (the baseline with some training heuristics changed), each with several seeds. Per
(variant, seed) the pipeline has already measured ranking agreement (correlation), the super-net's
pick (selection) and training cost (costs). This module turns those into one long table, one row per
(variant, metric, k):

    variant, metric, k, n, mean, ci_low, ci_high, interval, diff, diff_ci_low, diff_ci_high,
    diff_interval, p_value, p_holm, detectable

Statistics. `n` counts the seeds that have a value. `mean` is the mean over those seeds and
[ci_low, ci_high] its interval over super-net seeds, not architectures (the per-seed bootstrap
intervals in the correlation table are not used); `interval` says which: "t", the t-interval
mean ± t_{(1+level)/2, n-1} · sd/√n (sd with ddof=1), from 3 values on; "range", the smallest and
largest value, with 2 (a t-interval from 2 values spans ±12.7 sd/√2 at 95 %: wider than any value a
metric can take, e.g. accuracy [74, 113]); "none" with fewer. `diff` is the variant minus the
baseline, paired by seed number and averaged over the seeds both have; [diff_ci_low, diff_ci_high]
is the interval of those paired differences by the same rule (`diff_interval`) and `p_value` the
two-sided paired t-test (scipy.stats.ttest_rel), NaN with fewer than 2 shared seeds. When every paired difference
is exactly equal, the t statistic is 0/0 or d/0; we define p = 0.0 if the common difference is
non-zero (e.g. a deterministic cost that always differs) and p = 1.0 if it is zero. The baseline's
own rows have diff 0.0 (NaN where the baseline has no value) and NaN diff intervals and p. If the
baseline is not among the variants, all diff columns are NaN.

With 2-3 seeds the t quantile is large (12.7 for n=2, 4.3 for n=3 at 95%), so the intervals are
wide and the test has little power: p > 0.05 is not evidence that a heuristic has no effect. So each
comparison also carries `detectable`, the difference its seeds could have detected (a paired t-test at
0.05 with 80 % power, from the observed sd of the paired differences over the shared seeds:
nas.power.detectable_difference), and `p_holm`, its p-value corrected by Holm's method over the family
of the table's tests of one metric (every variant against the baseline on that metric and k): testing
19 heuristics at 0.05 one by one finds about one "effect" by chance; a difference counts as shown when
p_holm < 0.05.

s-KdT here is tau-b between floor(accuracy/threshold) and the score; Yu et al.'s code pairs
positions rather than models and reads about 0.005-0.02 higher under heavy ties.

All functions are pure functions of DataFrames: the same input gives the same table (values are
taken in seed order, so input row order does not matter).
"""

from __future__ import annotations

import math

import pandas as pd

from nas import power
from nas.io import UserError, require_columns
from nas.power import interval

COLUMNS = ["variant", "metric", "k", "n", "mean", "ci_low", "ci_high", "interval", "diff", "diff_ci_low",
           "diff_ci_high", "diff_interval", "p_value", "p_holm", "detectable"]
DTYPES = {"variant": "str", "metric": "str", "k": "Int64", "n": "int64", "interval": "str",
          "diff_interval": "str", **{c: "float64" for c in COLUMNS if c.endswith(("mean", "low", "high", "diff", "p_value", "p_holm",
                                                          "detectable"))}}

CORRELATION_METRICS = ["kendall_tau", "sparse_kendall_tau", "spearman"]
TOPK_METRIC = "precision_at_k"
SELECTION_METRICS = {"selected_accuracy": "accuracy", "regret": "regret"}  # table metric -> selection column
COST_METRICS = ["passes", "seconds"]

# ----------------------------------------------------------------------------------------------
# statistics (over seeds: nas.power)


def compare(x: pd.Series, base: pd.Series | None, level: float) -> tuple[float, float, float, str, float, float]:
    """(diff, diff_ci_low, diff_ci_high, diff_interval, p, detectable) of x - base over the seeds both
    have (series indexed by seed); detectable: the difference those seeds detect with 80 % power."""
    if base is None:
        return math.nan, math.nan, math.nan, "none", math.nan, math.nan
    seeds = x.index.intersection(base.index).sort_values()
    return power.paired_comparison(x.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float), level)


# ----------------------------------------------------------------------------------------------
# inputs -> per-seed values


def _no_duplicates(df: pd.DataFrame, keys: list[str], name: str) -> None:
    # Two values for one seed would be averaged silently into a "seed"; better to say so.
    dup = df[df.duplicated(keys, keep=False)]
    if not dup.empty:
        first = ", ".join(f"{k}={dup.iloc[0][k]}" for k in keys)
        raise UserError(f"{name}: {len(dup)} rows share their ({', '.join(keys)}), e.g. {first}")


def _series(df: pd.DataFrame, value: str) -> pd.Series:
    """value by seed, NaN dropped, in seed order (so the sums, hence the bytes, ignore row order)."""
    s = pd.Series(df[value].to_numpy(float), index=[int(x) for x in df["seed"]], dtype="float64")
    return s.dropna().sort_index()


def correlation_values(correlation: pd.DataFrame, variants: list[str]) -> dict:
    """{(variant, metric, k): values by seed} for the rank correlations and P@k (k None for the rest)."""
    known = set(correlation["variant"].astype(str))
    for v in variants:
        if v not in known:
            has = ", ".join(sorted(known - {"standalone"})) or "none"
            raise UserError(f"correlation: no rows for variant '{v}' (has: {has})")
    df = correlation[correlation["variant"].astype(str).isin(variants)]
    df = df[(df["metric"].isin(CORRELATION_METRICS) & df["k"].isna())
            | ((df["metric"] == TOPK_METRIC) & df["k"].notna())]
    if df["seed"].isna().any():
        v = df.loc[df["seed"].isna(), "variant"].iloc[0]
        raise UserError(f"correlation: rows of variant '{v}' have no seed")
    _no_duplicates(df, ["variant", "metric", "k", "seed"], "correlation")
    out = {}
    for (v, m, k), g in df.groupby([df["variant"].astype(str), "metric", df["k"].astype("float64").fillna(-1)],
                                   sort=True):
        out[(v, m, None if k < 0 else int(k))] = _series(g, "value")
    return out


def selection_values(selection: pd.DataFrame, variants: list[str], method: str) -> dict:
    df = selection[selection["variant"].astype(str).isin(variants)]
    picks = df[df["method"] == method]
    if not df.empty and picks.empty:  # most likely a misspelt method
        has = ", ".join(sorted(set(df["method"].astype(str))))
        raise UserError(f"selection: no rows with method '{method}' (has: {has})")
    _no_duplicates(picks, ["variant", "seed"], "selection")
    out = {}
    for v, g in picks.groupby(picks["variant"].astype(str), sort=True):
        for metric, column in SELECTION_METRICS.items():
            out[(v, metric, None)] = _series(g, column)
    return out


def cost_values(costs: pd.DataFrame, variants: list[str]) -> dict:
    df = costs[costs["variant"].astype(str).isin(variants)]
    _no_duplicates(df, ["variant", "seed"], "costs")
    return {(v, metric, None): _series(g, metric)
            for v, g in df.groupby(df["variant"].astype(str), sort=True) for metric in COST_METRICS}


def metric_keys(values: dict, seconds: bool) -> list[tuple[str, int | None]]:
    """(metric, k) in table order. Fixed metrics always get a row (n=0 where absent); P@k one per k seen."""
    ks = sorted({k for (_, m, k) in values if m == TOPK_METRIC})
    keys = [(m, None) for m in CORRELATION_METRICS] + [(TOPK_METRIC, k) for k in ks]
    keys += [(m, None) for m in SELECTION_METRICS] + [("passes", None)]
    return keys + [("seconds", None)] if seconds else keys


# ----------------------------------------------------------------------------------------------
# the table


def heuristics_table(correlation: pd.DataFrame, selection: pd.DataFrame, costs: pd.DataFrame,
                     variants: list[str], baseline: str = "baseline", method: str = "supernet",
                     level: float = 0.95) -> pd.DataFrame:
    """One row per (variant, metric, k): mean and t-interval over seeds, and the paired comparison
    with `baseline` (see the module docstring). Variants in the order given."""
    variants = [str(v) for v in variants]
    if len(set(variants)) != len(variants):
        raise UserError(f"variants listed twice: {', '.join(sorted({v for v in variants if variants.count(v) > 1}))}")
    if not 0 < level < 1:
        raise UserError(f"level must be between 0 and 1, got {level}")
    require_columns(correlation, ["variant", "seed", "metric", "k", "value"], "correlation")
    require_columns(selection, ["variant", "seed", "method", *SELECTION_METRICS.values()], "selection")
    require_columns(costs, ["variant", "seed", *COST_METRICS], "costs")

    values = {**correlation_values(correlation, variants), **selection_values(selection, variants, method),
              **cost_values(costs, variants)}
    # seconds measure the machine: rows only where measured (callers drop them for byte-identical tables)
    keys = metric_keys(values, seconds=bool(costs["seconds"].notna().any()))
    empty = pd.Series(dtype="float64")
    rows = []
    for v in variants:
        for metric, k in keys:
            x = values.get((v, metric, k), empty)
            if v == baseline:
                diff = 0.0 if len(x) else math.nan
                comparison = (diff, math.nan, math.nan, "none", math.nan, math.nan)
            else:
                base = values.get((baseline, metric, k), empty) if baseline in variants else None
                comparison = compare(x, base, level)
            diff, low, high, kind, p, detectable = comparison
            rows.append([v, metric, pd.NA if k is None else k, len(x), *interval(x.to_numpy(float), level),
                         diff, low, high, kind, p, math.nan, detectable])
    table = pd.DataFrame(rows, columns=COLUMNS).astype(DTYPES)
    family = [table["metric"], table["k"].astype("float64").fillna(-1)]  # one family per metric (and k)
    table["p_holm"] = power.holm_within(table, family)
    # for the presentation functions below; DataFrame.equals ignores attrs, write_parquet drops them
    table.attrs.update(baseline=baseline, level=level)
    return table
