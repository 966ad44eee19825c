"""nas.evaluate: the recalibration batches are what eval.recalibrate_batches asks for, or an error."""

from __future__ import annotations

import torch

from helpers import one_line_error
from nas.data import Tensors
from nas.evaluate import calibration_batches


def split(n: int) -> Tensors:
    return Tensors(torch.arange(n, dtype=torch.float32).reshape(n, 1, 1), torch.zeros(n, dtype=torch.long),
                   (1, 1), 10, "mnist1d")


def test_batches_are_disjoint_fixed_and_as_many_as_asked():
    batches = calibration_batches(split(2500), 5, 500, 0, "cpu")
    assert [len(b) for b in batches] == [500] * 5
    seen = torch.cat([b.flatten() for b in batches])
    assert len(set(seen.tolist())) == 2500  # disjoint: every sample once
    again = calibration_batches(split(2500), 5, 500, 0, "cpu")
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_more_samples_than_the_split_has_is_refused_not_capped():
    msg = one_line_error(calibration_batches, split(2500), 10, 500, 0, "cpu")
    assert msg == ("eval.recalibrate_batches: 10 batches of eval.batch_size 500 need 5,000 training samples, "
                   "but the train split has 2,500; the largest value this data allows is 5 (or lower eval.batch_size)")


def tiny_supernet():
    from nas import config, supernet
    from nas.spaces import get_space
    from helpers import TINY

    hp = config.from_dict(TINY).variant("baseline")
    g = torch.Generator().manual_seed(0)
    data = Tensors(torch.randn(40, 1, 12, generator=g), torch.randint(0, 10, (40,), generator=g), (1, 12), 10, "mnist1d")
    torch.manual_seed(0)
    return supernet.build(get_space("nb201"), hp, 2, 1, data), data


def test_a_killed_scoring_resumes_from_its_kept_chunks_with_the_same_scores(tmp_path, monkeypatch):
    import pandas as pd

    from nas import evaluate
    from nas.io import read_parquet
    from nas.spaces import get_space

    space = get_space("nb201")
    net, data = tiny_supernet()
    archs = pd.DataFrame({"arch_id": range(5), "arch": [space.format(a) for a in space.sample(5, 0)]})
    monkeypatch.setattr(evaluate, "CHUNK", 2)
    args = (archs, space, data, data, "recalibrate", 2, 10, 0, "cpu")
    whole = evaluate.score_archs(net, *args)
    kept = evaluate.score_archs(net, *args, progress=tmp_path / "p")
    pd.testing.assert_frame_equal(kept, whole)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["chunk-00000.parquet", "chunk-00001.parquet",
                                                                  "chunk-00002.parquet"]
    # Killed after the first chunk: the rest is scored, the first read back (marked to show it is).
    (tmp_path / "p" / "chunk-00001.parquet").unlink()
    (tmp_path / "p" / "chunk-00002.parquet").unlink()
    first = read_parquet(tmp_path / "p" / "chunk-00000.parquet")
    first.assign(loss=-1.0).to_parquet(tmp_path / "p" / "chunk-00000.parquet")
    resumed = evaluate.score_archs(net, *args, progress=tmp_path / "p")
    assert resumed["loss"].tolist()[:2] == [-1.0, -1.0]
    pd.testing.assert_frame_equal(resumed.iloc[2:], whole.iloc[2:])
    # A chunk of other architectures (a changed pool under the same key) is scored again, not trusted.
    again = evaluate.score_archs(net, archs.iloc[[1, 0, 2, 3, 4]], *args[1:], progress=tmp_path / "p")
    assert again["loss"].tolist()[:2] == whole["loss"].tolist()[1::-1]
