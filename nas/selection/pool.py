"""Selection methods that rank the sampled pool by its super-net scores."""

from __future__ import annotations

import pandas as pd

from nas.selection.base import Context, register_selector


@register_selector("supernet")
def best_supernet_score(context: Context):
    """Random search with weight sharing: the pool architecture with the highest super-net accuracy;
    ties go to lower loss, then lower arch_id."""
    return context.arch(best_score_id(context.scores))


def best_score_id(scores: pd.DataFrame) -> int:
    ranked = scores.sort_values(["accuracy", "loss", "arch_id"], ascending=[False, True, True],
                                kind="mergesort", na_position="last")
    return int(ranked["arch_id"].iloc[0])
