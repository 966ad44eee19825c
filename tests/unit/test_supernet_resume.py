"""A killed stage resumes where it stopped, and the result equals an uninterrupted run's."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nas import data, io, supernet
from nas.truth import train as standalone
from nas.config import StandaloneConfig, SupernetConfig
from nas.spaces import nb201


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    parts = data.prepare("mnist1d", None, 0.5, 0, num_samples=300)
    paths = {}
    for name, split in parts.items():
        paths[name] = root / f"{name}.parquet"
        data.write_split(split, paths[name], "mnist1d", 10)
    return paths


class Killed(Exception):
    pass


def _train_supernet(splits, state_path, kill_at=None, space=nb201.SPACE, sampling="uniform"):
    hp = SupernetConfig(epochs=3, batch_size=32, channels=2, cells=1, sampling=sampling)
    train = data.load_split(splits["train"])
    torch.manual_seed(0)
    net = supernet.build(space, hp, 2, 1, train)

    def on_epoch(epoch, model):
        if epoch == kill_at:
            raise Killed

    history = supernet.train(net, hp, space, train, 0, torch.device("cpu"), state_path, on_epoch=on_epoch)
    return history, supernet.weights(net)


def test_supernet_resume_equals_uninterrupted(splits, tmp_path):
    full_history, full_weights = _train_supernet(splits, tmp_path / "a.pt")
    with pytest.raises(Killed):
        _train_supernet(splits, tmp_path / "b.pt", kill_at=3)  # dies before epoch 3 is checkpointed
    assert io.load_checkpoint(tmp_path / "b.pt")["epoch"] == 2
    history, weights = _train_supernet(splits, tmp_path / "b.pt")  # a fresh model, resumed from epoch 2
    pd.testing.assert_frame_equal(history, full_history)
    assert weights.keys() == full_weights.keys()
    for k in weights:
        assert torch.equal(weights[k], full_weights[k]), k


def test_round_robin_resume_mid_round_equals_uninterrupted(splits, tmp_path):
    """Round-robin's place in its round of 64 children is resume state: a few steps an epoch, so the
    kill after epoch 2 lands mid-round."""
    from nas.spaces import zhang64

    run = dict(space=zhang64.SPACE, sampling="round_robin")
    full_history, full_weights = _train_supernet(splits, tmp_path / "a.pt", **run)
    with pytest.raises(Killed):
        _train_supernet(splits, tmp_path / "b.pt", kill_at=3, **run)
    assert 0 < io.load_checkpoint(tmp_path / "b.pt")["sampler"]["position"] < 64
    history, weights = _train_supernet(splits, tmp_path / "b.pt", **run)
    pd.testing.assert_frame_equal(history, full_history)
    assert all(torch.equal(weights[k], full_weights[k]) for k in full_weights)


def test_saved_weights_are_byte_identical_between_runs_and_after_a_resume(splits, tmp_path):
    """`weights.pt` bytes depend on the tensors only: saved from an uninterrupted run, from a rerun, and
    from a run resumed after a kill, the files are equal byte for byte (torch.save to a path names the
    archive's inner folder after the temporary file, which would make them differ)."""
    _, full = _train_supernet(splits, tmp_path / "a.pt")
    _, again = _train_supernet(splits, tmp_path / "b.pt")
    with pytest.raises(Killed):
        _train_supernet(splits, tmp_path / "c.pt", kill_at=2)
    _, resumed = _train_supernet(splits, tmp_path / "c.pt")
    for name, weights in (("full", full), ("again", again), ("resumed", resumed)):
        io.save_checkpoint({"model": weights, "epoch": 3}, tmp_path / name / "weights.pt")
    blobs = {name: (tmp_path / name / "weights.pt").read_bytes() for name in ("full", "again", "resumed")}
    assert blobs["full"] == blobs["again"] == blobs["resumed"]
    # and the resume state itself, written twice from the same state, is identical too
    io.save_checkpoint(io.load_checkpoint(tmp_path / "a.pt"), tmp_path / "x" / "state.pt")
    io.save_checkpoint(io.load_checkpoint(tmp_path / "a.pt"), tmp_path / "y" / "state.pt")
    assert (tmp_path / "x" / "state.pt").read_bytes() == (tmp_path / "y" / "state.pt").read_bytes()


def test_supernet_sampler_is_uniform():
    sample = supernet.uniform_sampler(nb201.SPACE)
    g = torch.Generator().manual_seed(0)
    counts = pd.Series([op for _ in range(2000) for op in sample(g)[0]]).value_counts()
    assert set(counts.index) == set(nb201.OPS)
    assert counts.min() > 0.8 * counts.max()  # 12,000 draws over 5 ops: each near 2,400


def _shard(splits, archs, progress, workers=1):
    hp = StandaloneConfig(epochs=1, batch_size=32, lr=0.05)
    return standalone.run_shard(archs, [0, 1], hp, "nb201", 2, 1, {k: str(v) for k, v in splits.items()},
                                progress, "cpu", False, workers)


def test_standalone_resume_trains_only_missing_and_is_byte_identical(splits, tmp_path, monkeypatch):
    archs = pd.DataFrame({"arch_id": [0, 1, 2], "arch": [nb201.format(a) for a in nb201.sample(3, 0)]})
    full = _shard(splits, archs, tmp_path / "p1")
    io.write_parquet(full, tmp_path / "full.parquet")

    # Simulate a kill after two results: only those part files exist.
    first = _shard(splits, archs.iloc[:1], tmp_path / "p2")
    assert len(first) == 2 and len(list((tmp_path / "p2").glob("*.parquet"))) == 2

    trained = []
    real = standalone.train_one
    monkeypatch.setattr(standalone, "train_one", lambda arch, seed, *a: trained.append((arch, seed)) or real(arch, seed, *a))
    resumed = _shard(splits, archs, tmp_path / "p2")
    assert len(trained) == 4 and all(a != archs.arch[0] for a, _ in trained)
    io.write_parquet(resumed, tmp_path / "resumed.parquet")
    assert (tmp_path / "resumed.parquet").read_bytes() == (tmp_path / "full.parquet").read_bytes()


def test_standalone_results_do_not_depend_on_workers(splits, tmp_path):
    archs = pd.DataFrame({"arch_id": [0, 1], "arch": [nb201.format(a) for a in nb201.sample(2, 1)]})
    one = _shard(splits, archs, tmp_path / "w1", workers=1)
    two = _shard(splits, archs, tmp_path / "w2", workers=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_shard_parsing_and_split():
    assert standalone.parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "x", "1/0", "1-2"):
        with pytest.raises(io.UserError, match="--shard"):
            standalone.parse_shard(bad)
    archs = pd.DataFrame({"arch_id": range(7)})
    ids = sorted(i for k in (1, 2, 3) for i in standalone.shard_of(archs, k, 3).arch_id)
    assert ids == list(range(7))


def _dense_run(splits, state_path, steps, kill_at=None):
    """A round-robin zhang64 run scoring 5 children after each of its last `steps` steps."""
    from nas.spaces import zhang64

    hp = SupernetConfig(epochs=3, batch_size=32, channels=2, cells=1, sampling="round_robin", dense_steps=steps)
    train, valid = data.load_split(splits["train"]), data.load_split(splits["valid"])
    torch.manual_seed(0)
    net = supernet.build(zhang64.SPACE, hp, 2, 1, train)
    dense = supernet.DenseScores([(i, zhang64.SPACE.from_index(i)) for i in (0, 9, 21, 42, 63)],
                                 (valid.x[:16], valid.y[:16]), steps)

    def on_epoch(epoch, model):
        if epoch == kill_at:
            raise Killed

    supernet.train(net, hp, zhang64.SPACE, train, 0, torch.device("cpu"), state_path, on_epoch=on_epoch,
                   dense=dense)
    return dense.frame(), supernet.weights(net)


def test_dense_scores_leave_training_unchanged_and_resume_byte_identical(splits, tmp_path):
    """Scoring after each step reads the weights only: the run trains exactly as without it; the last
    `steps` steps are scored (5 children each), and a run killed after epoch 2 resumes to the same rows."""
    _, plain = _dense_run(splits, tmp_path / "plain.pt", 0)
    rows, weights = _dense_run(splits, tmp_path / "a.pt", 6)
    assert all(torch.equal(weights[k], plain[k]) for k in plain)
    total = 3 * (len(data.load_split(splits["train"]).y) // 32)
    assert sorted(rows["step"].unique()) == list(range(total - 5, total + 1))
    assert len(rows) == 6 * 5 and rows["accuracy"].between(0, 100).all()
    with pytest.raises(Killed):
        _dense_run(splits, tmp_path / "b.pt", 6, kill_at=3)
    resumed, _ = _dense_run(splits, tmp_path / "b.pt", 6)
    pd.testing.assert_frame_equal(resumed, rows)


def test_dense_scoring_more_steps_than_the_run_has_is_refused(splits, tmp_path):
    from helpers import one_line_error

    msg = one_line_error(_dense_run, splits, tmp_path / "c.pt", 1000)
    total = 3 * (len(data.load_split(splits["train"]).y) // 32)
    assert f"supernet.dense_steps: 1000 is more than the {total} optimiser steps" in msg
