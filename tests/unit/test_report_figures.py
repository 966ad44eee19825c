"""nas.report.figures: what the figures compute beside drawing (the operation bias, the scatter's edge
for dead cells). The figures themselves are drawn, and their bytes compared, in test_report_page.py."""

from __future__ import annotations

import pandas as pd
import pytest

from nas.report.figures.bias import operation_bias
from nas.report.figures.overview import dead_edge
from nas.report.tables import split_run


def test_operation_bias_compares_each_operation_under_both_rankings():
    archs = pd.DataFrame({"arch_id": [0, 1, 2, 3], "arch": ["a-b", "a-a", "b-b", "b-a"]})
    truth = pd.DataFrame({"arch_id": [0, 1, 2, 3], "accuracy": [4.0, 3.0, 2.0, 1.0]})
    # the super-net ranks in reverse: it favours what stand-alone training ranks last
    scores = {f"v/seed-{s}": pd.DataFrame({"arch_id": [0, 1, 2, 3], "accuracy": [1.0, 2.0, 3.0, 4.0]}) for s in (0, 1)}
    bias = operation_bias(archs, truth, scores, lambda a: a.split("-")).set_index(["operation", "source"])
    assert bias.loc[("a", "stand-alone"), "percentile"] == pytest.approx(100 * (3 + 2 + 0) / 3 / 3)
    assert bias.loc[("a", "v"), "percentile"] == pytest.approx(100 * (0 + 1 + 3) / 3 / 3)
    assert split_run("k1/seed-12") == ("k1", "12") and split_run("standalone") == ("standalone", "")


def test_a_dead_cell_moves_the_scatter_edge_not_the_rest():
    assert dead_edge(pd.Series([9.5] + [80 + i * 0.3 for i in range(60)])) == pytest.approx(79.5)
    assert dead_edge(pd.Series([80 + i * 0.3 for i in range(60)])) is None
