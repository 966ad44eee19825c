"""The small JSON metrics files the data stages write, read by `dvc metrics show` and `nas compare`.

One shape for every file: {group: {name: number | [low, high] | null}}, a group being a run
('variant/seed-S'), a variant, or 'standalone'. The correlate, select, heuristics and stability stages
write them: correlation.json, selection.json, heuristics.json, stability.json. Nothing here imports
the report (nas.report) or matplotlib; the report takes `is_missing`, `run_label`, `metric_name` and
`heuristic_rows` from here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nas.layout import Run


def is_missing(x) -> bool:
    """None, NaN or pd.NA (a scalar)."""
    return x is None or (np.ndim(x) == 0 and bool(pd.isna(x)))


# ----------------------------------------------------------------------------------------------
# metrics JSON for `dvc metrics` (one shape for every file)


def json_number(x):
    """A finite number rounded to 6 decimals, else None (JSON has no NaN)."""
    return None if is_missing(x) or not math.isfinite(float(x)) else round(float(x), 6)


def metrics_json(entries) -> dict:
    """{group: {name: number | [low, high] | null}} from (group, name, value) entries; a group is a run
    ('variant/seed-S'), a variant, or 'standalone'."""
    out: dict = {}
    for group, name, value in entries:
        out.setdefault(str(group), {})[name] = ([json_number(v) for v in value] if isinstance(value, (list, tuple))
                                                else json_number(value))
    return out


def interval_entries(group, name: str, mean, low, high, kind: str):
    """The metrics-JSON entries of a mean over seeds: (group, name, mean) and, with bounds,
    (group, name_ci, [low, high]) for a t-interval or (group, name_range, ...) for 2 seeds' range."""
    yield group, name, mean
    suffix = {"t": "ci", "range": "range"}.get(kind)
    if suffix is not None:
        yield group, f"{name}_{suffix}", [low, high]


def run_label(variant, seed) -> str:
    """'variant/seed-S'; the variant alone for rows without a super-net seed (the stand-alone rows)."""
    return str(variant) if is_missing(seed) else Run(str(variant), int(seed)).name


# ----------------------------------------------------------------------------------------------
# one writer per file


def correlation_json(table: pd.DataFrame) -> dict:
    """{run: {metric[@k]: value, metric[@k]_ci: [low, high]}}; the seed-to-seed row under 'standalone'."""
    def entries():
        for row in table.itertuples(index=False):
            name = row.metric if is_missing(row.k) else f"{row.metric}@{int(row.k)}"
            run = run_label(row.variant, row.seed)
            yield run, name, row.value
            yield run, f"{name}_ci", [row.ci_low, row.ci_high]
    return metrics_json(entries())


def selection_json(table: pd.DataFrame) -> dict:
    """{run: {method_accuracy, method_percentile, method_regret}}."""
    return metrics_json((Run(row["variant"], int(row["seed"])).name, f"{row['method']}_{col}", row[col])
                        for _, row in table.iterrows() for col in ("accuracy", "percentile", "regret"))


def metric_name(metric: str, k) -> str:
    """'kendall_tau', 'precision_at_k@5': the key in metrics_json and the wide table's column."""
    return metric if is_missing(k) else f"{metric}@{int(k)}"


def heuristic_rows(table: pd.DataFrame):
    """(name, row) per table row, in table order."""
    for row in table.itertuples(index=False):
        yield metric_name(row.metric, row.k), row


def heuristics_json(table: pd.DataFrame) -> dict:
    """{variant: {name: mean, name_ci (a t-interval) or name_range (2 seeds): [low, high]}}: what
    `dvc metrics show/diff` compares between revisions. The paired differences from the baseline and
    their p-values stay in heuristics.parquet and the report (as metrics they would double the columns
    of `dvc exp show` with numbers that are not measurements of one revision)."""
    return metrics_json(entry for name, row in heuristic_rows(table)
                        for entry in interval_entries(row.variant, name, row.mean, row.ci_low, row.ci_high, row.interval))


def stability_json(table: pd.DataFrame) -> dict:
    """{variant: {statistic: mean, statistic_ci or statistic_range: [low, high], interference@S: mean
    change of a child's loss after a step on one sharing S operations with it}}."""
    return metrics_json(
        entry for row in table[table["series"].isin(["summary", "interference"])].itertuples(index=False)
        for entry in interval_entries(row.variant, row.statistic if row.series == "summary" else f"interference@{row.point}",
                                      row.value, row.ci_low, row.ci_high, row.interval))


# The few numbers a reader compares first, one small file: what `dvc metrics show` and `dvc exp show`
# list (the detailed files above are committed beside it and read by `nas compare`).
HEADLINE = ("kendall_tau", "sparse_kendall_tau", "regret")


def headline_json(heuristics: pd.DataFrame, correlation: pd.DataFrame) -> dict:
    """{standalone: {seed-to-seed and perfect-ranker tau}, variant: {kendall_tau, sparse_kendall_tau,
    regret: the mean over the variant's seeds}}."""
    from nas.metrics import REFERENCE, SEED_TO_SEED

    truth = correlation[correlation["variant"] == "standalone"]
    entries = [("standalone", m, truth.loc[truth["metric"] == m, "value"].iloc[0])
               for m in (SEED_TO_SEED, REFERENCE) if (truth["metric"] == m).any()]
    rows = heuristics[heuristics["metric"].isin(HEADLINE)]
    entries += [(row.variant, row.metric, row.mean) for row in rows.itertuples(index=False)]
    return metrics_json(entries)
