"""The benchmark ground-truth source (`standalone.source: benchmark`, nas/truth/benchmark.py): its settings
refused with one line each, the pool drawn among what the benchmark holds, lookups by string and by
canonical form, and the benchmark's params and FLOPs beside the project's own counts."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from benchfile_writers import fake_cifar, write_nb201_pth
from helpers import TINY, one_line_error
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
                              "nats_tss, nds"),
    ({"dataset": "mnist"}, {}, "standalone.benchmark.dataset: 'mnist' is not in format nb201_pth; expected one of "
                               "cifar10-valid, cifar10, cifar100, ImageNet16-120"),
    ({"budget": 100}, {}, "standalone.benchmark.budget: 100 is not allowed for format nb201_pth; expected 12, 200"),
    ({"format": "nds", "budget": 200}, {"space": {"name": "darts"}},
     "standalone.benchmark.budget: 200 is not allowed for format nds; expected null (the file's own epochs)"),
    ({"shards": 2}, {}, "standalone.benchmark.shards: 2 is not allowed; format nb201_pth is read whole"),
    ({"format": "nds", "budget": None}, {}, "standalone.benchmark.format: nds holds cells of space darts, but "
                                            "space.name is nb201"),
    ({"path": "${x}"}, {}, "standalone.benchmark.path: '${x}' is not allowed"),
    ({"missing": "ignore"}, {}, "standalone.benchmark.missing: 'ignore' is not allowed; expected one of error, skip"),
    ({}, {"data": {"dataset": "mnist1d"}}, "data.dataset: mnist1d, but the benchmark's records are of cifar10"),
])
def test_bad_settings_are_one_line_naming_the_key(bench, extra, expected):
    assert one_line_error(config.from_dict, {**params(**bench), **extra}).startswith(expected)


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
