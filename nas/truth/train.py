"""Ground truth by training: every architecture trained from scratch, once per seed
(`standalone.source: train`, the default; its keys are the `standalone` section's training keys).

Training is split into shards (`train-standalone`, one job each on a cluster) and is resumable: each
finished (architecture, seed) result is written to its own small file under a directory named by a
fingerprint of everything that determines it, so a killed shard rerun trains only what is missing and a
change of params never reuses a stale result. The shard's output is always assembled from those files,
sorted, so it is byte-identical whether or not the run was interrupted. `merge-standalone` joins the
shards; `train-picks` trains the picks outside the pool the same way.

Every network trains on one thread, whichever worker runs it, so results do not depend on
`--workers`. All architectures with the same seed see the same batch order and, with `init: paired`
(the default), start from the same weights wherever they have the same module: the stem, the
reductions, the head and the same operation on the same edge. That is common random numbers, a paired
design: the difference between two architectures is then not confounded by data order or by one of
them drawing a luckier initialisation, which makes one seed's ranking less noisy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from nas import codedeps, io, standalone
from nas import layout as L
from nas.data import Tensors, load_split, random_crop_flip, splits_fingerprint
from nas.io import UserError
from nas.registry import OwnStage
from nas.settings import TrainConfig, fingerprint, parse_shard, shard_of  # noqa: F401 (shard_of: re-exported)
from nas.truth.base import Source, register_source, sharded_stage

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    import torch

# The standalone keys the trained accuracies depend on, beside the optimisation keys.
TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]


def paired_init(net: torch.nn.Module, seed: int) -> None:
    """Re-initialise every module that has parameters from a generator seeded by (seed, the module's
    name), so that a module named alike in two architectures starts from the same weights."""
    import torch

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
    from nas.train import evaluate, make_optimizer, seed_everything, train_epoch

    import torch

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
    import torch

    torch.set_num_threads(1)
    if parent is not None:
        io.exit_with_parent(parent)
    _DATA.update({name: load_split(path) for name, path in split_paths.items()})


def _train_task(arch_id: int, arch: str, seed: int, hp, space_name: str, channels: int, cells: int,
                device: str, augment: bool, out_path: str):
    import torch

    from nas.spaces import get_space

    result = train_one(arch, seed, hp, get_space(space_name), channels, cells, _DATA["train"],
                       _DATA["valid"], _DATA["test"], torch.device(device), augment,
                       getattr(hp, "init", "paired"))
    row = {"arch_id": arch_id, "arch": arch, "seed": seed, **result}
    io.write_parquet(pd.DataFrame([row], columns=standalone.RESULT_COLUMNS), out_path)
    return arch_id, seed, result["test_accuracy"]


def run_shard(archs: pd.DataFrame, seeds: list[int], hp, space_name: str, channels: int, cells: int,
              split_paths: dict[str, str], progress_dir: Path, device: str, augment: bool,
              workers: int = 1) -> pd.DataFrame:
    """Train every (architecture, seed) of `archs` not already in `progress_dir`; return all results."""
    from nas.train import resolve_device

    import torch

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
    return standalone.sorted_results(pd.concat(parts, ignore_index=True))


def _read_part(path) -> pd.DataFrame:
    try:
        return io.read_parquet(path, L.SCHEMAS["standalone"])
    except UserError as exc:
        raise io.progress_error(exc) from None


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))


# --- the source -----------------------------------------------------------------------------------

def progress_dir(cfg) -> Path:
    """Where finished (architecture, seed) trainings are kept: named by everything that sets them, the
    code included (`codedeps.package_digest`)."""
    sc = cfg.standalone
    hp_key = {k: getattr(sc, k) for k in TRAIN_KEYS}
    hp_key["init"] = sc.init
    return L.standalone_progress(fingerprint(hp_key, cfg.space, cfg.data.augment, splits_fingerprint(), cfg.device,
                                             codedeps.package_digest()))


def train(cfg, archs: pd.DataFrame, workers: int) -> pd.DataFrame:
    """Stand-alone results of every (arch, seed in standalone.seeds), trained or taken from progress.
    Every architecture string is parsed first: a malformed one is refused before anything trains."""
    from nas.spaces import get_space

    space = get_space(cfg.space.name)
    for arch_id, arch in zip(archs["arch_id"], archs["arch"]):
        try:
            space.parse(arch)
        except UserError as exc:
            raise UserError(f"arch_id {int(arch_id)}: {exc}; nothing was trained") from None
    sc = cfg.standalone
    return run_shard(archs, sc.seeds, sc, cfg.space.name, cfg.space.channels, cfg.space.cells,
                     {s: str(L.split(s)) for s in L.SPLITS}, progress_dir(cfg), cfg.device, cfg.data.augment,
                     workers or default_workers())


def train_standalone(cfg, shard: str = "1/1", workers: int = 0) -> list[Path]:
    """The `train-standalone` stage: shard K of N of the sampled pool, trained."""
    k, n = parse_shard(shard)
    sc = cfg.standalone
    if sc.source != Train.name:
        raise UserError(f"standalone.source is {sc.source!r}: there is nothing to train (merge-standalone reads "
                        "its ground truth)")
    if n != sc.shards:
        raise UserError(f"--shard {shard}: N must equal standalone.shards ({sc.shards})")
    archs = shard_of(io.read_parquet(L.ARCHS, L.SCHEMAS["archs"]), k, n)
    io.write_parquet(train(cfg, archs, workers), L.shard(k))
    return [L.shard(k)]


@register_source
class Train(Source):
    """Every architecture trained from scratch with the `standalone` section's settings, per seed."""

    name = "train"
    trains = True
    # One process per CPU it may use (up to 8), one thread each.
    own_stages = (OwnStage("train-standalone", "train one shard of architectures from scratch", "shard",
                           train_standalone, threads=8, mem_mb=8000, runtime=480),)

    @classmethod
    def check(cls, cfg) -> None:
        sc = cfg.standalone
        if not sc.seeds:
            raise UserError("standalone.seeds: needs at least one seed")
        if sc.shards > cfg.sample.archs:
            raise UserError(f"standalone.shards: {sc.shards} is more than sample.archs ({cfg.sample.archs})")

    def params(self) -> list[str]:
        return (["device", "space", "data.augment", "standalone.seeds", "standalone.source", "standalone.init"]
                + [f"standalone.{k}" for k in TRAIN_KEYS])

    def stages(self) -> dict:
        params = self.params()
        return sharded_stage("train-standalone", self.cfg.standalone.shards,
                             [L.ARCHS.as_posix()] + [L.split(s).as_posix() for s in L.SPLITS],
                             params[:4] + ["standalone.shards"] + params[4:], L.shard)

    def pool_deps(self) -> list[str]:
        return [L.shard(k).as_posix() for k in range(1, self.cfg.standalone.shards + 1)]

    def merge_params(self) -> list[str]:
        return ["standalone.source", "standalone.seeds", "standalone.shards"]

    def pool(self, archs: pd.DataFrame) -> pd.DataFrame:
        sc = self.cfg.standalone
        merged = standalone.merge([io.read_parquet(L.shard(k), L.SCHEMAS["standalone"]) for k in range(1, sc.shards + 1)])
        standalone.check_complete(merged, archs, sc.seeds)
        return merged

    def lookup(self, archs: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
        return train(self.cfg, archs, workers)
