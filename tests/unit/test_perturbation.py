"""nas.selection.perturbation (DARTS-PT): decisions by the damage a removal does, fine-tuning between
them, the decision log, resume after a kill, and where it does not apply."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from helpers import TINY, one_line_error
from nas import config, selection, supernet
from nas.selection.perturbation import PerturbationSettings as PerturbationConfig
from nas.selection.perturbation import perturb as perturbation_stage
from nas.data import Tensors
from nas.selection import perturbation as P
from nas.spaces import nb201

SPACE = nb201.SPACE


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return Tensors(torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g), (1, 40), 10, "mnist1d")


def darts_run(space, train, valid):
    """A DARTS super-net over `space` after one epoch on `train` (alpha steps on `valid`)."""
    raw = {**TINY, "supernet": {**TINY["supernet"], "method": "darts", "sampling": "random_nas", "epochs": 1}}
    hp = config.from_dict(raw).variant("baseline")
    torch.manual_seed(0)
    net = supernet.build(space, hp, 4, 1, train)
    method = supernet.method_for(space, hp)
    method.setup(net, 2, 0)
    method.train_epoch(1, net, train.x, train.y, torch.Generator().manual_seed(0), None, (valid.x, valid.y))
    return hp, method, net


@pytest.fixture
def trained():
    train, valid = data(128, 0), data(64, 1)
    hp, _, net = darts_run(SPACE, train, valid)
    return hp, net, train, valid


def fresh(hp, net):
    """The trained super-net in a new method object and a copy of the network (a new process)."""
    copy = supernet.build(SPACE, hp, 4, 1, data(8, 0))
    copy.load_state_dict(net.state_dict())
    return supernet.method_for(SPACE, hp), copy


def test_each_decision_keeps_the_operation_whose_removal_hurts_most(trained, tmp_path):
    hp, net, train, valid = trained
    method, net = fresh(hp, net)
    log = P.select(method, net, train, valid, PerturbationConfig(tune_epochs=1), 0, tmp_path / "s.pt",
                   torch.device("cpu"))
    assert list(log.columns) == P.LOG_COLUMNS and len(log) == 2 * 6 * 5  # decision 0: every edge, before any
    assert sorted(log["choice"].unique()) == sorted(c.key for c in SPACE.choices())
    assert not log.loc[log["decision"] == 0, "chosen"].any()
    for _, d in log[log["decision"] > 0].groupby("decision"):
        assert d["chosen"].sum() == 1
        assert d.loc[d["chosen"], "accuracy"].iloc[0] == d["accuracy"].min()
    arch = P.chosen_architecture(log, SPACE)
    assert len(arch) == 6 and all(op in nb201.OPS for op in arch)
    # the edge order is random but seeded
    import numpy as np
    keys = [c.key for c in SPACE.choices()]
    decided = log[log["decision"] > 0]
    assert decided.drop_duplicates("decision")["choice"].tolist() == [keys[i] for i in np.random.default_rng(0).permutation(6)]
    damage = P.alpha_vs_damage(log)
    assert list(damage["choice"]) == keys and damage["tau"].dropna().between(-1, 1).all()  # NaN: all tied
    method2, net2 = fresh(hp, trained[1])
    again = P.select(method2, net2, train, valid, PerturbationConfig(tune_epochs=1), 0, tmp_path / "t.pt",
                     torch.device("cpu"))
    pd.testing.assert_frame_equal(log, again)


def test_loss_criterion_keeps_the_removal_with_the_highest_loss(trained, tmp_path):
    hp, net, train, valid = trained
    method, net = fresh(hp, net)
    log = P.select(method, net, train, valid, PerturbationConfig(criterion="loss", tune_epochs=0), 0,
                   tmp_path / "s.pt", torch.device("cpu"))
    for _, d in log[log["decision"] > 0].groupby("decision"):
        assert d.loc[d["chosen"], "loss"].iloc[0] == d["loss"].max()


def test_a_killed_selection_resumes_after_its_last_decision_with_the_same_log(trained, tmp_path, monkeypatch):
    hp, net, train, valid = trained
    settings = PerturbationConfig(tune_epochs=1, valid_batches=1)
    method, a = fresh(hp, net)
    full = P.select(method, a, train, valid, settings, 0, tmp_path / "a.pt", torch.device("cpu"))

    class Killed(Exception):
        pass
    method, b = fresh(hp, net)
    calls = {"n": 0}
    real = type(method).train_epoch

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # during the fine-tuning after decision 3
            raise Killed
        return real(self, *args, **kwargs)
    monkeypatch.setattr(type(method), "train_epoch", dying)
    with pytest.raises(Killed):
        P.select(method, b, train, valid, settings, 0, tmp_path / "b.pt", torch.device("cpu"))
    monkeypatch.setattr(type(method), "train_epoch", real)
    torch.manual_seed(99)
    method, c = fresh(hp, net)  # a new process loads weights.pt again; the saved state carries the rest
    resumed = P.select(method, c, train, valid, settings, 0, tmp_path / "b.pt", torch.device("cpu"))
    pd.testing.assert_frame_equal(full, resumed)
    for (k, v), (_, w) in zip(a.state_dict().items(), c.state_dict().items()):
        assert torch.equal(v, w), k


def test_alpha_vs_damage_is_tau_between_alpha_and_the_removal_damage():
    log = pd.DataFrame({"decision": 0, "phase": "operation", "step": 0, "choice": ["e"] * 3, "op": ["a", "b", "c"], "alpha": [0.5, 0.3, 0.2],
                        "accuracy": [70.0, 80.0, 90.0], "loss": 1.0, "chosen": False})
    row = P.alpha_vs_damage(log).iloc[0]
    assert row["tau"] == pytest.approx(1.0) and row["top_by_alpha"] == row["top_by_damage"] == "a"
    flipped = P.alpha_vs_damage(log.assign(accuracy=[90.0, 80.0, 70.0])).iloc[0]
    assert flipped["tau"] == pytest.approx(-1.0) and flipped["top_by_damage"] == "c"


def test_perturbation_skips_runs_without_a_decision_log_and_the_stage_refuses_spos(tmp_path, monkeypatch):
    from nas import layout as L, stages
    monkeypatch.chdir(tmp_path)
    ctx = selection.Context(space=SPACE, run=L.Run("baseline", 0), scores=pd.DataFrame(), pool=pd.DataFrame(), seed=0)
    with pytest.raises(selection.NotApplicable):
        selection.SELECTORS["perturbation"](ctx)
    # A study where it applies to no variant is refused when loaded, before any training...
    assert one_line_error(config.from_dict, {**TINY, "select": {"methods": ["perturbation"]}}) == (
        "select.methods: 'perturbation' applies to none of this study's super-nets (supernet.method spos); add a "
        "variant it applies to (e.g. supernet.method darts) or remove it")
    # ... and its stage, asked for a run it does not apply to, says why.
    cfg = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "variants": {"baseline": {}, "d": {"method": "darts"}}},
                            "select": {"methods": ["perturbation"]}})
    assert one_line_error(perturbation_stage, cfg) == (
        "select.methods: perturbation needs a super-net with architecture weights, but variant 'baseline' uses "
        "supernet.method 'spos'; methods with them: darts")


@pytest.mark.parametrize("key, value, message", [
    ("tune_epochs", -1, "select.perturbation.tune_epochs: -1 is not allowed; expected an integer >= 0"),
    ("criterion", "acc", "select.perturbation.criterion: 'acc' is not allowed; expected one of accuracy, loss"),
    ("lr_factor", 0, "select.perturbation.lr_factor: 0 is not allowed"),
])
def test_bad_perturbation_settings(key, value, message):
    msg = one_line_error(config.from_dict, {**TINY, "select": {"methods": ["perturbation"], "perturbation": {key: value}}})
    assert msg.startswith(message)


# --- spaces whose nodes use some of their inputs: topology selection ---------------------------------

def grouped_run(space, shape=(1, 12)):
    g = torch.Generator().manual_seed(0)
    train = Tensors(torch.randn(64, *shape, generator=g), torch.randint(0, 10, (64,), generator=g), shape, 10, "mnist1d")
    valid = Tensors(torch.randn(32, *shape, generator=g), torch.randint(0, 10, (32,), generator=g), shape, 10, "mnist1d")
    _, method, net = darts_run(space, train, valid)
    return method, net, train, valid


@pytest.mark.parametrize("space_name", ["toy", "darts"])
def test_topology_selection_leaves_keep_inputs_per_node_removing_the_least_harmful_edge(space_name, tmp_path):
    from nas.spaces import darts
    from unit.toy_space import ToySpace
    space = ToySpace() if space_name == "toy" else darts.SPACE
    method, net, train, valid = grouped_run(space)
    settings = PerturbationConfig(tune_epochs=1 if space_name == "toy" else 0, valid_batches=1)
    log = P.select(method, net, train, valid, settings, 0, tmp_path / "s.pt", torch.device("cpu"))
    arch = P.chosen_architecture(log, space)
    picks = space.to_picks(arch)
    space.check_picks(picks)  # every node uses exactly `keep` of its inputs
    members = [c.group for c in space.choices() if c.group is not None]
    keep = {c.group: c.keep for c in space.choices()}
    groups = {g for g in members if members.count(g) > keep[g]}  # nodes with an edge to remove
    topo = log[log["phase"] == "topology"]
    assert set(topo["decision"]) == set(range(len(space.choices()) + 1, len(space.choices()) + len(groups) + 1))
    ops = log[(log["phase"] == "operation") & (log["decision"] > 0)]
    assert "none" not in set(ops.loc[ops["choice"].isin([c.key for c in space.choices() if c.group]), "op"])
    for _, step in topo.groupby(["decision", "step"]):
        assert step["chosen"].sum() == 1
        assert step.loc[step["chosen"], "accuracy"].iloc[0] == step["accuracy"].max()  # hurts least
    for c in space.choices():  # an edge topology removed picks none; a kept one its operation's decision
        removed = topo[(topo["choice"] == c.key) & topo["chosen"]]
        expected = "none" if len(removed) else ops.loc[ops["choice"] == c.key].query("chosen")["op"].iloc[0]
        assert picks[c.key] == expected
    if space_name == "darts":  # node j removes j - 2 of its j inputs, one step each
        for node in darts.NODES:
            rows = topo[topo["choice"].str.startswith("normal:") & topo["choice"].str.contains(f":{node}<-")]
            assert rows["chosen"].sum() == node - 2


def test_topology_by_magnitude_keeps_the_edges_of_largest_alpha(tmp_path):
    from unit.toy_space import ToySpace
    space = ToySpace()
    method, net, train, valid = grouped_run(space)
    log = P.select(method, net, train, valid, PerturbationConfig(tune_epochs=0, valid_batches=1,
                                                                 topology="magnitude"), 0, tmp_path / "s.pt",
                   torch.device("cpu"))
    topo = log[log["phase"] == "topology"]
    assert topo["accuracy"].isna().all()
    for _, node in topo.groupby("decision"):
        kept, removed = node.loc[~node["chosen"], "alpha"], node.loc[node["chosen"], "alpha"]
        assert len(removed) == 1 and kept.min() >= removed.max()
    space.check_picks(space.to_picks(P.chosen_architecture(log, space)))


def test_topology_selection_on_a_space_without_input_groups_is_refused():
    darts = {**TINY["supernet"], "variants": {"baseline": {"method": "darts"}}}
    msg = one_line_error(config.from_dict, {**TINY, "supernet": darts, "select": {
        "methods": ["perturbation"], "perturbation": {"topology": "perturbation"}}})
    assert msg == ("select.perturbation.topology: 'perturbation' selects which input edges a node keeps, but every "
                   "choice of space 'nb201' is used (no input groups); leave it at auto")
