"""What the terminal shows: the few lines `nas summary` prints at the end of a run, and the tables the
select, heuristics and stability stages print."""

from __future__ import annotations

import pandas as pd

from nas.metrics import MINUS, REFERENCE, ZERO_COST
from nas.metrics_files import heuristic_rows
from nas.report.formats import STABILITY_DECIMALS, STABILITY_LABELS, decimals, fmt, fmt_ci, fmt_test
from nas.report.tables import (SEED_METRIC, has_comparison, heuristics_baseline, selection_summary_cells,
                               stability_summary, stability_wide)


def selection_summary_text(summary: pd.DataFrame) -> str:
    """The summary as the `select` stage prints it."""
    if summary.empty:
        return "no selection results"
    return selection_summary_cells(summary).to_string(index=False)


def selection_detail_text(summary: pd.DataFrame, selection: pd.DataFrame) -> str:
    """`selection_summary_text` with each run's pick accuracy beside its mean ('seeds': in seed order),
    the table `nas study show` prints (RESULTS.md's selection tables come from it)."""
    if summary.empty:
        return "no selection results"
    cells = selection_summary_cells(summary)
    per_seed = (selection.sort_values("seed", kind="stable").groupby(["variant", "method"], sort=False)["accuracy"]
                .agg(lambda a: ", ".join(fmt(x, 2) for x in a)))
    cells["seeds"] = [per_seed.get((v, m), "") for v, m in zip(cells["variant"], cells["method"])]
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        return cells.to_string(index=False)


def heuristics_wide(table: pd.DataFrame, digits: int = 3, baseline: str | None = None) -> pd.DataFrame:
    """One row per variant for a terminal: 'mean [lo, hi]' per metric and, when there is a baseline to
    compare with, 'Δ name' = '+0.012 (p=0.34, Holm 1.00, detects ±0.081)' ('—' on the baseline's row):
    the p-value, corrected by Holm over the variants, and the difference the seeds detect with 80 % power. `digits` is for the
    correlations; P@k, accuracy and regret get 2, passes 0, seconds 1. `n` = most seeds of any metric."""
    baseline = heuristics_baseline(table, baseline)
    compare_ = has_comparison(table, baseline)
    out: dict[str, dict] = {}
    for name, row in heuristic_rows(table):
        r = out.setdefault(str(row.variant), {"variant": str(row.variant), "n": 0})
        r["n"] = max(r["n"], int(row.n))
        d = decimals(row.metric, digits)
        r[name] = fmt_ci(row.mean, row.ci_low, row.ci_high, d, kind=row.interval)
        if compare_:
            r[f"Δ {name}"] = ("—" if row.variant == baseline else
                              f"{fmt(row.diff, d, '+')} ({fmt_test(row.p_value, row.p_holm, row.detectable, d)})")
    return pd.DataFrame(list(out.values()))


def stability_text(table: pd.DataFrame) -> str:
    wide = stability_wide(table)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        return wide.to_string(index=False) if len(wide) else "no runs"


