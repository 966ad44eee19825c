"""Ranking-agreement statistics: hand-computed values, tie handling, bootstrap and the long table."""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas import metrics
from nas.io import UserError
from nas.metrics import (bootstrap_ci, correlation_table, kendall_tau, pearson, percentiles, precision_at_k,
                         seed_to_seed_ci, seed_to_seed_tau, sparse_kendall_tau, spearman, topk_percentile,
                         truth_bins)


def correlated(n: int, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(90, 95, n)
    return truth, truth + rng.normal(0, noise, n)


# --- correlations ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [kendall_tau, spearman, pearson])
def test_perfect_and_reversed_agreement(fn):
    truth = np.array([91.0, 92.5, 93.0, 94.2, 95.1])
    score = 0.01 * truth - 0.3  # linear, so Pearson agrees perfectly too
    assert fn(truth, score) == pytest.approx(1.0)
    assert fn(truth, -score) == pytest.approx(-1.0)


def test_one_swap_hand_values():
    # 6 pairs, 1 discordant: tau = (5 - 1) / 6. Rank differences (0, 1, -1, 0): rho = 1 - 6*2/(4*15).
    # Centred values (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): r = 4 / 5.
    truth, score = [1, 2, 3, 4], [1, 3, 2, 4]
    assert kendall_tau(truth, score) == pytest.approx(2 / 3)
    assert spearman(truth, score) == pytest.approx(0.8)
    assert pearson(truth, score) == pytest.approx(0.8)


def test_pearson_sees_values_rank_statistics_do_not():
    # Monotone but not linear: ranks agree perfectly; r = 9 / sqrt(2 * 438/9) by hand.
    truth, score = [1, 2, 3], [1, 2, 10]
    assert kendall_tau(truth, score) == pytest.approx(1.0)
    assert spearman(truth, score) == pytest.approx(1.0)
    assert pearson(truth, score) == pytest.approx(9 / math.sqrt(2 * 438 / 9))


def test_correlations_equal_scipy_under_ties():
    """The statistics are computed in numpy (for whole stacks of bootstrap resamples); scipy is the
    reference definition, ties included."""
    from scipy import stats
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth, score = np.round(rng.uniform(90, 95, 15)), np.round(rng.normal(0, 1, 15), 1)
        assert kendall_tau(truth, score) == stats.kendalltau(truth, score).statistic  # to the last bit
        assert spearman(truth, score) == pytest.approx(stats.spearmanr(truth, score).statistic, abs=1e-12)
        assert pearson(truth, score) == pytest.approx(stats.pearsonr(truth, score).statistic, abs=1e-12)


def test_kendall_is_tau_b_under_ties():
    # One tied pair in truth, 5 concordant pairs: tau-b = 5 / sqrt((6 - 1) * (6 - 0)).
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))


def test_accepts_lists_arrays_and_series_positionally():
    truth, score = [1.0, 2, 3, 4], [1.0, 3, 2, 4]
    # Series are read by position, not aligned on their index.
    series = pd.Series(score, index=[3, 2, 1, 0])
    assert kendall_tau(np.array(truth), series) == kendall_tau(truth, score)


@pytest.mark.parametrize("fn", [kendall_tau, spearman, pearson])
def test_constant_input_is_nan_without_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(fn([93.0, 93.0, 93.0], [1, 2, 3]))
        assert math.isnan(fn([91.0, 92.0, 93.0], [5, 5, 5]))


@pytest.mark.parametrize("truth, score, match", [
    ([1, 2, 3], [1, 2], "differ in length"),
    ([1], [1], "at least 2"),
    ([1, np.nan, 3], [1, 2, 3], "NaN"),
    ([1, 2, 3], [1, np.inf, 3], "NaN or inf"),
])
def test_bad_input_is_user_error(truth, score, match):
    with pytest.raises(UserError, match=match):
        kendall_tau(truth, score)


# --- sparse Kendall tau ------------------------------------------------------------------------------

def test_bins_guard_against_float_error():
    # 93.3 / 0.1 = 932.999... in floating point; without the epsilon it would land in bin 932.
    assert truth_bins([93.3, 0.3, 0.7, 93.39], 0.1).tolist() == [933, 3, 7, 933]


def test_sparse_tau_with_tiny_threshold_equals_tau_on_untied_data():
    truth, score = correlated(40)
    assert sparse_kendall_tau(truth, score, 1e-6) == pytest.approx(kendall_tau(truth, score))


