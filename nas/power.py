"""Statistics over super-net seeds: a value's interval, a paired comparison's test, what its seeds can
detect, and p-values corrected for testing many comparisons.

  interval(x)  the mean over seeds with its t-interval from MIN_T values on, the values' range with
      2 (a t-interval from 2 values spans +-12.7 sd/sqrt(2) at 95 %), no bounds with fewer;
  paired_p_value(x, y)  the two-sided paired t-test (scipy.stats.ttest_rel); when every paired
      difference is equal it is 0 for a non-zero difference, 1 for none (scipy gives 0/0 or d/0).

Every comparison table of a study (heuristics, selection methods, degrees of sharing) compares a
variant with a reference over super-net seeds, paired by seed. With a handful of seeds a paired
t-test can only see large differences, so "p > 0.05" is mostly "could not tell". Each difference
therefore comes with the difference its seeds could have detected:

  detectable_difference(sd, n)  the smallest true mean difference a two-sided paired t-test at level
      `alpha` finds with probability `power` (default 0.05 and 80 %) from n pairs whose differences
      spread with standard deviation sd: the delta with P(|T| > t_{1-alpha/2, n-1}) = power for T
      noncentral t with n-1 degrees of freedom and noncentrality delta*sqrt(n)/sd. The tables give it
      from the *observed* sd of the paired differences, so it is an estimate with the same few seeds.
  seeds_needed(diff, sd)  the fewest pairs (seeds per variant) that detect `diff` at that power.

and the p-values of one table are corrected together (`holm`: Holm's step-down adjustment, which
controls the chance of any false positive among the family at alpha without assuming the tests are
independent): a table that tests 19 heuristics at 0.05 one by one expects about one "effect" by
chance. `tests/unit/test_power.py` checks detectable_difference against a simulation with a known
effect and holm against its definition.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

from nas.io import UserError

MIN_T = 3  # values from which an interval is a t-interval; below, the seeds' range (2) or none
ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # seeds_needed's search stops here (an effect that small is not a question for seeds)


def t_interval(x: np.ndarray, level: float) -> tuple[float, float, float]:
    """(mean, low, high): mean ± t·sd/√n; NaN bounds below 2 values (no spread to estimate)."""
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1)) * float(np.std(x, ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def interval(x: np.ndarray, level: float) -> tuple[float, float, float, str]:
    """(mean, low, high, kind): the t-interval from MIN_T values on ("t"), else the values' range
    ("range", 2 values) or no bounds ("none")."""
    if len(x) >= MIN_T:
        return (*t_interval(x, level), "t")
    if len(x) == 2:
        return float(np.mean(x)), float(np.min(x)), float(np.max(x)), "range"
    return (*t_interval(x, level), "none")


def paired_p_value(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided paired t-test of x against y; the zero-variance rule is in the module docstring."""
    d = x - y
    if len(d) < 2:
        return math.nan
    if np.all(d == d[0]):  # scipy gives nan (0/0) or an infinite t here; the answer is plain
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_rel(x, y).pvalue)


def paired_comparison(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float, str, float, float]:
    """(diff, low, high, interval kind, p, detectable) of a - b over pairs (a[i], b[i]): the mean
    difference with its `interval`, the paired t-test and the difference the pairs detect with 80 %
    power, from the sd of the differences. Every comparison table of a study makes its rows with this."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    sd = float(np.std(d, ddof=1)) if len(d) >= 2 else math.nan
    return (*interval(d, level), paired_p_value(np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
            detectable_difference(sd, len(d)))


def holm_within(table: pd.DataFrame, family) -> pd.Series:
    """`table`'s p_value column corrected by `holm` within each family (groupby keys: one family per
    metric of a comparison table), aligned with the table's rows."""
    return table.groupby(family, sort=False)["p_value"].transform(lambda p: holm(p.to_numpy()))


def _check(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise UserError(f"alpha: {alpha} is not allowed; expected a level between 0 and 1")
    if not alpha < power < 1:
        raise UserError(f"power: {power} is not allowed; expected a probability between alpha ({alpha}) and 1")


def paired_power(diff: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """The probability that a two-sided paired t-test at `alpha` rejects, for a true mean difference
    `diff` over `n` pairs whose differences have standard deviation `sd` (NaN below 2 pairs)."""
    if n < 2:
        return math.nan
    if sd == 0:
        return 1.0 if diff != 0 else alpha
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(diff) * math.sqrt(n) / sd
    lower = float(stats.nct.cdf(-crit, df, nc))  # the wrong-sign tail: ~0, and NaN in scipy for a large nc
    return float(stats.nct.sf(crit, df, nc)) + (0.0 if math.isnan(lower) else lower)


def detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference the paired test finds with probability `power` from `n` pairs
    of standard deviation `sd`: NaN below 2 pairs or without an sd, 0 when the differences do not spread."""
    _check(alpha, power)
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    high = sd
    while paired_power(high, sd, n, alpha) < power:  # bracket the root: power rises with the difference
        high *= 2
    return float(optimize.brentq(lambda d: paired_power(d, sd, n, alpha) - power, 0.0, high, xtol=1e-10 * sd))


def seeds_needed(diff: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """The fewest pairs (at least 2) whose paired test detects a mean difference `diff` with probability
    `power`, for differences of standard deviation `sd`."""
    _check(alpha, power)
    if not (math.isfinite(diff) and diff != 0):
        raise UserError(f"difference: {diff} is not allowed; expected a non-zero number")
    if not (math.isfinite(sd) and sd >= 0):
        raise UserError(f"sd: {sd} is not allowed; expected a standard deviation >= 0")
    n = 2
    while paired_power(diff, sd, n, alpha) < power:
        n += 1
        if n > MAX_SEEDS:
            raise UserError(f"difference: {diff} needs more than {MAX_SEEDS:,} seeds at sd {sd:.3g}")
    return n


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of one family of p-values (NaN stays NaN and does not count):
    the i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = len(finite)
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def seeds_table(heuristics: pd.DataFrame, metric: str, diff: float, alpha: float = ALPHA,
                power: float = POWER) -> pd.DataFrame:
    """Per variant compared with the baseline on `metric` (a heuristics table, nas.heuristics): the seeds
    it has, the sd of its paired differences (recovered from `detectable`, which is linear in it), the
    difference those seeds detect, and the seeds per variant that detect `diff`."""
    rows = heuristics[(heuristics["metric"] == metric) & heuristics["k"].isna() & heuristics["detectable"].notna()]
    if rows.empty:
        known = ", ".join(sorted(set(heuristics["metric"].astype(str))))
        raise UserError(f"--metric {metric!r}: no comparison with the baseline in the heuristics table (metrics: "
                        f"{known}; a comparison needs 2 seeds of a variant and of the baseline)")
    out = []
    for row in rows.itertuples(index=False):
        n = int(row.n)
        sd = row.detectable / detectable_difference(1.0, n, alpha, power) if row.detectable > 0 else 0.0
        out.append({"variant": row.variant, "seeds": n, "sd_of_differences": sd, "detectable": row.detectable,
                    "seeds_needed": seeds_needed(diff, sd, alpha, power)})
    return pd.DataFrame(out)
