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

`stability_table` applies them to a study: every run's trajectories over its scored epochs
(eval-supernet's epoch_scores) and over its last steps (train-supernet's step_scores), then each
variant over its seeds, in one long table (`COLUMNS`), with `degree_of_sharing` naming how much a
variant shares. The best architecture of a ranking is its highest score, ties to the lower arch_id.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from nas.io import UserError
from nas.metrics import kendall_tau, spearman


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


# --- a study's stability table ----------------------------------------------------------------------

COLUMNS = ["variant", "seed", "series", "statistic", "point", "value", "ci_low", "ci_high", "interval"]
OVER_SEEDS = -1  # the seed of a row that summarises a variant over its seeds (series "summary")
NO_POINT = -1  # the point of a row that is not at one epoch or step


def trajectory(scores: pd.DataFrame, point: str) -> pd.DataFrame:
    """Scores in long form (`point`, arch_id, accuracy) as a trajectory: one row per point, in order."""
    return scores.pivot(index=point, columns="arch_id", values="accuracy").sort_index()


def run_rows(traj: pd.DataFrame, truth: pd.Series) -> list[tuple[str, int, float]]:
    """(statistic, point, value) of one run's trajectory: consecutive_tau (at the later point),
    tau_to_final, tau_to_truth and top1 (the best arch_id) at each point, top1_changes overall."""
    rows = []
    if len(traj) >= 2:
        rows += [("consecutive_tau", int(r.next), r.tau) for r in consecutive_tau(traj).itertuples()]
    rows += [("tau_to_final", int(p), t) for p, t in tau_to_final(traj).items()]
    rows += [("tau_to_truth", int(p), t) for p, t in tau_to_truth(traj, truth).items()]
    rows += [("top1", int(p), best(traj.loc[p])) for p in traj.index]
    rows.append(("top1_changes", NO_POINT, top1_changes(traj)))
    return rows