def test_sparse_tau_forgives_swaps_within_a_bin():
    # The super-net swaps two pairs 0.05 pp apart. Plain: 4 concordant, 2 discordant -> 1/3.
    # Bins of 0.1 pp: (933, 933, 935, 935), 2 tied pairs, 4 concordant -> 4 / sqrt((6 - 2) * 6).
    truth, score = [93.31, 93.36, 93.52, 93.58], [2, 1, 4, 3]
    assert kendall_tau(truth, score) == pytest.approx(1 / 3)
    assert sparse_kendall_tau(truth, score, 0.1) == pytest.approx(4 / math.sqrt(24))


def test_sparse_tau_is_nan_when_all_truths_share_a_bin():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(sparse_kendall_tau([93.31, 93.32, 93.95], [1, 2, 3], 1.0))


@pytest.mark.parametrize("threshold", [0, -0.1, np.nan])
def test_sparse_tau_rejects_non_positive_threshold(threshold):
    with pytest.raises(UserError, match="threshold"):
        sparse_kendall_tau([1, 2, 3], [1, 2, 3], threshold)


# --- top-k ---------------------------------------------------------------------------------------------

def test_precision_at_k_hand_values():
    truth = [10, 20, 30, 40, 50]
    assert precision_at_k(truth, [5, 4, 3, 2, 1], 2) == 0.0
    assert precision_at_k(truth, [5, 4, 3, 2, 1], 5) == 1.0
    assert precision_at_k(truth, [1, 2, 3, 5, 4], 2) == 1.0
    assert precision_at_k(truth, [1, 2, 5, 4, 3], 2) == 0.5


def test_precision_at_k_breaks_ties_by_position():
    # Score tie between positions 1 and 2: position 1 ranks first. Truth top-2 is {0, 2}.
    truth, score = [50, 10, 40, 20], [1, 3, 3, 0]
    assert precision_at_k(truth, score, 1) == 0.0
    assert precision_at_k(truth, score, 2) == 0.5
    # Truth tie between positions 1 and 2: position 1 makes the top-2 with position 0.
    assert precision_at_k([50, 40, 40, 10], [3, 2, 1, 0], 2) == 1.0
    assert precision_at_k([50, 40, 40, 10], [3, 0, 1, 0], 2) == 0.5


def test_percentiles_use_average_ranks():
    assert percentiles([10, 20, 30, 40, 50]).tolist() == [0, 25, 50, 75, 100]
    # 20 has one strictly lower and one tie: 100 * (1 + 0.5) / 3 = 50.
    assert percentiles([10, 20, 20, 40]).tolist() == [0, 50, 50, 100]
    assert percentiles([93.0]).tolist() == [100]


def test_topk_percentile_hand_values():
    truth = [10, 20, 30, 40, 50]
    assert topk_percentile(truth, [1, 2, 3, 4, 5], 1) == 100.0
    assert topk_percentile(truth, [1, 2, 3, 4, 5], 2) == 87.5
    assert topk_percentile(truth, [5, 4, 3, 2, 1], 2) == 12.5
    assert topk_percentile(truth, [0, 0, 0, 0, 0], 5) == 50.0  # everything picked: the pool mean


def test_topk_percentile_with_ties():
    truth = [10, 20, 20, 40]  # percentiles 0, 50, 50, 100
    assert topk_percentile(truth, [0, 5, 1, 0], 1) == 50.0
    assert topk_percentile(truth, [0, 5, 1, 0], 2) == 50.0
    assert topk_percentile(truth, [9, 5, 5, 0], 2) == 25.0  # score tie: position 1 ranks before 2


def test_topk_on_a_pool_of_one():
    assert topk_percentile([93.0], [0.5], 1) == 100.0
    assert precision_at_k([93.0], [0.5], 1) == 1.0


@pytest.mark.parametrize("fn", [precision_at_k, topk_percentile])
@pytest.mark.parametrize("k", [0, 4, 1.5])
def test_topk_rejects_bad_k(fn, k):
    with pytest.raises(UserError, match="k must be an integer between 1 and n = 3"):
        fn([1, 2, 3], [1, 2, 3], k)


# --- bootstrap -----------------------------------------------------------------------------------------

