"""Small benchmark files in the REAL formats, written with the benchmark packages' own classes and
serialisers, for tests of nas/truth/benchfiles.py and end-to-end tests (from benchfile_writers import ...).

    write_nb201_pth   NAS-Bench-201's .pth: nas_201_api's ArchResults/ResultsCount, torch.save (zip or
                      the legacy serialisation of the 2020 files)
    write_nats_tss    NATS-Bench's topology folder: nats_bench's ArchResults/ResultsCount, pickle_save
    write_nds         an NDS sweep's JSON (json.dump)
    write_nb101_tfrecord  NAS-Bench-101's .tfrecord: TFRecord framing with masked CRC-32Cs computed by the
                      `crc32c` package (the `tfrecord` package's TFRecordWriter writes tf.train.Example records
                      only, not raw bytes: its reader reads the file back), around the JSON rows of the
                      benchmark's api.py, whose metrics are ModelMetrics messages serialized by the `protobuf`
                      package from the benchmark's own compiled descriptor (MODEL_METRICS_DESCRIPTOR)

Every value comes from `fake_accuracy` / `fake_costs`: deterministic, so a test predicts what it reads.
A file written for `archs` that are not the whole space lists just those (meta_archs = archs, indices
0..n-1): files stay small, and each index still names its string. Runs are written as NAS-Bench-201's
v1_0 file stores them (`update_OLD_eval`): the last epoch's accuracies only, no times, which the
packages' APIs read as they read the real files; `every_epoch=True` writes every epoch with times, as
v1_1 does, for measuring memory (`measure_pth_memory`). params are a numpy.float64 in millions, as
AutoDL's `count_parameters_in_MB` computes them for the real files.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import json
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

TOPOLOGY_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
# The splits each dataset's runs evaluate on, as NAS-Bench-201 stores them (exps/NAS-Bench-201/statistics.py).
EVAL_SPLITS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
               "cifar100": ("ori-test", "x-valid", "x-test"), "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
Seeds = tuple | Callable[[int, str, int], tuple]  # all runs' seeds, or seeds(index, dataset, budget)


def _unit(*parts) -> float:
    """A deterministic number in [0, 1) from `parts`."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


# 'valid' and 'test' name what benchfiles.read_records reports as valid/test accuracy for a dataset.
_REPORTED = {("cifar10-valid", "valid"): ("cifar10-valid", "x-valid"),
             ("cifar10-valid", "test"): ("cifar10-valid", "ori-test"),
             ("cifar10", "valid"): ("cifar10-valid", "x-valid"), ("cifar10", "test"): ("cifar10", "ori-test"),
             **{(d, s): (d, f"x-{s}") for d in ("cifar100", "ImageNet16-120") for s in ("valid", "test")}}


def fake_accuracy(arch: str, dataset: str, split: str, seed: int, budget: int) -> float:
    """The accuracy (percent, 30..95) the writers store for one run's `split`: a stored name ('train',
    'x-valid', 'ori-test', 'x-test'), or 'valid' / 'test' for what read_records reports as such (cifar10's
    valid: the same seed's cifar10-valid 'x-valid'; NDS: dataset 'cifar10', 'train' and 'test').
    `budget` is the run's epochs."""
    dataset, split = _REPORTED.get((dataset, split), (dataset, split))
    return round(30 + 65 * _unit(arch, dataset, split, seed, budget), 4)


# The one cell whose counts NAS-Bench-201 publishes (C=16, N=5, CIFAR-10): the writers store them.
ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
PUBLISHED_COSTS = {(ALL_3X3, "cifar10"): (1.531546, 220.11969), (ALL_3X3, "cifar10-valid"): (1.531546, 220.11969)}


def fake_costs(arch: str, dataset: str) -> tuple[float, float, float]:
    """(params in millions, MFLOPs, latency in seconds) the writers store for `arch` on `dataset`
    (the benchmark's own numbers for the cell it publishes them for)."""
    if (arch, dataset) in PUBLISHED_COSTS:
        return (*PUBLISHED_COSTS[arch, dataset], round(0.005 + 0.03 * _unit(arch, dataset, "latency"), 6))
    return (round(0.07 + 1.5 * _unit(arch, dataset, "params"), 6), round(8 + 210 * _unit(arch, dataset, "flops"), 5),
            round(0.005 + 0.03 * _unit(arch, dataset, "latency"), 6))