def stability_table(runs: dict[tuple[str, int], dict[str, pd.DataFrame | None]], truth: pd.Series,
                    passes: dict[tuple[str, int], int], level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, ranks) of a study. `runs`: (variant, seed) -> {"epoch": trajectory, "step": trajectory
    or None}; the last epoch is the run's final ranking. `passes`: each run's training cost.

    Per run (series epoch / step): the rows of `run_rows`. Per variant (seed OVER_SEEDS, series
    summary), with `nas.power.interval` over seeds: tau_truth (final ranking against the ground
    truth), epoch_ / step_consecutive_tau (a run's mean), epoch_ / step_top1_changes, passes; and
    seed_tau (mean over pairs of seeds; its bounds: the lowest and highest pair) and distinct_top1.
    `ranks`: variant, seed, arch_id, rank of the final rankings."""
    from nas.power import interval

    rows, ranks = [], []

    def add(variant, seed, series, statistic, point, value, low=np.nan, high=np.nan, kind=""):
        rows.append((variant, seed, series, statistic, point, float(value), low, high, kind))

    variants = list(dict.fromkeys(v for v, _ in runs))
    for variant in variants:
        seeds = [s for v, s in runs if v == variant]
        per_seed: dict[str, list[float]] = {}
        for seed in seeds:
            for series, traj in runs[(variant, seed)].items():
                if traj is None or traj.empty:
                    continue
                stats = run_rows(traj, truth)
                for statistic, point, value in stats:
                    add(variant, seed, series, statistic, point, value)
                consecutive = [v for name, _, v in stats if name == "consecutive_tau"]
                if consecutive:
                    per_seed.setdefault(f"{series}_consecutive_tau", []).append(float(np.mean(consecutive)))
                per_seed.setdefault(f"{series}_top1_changes", []).append(top1_changes(traj))
            final = runs[(variant, seed)]["epoch"].iloc[-1]
            per_seed.setdefault("tau_truth", []).append(tau_to_truth(final.to_frame().T, truth).iloc[0])
            per_seed.setdefault("passes", []).append(passes[(variant, seed)])
        finals = pd.DataFrame({seed: runs[(variant, seed)]["epoch"].iloc[-1] for seed in seeds}).T
        for statistic in ("tau_truth", "epoch_consecutive_tau", "epoch_top1_changes", "step_consecutive_tau",
                          "step_top1_changes", "passes"):
            if statistic in per_seed:
                mean, low, high, kind = interval(np.asarray(per_seed[statistic], dtype=float), level)
                add(variant, OVER_SEEDS, "summary", statistic, NO_POINT, mean, low, high, kind)
        mean, pairs = seed_tau(finals)
        if len(pairs):
            add(variant, OVER_SEEDS, "summary", "seed_tau", NO_POINT, mean, pairs["tau"].min(), pairs["tau"].max(),
                "range" if len(pairs) > 1 else "none")
        add(variant, OVER_SEEDS, "summary", "distinct_top1", NO_POINT, distinct_top1(finals), kind="none")
        ranks.append(rank_table(finals).assign(variant=variant))
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"seed": "int64", "point": "int64", "value": "float64",
                                                        "ci_low": "float64", "ci_high": "float64"})
    rank = (pd.concat(ranks, ignore_index=True)[["variant", "seed", "arch_id", "rank"]]
            .astype({"seed": "int64", "arch_id": "int64", "rank": "int64"}))
    return table, rank


def interference_rows(effects: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per variant (seed OVER_SEEDS): the mean change of j's loss after one step on i at each number
    of shared operations (series interference, point = shared), with its t-interval over the pairs of
    every seed (`nas.interference.by_shared`); and how much the children disturb each other at all
    (series summary, statistic interference): the mean |change| over every pair, with its t-interval,
    a column of the stability table beside the variance it is blamed for."""
    from nas.power import t_interval
    from nas.interference import by_shared

    out = []
    for variant, g in effects.groupby("variant", sort=False):
        for r in by_shared(g, level).itertuples():
            out.append((variant, OVER_SEEDS, "interference", "change", int(r.shared), r.mean, r.ci_low, r.ci_high,
                        "t" if r.pairs >= 2 else "none"))
        mean, low, high = t_interval(g["change"].abs().to_numpy(dtype=float), level)
        out.append((variant, OVER_SEEDS, "summary", "interference", NO_POINT, mean, low, high,
                    "t" if len(g) >= 2 else "none"))
    return pd.DataFrame(out, columns=COLUMNS)


def across_variants(table: pd.DataFrame, x: str, y: str) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Two summary statistics of every variant that has both (e.g. interference and
    step_consecutive_tau): their rows (indexed by variant: value, ci_low, ci_high), in table order,
    and Spearman's rho between them over the variants (NaN below 3 variants). Does the variant whose
    children disturb each other more also rank less steadily?"""
    summary = table[table["series"] == "summary"].set_index(["statistic", "variant"])
    both = [v for v in dict.fromkeys(table["variant"]) if (x, v) in summary.index and (y, v) in summary.index]
    xs, ys = summary.loc[x].loc[both], summary.loc[y].loc[both]
    rho = spearman(xs["value"].to_numpy(), ys["value"].to_numpy()) if len(both) >= 3 else float("nan")
    return xs, ys, rho


def degree_of_sharing(hp, cells: int) -> dict:
    """How much a variant's super-net shares: form (full, prefix or groups), k (cells shared; the
    number of cells under full sharing), g (independent super-nets; 1 under full sharing), partition
    and compute (groups only)."""
    if hp.prefix_shared is not None and hp.prefix_shared < cells:
        return {"form": "prefix", "k": hp.prefix_shared, "g": 1, "partition": "", "compute": ""}
    if hp.groups > 1:
        return {"form": "groups", "k": cells, "g": hp.groups, "partition": hp.partition, "compute": hp.sharing_compute}
    return {"form": "full", "k": cells, "g": 1, "partition": "", "compute": ""}