def test_bootstrap_is_deterministic_for_a_seed():
    truth, score = correlated(30)
    a = bootstrap_ci(kendall_tau, truth, score, n_boot=200, seed=7)
    assert a == bootstrap_ci(kendall_tau, list(truth), pd.Series(score), n_boot=200, seed=7)
    assert a != bootstrap_ci(kendall_tau, truth, score, n_boot=200, seed=8)


@pytest.mark.parametrize("stat", [kendall_tau, spearman, pearson, partial(sparse_kendall_tau, threshold=0.1),
                                  partial(topk_percentile, k=10)])
def test_bootstrap_contains_point_estimate(stat):
    truth, score = correlated(60)
    low, high = bootstrap_ci(stat, truth, score, n_boot=300, seed=0)
    assert low < stat(truth, score) < high


def test_bootstrap_narrows_as_n_grows():
    # Width shrinks like 1/sqrt(n): 300 vs 30 architectures is a ~3x difference, far beyond noise.
    widths = []
    for n in (30, 300):
        low, high = bootstrap_ci(kendall_tau, *correlated(n, seed=n), n_boot=300, seed=0)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_level_widens_the_interval():
    truth, score = correlated(40)
    low90, high90 = bootstrap_ci(spearman, truth, score, n_boot=300, seed=0, level=0.9)
    low99, high99 = bootstrap_ci(spearman, truth, score, n_boot=300, seed=0, level=0.99)
    assert low99 <= low90 < high90 <= high99


def test_bootstrap_skips_nan_resamples():
    # Two architectures: half the resamples draw one of them twice (constant -> nan), the rest give 1.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci(kendall_tau, [1, 2], [1, 2], n_boot=200, seed=0) == (1.0, 1.0)


def test_bootstrap_all_nan_gives_nan_interval():
    low, high = bootstrap_ci(kendall_tau, [5, 5, 5], [1, 2, 3], n_boot=50, seed=0)
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize("stat", [kendall_tau, spearman, pearson, partial(sparse_kendall_tau, threshold=0.5),
                                  partial(precision_at_k, k=3), partial(topk_percentile, k=3)],
                         ids=["kendall", "spearman", "pearson", "sparse", "precision", "topk_pct"])
def test_bootstrap_rowwise_statistics_equal_the_per_resample_loop(stat):
    """The bootstrap computes the module's statistics for all resamples at once; it must give what
    calling the statistic on each resample gives, ties and constant (nan) resamples included."""
    rng = np.random.default_rng(0)
    truth = np.round(rng.uniform(90, 95, 12), 0)  # heavy ties
    score = np.round(truth + rng.normal(0, 1, 12), 1)
    idx = metrics.resample_indices(len(truth), 300, seed=1)
    idx[:5] = idx[:5, :1]  # a few resamples that drew one architecture n times
    rows = metrics._rowwise(stat)
    assert rows is not None
    fast = rows(truth[idx], score[idx])
    slow = np.array([stat(truth[i], score[i]) for i in idx])
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    assert np.isnan(fast[:5]).all() or stat.func in (precision_at_k, topk_percentile)
    np.testing.assert_allclose(fast[~np.isnan(fast)], slow[~np.isnan(slow)], rtol=0, atol=1e-12)
    if stat is kendall_tau:  # the same integer counts and formula as scipy: equal to the last bit
        np.testing.assert_array_equal(fast, slow)


def test_bootstrap_of_an_unknown_statistic_calls_it_per_resample():
    calls = []

    def mean_gap(t, s):
        calls.append(1)
        return float(np.mean(t - s))

    truth, score = correlated(10)
    low, high = bootstrap_ci(mean_gap, truth, score, n_boot=40, seed=0)
    assert len(calls) == 40 and low <= high


@pytest.mark.parametrize("n_boot, level", [(0, 0.95), (10, 1.0), (10, 0.0)])
def test_bootstrap_rejects_bad_settings(n_boot, level):
    with pytest.raises(UserError):
        bootstrap_ci(kendall_tau, [1, 2, 3], [1, 2, 3], n_boot=n_boot, seed=0, level=level)


# --- correlation table ---------------------------------------------------------------------------------

