"""nas.stability: ranking stability over training points and over seeds, on hand-made tables."""

from __future__ import annotations

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
