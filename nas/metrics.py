"""How well a super-net ranking agrees with the stand-alone ranking.

`truth` is each architecture's stand-alone accuracy (percent, 0-100) and `score` its super-net score
(higher = better). The correlations and the top-k statistics follow Yu et al., "How to train your
super-net" (2020/2021); every statistic comes with a percentile bootstrap interval over architectures.

Undefined values are nan, never an exception: a correlation with a constant input (e.g. every truth
in one sparse-tau bin, or a bootstrap resample that drew one architecture n times) is nan, and
bootstrap intervals skip such resamples. Inputs that are simply wrong (length mismatch, fewer than
two architectures, NaN or inf values) raise `UserError`.
"""

from __future__ import annotations

from functools import partial
from itertools import combinations
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from nas.io import UserError

ArrayLike = Sequence[float] | np.ndarray | pd.Series
Statistic = Callable[[np.ndarray, np.ndarray], float]

# floor(truth / threshold) must put 93.3 in bin 933 at threshold 0.1, but 93.3 / 0.1 = 932.999...
BIN_EPS = 1e-9


def _vector(values: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise UserError(f"{name} contains NaN or inf at position(s) {np.flatnonzero(~np.isfinite(x))[:5].tolist()}")
    return x


def _pair(truth: ArrayLike, score: ArrayLike, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    t, s = _vector(truth, "truth"), _vector(score, "score")
    if len(t) != len(s):
        raise UserError(f"truth and score differ in length ({len(t)} vs {len(s)} architectures)")
    if len(t) < min_n:
        raise UserError(f"need at least {min_n} architectures, got {len(t)}")
    return t, s


# Each statistic is written once, for a stack of rankings: (rows, n) arrays in, one value per row out.
# A bootstrap evaluates it on all its resamples in one call; the public functions below are the same
# code on one row. A constant ranking (a resample that drew one architecture n times, say) has no
# order to agree with and gives nan, without a warning.

def _chunks(rows: int, n: int, budget: int = 2_000_000):
    """Row slices small enough that a (rows, n, n) pair matrix stays within `budget` entries."""
    step = max(1, budget // max(1, n * n))
    return (slice(i, min(i + step, rows)) for i in range(0, rows, step))


def _kendall_rows(T: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Kendall's tau-b per row, from scipy's integer pair counts and its formula (equal to
    scipy.stats.kendalltau to the last bit): (concordant - discordant) / sqrt(untied in T) / sqrt(untied in S)."""
    out = np.empty(len(T))
    for part in _chunks(*T.shape):
        dt = np.sign(T[part, :, None] - T[part, None, :]).astype(np.int64)
        ds = np.sign(S[part, :, None] - S[part, None, :]).astype(np.int64)
        # every pair appears twice in the full matrices; halve to the pair counts (exact integers)
        con_minus_dis = (dt * ds).sum(axis=(1, 2)) // 2
        untied_t, untied_s = (dt * dt).sum(axis=(1, 2)) // 2, (ds * ds).sum(axis=(1, 2)) // 2
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = con_minus_dis / np.sqrt(untied_t) / np.sqrt(untied_s)
        out[part] = np.where((untied_t > 0) & (untied_s > 0), np.clip(tau, -1.0, 1.0), np.nan)
    return out


def _pearson_rows(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    xm, ym = X - X.mean(axis=1, keepdims=True), Y - Y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (xm * ym).sum(axis=1) / np.sqrt((xm * xm).sum(axis=1) * (ym * ym).sum(axis=1))
    constant = (X.min(axis=1) == X.max(axis=1)) | (Y.min(axis=1) == Y.max(axis=1))
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def _spearman_rows(T: np.ndarray, S: np.ndarray) -> np.ndarray:
    from scipy import stats  # here, not at the top: most commands that import this module never rank

    return _pearson_rows(stats.rankdata(T, axis=1), stats.rankdata(S, axis=1))


def _sparse_kendall_rows(T: np.ndarray, S: np.ndarray, threshold: float) -> np.ndarray:
    return _kendall_rows(truth_bins(T, threshold), S)


def _top_k_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, True at the k largest values; ties to the lower index, as `top_k`."""
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, np.argsort(-values, axis=1, kind="stable")[:, :k], True, axis=1)
    return mask


def _precision_rows(T: np.ndarray, S: np.ndarray, k: int) -> np.ndarray:
    return (_top_k_mask(S, k) & _top_k_mask(T, k)).sum(axis=1) / k


def _percentile_rows(X: np.ndarray) -> np.ndarray:
    from scipy import stats

    n = X.shape[1]
    return np.full(X.shape, 100.0) if n == 1 else 100 * (stats.rankdata(X, axis=1) - 1) / (n - 1)


def _topk_percentile_rows(T: np.ndarray, S: np.ndarray, k: int) -> np.ndarray:
    return np.where(_top_k_mask(S, k), _percentile_rows(T), 0.0).sum(axis=1) / k


def _one(rows: Callable[..., np.ndarray], t: np.ndarray, s: np.ndarray, **kwargs) -> float:
    return float(rows(t[None], s[None], **kwargs)[0])


def kendall_tau(truth: ArrayLike, score: ArrayLike) -> float:
    """Kendall's tau-b (scipy's default variant, which corrects for ties)."""
    return _one(_kendall_rows, *_pair(truth, score))


# Tau among the best architectures by ground truth: selection only looks there, and a ranking can be
# good over the whole space (telling bad cells from good ones) and poor among the good ones. A share is
# reported only when it holds at least TOP_MIN architectures (top 10 % from 100, top 1 % from 1,000):
# a tau over fewer is mostly noise.
TOP_SHARES = (10, 1)  # percent of the pool, best by ground truth
TOP_MIN = 10


def top_share_size(n: int, percent: int) -> int:
    """How many architectures the best `percent` % of `n` are (rounded down)."""
    return n * percent // 100


def top_share_tau(truth: ArrayLike, score: ArrayLike, percent: int) -> float:
    """Kendall tau-b among the best `percent` % of the architectures by ground truth (ties broken by
    position, lower index first)."""
    t, s = _pair(truth, score)
    m = top_share_size(len(t), percent)
    if m < 2:
        raise UserError(f"the top {percent}% of {len(t)} architectures is fewer than 2")
    best = np.argsort(-t, kind="stable")[:m]
    return kendall_tau(t[best], s[best])


def truth_bins(truth: ArrayLike, threshold: float) -> np.ndarray:
    """floor(truth / threshold): architectures in the same threshold-wide accuracy bin share a value."""
    if not (np.isfinite(threshold) and threshold > 0):
        raise UserError(f"sparse Kendall tau threshold must be a positive number, got {threshold}")
    return np.floor(np.asarray(truth, dtype=float) / threshold + BIN_EPS)


def sparse_kendall_tau(truth: ArrayLike, score: ArrayLike, threshold: float) -> float:
    """Sparse Kendall tau: Kendall's tau-b between floor(truth / threshold) and score.

    This project's definition: truth is in percent and threshold in percentage points (e.g. 0.1), so
    architectures whose stand-alone accuracies fall in the same threshold-wide bin are tied, and the
    super-net is not charged for ordering differences smaller than the bin width. The floor is taken
    of truth / threshold + 1e-9 to guard against float error (93.3 / 0.1 = 932.999...).

    If every truth falls in one bin the binned ranking is constant and the result is nan.

    Yu et al.'s code pairs positions rather than models and reads about 0.005-0.02 higher under
    heavy ties, so compare numbers across papers with care.
    """
    return _one(_sparse_kendall_rows, *_pair(truth, score), threshold=threshold)


def spearman(truth: ArrayLike, score: ArrayLike) -> float:
    """Spearman's rank correlation (ties get average ranks)."""
    return _one(_spearman_rows, *_pair(truth, score))


def pearson(truth: ArrayLike, score: ArrayLike) -> float:
    """Pearson's linear correlation of the raw values."""
    return _one(_pearson_rows, *_pair(truth, score))


def _check_k(k: int, n: int, name: str = "k") -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise UserError(f"{name} must be an integer between 1 and n = {n} (the number of architectures), got {k!r}")


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; ties go to the lower index (stable sort on (-value, index))."""
    return np.argsort(-values, kind="stable")[:k]


def precision_at_k(truth: ArrayLike, score: ArrayLike, k: int) -> float:
    """|top-k by score ∩ top-k by truth| / k; ties broken by position (lower index ranks higher)."""
    t, s = _pair(truth, score, min_n=1)
    _check_k(k, len(t))
    return _one(_precision_rows, t, s, k=k)


def percentiles(values: ArrayLike) -> np.ndarray:
    """Percentile of each value within its pool: 100 * (rank - 1) / (n - 1) with average ranks for ties.

    100 = best, 0 = worst; equivalently 100 * (#strictly lower + 0.5 * (#ties - 1)) / (n - 1).
    A pool of one is its own best (100).
    """
    return _percentile_rows(np.asarray(values, dtype=float)[None])[0]


def topk_percentile(truth: ArrayLike, score: ArrayLike, k: int) -> float:
    """Mean stand-alone percentile (100 = best) of the k architectures the super-net ranks best."""
    t, s = _pair(truth, score, min_n=1)
    _check_k(k, len(t))
    return _one(_topk_percentile_rows, t, s, k=k)


ROWWISE = {kendall_tau: _kendall_rows, sparse_kendall_tau: _sparse_kendall_rows, spearman: _spearman_rows,
           pearson: _pearson_rows, precision_at_k: _precision_rows, topk_percentile: _topk_percentile_rows}


def _rowwise(stat: Statistic) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """The row-wise form of one of this module's statistics (keyword arguments kept), else None."""
    func, keywords = stat, {}
    if isinstance(stat, partial) and not stat.args:
        func, keywords = stat.func, stat.keywords
    rows = ROWWISE.get(func)
    return partial(rows, **keywords) if rows is not None else None


def _check_bootstrap(n_boot: int, level: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise UserError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < level < 1:
        raise UserError(f"confidence level must be strictly between 0 and 1, got {level}")


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) architecture indices drawn with replacement. Depends only on (n, n_boot, seed), so
    every statistic of one table is bootstrapped over the same resamples."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the bootstrap values, ignoring nan resamples; (nan, nan) if all are nan."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def bootstrap_ci(stat: Statistic, truth: ArrayLike, score: ArrayLike, n_boot: int, seed: int,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of stat(truth, score), resampling architectures with replacement."""
    t, s = _pair(truth, score, min_n=1)
    _check_bootstrap(n_boot, level)
    idx = resample_indices(len(t), n_boot, seed)
    rows = _rowwise(stat)
    if rows is not None:
        values = rows(t[idx], s[idx])
    else:
        values = np.array([stat(ti, si) for ti, si in zip(t[idx], s[idx])], dtype=float)
    return percentile_interval(values, level)


def paired_difference(stat: Statistic, truth: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, n_boot: int,
                      seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """stat(truth, a) - stat(truth, b) and its percentile bootstrap interval, both rankings evaluated on
    the same resampled architectures (a paired bootstrap: the draw of the pool is common to both, so
    the interval is of the difference, not two overlapping intervals)."""
    t, a = _pair(truth, score_a)
    _, b = _pair(truth, score_b)
    _check_bootstrap(n_boot, level)
    idx = resample_indices(len(t), n_boot, seed)
    rows = _rowwise(stat)
    if rows is not None:
        values = rows(t[idx], a[idx]) - rows(t[idx], b[idx])
    else:
        values = np.array([stat(ti, ai) - stat(ti, bi) for ti, ai, bi in zip(t[idx], a[idx], b[idx])], dtype=float)
    return (stat(t, a) - stat(t, b), *percentile_interval(values, level))


def correlation_table(truth: ArrayLike, score: ArrayLike, topk: list[int], threshold: float,
                      n_boot: int, seed: int) -> pd.DataFrame:
    """Every agreement statistic with its 95% bootstrap interval, one row per statistic.

    Columns: metric, k (<NA> for the correlations), value, ci_low, ci_high. Rows: kendall_tau,
    sparse_kendall_tau, spearman, pearson, then precision_at_k and topk_percentile for each k
    ascending, then top_share_tau (k: the percent) for each of TOP_SHARES whose share holds at least
    TOP_MIN architectures.
    """
    t, s = _pair(truth, score)
    n = len(t)
    for k in topk:
        _check_k(k, n, name="correlate.topk")
    truth_bins(t, threshold)  # fail on a bad threshold before the bootstrap, not inside it
    _check_bootstrap(n_boot, 0.95)

    rows: list[tuple[str, int | None, Statistic]] = [
        ("kendall_tau", None, kendall_tau),
        ("sparse_kendall_tau", None, partial(sparse_kendall_tau, threshold=threshold)),
        ("spearman", None, spearman),
        ("pearson", None, pearson),
    ]
    for k in sorted(set(int(k) for k in topk)):
        rows.append(("precision_at_k", k, partial(precision_at_k, k=k)))
        rows.append(("topk_percentile", k, partial(topk_percentile, k=k)))
    for percent in TOP_SHARES:
        if top_share_size(n, percent) >= TOP_MIN:
            rows.append(("top_share_tau", percent, partial(top_share_tau, percent=percent)))

    values = [stat(t, s) for _, _, stat in rows]
    cis = [bootstrap_ci(stat, t, s, n_boot, seed) for _, _, stat in rows]
    return pd.DataFrame({
        "metric": pd.Series([name for name, _, _ in rows], dtype="str"),
        "k": pd.array([k for _, k, _ in rows], dtype="Int64"),
        "value": np.array(values, dtype="float64"),
        "ci_low": np.array([lo for lo, _ in cis], dtype="float64"),
        "ci_high": np.array([hi for _, hi in cis], dtype="float64"),
    })


def _seed_matrix(acc: pd.DataFrame) -> np.ndarray:
    values = np.asarray(acc, dtype=float)
    if values.ndim != 2:
        raise UserError(f"seed accuracies must be a table (architectures x seeds), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise UserError("seed accuracies contain NaN or inf (drop architectures with missing seeds first)")
    return values


def _mean_pairwise_tau_rows(V: np.ndarray) -> np.ndarray:
    """Mean Kendall tau over all pairs of seeds, for each (architectures x seeds) table of the stack V."""
    return np.mean([_kendall_rows(V[:, :, i], V[:, :, j]) for i, j in combinations(range(V.shape[2]), 2)], axis=0)


def seed_to_seed_tau(acc: pd.DataFrame) -> float:
    """Mean Kendall tau-b over all pairs of stand-alone seeds (columns), rows being architectures.

    Two stand-alone runs disagree with each other too, so this is the ceiling a super-net ranking can
    be expected to reach. nan with fewer than two seeds.
    """
    values = _seed_matrix(acc)
    if values.shape[1] < 2:
        return float("nan")
    return float(_mean_pairwise_tau_rows(values[None])[0])


def seed_to_seed_ci(acc: pd.DataFrame, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `seed_to_seed_tau`, resampling architectures (rows)."""
    values = _seed_matrix(acc)
    _check_bootstrap(n_boot, level)
    if values.shape[1] < 2:
        return float("nan"), float("nan")
    if values.shape[0] < 2:
        raise UserError(f"need at least 2 architectures, got {values.shape[0]}")
    idx = resample_indices(values.shape[0], n_boot, seed)
    return percentile_interval(_mean_pairwise_tau_rows(values[idx]), level)


def perfect_ranker_tau(seed_tau: float | np.ndarray, seeds: int) -> float | np.ndarray:
    """The Kendall tau a perfect ranker (one that ranks by each architecture's true expected accuracy)
    is expected to reach against a ground truth averaged over `seeds` stand-alone seeds, estimated
    from the seed-to-seed tau of single seeds.

    Model: accuracy = the architecture's true value + seed noise, the noise independent across seeds
    and architectures with one variance, and values and noise jointly normal. Then tau and Pearson's
    r are tied by tau = (2/pi) arcsin(r) (Greiner's relation), so two single seeds correlate at
    r1 = sin(pi tau / 2); the mean of m seeds has reliability R_m = m r1 / (1 + (m - 1) r1)
    (Spearman-Brown) and correlates with the true values at sqrt(R_m), so the reference is
    (2/pi) arcsin(sqrt(R_m)). It is higher than the seed-to-seed tau: a noise-free ranking agrees with
    a noisy mean more than two noisy rankings agree with each other. 0 when seed_tau <= 0; monotone in
    seed_tau, so a bootstrap interval of seed_tau maps to one of the reference.
    tests/unit/test_metrics.py checks it by simulation against the tau of the true values.
    """
    if seeds < 1:
        raise UserError(f"seeds must be at least 1, got {seeds}")
    r1 = np.sin(np.pi * np.clip(np.asarray(seed_tau, dtype=float), 0.0, 1.0) / 2)
    reliability = seeds * r1 / (1 + (seeds - 1) * r1)
    out = 2 / np.pi * np.arcsin(np.sqrt(reliability))
    return float(out) if np.ndim(out) == 0 else out


# --- the correlation table of a study -------------------------------------------------------------

SEED_TO_SEED = "seed_to_seed_kendall_tau"
ZERO_COST = "zero-cost:"  # + a training-free ranker (nas.zerocost): the variant of its rows
MINUS = "kendall_tau_minus_"  # + a training-free ranker: a run's tau minus the ranker's, paired bootstrap
REFERENCE = "perfect_ranker_kendall_tau"  # perfect_ranker_tau of the study's ground truth
TABLE_COLUMNS = ["variant", "seed", "metric", "k", "value", "ci_low", "ci_high"]


def seed_to_seed_row(results: pd.DataFrame, split: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Rows of the correlation table (variant 'standalone', no super-net seed) for the ground truth on
    `split`: the seed-to-seed Kendall tau of single stand-alone seeds and the perfect-ranker reference
    for the mean over those seeds (`perfect_ranker_tau`), each with its bootstrap interval over
    architectures; no rows with fewer than 2 seeds. Architectures without a value for every seed (a
    benchmark's records can lack a seed) are left out of it."""
    by_seed = results.pivot(index="arch_id", columns="seed", values=f"{split}_accuracy").dropna()
    if by_seed.shape[1] < 2 or len(by_seed) < 2:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    tau, (lo, hi) = seed_to_seed_tau(by_seed), seed_to_seed_ci(by_seed, n_boot, seed)
    m = by_seed.shape[1]
    return pd.DataFrame([
        {"variant": "standalone", "seed": pd.NA, "metric": SEED_TO_SEED, "k": pd.NA, "value": tau,
         "ci_low": lo, "ci_high": hi},
        {"variant": "standalone", "seed": pd.NA, "metric": REFERENCE, "k": pd.NA,
         "value": perfect_ranker_tau(tau, m), "ci_low": perfect_ranker_tau(lo, m), "ci_high": perfect_ranker_tau(hi, m)}])


def correlation_long(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-run correlation tables (with variant and seed columns) and the seed-to-seed row as one table."""
    tables = [t for t in tables if not t.empty]
    table = pd.concat(tables, ignore_index=True)[TABLE_COLUMNS]
    return table.astype({"seed": "Int64", "k": "Int64", "value": "float64", "ci_low": "float64",
                         "ci_high": "float64"})
