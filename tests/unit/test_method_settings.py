"""A super-net method's own settings: a `Settings` dataclass on the method, written by users under
`supernet.<method>`, overridden per variant by a nested mapping, and tracked by the train stage only."""

from __future__ import annotations

import dataclasses

import pytest

from helpers import TINY, one_line_error
from nas import config, dag
from nas.config import from_dict, opt
from nas.supernet import base
from nas.supernet.spos import SPOS


@pytest.fixture
def toy_method(monkeypatch):
    """A method with settings of its own (SPOS's training, plus two keys only it has)."""

    @dataclasses.dataclass(frozen=True)
    class ToySettings:
        strength: float = opt(0.5, min=0.0, doc="how strongly the toy method does its thing")
        mode: str = opt("a", choices=("a", "b"))

    class Toy(SPOS):
        name = "toy"
        Settings = ToySettings

    monkeypatch.setitem(base.METHODS, "toy", Toy)
    return Toy


def params(**supernet):
    return {**TINY, "supernet": {**TINY["supernet"], **supernet}}


def test_settings_default_and_section_values(toy_method):
    cfg = from_dict(params(method="toy"))
    assert cfg.variant("baseline").settings == toy_method.Settings()
    cfg = from_dict(params(method="toy", toy={"strength": 2.0}))
    assert cfg.variant("baseline").settings.strength == 2.0
    assert cfg.variant("baseline").settings.mode == "a"


def test_a_method_without_settings_has_none_and_keeps_its_keys():
    hp = from_dict(TINY).variant("baseline")
    assert hp.method == "spos" and hp.settings is None
    assert "sections" not in config.to_dict(hp) and "settings" not in config.to_dict(hp)


def test_variant_overrides_merge_into_the_section(toy_method):
    cfg = from_dict(params(method="toy", toy={"strength": 2.0, "mode": "b"},
                           variants={"baseline": {}, "soft": {"toy": {"strength": 0.1}}}))
    assert cfg.variant("soft").settings == toy_method.Settings(strength=0.1, mode="b")  # mode kept
    assert cfg.variant("baseline").settings == toy_method.Settings(strength=2.0, mode="b")
    # a different variant's settings make a different resume fingerprint
    assert config.fingerprint(cfg.variant("soft")) != config.fingerprint(cfg.variant("baseline"))


def test_a_variant_may_switch_method_and_bring_its_settings(toy_method):
    cfg = from_dict(params(variants={"baseline": {}, "t": {"method": "toy", "toy": {"mode": "b"}}}))
    assert cfg.variant("baseline").settings is None
    assert cfg.variant("t").settings.mode == "b"


@pytest.mark.parametrize("supernet, message", [
    ({"method": "toy", "toy": {"strength": -1}}, "supernet.toy.strength: -1 is not allowed; expected a number >= 0.0"),
    ({"method": "toy", "toy": {"strenght": 1}}, "supernet.toy: unknown key 'strenght'; did you mean 'strength'?"),
    ({"method": "toy", "toy": 3}, "supernet.toy: expected a mapping of toy's settings, got 3"),
    ({"method": "toy", "variants": {"v": {"toy": {"mode": "c"}}}},
     "supernet.variants.v.toy.mode: 'c' is not allowed; expected one of a, b"),
    ({"toy": {"strength": 1}}, "supernet.toy: settings of method 'toy', but no variant uses it (supernet.method is 'spos')"),
    ({"variants": {"v": {"toy": {"strength": 1}}}},
     "supernet.variants.v.toy: settings of method 'toy', but this variant's supernet.method is 'spos'"),
    ({"spos": {"x": 1}}, "supernet.spos: method 'spos' has no settings of its own; its keys are supernet.* keys"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(toy_method, supernet, message):
    assert one_line_error(from_dict, params(**supernet)) == message


def test_round_trip_writes_the_section_where_a_user_writes_it(toy_method):
    cfg = from_dict(params(method="toy", toy={"strength": 2.0}))
    raw = config.to_dict(cfg)
    assert raw["supernet"]["toy"] == {"strength": 2.0}
    assert config.to_dict(from_dict(raw)) == raw


def test_the_train_stage_tracks_the_section_and_snakemake_sees_its_value(toy_method):
    cfg = from_dict(params(method="toy", toy={"strength": 2.0}))
    assert "supernet.toy" in dag.stage_spec(cfg, "train-supernet")["params"]
    assert dag.param_values(cfg, "train-supernet", "baseline")["supernet.toy"] == {"strength": 2.0}
    assert "supernet.toy" not in dag.stage_spec(from_dict(params(method="toy")), "train-supernet")["params"]
