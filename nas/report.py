"""The study report: one self-contained HTML page, its figures, and the CSVs `dvc plots` reads.

Everything here is a pure function of the already-loaded tables, so the same inputs give the same
bytes (HTML and CSV always; PNG too, since the Agg backend writes no date and we drop the Software
tag). Every file goes through `nas.io.atomic_path`, so a killed run never leaves half a report.

Variants are always listed in sorted order, whatever order the caller's dicts come in.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nas.io import atomic_path, require_columns
from nas.layout import Run
from nas.metrics import REFERENCE, SEED_TO_SEED


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, imported on first use: the stages that write
    only tables and metrics JSON (correlate, select, heuristics) need not pay for it."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; must come before pyplot
    import matplotlib.pyplot as plt

    return plt

SCATTER_COLUMNS = ["variant", "arch_id", "standalone_accuracy", "supernet_accuracy"]
CURVE_COLUMNS = ["variant", "epoch", "lr", "train_loss", "train_accuracy"]
CSV_FLOAT = "%.6g"
DPI = 100
# PNG "Software" would embed the matplotlib version; without it the bytes depend only on the data.
PNG_METADATA = {"Software": None}

# One label table and one decimals table for every metric the report, the terminal and the metrics
# files show. Labels are plain text (escaped where they go into HTML); "{k}" takes the k of P@k.
# Correlations get 3 decimals because the variants being compared (and the s-KdT caveat below)
# differ by less than 0.01.
LABELS = {"kendall_tau": "Kendall τ", "sparse_kendall_tau": "s-KdT", "spearman": "Spearman ρ",
          "pearson": "Pearson r", "precision_at_k": "P@{k}", "topk_percentile": "top-{k} percentile",
          "selected_accuracy": "selected accuracy (%)", "regret": "regret (points)", "passes": "passes",
          "seconds": "seconds"}
DECIMALS = {"precision_at_k": 2, "topk_percentile": 1, "selected_accuracy": 2, "regret": 2, "passes": 0,
            "seconds": 1}
CORRELATION_ORDER = ["kendall_tau", "sparse_kendall_tau", "spearman", "pearson", "precision_at_k",
                     "topk_percentile"]
SEED_METRIC = SEED_TO_SEED
SEED_VARIANT = "standalone"  # the correlation rows of the ground truth itself (seed-to-seed, reference)

SKDT_NOTE = ("Sparse Kendall tau (s-KdT) here is tau-b between floor(accuracy/threshold) and the score; "
             "Yu et al.'s code pairs positions rather than models and reads about 0.005&ndash;0.02 higher "
             "under heavy ties.")


# ----------------------------------------------------------------------------------------------
# CSV frames for `dvc plots`


def scatter_frame(truth: pd.DataFrame, scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """variant, arch_id, standalone_accuracy, supernet_accuracy; one row per (variant, scored arch)."""
    require_columns(truth, ["arch_id", "accuracy"], "truth")
    standalone = truth[["arch_id", "accuracy"]].rename(columns={"accuracy": "standalone_accuracy"})
    parts = []
    for variant in sorted(scores):
        s = scores[variant]
        require_columns(s, ["arch_id", "accuracy"], f"scores[{variant}]")
        s = s[["arch_id", "accuracy"]].rename(columns={"accuracy": "supernet_accuracy"})
        # inner join: an architecture needs both numbers to be a point
        parts.append(s.merge(standalone, on="arch_id", how="inner").assign(variant=variant))
    if not parts:
        return pd.DataFrame({"variant": pd.Series(dtype="str"), "arch_id": pd.Series(dtype="int64"),
                             "standalone_accuracy": pd.Series(dtype="float64"),
                             "supernet_accuracy": pd.Series(dtype="float64")})
    df = pd.concat(parts, ignore_index=True)[SCATTER_COLUMNS]
    df = df.astype({"variant": "str", "arch_id": "int64", "standalone_accuracy": "float64",
                    "supernet_accuracy": "float64"})
    return df.sort_values(["variant", "arch_id"], kind="stable").reset_index(drop=True)


def curves_frame(histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """variant, epoch, lr, train_loss, train_accuracy; the super-net's training history per variant."""
    parts = []
    for variant in sorted(histories):
        h = histories[variant]
        require_columns(h, CURVE_COLUMNS[1:], f"histories[{variant}]")
        parts.append(h[CURVE_COLUMNS[1:]].assign(variant=variant))
    if not parts:
        return pd.DataFrame({"variant": pd.Series(dtype="str"), "epoch": pd.Series(dtype="int64"),
                             **{c: pd.Series(dtype="float64") for c in CURVE_COLUMNS[2:]}})
    df = pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]
    df = df.astype({"variant": "str", "epoch": "int64", "lr": "float64", "train_loss": "float64",
                    "train_accuracy": "float64"})
    return df.sort_values(["variant", "epoch"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# number formatting (one place, so the summary, the tables and the tests agree)


def is_missing(x) -> bool:
    """None, NaN or pd.NA (a scalar)."""
    return x is None or (np.ndim(x) == 0 and bool(pd.isna(x)))


def fmt(x, decimals: int = 3, sign: str = "") -> str:
    """`sign="+"` writes the sign of positive numbers too (differences)."""
    return "n/a" if is_missing(x) else f"{float(x):{sign}.{decimals}f}"


def fmt_ci(value, low, high, decimals: int = 3, sign: str = "", kind: str = "t") -> str:
    """'0.623 [0.512, 0.708]' for an interval; '0.623 (range 0.512, 0.708)' for the range of a few
    seeds' values (`kind="range"`, see nas.heuristics.interval); just the value without bounds."""
    if is_missing(value):
        return "n/a"
    if is_missing(low) or is_missing(high) or kind == "none":
        return fmt(value, decimals, sign)
    if kind == "range":
        return f"{fmt(value, decimals, sign)} (range {fmt(low, decimals, sign)}, {fmt(high, decimals, sign)})"
    return f"{fmt(value, decimals, sign)} [{fmt(low, decimals, sign)}, {fmt(high, decimals, sign)}]"


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


# ----------------------------------------------------------------------------------------------
# lookups in the long tables


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


def metric_label(metric: str, k) -> str:
    """'Kendall τ', 'P@5', 'name @k' for a metric without a label (plain text)."""
    label = LABELS.get(metric, metric)
    if "{k}" in label:
        return label.format(k="k" if is_missing(k) else int(k))
    return label if is_missing(k) else f"{label} @{int(k)}"


def decimals(metric: str, default: int = 3) -> int:
    return DECIMALS.get(metric, default)


def supernet_pick(selection: pd.DataFrame, variant: str) -> pd.Series | None:
    """The super-net's own pick: method 'supernet', else the first non-baseline method."""
    rows = selection[selection["variant"] == variant]
    for method in ["supernet"] + [m for m in rows["method"] if m not in ("supernet", "oracle", "random")]:
        hit = rows[rows["method"] == method]
        if not hit.empty:
            return hit.iloc[0]
    return None


# ----------------------------------------------------------------------------------------------
# HTML pieces


def summary_html(variant: str, correlation: pd.DataFrame, selection: pd.DataFrame) -> str:
    tau = metric_text(correlation, variant, "kendall_tau")
    skdt = metric_text(correlation, variant, "sparse_kendall_tau")
    spearman = metric_text(correlation, variant, "spearman")
    text = f"Kendall tau {tau}, sparse Kendall tau {skdt}, Spearman {spearman}"
    pick = supernet_pick(selection, variant)
    if pick is not None:
        who = "the super-net's pick" if pick["method"] == "supernet" else f"the {pick['method']} pick"
        arch = "" if is_missing(pick["arch"]) else f" ({pick['arch']})"
        text += (f"; {who}{arch} reaches {fmt(pick['accuracy'], 2)}% stand-alone "
                 f"(regret {fmt(pick['regret'], 2)} points, percentile {fmt(pick['percentile'], 0)})")
    return f"<p><b>{html.escape(variant)}</b>: {html.escape(text, quote=False)}.</p>"


def reference_html(correlation: pd.DataFrame) -> str:
    """The perfect-ranker reference (what a ranking could reach against this ground truth) and the
    seed-to-seed agreement it is estimated from."""
    def row(metric):
        rows = correlation[correlation["metric"] == metric]
        return None if rows.empty else rows.iloc[0]
    ref, seed = row(REFERENCE), row(SEED_METRIC)
    if ref is None or seed is None:
        return ""
    return (f"<p><b>Perfect-ranker reference</b>: Kendall tau {fmt_ci(ref['value'], ref['ci_low'], ref['ci_high'])}. "
            f"A ranker that knew every architecture's true expected stand-alone accuracy would agree with this "
            f"ground truth (a mean over stand-alone seeds, so noisy) about this well; super-net taus are to be read "
            f"against it. Estimated from the seed-to-seed Kendall tau of single stand-alone seeds, "
            f"{fmt_ci(seed['value'], seed['ci_low'], seed['ci_high'])}, assuming independent, normal seed noise of "
            f"one size for all architectures (nas.metrics.perfect_ranker_tau; checked by simulation). The "
            f"seed-to-seed tau itself is lower: it compares two noisy rankings with each other.</p>")


def correlation_html(correlation: pd.DataFrame, variants: list[str]) -> str:
    columns = metric_columns(correlation)
    if not columns:
        return "<p>No correlation statistics.</p>"
    head = "".join(f"<th>{html.escape(metric_label(m, k))}</th>" for m, k in columns)
    body = []
    for v in variants:
        cells = "".join(f"<td>{metric_text(correlation, v, m, k, decimals(m))}</td>"
                        for m, k in columns)
        body.append(f"<tr><th>{html.escape(v)}</th>{cells}</tr>")
    return (f"<table><thead><tr><th>variant</th>{head}</tr></thead>\n"
            f"<tbody>\n" + "\n".join(body) + "\n</tbody></table>")


SUMMARY_DECIMALS = {"accuracy": 2, "regret": 2, "param_free": 1}
SUMMARY_LABELS = {"accuracy": "stand-alone accuracy (%)", "regret": "regret (points)", "param_free": "parameter-free ops"}


def selection_summary_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, method): runs and each metric as 'mean [low, high]' (the interval's kind
    after it unless a t-interval), columns labelled — the over-seeds comparison of selection methods."""
    rows = []
    for (variant, method), g in summary.groupby(["variant", "method"], sort=False):
        row = {"variant": variant, "method": method, "runs": int(g["runs"].max())}
        for r in g.itertuples():
            d = SUMMARY_DECIMALS.get(r.metric, 2)
            row[r.metric] = (fmt(r.mean, d) if r.interval == "none" else
                             fmt_ci(r.mean, r.ci_low, r.ci_high, d, kind=r.interval))
        rows.append(row)
    return pd.DataFrame(rows).rename(columns=SUMMARY_LABELS)


def selection_summary_text(summary: pd.DataFrame) -> str:
    """The summary as the `select` stage prints it."""
    if summary.empty:
        return "no selection results"
    return selection_summary_cells(summary).to_string(index=False)


def selection_summary_html(summary: pd.DataFrame) -> str:
    if summary.empty:
        return ""
    cells = selection_summary_cells(summary)
    return ("<p>Each method over the runs of a variant: mean and 95% t-interval over super-net seeds "
            "(the range with 2 runs).</p>\n" + cells.to_html(index=False, escape=True, border=0, na_rep="&mdash;"))


def selection_html(selection: pd.DataFrame) -> str:
    if selection.empty:
        return "<p>No selection results.</p>"
    df = selection.sort_values(["variant"], kind="stable").copy()
    df["arch_id"] = [("&mdash;" if is_missing(x) else str(int(x))) for x in df["arch_id"]]
    df["arch"] = [("&mdash;" if is_missing(x) else html.escape(str(x))) for x in df["arch"]]
    df["variant"] = [html.escape(str(x)) for x in df["variant"]]
    df["method"] = [html.escape(str(x)) for x in df["method"]]
    for col, d in [("accuracy", 2), ("percentile", 1), ("regret", 2), ("param_free", 1)]:
        if col in df:
            df[col] = [fmt(x, d) for x in df[col]]
    # already escaped above, so the dashes survive as entities
    return df.to_html(index=False, escape=False, border=0, na_rep="&mdash;")


def timings_html(timings: dict, variants: list[str]) -> str:
    rows = []
    for v in variants:
        t = timings.get(v) or {}
        epochs = [float(x) for x in t.get("epoch_seconds") or []]
        total = fmt(t.get("seconds"), 1) if "seconds" in t else "n/a"
        per_epoch = fmt(float(np.mean(epochs)), 2) if epochs else "n/a"
        rows.append(f"<tr><th>{html.escape(v)}</th><td>{total}</td><td>{len(epochs) or 'n/a'}</td>"
                    f"<td>{per_epoch}</td></tr>")
    if not any(timings.get(v) for v in variants):
        return "<p>No timings recorded.</p>"
    return ("<table><thead><tr><th>variant</th><th>seconds</th><th>epochs</th><th>seconds / epoch</th></tr>"
            "</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>")


def dataset_html(archs: pd.DataFrame, truth: pd.DataFrame, standalone: pd.DataFrame, truth_split: str) -> str:
    acc = truth["accuracy"].to_numpy(dtype=float)
    acc = acc[np.isfinite(acc)]
    acc_range = f"{acc.min():.2f}&ndash;{acc.max():.2f}%" if acc.size else "n/a"
    seeds = standalone["seed"].nunique() if "seed" in standalone else 0
    items = [
        f"architectures sampled: {len(archs)}",
        f"architectures with stand-alone results: {truth['arch_id'].nunique()}",
        f"stand-alone seeds: {seeds}",
        f"stand-alone accuracy ({html.escape(truth_split)} split, mean over seeds): {acc_range}",
    ]
    for col in ("params", "flops"):
        if col in archs and len(archs):
            items.append(f"{col}: {int(archs[col].min()):,}&ndash;{int(archs[col].max()):,}")
    return "<ul>\n" + "\n".join(f"<li>{i}</li>" for i in items) + "\n</ul>"


def params_text(params: dict) -> str:
    # A JSON round trip turns tuples and paths into plain lists and strings that safe_dump accepts.
    plain = json.loads(json.dumps(params, default=str, sort_keys=True))
    return yaml.safe_dump(plain, sort_keys=True, default_flow_style=False)


CSS = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
thead th{background:#f3f3f3}tbody th{text-align:left}
img{max-width:100%;display:block;margin:1em 0}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}
.note{color:#555;font-size:90%}"""


DAMAGE_HTML = """<h3>Alpha against operation strength</h3>
<p>DARTS-PT's central evidence: on every edge of each trained DARTS super-net, each operation's
softmax(alpha) against the super-net's validation accuracy with that operation removed (its mixing
weight set to zero; lower = the super-net relies on it more). If alpha told an operation's strength,
each edge's points would fall from left to right; τ is the mean over edges of the per-edge Kendall τ
between alpha and removal damage.</p>
<img src="alpha_damage.png" alt="alpha against super-net accuracy with the operation removed, per run">
"""

BIAS_HTML = """<h3>Operation bias</h3>
<p>Does the super-net favour some operations more than stand-alone training does? For each operation,
the mean percentile (100 = best) of the pool architectures that use it, under the stand-alone ranking
(black) and under each variant's super-net scores (averaged over its seeds).</p>
<img src="bias.png" alt="mean percentile of architectures using each operation, stand-alone vs super-net">
"""

ALPHA_HTML = """<h3>Architecture weights</h3>
<p>Differentiable super-nets (DARTS): each edge's softmax(alpha) per operation over the epochs. DARTS-PT's
point is that a large alpha does not mean the super-net relies on that operation.</p>
<img src="alpha.png" alt="softmax of the architecture weights per edge and operation over epochs">
"""


def index_html(*, variants, archs, truth, standalone, timings, correlation, selection, params,
               truth_split: str, heuristics_html: str = "", alpha: bool = False, damage: bool = False,
               methods_html: str = "", stability_html: str = "", bias: bool = False, provenance: str = "") -> str:
    summaries = "\n".join(summary_html(v, correlation, selection) for v in variants)
    split = html.escape(truth_split)
    heuristics = (f"""<h2>Heuristics</h2>
<p>Each variant is the baseline with some super-net training heuristics changed; each is trained once
per super-net seed. Intervals here are over seeds, not architectures.</p>
{heuristics_html}
<img src="heuristics.png" alt="effect of each heuristic on s-KdT, difference from baseline">
""" if heuristics_html else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Weight-sharing NAS study</title>
<style>
{CSS}
</style>
</head>
<body>
<h1>Weight-sharing NAS study</h1>
<p>How well does the super-net's ranking of architectures agree with training each one stand-alone
(stand-alone accuracy on the {split} split, super-net accuracy on the valid split)? Intervals are 95%
bootstrap intervals over architectures.</p>
<h2>Summary</h2>
<img src="headline.png" alt="Kendall tau of every run and variant against the perfect-ranker reference">
{summaries}
{reference_html(correlation)}
<h2>Ranking agreement</h2>
{correlation_html(correlation, variants)}
<p class="note">{SKDT_NOTE}</p>
<img src="scatter.png" alt="stand-alone vs super-net accuracy per variant, every seed">
<img src="rank_scatter.png" alt="stand-alone rank vs super-net rank per variant, every seed">
{BIAS_HTML if bias else ""}
{heuristics}
{stability_html}
<h2>Selection</h2>
<p>Which architecture each method picks, its stand-alone accuracy, its percentile in the pool
(100 = best) and its regret (oracle accuracy minus its accuracy, in points). 'random' is the expected
result of a uniformly random pick; 'param_free' counts the pick's parameter-free operations
(for 'random', the pool's mean).</p>
{methods_html}
{selection_html(selection)}
<h2>Super-net training</h2>
{timings_html(timings, variants)}
<img src="curves.png" alt="super-net training loss and accuracy per epoch">
{ALPHA_HTML if alpha else ""}{DAMAGE_HTML if damage else ""}<h2>Stand-alone training</h2>
{dataset_html(archs, truth, standalone, truth_split)}
<img src="standalone.png" alt="stand-alone accuracy, seed vs seed">
<h2>Parameters</h2>
<p>{html.escape(provenance)}</p>
<pre>{html.escape(params_text(params))}</pre>
</body>
</html>
"""


# ----------------------------------------------------------------------------------------------
# figures


def save_figure(fig, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)
    finally:
        _pyplot().close(fig)


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def split_run(name: str) -> tuple[str, str]:
    """('baseline', '0') from a run's name 'baseline/seed-0' (a name without a seed: (name, ''))."""
    variant, _, seed = str(name).rpartition("/seed-")
    return (variant, seed) if variant else (str(name), "")


def _by_variant(frame: pd.DataFrame) -> dict[str, list[str]]:
    """variant -> its runs' names in the frame's `variant` column (a run's name), in sorted order."""
    out: dict[str, list[str]] = {}
    for name in sorted(frame["variant"].unique(), key=lambda n: (split_run(n)[0], int(split_run(n)[1] or 0))):
        out.setdefault(split_run(name)[0], []).append(name)
    return out


def _panels(count: int, width: float = 4.2, height: float = 3.8):
    ncols = max(1, min(count, 3))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = _pyplot().subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                                   layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    return fig, list(axes.flat)


def scatter_figure(frame: pd.DataFrame, correlation: pd.DataFrame, selection: pd.DataFrame,
                   variants: list[str], truth_split: str, ranks: bool = False):
    """One panel per variant, every super-net seed in its own colour with its pick starred: super-net
    against stand-alone accuracy, or (`ranks`) their ranks (1 = best), which a dead cell far below the
    rest cannot squeeze into a corner. The title gives Kendall τ per seed."""
    groups = _by_variant(frame) or {"(none)": []}
    fig, axes = _panels(len(groups))
    edge = None if ranks else dead_edge(frame["standalone_accuracy"])
    for ax, (variant, runs) in zip(axes, groups.items()):
        if not runs:
            _no_data(ax)
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
    architectures), each variant's mean over seeds with its interval over seeds (a bar), against the
    perfect-ranker reference (band) and the stand-alone seed-to-seed τ (dashed line)."""
    runs = correlation[(correlation["metric"] == "kendall_tau") & (correlation["variant"] != SEED_VARIANT)]
    groups: dict[str, list] = {}
    for row in runs.itertuples(index=False):
        groups.setdefault(split_run(row.variant)[0], []).append(row)
    fig, ax = _pyplot().subplots(figsize=(7.5, 1.4 + 0.42 * max(len(groups), 1)), layout="constrained")
    ref = correlation[correlation["metric"] == REFERENCE]
    if len(ref):
        r = ref.iloc[0]
        ax.axvspan(r["ci_low"], r["ci_high"], color="C2", alpha=0.15, label="perfect-ranker reference (95% CI)")
        ax.axvline(r["value"], color="C2", lw=1)
    seed = correlation[correlation["metric"] == SEED_METRIC]
    if len(seed):
        ax.axvline(seed.iloc[0]["value"], color="grey", ls="--", lw=1, label="stand-alone seed-to-seed τ")
    means = heuristics[heuristics["metric"] == "kendall_tau"].set_index("variant") if heuristics is not None else None
    for y, (variant, rows) in enumerate(groups.items()):
        for n, row in enumerate(rows):
            offset = (n - (len(rows) - 1) / 2) * 0.12
            err = None if is_missing(row.ci_low) else [[row.value - row.ci_low], [row.ci_high - row.value]]
            ax.errorbar([row.value], [y + offset], xerr=err, fmt="o", ms=4, color="C0", alpha=0.6, capsize=2,
                        label="one run (bootstrap CI over architectures)" if y == 0 and n == 0 else None)
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
        _no_data(ax)
    return fig


def operation_bias(archs: pd.DataFrame, truth: pd.DataFrame, scores: dict[str, pd.DataFrame], operations) -> pd.DataFrame:
    """operation, source (stand-alone or a variant), percentile: the mean percentile (100 = best) of
    the architectures that use an operation, under the stand-alone ranking and under each variant's
    super-net scores (averaged over its seeds). An operation the super-net favours more than stand-alone
    training does sits right of its stand-alone bar. `operations(arch_string)`: its operations."""
    ops = {int(a): operations(s) for a, s in zip(archs["arch_id"], archs["arch"])}

    def percentile(values: pd.Series) -> pd.Series:
        return 100.0 * (values.rank(method="average") - 1) / max(len(values) - 1, 1)

    def mean_by_op(pct: pd.Series, source: str) -> list[dict]:
        rows: dict[str, list[float]] = {}
        for arch_id, p in pct.items():
            for op in set(ops.get(int(arch_id), [])):
                rows.setdefault(op, []).append(float(p))
        return [{"operation": op, "source": source, "percentile": float(np.mean(v))} for op, v in sorted(rows.items())]

    out = mean_by_op(percentile(truth.set_index("arch_id")["accuracy"]), "stand-alone")
    per_variant: dict[str, list[pd.Series]] = {}
    for run, s in scores.items():
        per_variant.setdefault(split_run(run)[0], []).append(percentile(s.set_index("arch_id")["accuracy"]))
    for variant, pcts in sorted(per_variant.items()):
        out += mean_by_op(pd.concat(pcts, axis=1).mean(axis=1), variant)
    return pd.DataFrame(out, columns=["operation", "source", "percentile"])


def operation_bias_figure(bias: pd.DataFrame):
    ops = list(dict.fromkeys(bias["operation"]))
    sources = list(dict.fromkeys(bias["source"]))
    fig, ax = _pyplot().subplots(figsize=(7.5, 1.2 + 0.5 * max(len(ops), 1)), layout="constrained")
    height = 0.8 / max(len(sources), 1)
    for n, source in enumerate(sources):
        d = bias[bias["source"] == source].set_index("operation").reindex(ops)
        ax.barh(np.arange(len(ops)) + n * height, d["percentile"], height=height,
                color="black" if source == "stand-alone" else f"C{n % 10}", alpha=0.75, label=source)
    ax.set_yticks(np.arange(len(ops)) + 0.4 - height / 2, labels=ops)
    ax.axvline(50, color="grey", ls="--", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("mean percentile of the architectures using the operation (100 = best)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="x", alpha=0.3)
    return fig


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
    fig, axes = _pyplot().subplots(len(layout), width, figsize=(2.4 * width, 2.2 * len(layout)), squeeze=False,
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
    fig, axes = _pyplot().subplots(height, width, figsize=(3.6 * width, 3.0 * height), squeeze=False,
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


def curves_figure(frame: pd.DataFrame):
    """Training loss and accuracy per epoch of every run: one colour per variant, one line style per seed."""
    fig, (loss, acc) = _pyplot().subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    styles = ["-", "--", ":", "-."]
    for n, (variant, runs) in enumerate(_by_variant(frame).items()):
        for m, run in enumerate(runs):
            d = frame[frame["variant"] == run]
            kw = {"color": f"C{n % 10}", "ls": styles[m % len(styles)], "label": run, "lw": 1.2}
            loss.plot(d["epoch"], d["train_loss"], **kw)
            acc.plot(d["epoch"], d["train_accuracy"], **kw)
    for ax, what, unit in [(loss, "train loss", ""), (acc, "train accuracy", " (%)")]:
        if frame.empty:
            _no_data(ax)
        ax.xaxis.set_major_locator(_pyplot().MaxNLocator(integer=True))
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
    fig, ax = _pyplot().subplots(figsize=(5, 4.2), layout="constrained")
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
            _no_data(ax)
        ax.yaxis.set_major_locator(_pyplot().MaxNLocator(integer=True))
        ax.set_xlabel(f"stand-alone {truth_split} accuracy (%), mean over seeds")
        ax.set_ylabel("architectures")
        seeds = "one seed" if wide.shape[1] == 1 else "fewer than two seeds per architecture"
        ax.set_title(f"stand-alone accuracy ({seeds}){tau}", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------
# the report


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(df.to_csv(index=False, float_format=CSV_FLOAT, lineterminator="\n"), encoding="utf-8")


def write_report(out_dir, *, archs: pd.DataFrame, truth: pd.DataFrame, standalone: pd.DataFrame,
                 scores: dict[str, pd.DataFrame], histories: dict[str, pd.DataFrame], timings: dict,
                 correlation: pd.DataFrame, selection: pd.DataFrame, params: dict,
                 truth_split: str, heuristics_html: str = "", heuristics_figure=None,
                 summary: pd.DataFrame | None = None, logs: dict[str, pd.DataFrame] | None = None,
                 stability: pd.DataFrame | None = None, ranks: pd.DataFrame | None = None,
                 degrees: pd.DataFrame | None = None, heuristics: pd.DataFrame | None = None,
                 bias: pd.DataFrame | None = None, provenance: str = "") -> list[Path]:
    """Write index.html, scatter/curves/standalone.png and scatter/curves.csv into out_dir; return
    the paths written, sorted."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings = timings or {}
    variants = variant_names(scores, histories, correlation, selection)
    scatter, curves = scatter_frame(truth, scores), curves_frame(histories)

    write_csv(scatter, out / "scatter.csv")
    write_csv(curves, out / "curves.csv")
    save_figure(headline_figure(correlation, heuristics), out / "headline.png")
    save_figure(scatter_figure(scatter, correlation, selection, variants, truth_split), out / "scatter.png")
    save_figure(scatter_figure(scatter, correlation, selection, variants, truth_split, ranks=True),
                out / "rank_scatter.png")
    save_figure(curves_figure(curves), out / "curves.png")
    save_figure(standalone_figure(standalone, correlation, truth, truth_split), out / "standalone.png")
    names = ["curves.csv", "curves.png", "headline.png", "index.html", "rank_scatter.png", "scatter.csv", "scatter.png",
             "standalone.png"]
    if bias is not None and len(bias):
        save_figure(operation_bias_figure(bias), out / "bias.png")
        names.append("bias.png")
    alpha = alpha_figure(histories)
    if alpha is not None:
        save_figure(alpha, out / "alpha.png")
        names.append("alpha.png")
    damage = alpha_damage_figure(logs or {})
    if damage is not None:
        save_figure(damage, out / "alpha_damage.png")
        names.append("alpha_damage.png")
    if heuristics_figure is not None:
        save_figure(heuristics_figure, out / "heuristics.png")
        names.append("heuristics.png")
    stability_part, figures = stability_section(out, stability, ranks, truth, degrees)
    names += figures
    page = index_html(stability_html=stability_part, bias=bias is not None and len(bias) > 0, provenance=provenance, variants=variants, archs=archs, truth=truth, standalone=standalone, timings=timings,
                      correlation=correlation, selection=selection, params=params, truth_split=truth_split,
                      heuristics_html=heuristics_html, alpha=alpha is not None, damage=damage is not None,
                      methods_html=selection_summary_html(summary) if summary is not None else "")
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return sorted(out / n for n in names)


# ----------------------------------------------------------------------------------------------
# the heuristics table (nas.heuristics computes it)


def metric_name(metric: str, k) -> str:
    """'kendall_tau', 'precision_at_k@5': the key in metrics_json and the wide table's column."""
    return metric if is_missing(k) else f"{metric}@{int(k)}"


def _heuristic_rows(table: pd.DataFrame):
    """(name, row) per table row, in table order."""
    for row in table.itertuples(index=False):
        yield metric_name(row.metric, row.k), row


def _baseline(table: pd.DataFrame, baseline: str | None) -> str:
    return baseline if baseline is not None else str(table.attrs.get("baseline", "baseline"))


def heuristics_json(table: pd.DataFrame) -> dict:
    """{variant: {name: mean, name_ci (a t-interval) or name_range (2 seeds): [low, high]}}: what
    `dvc metrics show/diff` compares between revisions. The paired differences from the baseline and
    their p-values stay in heuristics.parquet and the report (as metrics they would double the columns
    of `dvc exp show` with numbers that are not measurements of one revision)."""
    return metrics_json(entry for name, row in _heuristic_rows(table)
                        for entry in interval_entries(row.variant, name, row.mean, row.ci_low, row.ci_high, row.interval))


def fmt_p(p) -> str:
    if is_missing(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def _has_comparison(table: pd.DataFrame, baseline: str) -> bool:
    variants = table["variant"].unique()
    return baseline in variants and len(variants) > 1


def heuristics_wide(table: pd.DataFrame, digits: int = 3, baseline: str | None = None) -> pd.DataFrame:
    """One row per variant for a terminal: 'mean [lo, hi]' per metric and, when there is a baseline to
    compare with, 'Δ name' = '+0.012 (p=0.34)' ('—' on the baseline's row). `digits` is for the
    correlations; P@k, accuracy and regret get 2, passes 0, seconds 1. `n` = most seeds of any metric."""
    baseline = _baseline(table, baseline)
    compare_ = _has_comparison(table, baseline)
    out: dict[str, dict] = {}
    for name, row in _heuristic_rows(table):
        r = out.setdefault(str(row.variant), {"variant": str(row.variant), "n": 0})
        r["n"] = max(r["n"], int(row.n))
        d = decimals(row.metric, digits)
        r[name] = fmt_ci(row.mean, row.ci_low, row.ci_high, d, kind=row.interval)
        if compare_:
            r[f"Δ {name}"] = "—" if row.variant == baseline else f"{fmt(row.diff, d, '+')} ({fmt_p(row.p_value)})"
    return pd.DataFrame(list(out.values()))


def heuristics_html(table: pd.DataFrame, baseline: str | None = None) -> str:
    """The table for the report: metrics as rows, variants as columns (few variants, many metrics).
    Each cell: mean [CI]; below it, for non-baseline variants, Δ [CI] and p, bold where p < 0.05."""
    baseline = _baseline(table, baseline)
    compare_ = _has_comparison(table, baseline)
    variants = [str(v) for v in table["variant"].unique()]
    pct = f"{100 * float(table.attrs.get('level', 0.95)):g}"
    cells: dict[tuple[str, str], str] = {}
    labels: dict[str, str] = {}
    seeds = dict.fromkeys(variants, 0)
    for name, row in _heuristic_rows(table):
        labels[name] = html.escape(metric_label(row.metric, row.k))
        seeds[row.variant] = max(seeds[row.variant], int(row.n))
        d = decimals(row.metric, 3)
        text = html.escape(fmt_ci(row.mean, row.ci_low, row.ci_high, d, kind=row.interval))
        if compare_ and row.variant != baseline:
            delta = html.escape(f"Δ {fmt_ci(row.diff, row.diff_ci_low, row.diff_ci_high, d, '+', row.diff_interval)}, "
                                f"{fmt_p(row.p_value)}")
            significant = not is_missing(row.p_value) and row.p_value < 0.05
            text += "<br>" + (f"<b>{delta}</b>" if significant else delta)
        cells[(name, row.variant)] = text
    head = "".join(f"<th>{html.escape(v)}</th>" for v in variants)
    body = [f"<tr><th>seeds</th>{''.join(f'<td>{seeds[v]}</td>' for v in variants)}</tr>"]
    for name, label in labels.items():
        body.append(f"<tr><th>{label}</th>" + "".join(f"<td>{cells.get((name, v), 'n/a')}</td>"
                                                       for v in variants) + "</tr>")
    caption = (f"Mean and {pct}% t-interval over super-net seeds [low, high] from 3 seeds on; with 2 seeds the "
               "range of their values (range low, high) instead, since a t-interval from 2 values is wider "
               "than any value the metric can take.")
    if compare_:
        caption += (f" Δ = paired difference from {html.escape(baseline)} (paired by seed) with its interval "
                    f"by the same rule; p from a paired t-test across seeds, <b>bold</b> where p &lt; 0.05. With 2&ndash;3 "
                    f"seeds the test has little power: p &gt; 0.05 does not show that a heuristic has no effect.")
    return (f"<table>\n<caption>{caption}</caption>\n<thead><tr><th>metric</th>{head}</tr></thead>\n"
            "<tbody>\n" + "\n".join(body) + "\n</tbody></table>")


def _mean_text(row: pd.Series) -> str:
    return fmt_ci(row["mean"], row["ci_low"], row["ci_high"], decimals(row["metric"], 3), kind=row["interval"])


def heuristics_figure(table: pd.DataFrame, metric: str = "sparse_kendall_tau", k: int | None = None,
                  baseline: str | None = None):
    """One horizontal error bar per non-baseline variant: diff from baseline with its CI (a bare point
    where the CI is undefined), top to bottom in table order. Without a baseline, or with nothing to
    compare it with, each variant's mean with its CI instead. k: for P@k (default: smallest k)."""
    baseline = _baseline(table, baseline)
    rows = table[table["metric"] == metric]
    if k is None and rows["k"].notna().any():
        k = int(rows["k"].dropna().min())
    rows = rows[rows["k"].isna()] if k is None else rows[(rows["k"] == k).fillna(False).astype(bool)]
    label = metric_label(metric, k)
    pct = f"{100 * float(table.attrs.get('level', 0.95)):g}"
    diff_mode = _has_comparison(rows, baseline)
    shown = rows[rows["variant"] != baseline] if diff_mode else rows
    cols = ("diff", "diff_ci_low", "diff_ci_high") if diff_mode else ("mean", "ci_low", "ci_high")
    kinds = set(shown["diff_interval" if diff_mode else "interval"])
    ranged = "; range of the seeds' values with 2 seeds" if "range" in kinds else ""

    fig, ax = _pyplot().subplots(figsize=(6, 1.6 + 0.35 * max(len(shown), 1)), layout="constrained")
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
        ax.set_xlabel(f"Δ {label} vs {baseline} ({pct}% CI over seeds{ranged})")
        ax.set_title(f"{baseline}: {label} {_mean_text(rows[rows['variant'] == baseline].iloc[0])}", fontsize=10)
    else:
        ax.set_xlabel(f"{label} ({pct}% CI over seeds{ranged})")
        if list(shown["variant"]) == [baseline]:
            ax.set_title(f"{baseline}: {label} {_mean_text(shown.iloc[0])}", fontsize=10)
        else:
            ax.set_title(f"{label} per variant" if len(shown) else f"{label}: no data", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def heuristics_effect_frame(table: pd.DataFrame, metric: str = "sparse_kendall_tau") -> pd.DataFrame:
    """The rows `dvc plots` draws as the heuristics bar chart: each variant's mean and difference."""
    return table[table["metric"] == metric][["variant", "mean", "ci_low", "ci_high", "interval", "diff", "diff_ci_low",
                                             "diff_ci_high", "diff_interval", "p_value"]]


# ----------------------------------------------------------------------------------------------
# ranking stability and the degree of sharing (nas.stability computes the table)

STABILITY_LABELS = {
    "tau_truth": "τ vs ground truth", "seed_tau": "seed-to-seed τ", "distinct_top1": "distinct top-1",
    "epoch_consecutive_tau": "τ consecutive epochs", "epoch_top1_changes": "top-1 changes (epochs)",
    "step_consecutive_tau": "τ consecutive steps", "step_top1_changes": "top-1 changes (steps)",
    "passes": "passes", "interference": "interference |Δ loss|"}
STABILITY_DECIMALS = {"distinct_top1": 0, "passes": 0, "epoch_top1_changes": 1, "step_top1_changes": 1,
                      "interference": 4}


def stability_summary(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["series"] == "summary"]


def stability_json(table: pd.DataFrame) -> dict:
    """{variant: {statistic: mean, statistic_ci or statistic_range: [low, high], interference@S: mean
    change of a child's loss after a step on one sharing S operations with it}}."""
    return metrics_json(
        entry for row in table[table["series"].isin(["summary", "interference"])].itertuples(index=False)
        for entry in interval_entries(row.variant, row.statistic if row.series == "summary" else f"interference@{row.point}",
                                      row.value, row.ci_low, row.ci_high, row.interval))


def stability_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, one column per summary statistic: 'mean [low, high]'."""
    out: dict[str, dict] = {}
    for row in stability_summary(table).itertuples(index=False):
        r = out.setdefault(str(row.variant), {"variant": str(row.variant)})
        r[STABILITY_LABELS.get(row.statistic, row.statistic)] = fmt_ci(
            row.value, row.ci_low, row.ci_high, STABILITY_DECIMALS.get(row.statistic, 3), kind=row.interval)
    return pd.DataFrame(list(out.values()))


def stability_text(table: pd.DataFrame) -> str:
    wide = stability_wide(table)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        return wide.to_string(index=False) if len(wide) else "no runs"


def stability_html(table: pd.DataFrame, degrees: pd.DataFrame) -> str:
    wide = stability_wide(table)
    if degrees is not None and len(degrees):
        d = degrees.set_index("variant")
        wide.insert(1, "sharing", [_degree_label(d.loc[v]) if v in d.index else "" for v in wide["variant"]])
    return wide.to_html(index=False, escape=True, border=0)


def _degree_label(row) -> str:
    if row["form"] == "prefix":
        return f"prefix k={row['k']}"
    if row["form"] == "groups":
        return f"g={row['g']} {row['partition']}, {row['compute'].replace('_', '-')}"
    return "full"


def _colors(variants) -> dict:
    variants = list(variants)
    n = 10 if len(variants) <= 10 else 20
    cmap = _pyplot().get_cmap(f"tab{n}")
    return {v: cmap(i % n) for i, v in enumerate(variants)}


def stability_time_figure(table: pd.DataFrame):
    """Three panels, one line per run (colour = variant): τ between consecutive dense-scored steps, τ of
    each scored epoch's ranking to the final one, and τ against the ground truth at each scored epoch."""
    runs = table[table["seed"] != -1]
    variants = list(dict.fromkeys(runs["variant"]))
    colors = _colors(variants)
    fig, axes = _pyplot().subplots(1, 3, figsize=(15, 4.2), layout="constrained")
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
            _no_data(ax, "no points (supernet.dense_steps / save_epochs)")
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
    fig, axes = _pyplot().subplots(rows_, columns, figsize=(5 * columns, 2.6 * rows_), layout="constrained",
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
    fig, (by_k, by_g) = _pyplot().subplots(1, 2, figsize=(11, 4), layout="constrained")
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
            _no_data(ax)
        ax.set_ylabel("Kendall τ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    by_k.xaxis.set_major_locator(_pyplot().MaxNLocator(integer=True))
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
    colors = _colors(variants)
    fig, (ax, vs) = _pyplot().subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    for n, variant in enumerate(variants):
        g = rows[rows["variant"] == variant].sort_values("point")
        offset = (n - (len(variants) - 1) / 2) * 0.03
        ax.errorbar(g["point"] + offset, g["value"], yerr=_yerr(g), marker="o", capsize=3, color=colors[variant],
                    label=variant)
    ax.axhline(0, color="grey", lw=1, ls="--")
    ax.set_xlabel("operations i and j share")
    ax.set_ylabel("change of j's loss after one step on i")
    ax.xaxis.set_major_locator(_pyplot().MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if variants:
        ax.legend(fontsize=7, ncol=2)
    from nas.stability import across_variants

    statistics = set(stability_summary(table)["statistic"])
    steady = next((s for s in ("step_consecutive_tau", "epoch_consecutive_tau") if s in statistics), None)
    x, y, rho = across_variants(table, "interference", steady) if steady else (None, [], np.nan)
    if len(y):
        for v in x.index:
            vs.errorbar(x.loc[v, "value"], y.loc[v, "value"], xerr=_yerr(x.loc[[v]]), yerr=_yerr(y.loc[[v]]),
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
        _no_data(vs, "no scored steps or epochs to compare with")
    return fig


def _yerr(rows: pd.DataFrame) -> np.ndarray:
    """Error bar lengths below and above each value (0 where there is no interval)."""
    return np.nan_to_num(np.array([rows["value"] - rows["ci_low"], rows["ci_high"] - rows["value"]], dtype=float))


STABILITY_HTML = """<h2>Ranking stability and the degree of sharing</h2>
<p>Zhang et al.'s questions: does the super-net's ranking hold still over training time and across
super-net seeds, and does sharing less make it steadier and closer to the ground truth? τ vs ground
truth: the final ranking against stand-alone training (mean over seeds and interval); seed-to-seed τ:
the mean over pairs of seeds (range: the lowest and highest pair); distinct top-1: how many different
architectures the seeds rank first; τ consecutive: between the rankings of consecutive scored epochs
(supernet.save_epochs and the last) or dense-scored steps (supernet.dense_steps), a run's mean;
passes: the training cost (forward-backward passes of one path over one batch).</p>
{table}
{figures}
"""


def stability_section(out: Path, table: pd.DataFrame | None, ranks: pd.DataFrame | None, truth: pd.DataFrame,
                      degrees: pd.DataFrame | None) -> tuple[str, list[str]]:
    """The report's stability section and the figures it shows (written into `out`): the time figure
    where runs were scored at several epochs or steps, the rank box plots where there are several
    seeds, the sharing figure where a variant shares less than everything, interference where measured."""
    if table is None or table.empty:
        return "", []
    runs = table[table["seed"] != -1]
    figures = []
    if (runs["statistic"] == "consecutive_tau").any():
        save_figure(stability_time_figure(table), out / "stability.png")
        figures.append(("stability.png", "ranking stability over the last steps and the scored epochs"))
    if ranks is not None and len(ranks) and ranks.groupby("variant")["seed"].nunique().max() > 1:
        save_figure(ranks_figure(ranks, truth), out / "ranks.png")
        figures.append(("ranks.png", "each architecture's super-net rank across seeds"))
    if degrees is not None and (degrees["form"] != "full").any():
        save_figure(sharing_figure(table, degrees), out / "sharing.png")
        figures.append(("sharing.png", "tau against the degree of sharing"))
    if (table["series"] == "interference").any():
        save_figure(interference_figure(table), out / "interference.png")
        figures.append(("interference.png", "interference: change of a child's loss after a step on another"))
    imgs = "\n".join(f'<img src="{name}" alt="{html.escape(alt)}">' for name, alt in figures)
    return STABILITY_HTML.format(table=stability_html(table, degrees), figures=imgs), [n for n, _ in figures]


# ----------------------------------------------------------------------------------------------
# the few lines `nas summary` prints at the end of a run


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
    lines.append(f"report: {report_path}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# the page `dvc plots show` / `dvc plots diff` write: offline


PLOTS_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>nas-study plots</title>
<script>
{bundle}
</script>
<style>body{{font-family:sans-serif}} table{{border-spacing:15px}}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def plots_page() -> str:
    """DVC's HTML template with Vega, Vega-Lite and Vega-Embed inlined (from the vl-convert-python
    package), so `dvc plots show` works offline: DVC's own template loads them from a CDN. It has no
    {scripts} placeholder, so DVC's CDN script tags are left out."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    if "{plot_divs}" in bundle or "{scripts}" in bundle:  # DVC fills placeholders by plain replacement
        raise RuntimeError("the Vega bundle contains a DVC template placeholder")
    return PLOTS_PAGE.format(bundle=bundle.replace("</script", "<\\/script"))
