"""nas.power: the detectable difference against a simulation with a known effect, seeds needed, Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from helpers import one_line_error
from nas import power


@pytest.mark.parametrize("n, sd", [(3, 0.05), (5, 0.05), (10, 1.0)])
def test_the_detectable_difference_is_found_80_percent_of_the_time_in_simulation(n, sd):
    """Simulated studies of n paired seeds whose differences have mean `mde` and sd `sd`: the paired
    t-test rejects at 0.05 in about 80 % of them; at half the difference, clearly less often."""
    mde = power.detectable_difference(sd, n)
    rng = np.random.default_rng(0)
    trials = 20_000
    for effect, lo, hi in ((mde, 0.78, 0.82), (mde / 2, 0.0, 0.5)):
        d = rng.normal(effect, sd, size=(trials, n))
        t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
        p = 2 * stats.t.sf(np.abs(t), n - 1)
        assert lo <= float(np.mean(p < 0.05)) <= hi, (effect, float(np.mean(p < 0.05)))
    assert power.paired_power(mde, sd, n) == pytest.approx(0.8, abs=1e-8)


def test_the_detectable_difference_scales_with_sd_and_shrinks_with_seeds():
    assert power.detectable_difference(0.2, 5) == pytest.approx(2 * power.detectable_difference(0.1, 5))
    widths = [power.detectable_difference(0.1, n) for n in (2, 3, 5, 10, 30)]
    assert widths == sorted(widths, reverse=True)
    # large n: the normal approximation (z_{0.975} + z_{0.8}) * sd / sqrt(n)
    assert power.detectable_difference(1.0, 400) == pytest.approx((1.959964 + 0.841621) / 20, rel=0.01)
    assert math.isnan(power.detectable_difference(0.1, 1)) and math.isnan(power.detectable_difference(math.nan, 5))
    assert power.detectable_difference(0.0, 3) == 0.0


def test_seeds_needed_is_the_first_count_whose_power_reaches_the_target():
    n = power.seeds_needed(0.1, 0.1)
    assert power.paired_power(0.1, 0.1, n) >= 0.8 > power.paired_power(0.1, 0.1, n - 1)
    assert power.detectable_difference(0.1, n) <= 0.1 < power.detectable_difference(0.1, n - 1)
    assert power.seeds_needed(-0.1, 0.1) == n  # two-sided
    assert power.seeds_needed(0.5, 0.0) == 2


def test_holm_adjusts_one_family_and_ignores_nan():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    # m = 4: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, max(0.09, 0.08) = 0.09, max(0.09, 0.5) = 0.5
    assert power.holm(p) == pytest.approx([0.04, 0.09, np.nan, 0.09, 0.5], nan_ok=True)
    assert power.holm([0.3, 0.6]).tolist() == [0.6, 0.6]
    assert power.holm([]).size == 0 and np.isnan(power.holm([np.nan])).all()


@pytest.mark.parametrize("call, message", [
    (lambda: power.detectable_difference(0.1, 5, alpha=0), "alpha: 0 is not allowed"),
    (lambda: power.detectable_difference(0.1, 5, power=1.2), "power: 1.2 is not allowed"),
    (lambda: power.seeds_needed(0, 0.1), "difference: 0 is not allowed"),
    (lambda: power.seeds_needed(0.1, -1), "sd: -1 is not allowed"),
    (lambda: power.seeds_needed(1e-6, 1.0), "difference: 1e-06 needs more than 10,000 seeds"),
])
def test_bad_power_questions_are_one_line(call, message):
    assert one_line_error(call).startswith(message)


def _study_with_heuristics(tmp_path, monkeypatch):
    import pandas as pd

    from nas import heuristics as H
    from nas import io
    from nas import layout as L

    rng = np.random.default_rng(1)
    base = rng.normal(0.3, 0.03, 5)
    taus = {"baseline": base, "lr": base + 0.05 + rng.normal(0, 0.03, 5), "bn": base + rng.normal(0, 0.06, 5)}
    corr = pd.DataFrame([{"variant": v, "seed": s, "metric": "kendall_tau", "k": np.nan, "value": t}
                         for v, ts in taus.items() for s, t in enumerate(ts)])
    empty = {"selection": ["variant", "seed", "method", "accuracy", "regret"], "costs": ["variant", "seed", "passes",
                                                                                          "seconds"]}
    table = H.heuristics_table(corr, pd.DataFrame(columns=empty["selection"]), pd.DataFrame(columns=empty["costs"]),
                               list(taus))
    monkeypatch.chdir(tmp_path)
    io.write_parquet(table, L.HEURISTICS)
    return table


def test_nas_power_reads_the_study_and_says_the_seeds_each_variant_needs(tmp_path, monkeypatch, capsys):
    from nas import cli

    table = _study_with_heuristics(tmp_path, monkeypatch)
    assert cli.main(["power", "--diff", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = power.seeds_table(table, "kendall_tau", 0.05)
    assert rows["variant"].tolist() == ["lr", "bn"] and (rows["seeds"] == 5).all()
    for row in rows.itertuples():
        # the sd recovered from `detectable` is the paired differences' own
        assert power.detectable_difference(row.sd_of_differences, 5) == pytest.approx(row.detectable)
        assert power.detectable_difference(row.sd_of_differences, row.seeds_needed) <= 0.05
        assert f"{row.seeds_needed}" in out
    assert rows.set_index("variant").loc["bn", "seeds_needed"] > rows.set_index("variant").loc["lr", "seeds_needed"]
    assert "seeds_needed: super-net seeds per variant" in out
    assert cli.main(["power", "--diff", "0.1", "--sd", "0.1"]) == 0
    assert capsys.readouterr().out.startswith(f"{power.seeds_needed(0.1, 0.1)} seeds per variant detect")


@pytest.mark.parametrize("argv, message", [
    (["power", "--diff", "0"], "nas power: error: --diff: 0 is not allowed; expected a non-zero difference"),
    (["power", "--diff", "nan"], "nas power: error: --diff: nan is not allowed"),
    (["power", "--diff", "0.1", "--sd", "-1"], "nas power: error: --sd: -1 is not allowed"),
    (["power", "--diff", "0.1", "--metric", "nope"], "nas power: error: --metric 'nope': no comparison"),
    (["power", "--diff", "0.1", "--sd", "0.1", "--power", "2"], "nas power: error: --power: 2 is not allowed"),
])
def test_nas_power_bad_questions_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    from nas import cli

    _study_with_heuristics(tmp_path, monkeypatch)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_nas_power_without_a_study_says_what_to_run(tmp_path, monkeypatch, capsys):
    from nas import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["power", "--diff", "0.1"]) == 2
    assert "heuristics.parquet: file not found (run the study first" in capsys.readouterr().err
