"""nas.stability: ranking stability over training points and over seeds, on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import one_line_error
from nas import stability as st

# 3 points x 4 architectures: the first two points agree, the last reverses the ranking.
TRAJ = pd.DataFrame([[1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5], [4.0, 3.0, 2.0, 1.0]],
                    index=pd.Index([10, 20, 30], name="epoch"), columns=[0, 1, 2, 3])


def test_consecutive_and_to_final_tau():
    c = st.consecutive_tau(TRAJ)
    assert list(c["point"]) == [10, 20] and list(c["next"]) == [20, 30]
    assert list(c["tau"]) == pytest.approx([1.0, -1.0])
    assert list(st.tau_to_final(TRAJ)) == pytest.approx([-1.0, -1.0, 1.0])


def test_top1_changes_counts_switches_of_the_best_architecture():
    assert st.top1_changes(TRAJ) == 1  # 3, 3, then 0
    ties = pd.DataFrame([[1.0, 1.0], [1.0, 0.5]], columns=[7, 9])
    assert [st.best(ties.loc[i]) for i in ties.index] == [7, 7] and st.top1_changes(ties) == 0


def test_tau_to_truth_aligns_by_arch_id():
    truth = pd.Series({3: 95.0, 2: 90.0, 1: 85.0, 0: 80.0})  # another order on purpose
    assert list(st.tau_to_truth(TRAJ, truth)) == pytest.approx([1.0, 1.0, -1.0])
    assert "no stand-alone accuracy for arch_id(s) 3" in one_line_error(st.tau_to_truth, TRAJ, truth.drop(3))


def test_seed_statistics():
    finals = pd.DataFrame([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [3.0, 2.0, 1.0]], index=pd.Index([0, 1, 2], name="seed"),
                          columns=[5, 6, 7])
    mean, pairs = st.seed_tau(finals)
    assert len(pairs) == 3 and mean == pytest.approx((1 / 3 - 1 - 1 / 3) / 3)
    assert st.distinct_top1(finals) == 3  # 7, 6 and 5
    ranks = st.rank_table(finals)
    assert ranks[ranks["seed"] == 0].set_index("arch_id")["rank"].to_dict() == {5: 3, 6: 2, 7: 1}
    assert len(ranks) == 9


def test_bad_tables_are_one_line_errors():
    assert "needs at least 2 row(s)" in one_line_error(st.consecutive_tau, TRAJ.iloc[:1])
    assert "NaN or inf" in one_line_error(st.top1_changes, TRAJ.where(TRAJ != 4.0))


def _runs():
    """Two variants x 3 seeds, 3 scored epochs and 2 dense steps each: 'steady' ranks like the truth
    at every point and seed; 'noisy' reverses it on seed 1 and at its middle epoch."""
    truth = pd.Series([1.0, 2.0, 3.0, 4.0], index=[0, 1, 2, 3])
    good = [1.0, 2.0, 3.0, 4.0]
    bad = [4.0, 3.0, 2.0, 1.0]

    def traj(rows, name, points):
        return pd.DataFrame(rows, index=pd.Index(points, name=name), columns=[0, 1, 2, 3])

    runs = {}
    for seed in (0, 1, 2):
        runs[("steady", seed)] = {"epoch": traj([good, good, good], "epoch", [1, 2, 3]),
                                  "step": traj([good, good], "step", [29, 30])}
        last = bad if seed == 1 else good
        runs[("noisy", seed)] = {"epoch": traj([good, bad, last], "epoch", [1, 2, 3]), "step": None}
    return runs, truth


def test_stability_table_per_run_and_per_variant_over_seeds():
    runs, truth = _runs()
    passes = {key: 100 * (1 + key[1]) for key in runs}
    table, ranks = st.stability_table(runs, truth, passes)
    assert list(table.columns) == st.COLUMNS
    summary = table[table["series"] == "summary"].set_index(["variant", "statistic"])
    assert summary.loc[("steady", "tau_truth"), "value"] == pytest.approx(1.0)
    assert summary.loc[("steady", "tau_truth"), "interval"] == "t"
    assert summary.loc[("noisy", "tau_truth"), "value"] == pytest.approx((1 - 1 + 1) / 3)
    assert summary.loc[("steady", "seed_tau"), "value"] == pytest.approx(1.0)
    # noisy's seeds: (0,1) -1, (0,2) 1, (1,2) -1; the range is the lowest and highest pair
    assert summary.loc[("noisy", "seed_tau"), ["value", "ci_low", "ci_high"]].tolist() == pytest.approx([-1 / 3, -1, 1])
    assert summary.loc[("noisy", "distinct_top1"), "value"] == 2 and summary.loc[("steady", "distinct_top1"), "value"] == 1
    assert summary.loc[("noisy", "epoch_top1_changes"), "value"] == pytest.approx((2 + 1 + 2) / 3)
    assert ("noisy", "step_consecutive_tau") not in summary.index  # no dense scores: no step statistics
    assert summary.loc[("steady", "step_consecutive_tau"), "value"] == pytest.approx(1.0)
    assert summary.loc[("steady", "passes"), "value"] == 200
    run = table[(table["variant"] == "noisy") & (table["seed"] == 0) & (table["series"] == "epoch")]
    at = run.set_index(["statistic", "point"])["value"]
    assert at[("consecutive_tau", 2)] == pytest.approx(-1) and at[("tau_to_truth", 2)] == pytest.approx(-1)
    assert at[("top1", 2)] == 0 and at[("top1", 3)] == 3
    assert set(ranks.columns) == {"variant", "seed", "arch_id", "rank"} and len(ranks) == 2 * 3 * 4
    assert ranks[(ranks["variant"] == "noisy") & (ranks["seed"] == 1) & (ranks["arch_id"] == 0)]["rank"].item() == 1


def test_interference_rows_and_degree_of_sharing():
    from nas.config import SupernetConfig

    effects = pd.DataFrame({"variant": ["a"] * 4, "seed": [0, 0, 1, 1], "i": list("wxyz"), "j": list("xyzw"),
                            "shared": [0, 0, 2, 2], "before": [1.0] * 4, "after": [1.1, 1.3, 0.9, 0.7],
                            "change": [0.1, 0.3, -0.1, -0.3]})
    table = st.interference_rows(effects)
    rows = table[table["series"] == "interference"].set_index("point")
    assert rows.loc[0, "value"] == pytest.approx(0.2) and rows.loc[2, "value"] == pytest.approx(-0.2)
    assert set(rows.index) == {0, 2} and (rows["statistic"] == "change").all() and (rows["interval"] == "t").all()
    # how much they disturb each other at all: the mean |change| (0.2), not the mean change (0: they cancel)
    magnitude = table[table["series"] == "summary"]
    assert magnitude[["variant", "seed", "statistic", "point"]].values.tolist() == [["a", st.OVER_SEEDS, "interference",
                                                                                     st.NO_POINT]]
    assert magnitude["value"].item() == pytest.approx(0.2) and magnitude["ci_low"].item() < 0.2 < magnitude["ci_high"].item()
    assert st.degree_of_sharing(SupernetConfig(), 4) == {"form": "full", "k": 4, "g": 1, "partition": "", "compute": ""}
    assert st.degree_of_sharing(SupernetConfig(prefix_shared=1), 4)["k"] == 1
    assert st.degree_of_sharing(SupernetConfig(prefix_shared=4), 4)["form"] == "full"  # k = the cells: full sharing
    assert st.degree_of_sharing(SupernetConfig(groups=8, partition="random"), 4) == {
        "form": "groups", "k": 4, "g": 8, "partition": "random", "compute": "per_group"}


def test_across_variants_pairs_two_statistics_and_ranks_them():
    def row(variant, statistic, value):
        return (variant, st.OVER_SEEDS, "summary", statistic, st.NO_POINT, value, value - 0.1, value + 0.1, "t")

    rows = [row("a", "interference", 3.0), row("a", "step_consecutive_tau", 0.90),
            row("b", "interference", 1.0), row("b", "step_consecutive_tau", 0.99),
            row("c", "interference", 2.0), row("c", "step_consecutive_tau", 0.95),
            row("d", "interference", 0.5)]  # d has no steps scored: left out
    table = pd.DataFrame(rows, columns=st.COLUMNS)
    x, y, rho = st.across_variants(table, "interference", "step_consecutive_tau")
    assert list(x.index) == list(y.index) == ["a", "b", "c"]
    assert x.loc["b", "value"] == 1.0 and y.loc["c", "ci_high"] == pytest.approx(1.05)
    assert rho == pytest.approx(-1.0)  # more interference, less steady: perfectly ordered
    assert np.isnan(st.across_variants(table[table["variant"] != "c"], "interference", "step_consecutive_tau")[2])