def _seeds(seeds: Seeds, index: int, dataset: str, budget: int) -> tuple:
    return tuple(seeds(index, dataset, budget)) if callable(seeds) else tuple(seeds)


def _results_count(cls, arch: str, dataset: str, seed: int, budget: int, legacy: bool, every_epoch: bool):
    """One run as a ResultsCount of the package `cls` comes from."""
    last = budget - 1
    epochs = range(budget) if every_epoch else (last,)

    def per_epoch(split):
        final = fake_accuracy(arch, dataset, split, seed, budget)
        return {e: final if e == last else round(final * (e + 1) / budget, 4) for e in epochs}

    params, flops, latency = fake_costs(arch, dataset)
    if legacy and seed != 888:  # NATS-Bench issue 36: a legacy migration left other seeds' costs wrong
        params, flops = round(params * 0.8, 6), round(flops * 0.8, 5)
    losses = {e: 1.0 / (e + 1) for e in epochs}
    config = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": CLASSES[dataset]}
    run = cls(dataset, None, per_epoch("train"), losses, np.float64(params), flops, config, seed, budget, [latency])
    if every_epoch:  # v1_1's layout: every epoch of every split, with times
        run.update_train_info(per_epoch("train"), None, losses, {e: 20.0 for e in epochs})
        accs, times, eval_losses = {}, {}, {}
        for split in EVAL_SPLITS[dataset]:
            for e, acc in per_epoch(split).items():
                accs[f"{split}@{e}"], times[f"{split}@{e}"], eval_losses[f"{split}@{e}"] = acc, 1.5, 1.0 / (e + 1)
        run.update_eval(accs, eval_losses, times)
    else:
        for split in EVAL_SPLITS[dataset]:
            run.update_OLD_eval(split, {last: fake_accuracy(arch, dataset, split, seed, budget)}, {last: 0.5})
    return run


def _arch_results(module, index: int, arch: str, datasets, budget: int, seeds: Seeds, legacy: bool,
                  every_epoch: bool):
    results = module.ArchResults(index, arch)
    for dataset in datasets:
        for seed in _seeds(seeds, index, dataset, budget):
            results.update(dataset, seed, _results_count(module.ResultsCount, arch, dataset, seed, budget,
                                                         legacy, every_epoch))
    return results


def write_nb201_pth(path, archs: list[str], *, seeds: Seeds = (777, 888, 999), zip: bool = True,
                    datasets=TOPOLOGY_DATASETS, budgets=(12, 200), legacy_costs=(), every_epoch: bool = False) -> None:
    """A NAS-Bench-201 .pth of `archs` (indices 0..n-1): {'meta_archs', 'total_archs', 'arch2infos':
    {index: {'less': 12-epoch ArchResults state, 'full': 200-epoch}}, 'evaluated_indexes'}. `zip`:
    torch's zip format, else the legacy one of the 2020 files. A budget left out is written empty (the
    package requires both keys). `legacy_costs`: indices whose seeds other than 888 store other params
    and FLOPs. `seeds`: a tuple, or seeds(index, dataset, budget)."""
    import nas_201_api
    import torch

    def results(index, arch, budget):
        chosen = datasets if budget in budgets else ()
        return _arch_results(nas_201_api, index, arch, chosen, budget, seeds, index in legacy_costs,
                             every_epoch).state_dict()

    infos = {i: {"less": results(i, a, 12), "full": results(i, a, 200)} for i, a in enumerate(archs)}
    data = {"meta_archs": list(archs), "total_archs": len(archs), "arch2infos": infos,
            "evaluated_indexes": list(range(len(archs)))}
    torch.save(data, path, _use_new_zipfile_serialization=zip)


