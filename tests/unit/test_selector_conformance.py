"""Every selection method keeps the selector contract (nas/selection/base.py): each registered method
runs on a tiny trained study of a single-path (spos) and a differentiable (darts) super-net, picks a
valid architecture from every run it applies to, says why for the others, and declares what the DAG
needs (its settings, its own stage)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import shutil

import pytest
import yaml

from helpers import TINY
from nas import config, dag, data, io, layout as L, selection, spaces, stages, supernet
from nas.registry import OwnStage

STUDY = {**copy.deepcopy(TINY), "space": {"name": "nb201", "channels": 2, "cells": 1}, "sample": {"archs": 4},
         "supernet": {**TINY["supernet"], "epochs": 1, "seeds": [0], "save_epochs": [],
                      "variants": {"spos": {}, "darts": {"method": "darts"}}},
         "correlate": {"topk": [1, 2], "bootstrap": 20}}
# Small, fast settings for methods that have their own (a new one with slow defaults adds its here).
FAST = {"perturbation": {"tune_epochs": 0, "valid_batches": 1}}


def params_for(name: str) -> dict:
    return {**STUDY, "select": {"methods": [name], **({name: FAST[name]} if name in FAST else {})}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Both super-nets trained and scored (run once; read-only)."""
    root = tmp_path_factory.mktemp("selectors")
    cfg = config.from_dict(params_for("supernet"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        stages.prepare(cfg)
        stages.sample(cfg)
        for variant in cfg.variants:
            stages.train_supernet(cfg, variant)
            stages.eval_supernet(cfg, variant)
    return root


@pytest.mark.parametrize("name", sorted(selection.SELECTORS))
def test_every_selector_picks_a_valid_architecture_where_it_applies(name, trained, tmp_path, monkeypatch):
    shutil.copytree(trained, tmp_path / "s")
    monkeypatch.chdir(tmp_path / "s")
    cfg = config.from_dict(params_for(name))
    (tmp_path / "s" / "params.yaml").write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    selector = selection.SELECTORS[name]
    space = spaces.study_space(cfg.space)
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    for variant in cfg.variants:
        run = L.Run(variant, 0)
        applies = selector.applies(supernet.get_method(cfg.variant(variant).method))
        if selector.stage is not None and applies:
            assert selector.stage.run(cfg, variant=variant, seed=0) == [selector.writes(run)]
        context = selection.Context(space=space, run=run, scores=io.read_parquet(run.scores, L.SCHEMAS["scores"]),
                                    pool=pool, seed=cfg.seed, load_supernet=lambda run=run: supernet.load(
                                        run.weights, cfg.space.name),
                                    load_valid=lambda: data.load_split(L.split("valid")), settings=cfg.select.settings)
        if not applies:
            with pytest.raises(selection.NotApplicable):
                selector.pick(context)
            continue
        arch = selector.pick(context)
        arch = space.parse(arch) if isinstance(arch, str) else arch
        space.check_picks(space.to_picks(arch))
        assert space.parse(space.format(arch)) == arch, f"selector {name!r}: not an architecture of the space"


@pytest.mark.parametrize("name", sorted(selection.SELECTORS))
def test_every_selector_declares_what_the_dag_needs(name):
    selector = selection.SELECTORS[name]
    assert isinstance(selector, selection.Selector) and selector.name == name
    if selector.Settings is not None:
        assert dataclasses.is_dataclass(selector.Settings) and selector.Settings.__dataclass_params__.frozen
        assert all("doc" in f.metadata for f in dataclasses.fields(selector.Settings)), \
            f"selector {name!r}: settings fields are made with nas.settings.opt"
    tree = ast.parse(inspect.getsource(inspect.getmodule(selector.pick)))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "nas.config" not in imported, f"selector {name!r}: config assembles its settings"
    cfg = config.from_dict(params_for(name))
    s = dag.stages(cfg)
    if selector.Settings is not None:
        where = selector.stage.name if selector.stage is not None else "pick"
        assert f"select.{name}" in s[where]["params"], f"selector {name!r}: its settings are tracked by {where}"
    if selector.stage is not None:
        assert isinstance(selector.stage, OwnStage) and selector.stage.per == "run"
        assert selector.writes is not None and selector.schema in L.SCHEMAS
        spec = s[selector.stage.name]
        assert dag.paths(spec["outs"]) == [selector.writes(L.DVC_RUN).as_posix()]
        assert spec["matrix"]["variant"] == ["darts"]  # only the runs it applies to
        assert selector.writes(L.DVC_RUN).as_posix() not in s["pick"]["deps"]  # the runs' files, not the template
        assert selector.writes(L.Run("darts", 0)).as_posix() in s["pick"]["deps"]
    if selector.supernet:
        assert L.Run("spos", 0).weights.as_posix() in s["pick"]["deps"]
