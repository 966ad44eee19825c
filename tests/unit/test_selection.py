"""Selection methods, picks and the selection table: hand example, ties, baselines, registry, picks
outside the pool, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas import selection
from nas.io import UserError
from nas.layout import Run
from nas.selection import (SELECTORS, Context, number_picks, outside_pool, pick, register_selector, run_table,
                           selection_summary, selection_table)
from nas.spaces import get_space

NB201 = get_space("nb201")


def scores_frame(ids, accuracy, loss) -> pd.DataFrame:
    return pd.DataFrame({"arch_id": ids, "accuracy": accuracy, "loss": loss})


def truth_frame(ids, accuracy) -> pd.DataFrame:
    return pd.DataFrame({"arch_id": ids, "arch": [f"arch{i}" for i in ids], "accuracy": accuracy})


def pool_of(ids) -> pd.DataFrame:
    """A pool of real NB201 cells with these ids."""
    cells = NB201.sample(max(ids) + 1 if len(ids) else 1, 0)
    return pd.DataFrame({"arch_id": list(ids), "arch": [NB201.format(cells[i]) for i in ids]})


def context(scores: pd.DataFrame, **kw) -> Context:
    return Context(space=NB201, run=Run("v", 0), scores=scores, pool=pool_of(sorted(scores["arch_id"])), seed=0, **kw)


def selection_of(scores, truth, methods=("supernet",)) -> pd.DataFrame:
    """Every method's pick for one run, then the run's table (the pick and select stages in one)."""
    ctx = context(scores)
    picks = number_picks(pick(ctx, list(methods)), ctx.pool)
    names = dict(zip(ctx.pool["arch"], ctx.pool["arch_id"]))
    return run_table("v", [(m, names.get(a, i)) for m, a, i in zip(picks["method"], picks["arch"], picks["arch_id"])],
                     truth)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so a test's selectors do not leak into other tests."""
    private = dict(SELECTORS)
    monkeypatch.setattr(selection.base, "SELECTORS", private)
    monkeypatch.setattr(selection, "SELECTORS", private)
    return private


def test_hand_example():
    # Super-net ties archs 1 and 2 on accuracy; 2 has the lower loss and wins, but it is the worst
    # stand-alone. Truth rows are in a different order from scores on purpose.
    scores = scores_frame([0, 1, 2, 3], [0.5, 0.7, 0.7, 0.2], [1.0, 0.9, 0.8, 2.0])
    truth = truth_frame([3, 2, 1, 0], [95.0, 90.0, 92.0, 91.0])
    table = run_table("baseline", [("supernet", 2)], truth)
    expected = pd.DataFrame({
        "variant": ["baseline"] * 3,
        "method": ["supernet", "oracle", "random"],
        "arch_id": pd.array([2, 3, pd.NA], dtype="Int64"),
        "arch": pd.array(["arch2", "arch3", pd.NA], dtype="string"),
        "accuracy": [90.0, 95.0, 92.0],
        "percentile": [0.0, 100.0, 50.0],
        "regret": [5.0, 0.0, 3.0],
        "param_free": [np.nan] * 3,  # no counting function given
    }).astype({"variant": "str", "method": "str"})
    pd.testing.assert_frame_equal(table, expected)


def test_param_free_counts_the_picks_operations_and_random_gets_the_pool_mean():
    truth = truth_frame([0, 1, 2], [90.0, 91.0, 92.0])
    count = {"arch0": 0, "arch1": 3, "arch2": 1}.__getitem__
    table = run_table("v", [("supernet", 1)], truth, param_free=count).set_index("method")
    assert table.loc["supernet", "param_free"] == 3.0
    assert table.loc["oracle", "param_free"] == 1.0
    assert table.loc["random", "param_free"] == pytest.approx(4 / 3)


def test_selection_summary_gives_each_method_its_mean_and_t_interval_over_runs():
    from scipy import stats

    rows = [{"variant": "v", "seed": s, "method": m, "accuracy": a, "regret": 95.0 - a, "param_free": f}
            for s, (a, b) in enumerate([(90.0, 80.0), (92.0, 84.0), (94.0, 82.0)])
            for m, a, f in (("perturbation", a, 1.0), ("magnitude", b, 3.0))]
    summary = selection_summary(pd.DataFrame(rows)).set_index(["method", "metric"])
    acc = summary.loc[("perturbation", "accuracy")]
    half = stats.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)  # sd of 90, 92, 94 is 2
    assert (acc["runs"], acc["mean"], acc["interval"]) == (3, 92.0, "t")
    assert acc["ci_low"] == pytest.approx(92.0 - half) and acc["ci_high"] == pytest.approx(92.0 + half)
    assert summary.loc[("magnitude", "param_free"), "mean"] == 3.0
    assert summary.loc[("magnitude", "regret"), "mean"] == pytest.approx(13.0)
    two = selection_summary(pd.DataFrame(rows[:4])).set_index(["method", "metric"])
    assert tuple(two.loc[("perturbation", "accuracy"), ["ci_low", "ci_high", "interval"]]) == (90.0, 92.0, "range")


