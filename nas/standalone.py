"""The stand-alone results table: one row per (architecture, seed) with its accuracies and losses on
the train, valid and test splits, whichever ground-truth source (`nas.truth`) produced it; the shards
joined, checked complete, averaged over seeds and set beside a run's super-net scores.
"""

from __future__ import annotations

import pandas as pd

from nas import layout
from nas.io import UserError

RESULT_COLUMNS = ["arch_id", "arch", "seed", "train_accuracy", "valid_accuracy", "valid_loss",
                  "test_accuracy", "test_loss"]


def merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The shards' results as one table; an (architecture, seed) twice in one shard or in two is an error."""
    for k, frame in enumerate(frames, start=1):
        dup = frame.duplicated(["arch_id", "seed"])
        if dup.any():
            row = frame[dup].iloc[0]
            raise UserError(f"merge-standalone: shard {k} holds architecture {int(row.arch_id)}, seed {int(row.seed)} "
                            "twice; rerun train-standalone for it")
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["arch_id", "seed"])
    if dup.any():
        raise UserError(f"merge-standalone: architecture {int(df[dup].arch_id.iloc[0])} appears in two shards")
    return sorted_results(df)


def check_complete(merged: pd.DataFrame, archs: pd.DataFrame, seeds: list[int]) -> None:
    """The merged shards hold exactly one result per (sampled architecture, seed)."""
    expected = {(int(a), s) for a in archs["arch_id"] for s in seeds}
    got = set(zip(merged["arch_id"].astype(int), merged["seed"].astype(int)))
    if got != expected:
        missing = sorted(expected - got)
        raise UserError(f"merge-standalone: shards do not match {layout.ARCHS} and standalone.seeds "
                        f"({len(missing)} (arch, seed) missing, {len(got - expected)} extra); rerun train-standalone")


def empty_results() -> pd.DataFrame:
    """A results table with no rows (nothing to train)."""
    return sorted_results(pd.DataFrame({c: pd.Series(dtype="float64") for c in RESULT_COLUMNS}))


def scored_truth(truth: pd.DataFrame, scores: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The stand-alone truth of the architectures a run scored: all sampled ones, less its landmarks
    (a landmark variant scores fewer; scoring anything outside the pool is an error)."""
    extra = set(scores["arch_id"]) - set(truth["arch_id"])
    if extra or len(scores) < 2:
        raise UserError(f"scores of variant {variant!r} and {layout.STANDALONE} cover different "
                        "architectures; rerun the pipeline from sample")
    return truth[truth["arch_id"].isin(scores["arch_id"])]


def aligned(truth: pd.DataFrame, scores: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Truth and scores of a run side by side (accuracy_truth, accuracy_score), by arch_id."""
    both = scored_truth(truth, scores, variant).merge(scores, on="arch_id", suffixes=("_truth", "_score"),
                                                       validate="one_to_one")
    return both.sort_values("arch_id")


def mean_over_seeds(results: pd.DataFrame, split: str) -> pd.DataFrame:
    """arch_id, arch, accuracy: the stand-alone accuracy on `split` averaged over seeds."""
    col = f"{split}_accuracy"
    out = results.groupby(["arch_id", "arch"], as_index=False, sort=True)[col].mean()
    return out.rename(columns={col: "accuracy"})


def sorted_results(df: pd.DataFrame) -> pd.DataFrame:
    """The results in the table's order (arch_id, seed) with its column types."""
    df = df.sort_values(["arch_id", "seed"], kind="stable").reset_index(drop=True)
    return df.astype({"arch_id": "int64", "seed": "int64", "arch": "str"})[RESULT_COLUMNS]