def write_nats_tss(folder, archs: list[str], *, seeds: Seeds = (777, 888, 999), datasets=TOPOLOGY_DATASETS,
                   budgets=(12, 200), legacy_costs=(), every_epoch: bool = False) -> None:
    """A NATS-Bench topology folder of `archs` (indices 0..n-1): meta.pickle.pbz2 ({'meta_archs',
    'total_archs'}) and {index:06d}.pickle.pbz2 = OrderedDict({'12': ArchResults state, '200': ...}),
    written with nats_bench's pickle_save. Arguments as write_nb201_pth's."""
    import nats_bench.api_utils as nats

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nats.pickle_save({"meta_archs": list(archs), "total_archs": len(archs)}, str(folder / "meta.pickle"))
    for index, arch in enumerate(archs):
        hp = OrderedDict((str(b), _arch_results(nats, index, arch, datasets, b, seeds, index in legacy_costs,
                                                every_epoch).state_dict()) for b in budgets)
        nats.pickle_save(hp, str(folder / f"{index:06d}.pickle"))


def _genotype_lists(genotype: str) -> dict:
    """{'normal': [[op, input], ...], 'normal_concat': [...], ...} of a Genotype(...) string, in its order."""
    call = ast.parse(genotype, mode="eval").body
    return {k.arg: [list(p) if isinstance(p, tuple) else p for p in ast.literal_eval(k.value)] for k in call.keywords}


def write_nds(path, genotypes: list[str], *, seeds=(1, 2), width=16, depth=8, epochs: int = 100) -> None:
    """An NDS sweep JSON: one record per (seed, genotype), seed-major, so a genotype's repeats come after
    every first appearance. Test error at epoch e is 100 - accuracy; the last epoch's accuracy is
    fake_accuracy(darts-formatted genotype, 'cifar10', 'test' or 'train', seed, epochs)."""
    from nas.spaces import darts

    records = []
    for seed in seeds:
        for genotype in genotypes:
            arch = darts.SPACE.format(darts.SPACE.parse(genotype))
            final = {split: fake_accuracy(arch, "cifar10", split, seed, epochs) for split in ("train", "test")}
            curve = {split: [round(100 - acc * (e + 1) / epochs, 4) for e in range(epochs)]
                     for split, acc in final.items()}
            params, flops, _ = fake_costs(arch, "cifar10")
            records.append({"net": {"genotype": _genotype_lists(genotype), "width": width, "depth": depth,
                                    "aux": False, "drop_prob": 0.0},
                            "optim": {"base_lr": 0.1, "wd": 5e-4, "max_ep": epochs},
                            "rng_seed": seed, "params": round(params * 1e6), "flops": round(flops * 1e6),
                            "train_ep_top1": curve["train"], "test_ep_top1": curve["test"]})
    Path(path).write_text(json.dumps(records))


def all_nb201_archs() -> list[str]:
    """The 15,625 NAS-Bench-201 cell strings (the set, not the benchmark's index order: a written file's
    indices are its own)."""
    import itertools

    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    return ["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*c) for c in itertools.product(ops, repeat=6)]


def measure_pth_memory(folder, n_archs: int = 300) -> dict:
    """Bytes of Python objects per byte of file for a legacy .pth written like NAS-Bench-201-v1_1's
    (every epoch, 3 seeds, 4 datasets, 12 and 200 epochs), read by benchfiles' safe unpickler."""
    import gc
    import os
    import tracemalloc

    from nas.truth import benchfiles

    path = Path(folder) / "measure.pth"
    write_nb201_pth(path, all_nb201_archs()[:n_archs], zip=False, every_epoch=True)
    gc.collect()
    tracemalloc.start()
    obj = benchfiles._read_pth(path)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del obj
    size = os.path.getsize(path)
    return {"file_bytes": size, "object_bytes": held, "ratio": held / size, "per_arch_file_bytes": size / n_archs}


def fake_cifar(root, rows: int = 24) -> None:
    """CIFAR-10's python batches, `rows` random images each (the super-net trains on them)."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, rows).tolist()}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))


# --- NAS-Bench-101 --------------------------------------------------------------------------------

# google-research/nasbench nasbench/lib/model_metrics_pb2.py's serialized FileDescriptorProto, verbatim: the
# benchmark's compiled lib/model_metrics.proto (package nasbench; ModelMetrics, EvaluationData).
MODEL_METRICS_DESCRIPTOR = (
    b'\n\x13model_metrics.proto\x12\x08nasbench\"s\n\x0cModelMetrics\x12\x31\n\x0f\x65valuation_data\x18\x01 '
    b'\x03(\x0b\x32\x18.nasbench.EvaluationData\x12\x1c\n\x14trainable_parameters\x18\x02 \x01(\x05\x12\x12\n'
    b'\ntotal_time\x18\x03 \x01(\x01\"\xa3\x01\n\x0e\x45valuationData\x12\x15\n\rcurrent_epoch\x18\x01 \x01(\x01'
    b'\x12\x15\n\rtraining_time\x18\x02 \x01(\x01\x12\x16\n\x0etrain_accuracy\x18\x03 \x01(\x01\x12\x1b\n\x13'
    b'validation_accuracy\x18\x04 \x01(\x01\x12\x15\n\rtest_accuracy\x18\x05 \x01(\x01\x12\x17\n\x0f\x63heckpoint_'
    b'path\x18\x06 \x01(\t')
TFRECORD_MASK = 0xA282EAD8


@functools.lru_cache(maxsize=None)
def model_metrics_class():
    """nasbench.ModelMetrics as a `protobuf` message class, built from MODEL_METRICS_DESCRIPTOR in a pool
    of its own (no generated code, no TensorFlow)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(MODEL_METRICS_DESCRIPTOR))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C, with the `crc32c` package."""
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + TFRECORD_MASK) & 0xFFFFFFFF


def tfrecord_frame(data: bytes) -> bytes:
    """One TFRecord record: uint64 length, masked CRC of the length, the data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def write_tfrecords(path, records) -> None:
    """A TFRecord file of the raw `records` (bytes), in order."""
    with open(path, "wb") as f:
        for data in records:
            f.write(tfrecord_frame(data))