def test_selection_summary_compares_each_method_with_the_random_pick_of_the_same_runs():
    """Paired by seed within a variant: the difference from `random`, its t-interval, the paired t-test,
    Holm over every comparison of the metric, and what the runs detect; baselines get none."""
    from scipy import stats

    from nas import power

    regret = {"random": [3.0, 3.5, 2.5, 3.0], "supernet": [1.0, 2.5, 2.0, 1.5], "magnitude": [3.5, 3.0, 3.0, 4.0]}
    rows = [{"variant": v, "seed": s, "method": m, "accuracy": 95.0 - r, "regret": r, "param_free": 0.0}
            for v in ("a", "b") for m, rs in regret.items() for s, r in zip([3, 1, 2, 0], rs)]
    rows += [{"variant": "a", "seed": s, "method": "oracle", "accuracy": 95.0, "regret": 0.0, "param_free": 0.0}
             for s in range(4)]
    summary = selection_summary(pd.DataFrame(rows)).set_index(["variant", "method", "metric"])
    d = np.subtract(regret["supernet"], regret["random"])
    row = summary.loc[("a", "supernet", "regret")]
    assert row["diff"] == pytest.approx(d.mean()) and row["diff_interval"] == "t"
    assert row["p_value"] == pytest.approx(stats.ttest_rel(regret["supernet"], regret["random"]).pvalue)
    assert row["detectable"] == pytest.approx(power.detectable_difference(np.std(d, ddof=1), 4))
    p = summary.xs("regret", level="metric")["p_value"]
    assert summary.xs("regret", level="metric")["p_holm"].tolist() == pytest.approx(power.holm(p.to_numpy()).tolist(),
                                                                                     nan_ok=True)
    assert p.notna().sum() == 4  # supernet and magnitude in two variants; random and oracle are the baselines
    assert summary.loc[("a", "oracle", "regret"), ["diff", "p_value", "p_holm"]].isna().all()
    assert summary.loc[("a", "magnitude", "accuracy"), "diff"] == pytest.approx(-np.mean(
        np.subtract(regret["magnitude"], regret["random"])))


def test_supernet_ties_go_to_lower_loss_then_lower_arch_id():
    truth = truth_frame([5, 7, 9], [90.0, 91.0, 92.0])
    # Same accuracy and loss everywhere: the lowest arch_id, whatever the row order.
    tied = scores_frame([9, 7, 5], [0.6, 0.6, 0.6], [1.0, 1.0, 1.0])
    assert selection.pool.best_score_id(tied) == 5
    assert SELECTORS["supernet"](context(tied)) == context(tied).arch(5)
    assert selection_of(tied, truth).loc[0, "arch_id"] == 5
    # Loss decides before arch_id.
    assert selection.pool.best_score_id(scores_frame([9, 7, 5], [0.6, 0.6, 0.6], [1.0, 0.5, 1.0])) == 7


def test_oracle_ties_go_to_lower_arch_id():
    scores = scores_frame([4, 2, 8], [0.1, 0.2, 0.9], [1.0, 1.0, 1.0])
    truth = truth_frame([8, 4, 2], [93.0, 94.0, 94.0])
    table = selection_of(scores, truth).set_index("method")
    assert table.loc["oracle", "arch_id"] == 2
    assert table.loc["oracle", "percentile"] == pytest.approx(100 * (2.5 - 1) / 2)  # tied best: average rank
    assert table.loc["supernet", "regret"] == pytest.approx(1.0)


def test_regret_is_non_negative_and_zero_for_oracle():
    rng = np.random.default_rng(0)
    ids = rng.permutation(40)
    scores = scores_frame(ids, rng.uniform(0.4, 0.8, 40), rng.uniform(0.5, 2.0, 40))
    truth = truth_frame(np.sort(ids), np.round(rng.uniform(90, 95, 40), 1))  # rounding creates ties
    table = selection_of(scores, truth).set_index("method")
    assert (table["regret"] >= 0).all()
    assert table.loc["oracle", "regret"] == 0.0
    assert table.loc["oracle", "accuracy"] == truth["accuracy"].max()
    assert table.loc["random", "accuracy"] == pytest.approx(truth["accuracy"].mean())
    assert table.loc["random", "percentile"] == pytest.approx(50.0)
    assert pd.isna(table.loc["random", "arch_id"]) and pd.isna(table.loc["random", "arch"])


def test_pool_of_identical_accuracies():
    # Mean of equal floats can round above their max; regret must still be exactly >= 0.
    truth = truth_frame([0, 1, 2], [0.1, 0.1, 0.1])
    table = selection_of(scores_frame([0, 1, 2], [0.3, 0.2, 0.1], [1.0, 1.0, 1.0]), truth)
    assert (table["regret"] >= 0).all()
    assert table["percentile"].tolist() == [50.0, 50.0, 50.0]


def test_pool_of_one():
    table = run_table("v", [("supernet", 3)], truth_frame([3], [93.0]))
    assert table["percentile"].tolist() == [100.0, 100.0, 100.0]
    assert table["regret"].tolist() == [0.0, 0.0, 0.0]


