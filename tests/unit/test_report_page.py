"""nas.report.page, the report as a whole: every file is written, the page carries the numbers, the
CSVs fit `dvc plots`, the bytes are reproducible, and thin or broken-looking inputs (one seed, one
variant, nan) don't crash."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from unit.report_inputs import EPOCHS, N_ARCHS, make_inputs

from nas.config import SupernetConfig
from nas.report.formats import fmt_ci
from nas.report.page import stability_section, write_report
from nas.report.plots import CURVE_COLUMNS, SCATTER_COLUMNS

FILES = ["curves.csv", "curves.png", "headline.png", "index.html", "rank_scatter.png", "scatter.csv", "scatter.png",
         "standalone.png"]


@pytest.fixture
def inputs():
    return make_inputs()


def read(out, name) -> bytes:
    return (out / name).read_bytes()


def test_writes_every_file(tmp_path, inputs):
    paths = write_report(tmp_path / "report", **inputs)
    assert paths == sorted(tmp_path / "report" / f for f in FILES)
    for p in paths:
        assert p.stat().st_size > 0
    for png in [p for p in paths if p.suffix == ".png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"matplotlib" not in png.read_bytes()  # no Software tag with a version
    assert not list((tmp_path / "report").glob(".*.tmp"))  # no temporary files left behind
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # every figure closed


def test_html_carries_variants_and_numbers(tmp_path, inputs):
    write_report(tmp_path, **inputs)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    corr, sel = inputs["correlation"], inputs["selection"]
    for v in inputs["scores"]:
        tau = corr[(corr.variant == v) & (corr.metric == "kendall_tau")].iloc[0]
        assert fmt_ci(tau.value, tau.ci_low, tau.ci_high) in page
        assert f"<b>{v}</b>: Kendall tau {fmt_ci(tau.value, tau.ci_low, tau.ci_high)}" in page
        pick = sel[(sel.variant == v) & (sel.method == "supernet")].iloc[0]
        assert f"reaches {pick.accuracy:.2f}% stand-alone (regret {pick.regret:.2f} points, " \
               f"percentile {pick.percentile:.0f})" in page
    assert "Perfect-ranker reference</b>: Kendall tau 0.930 [0.900, 0.960]" in page and "0.871 [0.800, 0.930]" in page
    assert "ceiling" not in page.lower()
    assert "s-KdT" in page and "0.005&ndash;0.02 higher" in page
    for img in ["scatter.png", "curves.png", "standalone.png"]:
        assert f'<img src="{img}"' in page
    assert "P@3" in page and "top-3 percentile" in page
    assert "stand-alone seeds: 2" in page and f"architectures sampled: {N_ARCHS}" in page
    assert "12.5" not in page and "seconds" not in page.lower()  # wall time measures the machine: not in the report
    assert "archs: 12" in page  # params, YAML-dumped (tuple turned into a list)


def test_csvs_have_columns_and_rows(tmp_path, inputs):
    write_report(tmp_path, **inputs)
    scatter = pd.read_csv(tmp_path / "scatter.csv")
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert list(scatter.columns) == SCATTER_COLUMNS and len(scatter) == 2 * N_ARCHS
    assert list(curves.columns) == CURVE_COLUMNS and len(curves) == 2 * EPOCHS
    assert scatter["variant"].is_monotonic_increasing
    assert curves.groupby("variant")["epoch"].apply(lambda e: e.is_monotonic_increasing).all()


def test_same_inputs_same_bytes(tmp_path, inputs):
    write_report(tmp_path / "a", **inputs)
    # the same data in another dict order must not change a byte
    again = dict(inputs, scores=dict(reversed(list(inputs["scores"].items()))),
                 histories=dict(reversed(list(inputs["histories"].items()))))
    write_report(tmp_path / "b", **again)
    for name in FILES:
        assert read(tmp_path / "a", name) == read(tmp_path / "b", name), name


def test_single_seed_single_variant(tmp_path):
    inputs = make_inputs(variants=("baseline",), seeds=(0,))
    write_report(tmp_path, **inputs)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "stand-alone seeds: 1" in page and "Seed-to-seed ceiling" not in page
    assert len(pd.read_csv(tmp_path / "scatter.csv")) == N_ARCHS


def test_nan_correlations(tmp_path, inputs):
    corr = inputs["correlation"].copy()
    corr.loc[corr.variant == "fairnas", ["value", "ci_low", "ci_high"]] = math.nan
    corr.loc[corr.variant == "baseline", ["ci_low", "ci_high"]] = math.nan
    write_report(tmp_path, **dict(inputs, correlation=corr))
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<b>fairnas</b>: Kendall tau n/a" in page
    tau = corr[(corr.variant == "baseline") & (corr.metric == "kendall_tau")].value.iloc[0]
    assert f"<b>baseline</b>: Kendall tau {tau:.3f}," in page  # no interval when it is undefined


def test_empty_tables(tmp_path, inputs):
    empty_corr = inputs["correlation"].iloc[:0]
    write_report(tmp_path, **dict(inputs, correlation=empty_corr, selection=inputs["selection"].iloc[:0],
                                  histories={}))
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "baseline" in page and "fairnas" in page
    assert len(pd.read_csv(tmp_path / "curves.csv")) == 0


def test_nothing_scored_yet(tmp_path, inputs):
    write_report(tmp_path, **dict(inputs, scores={}, histories={}, correlation=inputs["correlation"].iloc[:0],
                                  selection=inputs["selection"].iloc[:0], standalone=inputs["standalone"].iloc[:0]))
    assert list(pd.read_csv(tmp_path / "scatter.csv").columns) == SCATTER_COLUMNS
    assert (tmp_path / "index.html").is_file()


def test_html_is_escaped(tmp_path, inputs):
    inputs = dict(inputs, scores={"<b>x</b>": inputs["scores"]["baseline"]}, histories={},
                  correlation=inputs["correlation"].iloc[:0], selection=inputs["selection"].iloc[:0])
    write_report(tmp_path, **inputs)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b><b>x</b></b>" not in page


def test_alpha_figure_only_for_histories_with_architecture_weights(tmp_path, inputs):
    assert "alpha.png" not in {p.name for p in write_report(tmp_path / "plain", **inputs)}
    name = next(iter(inputs["histories"]))
    h = inputs["histories"][name]
    for edge in ("1<-0", "2<-0"):
        for op, p in (("none", 0.3), ("nor_conv_3x3", 0.7)):
            h[f"alpha[{edge}][{op}]"] = p
    written = {p.name for p in write_report(tmp_path / "darts", **inputs)}
    assert "alpha.png" in written
    page = (tmp_path / "darts" / "index.html").read_text(encoding="utf-8")
    assert '<img src="alpha.png"' in page and "Architecture weights" in page


def test_alpha_damage_figure_and_the_methods_summary_when_given(tmp_path, inputs):
    from nas.selection import selection_summary

    plain = {p.name for p in write_report(tmp_path / "plain", **inputs)}
    assert "alpha_damage.png" not in plain
    log = pd.DataFrame([{"decision": 0, "phase": "operation", "step": 0, "choice": edge, "op": op, "alpha": a,
                         "accuracy": acc, "loss": 1.0, "chosen": False}
                        for edge in ("1<-0", "2<-0") for op, a, acc in (("none", 0.3, 80.0), ("nor_conv_3x3", 0.7, 40.0))])
    table = inputs["selection"].assign(seed=0, param_free=1.0)
    summary = selection_summary(table)
    written = {p.name for p in write_report(tmp_path / "darts", **inputs, own={"perturbation": {"darts/seed-0": log}}, summary=summary)}
    assert "alpha_damage.png" in written
    page = (tmp_path / "darts" / "index.html").read_text(encoding="utf-8")
    assert '<img src="alpha_damage.png"' in page and "Alpha against operation strength" in page
    assert "parameter-free ops" in page and "stand-alone accuracy (%)" in page  # the over-runs table


def test_stability_section_draws_its_figures_only_where_there_is_something_to_show(tmp_path, inputs):
    """With scored epochs, several seeds, partial sharing and interference: all four stability figures
    and the section's table; the same bytes twice. Without a stability table: none of them."""
    from unit.test_stability import _runs

    from nas import stability as st

    runs, truth = _runs()
    table, ranks = st.stability_table(runs, truth, {key: 10 for key in runs})
    effects = pd.DataFrame({"variant": ["noisy"] * 4, "seed": [0, 0, 1, 1], "i": list("abcd"), "j": list("bcda"),
                            "shared": [0, 1, 1, 2], "before": [1.0] * 4, "after": [1.1, 1.0, 0.9, 0.8],
                            "change": [0.1, 0.0, -0.1, -0.2]})
    table = pd.concat([table, st.interference_rows(effects)], ignore_index=True)
    degrees = pd.DataFrame([{"variant": "steady", **st.degree_of_sharing(SupernetConfig(), 4)},
                            {"variant": "noisy", **st.degree_of_sharing(SupernetConfig(groups=4), 4)}])
    truth_frame = truth.rename("accuracy").rename_axis("arch_id").reset_index()
    figures = ["interference.png", "ranks.png", "sharing.png", "stability.png"]
    for out in (tmp_path / "a", tmp_path / "b"):
        paths = write_report(out, **inputs, stability=table, ranks=ranks, degrees=degrees)
        assert {p.name for p in paths} >= set(figures)
        page = (out / "index.html").read_text()
        assert "Ranking stability and the degree of sharing" in page and "g=4 prefix, per-group" in page
        assert "interference |Δ loss|" in page  # the interference column beside the variance it explains
    for name in figures + ["index.html"]:
        assert read(tmp_path / "a", name) == read(tmp_path / "b", name), name
    plain = write_report(tmp_path / "c", **inputs)
    assert not {p.name for p in plain} & set(figures)
    section, shown = stability_section(tmp_path / "d", table[table["series"] == "summary"], None, truth_frame,
                                       degrees[degrees["variant"] == "steady"])
    assert shown == [] and "τ vs ground truth" in section  # no points, one seed's ranks, full sharing only


def test_the_page_opens_with_a_list_of_its_sections(tmp_path, inputs):
    write_report(tmp_path, **inputs)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    nav = page[page.index("<nav>"):page.index("</nav>")]
    assert page.index("<nav>") < page.index("<h2")
    for anchor in re.findall(r'<h2 id="([^"]+)">', page):
        assert f'href="#{anchor}"' in nav
    assert '<h2 id="summary">Summary</h2>' in page and 'href="#parameters"' in nav
