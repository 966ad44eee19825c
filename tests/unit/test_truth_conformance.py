"""Every ground-truth source keeps the `Source` contract (nas/truth/base.py): each registered source,
on a tiny project, with a fixture of its own below (a new source adds one to FIXTURES; a source may
have more, in other spaces: "<source>-<what>", its study's space in STUDY)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import TINY, TINY_NB101
from nas import config, dag, io, layout as L, spaces, stages, standalone, truth
from nas.registry import OwnStage


def _train(root, space, archs):
    return {"source": "train", "seeds": [0, 1], "shards": 1, "epochs": 1, "batch_size": 64, "init": "independent"}


def _table(root, space, archs):
    """A CSV with an accuracy for the pool and for a further sample (picks outside the pool)."""
    cells = [space.format(a) for a in space.sample(24, 0)] + list(archs["arch"])
    accuracy = 50.0 + (np.arange(len(cells)) * 7.0) % 40.0
    pd.DataFrame({"cell": cells, "acc": accuracy}).drop_duplicates("cell").to_csv(root / "truth.csv", index=False)
    return {"source": "table", "table": {"path": "truth.csv", "arch_column": "cell", "accuracy_column": "acc"}}


def _benchmark(root, space, archs):
    """A NATS-Bench folder (the packages' own format) holding the pool and a further sample."""
    from benchfile_writers import write_nats_tss

    cells = list(dict.fromkeys(list(archs["arch"]) + [space.format(a) for a in space.sample(24, 0)]))
    write_nats_tss(root / "NATS", cells)
    return {"source": "benchmark", "benchmark": {"format": "nats_tss", "path": "NATS", "shards": 2}}


def _benchmark_nb101(root, space, archs):
    """A NAS-Bench-101 .tfrecord (the benchmark's format) holding the pool and a further sample, one cell
    per module hash, read in two parts."""
    from benchfile_writers import write_nb101_tfrecord

    held = {}
    for cell in list(archs["arch"]) + [space.format(a) for a in space.sample(24, 0)]:
        held.setdefault(space.canonical(cell), cell)
    write_nb101_tfrecord(root / "nasbench_only108.tfrecord", list(held.values()))
    return {"source": "benchmark", "benchmark": {"format": "nb101_tfrecord", "path": "nasbench_only108.tfrecord",
                                                 "shards": 2}}


# fixture name ("<source>" or "<source>-<what>") -> fn(project root, space, pool) -> the `standalone` section
FIXTURES = {"train": _train, "table": _table, "benchmark": _benchmark, "benchmark-nb101": _benchmark_nb101}
# Other params a source needs (a benchmark's records are of CIFAR-10: the super-net must train on it).
PARAMS = {"benchmark": {"data": {"dataset": "cifar10", "root": "cifar"}}}

SMALL = {**copy.deepcopy(TINY), "space": {"name": "nb201", "channels": 2, "cells": 1}, "sample": {"archs": 4},
         "correlate": {"topk": [1, 2], "bootstrap": 20}}
# The study of a fixture in another space than SMALL's: the sections it replaces.
STUDY = {"benchmark-nb101": {"space": TINY_NB101["space"], "supernet": TINY_NB101["supernet"]}}


def _source(fixture: str) -> str:
    return fixture.split("-")[0]


def _small(fixture: str) -> dict:
    return {**SMALL, **copy.deepcopy(STUDY.get(fixture, {}))}


def test_every_registered_source_has_a_fixture():
    missing = sorted(set(truth.SOURCES) - {_source(f) for f in FIXTURES})
    assert not missing, f"add a fixture to FIXTURES in {__file__} for source(s) {missing}"


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    """fn(fixture) -> a project with prepared splits and a sampled pool in the fixture's space (made once
    per space, shared, read-only)."""
    made = {}

    def pool(fixture):
        space = _small(fixture)["space"]["name"]
        if space not in made:
            root = tmp_path_factory.mktemp(f"truth-{space}")
            cfg = config.from_dict(_small(fixture))
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(root)
                stages.prepare(cfg)
                stages.sample(cfg)
            made[space] = root
        return made[space]
    return pool


@pytest.fixture(params=sorted(FIXTURES))
def project(request, pools, tmp_path, monkeypatch):
    """(config, source) of a private copy of the pool project whose params use the fixture's source."""
    import shutil

    shutil.copytree(pools(request.param), tmp_path / "p")
    monkeypatch.chdir(tmp_path / "p")
    small = _small(request.param)
    space = spaces.study_space(config.from_dict(small).space)
    section = FIXTURES[request.param](tmp_path / "p", space, io.read_parquet(L.ARCHS))
    cfg = config.from_dict({**small, "standalone": {**small["standalone"], **section},
                            **PARAMS.get(_source(request.param), {})})
    (tmp_path / "p" / "params.yaml").write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    return cfg, truth.source_for(cfg)


def _run_own_stages(cfg, source):
    for own in source.own_stages:
        if own.per == "shard":
            shards = source.stages()[own.name]["foreach"]  # 1..N, as dvc.yaml runs them
            for k in shards:
                own.run(cfg, shard=f"{k}/{len(shards)}", workers=1)
        else:
            raise AssertionError(f"source {source.name!r}: own stage {own.name!r} per {own.per!r}; sources run per shard")


def _check_results(results: pd.DataFrame, archs: pd.DataFrame, name: str) -> None:
    assert list(results.columns) == standalone.RESULT_COLUMNS, f"source {name!r}: columns"
    assert results.equals(standalone.sorted_results(results)), f"source {name!r}: rows in (arch_id, seed) order"
    assert set(results["arch_id"]) == set(archs["arch_id"]), f"source {name!r}: one result per architecture"
    per_arch = results.groupby("arch_id")["seed"].apply(tuple)
    assert per_arch.nunique() == 1, f"source {name!r}: every architecture has the same seeds"
    assert not results.duplicated(["arch_id", "seed"]).any(), f"source {name!r}: an (arch, seed) twice"
    by_id = dict(zip(archs["arch_id"], archs["arch"]))
    assert all(by_id[i] == a for i, a in zip(results["arch_id"], results["arch"])), f"source {name!r}: arch strings"
    for split in ("valid", "test"):
        acc = results[f"{split}_accuracy"]
        assert acc.between(0, 100).all(), f"source {name!r}: {split} accuracy in percent"


def test_settings_are_declared_and_the_module_imports_no_config(project):
    cfg, source = project
    cls = type(source)
    assert cls.name and truth.SOURCES[cls.name] is cls
    if cls.Settings is not None:
        assert dataclasses.is_dataclass(cls.Settings) and cls.Settings.__dataclass_params__.frozen
        for f in dataclasses.fields(cls.Settings):
            assert "doc" in f.metadata, f"source {cls.name!r}: {f.name} is not made with nas.settings.opt"
        assert isinstance(source.settings, cls.Settings)
    tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "nas.config" not in imported, f"source {cls.name!r}: a source declares its settings, config assembles them"
    assert all(isinstance(s, OwnStage) for s in cls.own_stages)


def test_the_pool_is_answered_per_architecture_and_seed_with_the_same_bytes_twice(project):
    cfg, source = project
    archs = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    _run_own_stages(cfg, source)
    stages.merge_standalone(cfg)
    first = L.STANDALONE.read_bytes()
    _check_results(io.read_parquet(L.STANDALONE, L.SCHEMAS["standalone"]), archs, source.name)
    stages.merge_standalone(cfg)
    assert L.STANDALONE.read_bytes() == first, f"source {source.name!r}: same inputs, same bytes"


def test_architectures_outside_the_pool_are_answered(project):
    cfg, source = project
    space = spaces.study_space(cfg.space)
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    others = [a for a in space.sample(16, 0) if space.format(a) not in set(pool["arch"])][:2]
    archs = pd.DataFrame({"arch_id": [100, 101], "arch": [space.format(a) for a in others],
                          "canonical": [space.canonical(a) for a in others]})
    if not all(Path(p).exists() for p in source.pick_deps()):  # train-picks runs after what it reads
        _run_own_stages(cfg, source)
    _check_results(source.lookup(archs, workers=1), archs, source.name)


def test_its_declarations_are_what_the_dag_tracks(project):
    cfg, source = project
    s = dag.stages(cfg)
    assert set(source.stages()) <= set(s) and {o.name for o in source.own_stages} == set(source.stages())
    written = config.to_dict(cfg)
    for key in source.params() + source.merge_params():
        node = written
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"source {source.name!r}: params key {key!r} is not in params"
            node = node[part]
    own_deps = {d for name in source.stages() for d in (s[name].get("do", s[name])["deps"])}
    for path in source.inputs():  # read by the merge, or by the source's own stages before it
        assert path in s["merge-standalone"]["deps"] or path in own_deps
    assert set(source.pool_deps()) <= set(s["merge-standalone"]["deps"])
    assert set(source.pick_deps()) <= set(s["train-picks"]["deps"])
    assert set(source.sample_deps()) <= set(s["sample"]["deps"])
    assert s["merge-standalone"]["params"] == source.merge_params() and s["train-picks"]["params"] == source.params()
    # A missing or mis-set input is one line naming the key.
    assert not dag.missing_params(cfg, yaml.safe_load(open("params.yaml")))
