"""Ground truth from a benchmark's own records (`standalone.source: benchmark`): the files researchers
have downloaded — NAS-Bench-201's `.pth`, NATS-Bench's topology folder, NDS's JSON, NAS-Bench-101's
`.tfrecord` — read by `nas.truth.benchfiles` (which never executes anything from a file).

Settings (`standalone.benchmark`, `BenchmarkSettings`): `format`, `path`, `dataset`, `budget`,
`missing`, `shards`. The defaults are what the papers report: NAS-Bench-201's `cifar10` (trained on
train+valid; its `ori-test` accuracy is the "CIFAR-10 test accuracy" of DARTS-PT's and Yu et al.'s
tables) after the full 200-epoch budget; the valid column is the same seed's `cifar10-valid` run.
`budget` left out is the format's own (`DEFAULT_BUDGET`): 200 for NB201/NATS, NAS-Bench-101's 108 epochs
(what its paper and Yu et al. report), NDS's null (the file's own epochs).

The `import-benchmark` stage (one job per part; the NATS folder and the NAS-Bench-101 file can be read
in parts, by architecture index ranges) writes the records as the study's own Parquet once: one row per
(architecture, benchmark seed) with the accuracies, params, FLOPs, latency and budget, keyed by the
space's canonical form under `space.isomorphism` (NAS-Bench-201's own unique cells with
`isomorphism: benchmark`). Everything after reads those parts, never the benchmark again:
  sample             draws the pool among the distinct cells the benchmark holds (`sample.archs: all`:
                     every one of them), so every pool member has a record;
  merge-standalone   the pool's records, one row per benchmark seed (the benchmark's own seed-to-seed
                     tau becomes the study's noise reference);
  train-picks        looks every pick outside the pool up; it trains nothing. A pick the benchmark
                     lacks is an error naming it, or with `missing: skip` left out (the selection
                     summary's run count shows how many were).
A record is matched by architecture string, else by canonical form (an isomorphic cell computes the
same function; NDS lists each genotype in one of its numberings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas import io, spaces, standalone
from nas import layout as L
from nas.io import UserError
from nas.registry import OwnStage
from nas.settings import cut, opt, parse_shard, show
from nas.truth import benchfiles
from nas.truth.base import Source, register_source, sharded_stage

# The search space each format's architectures belong to.
SPACE_OF = {"nb201_pth": "nb201", "nats_tss": "nb201", "nds": "darts", "nb101_tfrecord": "nb101"}
# The budget a format is read at when standalone.benchmark.budget is left out: what its papers report.
DEFAULT_BUDGET = {"nb201_pth": 200, "nats_tss": 200, "nds": None, "nb101_tfrecord": 108}
# Formats read in parts (index ranges) by `shards` import jobs.
SHARDED = ("nats_tss", "nb101_tfrecord")
MISSING = ("error", "skip")
_PER_FORMAT = 0  # budget's default, replaced by DEFAULT_BUDGET[format]: no budget a user can write (min 1)


@dataclass(frozen=True)
class BenchmarkSettings:
    format: str | None = opt(None, doc="nb201_pth (NAS-Bench-201 .pth) | nats_tss (NATS-Bench topology folder) | "
                                       "nds (NDS JSON) | nb101_tfrecord (NAS-Bench-101 nasbench_only108.tfrecord "
                                       "or nasbench_full.tfrecord) (required)")
    path: str | None = opt(None, doc="the benchmark file, or the NATS folder (required)")
    dataset: str = opt("cifar10", doc="cifar10-valid | cifar10 | cifar100 | ImageNet16-120 (NB201/NATS); "
                                      "NDS and NB101: cifar10")
    budget: int | None = opt(_PER_FORMAT, min=1, doc="the training epochs of the records: NB201/NATS 12 or 200 "
                                                     "(default 200); NB101 4, 12, 36 or 108 (default 108; the "
                                                     "only108 file holds 108 only); NDS null (its own, the default)")
    missing: str = opt("error", choices=MISSING, doc="a pick the benchmark lacks: error, or skip (counted)")
    shards: int = opt(1, min=1, max=256, doc="import jobs: the NATS folder and the NB101 file are read in index "
                                             "ranges; others 1")

    def __post_init__(self):
        if self.budget == _PER_FORMAT:  # left out: the format's own (NB201's 200 for an unknown format)
            object.__setattr__(self, "budget", DEFAULT_BUDGET.get(self.format, 200))


def shard_range(count: int, k: int, n: int) -> range:
    """Architecture indices of part k of n: contiguous ranges of nearly equal size."""
    return range((k - 1) * count // n, k * count // n)


def import_benchmark(cfg, shard: str = "1/1", workers: int = 0) -> list[Path]:
    """The `import-benchmark` stage: part K of N of the benchmark's records, with canonical forms."""
    k, n = parse_shard(shard)
    s = cfg.standalone.settings
    if cfg.standalone.source != Benchmark.name:
        raise UserError(f"standalone.source is {cfg.standalone.source!r}: there is no benchmark to import")
    if n != s.shards:
        raise UserError(f"--shard {shard}: N must equal standalone.benchmark.shards ({s.shards})")
    indices = shard_range(benchfiles.arch_count(s.format, s.path), k, n) if n > 1 else None
    records = benchfiles.read_records(s.format, s.path, s.dataset, s.budget, indices)
    space = spaces.study_space(cfg.space)
    canonical = {}
    for index, arch in zip(records["index"], records["arch"]):
        if arch not in canonical:
            try:
                canonical[arch] = space.canonical(arch)
            except UserError as exc:
                raise UserError(f"standalone.benchmark.path: {s.path} architecture {int(index)} is not a cell of "
                                f"space {cfg.space.name} ({exc})") from None
    records.insert(2, "canonical", [canonical[a] for a in records["arch"]])
    io.write_parquet(records.astype({"index": "int64", "seed": "int64", "epochs": "int64"}), L.benchmark_part(k))
    return [L.benchmark_part(k)]


