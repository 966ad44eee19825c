"""Ground truth from a table a user supplies (`standalone.source: table`): a Parquet or CSV file
with an architecture string and its accuracy in percent, e.g. exported from a benchmark.

Settings (`standalone.table`, `TableSettings`): `path`, `arch_column`, `accuracy_column`. A row is
matched by architecture string, or else by canonical form (an isomorphic cell computes the same
function; `space.isomorphism` decides what counts as one). The one accuracy fills both the valid and
the test columns, with seed 0 (a table has no seeds). Nothing is trained: merge-standalone and
train-picks look every architecture up, and a sampled architecture the table lacks is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas import io, spaces, standalone
from nas.io import UserError
from nas.settings import cut, opt, show
from nas.spaces.base import shown
from nas.truth.base import Source, register_source


@dataclass(frozen=True)
class TableSettings:
    path: str | None = opt(None, doc="the Parquet or CSV file (required)")
    arch_column: str = opt("arch", doc="the column of architecture strings (the space's format)")
    accuracy_column: str = opt("accuracy", doc="the column of accuracies, percent 0-100")


def read_table(path: str | Path, arch_column: str, accuracy_column: str) -> tuple[list[str], np.ndarray]:
    """The table's architecture strings and accuracies (float, NaN where empty)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"standalone.table.path: {path} not found")
    if path.suffix.lower() == ".csv":
        try:
            table = pd.read_csv(path)
        except Exception as exc:
            raise UserError(f"standalone.table.path: {path} is not a readable CSV ({io._first_line(exc)})") from None
    else:
        table = io.read_parquet(path)
    missing = [c for c in (arch_column, accuracy_column) if c not in table.columns]
    if missing:
        keys = {arch_column: "standalone.table.arch_column", accuracy_column: "standalone.table.accuracy_column"}
        raise UserError(f"standalone.table: {path} has no column {show(missing[0])} (named by "
                        f"{keys[missing[0]]}); it has {', '.join(map(str, table.columns))}")
    accuracy = pd.to_numeric(table[accuracy_column], errors="coerce")
    bad = table[accuracy_column][accuracy.isna() & table[accuracy_column].notna()]
    if len(bad):
        raise UserError(f"standalone.table: {path} column {show(accuracy_column)} holds values that are not "
                        f"numbers, e.g. {show(str(bad.iloc[0]), 40)}")
    values = accuracy.to_numpy(dtype=float)
    outside = ~((values >= 0) & (values <= 100)) & ~np.isnan(values)  # inf too
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise UserError(f"standalone.table: {path} row {row + 1}: accuracy {values[row]:g} is not a percentage in "
                        f"0..100 (column {show(accuracy_column)})")
    archs = table[arch_column].astype(str).tolist()
    first: dict[str, int] = {}
    for row, (arch, acc) in enumerate(zip(archs, values)):
        if np.isnan(acc):
            continue
        seen = first.setdefault(arch, row)
        if seen != row and values[seen] != acc:
            raise UserError(f"standalone.table: {path} rows {seen + 1} and {row + 1} give architecture "
                            f"{shown(arch)} two accuracies ({values[seen]:g} and {acc:g}); keep one")
    return archs, values


def from_table(archs: pd.DataFrame, path: str | Path, arch_column: str, accuracy_column: str,
               space) -> pd.DataFrame:
    """Results of `archs` (arch_id, arch, canonical) looked up in the table, by string, else by
    canonical form."""
    strings, accuracies = read_table(path, arch_column, accuracy_column)
    exact = {a: acc for a, acc in zip(strings, accuracies) if not np.isnan(acc)}  # one value each (read_table)
    by_canon = {}
    for a, acc in exact.items():
        try:
            by_canon.setdefault(space.canonical(a), acc)
        except UserError:
            continue  # rows the space cannot parse are simply never matched
    rows, absent = [], []
    for arch_id, arch, canon in zip(archs["arch_id"], archs["arch"], archs["canonical"]):
        acc = exact.get(arch, by_canon.get(canon))
        if acc is None or not np.isfinite(acc):
            absent.append(arch)
            continue
        rows.append({"arch_id": int(arch_id), "arch": arch, "seed": 0, "train_accuracy": np.nan,
                     "valid_accuracy": acc, "valid_loss": np.nan, "test_accuracy": acc, "test_loss": np.nan})
    if absent:
        raise UserError(f"standalone.table: {path} lacks {len(absent)} sampled architecture(s), e.g. "
                        f"{', '.join(cut(a, 200) for a in absent[:3])}")
    return standalone.sorted_results(pd.DataFrame(rows, columns=standalone.RESULT_COLUMNS))


@register_source
class Table(Source):
    """One accuracy per architecture, read from a file."""

    name = "table"
    Settings = TableSettings

    @classmethod
    def check(cls, cfg) -> None:
        s = cfg.standalone.settings
        if not s.path:
            raise UserError("standalone.table.path: required when standalone.source is table")
        if "${" in s.path or "{" in s.path:
            # dvc.yaml would read ${...} as its own interpolation, Snakemake {...} as a wildcard
            raise UserError(f"standalone.table.path: {s.path[:80]!r} is not allowed; a path without '${{' or braces")

    def params(self) -> list[str]:
        # A table is matched by string, then by canonical form: the isomorphism convention decides the match.
        return ["space.isomorphism", "standalone.source", "standalone.table"]

    def inputs(self) -> list[str]:
        return [self.settings.path]

    def pool(self, archs: pd.DataFrame) -> pd.DataFrame:
        return self.lookup(archs)

    def lookup(self, archs: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
        s = self.settings
        return from_table(archs, s.path, s.arch_column, s.accuracy_column, spaces.study_space(self.cfg.space))