def test_correlation_table_layout_and_values():
    truth, score = correlated(64)
    table = correlation_table(truth, score, topk=[10, 1, 5], threshold=0.1, n_boot=100, seed=0)
    assert list(table.columns) == ["metric", "k", "value", "ci_low", "ci_high"]
    assert table["metric"].tolist() == ["kendall_tau", "sparse_kendall_tau", "spearman", "pearson",
                                        "precision_at_k", "topk_percentile", "precision_at_k", "topk_percentile",
                                        "precision_at_k", "topk_percentile"]
    assert table["k"].tolist() == [pd.NA] * 4 + [1, 1, 5, 5, 10, 10]
    assert pd.api.types.is_string_dtype(table["metric"])
    assert table["k"].dtype == "Int64"
    assert all(table[c].dtype == "float64" for c in ["value", "ci_low", "ci_high"])
    assert table.loc[0, "value"] == kendall_tau(truth, score)
    assert table.loc[1, "value"] == sparse_kendall_tau(truth, score, 0.1)
    assert table.loc[7, "value"] == topk_percentile(truth, score, 5)
    assert table.loc[2, ["ci_low", "ci_high"]].tolist() == list(bootstrap_ci(spearman, truth, score, 100, 0))
    assert (table["ci_low"] <= table["ci_high"]).all()


def test_correlation_table_is_deterministic_for_a_seed():
    truth, score = correlated(20)
    first = correlation_table(truth, score, topk=[1, 3], threshold=0.1, n_boot=50, seed=3)
    pd.testing.assert_frame_equal(first, correlation_table(truth, score, [1, 3], 0.1, 50, 3))


def test_correlation_table_rejects_k_above_n():
    truth, score = correlated(8)
    with pytest.raises(UserError, match=r"correlate\.topk .* n = 8 .*got 10"):
        correlation_table(truth, score, topk=[1, 10], threshold=0.1, n_boot=10, seed=0)


# --- seed-to-seed ceiling ------------------------------------------------------------------------------

def test_seed_to_seed_identical_columns_is_one():
    acc = pd.DataFrame({"s0": [91.0, 92, 93, 94], "s1": [91.0, 92, 93, 94]})
    assert seed_to_seed_tau(acc) == pytest.approx(1.0)


def test_seed_to_seed_averages_all_pairs():
    # tau(a, b) = 2/3, tau(a, c) = -1, tau(b, c) = -2/3: the mean over the three pairs is -1/3.
    acc = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [1.0, 3, 2, 4], "c": [4.0, 3, 2, 1]})
    assert seed_to_seed_tau(acc) == pytest.approx(-1 / 3)


def test_seed_to_seed_needs_two_seeds():
    acc = pd.DataFrame({"s0": [91.0, 92, 93]})
    assert math.isnan(seed_to_seed_tau(acc))
    assert all(math.isnan(x) for x in seed_to_seed_ci(acc, n_boot=10, seed=0))


def test_seed_to_seed_rejects_missing_values():
    with pytest.raises(UserError, match="NaN"):
        seed_to_seed_tau(pd.DataFrame({"s0": [91.0, 92, 93], "s1": [91.0, np.nan, 93]}))


def test_seed_to_seed_ci_is_deterministic_and_contains_the_estimate():
    rng = np.random.default_rng(0)
    base = rng.uniform(90, 95, 50)
    acc = pd.DataFrame({f"s{i}": base + rng.normal(0, 0.7, 50) for i in range(3)})
    low, high = seed_to_seed_ci(acc, n_boot=200, seed=1)
    assert (low, high) == seed_to_seed_ci(acc, n_boot=200, seed=1)
    assert low < seed_to_seed_tau(acc) < high


# --- the perfect-ranker reference ---------------------------------------------------------------------

@pytest.mark.parametrize("sigma, m", [(0.5, 2), (1.0, 2), (1.0, 4), (2.0, 2)])
def test_perfect_ranker_reference_matches_a_simulation_with_known_true_ranking(sigma, m):
    # Known truth: mu per architecture; m noisy stand-alone seeds averaged into the ground truth. The
    # reference, estimated from the seeds alone, must match the tau of the true values against that
    # mean, and sit above the seed-to-seed tau (which is not a ceiling: it compares two noisy rankings).
    from nas.metrics import perfect_ranker_tau, seed_to_seed_tau
    rng = np.random.default_rng(0)
    true, est, naive = [], [], []
    for _ in range(150):
        mu = rng.normal(size=64)
        acc = mu[:, None] + sigma * rng.normal(size=(64, m))
        true.append(stats.kendalltau(mu, acc.mean(1))[0])
        seed_tau = seed_to_seed_tau(pd.DataFrame(acc))
        est.append(perfect_ranker_tau(seed_tau, m))
        naive.append(seed_tau)
    assert abs(np.mean(est) - np.mean(true)) < 0.04  # slightly low at high noise (0.03 at sigma 2)
    assert np.mean(naive) < np.mean(true) - 0.05


