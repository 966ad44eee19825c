"""The heuristics table: per-variant means and t-intervals over seeds, paired comparisons with the
baseline, and the JSON/text/HTML/figure views of it. Small synthetic inputs with known numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from scipy import stats

from nas import heuristics as H
from nas.io import UserError
from nas.metrics_files import heuristics_json
from nas.report.figures.heuristics import heuristics_figure
from nas.report.page import heuristics_html
from nas.report.text import heuristics_wide

SEEDS = [0, 1, 2]
# per-seed kendall_tau; "b" has one seed only
TAU = {"baseline": [0.50, 0.60, 0.70], "a": [0.55, 0.70, 0.72], "b": [0.52]}
PASSES = {"baseline": 1000, "a": 2000, "b": 1000}  # deterministic: same every seed
ACC = {"baseline": [90.0, 91.0, 93.0], "a": [92.0, 92.5, 93.5], "b": [89.0]}
BEST = 94.0


def seeds_of(v):
    return SEEDS[:len(TAU[v])]


def make_correlation(variants=("baseline", "a", "b")) -> pd.DataFrame:
    rows = []
    for v in variants:
        for i, s in enumerate(seeds_of(v)):
            t = TAU[v][i]
            # k out of order on purpose (and {1, 5, 10} iterates as 1, 10, 5): the table sorts k
            for metric, k, value in [("kendall_tau", None, t), ("sparse_kendall_tau", None, t + 0.01),
                                     ("spearman", None, t + 0.1), ("pearson", None, t + 0.2),
                                     ("precision_at_k", 10, t / 4), ("precision_at_k", 5, t / 2),
                                     ("precision_at_k", 1, t / 3),
                                     ("topk_percentile", 5, 90.0)]:
                rows.append({"variant": v, "seed": s, "metric": metric, "k": k, "value": value,
                             "ci_low": value - 0.1, "ci_high": value + 0.1})
    rows.append({"variant": "standalone", "seed": None, "metric": "seed_to_seed_kendall_tau", "k": None,
                 "value": 0.87, "ci_low": 0.8, "ci_high": 0.9})
    return pd.DataFrame(rows).astype({"variant": "str", "seed": "Int64", "metric": "str", "k": "Int64"})


def make_selection(variants=("baseline", "a", "b")) -> pd.DataFrame:
    rows = []
    for v in variants:
        for i, s in enumerate(seeds_of(v)):
            acc = ACC[v][i]
            for method, a in [("supernet", acc), ("oracle", BEST), ("random", 80.0)]:
                rows.append({"variant": v, "seed": s, "method": method, "arch_id": 7, "arch": "x",
                             "accuracy": a, "percentile": 50.0, "regret": BEST - a})
    return pd.DataFrame(rows).astype({"variant": "str", "seed": "int64", "arch_id": "Int64", "arch": "string"})


def make_costs(variants=("baseline", "a", "b"), seconds=True) -> pd.DataFrame:
    rows = [{"variant": v, "seed": s, "passes": PASSES[v], "seconds": (10.0 + s if seconds else math.nan)}
            for v in variants for s in SEEDS]
    return pd.DataFrame(rows).astype({"variant": "str", "seed": "int64", "passes": "int64", "seconds": "float64"})


def table(variants=("a", "baseline", "b"), seconds=True, **kw) -> pd.DataFrame:
    return H.heuristics_table(make_correlation(), make_selection(), make_costs(seconds=seconds), list(variants), **kw)


def row(t, variant, metric, k=None) -> pd.Series:
    hit = t[(t["variant"] == variant) & (t["metric"] == metric)]
    hit = hit[hit["k"].isna()] if k is None else hit[(hit["k"] == k).fillna(False).astype(bool)]
    assert len(hit) == 1
    return hit.iloc[0]


def t_ci(x, level=0.95):
    x = np.asarray(x, float)
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_rows_columns_and_dtypes():
    t = table()
    assert list(t.columns) == H.COLUMNS
    metrics = ["kendall_tau", "sparse_kendall_tau", "spearman", "precision_at_k", "precision_at_k",
               "precision_at_k", "selected_accuracy", "regret", "passes", "seconds"]
    assert list(t["variant"]) == [v for v in ["a", "baseline", "b"] for _ in metrics]
    assert list(t["metric"]) == metrics * 3
    ks = [None if pd.isna(k) else int(k) for k in t["k"][:len(metrics)]]
    assert ks == [None, None, None, 1, 5, 10, None, None, None, None]
    assert str(t["k"].dtype) == "Int64" and t["n"].dtype == np.int64
    assert all(t[c].dtype == np.float64 for c in H.COLUMNS[4:] if not c.endswith("interval"))
    assert set(t["interval"]) <= {"t", "range", "none"} and set(t["diff_interval"]) <= {"t", "range", "none"}
    assert pd.api.types.is_string_dtype(t["variant"]) and pd.api.types.is_string_dtype(t["metric"])


def test_mean_and_t_interval():
    t = table()
    r = row(t, "a", "kendall_tau")
    lo, hi = t_ci(TAU["a"])
    assert r["n"] == 3
    assert r["mean"] == pytest.approx(np.mean(TAU["a"]))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))
    r = row(t, "baseline", "precision_at_k", 5)
    assert r["mean"] == pytest.approx(np.mean(TAU["baseline"]) / 2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(t_ci(np.array(TAU["baseline"]) / 2))
    # a different level changes the quantile
    r90 = row(table(level=0.9), "a", "kendall_tau")
    assert (r90["ci_low"], r90["ci_high"]) == pytest.approx(t_ci(TAU["a"], 0.9))


def test_paired_difference_and_p_value():
    t = table()
    a, b = np.array(TAU["a"]), np.array(TAU["baseline"])
    r = row(t, "a", "kendall_tau")
    assert r["diff"] == pytest.approx((a - b).mean())
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx(t_ci(a - b))
    assert r["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    r = row(t, "a", "regret")
    ra, rb = BEST - np.array(ACC["a"]), BEST - np.array(ACC["baseline"])
    assert r["diff"] == pytest.approx((ra - rb).mean())
    assert r["p_value"] == pytest.approx(stats.ttest_rel(ra, rb).pvalue)


def test_pairing_is_by_seed_number_not_position():
    # drop baseline seed 0: "a" is then compared on seeds 1 and 2 only
    corr = make_correlation()
    corr = corr[~((corr["variant"] == "baseline") & (corr["seed"] == 0))]
    t = H.heuristics_table(corr, make_selection(), make_costs(), ["baseline", "a"])
    r = row(t, "a", "kendall_tau")
    a, b = np.array(TAU["a"][1:]), np.array(TAU["baseline"][1:])
    assert r["n"] == 3 and row(t, "baseline", "kendall_tau")["n"] == 2
    assert r["diff"] == pytest.approx((a - b).mean())
    assert r["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_zero_variance_differences():
    t = table()
    r = row(t, "a", "passes")  # always +1000: p defined as 0
    assert r["diff"] == 1000.0 and r["p_value"] == 0.0
    assert (r["diff_ci_low"], r["diff_ci_high"]) == (1000.0, 1000.0)
    assert row(t, "b", "passes")["p_value"] == 1.0  # always 0: p defined as 1
    assert row(t, "b", "passes")["diff"] == 0.0


def test_one_seed_gives_nan_intervals():
    r = row(table(), "b", "kendall_tau")
    assert r["n"] == 1 and r["mean"] == pytest.approx(TAU["b"][0])
    assert math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    # one shared seed: a difference, but no interval and no test
    assert r["diff"] == pytest.approx(TAU["b"][0] - TAU["baseline"][0])
    assert math.isnan(r["diff_ci_low"]) and math.isnan(r["diff_ci_high"]) and math.isnan(r["p_value"])


def test_two_seeds_give_their_range_not_a_t_interval():
    # A t-interval from 2 values is mean +- 12.7 * sd / sqrt(2): accuracy [74, 113], tau [-1.3, 1.9]
    # (the hardening issue's examples). With 2 seeds the table shows the two values' range instead.
    tau = {"baseline": [0.50, 0.60], "a": [0.55, 0.90]}
    corr = pd.DataFrame([{"variant": v, "seed": i, "metric": "kendall_tau", "k": None, "value": x}
                         for v, xs in tau.items() for i, x in enumerate(xs)])
    t = H.heuristics_table(corr, make_selection().iloc[:0], make_costs().iloc[:0], ["baseline", "a"])
    r = t[(t["variant"] == "a") & (t["metric"] == "kendall_tau")].iloc[0]
    assert (r["interval"], r["ci_low"], r["ci_high"]) == ("range", 0.55, 0.90)
    assert r["diff_interval"] == "range"
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((0.05, 0.30))
    wide = heuristics_wide(t)
    assert wide.set_index("variant").loc["a", "kendall_tau"] == "0.725 (range 0.550, 0.900)"
    assert "kendall_tau_range" in heuristics_json(t)["a"] and "kendall_tau_ci" not in heuristics_json(t)["a"]
    assert "range of their values" in heuristics_html(t)
    # 3 seeds: the t-interval, which can be wider than the values
    r3 = row(table(), "a", "kendall_tau")
    assert r3["interval"] == "t" and r3["ci_low"] < min(TAU["a"])


def test_baseline_rows_and_missing_baseline():
    t = table()
    base = t[t["variant"] == "baseline"]
    assert (base["diff"] == 0.0).all()
    assert base[["diff_ci_low", "diff_ci_high", "p_value"]].isna().all().all()
    t = table(variants=("a", "b"))  # no baseline: no comparison, no error
    assert t[["diff", "diff_ci_low", "diff_ci_high", "p_value"]].isna().all().all()
    t = table(baseline="a")
    assert (t.loc[t["variant"] == "a", "diff"] == 0.0).all()
    assert row(t, "baseline", "kendall_tau")["diff"] == pytest.approx(np.mean(np.subtract(TAU["baseline"], TAU["a"])))


def test_seconds_rows_only_when_measured():
    assert "seconds" in set(table()["metric"])
    t = table(seconds=False)
    assert "seconds" not in set(t["metric"])
    assert len(t) == 3 * 9
    assert row(table(), "a", "seconds")["mean"] == pytest.approx(11.0)


def test_standalone_rows_and_other_methods_ignored():
    t = table()
    r = row(t, "a", "selected_accuracy")
    assert r["n"] == 3 and r["mean"] == pytest.approx(np.mean(ACC["a"]))
    assert "standalone" not in set(t["variant"])
    assert "pearson" not in set(t["metric"]) and "topk_percentile" not in set(t["metric"])
    # changing the oracle's rows changes nothing
    sel = make_selection()
    sel.loc[sel["method"] == "oracle", "accuracy"] = 0.0
    t2 = H.heuristics_table(make_correlation(), sel, make_costs(), ["a", "baseline", "b"])
    assert t2.equals(t)
    # a different method reads those rows instead
    t3 = H.heuristics_table(make_correlation(), make_selection(), make_costs(), ["a", "baseline", "b"],
                            method="random")
    assert row(t3, "a", "selected_accuracy")["mean"] == 80.0
    with pytest.raises(UserError, match="supernett"):
        H.heuristics_table(make_correlation(), make_selection(), make_costs(), ["a"], method="supernett")


def test_missing_variant_is_a_user_error():
    with pytest.raises(UserError, match="'nope'") as err:
        H.heuristics_table(make_correlation(), make_selection(), make_costs(), ["baseline", "nope"])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, column", [("correlation", "metric"), ("selection", "regret"), ("costs", "passes")])
def test_missing_column_is_a_user_error(name, column):
    frames = {"correlation": make_correlation(), "selection": make_selection(), "costs": make_costs()}
    frames[name] = frames[name].drop(columns=column)
    with pytest.raises(UserError, match=f"{name}: missing column.*{column}"):
        H.heuristics_table(frames["correlation"], frames["selection"], frames["costs"], ["baseline", "a"])


def test_duplicate_seed_is_a_user_error():
    sel = make_selection()
    with pytest.raises(UserError, match="selection"):
        H.heuristics_table(make_correlation(), pd.concat([sel, sel.iloc[:1]]), make_costs(), ["baseline"])


def test_metrics_json():
    m = heuristics_json(table())
    text = json.dumps(m)
    assert json.loads(text) == m
    assert list(m) == ["a", "baseline", "b"]
    a = m["a"]
    assert a["kendall_tau"] == round(np.mean(TAU["a"]), 6)
    assert len(a["kendall_tau_ci"]) == 2 and all(isinstance(x, float) for x in a["kendall_tau_ci"])
    assert a["precision_at_k@5"] == round(np.mean(TAU["a"]) / 2, 6)
    assert not any(k.endswith(("_diff", "_p")) for v in m.values() for k in v)  # in the parquet and report only
    assert "kendall_tau_ci" not in m["b"] and "kendall_tau_range" not in m["b"]  # one seed: no bounds
    assert "NaN" not in text


def test_deterministic_and_independent_of_row_order():
    t1, t2 = table(), table()
    assert t1.equals(t2)
    corr, sel, costs = make_correlation(), make_selection(), make_costs()
    shuffled = H.heuristics_table(corr.sample(frac=1, random_state=1), sel.sample(frac=1, random_state=2),
                                  costs.sample(frac=1, random_state=3), ["a", "baseline", "b"])
    assert shuffled.equals(t1)
    assert heuristics_html(t1) == heuristics_html(t2)


def test_wide_table():
    w = heuristics_wide(table())
    assert list(w["variant"]) == ["a", "baseline", "b"]
    assert list(w.columns[:4]) == ["variant", "n", "kendall_tau", "Δ kendall_tau"]
    assert "precision_at_k@5" in w.columns and "Δ seconds" in w.columns
    assert list(w["n"]) == [3, 3, 3]  # b has 3 cost seeds
    lo, hi = t_ci(TAU["a"])
    assert w.loc[0, "kendall_tau"] == f"{np.mean(TAU['a']):.3f} [{lo:.3f}, {hi:.3f}]"
    assert w.loc[0, "Δ kendall_tau"].startswith("+0.057 (p=")
    assert w.loc[2, "kendall_tau"] == "0.520" and w.loc[2, "Δ kendall_tau"] == "+0.020 (p=n/a)"
    assert w.loc[1, "Δ kendall_tau"] == "—"
    assert not any(c.startswith("Δ") for c in heuristics_wide(table(variants=("a", "b"))).columns)


def test_html_table_escapes_and_marks_significance():
    corr, sel, costs = make_correlation(), make_selection(), make_costs()
    for df in (corr, sel, costs):
        df["variant"] = df["variant"].replace("a", "a<b")
    t = H.heuristics_table(corr, sel, costs, ["baseline", "a<b", "b"])
    page = heuristics_html(t)
    assert "a&lt;b" in page and "a<b" not in page
    assert "<th>baseline</th>" in page and "<th>b</th>" in page
    assert "t-interval over super-net seeds" in page and "paired t-test" in page
    # passes: p = 0, and 0 after Holm's correction over the two variants: bold; nothing spreads, so any
    # difference is detectable
    assert "<b>Δ +1000 [+1000, +1000], p&lt;0.001, Holm &lt;0.001, detects ±0</b>" in page
    assert "<b>Δ +0 [+0, +0], p=1.00" not in page
    assert "Holm: p corrected by Holm's method over the variants compared on that metric" in page


def test_holm_corrects_each_metric_over_the_variants_and_detectable_follows_the_spread():
    """Three variants against the baseline on Kendall tau: p_holm is Holm's adjustment of their three
    p-values (one family per metric), and `detectable` the difference their seeds detect with 80 %
    power from the sd of the paired differences."""
    from nas import power
    seeds = [0, 1, 2, 3]
    base = [0.30, 0.32, 0.28, 0.31]
    taus = {"baseline": base, "x": [0.40, 0.41, 0.37, 0.42], "y": [0.33, 0.31, 0.30, 0.35],
            "z": [0.29, 0.33, 0.27, 0.32]}
    corr = pd.DataFrame([{"variant": v, "seed": s, "metric": "kendall_tau", "k": np.nan, "value": t}
                         for v, ts in taus.items() for s, t in zip(seeds, ts)])
    sel = pd.DataFrame(columns=["variant", "seed", "method", "accuracy", "regret"])
    costs = pd.DataFrame(columns=["variant", "seed", "passes", "seconds"])
    t = H.heuristics_table(corr, sel, costs, list(taus)).query("metric == 'kendall_tau'").set_index("variant")
    p = [stats.ttest_rel(taus[v], base).pvalue for v in ("x", "y", "z")]
    assert t.loc[["x", "y", "z"], "p_value"].tolist() == pytest.approx(p)
    assert t.loc[["x", "y", "z"], "p_holm"].tolist() == pytest.approx(power.holm(p).tolist())
    assert t.loc["x", "p_holm"] > t.loc["x", "p_value"] and np.isnan(t.loc["baseline", "p_holm"])
    sd = np.std(np.subtract(taus["y"], base), ddof=1)
    assert t.loc["y", "detectable"] == pytest.approx(power.detectable_difference(sd, 4))
    assert np.isnan(t.loc["baseline", "detectable"])


def test_effect_figure():
    import matplotlib.pyplot as plt

    fig = heuristics_figure(table())
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # first variant on top
    assert ax.get_xlabel() == "Δ s-KdT vs baseline\n(95% CI over seeds)"
    assert "baseline" in ax.get_title()
    assert bars[0].has_xerr and not bars[1].has_xerr  # "b" has one seed: a bare point
    plt.close(fig)

    fig = heuristics_figure(table(variants=("baseline",)))  # nothing to compare: the baseline itself
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["baseline"]
    assert ax.get_title() == f"baseline: s-KdT {row(table(), 'baseline', 'sparse_kendall_tau')['mean']:.3f} [0.362, 0.858]"
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 1
    plt.close(fig)
