"""The benchmark ground-truth source (`standalone.source: benchmark`, nas/truth/benchmark.py): its settings
refused with one line each, the budget's default per format, the pool drawn among what the benchmark
holds, lookups by string and by canonical form (NAS-Bench-201's cells and NAS-Bench-101's), and the
benchmark's params and FLOPs beside the project's own counts."""

from __future__ import annotations

import copy
import itertools

import pandas as pd
import pytest

from benchfile_writers import fake_accuracy, fake_cifar, fake_nb101_params, write_nb101_tfrecord, write_nb201_pth
from helpers import TINY, TINY_NB101, one_line_error
from nas import config, io, stages
from nas import layout as L
from nas.spaces import get_space
from nas.truth import benchmark

CIFAR = {"dataset": "cifar10", "root": "cifar"}


def params(**bench) -> dict:
    p = copy.deepcopy(TINY)
    p["data"] = dict(CIFAR)
    p["standalone"] = {"source": "benchmark", "benchmark": {"format": "nb201_pth", "path": "b.pth", **bench}}
    return p


@pytest.mark.parametrize("bench, extra, expected", [
    ({"format": None}, {}, "standalone.benchmark.format: required when standalone.source is benchmark"),
    ({"path": None}, {}, "standalone.benchmark.path: required when standalone.source is benchmark"),
    ({"format": "nb101"}, {}, "standalone.benchmark.format: 'nb101' is not allowed; expected one of nb201_pth, "
                              "nats_tss, nds, nb101_tfrecord"),
    ({"format": "nb101_tfrecord"}, {}, "standalone.benchmark.format: nb101_tfrecord holds cells of space nb101, but "
                                       "space.name is nb201"),
    ({"dataset": "mnist"}, {}, "standalone.benchmark.dataset: 'mnist' is not in format nb201_pth; expected one of "
                               "cifar10-valid, cifar10, cifar100, ImageNet16-120"),
    ({"budget": 100}, {}, "standalone.benchmark.budget: 100 is not allowed for format nb201_pth; expected 12, 200"),
    ({"format": "nds", "budget": 200}, {"space": {"name": "darts"}},
     "standalone.benchmark.budget: 200 is not allowed for format nds; expected null (the file's own epochs)"),
    ({"shards": 2}, {}, "standalone.benchmark.shards: 2 is not allowed; format nb201_pth is read whole (only "
                        "nats_tss and nb101_tfrecord are read in parts); use 1"),
    ({"budget": 0}, {}, "standalone.benchmark.budget: 0 is not allowed; expected an integer >= 1 or null"),
    ({"format": "nds", "budget": None}, {}, "standalone.benchmark.format: nds holds cells of space darts, but "
                                            "space.name is nb201"),
    ({"path": "${x}"}, {}, "standalone.benchmark.path: '${x}' is not allowed"),
    ({"missing": "ignore"}, {}, "standalone.benchmark.missing: 'ignore' is not allowed; expected one of error, skip"),
    ({}, {"data": {"dataset": "mnist1d"}}, "data.dataset: mnist1d, but the benchmark's records are of cifar10"),
])
def test_bad_settings_are_one_line_naming_the_key(bench, extra, expected):
    assert one_line_error(config.from_dict, {**params(**bench), **extra}).startswith(expected)


def nb101_params(**bench) -> dict:
    p = copy.deepcopy(TINY_NB101)
    p["data"] = dict(CIFAR)
    p["standalone"] = {"source": "benchmark",
                       "benchmark": {"format": "nb101_tfrecord", "path": "nasbench_only108.tfrecord", **bench}}
    return p


def test_the_budget_left_out_is_the_formats_own():
    def budget(p):
        return config.from_dict(p).standalone.settings.budget

    assert budget(params()) == 200 and budget(params(format="nats_tss")) == 200  # NAS-Bench-201's, as before
    assert budget(params(budget=12)) == 12
    assert budget({**params(format="nds"), "space": {"name": "darts"}}) is None  # NDS: the file's own epochs
    cfg = config.from_dict(nb101_params())
    assert cfg.standalone.settings.budget == 108 and cfg.standalone.settings.dataset == "cifar10"
    assert config.from_dict(config.to_dict(cfg)) == cfg  # written to params.yaml as 108, read back the same
    assert budget(nb101_params(budget=4)) == 4 and budget(nb101_params(shards=3)) == 108
    for bench, expected in (({"budget": 200}, "standalone.benchmark.budget: 200 is not allowed for format "
                                              "nb101_tfrecord; expected 4, 12, 36, 108"),
                            ({"budget": None}, "standalone.benchmark.budget: null is not allowed for format "
                                               "nb101_tfrecord"),
                            ({"dataset": "cifar100"}, "standalone.benchmark.dataset: 'cifar100' is not in format "
                                                      "nb101_tfrecord; expected one of cifar10"),
                            ({"format": "nb201_pth"}, "standalone.benchmark.format: nb201_pth holds cells of space "
                                                      "nb201, but space.name is nb101")):
        assert one_line_error(config.from_dict, nb101_params(**bench)).startswith(expected)


