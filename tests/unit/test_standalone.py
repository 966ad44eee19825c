"""Stand-alone initialisation: `standalone.init: paired` gives same-named modules the same weights in
every architecture (common random numbers); `independent` is the plain per-network seed."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nas.truth import train as standalone
from nas.config import load as load_config
from nas.io import UserError
from nas.spaces import nb201

A = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
B = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
SHARED = ("stem.0", "blocks.1.conv_a.1", "blocks.3.conv_b.1", "blocks.3.shortcut.1", "classifier",
          "blocks.0.edges.0.nor_conv_3x3.1", "blocks.4.edges.5.nor_conv_3x3.1")


def _built(arch, seed, init):
    torch.manual_seed(seed)
    net = nb201.build(arch, 4, 1, (1, 40), 10)
    if init == "paired":
        standalone.paired_init(net, seed)
    return dict(net.named_parameters())


@pytest.mark.parametrize("module", SHARED)
def test_paired_init_gives_same_named_modules_the_same_weights(module):
    a, b = _built(A, 3, "paired"), _built(B, 3, "paired")
    assert torch.equal(a[f"{module}.weight"], b[f"{module}.weight"])


def test_independent_init_differs_after_the_first_cell():
    # The cells create different parameters, so everything built after the first cell draws
    # different numbers: that is the noise the paired design removes.
    a, b = _built(A, 3, "independent"), _built(B, 3, "independent")
    assert not torch.equal(a["blocks.1.conv_a.1.weight"], b["blocks.1.conv_a.1.weight"])


def test_paired_init_differs_between_seeds_and_modules_and_keeps_the_global_stream():
    a0, a1 = _built(A, 0, "paired"), _built(A, 1, "paired")
    assert not torch.equal(a0["stem.0.weight"], a1["stem.0.weight"])
    # Two same-shaped modules of one network are not copies of each other.
    assert not torch.equal(a0["blocks.0.edges.0.nor_conv_3x3.1.weight"], a0["blocks.0.edges.5.nor_conv_3x3.1.weight"])
    net = nb201.build(A, 4, 1, (1, 40), 10)
    before = torch.random.get_rng_state()
    standalone.paired_init(net, 0)
    assert torch.equal(torch.random.get_rng_state(), before)  # dropout etc. draw as they would have


def test_paired_init_draws_like_pytorchs_own_initialisation():
    # Same distributions as reset_parameters: a conv's weights are bounded by 1/sqrt(fan_in).
    w = _built(A, 0, "paired")["blocks.3.conv_b.1.weight"]
    bound = 1 / (w.shape[1] * w.shape[2]) ** 0.5
    assert w.abs().max() <= bound and w.std() > bound / 3


def test_init_is_validated(tmp_path):
    (tmp_path / "params.yaml").write_text("standalone:\n  init: shared\n")
    with pytest.raises(UserError, match=r"standalone\.init.*'shared'.*paired"):
        load_config(tmp_path / "params.yaml")


def test_merge_names_a_duplicate_within_one_shard_and_across_shards():
    from helpers import one_line_error
    from nas import standalone as sa

    def frame(rows):
        return pd.DataFrame([{c: 0.0 for c in sa.RESULT_COLUMNS} | {"arch_id": a, "seed": s, "arch": "x"}
                             for a, s in rows])

    msg = one_line_error(sa.merge, [frame([(0, 0)]), frame([(1, 0), (1, 0)])])
    assert msg == "merge-standalone: shard 2 holds architecture 1, seed 0 twice; rerun train-standalone for it"
    assert one_line_error(sa.merge, [frame([(0, 0)]), frame([(0, 0)])]) == \
        "merge-standalone: architecture 0 appears in two shards"
