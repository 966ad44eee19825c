"""nas.supernet.darts (first-order DARTS) and nas.selection.magnitude: mixed operations, alpha steps on
the valid split only, fix_alpha, smoothing, the alpha history, resume, and magnitude selection."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from helpers import TINY, one_line_error
from nas import config, io, selection, supernet
from nas.data import Tensors
from nas.selection import Context
from nas.spaces import nb201
from nas.supernet.modules import ArchWeights, MixedChoice

SPACE = nb201.SPACE


def hp_of(**darts):
    raw = {**TINY, "supernet": {**TINY["supernet"], "method": "darts", "sampling": "random_nas", "epochs": 2,
                                "darts": darts}}
    return config.from_dict(raw).variant("baseline")


def data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Tensors(torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g), (1, 40), 10, "mnist1d")


def test_removing_an_operation_changes_the_output_exactly_by_its_weighted_term():
    torch.manual_seed(0)
    ops = {"none": None, "skip_connect": torch.nn.Identity(), "nor_conv_1x1": torch.nn.Conv1d(2, 2, 1)}
    mixed = MixedChoice(ops)
    x = torch.randn(3, 2, 5)
    w = {"none": torch.tensor(0.2), "skip_connect": torch.tensor(0.3), "nor_conv_1x1": torch.tensor(0.5)}
    full = mixed(x, w)
    torch.testing.assert_close(full, 0.3 * x + 0.5 * ops["nor_conv_1x1"](x))
    removed = mixed(x, {**w, "nor_conv_1x1": 0.0})  # DARTS-PT's removal: weight zero, no renormalisation
    torch.testing.assert_close(full - removed, 0.5 * ops["nor_conv_1x1"](x))
    assert torch.equal(mixed(x, "skip_connect"), x)  # a discrete child runs its one operation


def test_alpha_gets_gradients_from_validation_batches_only_and_never_from_training():
    hp = hp_of()
    train, valid = data(128, 0), data(64, 1)
    net = supernet.build(SPACE, hp, 4, 1, train)
    method = supernet.method_for(SPACE, hp)
    method.setup(net, 2, 0)
    flows = []
    for a in net.arch_weights.alpha:
        a.register_hook(lambda g: flows.append(1))
    weight_params = {id(p) for g in method.optimizer.param_groups for p in g["params"]}
    assert not weight_params & {id(a) for a in net.arch_weights.alpha}  # SGD never holds alpha
    before = [a.detach().clone() for a in net.arch_weights.alpha]
    row = method.train_epoch(1, net, train.x, train.y, torch.Generator().manual_seed(0), None, (valid.x, valid.y))
    steps = 128 // hp.batch_size
    assert len(flows) == steps * len(before)  # one gradient per alpha per *alpha* step, none from weight steps
    assert row["passes"] == 2 * steps and any(not torch.equal(a, b) for a, b in zip(net.arch_weights.alpha, before))


def test_fix_alpha_keeps_the_mixture_uniform():
    hp = hp_of(fix_alpha=True)
    train = data(128)
    net = supernet.build(SPACE, hp, 4, 1, train)
    method = supernet.method_for(SPACE, hp)
    method.setup(net, 2, 0)
    row = method.train_epoch(1, net, train.x, train.y, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, torch.zeros_like(a)) for a in net.arch_weights.alpha)
    assert row["passes"] == 128 // hp.batch_size
    assert all(p == pytest.approx(0.2) for ops in net.arch_weights.export_probs().values() for p in ops.values())


def test_smoothing_perturbs_the_weight_steps_mixture_within_its_amplitude():
    hp = hp_of(smoothing=0.3)
    net = supernet.build(SPACE, hp, 4, 1, data())
    method = supernet.method_for(SPACE, hp)
    method.setup(net, 2, 0)
    with torch.no_grad():
        plain, noisy = method.mixing(net), method.mixing(net, 0.3)
    diffs = [abs(float(noisy[e][op]) - float(plain[e][op])) for e in range(6) for op in nb201.OPS]
    assert 0 < max(diffs) <= 0.3 + 1e-6
    assert all(0 <= float(noisy[e][op]) <= 1 for e in range(6) for op in nb201.OPS)


def test_smoothing_amplitude_rises_linearly_as_in_sdarts_and_holds_while_fine_tuning():
    s = hp_of(smoothing=0.3).settings
    assert [round(s.smoothing_at(e, 10), 6) for e in (1, 6, 11, 15)] == [0.03, 0.165, 0.3, 0.3]
    assert hp_of().settings.smoothing_at(5, 10) == 0.0  # off unless asked for


def test_history_has_alpha_per_edge_and_operation_and_resume_is_identical(tmp_path):
    hp = hp_of(smoothing=0.1)
    train, valid = data(128, 0), data(64, 1)

    class Killed(Exception):
        pass

    def run(state, kill_at=None):
        torch.manual_seed(0)
        net = supernet.build(SPACE, hp, 4, 1, train)

        def on_epoch(epoch, model):
            if epoch == kill_at:
                raise Killed  # dies before this epoch is checkpointed
        history = supernet.train(net, hp, SPACE, train, 0, torch.device("cpu"), state, on_epoch=on_epoch, valid=valid)
        return net, history

    net_a, hist_a = run(tmp_path / "a.pt")
    with pytest.raises(Killed):
        run(tmp_path / "b.pt", kill_at=2)
    assert io.load_checkpoint(tmp_path / "b.pt")["epoch"] == 1
    torch.manual_seed(123)  # a fresh process: the resume must not rely on the RNG left behind
    net_b, hist_b = run(tmp_path / "b.pt")  # resumed from epoch 1: both optimisers, noise, RNG
    assert hist_a.equals(hist_b)
    for (ka, va), (kb, vb) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert "alpha[1<-0][nor_conv_3x3]" in hist_a.columns and "param_free_edges" in hist_a.columns
    rows = hist_a.filter(like="alpha[3<-2]")
    assert rows.sum(axis=1).round(6).eq(1.0).all()  # a softmax per edge and epoch


def test_weights_hold_alpha_and_load_rebuilds_it(tmp_path):
    hp = hp_of()
    train = data()
    net = supernet.build(SPACE, hp, 4, 1, train)
    with torch.no_grad():
        net.arch_weights.alpha[0].copy_(torch.tensor([0.0, 0.0, 5.0, 0.0, 0.0]))
    meta = supernet.checkpoint_meta(config.from_dict(TINY).space, hp, train, [], "baseline", 0)
    io.save_checkpoint(supernet.checkpoint(net, meta, 2), tmp_path / "w.pt")
    loaded, meta = supernet.load(tmp_path / "w.pt", "nb201")
    assert meta["method"] == "darts" and isinstance(loaded.arch_weights, ArchWeights)
    assert torch.equal(loaded.arch_weights.alpha[0], net.arch_weights.alpha[0])


def _context(net, method, magnitude_none=True):
    sel = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "method": "darts", "sampling": "random_nas"},
                            "select": {"methods": ["magnitude"], "magnitude": {"allow_none": magnitude_none}}}).select
    import pandas as pd
    from nas import layout as L
    return Context(space=SPACE, run=L.Run("baseline", 0), scores=pd.DataFrame(), pool=pd.DataFrame(), seed=0,
                   load_supernet=lambda: (net, {"method": method}), settings=sel.settings)


def test_magnitude_takes_the_largest_alpha_per_edge_none_included_by_default():
    net = supernet.build(SPACE, hp_of(), 4, 1, data())
    with torch.no_grad():
        for i, a in enumerate(net.arch_weights.alpha):
            a.copy_(torch.tensor([3.0, 1.0, 0.0, 2.0, 0.0]) if i == 0 else torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))
    picked = selection.SELECTORS["magnitude"](_context(net, "darts"))
    assert picked == ("none",) + ("nor_conv_3x3",) * 5  # the NAS-Bench-201 code's plain argmax
    darts_rule = selection.SELECTORS["magnitude"](_context(net, "darts", magnitude_none=False))
    assert darts_rule == ("nor_conv_3x3",) * 6  # DARTS's own: the strongest operation other than none


def test_magnitude_does_not_apply_to_a_supernet_without_alpha():
    hp = config.from_dict(TINY).variant("baseline")
    net = supernet.build(SPACE, hp, 4, 1, data())
    with pytest.raises(selection.NotApplicable):
        selection.SELECTORS["magnitude"](_context(net, "spos"))
    skipped = {}
    assert selection.pick(_context(net, "spos"), ["magnitude"], skipped).empty  # that run gets no pick
    assert isinstance(skipped["magnitude"], selection.NotApplicable)  # the pick stage raises it if no run applies
    msg = one_line_error(selection.SELECTORS["magnitude"], _context(net, "spos"))
    assert msg == ("select.methods: magnitude reads architecture weights, but run baseline/seed-0 was trained with "
                   "supernet.method 'spos', which has none; methods with architecture weights: darts")


@pytest.mark.parametrize("supernet_keys, message", [
    ({"landmarks": 2}, "supernet.landmarks: 2 is a single-path heuristic; supernet.method darts does not use it"),
    ({"op_on": "node"}, "supernet.op_on: DARTS mixes the operations of each edge"),
    ({"sampling": "fairnas"}, "supernet.sampling: fairnas chooses the single path a step trains; supernet.method "
                              "darts trains every operation of every edge at once and would ignore it"),
    ({"darts": {"alpha_lr": 0}}, "supernet.darts.alpha_lr: 0 is not allowed; expected a number > 0.0"),
    ({"darts": {"smoothing": 1.5}}, "supernet.darts.smoothing: 1.5 is not allowed"),
])
def test_bad_darts_settings_are_one_line_errors(supernet_keys, message):
    raw = {**TINY, "supernet": {**TINY["supernet"], "method": "darts", "sampling": "random_nas", **supernet_keys}}
    assert one_line_error(config.from_dict, raw).startswith(message)


def test_magnitude_in_a_space_with_input_groups_keeps_each_nodes_strongest_edges_as_darts_derives_genotypes():
    from nas.spaces import darts as D
    hp = hp_of()
    net = supernet.build(D.SPACE, hp, 4, 1, data())
    keys = [c.key for c in D.SPACE.choices()]
    ops = list(D.OPS)
    with torch.no_grad():
        for k, a in zip(keys, net.arch_weights.alpha):
            a.zero_()
            a[ops.index("none")] = 5.0  # none is the largest everywhere: DARTS ignores it for genotypes
            j, i = map(int, k.split(":")[1].split("<-"))
            a[ops.index("sep_conv_3x3" if i % 2 else "max_pool_3x3")] = 1.0 + i  # later inputs are stronger
    ctx = _context(net, "darts")
    ctx = Context(space=D.SPACE, run=ctx.run, scores=ctx.scores, pool=ctx.pool, seed=0,
                  load_supernet=lambda: (net, {"method": "darts"}), settings=ctx.settings)
    picked = D.SPACE.to_picks(selection.SELECTORS["magnitude"](ctx))
    D.SPACE.check_picks(picked)
    for kind in D.KINDS:
        for j in D.NODES:
            used = {i: picked[f"{kind}:{j}<-{i}"] for i in range(j) if picked[f"{kind}:{j}<-{i}"] != "none"}
            assert sorted(used) == [j - 2, j - 1]  # the two strongest edges, each with its strongest non-none op
            assert all(op == ("sep_conv_3x3" if i % 2 else "max_pool_3x3") for i, op in used.items())