def relabelled(spec):
    """Another labelling of the same NAS-Bench-101 cell (inner vertices permuted, still upper triangular), or None."""
    from nas.spaces.nb101 import Spec

    n = len(spec.ops)
    for inner in itertools.permutations(range(1, n - 1)):
        order = (0, *inner, n - 1)
        matrix = tuple(tuple(spec.matrix[order[i]][order[j]] for j in range(n)) for i in range(n))
        other = Spec(matrix, tuple(spec.ops[k] for k in order))
        if other != spec and not any(matrix[i][j] for i in range(n) for j in range(i + 1)):
            return other
    return None


@pytest.mark.parametrize("shards", [1, 2])
def test_nb101_cells_are_looked_up_in_the_tfrecord(tmp_path, monkeypatch, shards):
    """A NAS-Bench-101 .tfrecord (only108's shape: 3 repeats at 108 epochs) imported, in one part or two:
    the pool is its cells, a pool of them is answered with one row per repeat, a relabelled cell by its
    module hash, and an unknown one is skipped or refused."""
    from nas.spaces import nb101

    space = get_space("nb101")
    cells = nb101.sample(12, 3)
    write_nb101_tfrecord(tmp_path / "nasbench_only108.tfrecord", cells)
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "nasbench_only108.tfrecord")
    cfg = config.from_dict(nb101_params(path=path, missing="skip", shards=shards))
    for k in range(1, shards + 1):
        benchmark.import_benchmark(cfg, f"{k}/{shards}")
    source = benchmark.Benchmark(cfg)
    strings = [space.format(c) for c in cells]
    assert source.candidates() == strings
    records = benchmark.read_parts(shards)
    assert records["canonical"].tolist() == [nb101.module_hash(c) for c in cells for _ in range(3)]
    assert (records["epochs"] == 108).all() and records["index"].tolist() == [i for i in range(12) for _ in range(3)]

    isomorph = next(o for o in map(relabelled, cells) if o is not None)
    unknown = next(s for s in nb101.sample(40, 9) if nb101.module_hash(s) not in set(records["canonical"]))
    asked = strings[:5] + [space.format(isomorph), space.format(unknown)]
    archs = pd.DataFrame({"arch_id": range(len(asked)), "arch": asked,
                          "canonical": [space.canonical(a) for a in asked]})
    results = source.lookup(archs)  # missing: skip leaves the unknown one out
    assert results["arch_id"].tolist() == [i for i in range(6) for _ in range(3)]
    assert results["seed"].tolist() == [0, 1, 2] * 6
    by_hash = dict(zip(records["canonical"], records["arch"]))
    for _, row in results.iterrows():
        held = by_hash[space.canonical(row["arch"])]  # the isomorph: its class's cell's records
        for split in ("valid", "test"):
            assert row[f"{split}_accuracy"] == pytest.approx(fake_accuracy(held, "cifar10", split, row["seed"], 108))
    assert records["params"].tolist() == [fake_nb101_params(a) for a in records["arch"]]
    pool = source.pool(archs.iloc[:6])
    assert len(pool) == 18
    strict = benchmark.Benchmark(config.from_dict(nb101_params(path=path, shards=shards)))
    msg = one_line_error(strict.lookup, archs)
    assert "has no record of 1 picked architecture(s)" in msg and space.format(unknown) in msg


@pytest.fixture
def imported(tmp_path, monkeypatch):
    """A project whose benchmark (an NB201 .pth of 12 cells, the all-3x3 cell among them, with the
    benchmark's real counts for it) is imported; (config, the cells)."""
    space = get_space("nb201")
    cells = [space.format(a) for a in space.sample(11, 3)]
    cells.append(space.format(("nor_conv_3x3",) * 6))
    write_nb201_pth(tmp_path / "b.pth", cells)
    monkeypatch.chdir(tmp_path)
    cfg = config.from_dict({**params(path=str(tmp_path / "b.pth"), missing="skip"), "sample": {"archs": "all"},
                            "space": {"name": "nb201", "channels": 16, "cells": 5, "isomorphism": "benchmark"}})
    benchmark.import_benchmark(cfg)
    return cfg, cells


