"""Which architecture each selection method picks, and how good that pick is when trained stand-alone.

A selection method is a function from a `Context` to an architecture of the space, registered by name
with `@register_selector("name")`. The context holds what a method may need: the space, the run, the
pool's super-net scores, and (loaded on first use, so methods that rank the pool never import torch)
the trained super-net and the validation split. A pick need not be in the sampled pool: picks outside
it are numbered after the pool (`number_picks`) and trained stand-alone by the `train-picks` stage
with the pool's settings, so every pick gets a ground truth.

`run_table` scores a run's picks against two baselines that need no registration: 'oracle' (the best
stand-alone architecture of the pool) and 'random' (the expected result of a uniformly random pick
from the pool). Regret is measured against the pool's oracle, the best architecture known; a pick
outside the pool that beats it has a negative regret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pandas as pd

from nas.io import UserError, require_columns
from nas.metrics import percentiles
from nas.settings import show

BASELINES = ("oracle", "random")
SCORE_COLUMNS = ["arch_id", "accuracy", "loss"]
TRUTH_COLUMNS = ["arch_id", "arch", "accuracy"]
PICK_COLUMNS = ["variant", "seed", "method", "arch_id", "arch", "in_pool"]
TABLE_COLUMNS = ["variant", "seed", "method", "arch_id", "arch", "accuracy", "percentile", "regret", "param_free"]
SUMMARY_METRICS = ["accuracy", "regret", "param_free"]  # the columns `selection_summary` aggregates over runs
SUMMARY_COLUMNS = ["variant", "method", "metric", "runs", "mean", "ci_low", "ci_high", "interval", "diff",
                   "diff_ci_low", "diff_ci_high", "diff_interval", "p_value", "p_holm", "detectable"]
REFERENCE = "random"  # each method of a variant is compared with the random pick of the same runs


@dataclass
class Context:
    """What a selection method sees for one super-net run. `load_supernet` and `load_valid` are called
    at most once, on first use of `supernet` / `valid`."""

    space: Any
    run: Any                       # nas.layout.Run
    scores: pd.DataFrame           # arch_id, accuracy, loss: the pool scored with shared weights (valid split)
    pool: pd.DataFrame             # arch_id, arch: the sampled pool (the architecture strings)
    seed: int
    load_supernet: Callable[[], tuple] | None = None   # -> (network, checkpoint metadata)
    load_valid: Callable[[], Any] | None = None        # -> nas.data.Tensors
    settings: dict = field(default_factory=dict)       # selector name -> its settings (select.<name>)

    @cached_property
    def supernet(self) -> tuple:
        if self.load_supernet is None:
            raise UserError(f"run {self.run.name}: this selection has no super-net to load")
        return self.load_supernet()

    @cached_property
    def valid(self):
        if self.load_valid is None:
            raise UserError(f"run {self.run.name}: this selection has no validation data")
        return self.load_valid()

    def arch(self, arch_id: int):
        """The pool architecture with this id (parsed)."""
        hit = self.pool.loc[self.pool["arch_id"] == arch_id, "arch"]
        if hit.empty:
            raise UserError(f"arch_id {arch_id} is not in the sampled pool")
        return self.space.parse(hit.iloc[0])


class NotApplicable(UserError):
    """Raised by a selection method for a run it does not apply to (magnitude on a super-net without
    architecture weights): that run gets no pick from it. A method that applies to no run of the
    study is an error (`pick` callers check)."""


def every_method(method) -> bool:
    return True


@dataclass(frozen=True)
class Selector:
    """A registered selection method: what it needs and what it adds to the study.

    pick      fn(context) -> the architecture it picks for one run (raises NotApplicable for a run it
              does not apply to)
    supernet  it reads `context.supernet` / `context.valid`: the pick stage depends on the weights and
              the valid split
    Settings  a frozen dataclass of its own keys (fields made with `nas.settings.opt`), written under
              `select.<name>`, tracked by the stages that use it; None for a method without
    applies   applies(method class) -> whether it can pick from runs of that super-net method
              (`nas.supernet.Method`); a study where it applies to no variant is refused when loaded
    stage     a stage of its own, once per run it applies to, before `pick` (`nas.registry.OwnStage`,
              per "run"); it reads the run's weights and the splits in `reads`, and writes
              `writes(run)` (a `nas.layout.Run` path, Parquet with schema `layout.SCHEMAS[schema]`),
              which `pick` and the report read
    check     check(cfg, settings, space): cross-key checks of its settings (UserError)
    """

    name: str
    pick: Callable[[Context], Any]
    supernet: bool = False
    Settings: type | None = None
    applies: Callable[[Any], bool] = every_method
    stage: Any = None
    reads: tuple[str, ...] = ()
    writes: Callable[[Any], Any] | None = None
    schema: str | None = None
    check: Callable | None = None

    def __call__(self, context: Context):
        return self.pick(context)


SELECTORS: dict[str, Selector] = {}


def register_selector(name: str, supernet: bool = False, **declared) -> Callable:
    """Decorator: register fn(context) -> architecture as selection method `name` (`Selector`'s other
    fields as keyword arguments). `supernet=True` declares that the method reads `context.supernet` /
    `context.valid`, so the pick stage depends on the super-net weights and the validation split."""
    def register(fn):
        # A silent overwrite would make the table depend on import order.
        if name in SELECTORS or name in BASELINES:
            raise ValueError(f"selector name {name!r} is already taken")
        SELECTORS[name] = Selector(name, fn, supernet, **declared)
        return fn
    return register


def get_selector(name: str) -> Selector:
    try:
        return SELECTORS[name]
    except KeyError:
        raise UserError(f"select.methods: unknown method {show(name)}; expected one of {', '.join(SELECTORS)}") from None


def pick(context: Context, methods: list[str], skipped: dict[str, NotApplicable] | None = None) -> pd.DataFrame:
    """variant, seed, method, arch (the space's string): each method's pick for the context's run. A
    method that does not apply to the run is left out, its reason kept in `skipped` (method -> the
    error) when given."""
    rows = []
    for method in methods:
        try:
            arch = get_selector(method).pick(context)
        except NotApplicable as reason:
            if skipped is not None:
                skipped.setdefault(method, reason)
            continue
        rows.append({"variant": context.run.variant, "seed": int(context.run.seed), "method": method,
                     "arch": context.space.format(context.space.parse(arch) if isinstance(arch, str) else arch)})
    return pd.DataFrame(rows, columns=["variant", "seed", "method", "arch"])


def number_picks(picks: pd.DataFrame, pool: pd.DataFrame) -> pd.DataFrame:
    """Give every pick an arch_id: the pool's where its string is in the pool, else a new one after the
    pool's largest, in order of first appearance (deterministic)."""
    ids = dict(zip(pool["arch"], pool["arch_id"].astype(int)))
    next_id = int(pool["arch_id"].max()) + 1 if len(pool) else 0
    pooled = set(ids)
    in_pool, arch_ids = [], []
    for arch in picks["arch"]:
        in_pool.append(arch in pooled)
        if arch not in ids:
            ids[arch] = next_id
            next_id += 1
        arch_ids.append(ids[arch])
    out = picks.assign(arch_id=arch_ids, in_pool=in_pool)[PICK_COLUMNS]
    return out.astype({"variant": "str", "seed": "int64", "method": "str", "arch_id": "int64", "arch": "str",
                       "in_pool": "bool"}).reset_index(drop=True)


def outside_pool(picks: pd.DataFrame) -> pd.DataFrame:
    """arch_id, arch of the distinct picks outside the sampled pool, by arch_id."""
    require_columns(picks, PICK_COLUMNS, "picks")
    out = picks.loc[~picks["in_pool"].astype(bool), ["arch_id", "arch"]].drop_duplicates("arch_id")
    return out.sort_values("arch_id").reset_index(drop=True)


# --- the selection table --------------------------------------------------------------------------

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


def _finite(accuracy: np.ndarray, ids: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(accuracy).all():
        raise UserError(f"{name}: stand-alone accuracy is NaN or inf for arch_id(s) {_first(ids[~np.isfinite(accuracy)])}")
    return accuracy


def run_table(variant: str, picks: list[tuple[str, int]], pool: pd.DataFrame,
              outside: pd.DataFrame | None = None, param_free: Callable[[str], int] | None = None,
              skip_missing: bool = False, picked: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per (method, arch_id) pick in the order given, then 'oracle', then 'random'.

    pool: arch_id, arch, accuracy (stand-alone, percent, mean over seeds) of the architectures the run
    scored; outside: the same for picks outside the pool. Columns: variant, method, arch_id, arch,
    accuracy (of the pick, stand-alone), percentile (share of the rest of the pool it beats, ties
    counting half: 100 = best, 0 = worst), regret (pool oracle accuracy - the pick's accuracy) and
    param_free (`param_free(arch string)`: its parameter-free operations; NaN without the function;
    for 'random', the pool's mean). With `skip_missing` (a ground truth that lacks some architectures,
    `benchmark.missing: skip`), a pick without a result gets NaN accuracy, percentile and regret, which
    the summary leaves out of its means and its count of runs.
    """
    require_columns(pool, TRUTH_COLUMNS, "truth")
    picked = picked or {}  # arch_id -> string of the picks, for a row without a result
    pool_ids = _arch_ids(pool, "truth")
    if len(pool_ids) == 0:
        raise UserError("selection needs at least one architecture; scores and truth are empty")
    accuracy = _finite(pool["accuracy"].to_numpy(dtype=float), pool_ids, "truth")
    table = pd.DataFrame({"arch": pool["arch"].to_numpy(), "accuracy": accuracy, "percentile": percentiles(accuracy)},
                         index=pool_ids)
    if outside is not None and len(outside):
        require_columns(outside, TRUTH_COLUMNS, "truth of the picks")
        ids = _arch_ids(outside, "truth of the picks")
        acc = _finite(outside["accuracy"].to_numpy(dtype=float), ids, "truth of the picks")
        beaten = [100 * ((accuracy < a).sum() + 0.5 * (accuracy == a).sum()) / len(accuracy) for a in acc]
        table = pd.concat([table, pd.DataFrame({"arch": outside["arch"].to_numpy(), "accuracy": acc,
                                                "percentile": beaten}, index=ids)])
    table["param_free"] = [float(param_free(a)) if param_free else np.nan for a in table["arch"]]
    best = accuracy.max()
    oracle = int(pool_ids[accuracy == best].min())  # ties go to the lower arch_id

    rows = []
    for method, arch_id in list(picks) + [("oracle", oracle)]:
        if arch_id not in table.index and skip_missing:
            rows.append({"method": method, "arch_id": int(arch_id), "arch": picked.get(arch_id, pd.NA),
                         "accuracy": np.nan, "percentile": np.nan, "regret": np.nan, "param_free": np.nan})
            continue
        if arch_id not in table.index:
            raise UserError(f"selector {method!r} picked arch_id {arch_id}, which has no stand-alone result "
                            "(rerun train-picks)")
        chosen = table.loc[arch_id]
        rows.append({"method": method, "arch_id": int(arch_id), "arch": chosen["arch"], "accuracy": chosen["accuracy"],
                     "percentile": chosen["percentile"], "regret": best - chosen["accuracy"],
                     "param_free": chosen["param_free"]})
    mean = accuracy.mean()
    pool_percentiles = table.loc[pool_ids, "percentile"].to_numpy(dtype=float)
    # The mean of equal values can round a hair above their max; regret is >= 0 by definition.
    rows.append({"method": "random", "arch_id": pd.NA, "arch": pd.NA, "accuracy": mean,
                 "percentile": pool_percentiles.mean(), "regret": max(best - mean, 0.0),
                 "param_free": table.loc[pool_ids, "param_free"].mean()})

    out = pd.DataFrame(rows)
    out.insert(0, "variant", variant)
    return out.astype({"variant": "str", "method": "str", "arch_id": "Int64", "arch": "string",
                       "accuracy": "float64", "percentile": "float64", "regret": "float64", "param_free": "float64"})


def selection_table(picks: pd.DataFrame, truth: pd.DataFrame, pools: dict[tuple[str, int], np.ndarray],
                    param_free: Callable[[str], int] | None = None, skip_missing: bool = False) -> pd.DataFrame:
    """Every run's `run_table`, runs in the order of `picks` (picks.parquet).

    truth: arch_id, arch, accuracy of the pool and of the picks outside it; pools: (variant, seed) ->
    the arch_ids that run scored (the sampled pool less the run's landmarks)."""
    require_columns(picks, PICK_COLUMNS, "picks")
    require_columns(truth, TRUTH_COLUMNS, "truth")
    outside_ids = set(picks.loc[~picks["in_pool"].astype(bool), "arch_id"].astype(int))
    outside = truth[truth["arch_id"].isin(outside_ids)]
    tables = []
    for (variant, seed), group in picks.groupby(["variant", "seed"], sort=False):
        ids = pools[(variant, int(seed))]
        t = run_table(variant, list(zip(group["method"], group["arch_id"].astype(int))),
                      truth[truth["arch_id"].isin(ids)], outside, param_free, skip_missing,
                      dict(zip(group["arch_id"].astype(int), group["arch"])))
        t.insert(1, "seed", int(seed))
        tables.append(t)
    return pd.concat(tables, ignore_index=True).astype({"seed": "int64"})[TABLE_COLUMNS]


def selection_summary(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Each (variant, method) over the variant's runs: for every `SUMMARY_METRICS` column the mean and
    its interval (`nas.power.interval`: a t-interval from 3 runs, the range of 2, none of 1), so
    methods compare side by side over seeds as well as per run (`selection_table`); and, for every
    method but the baselines, its paired comparison with the random pick of the same runs (`REFERENCE`,
    paired by seed): the difference with its interval, the paired t-test's p, that p corrected by Holm
    over the table's comparisons of the metric (every variant and method), and the difference the runs
    detect with 80 % power (nas.power). Rows in the order the table first names each variant and method."""
    from nas import power

    require_columns(table, ["variant", "seed", "method", *SUMMARY_METRICS], "selection")
    rows = []
    for (variant, method), group in table.groupby(["variant", "method"], sort=False):
        reference = table[(table["variant"] == variant) & (table["method"] == REFERENCE)]
        for metric in SUMMARY_METRICS:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean, low, high, kind = power.interval(values, level)
            comparison = {"diff": np.nan, "diff_ci_low": np.nan, "diff_ci_high": np.nan, "diff_interval": "none",
                          "p_value": np.nan, "detectable": np.nan}
            if method not in BASELINES and len(reference):
                paired = (group[["seed", metric]].merge(reference[["seed", metric]], on="seed", suffixes=("", "_ref"))
                          .dropna().sort_values("seed"))
                comparison = dict(zip(comparison, power.paired_comparison(
                    paired[metric].to_numpy(float), paired[f"{metric}_ref"].to_numpy(float), level)))
            rows.append({"variant": variant, "method": method, "metric": metric, "runs": len(values),
                         "mean": mean, "ci_low": low, "ci_high": high, "interval": kind, **comparison})
    out = pd.DataFrame(rows, columns=[c for c in SUMMARY_COLUMNS if c != "p_holm"]).astype(
        {"variant": "str", "method": "str", "metric": "str", "runs": "int64", "mean": "float64",
         "ci_low": "float64", "ci_high": "float64", "interval": "str", "diff": "float64", "diff_ci_low": "float64",
         "diff_ci_high": "float64", "diff_interval": "str", "p_value": "float64", "detectable": "float64"})
    out.insert(SUMMARY_COLUMNS.index("p_holm"), "p_holm", power.holm_within(out, "metric"))
    return out
