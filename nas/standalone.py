"""Stand-alone ground truth: every sampled architecture trained from scratch, for each seed, or
accuracies looked up in a table a user supplies (e.g. NAS-Bench-201's).

Training is split into shards (one job each on a cluster) and is resumable: each finished
(architecture, seed) result is written to its own small file under a directory named by a fingerprint
of everything that determines it, so a killed shard rerun trains only what is missing and a change of
params never reuses a stale result. The shard's output is always assembled from those files, sorted,
so it is byte-identical whether or not the run was interrupted.

Every network trains on one thread, whichever worker runs it, so results do not depend on
`--workers`. All architectures with the same seed see the same batch order and, with `init: paired`
(the default), start from the same weights wherever they have the same module: the stem, the
reductions, the head and the same operation on the same edge. That is common random numbers, a paired
design: the difference between two architectures is then not confounded by data order or by one of
them drawing a luckier initialisation, which makes one seed's ranking less noisy.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nas import io, layout
from nas.data import Tensors, load_split, random_crop_flip
from nas.io import UserError
from nas.train import evaluate, make_optimizer, resolve_device, seed_everything, train_epoch

RESULT_COLUMNS = ["arch_id", "arch", "seed", "train_accuracy", "valid_accuracy", "valid_loss",
                  "test_accuracy", "test_loss"]


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    k, n = int(m[1]), int(m[2])
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard {text!r}: K must be between 1 and N (N >= 1)")
    return k, n


def shard(archs: pd.DataFrame, k: int, n: int) -> pd.DataFrame:
    """Shard K of N: every N-th architecture starting at the K-th (interleaved, so shards get a similar
    mix of cheap and expensive cells)."""
    return archs.iloc[k - 1::n]


def paired_init(net: torch.nn.Module, seed: int) -> None:
    """Re-initialise every module that has parameters from a generator seeded by (seed, the module's
    name), so that a module named alike in two architectures starts from the same weights."""
    import hashlib

    state = torch.random.get_rng_state()
    try:
        for name, module in net.named_modules():
            if hasattr(module, "reset_parameters") and any(True for _ in module.parameters(recurse=False)):
                digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
                torch.manual_seed(int.from_bytes(digest[:8], "little"))
                module.reset_parameters()
    finally:
        torch.random.set_rng_state(state)


def train_one(arch: str, seed: int, hp, space, channels: int, cells: int, train: Tensors,
              valid: Tensors, test: Tensors, device: torch.device, augment: bool,
              init: str = "paired") -> dict:
    """Train `arch` from scratch with `seed`; accuracies (percent) and losses on train, valid, test."""
    seed_everything(seed)
    net = space.build(arch, channels, cells, train.shape, train.num_classes)
    if init == "paired":
        paired_init(net, seed)
    net = net.to(device)
    x, y = train.x.to(device), train.y.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer, scheduler = make_optimizer(net, hp, max(1, len(y) // hp.batch_size))
    aug = random_crop_flip if augment and len(train.shape) == 3 else None
    for _ in range(hp.epochs):
        train_epoch(net, x, y, optimizer, scheduler, hp.batch_size, generator, augment=aug)
    net.eval()
    out = {"train_accuracy": evaluate(net, x, y, 1024)[0]}
    for name, split in (("valid", valid), ("test", test)):
        acc, loss = evaluate(net, split.x.to(device), split.y.to(device), 1024)
        out[f"{name}_accuracy"], out[f"{name}_loss"] = acc, loss
    return out


def part_path(progress_dir: Path, arch: str, seed: int) -> Path:
    return progress_dir / f"{io_safe(arch)}-seed{seed}.parquet"


def io_safe(arch: str) -> str:
    """A file-name-safe, unique name for an architecture string."""
    import hashlib
    return hashlib.sha256(arch.encode()).hexdigest()[:16]


# Worker state: each worker process loads the splits once.
_DATA: dict = {}


def _init_worker(split_paths: dict[str, str], parent: int | None = None):
    torch.set_num_threads(1)
    if parent is not None:
        io.exit_with_parent(parent)
    _DATA.update({name: load_split(path) for name, path in split_paths.items()})


def _train_task(arch_id: int, arch: str, seed: int, hp, space_name: str, channels: int, cells: int,
                device: str, augment: bool, out_path: str):
    from nas.spaces import get_space

    result = train_one(arch, seed, hp, get_space(space_name), channels, cells, _DATA["train"],
                       _DATA["valid"], _DATA["test"], torch.device(device), augment,
                       getattr(hp, "init", "paired"))
    row = {"arch_id": arch_id, "arch": arch, "seed": seed, **result}
    io.write_parquet(pd.DataFrame([row], columns=RESULT_COLUMNS), out_path)
    return arch_id, seed, result["test_accuracy"]


def run_shard(archs: pd.DataFrame, seeds: list[int], hp, space_name: str, channels: int, cells: int,
              split_paths: dict[str, str], progress_dir: Path, device: str, augment: bool,
              workers: int = 1) -> pd.DataFrame:
    """Train every (architecture, seed) of `archs` not already in `progress_dir`; return all results."""
    progress_dir.mkdir(parents=True, exist_ok=True)
    todo = [(int(i), a, s) for i, a in zip(archs["arch_id"], archs["arch"]) for s in seeds
            if not part_path(progress_dir, a, s).exists()]
    done = len(archs) * len(seeds) - len(todo)
    bar = io.Progress(len(archs) * len(seeds), "train-standalone")
    bar.done = done
    device = str(resolve_device(device))
    args = [(i, a, s, hp, space_name, channels, cells, device, augment, str(part_path(progress_dir, a, s)))
            for i, a, s in todo]
    if workers <= 1 or len(todo) <= 1:
        threads = torch.get_num_threads()
        _init_worker(split_paths)
        try:
            for a in args:
                arch_id, seed, acc = _train_task(*a)
                bar.update(arch=arch_id, seed=seed, test_acc=acc)
        finally:
            torch.set_num_threads(threads)
    else:
        ctx = get_context("spawn")  # torch and fork do not mix well
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(split_paths, os.getpid())) as pool:
            for future in as_completed([pool.submit(_train_task, *a) for a in args]):
                arch_id, seed, acc = future.result()
                bar.update(arch=arch_id, seed=seed, test_acc=acc)
    bar.close()
    parts = [_read_part(part_path(progress_dir, a, s)) for a in archs["arch"] for s in seeds]
    return _sorted(pd.concat(parts, ignore_index=True))


def _read_part(path) -> pd.DataFrame:
    try:
        return io.read_parquet(path, layout.SCHEMAS["standalone"])
    except UserError as exc:
        raise io.progress_error(exc) from None


def from_table(archs: pd.DataFrame, path: str | Path, arch_column: str, accuracy_column: str,
               space) -> pd.DataFrame:
    """Ground truth read from a Parquet or CSV table (arch string + accuracy in percent), matched by
    architecture string, or else by canonical form (an isomorphic cell computes the same function).
    The one accuracy fills both valid and test columns; seed is 0."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"standalone.table: {path} not found")
    if path.suffix.lower() == ".csv":
        try:
            table = pd.read_csv(path)
        except Exception as exc:
            raise UserError(f"standalone.table: {path} is not a readable CSV ({exc})") from None
    else:
        table = io.read_parquet(path)
    missing = [c for c in (arch_column, accuracy_column) if c not in table.columns]
    if missing:
        keys = {arch_column: "standalone.arch_column", accuracy_column: "standalone.accuracy_column"}
        raise UserError(f"standalone.table: {path} has no column {missing[0]!r} (named by "
                        f"{keys[missing[0]]}); it has {', '.join(map(str, table.columns))}")
    accuracy = pd.to_numeric(table[accuracy_column], errors="coerce")
    bad = table[accuracy_column][accuracy.isna() & table[accuracy_column].notna()]
    if len(bad):
        raise UserError(f"standalone.table: {path} column {accuracy_column!r} holds values that are not numbers, "
                        f"e.g. {str(bad.iloc[0])[:40]!r}")
    exact = dict(zip(table[arch_column].astype(str), accuracy.astype(float)))
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
                        f"{', '.join(absent[:3])}")
    return _sorted(pd.DataFrame(rows, columns=RESULT_COLUMNS))


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
    return _sorted(df)


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
    return _sorted(pd.DataFrame({c: pd.Series(dtype="float64") for c in RESULT_COLUMNS}))


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


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["arch_id", "seed"], kind="stable").reset_index(drop=True)
    return df.astype({"arch_id": "int64", "seed": "int64", "arch": "str"})[RESULT_COLUMNS]


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))