def test_the_pool_is_every_cell_the_benchmark_holds_and_lookups_match_strings_then_isomorphs(imported):
    cfg, cells = imported
    source = benchmark.Benchmark(cfg)
    space = get_space("nb201").with_isomorphism("benchmark")
    candidates = source.candidates()
    assert len(candidates) == len({space.canonical(c) for c in cells}) and set(candidates) <= set(cells)
    # An isomorph of a held cell (same benchmark class, another string) is answered with that cell's records.
    held = space.parse(cells[0])
    others = [a for a in get_space("nb201").enumerate_all() if space.canonical(a) == space.canonical(held)
              and space.format(a) != cells[0] and space.format(a) not in cells]
    unknown = next(a for a in get_space("nb201").sample(200, 9) if space.canonical(a) not in
                   {space.canonical(c) for c in cells})
    asked = [space.format(a) for a in others[:1]] + [space.format(unknown)]
    archs = pd.DataFrame({"arch_id": [100 + i for i in range(len(asked))], "arch": asked,
                          "canonical": [space.canonical(a) for a in asked]})
    results = source.lookup(archs)  # missing: skip leaves the unknown one out
    assert set(results["arch"]) == set(asked[:-1])
    strict = benchmark.Benchmark(config.from_dict({**config.to_dict(cfg), "standalone": {
        "source": "benchmark", "benchmark": {**config.to_dict(cfg)["standalone"]["benchmark"], "missing": "error"}}}))
    msg = one_line_error(strict.lookup, archs)
    assert "has no record of 1 picked architecture(s)" in msg and "missing: skip" in msg


def test_the_benchmarks_params_and_flops_are_the_projects_counts_for_the_same_cell(imported):
    """NAS-Bench-201's own counts for the all-3x3 cell at C=16, N=5 on CIFAR-10 (1,531,546 parameters,
    220.11969 MFLOPs, from the benchmark) equal the project's; the writer stores those for that cell."""
    cfg, cells = imported
    records = io.read_parquet(L.benchmark_part(1), L.SCHEMAS["benchmark"])
    mine = records[records["arch"] == cells[-1]].iloc[0]
    params, flops = get_space("nb201").count_params_flops(cells[-1], 16, 5, (3, 32, 32), 10)
    assert (mine["params"], params) == (1_531_546, 1_531_546)
    assert mine["flops"] == pytest.approx(flops / 1e6) == pytest.approx(220.11969)


def test_sample_draws_among_what_the_benchmark_holds_and_refuses_more(imported, tmp_path):
    import dataclasses

    cfg, cells = imported
    fake_cifar(tmp_path / "cifar", rows=4)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(tmp_path / "cifar")))
    stages.prepare(cfg)
    stages.sample(cfg)
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    assert sorted(pool["arch"]) == sorted(benchmark.Benchmark(cfg).candidates())  # all: every cell it holds
    fewer = dataclasses.replace(cfg, sample=dataclasses.replace(cfg.sample, archs=3, everything=False))
    stages.sample(fewer)
    assert set(io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])["arch"]) <= set(pool["arch"])
    more = dataclasses.replace(cfg, sample=dataclasses.replace(cfg.sample, archs=500, everything=False))
    assert one_line_error(stages.sample, more).startswith(
        f"sample.archs: 500 is more than the {len(pool)} distinct cells the ground-truth source holds")


@pytest.mark.parametrize("name", ["yu_nb201", "darts_pt_nb201"])
def test_the_paper_scale_studies_validate_and_say_what_they_cost(name, monkeypatch):
    """As written (CUDA, C=16, N=5, the benchmark as truth) each validates here; its cost is estimated on
    this machine's CPU when it has no CUDA, and says so (at a tiny size here: the measurement is the same
    code at any size)."""
    import torch

    from helpers import REPO
    from nas import cost, study

    full = study.params(REPO, name)  # validated
    cfg = config.from_dict(full)
    assert cfg.device == "cuda" and cfg.space.channels == 16 and cfg.space.cells == 5
    assert cfg.standalone.source == "benchmark" and cfg.standalone.settings.budget == 200
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny = copy.deepcopy(full)
    tiny["space"].update(channels=2, cells=1)
    rows, assumptions = cost.estimate(config.from_dict(tiny))
    stages = {r["stage"]: r for r in rows}
    assert {"train-supernet", "eval-supernet"} <= set(stages) and "train-standalone" not in stages
    assert all(r["hours"] > 0 for r in rows)
    assert assumptions[0].startswith("device cuda asked for, but this machine has no CUDA")
    assert stages["eval-supernet"]["jobs"] == len(cfg.variants) * len(cfg.supernet.seeds) * cfg.eval.shards
