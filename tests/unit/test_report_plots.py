"""nas.report.plots: the CSV frames `dvc plots` draws are sorted whatever the input order, and the
offline `dvc plots show` page."""

from __future__ import annotations

import numpy as np
import pytest

from unit.report_inputs import EPOCHS, make_inputs

from nas.report import plots
from nas.report.plots import CURVE_COLUMNS, curves_frame, scatter_frame


@pytest.fixture
def inputs():
    return make_inputs()


def test_frames_sorted_whatever_the_dict_order(inputs):
    scores = dict(reversed(list(inputs["scores"].items())))
    shuffled = {v: s.sample(frac=1, random_state=1) for v, s in scores.items()}
    df = scatter_frame(inputs["truth"], shuffled)
    assert list(df["variant"].unique()) == ["baseline", "fairnas"]
    assert (df.groupby("variant")["arch_id"].apply(lambda a: list(a) == sorted(a))).all()
    merged = df[df.variant == "baseline"].set_index("arch_id")
    assert np.allclose(merged["supernet_accuracy"], inputs["scores"]["baseline"].set_index("arch_id")["accuracy"])
    assert np.allclose(merged["standalone_accuracy"], inputs["truth"].set_index("arch_id")["accuracy"])
    hist = {v: h.iloc[::-1] for v, h in reversed(list(inputs["histories"].items()))}
    c = curves_frame(hist)
    assert list(c.columns) == CURVE_COLUMNS and list(c["epoch"][:EPOCHS]) == list(range(EPOCHS))


def test_plots_page_is_offline_and_keeps_dvcs_placeholder():
    page = plots.plots_page()
    assert page.count("{plot_divs}") == 1 and "{scripts}" not in page  # DVC's CDN script tags stay out
    assert "window.vegaEmbed" in page and "<script src=" not in page and "cdn." not in page
