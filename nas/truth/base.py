"""What every ground-truth source shares: the `Source` interface and the registry.

A *ground-truth source* answers one question: the stand-alone accuracy of these architectures. The
study asks it twice: for the sampled pool (`merge-standalone`, after any stages of the source's own)
and for the picks outside the pool (`train-picks`). `standalone.source` names the source; a source
with settings of its own reads them from the sub-section named after it (`standalone.<name>`,
checked against its `Settings` dataclass, fields made with `nas.settings.opt`).

A source declares, for the DAG (`nas dag` and the Snakefile learn everything from here):
    params()      the params keys its answers depend on (merge-standalone and train-picks track them)
    inputs()      files outside the pipeline it reads (a table, a benchmark file): tracked deps
    own_stages    stages it needs before the merge (`nas.registry.OwnStage`), with `stages()` their
                  DVC specs, and `pool_deps()` the files the merge then reads
    candidates()  the architectures the pool is drawn from where the source covers only part of the
                  space (a benchmark), with `sample_deps()` the files `sample` then reads
and answers:
    pool(archs)               the results of the sampled pool (merge-standalone)
    lookup(archs, workers)    the results of any architectures of the space (train-picks)
Results are the stand-alone table (`nas.standalone.RESULT_COLUMNS`): one row per architecture and
seed, so a source with seeds keeps each seed's value (the seed-to-seed reference comes from them).
"""

from __future__ import annotations

import pandas as pd

from nas import layout as L
from nas.registry import Registry


class Source:
    """A ground-truth source. Subclasses set `name` and implement `params`, `pool` and `lookup`."""

    name: str = ""
    Settings: type | None = None  # its own keys (standalone.<name>), or None
    own_stages: tuple = ()        # nas.registry.OwnStage: stages it runs before merge-standalone
    trains: bool = False          # whether it trains networks (train-picks then reads the splits)
    skips_missing: bool = False   # whether `lookup` leaves out what it lacks (picks then count as missing)

    def __init__(self, cfg):
        self.cfg = cfg
        self.settings = cfg.standalone.settings

    @classmethod
    def check(cls, cfg) -> None:
        """Raise a UserError for settings that do not apply (cross-key checks of the source's own)."""

    # --- what the DAG needs -------------------------------------------------------------------
    def params(self) -> list[str]:
        raise NotImplementedError

    def inputs(self) -> list[str]:
        return []

    def merge_params(self) -> list[str]:
        """The params keys merge-standalone tracks (default: `params()`; a source whose own stages
        already track them lists fewer)."""
        return self.params()

    def stages(self) -> dict:
        """{stage name: DVC stage spec without code deps} of `own_stages`."""
        return {}

    def pool_deps(self) -> list[str]:
        """The files merge-standalone reads besides the pool: its own stages' outputs, its inputs."""
        return self.inputs()

    def sample_deps(self) -> list[str]:
        """The files `sample` reads to draw the pool from `candidates` (none by default)."""
        return []

    def candidates(self) -> list[str] | None:
        """The architectures the pool is drawn from, if the source covers only some of the space (a
        benchmark's records): one string per isomorphism class, in a fixed order; None: the whole space."""
        return None

    def pick_deps(self) -> list[str]:
        """The files train-picks reads besides the picks."""
        return ([L.split(s).as_posix() for s in L.SPLITS] if self.trains else []) + self.inputs()

    # --- the answers ----------------------------------------------------------------------------
    def pool(self, archs: pd.DataFrame) -> pd.DataFrame:
        """Results of the sampled pool (arch_id, arch, canonical, ...)."""
        raise NotImplementedError

    def lookup(self, archs: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
        """Results of `archs` (arch_id, arch, canonical), any architectures of the space."""
        raise NotImplementedError


def sharded_stage(name: str, shards: int, deps: list[str], params: list[str], out) -> dict:
    """{name: the DVC spec of a stage run once per shard}: `nas <name> --shard K/N` for K in 1..N,
    `out(k)` the path shard k writes (called with DVC's "${item}")."""
    return {name: {"foreach": list(range(1, shards + 1)),
                   "do": {"cmd": f"nas {name} --shard ${{item}}/{shards}", "deps": deps, "params": params,
                          "outs": [out("${item}").as_posix()]}}}


SOURCES = Registry("source", "standalone.source")  # name -> Source subclass
register_source = SOURCES.register  # class decorator: add a source under its `name`
get_source = SOURCES.lookup


def source_for(cfg) -> Source:
    """The study's ground-truth source (standalone.source), with its settings."""
    return get_source(cfg.standalone.source)(cfg)
