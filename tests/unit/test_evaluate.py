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
