"""nas.report.text: the tables the stages print, without matplotlib (the stages that only write tables
need not import it). The heuristics table's text is tested in test_heuristics.py, `nas summary` in
tests/e2e."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from helpers import REPO
from nas.report.text import selection_detail_text, selection_summary_text, stability_text


def test_empty_tables_say_so():
    assert selection_summary_text(pd.DataFrame(columns=["variant", "method", "metric", "runs", "mean", "ci_low",
                                                        "ci_high", "interval"])) == "no selection results"
    assert stability_text(pd.DataFrame(columns=["variant", "seed", "series", "statistic", "point", "value", "ci_low",
                                                "ci_high", "interval"])) == "no runs"


def test_the_selection_summary_labels_its_columns():
    summary = pd.DataFrame({"variant": ["v", "v"], "method": ["supernet", "supernet"], "metric": ["accuracy", "regret"],
                            "runs": [3, 3], "mean": [91.0, 1.5], "ci_low": [90.0, 0.5], "ci_high": [92.0, 2.5],
                            "interval": ["t", "t"]})
    text = selection_summary_text(summary)
    assert "stand-alone accuracy (%)" in text and "91.00 [90.00, 92.00]" in text and "1.50 [0.50, 2.50]" in text


def test_the_selection_detail_puts_each_seeds_pick_beside_the_mean():
    summary = pd.DataFrame({"variant": ["v", "v", "w"], "method": ["supernet", "perturbation", "supernet"],
                            "metric": ["accuracy"] * 3, "runs": [2, 2, 1], "mean": [91.0, 88.0, 80.0],
                            "ci_low": [90.0, 86.0, None], "ci_high": [92.0, 90.0, None], "interval": ["range", "range", "none"]})
    selection = pd.DataFrame({"variant": ["v", "v", "v", "v", "w"], "seed": [1, 0, 1, 0, 0],
                              "method": ["supernet", "supernet", "perturbation", "perturbation", "supernet"],
                              "accuracy": [92.0, 90.0, 86.0, 90.0, 80.0]})
    lines = selection_detail_text(summary, selection).splitlines()
    assert lines[0].split()[-1] == "seeds"
    assert lines[1].endswith("90.00, 92.00") and "supernet" in lines[1]  # seed 0 first
    assert lines[2].endswith("90.00, 86.00") and "perturbation" in lines[2]
    assert lines[3].endswith("80.00") and lines[3].split()[0] == "w"


def test_the_terminal_tables_load_no_matplotlib():
    code = "import sys, nas.report.text; print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert out.strip() == "[]"