def summary_text(heuristics: pd.DataFrame, correlation: pd.DataFrame, methods: pd.DataFrame,
                 stability: pd.DataFrame | None, report_path: str) -> str:
    """Per variant: Kendall tau over its seeds with the interval, each selection method's regret, and
    (where measured) seed-to-seed tau and distinct top-1 children; the ground-truth reference; the
    report's path. Intervals: t over seeds from 3 seeds on, the range of 2."""
    lines = []
    ref = correlation[correlation["metric"] == REFERENCE]
    seed = correlation[correlation["metric"] == SEED_METRIC]
    if len(ref) and len(seed):
        r, s = ref.iloc[0], seed.iloc[0]
        lines.append(f"ground truth: perfect-ranker reference Kendall τ {fmt_ci(r['value'], r['ci_low'], r['ci_high'])}; "
                     f"stand-alone seed-to-seed τ {fmt_ci(s['value'], s['ci_low'], s['ci_high'])}")
    taus = heuristics[heuristics["metric"] == "kendall_tau"].set_index("variant")
    regret = methods[(methods["metric"] == "regret") & (methods["method"] != "oracle")]  # the oracle's is 0
    summary = stability_summary(stability).set_index(["variant", "statistic"]) if stability is not None else None
    rows = []
    for variant in dict.fromkeys(heuristics["variant"]):
        row = {"variant": variant, "runs": int(taus.loc[variant, "n"]) if variant in taus.index else 0}
        if variant in taus.index:
            t = taus.loc[variant]
            row["Kendall τ"] = fmt_ci(t["mean"], t["ci_low"], t["ci_high"], kind=t["interval"])
        for m in regret[regret["variant"] == variant].itertuples(index=False):
            row[f"regret {m.method}"] = fmt_ci(m.mean, m.ci_low, m.ci_high, 2, kind=m.interval)
        for statistic in ("seed_tau", "distinct_top1"):
            if summary is not None and (variant, statistic) in summary.index:
                s = summary.loc[(variant, statistic)]
                row[STABILITY_LABELS[statistic]] = fmt_ci(s["value"], s["ci_low"], s["ci_high"],
                                                          STABILITY_DECIMALS.get(statistic, 3), kind=s["interval"])
        rows.append(row)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        lines.append(pd.DataFrame(rows).fillna("").to_string(index=False))
    lines.append("intervals over super-net seeds: [t-interval] from 3 seeds, (range) of 2; regret in points "
                 "(oracle accuracy minus the pick's)")
    tested = taus[taus["p_holm"].notna()] if "p_holm" in taus else taus.iloc[:0]
    if len(tested):
        shown = tested[tested["p_holm"] < 0.05]
        names = ", ".join(f"{v} {fmt(r['diff'], 3, '+')}" for v, r in shown.iterrows())
        lines.append(f"Kendall τ differences from the baseline shown at Holm-corrected p < 0.05: {len(shown)} of "
                     f"{len(tested)}{': ' + names if names else ''}; the seeds detect about "
                     f"±{tested['detectable'].median():.3f} (median over variants, 80 % power)")
    free = correlation[(correlation["metric"] == "kendall_tau") & correlation["variant"].astype(str).str.startswith(
        ZERO_COST)]
    if len(free):
        lines.append("training-free rankers, Kendall τ: " + ", ".join(
            f"{str(r.variant)[len(ZERO_COST):]} {fmt(r.value, 3)}" for r in free.itertuples())
            + " (intervals: results/correlation.parquet)")
        best = str(free.loc[free["value"].idxmax(), "variant"])[len(ZERO_COST):]
        minus = correlation[correlation["metric"] == MINUS + best]
        if len(minus):
            parts = []
            for variant, runs in minus.groupby("variant", sort=False):
                above, below = int((runs["ci_low"] > 0).sum()), int((runs["ci_high"] < 0).sum())
                parts.append(f"{variant} {fmt(runs['value'].mean(), 3, '+')} ({len(runs)} runs: {above} above, "
                             f"{below} below)")
            lines.append(f"super-net minus {best} (the best ranker), Kendall τ, runs whose paired 95 % interval "
                         f"excludes 0: " + "; ".join(parts))
    compared = (methods[(methods["metric"] == "regret") & methods["p_holm"].notna()] if "p_holm" in methods
                else methods.iloc[:0])
    if len(compared):
        better = compared[(compared["p_holm"] < 0.05) & (compared["diff"] < 0)]
        names = ", ".join(f"{r.variant}/{r.method} {fmt(r.diff, 2, '+')}" for r in better.itertuples())
        lines.append(f"picks with less regret than the random pick of the same runs at Holm-corrected p < 0.05: "
                     f"{len(better)} of {len(compared)}{': ' + names if names else ''}; the runs detect about "
                     f"±{compared['detectable'].median():.2f} points (median, 80 % power)")
    lines.append(f"report: {report_path}")
    return "\n".join(lines)


def workspace_summary(missing: str = "no results yet (run the study first)") -> str:
    """`summary_text` of the study in the working folder, read from its files (`nas summary`)."""
    from nas import io
    from nas import layout as L

    if not L.HEURISTICS.is_file():
        raise io.UserError(missing)
    stability = io.read_parquet(L.STABILITY, L.SCHEMAS["stability"]) if L.STABILITY.is_file() else None
    return summary_text(io.read_parquet(L.HEURISTICS), io.read_parquet(L.CORRELATION, L.SCHEMAS["correlation"]),
                        io.read_parquet(L.SELECTION_SUMMARY, L.SCHEMAS["selection_summary"]), stability,
                        (L.REPORT / "index.html").as_posix())
