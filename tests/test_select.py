"""Selection methods and the selection table: hand example, ties, baselines, registry, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas import select
from nas.io import UserError
from nas.select import SELECTORS, register_selector, selection_table


def scores_frame(ids, accuracy, loss) -> pd.DataFrame:
    return pd.DataFrame({"arch_id": ids, "accuracy": accuracy, "loss": loss})


def truth_frame(ids, accuracy) -> pd.DataFrame:
    return pd.DataFrame({"arch_id": ids, "arch": [f"arch{i}" for i in ids], "accuracy": accuracy})


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so a test's selectors do not leak into other tests."""
    monkeypatch.setattr(select, "SELECTORS", dict(SELECTORS))
    return select.SELECTORS


def test_hand_example():
    # Super-net ties archs 1 and 2 on accuracy; 2 has the lower loss and wins, but it is the worst
    # stand-alone. Truth rows are in a different order from scores on purpose.
    scores = scores_frame([0, 1, 2, 3], [0.5, 0.7, 0.7, 0.2], [1.0, 0.9, 0.8, 2.0])
    truth = truth_frame([3, 2, 1, 0], [95.0, 90.0, 92.0, 91.0])
    table = selection_table("baseline", scores, truth)
    expected = pd.DataFrame({
        "variant": ["baseline"] * 3,
        "method": ["supernet", "oracle", "random"],
        "arch_id": pd.array([2, 3, pd.NA], dtype="Int64"),
        "arch": pd.array(["arch2", "arch3", pd.NA], dtype="string"),
        "accuracy": [90.0, 95.0, 92.0],
        "percentile": [0.0, 100.0, 50.0],
        "regret": [5.0, 0.0, 3.0],
    }).astype({"variant": "str", "method": "str"})
    pd.testing.assert_frame_equal(table, expected)


def test_supernet_ties_go_to_lower_loss_then_lower_arch_id():
    truth = truth_frame([5, 7, 9], [90.0, 91.0, 92.0])
    # Same accuracy and loss everywhere: the lowest arch_id, whatever the row order.
    tied = scores_frame([9, 7, 5], [0.6, 0.6, 0.6], [1.0, 1.0, 1.0])
    assert SELECTORS["supernet"](tied) == 5
    assert selection_table("v", tied, truth).loc[0, "arch_id"] == 5
    # Loss decides before arch_id.
    assert SELECTORS["supernet"](scores_frame([9, 7, 5], [0.6, 0.6, 0.6], [1.0, 0.5, 1.0])) == 7


def test_oracle_ties_go_to_lower_arch_id():
    scores = scores_frame([4, 2, 8], [0.1, 0.2, 0.9], [1.0, 1.0, 1.0])
    truth = truth_frame([8, 4, 2], [93.0, 94.0, 94.0])
    table = selection_table("v", scores, truth).set_index("method")
    assert table.loc["oracle", "arch_id"] == 2
    assert table.loc["oracle", "percentile"] == pytest.approx(100 * (2.5 - 1) / 2)  # tied best: average rank
    assert table.loc["supernet", "regret"] == pytest.approx(1.0)


def test_regret_is_non_negative_and_zero_for_oracle():
    rng = np.random.default_rng(0)
    ids = rng.permutation(40)
    scores = scores_frame(ids, rng.uniform(0.4, 0.8, 40), rng.uniform(0.5, 2.0, 40))
    truth = truth_frame(np.sort(ids), np.round(rng.uniform(90, 95, 40), 1))  # rounding creates ties
    table = selection_table("v", scores, truth).set_index("method")
    assert (table["regret"] >= 0).all()
    assert table.loc["oracle", "regret"] == 0.0
    assert table.loc["oracle", "accuracy"] == truth["accuracy"].max()
    assert table.loc["random", "accuracy"] == pytest.approx(truth["accuracy"].mean())
    assert table.loc["random", "percentile"] == pytest.approx(50.0)
    assert pd.isna(table.loc["random", "arch_id"]) and pd.isna(table.loc["random", "arch"])


