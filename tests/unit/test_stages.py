"""nas.stages in-process on a tiny study: picks outside the sampled pool are trained stand-alone by
train-picks with the pool's settings and seeds, and judged in the selection table."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from nas import config, io, layout as L, selection, stages
from nas.selection import Context

TINY = {
    "device": "cpu",
    "data": {"num_samples": 400},
    "space": {"channels": 2},
    "sample": {"archs": 4},
    "supernet": {"epochs": 1, "seeds": [0, 1]},
    "standalone": {"shards": 1, "seeds": [0, 1], "epochs": 1, "init": "independent"},
    "correlate": {"topk": [1, 2], "bootstrap": 20},
    "eval": {"recalibrate_batches": 2, "batch_size": 64},  # 160 training samples: 2 x 64 fit
}


@pytest.fixture
def outside_selector(monkeypatch):
    """A selector that picks a cell outside the pool: the first cell of a larger sample that the pool
    lacks (the same for both runs), registered for this test only."""
    def outside(ctx: Context):
        pool = set(ctx.pool["arch"])
        return next(a for a in ctx.space.sample(len(pool) + 8, 1) if ctx.space.format(a) not in pool)

    monkeypatch.setitem(selection.SELECTORS, "outside", outside)
    return outside


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny study up to the stand-alone results and the super-net scores (run once)."""
    root = tmp_path_factory.mktemp("stages")
    cfg = config.from_dict(TINY)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        stages.prepare(cfg)
        stages.sample(cfg)
        for seed in cfg.supernet.seeds:
            stages.train_supernet(cfg, seed=seed)
            stages.eval_supernet(cfg, seed=seed)
        stages.train_standalone(cfg, shard="1/1", workers=1)
        stages.merge_standalone(cfg)
    return root


@pytest.fixture
def study(trained, tmp_path, monkeypatch, outside_selector):
    """A private copy of the trained study as the working directory; params select both methods."""
    shutil.copytree(trained, tmp_path / "study")
    monkeypatch.chdir(tmp_path / "study")
    cfg = config.from_dict({**TINY, "select": {"methods": ["supernet", "outside"]}})
    (tmp_path / "study" / "params.yaml").write_text(yaml.safe_dump(config.to_dict(cfg)))
    return cfg


def test_a_pick_outside_the_pool_is_trained_and_judged(study):
    cfg = study
    assert stages.pick(cfg) == [L.PICKS]
    picks = io.read_parquet(L.PICKS)
    pool = io.read_parquet(L.ARCHS)
    outside = picks[picks["method"] == "outside"]
    assert len(outside) == 2 and not outside["in_pool"].any()
    assert set(outside["arch_id"]) == {len(pool)}  # one new id after the pool, shared by both runs
    assert not set(outside["arch"]) & set(pool["arch"])
    assert picks[picks["method"] == "supernet"]["in_pool"].all()

    stages.train_picks(cfg, workers=1)
    trained = io.read_parquet(L.PICKS_STANDALONE)
    # trained once, with every stand-alone seed, with the pool's columns
    assert trained[["arch_id", "seed"]].values.tolist() == [[len(pool), 0], [len(pool), 1]]
    assert list(trained.columns) == list(io.read_parquet(L.STANDALONE).columns)

    stages.select(cfg)
    table = io.read_parquet(L.SELECTION)
    assert table.groupby(["variant", "seed"])["method"].apply(list).tolist() == \
        [["supernet", "outside", "oracle", "random"]] * 2
    row = table[table["method"] == "outside"].iloc[0]
    assert row["accuracy"] == pytest.approx(trained["test_accuracy"].mean())
    oracle = table[table["method"] == "oracle"].iloc[0]
    assert row["regret"] == pytest.approx(oracle["accuracy"] - row["accuracy"])


def test_train_picks_trains_nothing_when_every_pick_is_in_the_pool(study):
    cfg = config.from_dict({**TINY, "select": {"methods": ["supernet"]}})
    stages.pick(cfg)
    stages.train_picks(cfg, workers=1)
    assert io.read_parquet(L.PICKS_STANDALONE).empty
    stages.select(cfg)
    assert io.read_parquet(L.SELECTION)["method"].tolist() == ["supernet", "oracle", "random"] * 2


def test_train_picks_resumes_from_the_pool_machinery(study, monkeypatch):
    """A rerun after a kill trains nothing already finished (the stand-alone progress files)."""
    cfg = study
    stages.pick(cfg)
    stages.train_picks(cfg, workers=1)
    first = L.PICKS_STANDALONE.read_bytes()
    from nas import standalone

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(standalone, "train_one", no_training)
    stages.train_picks(cfg, workers=1)
    assert L.PICKS_STANDALONE.read_bytes() == first
    assert isinstance(io.read_parquet(L.PICKS_STANDALONE), pd.DataFrame)
