"""nas.stages in-process on a tiny study: picks outside the sampled pool are trained stand-alone by
train-picks with the pool's settings and seeds, and judged in the selection table."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from nas import config, data, io, layout as L, selection, stages
from nas.truth import train as truth_train
from nas.selection import Context

TINY = {
    "device": "cpu",
    "threads": 1,
    "data": {"num_samples": 400, "test_fraction": 0.2},
    "space": {"channels": 2},
    "sample": {"archs": 4},
    "supernet": {"epochs": 1, "seeds": [0, 1], "lr": 0.05, "sampling": "uniform", "variants": {"baseline": {}}},
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

    monkeypatch.setitem(selection.SELECTORS, "outside", selection.Selector("outside", outside))
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
        stages.zero_cost(cfg)
        for seed in cfg.supernet.seeds:
            stages.train_supernet(cfg, seed=seed)
            stages.eval_supernet(cfg, seed=seed)
        truth_train.train_standalone(cfg, shard="1/1", workers=1)
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
    from nas.truth import train as standalone

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(standalone, "train_one", no_training)
    stages.train_picks(cfg, workers=1)
    assert L.PICKS_STANDALONE.read_bytes() == first
    assert isinstance(io.read_parquet(L.PICKS_STANDALONE), pd.DataFrame)


def test_checkpoints_directory_is_never_empty(trained):
    # TINY keeps no epochs (save_epochs []): DVC would warn that the checkpoints output is empty. The
    # index says which epochs the directory holds.
    index = L.Run("baseline", 0).checkpoints_index
    import json
    assert json.loads((trained / index).read_text()) == {"epochs": [], "files": []}
    assert [p.name for p in (trained / L.Run("baseline", 0).checkpoints).iterdir()] == ["epochs.json"]


# --- artifacts that parse but hold wrong contents: one line naming the file and what is wrong -----------

def _corrupt_split_labels(path):
    import pyarrow.parquet as pq
    import pyarrow as pa
    t = pq.read_table(path)
    y = pa.array([99] + t.column("y").to_pylist()[1:], type=pa.int64())
    pq.write_table(t.set_column(t.schema.get_field_index("y"), "y", y), path)


def _set_split_meta(path, **changes):
    import json
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    meta = dict(t.schema.metadata)
    for k, v in changes.items():
        meta[k.encode()] = json.dumps(v).encode()
    pq.write_table(t.replace_schema_metadata(meta), path)


def _rewrite(path, **columns):
    df = pd.read_parquet(path)
    for k, v in columns.items():
        df[k] = v
    df.to_parquet(path, index=False)


def _drop(path, column):
    pd.read_parquet(path).drop(columns=column).to_parquet(path, index=False)


RUN0 = L.Run("baseline", 0)
BAD_ARTIFACTS = {
    # name: (break the study, the stage that reads it, what its one-line error must say)
    "integer arch column": (lambda: _rewrite(L.ARCHS, arch=range(4)), lambda c: truth_train.train_standalone(c, "1/1", 1),
                            "results/archs.parquet: column 'arch' holds int64 values; expected strings"),
    "text accuracies": (lambda: _rewrite(RUN0.scores, accuracy=["abc"] * 4), stages.correlate,
                        "scores.parquet: column 'accuracy' holds"),
    "label out of range": (lambda: _corrupt_split_labels(L.split("train")), stages.train_supernet,
                           "train.parquet: label 99 is outside 0..9 (metadata num_classes 10)"),
    "bad split shape": (lambda: _set_split_meta(L.split("valid"), shape=[0, 40]), stages.eval_supernet,
                        "valid.parquet: metadata shape [0, 40] is not a list of 2 or 3 positive integers"),
    "train shape not its rows": (lambda: _set_split_meta(L.split("train"), shape=[1, 41]), stages.sample,
                                 "data/prepared/train.parquet: every x row must hold 41 values for shape [1, 41]"),
    "bad num_classes": (lambda: _set_split_meta(L.split("train"), num_classes="ten"), stages.train_supernet,
                        "train.parquet: metadata num_classes ten is not an integer >= 2"),
    "history without passes": (lambda: _drop(RUN0.history, "passes"), stages.heuristics,
                               "history.parquet: missing column(s) passes"),
    "timing not JSON": (lambda: RUN0.timing.write_text("{not json"), stages.heuristics,
                        "logs/timings/baseline/seed-0.json: not valid JSON"),
}


@pytest.mark.parametrize("name", list(BAD_ARTIFACTS))
def test_artifacts_with_wrong_contents_are_one_line_errors(trained, tmp_path, monkeypatch, name):
    from helpers import one_line_error
    shutil.copytree(trained, tmp_path / "study")
    monkeypatch.chdir(tmp_path / "study")
    cfg = config.from_dict(TINY)
    if name in ("history without passes", "timing not JSON"):  # heuristics needs correlate and select first
        stages.correlate(cfg)
        stages.pick(cfg)
        stages.train_picks(cfg, workers=1)
        stages.select(cfg)
    breaks, stage, message = BAD_ARTIFACTS[name]
    breaks()
    assert message in one_line_error(stage, cfg)


def test_resume_state_that_does_not_fit_says_deleting_it_is_safe(trained, tmp_path, monkeypatch):
    import torch
    from helpers import one_line_error
    shutil.copytree(trained, tmp_path / "study")
    monkeypatch.chdir(tmp_path / "study")
    cfg = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "epochs": 2}})
    # a killed run's state, then hand-edited (or from other code): its model keys do not fit
    from nas import supernet
    _, hp = cfg.run("baseline", 0)
    from nas import codedeps
    key = config.fingerprint(hp, cfg.space, 0, cfg.data.augment, data.splits_fingerprint(["train"]), "cpu", None,
                             {"threads": cfg.threads}, codedeps.package_digest())
    state = RUN0.progress(key)
    state.parent.mkdir(parents=True, exist_ok=True)
    io.save_checkpoint({"model": {"nope": torch.zeros(1)}, "epoch": 1}, state)
    msg = one_line_error(stages.train_supernet, cfg)
    assert msg.startswith(f"{state}: saved state 'model' does not match this run") and len(msg) < 600
    assert msg.endswith("deleting it is safe (the work it holds is done again)")
    state.write_bytes(b"not a checkpoint")
    msg = one_line_error(stages.train_supernet, cfg)
    assert "not a readable checkpoint" in msg and "deleting it is safe" in msg and "weights_only=False" not in msg


def test_checkpoint_with_foreign_objects_is_refused_without_torchs_advice(tmp_path):
    import torch
    from helpers import one_line_error
    path = tmp_path / "x.pt"
    torch.save({"obj": __import__("pathlib").Path("x")}, path)  # a pickled object that is not plain data
    msg = one_line_error(io.load_checkpoint, path)
    assert "objects other than tensors" in msg and "weights_only=False" not in msg and "two options" not in msg


def test_stability_stage_and_its_batch_sizes(study):
    """`nas stability` on the tiny study (one scored epoch per run, no dense steps): the per-variant
    summary over both seeds; interference on pool pairs; batches larger than a split are refused."""
    cfg = study
    assert stages.stability(cfg)[:2] == [L.STABILITY, L.STABILITY_RANKS]
    table = io.read_parquet(L.STABILITY, L.SCHEMAS["stability"])
    assert set(table[table["series"] == "summary"]["statistic"]) >= {"tau_truth", "seed_tau", "distinct_top1"}
    assert io.read_parquet(L.INTERFERENCE).empty
    with_pairs = config.from_dict({**TINY, "stability": {"interference_pairs": 3, "batch_size": 32}})
    stages.stability(with_pairs)
    effects = io.read_parquet(L.INTERFERENCE, L.SCHEMAS["interference"])
    assert len(effects) == 3 * 2 and set(effects["seed"]) == {0, 1}
    too_big = config.from_dict({**TINY, "stability": {"interference_pairs": 3, "batch_size": 5000}})
    with pytest.raises(io.UserError, match=r"stability.batch_size: 5000 is more than the \d+ samples of the train"):
        stages.stability(too_big)
    dense = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "dense_steps": 1, "dense_batch": 5000}})
    with pytest.raises(io.UserError, match=r"supernet.dense_batch: 5000 is more than the \d+ samples of the valid"):
        stages.train_supernet(dense, seed=0)


def test_kept_epochs_survive_a_kill_and_the_outputs_being_cleared(study, monkeypatch, tmp_path):
    """A run killed after saving its epoch-1 checkpoint, whose outputs DVC or Snakemake then clear, resumes
    and still writes epoch 1's checkpoint: kept epochs live beside the resume state until the run ends."""
    import nas.io

    cfg = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "epochs": 2, "save_epochs": [1]}})
    run = L.Run("baseline", 0)
    stages.train_supernet(cfg, seed=0)
    reference = run.checkpoint(1).read_bytes()
    shutil.rmtree(run.dir)

    class Killed(Exception):
        pass

    def kill_after_epoch_1(self, **info):
        if info.get("epoch") == 1:
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(nas.io.Progress, "update", kill_after_epoch_1)
        with pytest.raises(Killed):
            stages.train_supernet(cfg, seed=0)
    shutil.rmtree(run.dir, ignore_errors=True)  # what DVC and Snakemake do to a stage's outputs before a rerun
    stages.train_supernet(cfg, seed=0)
    assert run.checkpoint(1).read_bytes() == reference
    assert not list((L.PROGRESS / "supernet").glob("*-epochs"))  # the progress copy goes with the finished run
