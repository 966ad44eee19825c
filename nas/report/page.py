"""The report's HTML page: index.html with its tables and sections, and write_report, which writes it
with its figures and the CSVs beside it."""

from __future__ import annotations

import html
import re
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nas.io import atomic_path
from nas.metrics import REFERENCE
from nas.metrics_files import heuristic_rows, is_missing
from nas.report.figures.alpha import alpha_damage_figure, alpha_figure
from nas.report.figures.bias import operation_bias_figure
from nas.report.figures.common import save_figure
from nas.report.figures.overview import curves_figure, headline_figure, scatter_figure, standalone_figure
from nas.report.figures.stability import interference_figure, ranks_figure, sharing_figure, stability_time_figure
from nas.report.formats import decimals, fmt, fmt_ci, fmt_test, metric_label
from nas.report.plots import curves_frame, scatter_frame, write_csv
from nas.report.tables import (SEED_METRIC, has_comparison, heuristics_baseline, metric_columns, metric_text,
                               selection_summary_cells, stability_wide, supernet_pick, variant_names)


SKDT_NOTE = ("Sparse Kendall tau (s-KdT) here is tau-b between floor(accuracy/threshold) and the score; "
             "Yu et al.'s code pairs positions rather than models and reads about 0.005&ndash;0.02 higher "
             "under heavy ties.")


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


def selection_summary_html(summary: pd.DataFrame) -> str:
    if summary.empty:
        return ""
    cells = selection_summary_cells(summary)
    return ("<p>Each method over the runs of a variant: mean and 95% t-interval over super-net seeds "
            "(the range with 2 runs). Δ regret vs random: the method's regret minus the random pick's on the "
            "same runs (paired by seed; negative is better), with its interval, the paired t-test's p, that p "
            "corrected by Holm's method over every comparison of the table, and the difference these runs "
            "detect with 80&nbsp;% power.</p>\n" + cells.to_html(index=False, escape=True, border=0, na_rep="&mdash;"))


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


def index_html(*, variants, archs, truth, standalone, correlation, selection, params,
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
    page = f"""<!DOCTYPE html>
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
    return with_contents(page)


def with_contents(page: str) -> str:
    """The page with an id on every section heading and a list of links to them after its introduction
    (the page is long: every figure of every variant)."""
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    if not titles:
        return page
    ids = [re.sub(r"[^a-z0-9]+", "-", html.unescape(t).lower()).strip("-") for t in titles]
    for title, anchor in zip(titles, ids):
        page = page.replace(f"<h2>{title}</h2>", f'<h2 id="{anchor}">{title}</h2>', 1)
    nav = "<nav><p>Contents: " + " · ".join(f'<a href="#{a}">{t}</a>' for t, a in zip(titles, ids)) + "</p></nav>\n"
    first = page.index('<h2 id=')
    return page[:first] + nav + page[first:]


# ----------------------------------------------------------------------------------------------
# the heuristics table and the stability section


def heuristics_html(table: pd.DataFrame, baseline: str | None = None) -> str:
    """The table for the report: metrics as rows, variants as columns (few variants, many metrics).
    Each cell: mean [CI]; below it, for non-baseline variants, Δ [CI] and p, bold where p < 0.05."""
    baseline = heuristics_baseline(table, baseline)
    compare_ = has_comparison(table, baseline)
    variants = [str(v) for v in table["variant"].unique()]
    pct = f"{100 * float(table.attrs.get('level', 0.95)):g}"
    cells: dict[tuple[str, str], str] = {}
    labels: dict[str, str] = {}
    seeds = dict.fromkeys(variants, 0)
    for name, row in heuristic_rows(table):
        labels[name] = html.escape(metric_label(row.metric, row.k))
        seeds[row.variant] = max(seeds[row.variant], int(row.n))
        d = decimals(row.metric, 3)
        text = html.escape(fmt_ci(row.mean, row.ci_low, row.ci_high, d, kind=row.interval))
        if compare_ and row.variant != baseline:
            delta = html.escape(f"Δ {fmt_ci(row.diff, row.diff_ci_low, row.diff_ci_high, d, '+', row.diff_interval)}, "
                                f"{fmt_test(row.p_value, row.p_holm, row.detectable, d)}")
            significant = not is_missing(row.p_holm) and row.p_holm < 0.05
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
                    "by the same rule; p from a paired t-test across seeds; Holm: p corrected by Holm's method over "
                    "the variants compared on that metric, <b>bold</b> where it is &lt; 0.05; detects: the difference "
                    "these seeds find with 80&nbsp;% power (from the spread of the paired differences). A difference "
                    "smaller than that is not shown either way: p &gt; 0.05 does not show that a heuristic has no effect.")
    return (f"<table>\n<caption>{caption}</caption>\n<thead><tr><th>metric</th>{head}</tr></thead>\n"
            "<tbody>\n" + "\n".join(body) + "\n</tbody></table>")


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
# the report


# The figure of what a selection method's own stage writes (nas.selection: `stage`), by method.
OWN_FIGURES = {"perturbation": ("alpha_damage.png", alpha_damage_figure)}


def write_report(out_dir, *, archs: pd.DataFrame, truth: pd.DataFrame, standalone: pd.DataFrame,
                 scores: dict[str, pd.DataFrame], histories: dict[str, pd.DataFrame],
                 correlation: pd.DataFrame, selection: pd.DataFrame, params: dict,
                 truth_split: str, heuristics_html: str = "", heuristics_figure=None,
                 summary: pd.DataFrame | None = None, own: dict[str, dict[str, pd.DataFrame]] | None = None,
                 stability: pd.DataFrame | None = None, ranks: pd.DataFrame | None = None,
                 degrees: pd.DataFrame | None = None, heuristics: pd.DataFrame | None = None,
                 bias: pd.DataFrame | None = None, provenance: str = "") -> list[Path]:
    """Write index.html, scatter/curves/standalone.png and scatter/curves.csv into out_dir; return
    the paths written, sorted. `own`: {selection method: {run: what its own stage wrote}}, drawn by
    the figure `OWN_FIGURES` has for that method."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    for method, outputs in (own or {}).items():
        name, draw = OWN_FIGURES.get(method, (None, None))
        figure = draw(outputs) if draw else None
        if figure is not None:
            save_figure(figure, out / name)
            names.append(name)
    if heuristics_figure is not None:
        save_figure(heuristics_figure, out / "heuristics.png")
        names.append("heuristics.png")
    stability_part, figures = stability_section(out, stability, ranks, truth, degrees)
    names += figures
    page = index_html(stability_html=stability_part, bias=bias is not None and len(bias) > 0, provenance=provenance, variants=variants, archs=archs, truth=truth, standalone=standalone,
                      correlation=correlation, selection=selection, params=params, truth_split=truth_split,
                      heuristics_html=heuristics_html, alpha=alpha is not None, damage="alpha_damage.png" in names,
                      methods_html=selection_summary_html(summary) if summary is not None else "")
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return sorted(out / n for n in names)