def test_perfect_ranker_reference_edges():
    from nas.metrics import perfect_ranker_tau
    assert perfect_ranker_tau(1.0, 2) == pytest.approx(1.0)
    assert perfect_ranker_tau(-0.2, 2) == 0.0
    assert perfect_ranker_tau(0.463, 2) == pytest.approx(0.704, abs=0.001)  # the README's old "ceiling"
    assert perfect_ranker_tau(0.4, 4) > perfect_ranker_tau(0.4, 2) > perfect_ranker_tau(0.4, 1) > 0.4
    lo, hi = perfect_ranker_tau(np.array([0.3, 0.5]), 2)
    assert lo < hi
    with pytest.raises(UserError, match="seeds must be at least 1"):
        perfect_ranker_tau(0.4, 0)


# --- tau among the best ---------------------------------------------------------------------------------

def test_top_share_tau_ranks_only_the_best_by_truth():
    # Over all 200 the score agrees perfectly with the truth but for the best 20, where it is reversed:
    # the whole-pool tau is high, the top-10% tau is -1.
    truth = np.arange(200, dtype=float)
    score = truth.copy()
    score[180:] = score[180:][::-1]
    assert kendall_tau(truth, score) > 0.9
    assert metrics.top_share_tau(truth, score, 10) == pytest.approx(-1.0)
    assert metrics.top_share_tau(truth, score, 50) > 0.8


def test_correlation_table_adds_top_shares_only_where_they_hold_enough_architectures():
    small = correlation_table(*correlated(64), topk=[1], threshold=0.1, n_boot=20, seed=0)
    assert "top_share_tau" not in set(small["metric"])  # top 10% of 64 is 6 architectures: not reported
    truth, score = correlated(1000)
    table = correlation_table(truth, score, topk=[1], threshold=0.1, n_boot=20, seed=0)
    top = table[table["metric"] == "top_share_tau"]
    assert top["k"].tolist() == [10, 1]  # 100 and 10 architectures
    assert top["value"].iloc[0] == metrics.top_share_tau(truth, score, 10)
    assert (top["ci_low"] <= top["value"]).all() and (top["value"] <= top["ci_high"]).all()
    assert "top_share_tau" not in set(correlation_table(*correlated(999), topk=[1], threshold=0.1, n_boot=20,
                                                        seed=0).query("k == 1")["metric"])


def test_seed_to_seed_row_leaves_out_architectures_missing_a_seed():
    rng = np.random.default_rng(0)
    rows = [{"arch_id": a, "seed": s, "test_accuracy": a + rng.normal()} for a in range(30) for s in (777, 888)]
    rows += [{"arch_id": a, "seed": 999, "test_accuracy": a + rng.normal()} for a in range(20)]  # 10 lack seed 999
    table = metrics.seed_to_seed_row(pd.DataFrame(rows), "test", 50, 0)
    full = pd.DataFrame(rows).pivot(index="arch_id", columns="seed", values="test_accuracy").dropna()
    assert table["value"].iloc[0] == metrics.seed_to_seed_tau(full)


def test_paired_difference_bootstraps_both_rankings_on_the_same_resamples():
    from nas import metrics as M

    rng = np.random.default_rng(3)
    truth = rng.normal(90, 2, 40)
    a, b = truth + rng.normal(0, 1, 40), truth + rng.normal(0, 3, 40)
    value, low, high = M.paired_difference(M.kendall_tau, truth, a, b, 200, 5)
    assert value == pytest.approx(M.kendall_tau(truth, a) - M.kendall_tau(truth, b))
    idx = M.resample_indices(40, 200, 5)  # the same draws for both rankings, as a loop would take them
    loop = np.array([M.kendall_tau(truth[i], a[i]) - M.kendall_tau(truth[i], b[i]) for i in idx])
    assert (low, high) == pytest.approx(M.percentile_interval(loop, 0.95))
    assert low <= value <= high and low > 0  # the less noisy ranking is the better one, and shown to be
    assert M.paired_difference(M.kendall_tau, truth, a, a, 50, 0) == (0.0, 0.0, 0.0)
