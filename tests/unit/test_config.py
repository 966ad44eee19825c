"""nas.config: params.yaml loading, every key checked, variants, cross-key checks, fingerprints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from helpers import one_line_error
from nas import config, spaces
from nas.config import Config, from_dict, load
from nas.io import UserError

from helpers import REPO  # noqa: E402


def error(raw) -> str:
    return one_line_error(from_dict, raw)


def test_committed_params_load():
    cfg = load(REPO / "params.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert isinstance(cfg, Config)
    # spot checks that the file's values (not the defaults) are what was loaded
    assert cfg.sample.archs == raw["sample"]["archs"]
    assert cfg.supernet.epochs == raw["supernet"]["epochs"]
    assert cfg.space.channels == raw["space"]["channels"]
    assert cfg.variants == list(raw["supernet"]["variants"])
    assert config.to_dict(from_dict(config.to_dict(cfg))) == config.to_dict(cfg)  # round trip


@pytest.mark.parametrize("study", sorted((REPO / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_committed_studies_load_and_differ_from_params_only_where_they_say(study):
    cfg = load(study)
    base = load(REPO / "params.yaml")
    # a study is a whole params file: on the committed space, everything that is not the super-net
    # sweep or the ground truth it documents is the committed study's; a study of another space
    # (darts_space.yaml) sizes its own data and pool, and says so in its header
    if cfg.space.name == base.space.name:
        assert cfg.data == base.data and cfg.space == base.space and cfg.sample == base.sample
    else:
        header = study.read_text().split("\nseed:")[0]
        assert cfg.space.name in header.lower()
    assert len(cfg.variants) > 1 and "baseline" in cfg.variants


def test_the_schema_defaults_are_the_values_params_yaml_states():
    """One source of defaults: every key params.yaml writes has the schema's default as its value,
    and params.yaml writes every key of the schema (the default study is `from_dict({})`)."""
    from helpers import REPO

    written = yaml.safe_load((REPO / "params.yaml").read_text())
    defaults = config.to_dict(from_dict({}))

    def differences(a, b, path=""):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
            if isinstance(x, dict) and isinstance(y, dict) and key != "variants":
                out += differences(x, y, f"{path}{key}.")
            elif x != y:
                out.append(f"{path}{key}: params.yaml {x!r}, schema default {y!r}")
        return out
    assert differences(written, defaults) == []


def test_defaults():
    cfg = from_dict({})
    assert config.to_dict(cfg) == config.to_dict(Config())  # from_dict adds the resolved sub-section settings
    assert cfg.seed == 0 and cfg.device == "auto"
    assert cfg.data.dataset == "mnist1d" and cfg.data.root is None
    assert cfg.space.name == "nb201"
    assert cfg.variants == ["baseline", "uniform"]
    assert cfg.standalone.seeds == [0, 1]
    assert from_dict({"data": None}) == cfg  # an empty section is the defaults
    # mutable defaults are not shared between instances
    assert from_dict({}).supernet.variants is not cfg.supernet.variants


def test_values_are_typed():
    cfg = from_dict({"supernet": {"lr": 1}, "data": {"valid_fraction": 0.25}, "standalone": {"seeds": [3, 4]}})
    assert cfg.supernet.lr == 1.0 and isinstance(cfg.supernet.lr, float)
    assert cfg.data.valid_fraction == 0.25
    assert cfg.standalone.seeds == [3, 4]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1


# --- unknown keys -------------------------------------------------------------------------------------

def test_unknown_top_level_key():
    assert error({"sed": 1}) == "params: unknown key 'sed'; did you mean 'seed'?"
    msg = error({"zzzz": 1})
    assert msg.startswith("params: unknown key 'zzzz'; valid keys: seed, device, threads, data, space")


def test_unknown_key_in_section():
    assert error({"supernet": {"epoch": 3}}) == "supernet: unknown key 'epoch'; did you mean 'epochs'?"
    assert error({"data": {"valid_fractoin": 0.3}}) == \
        "data: unknown key 'valid_fractoin'; did you mean 'valid_fraction'?"
    msg = error({"eval": {"qqq": 1}})
    assert msg == "eval: unknown key 'qqq'; valid keys: bn, recalibrate_batches, batch_size, shards"


def test_section_not_a_mapping():
    assert error({"data": [1, 2]}) == "data: expected a mapping, got [1, 2]"
    assert error({"supernet": "fast"}) == "supernet: expected a mapping, got 'fast'"
    assert error([1, 2]).startswith("params: expected a mapping of sections, got list")


# --- types and ranges ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ({"supernet": {"epochs": 0}}, "supernet.epochs: 0 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"supernet": {"epochs": -1}}, "supernet.epochs: -1 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"supernet": {"epochs": 3.5}}, "supernet.epochs: 3.5 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"supernet": {"epochs": True}}, "supernet.epochs: true is not allowed; expected an integer >= 1 and <= 10000"),
    ({"standalone": {"batch_size": 0}}, "standalone.batch_size: 0 is not allowed; expected an integer >= 2"),
    ({"sample": {"archs": 0}}, "sample.archs: 0 is not allowed; expected an integer >= 2 and <= 100000"),
    ({"supernet": {"lr": "fast"}}, "supernet.lr: 'fast' is not allowed; expected a number > 0.0"),
    ({"supernet": {"lr": 0}}, "supernet.lr: 0 is not allowed; expected a number > 0.0"),
    ({"supernet": {"lr": float("nan")}}, "supernet.lr: nan is not allowed; expected a number > 0.0"),
    ({"supernet": {"weight_decay": float("inf")}},
     "supernet.weight_decay: inf is not allowed; expected a number >= 0.0"),
    ({"supernet": {"momentum": 1.0}}, "supernet.momentum: 1.0 is not allowed; expected a number >= 0.0 and < 1.0"),
    ({"data": {"valid_fraction": 1.5}},
     "data.valid_fraction: 1.5 is not allowed; expected a number > 0.0 and < 1.0"),
    ({"data": {"valid_fraction": 0}},
     "data.valid_fraction: 0 is not allowed; expected a number > 0.0 and < 1.0"),
    ({"data": {"dataset": "mnist"}},
     "data.dataset: 'mnist' is not allowed; expected one of mnist1d, cifar10, cifar100"),
    ({"eval": {"bn": "foo"}}, "eval.bn: 'foo' is not allowed; expected one of recalibrate, batch, stored"),
    ({"device": "gpu"}, "device: 'gpu' is not allowed; expected auto, cpu, cuda or cuda:N"),
    ({"device": "cuda:x"}, "device: 'cuda:x' is not allowed; expected auto, cpu, cuda or cuda:N"),
    ({"device": 0}, "device: 0 is not allowed; expected a string"),
    ({"supernet": {"nesterov": "yes"}}, "supernet.nesterov: 'yes' is not allowed; expected true or false"),
    ({"data": {"augment": 1}}, "data.augment: 1 is not allowed; expected true or false"),
    ({"supernet": {"channels": 0}},
     "supernet.channels: 0 is not allowed; expected an integer >= 1 and <= 1024 or null"),
    ({"standalone": {"seeds": 0}}, "standalone.seeds: 0 is not allowed; expected a list of ints >= 0 and <= 4294967295"),
    ({"standalone": {"seeds": [0, 1.5]}}, "standalone.seeds[1]: 1.5 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"supernet": {"variants": []}}, "supernet.variants: [] is not allowed; expected a mapping"),
    ({"seed": -1}, "seed: -1 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"space": {"name": 201}}, "space.name: 201 is not allowed; expected a string"),
])
def test_bad_values(raw, expected):
    assert error(raw) == expected


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_good_devices(device):
    assert from_dict({"device": device}).device == device


# --- variants -----------------------------------------------------------------------------------------

def test_baseline_variant():
    cfg = from_dict({"supernet": {"epochs": 7, "lr": 0.2}})
    hp = cfg.variant("baseline")
    assert hp.epochs == 7 and hp.lr == 0.2
    assert hp.variants == {}
    assert dataclasses.replace(hp, variants=cfg.supernet.variants) == cfg.supernet


def test_variant_overrides():
    cfg = from_dict({"supernet": {"epochs": 5, "variants": {"baseline": {}, "wide": {"channels": 16, "lr": 1},
                                                            "short": None}}})
    assert cfg.variants == ["baseline", "wide", "short"]
    wide = cfg.variant("wide")
    assert wide.channels == 16 and wide.lr == 1.0 and wide.epochs == 5
    assert cfg.variant("short") == cfg.variant("baseline")
    assert cfg.supernet.channels is None  # the base section is untouched


def test_variant_override_unknown_key():
    msg = error({"supernet": {"variants": {"baseline": {}, "fast": {"epoch": 2}}}})
    assert msg == "supernet.variants.fast: unknown key 'epoch'; did you mean 'epochs'?"
    # variants cannot nest
    msg = error({"supernet": {"variants": {"fast": {"variants": {}}}}})
    assert msg.startswith("supernet.variants.fast: unknown key 'variants'")


def test_variant_override_bad_value():
    assert error({"supernet": {"variants": {"fast": {"epochs": 0}}}}) == \
        "supernet.variants.fast.epochs: 0 is not allowed; expected an integer >= 1 and <= 10000"
    assert error({"supernet": {"variants": {"fast": [1]}}}) == \
        "supernet.variants.fast: expected a mapping of overrides, got [1]"
    assert error({"supernet": {"variants": {"fast": "epochs=2"}}}) == \
        "supernet.variants.fast: expected a mapping of overrides, got 'epochs=2'"
    assert error({"supernet": {"variants": {"fast": []}}}) == \
        "supernet.variants.fast: expected a mapping of overrides, got []"


def test_unknown_variant_name():
    cfg = from_dict({"supernet": {"variants": {"baseline": {}, "wide": {"channels": 4}}}})
    with pytest.raises(UserError) as info:
        cfg.variant("nope")
    assert str(info.value) == "--variant 'nope': not in supernet.variants; expected one of baseline, wide"


@pytest.mark.parametrize("name", ["a b", "../x", "a/b", "-x", "", "lr_0.025"])
def test_invalid_variant_name(name):
    msg = error({"supernet": {"variants": {name: {}}}})
    assert msg == f"supernet.variants: name {name!r} must be a string of letters, digits, '_' or '-' (at most 64)"


def test_no_variants():
    assert error({"supernet": {"variants": {}}}) == "supernet.variants: needs at least one variant (e.g. baseline: {})"


# --- cross-key checks ---------------------------------------------------------------------------------

def test_stored_bn_needs_running_statistics():
    assert error({"eval": {"bn": "stored"}}) == (
        "eval.bn: 'stored' needs running statistics, but variant 'baseline' has supernet.bn_track false; "
        "use recalibrate or batch")
    assert from_dict({"eval": {"bn": "stored"}, "supernet": {"bn_track": True}}).eval.bn == "stored"
    msg = error({"eval": {"bn": "stored"},
                 "supernet": {"bn_track": True, "variants": {"baseline": {}, "nt": {"bn_track": False}}}})
    assert "variant 'nt' has supernet.bn_track false" in msg


def test_save_epochs_within_epochs():
    assert error({"supernet": {"epochs": 3, "save_epochs": [1, 4]}}) == \
        "supernet.save_epochs: 4 is not allowed; expected epochs in 1..3"
    # checked per variant, against the variant's own epochs
    msg = error({"supernet": {"epochs": 5, "save_epochs": [4], "variants": {"b": {"epochs": 2}}}})
    assert msg == "supernet.save_epochs: 4 is not allowed; expected epochs in 1..2"


def test_data_root_required_for_cifar():
    for name in ("cifar10", "cifar100"):
        msg = error({"data": {"dataset": name}})
        assert msg.startswith(f"data.root: required for dataset {name}")
    assert from_dict({"data": {"dataset": "cifar10", "root": "/somewhere"}}).data.root == "/somewhere"


def test_table_source_needs_table():
    assert error({"standalone": {"source": "table"}}) == \
        "standalone.table.path: required when standalone.source is table"
    cfg = from_dict({"standalone": {"source": "table", "table": {"path": "nb201.csv"}, "seeds": []}})
    assert cfg.standalone.settings.path == "nb201.csv" and cfg.standalone.settings.arch_column == "arch"
    # the keys that moved into the source's own section say where they went
    assert error({"standalone": {"arch_column": "a"}}) == \
        "standalone: key 'arch_column' has moved; write it as standalone.table.arch_column"
    assert error({"standalone": {"source": "table", "table": "nb201.csv"}}) == \
        "standalone.table: expected a mapping of table's settings, got 'nb201.csv'"
    assert error({"standalone": {"table": {"path": "t.csv"}}}) == \
        "standalone.table: settings of source 'table', but standalone.source is 'train'"
    assert error({"standalone": {"source": "bench"}}) == \
        "standalone.source: unknown source 'bench'; expected one of train, table, benchmark"


def test_seeds():
    assert error({"standalone": {"seeds": [0, 1, 0]}}) == "standalone.seeds: [0, 1, 0] has duplicates"
    assert error({"standalone": {"seeds": []}}) == "standalone.seeds: needs at least one seed"


def test_shards_and_topk_against_archs():
    assert error({"sample": {"archs": 4}, "standalone": {"shards": 5}, "correlate": {"topk": [1]}}) == \
        "standalone.shards: 5 is more than sample.archs (4)"
    assert error({"sample": {"archs": 4}, "correlate": {"topk": [1, 2, 10]}}) == \
        "correlate.topk: 10 is not allowed; expected integers in 1..4"
    assert error({"correlate": {"topk": [0]}}) == "correlate.topk: 0 is not allowed; expected integers in 1..64"
    cfg = from_dict({"sample": {"archs": 4}, "standalone": {"shards": 4}, "correlate": {"topk": [1, 4]}})
    assert cfg.standalone.shards == 4


def test_unknown_select_method():
    msg = error({"select": {"methods": ["supernet", "darts"]}})
    assert msg.startswith("select.methods: unknown method 'darts'; expected one of ")
    assert "supernet" in msg.split("expected one of ")[1]


def test_unknown_space():
    assert error({"space": {"name": "nb999"}}) == "space.name: unknown space 'nb999'; expected one of nb201, darts, zhang64, nb101"


# --- files ----------------------------------------------------------------------------------------------

def load_error(path) -> str:
    return one_line_error(load, path)


def test_load_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("seed: 3\nsupernet:\n  epochs: 2\n")
    cfg = load(p)
    assert cfg.seed == 3 and cfg.supernet.epochs == 2
    p.write_text("")
    with pytest.raises(UserError, match="empty params file"):  # stages must not run on the built-in defaults
        load(p)


def test_missing_params_file(tmp_path):
    assert load_error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: params file not found"
    assert load_error(tmp_path) == f"{tmp_path}: params file not found"  # a directory is not a file


def test_unparseable_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("supernet:\n  epochs: [1, 2\n")
    assert load_error(p).startswith(f"{p}: not valid YAML (")
    p.write_text("seed: 0\n\tdevice: cpu\n")
    assert load_error(p).startswith(f"{p}: not valid YAML (")
    p.write_bytes(b"\xff\xfeseed: 0\n")
    assert load_error(p).startswith(f"{p}: not valid YAML (not UTF-8")


def test_yaml_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- seed\n- 0\n")
    assert load_error(p) == f"{p}: expected a mapping of sections, got list"


def test_errors_from_file_name_key(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("supernet:\n  epoch: 3\n")
    assert load_error(p) == "supernet: unknown key 'epoch'; did you mean 'epochs'?"
    p.write_text("data:\n  valid_fraction: .nan\n")
    assert load_error(p) == "data.valid_fraction: nan is not allowed; expected a number > 0.0 and < 1.0"


# --- fingerprint ----------------------------------------------------------------------------------------

def test_fingerprint():
    a, b = from_dict({"seed": 1}), from_dict({"seed": 1})
    fp = config.fingerprint(a.supernet, a.space, 1, "x")
    assert fp == config.fingerprint(b.supernet, b.space, 1, "x")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert config.fingerprint(a) == config.fingerprint(b)
    assert config.fingerprint(a) != config.fingerprint(from_dict({"seed": 2}))
    c = from_dict({"supernet": {"lr": 0.06}})
    assert config.fingerprint(c.supernet) != config.fingerprint(a.supernet)
    assert config.fingerprint(from_dict({"supernet": {"variants": {"baseline": {}, "w": {"lr": 1}}}}).variant("w")) \
        != config.fingerprint(a.variant("baseline"))
    # dict key order does not matter, values and part order do
    assert config.fingerprint({"x": 1, "y": 2}) == config.fingerprint({"y": 2, "x": 1})
    assert config.fingerprint({"x": 1}, "a") != config.fingerprint("a", {"x": 1})
    # a known value: the hash must not drift between runs, processes or machines
    assert config.fingerprint({"x": 1}) == "0b038d98d2d83021"


def test_variant_scores_with_stored_statistics_only_when_tracked():
    assert error({"supernet": {"variants": {"baseline": {}, "s": {"eval_bn": "stored"}}}}) == (
        "supernet.eval_bn: 'stored' needs running statistics, but variant 's' has supernet.bn_track false; "
        "use recalibrate or batch")
    cfg = from_dict({"supernet": {"variants": {"baseline": {}, "s": {"bn_track": True, "eval_bn": "stored"}}}})
    assert cfg.variant("s").eval_bn == "stored" and cfg.variant("baseline").eval_bn is None
    assert error({"supernet": {"eval_bn": "running"}}).startswith("supernet.eval_bn: 'running' is not allowed; "
                                                                 "expected one of recalibrate, batch, stored")


# --- params files: strict YAML, bounded values and messages ----------------------------------------

def write(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_duplicate_key_is_refused(tmp_path):
    path = write(tmp_path, "seed: 0\nsupernet:\n  epochs: 3\n  epochs: 5\n")
    assert one_line_error(load, path) == f"{path}: line 4: key 'epochs' appears twice in one mapping"


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefghi", "bcdefghij"))
    path = write(tmp_path, bomb + "supernet:\n  variants: {baseline: *j}\n")
    msg = one_line_error(load, path)
    assert msg == f"{path}: line 2: YAML aliases (*a) are not allowed in a params file; write the value out"


def test_empty_params_file_is_refused(tmp_path):
    path = write(tmp_path, "# nothing here\n")
    assert one_line_error(load, path).startswith(f"{path}: empty params file;")


def test_error_messages_stay_short_and_speak_yaml():
    huge = list(range(10**6))
    msg = error({"supernet": {"seeds": {"a": huge}}})
    assert len(msg) < 300, len(msg)
    assert error({"supernet": {"lr": None}}) == "supernet.lr: null is not allowed; expected a number > 0.0"
    assert error({"supernet": {"epochs": True}}) == "supernet.epochs: true is not allowed; expected an integer >= 1 and <= 10000"


@pytest.mark.parametrize("raw, expected", [
    ({"seed": 2**32}, "seed: 4294967296 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"data": {"seed": 2**40}}, "data.seed: 1099511627776 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"standalone": {"seeds": [0, -1]}}, "standalone.seeds[1]: -1 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"supernet": {"seeds": [2**64]}}, "supernet.seeds[0]: 18446744073709551616 is not allowed; expected an integer >= 0 and <= 4294967295"),
    ({"correlate": {"bootstrap": 10**9}}, "correlate.bootstrap: 1000000000 is not allowed; expected an integer >= 10 and <= 100000"),
    ({"space": {"channels": 10**6}}, "space.channels: 1000000 is not allowed; expected an integer >= 1 and <= 1024"),
    ({"supernet": {"variants": {1: {}}}}, "supernet.variants: name 1 must be a string of letters, digits, '_' or '-' (at most 64)"),
    ({"supernet": {"variants": {None: {}}}}, "supernet.variants: name null must be a string of letters, digits, '_' or '-' (at most 64)"),
])
def test_values_that_would_crash_later_are_refused(raw, expected):
    assert error(raw) == expected


def test_space_isomorphism_is_checked_against_the_space():
    assert from_dict({"space": {"isomorphism": "benchmark"}}).space.isomorphism == "benchmark"
    assert error({"space": {"isomorphism": "exact"}}) == \
        "space.isomorphism: 'exact' does not apply to space 'nb201'; expected one of function, benchmark"


def test_stages_use_the_configured_isomorphism():
    from nas import stages
    space = spaces.study_space(from_dict({"space": {"isomorphism": "benchmark"}}).space)
    assert space.isomorphism == "benchmark" and space.num_unique() == 6466
    assert spaces.study_space(from_dict({}).space).num_unique() == 5260


# --- hostile input: nothing deep, long or huge gets past loading (issue 30) -----------------------------

@pytest.mark.parametrize("depth", [400, 100_000])
def test_values_nested_deep_are_one_line_not_a_recursion_error(tmp_path, depth):
    import time

    path = write(tmp_path, "seed: 0\nsupernet:\n  variants:\n    baseline: {x: " + "[" * depth + "]" * depth + "}\n")
    start = time.perf_counter()
    assert one_line_error(load, path) == (f"{path}: line 4: values nested more than 32 levels deep; a params file "
                                          "is a few levels of sections and lists")
    assert time.perf_counter() - start < 5


MEGA = "x" * 10**6


@pytest.mark.parametrize("raw, start", [
    ({"space": {"name": MEGA}}, "space.name: unknown space 'xxxxx"),
    ({"select": {"methods": [MEGA]}}, "select.methods: unknown method 'xxxxx"),
    ({"supernet": {"method": MEGA}}, "supernet.method: unknown method 'xxxxx"),
    ({"supernet": {"variants": {"v": {"method": MEGA}}}}, "supernet.variants.v.method: unknown method 'xxxxx"),
    ({"device": MEGA}, "device: 'xxxxx"),
    ({"supernet": {"variants": {MEGA: {}}}}, "supernet.variants: name 'xxxxx"),
    ({"space": {"isomorphism": MEGA}}, "space.isomorphism: 'xxxxx"),
    ({MEGA: 1}, "params: unknown key 'xxxxx"),
])
def test_long_values_are_cut_in_every_message(raw, start):
    msg = error(raw)
    assert msg.startswith(start) and len(msg) < 300, msg[:400]


@pytest.mark.parametrize("raw, expected", [
    ({"data": {"num_samples": 10**12}},
     "data.num_samples: 1000000000000 is not allowed; expected an integer >= 100 and <= 1000000"),
    ({"supernet": {"epochs": 10**12}}, "supernet.epochs: 1000000000000 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"standalone": {"epochs": 10**12}},
     "standalone.epochs: 1000000000000 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"supernet": {"variants": {"long": {"epochs": 10**12}}}},
     "supernet.variants.long.epochs: 1000000000000 is not allowed; expected an integer >= 1 and <= 10000"),
    ({"sample": {"archs": 10**12}}, "sample.archs: 1000000000000 is not allowed; expected an integer >= 2 and <= 100000"),
    ({"supernet": {"variants": {"v" * 65: {}}}},
     f"supernet.variants: name '{'v' * 65}' must be a string of letters, digits, '_' or '-' (at most 64)"),
])
def test_sizes_that_would_never_finish_are_refused(raw, expected):
    assert error(raw) == expected


@pytest.mark.parametrize("method", ["magnitude", "perturbation"])
def test_a_selector_for_darts_without_a_darts_variant_is_refused_when_params_load(method):
    assert error({"select": {"methods": ["supernet", method]}}) == (
        f"select.methods: {method!r} applies to none of this study's super-nets (supernet.method spos); add a "
        "variant it applies to (e.g. supernet.method darts) or remove it")


@pytest.mark.parametrize("supernet, expected", [
    ({"variants": {"baseline": {}, "d": {"method": "darts", "sampling": "fairnas"}}},
     "supernet.variants.d.sampling: fairnas chooses the single path a step trains"),
    ({"variants": {"baseline": {}, "d": {"method": "darts", "sampling": "uniform"}}},
     "supernet.variants.d.sampling: uniform chooses the single path a step trains"),
    ({"method": "darts", "sampling": "fairnas", "variants": {"baseline": {}}},
     "supernet.sampling: fairnas chooses the single path a step trains"),
    ({"method": "darts", "sampling": "round_robin", "variants": {"baseline": {}, "u": {"sampling": "uniform"}}},
     "supernet.sampling: round_robin chooses the single path a step trains"),
])
def test_a_darts_variant_refuses_single_path_sampling(supernet, expected):
    msg = error({"supernet": supernet})
    assert msg.startswith(expected) and "supernet.method darts" in msg, msg


@pytest.mark.parametrize("sampling", ["uniform", "fairnas", "round_robin"])
def test_the_sections_sampling_is_for_the_single_path_variants_beside_a_darts_one(sampling):
    cfg = from_dict({"space": {"name": "zhang64"}, "sample": {"archs": 16},
                     "supernet": {"sampling": sampling, "variants": {"baseline": {}, "d": {"method": "darts"}}}})
    assert cfg.variant("d").method == "darts" and cfg.variant("baseline").sampling == sampling


def test_sample_all_is_every_class_of_the_space_and_round_trips():
    cfg = from_dict({"sample": {"archs": "all"}, "space": {"isomorphism": "benchmark"}})
    assert cfg.sample.archs == 6466 and cfg.sample.everything  # NAS-Bench-201's own unique cells
    assert from_dict({"sample": {"archs": "all"}}).sample.archs == 5260  # one per function
    assert config.to_dict(cfg)["sample"] == {"archs": "all"}
    assert from_dict(config.to_dict(cfg)) == cfg
    assert not from_dict({"sample": {"archs": 64}}).sample.everything


def test_sample_all_needs_an_enumerable_space_and_everything_is_not_a_key():
    msg = one_line_error(from_dict, {"sample": {"archs": "all"}, "space": {"name": "darts"}})
    assert msg.startswith("sample.archs: all needs a space whose classes can be listed; darts has 1.08e+18")
    assert "'everything'" in one_line_error(from_dict, {"sample": {"everything": True}})
    assert one_line_error(from_dict, {"sample": {"archs": "most"}}).startswith("sample.archs: 'most' is not allowed")
