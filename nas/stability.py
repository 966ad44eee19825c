"""How stable a super-net's ranking is over training time and over runs (Zhang et al.: the best child
differs between runs and even between consecutive epochs of one run).

Every statistic reads a *trajectory*: a table with one column per architecture (arch_id) and one row
per point in training (an epoch, or a step near the end), in training order, holding the super-net's
score of that architecture there (higher = better); or a *final* table, one row per super-net seed.
Rankings are compared with Kendall tau-b (`nas.metrics.kendall_tau`, written once there).

    consecutive_tau(traj)        tau between each point's ranking and the next one's
    tau_to_final(traj)           tau between each point's ranking and the last point's
    top1_changes(traj)           how often the best architecture changes between consecutive points
    tau_to_truth(traj, truth)    tau against the stand-alone ground truth at each point
    seed_tau(finals)             mean pairwise tau between the seeds' rankings (and every pair)
    distinct_top1(finals)        how many different architectures the seeds rank first
    rank_table(finals)           each architecture's rank under each seed (1 = best), for a box plot

The best architecture of a ranking is its highest score, ties to the lower arch_id.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from nas.io import UserError
from nas.metrics import kendall_tau


def _check(table: pd.DataFrame, name: str, rows: int = 1) -> pd.DataFrame:
    if len(table) < rows or table.shape[1] < 2:
        raise UserError(f"{name}: needs at least {rows} row(s) and 2 architectures, got a {table.shape[0]} x "
                        f"{table.shape[1]} table")
    values = table.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise UserError(f"{name}: scores contain NaN or inf")
    return table


def best(row: pd.Series) -> int:
    """The architecture a ranking puts first: the highest score, ties to the lower arch_id."""
    top = row.max()
    return int(min(a for a, v in row.items() if v == top))


def consecutive_tau(traj: pd.DataFrame) -> pd.DataFrame:
    """point, next, tau: one row per pair of consecutive points."""
    _check(traj, "trajectory", 2)
    idx = list(traj.index)
    return pd.DataFrame({"point": idx[:-1], "next": idx[1:],
                         "tau": [kendall_tau(traj.loc[a], traj.loc[b]) for a, b in zip(idx[:-1], idx[1:])]})


def tau_to_final(traj: pd.DataFrame) -> pd.Series:
    """tau between each point's ranking and the last point's (1.0 at the last), indexed by point."""
    _check(traj, "trajectory")
    final = traj.iloc[-1]
    return pd.Series([kendall_tau(traj.loc[p], final) for p in traj.index], index=traj.index, name="tau")


def top1_changes(traj: pd.DataFrame) -> int:
    """How many times the best architecture differs from the one before it."""
    _check(traj, "trajectory")
    tops = [best(traj.loc[p]) for p in traj.index]
    return int(sum(a != b for a, b in zip(tops[:-1], tops[1:])))


def tau_to_truth(traj: pd.DataFrame, truth: pd.Series) -> pd.Series:
    """tau against the stand-alone accuracy (`truth`, indexed by arch_id) at each point."""
    _check(traj, "trajectory")
    missing = [a for a in traj.columns if a not in truth.index]
    if missing:
        raise UserError(f"truth: no stand-alone accuracy for arch_id(s) {', '.join(map(str, missing[:5]))}")
    t = truth.loc[list(traj.columns)].to_numpy(dtype=float)
    return pd.Series([kendall_tau(t, traj.loc[p].to_numpy(dtype=float)) for p in traj.index], index=traj.index,
                     name="tau")


def seed_tau(finals: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """(mean, pairs): Kendall tau between every pair of seeds' final rankings (rows = seeds) and their mean;
    nan with one seed."""
    _check(finals, "final scores")
    seeds = list(finals.index)
    pairs = pd.DataFrame([{"seed": a, "other": b, "tau": kendall_tau(finals.loc[a], finals.loc[b])}
                          for a, b in combinations(seeds, 2)], columns=["seed", "other", "tau"])
    return (float(pairs["tau"].mean()) if len(pairs) else float("nan")), pairs


def distinct_top1(finals: pd.DataFrame) -> int:
    """How many different architectures the seeds rank first."""
    _check(finals, "final scores")
    return len({best(finals.loc[s]) for s in finals.index})


def rank_table(finals: pd.DataFrame) -> pd.DataFrame:
    """seed, arch_id, rank: each architecture's rank under each seed's scores (1 = best; ties share
    the lowest rank of their block, as `min` ranking does)."""
    _check(finals, "final scores")
    ranks = finals.rank(axis=1, ascending=False, method="min").astype("int64")
    out = ranks.stack().rename("rank").reset_index()
    out.columns = ["seed", "arch_id", "rank"]
    return out
