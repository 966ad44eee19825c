"""Which architecture each selection method picks, and how good that pick is when trained stand-alone.

A selection method is a thin function from the super-net's per-architecture scores to one arch_id,
registered by name in `SELECTORS`; later methods (e.g. DARTS-PT perturbation selection) plug in with
`@register_selector("name")`. `selection_table` scores every registered method against two baselines
that need no registration: 'oracle' (the best stand-alone architecture) and 'random' (the expected
result of a uniformly random pick from the pool).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from nas.io import UserError, require_columns
from nas.metrics import percentiles

Selector = Callable[[pd.DataFrame], int]

SELECTORS: dict[str, Selector] = {}
BASELINES = ("oracle", "random")
SCORE_COLUMNS = ["arch_id", "accuracy", "loss"]
TRUTH_COLUMNS = ["arch_id", "arch", "accuracy"]


def register_selector(name: str) -> Callable[[Selector], Selector]:
    """Decorator: add fn(scores) -> arch_id to `SELECTORS` under `name`."""
    def register(fn: Selector) -> Selector:
        # A silent overwrite would make the table depend on import order.
        if name in SELECTORS or name in BASELINES:
            raise ValueError(f"selector name {name!r} is already taken")
        SELECTORS[name] = fn
        return fn
    return register


@register_selector("supernet")
def best_supernet_score(scores: pd.DataFrame) -> int:
    """The arch with the highest super-net accuracy; ties go to lower loss, then lower arch_id."""
    ranked = scores.sort_values(["accuracy", "loss", "arch_id"], ascending=[False, True, True],
                                kind="mergesort", na_position="last")
    return int(ranked["arch_id"].iloc[0])


def _arch_ids(df: pd.DataFrame, name: str) -> np.ndarray:
    ids = df["arch_id"]
    if ids.isna().any():
        raise UserError(f"{name}: arch_id has missing values")
    ids = ids.to_numpy(dtype=np.int64)
    dupes = pd.unique(ids[pd.Series(ids).duplicated().to_numpy()])
    if dupes.size:
        raise UserError(f"{name}: {dupes.size} duplicated arch_id(s), first: {_first(dupes)}")
    return ids


def _first(ids, n: int = 5) -> str:
    ids = sorted(int(i) for i in ids)
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")


def _check_same_pool(score_ids: np.ndarray, truth_ids: np.ndarray) -> None:
    only_scores = np.setdiff1d(score_ids, truth_ids)
    only_truth = np.setdiff1d(truth_ids, score_ids)
    problems = []
    if only_scores.size:
        problems.append(f"{only_scores.size} arch_id(s) only in scores (first: {_first(only_scores)})")
    if only_truth.size:
        problems.append(f"{only_truth.size} arch_id(s) only in truth (first: {_first(only_truth)})")
    if problems:
        raise UserError("super-net scores and stand-alone truth cover different architectures: " + "; ".join(problems))


def selection_table(variant: str, scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per method: every registered selector, then 'oracle', then 'random'.

    scores: arch_id, accuracy, loss (super-net, valid split). truth: arch_id, arch, accuracy
    (stand-alone, percent, mean over seeds). Columns: variant, method, arch_id, arch, accuracy (of the
    chosen arch, stand-alone), percentile (100 = best in the pool, average ranks for ties) and regret
    (oracle accuracy - chosen accuracy).
    """
    require_columns(scores, SCORE_COLUMNS, "scores")
    require_columns(truth, TRUTH_COLUMNS, "truth")
    truth_ids = _arch_ids(truth, "truth")
    _check_same_pool(_arch_ids(scores, "scores"), truth_ids)
    if len(truth_ids) == 0:
        raise UserError("selection needs at least one architecture; scores and truth are empty")
    accuracy = truth["accuracy"].to_numpy(dtype=float)
    if not np.isfinite(accuracy).all():
        raise UserError(f"truth: stand-alone accuracy is NaN or inf for arch_id(s) {_first(truth_ids[~np.isfinite(accuracy)])}")

    pool = pd.DataFrame({"arch": truth["arch"].to_numpy(), "accuracy": accuracy, "percentile": percentiles(accuracy)},
                        index=truth_ids)
    best = accuracy.max()
    oracle = int(truth_ids[accuracy == best].min())  # ties go to the lower arch_id

    picks = [(name, fn(scores.copy())) for name, fn in SELECTORS.items()] + [("oracle", oracle)]
    rows = []
    for method, arch_id in picks:
        if arch_id not in pool.index:
            raise UserError(f"selector {method!r} picked arch_id {arch_id}, which is not in the pool")
        chosen = pool.loc[arch_id]
        rows.append({"method": method, "arch_id": int(arch_id), "arch": chosen["arch"], "accuracy": chosen["accuracy"],
                     "percentile": chosen["percentile"], "regret": best - chosen["accuracy"]})
    mean = pool["accuracy"].mean()
    # The mean of equal values can round a hair above their max; regret is >= 0 by definition.
    rows.append({"method": "random", "arch_id": pd.NA, "arch": pd.NA, "accuracy": mean,
                 "percentile": pool["percentile"].mean(), "regret": max(best - mean, 0.0)})

    table = pd.DataFrame(rows)
    table.insert(0, "variant", variant)
    return table.astype({"variant": "str", "method": "str", "arch_id": "Int64", "arch": "string",
                         "accuracy": "float64", "percentile": "float64", "regret": "float64"})