def test_pool_of_identical_accuracies():
    # Mean of equal floats can round above their max; regret must still be exactly >= 0.
    truth = truth_frame([0, 1, 2], [0.1, 0.1, 0.1])
    table = selection_table("v", scores_frame([0, 1, 2], [0.3, 0.2, 0.1], [1.0, 1.0, 1.0]), truth)
    assert (table["regret"] >= 0).all()
    assert table["percentile"].tolist() == [50.0, 50.0, 50.0]


def test_pool_of_one():
    table = selection_table("v", scores_frame([3], [0.5], [1.0]), truth_frame([3], [93.0]))
    assert table["percentile"].tolist() == [100.0, 100.0, 100.0]
    assert table["regret"].tolist() == [0.0, 0.0, 0.0]


def test_registered_selectors_come_before_baselines(registry):
    @register_selector("lowest_loss")
    def lowest_loss(scores: pd.DataFrame) -> int:
        return int(scores.sort_values(["loss", "arch_id"]).iloc[0]["arch_id"])

    scores = scores_frame([0, 1, 2], [0.9, 0.5, 0.1], [2.0, 0.3, 1.0])
    table = selection_table("v", scores, truth_frame([0, 1, 2], [91.0, 92.0, 93.0]))
    assert table["method"].tolist() == ["supernet", "lowest_loss", "oracle", "random"]
    assert table.loc[1, "arch_id"] == 1


def test_register_rejects_taken_names(registry):
    for name in ["supernet", "oracle", "random"]:
        with pytest.raises(ValueError, match="already taken"):
            register_selector(name)(lambda scores: 0)


def test_selector_picking_outside_the_pool_is_an_error(registry):
    register_selector("broken")(lambda scores: 99)
    with pytest.raises(UserError, match="'broken' picked arch_id 99"):
        selection_table("v", scores_frame([0, 1], [0.5, 0.6], [1.0, 1.0]), truth_frame([0, 1], [90.0, 91.0]))


def test_column_dtypes():
    table = selection_table("v", scores_frame([0, 1], [0.5, 0.6], [1.0, 1.0]), truth_frame([0, 1], [90.0, 91.0]))
    assert list(table.columns) == ["variant", "method", "arch_id", "arch", "accuracy", "percentile", "regret"]
    assert pd.api.types.is_string_dtype(table["variant"]) and pd.api.types.is_string_dtype(table["method"])
    assert table["arch_id"].dtype == "Int64"
    assert table["arch"].dtype == "string"
    assert all(table[c].dtype == "float64" for c in ["accuracy", "percentile", "regret"])


def test_mismatched_pools_list_ids_and_counts():
    scores = scores_frame(list(range(10)) + list(range(100, 107)), [0.5] * 17, [1.0] * 17)
    truth = truth_frame(list(range(12)), [90.0] * 12)
    with pytest.raises(UserError) as err:
        selection_table("v", scores, truth)
    message = str(err.value)
    assert "7 arch_id(s) only in scores (first: 100, 101, 102, 103, 104, ...)" in message
    assert "2 arch_id(s) only in truth (first: 10, 11)" in message


@pytest.mark.parametrize("scores, truth, match", [
    (pd.DataFrame({"arch_id": [0], "accuracy": [0.5]}), truth_frame([0], [90.0]), "scores: missing column.*loss"),
    (scores_frame([0], [0.5], [1.0]), pd.DataFrame({"arch_id": [0], "accuracy": [90.0]}), "truth: missing column.*arch"),
    (scores_frame([0, 0], [0.5, 0.6], [1.0, 1.0]), truth_frame([0], [90.0]), "scores: 1 duplicated arch_id"),
    (scores_frame([0, 1], [0.5, 0.6], [1.0, 1.0]), truth_frame([0, 1], [90.0, np.nan]), "NaN or inf for arch_id.*1"),
    (scores_frame([], [], []), truth_frame([], []), "at least one architecture"),
])
def test_bad_input_is_user_error(scores, truth, match):
    with pytest.raises(UserError, match=match):
        selection_table("v", scores, truth)
