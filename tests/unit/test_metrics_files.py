"""nas.metrics_files: the JSON metrics files of the data stages, one shape for all ({group: {name:
number | [low, high] | null}}), written without the report or matplotlib."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd

from helpers import REPO
from nas.metrics_files import (correlation_json, heuristics_json, interval_entries, json_number, metric_name,
                               metrics_json, run_label, selection_json, stability_json)


def test_numbers_are_finite_and_rounded_or_null():
    assert json_number(0.12345678) == 0.123457 and json_number(3) == 3.0
    for missing in (None, math.nan, pd.NA, math.inf, -math.inf):
        assert json_number(missing) is None
    out = metrics_json([("a", "x", 1.5), (7, "y", [0.1, math.nan]), ("a", "z", None)])
    assert out == {"a": {"x": 1.5, "z": None}, "7": {"y": [0.1, None]}}
    json.dumps(out, allow_nan=False)  # valid JSON: no NaN


def test_interval_entries_name_the_interval_by_its_kind():
    assert list(interval_entries("v", "tau", 0.5, 0.4, 0.6, "t")) == [("v", "tau", 0.5), ("v", "tau_ci", [0.4, 0.6])]
    assert list(interval_entries("v", "tau", 0.5, 0.4, 0.6, "range")) == [("v", "tau", 0.5),
                                                                           ("v", "tau_range", [0.4, 0.6])]
    assert list(interval_entries("v", "tau", 0.5, math.nan, math.nan, "none")) == [("v", "tau", 0.5)]


def test_run_labels_and_metric_names():
    assert run_label("baseline", 3) == "baseline/seed-3" and run_label("standalone", pd.NA) == "standalone"
    assert metric_name("precision_at_k", 5) == "precision_at_k@5" and metric_name("kendall_tau", pd.NA) == "kendall_tau"


def test_correlation_and_selection_files_are_keyed_by_run():
    correlation = pd.DataFrame({"variant": ["baseline", "baseline", "standalone"], "seed": [0, 0, pd.NA],
                                "metric": ["kendall_tau", "precision_at_k", "seed_to_seed_kendall_tau"],
                                "k": [pd.NA, 5, pd.NA], "value": [0.61234567, 0.4, 0.9],
                                "ci_low": [0.5, math.nan, 0.85], "ci_high": [0.7, math.nan, 0.95]}
                               ).astype({"seed": "Int64", "k": "Int64"})
    assert correlation_json(correlation) == {
        "baseline/seed-0": {"kendall_tau": 0.612346, "kendall_tau_ci": [0.5, 0.7], "precision_at_k@5": 0.4,
                            "precision_at_k@5_ci": [None, None]},
        "standalone": {"seed_to_seed_kendall_tau": 0.9, "seed_to_seed_kendall_tau_ci": [0.85, 0.95]}}
    selection = pd.DataFrame({"variant": ["baseline"], "seed": [1], "method": ["supernet"], "accuracy": [91.5],
                              "percentile": [80.0], "regret": [1.25]})
    assert selection_json(selection) == {"baseline/seed-1": {"supernet_accuracy": 91.5, "supernet_percentile": 80.0,
                                                             "supernet_regret": 1.25}}


def test_heuristics_and_stability_files_are_keyed_by_variant():
    heuristics = pd.DataFrame({"variant": ["baseline", "a"], "metric": ["kendall_tau", "precision_at_k"], "k": [pd.NA, 3],
                               "mean": [0.6, 0.5], "ci_low": [0.5, 0.4], "ci_high": [0.7, 0.6],
                               "interval": ["t", "range"]}).astype({"k": "Int64"})
    assert heuristics_json(heuristics) == {"baseline": {"kendall_tau": 0.6, "kendall_tau_ci": [0.5, 0.7]},
                                           "a": {"precision_at_k@3": 0.5, "precision_at_k@3_range": [0.4, 0.6]}}
    stability = pd.DataFrame({"variant": ["v", "v", "v"], "seed": [-1, -1, 0],
                              "series": ["summary", "interference", "epoch"],
                              "statistic": ["seed_tau", "change", "tau_to_final"], "point": [0, 2, 3],
                              "value": [0.4, -0.01, 0.9], "ci_low": [0.3, -0.02, math.nan],
                              "ci_high": [0.5, 0.0, math.nan], "interval": ["range", "t", "none"]})
    assert stability_json(stability) == {"v": {"seed_tau": 0.4, "seed_tau_range": [0.3, 0.5], "interference@2": -0.01,
                                               "interference@2_ci": [-0.02, 0.0]}}


def test_the_data_side_loads_neither_the_report_nor_matplotlib():
    code = ("import sys, nas.metrics_files; "
            "print(sorted(m for m in sys.modules if m.startswith(('nas.report', 'matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert out.strip() == "[]"


def test_the_headline_holds_a_handful_of_numbers_per_variant():
    import pandas as pd

    from nas import metrics_files

    heuristics = pd.DataFrame([{"variant": v, "metric": m, "k": pd.NA, "mean": x}
                               for v, m, x in (("baseline", "kendall_tau", 0.3), ("baseline", "regret", 4.0),
                                               ("baseline", "spearman", 0.5), ("uniform", "kendall_tau", 0.2))])
    correlation = pd.DataFrame([{"variant": "standalone", "metric": "seed_to_seed_kendall_tau", "value": 0.48},
                                {"variant": "standalone", "metric": "perfect_ranker_kendall_tau", "value": 0.71},
                                {"variant": "baseline", "metric": "kendall_tau", "value": 0.1}])
    assert metrics_files.headline_json(heuristics, correlation) == {
        "standalone": {"seed_to_seed_kendall_tau": 0.48, "perfect_ranker_kendall_tau": 0.71},
        "baseline": {"kendall_tau": 0.3, "regret": 4.0}, "uniform": {"kendall_tau": 0.2}}