def test_registered_selectors_come_before_baselines(registry):
    @register_selector("lowest_loss")
    def lowest_loss(ctx: Context):
        return ctx.arch(int(ctx.scores.sort_values(["loss", "arch_id"]).iloc[0]["arch_id"]))

    scores = scores_frame([0, 1, 2], [0.9, 0.5, 0.1], [2.0, 0.3, 1.0])
    table = selection_of(scores, truth_frame([0, 1, 2], [91.0, 92.0, 93.0]), ["supernet", "lowest_loss"])
    assert table["method"].tolist() == ["supernet", "lowest_loss", "oracle", "random"]
    assert table.loc[1, "arch_id"] == 1


def test_register_rejects_taken_names(registry):
    for name in ["supernet", "oracle", "random"]:
        with pytest.raises(ValueError, match="already taken"):
            register_selector(name)(lambda ctx: None)


def test_unknown_method_is_a_user_error():
    with pytest.raises(UserError, match="select.methods: unknown method 'nope'"):
        pick(context(scores_frame([0, 1], [0.5, 0.6], [1.0, 1.0])), ["nope"])


def test_picks_outside_the_pool_get_new_ids_in_order_of_appearance(registry):
    outside = [NB201.format(a) for a in NB201.sample(12, 1)[-3:]]
    pool = pool_of([0, 1, 2])
    assert not set(outside) & set(pool["arch"])
    picks = pd.DataFrame({"variant": ["v"] * 5, "seed": [0, 0, 1, 1, 1], "method": ["a", "b", "a", "b", "c"],
                          "arch": [outside[1], pool["arch"][2], outside[0], outside[1], pool["arch"][0]]})
    numbered = number_picks(picks, pool)
    assert numbered["arch_id"].tolist() == [3, 2, 4, 3, 0]
    assert numbered["in_pool"].tolist() == [False, True, False, False, True]
    assert outside_pool(numbered)[["arch_id", "arch"]].values.tolist() == [[3, outside[1]], [4, outside[0]]]


def test_selection_table_takes_the_truth_of_picks_outside_the_pool():
    pool = truth_frame([0, 1, 2, 3], [90.0, 92.0, 94.0, 96.0])
    outside = truth_frame([4, 5], [93.0, 97.0])
    picks = pd.DataFrame({"variant": ["v", "v"], "seed": [0, 0], "method": ["x", "y"], "arch_id": [4, 5],
                          "arch": ["arch4", "arch5"], "in_pool": [False, False]})
    table = selection_table(picks, pd.concat([pool, outside]), {("v", 0): np.array([0, 1, 2, 3])}).set_index("method")
    # percentile: the share of the pool the pick beats; regret against the pool's oracle (may be < 0)
    assert table.loc["x", "percentile"] == 50.0 and table.loc["x", "regret"] == pytest.approx(3.0)
    assert table.loc["y", "percentile"] == 100.0 and table.loc["y", "regret"] == pytest.approx(-1.0)
    assert table.loc["oracle", "arch_id"] == 3 and table.loc["random", "accuracy"] == pytest.approx(93.0)
    assert list(table.reset_index().columns) == ["method", "variant", "seed", "arch_id", "arch", "accuracy",
                                                 "percentile", "regret", "param_free"]


def test_pick_without_stand_alone_result_is_an_error():
    with pytest.raises(UserError, match="'broken' picked arch_id 99, which has no stand-alone result"):
        run_table("v", [("broken", 99)], truth_frame([0, 1], [90.0, 91.0]))


def test_context_loads_the_supernet_once_and_only_when_asked():
    calls = []
    ctx = context(scores_frame([0, 1], [0.5, 0.6], [1.0, 1.0]), load_supernet=lambda: calls.append(1) or ("net", {}))
    assert calls == []
    assert ctx.supernet == ("net", {}) and ctx.supernet == ("net", {}) and calls == [1]
    with pytest.raises(UserError, match="no validation data"):
        ctx.valid


def test_column_dtypes():
    table = run_table("v", [("supernet", 1)], truth_frame([0, 1], [90.0, 91.0]))
    assert list(table.columns) == ["variant", "method", "arch_id", "arch", "accuracy", "percentile", "regret", "param_free"]
    assert pd.api.types.is_string_dtype(table["variant"]) and pd.api.types.is_string_dtype(table["method"])
    assert table["arch_id"].dtype == "Int64"
    assert table["arch"].dtype == "string"
    assert all(table[c].dtype == "float64" for c in ["accuracy", "percentile", "regret", "param_free"])


@pytest.mark.parametrize("truth, match", [
    (pd.DataFrame({"arch_id": [0], "accuracy": [90.0]}), "truth: missing column.*arch"),
    (truth_frame([0, 0], [90.0, 91.0]), "truth: 1 duplicated arch_id"),
    (truth_frame([0, 1], [90.0, np.nan]), "NaN or inf for arch_id.*1"),
    (truth_frame([], []), "at least one architecture"),
])
def test_bad_input_is_user_error(truth, match):
    with pytest.raises(UserError, match=match):
        run_table("v", [("supernet", 0)], truth)