def fake_nb101_params(arch: str) -> int:
    """The trainable_parameters the writer stores for `arch` (the space's string)."""
    return 200_000 + int(40_000_000 * _unit(arch, "nb101-params"))


def nb101_metrics(arch: str, budget: int, repeat: int) -> bytes:
    """A serialized ModelMetrics of one run, as the benchmark's evaluate.py fills it: evaluations at the start,
    halfway and end of training; the end's accuracies are fake_accuracy(arch, 'cifar10', 'train' / 'valid' /
    'test', repeat, budget) / 100 (the file stores fractions)."""
    metrics = model_metrics_class()(trainable_parameters=fake_nb101_params(arch),
                                    total_time=round(100 + 4000 * _unit(arch, budget, repeat, "time"), 3))
    final = {split: fake_accuracy(arch, "cifar10", split, repeat, budget) / 100 for split in ("train", "valid", "test")}
    for share in (0.0, 0.5, 1.0):
        scale = 1.0 if share == 1.0 else 0.1 + share
        steps = int(390 * budget * share)
        metrics.evaluation_data.add(current_epoch=budget * share, training_time=30.0 * budget * share,
                                    train_accuracy=final["train"] * scale, validation_accuracy=final["valid"] * scale,
                                    test_accuracy=final["test"] * scale,
                                    checkpoint_path=f"gs://nasbench/repeat_{repeat + 1}/model.ckpt-{steps}")
    return metrics.SerializeToString()


def nb101_record(module_hash: str, epochs: int, matrix, ops, metrics: bytes) -> bytes:
    """One record's data: the JSON row that api.py's NASBench.__init__ reads (json.loads of the bytes)."""
    adjacency = "".join(str(int(x)) for row in matrix for x in row)
    encoded = base64.b64encode(metrics).decode("ascii")
    return json.dumps([module_hash, epochs, adjacency, ",".join(ops), encoded]).encode()


def write_nb101_tfrecord(path, specs, budgets=(108,), repeats: int = 3) -> list[bytes]:
    """A NAS-Bench-101 .tfrecord of `specs` (Specs, (matrix, ops) pairs or JSON strings; written as given,
    their module hash computed on the pruned cell): for each budget, each repeat, each spec (the
    repeat-major order of run_evaluation.py's work units), one record. Returns the records' data."""
    from nas.spaces import nb101

    records = []
    for budget in budgets:
        for repeat in range(repeats):
            for spec in specs:
                spec = nb101.parse(spec) if isinstance(spec, str) else nb101.make_spec(*spec)
                arch = nb101.format(nb101.prune(spec))
                records.append(nb101_record(nb101.module_hash(spec), budget, spec.matrix, spec.ops,
                                            nb101_metrics(arch, budget, repeat)))
    write_tfrecords(path, records)
    return records