def read_parts(count: int) -> pd.DataFrame:
    """The imported records of all `count` parts, by (index, seed)."""
    parts = [io.read_parquet(L.benchmark_part(k), L.SCHEMAS["benchmark"]) for k in range(1, count + 1)]
    return pd.concat(parts, ignore_index=True).sort_values(["index", "seed"], kind="stable").reset_index(drop=True)


def look_up(records: pd.DataFrame, archs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(results of `archs` (arch_id, arch, canonical) from the records, one row per benchmark seed;
    the architecture strings without a record). A string is matched as it is, else by canonical form
    (the record with the lowest index)."""
    first = records.drop_duplicates("index")
    by_arch = dict(zip(first["arch"], first["index"]))
    by_canon = {}
    for canon, index in zip(first["canonical"], first["index"]):
        by_canon.setdefault(canon, index)
    matched, absent = [], []
    for arch_id, arch, canon in zip(archs["arch_id"], archs["arch"], archs["canonical"]):
        index = by_arch.get(arch, by_canon.get(canon))
        if index is None:
            absent.append(arch)
        else:
            matched.append((int(arch_id), arch, int(index)))
    # One join for the whole pool (a whole-space pool is thousands of cells): each match gets its seeds' rows.
    wanted = pd.DataFrame(matched, columns=["arch_id", "arch", "index"]).astype({"index": "int64"})
    results = wanted.merge(records.drop(columns="arch"), on="index", how="inner", validate="one_to_many")
    results = results.assign(valid_loss=np.nan, test_loss=np.nan)
    return standalone.sorted_results(results[standalone.RESULT_COLUMNS]), absent


@register_source
class Benchmark(Source):
    """A benchmark's records, imported once and looked up; nothing is trained."""

    name = "benchmark"
    Settings = BenchmarkSettings
    own_stages = (OwnStage("import-benchmark", "read the benchmark's records into the study (one part)", "shard",
                           import_benchmark, threads=1, mem_mb=32000, runtime=120),)

    @classmethod
    def check(cls, cfg) -> None:
        s = cfg.standalone.settings
        where = "standalone.benchmark"
        if s.format is None or s.path is None:
            raise UserError(f"{where}.{'format' if s.format is None else 'path'}: required when standalone.source "
                            f"is benchmark (format: one of {', '.join(benchfiles.FORMATS)}; path: the file or folder)")
        if s.format not in benchfiles.FORMATS:
            raise UserError(f"{where}.format: {show(s.format)} is not allowed; expected one of "
                            f"{', '.join(benchfiles.FORMATS)}")
        if "${" in s.path or "{" in s.path:
            # dvc.yaml would read ${...} as its own interpolation, Snakemake {...} as a wildcard
            raise UserError(f"{where}.path: {cut(s.path, 80)!r} is not allowed; a path without '${{' or braces")
        if cfg.space.name != SPACE_OF[s.format]:
            raise UserError(f"{where}.format: {s.format} holds cells of space {SPACE_OF[s.format]}, but space.name "
                            f"is {cfg.space.name}")
        datasets = benchfiles.DATASETS[s.format]
        if s.dataset not in datasets:
            raise UserError(f"{where}.dataset: {show(s.dataset)} is not in format {s.format}; expected one of "
                            f"{', '.join(datasets)}")
        budgets = benchfiles.BUDGETS[s.format]
        if (s.budget is None) != (not budgets) or (budgets and s.budget not in budgets):
            allowed = ", ".join(map(str, budgets)) if budgets else "null (the file's own epochs)"
            raise UserError(f"{where}.budget: {show(s.budget)} is not allowed for format {s.format}; expected {allowed}")
        if s.shards > 1 and s.format not in SHARDED:
            raise UserError(f"{where}.shards: {s.shards} is not allowed; format {s.format} is read whole (only "
                            f"{' and '.join(SHARDED)} are read in parts); use 1")
        if cfg.data.dataset == "mnist1d":
            raise UserError(f"data.dataset: mnist1d, but the benchmark's records are of {s.dataset}; the super-net "
                            "must train on the benchmark's data (data.dataset: cifar10 or cifar100)")

    @property
    def skips_missing(self) -> bool:
        return self.settings.missing == "skip"

    def params(self) -> list[str]:
        # The records are keyed by canonical form: the space and its isomorphism convention decide it.
        return ["space.name", "space.isomorphism", "standalone.source", "standalone.benchmark"]

    def inputs(self) -> list[str]:
        return [self.settings.path]

    def stages(self) -> dict:
        return sharded_stage("import-benchmark", self.settings.shards, [self.settings.path], self.params(),
                             L.benchmark_part)

    def _parts(self) -> list[str]:
        return [L.benchmark_part(k).as_posix() for k in range(1, self.settings.shards + 1)]

    def sample_deps(self) -> list[str]:
        return self._parts()

    def pool_deps(self) -> list[str]:
        return self._parts()

    def pick_deps(self) -> list[str]:
        return self._parts()

    def merge_params(self) -> list[str]:
        return ["standalone.source", "standalone.benchmark"]

    def candidates(self) -> list[str]:
        """One architecture per canonical form the benchmark holds, the lowest index first."""
        records = read_parts(self.settings.shards)
        first = records.drop_duplicates("canonical")
        return first["arch"].tolist()

    def pool(self, archs: pd.DataFrame) -> pd.DataFrame:
        results, absent = look_up(read_parts(self.settings.shards), archs)
        if absent:
            raise UserError(f"merge-standalone: {len(absent)} sampled architecture(s) have no record in "
                            f"{L.BENCHMARK}, e.g. {cut(absent[0], 120)}; rerun sample after import-benchmark")
        return results

    def lookup(self, archs: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
        s = self.settings
        results, absent = look_up(read_parts(s.shards), archs)
        if absent and s.missing == "error":
            raise UserError(f"standalone.benchmark: {s.path} has no record of {len(absent)} picked "
                            f"architecture(s), e.g. {cut(absent[0], 160)} (standalone.benchmark.missing: skip "
                            "leaves them out)")
        if absent:
            print(f"train-picks: {len(absent)} pick(s) not in the benchmark, left out (benchmark.missing: skip)")
        return results
