"""Every registered super-net method keeps the Method contract (nas/supernet/base.py): each entry of
`nas.supernet.METHODS`, so a new method is checked as soon as it registers. On a tiny NB201 super-net
and tiny data, each method builds its network from one `NetworkSettings` value, trains, saves a
checkpoint that `nas.supernet.load` rebuilds exactly, and resumes a killed run to the bytes of an
uninterrupted one; its `Settings` are declared with `nas.settings.opt`, and no module of
`nas/supernet/` imports the config. Test names are the rules; ids are the methods."""

from __future__ import annotations

import ast
import dataclasses
import io as stdio
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from helpers import TINY
from nas import config, io, supernet
from nas.data import Tensors
from nas.spaces import get_space
from nas.spaces.base import NetworkSettings
from nas.supernet import METHODS

NAMES = list(METHODS)
method_param = pytest.mark.parametrize("name", NAMES, ids=NAMES)
SHAPE, CLASSES = (1, 16), 10
OPT_KEYS = {"min", "max", "choices", "above", "below", "doc"}  # the metadata `nas.settings.opt` gives a field
SUPERNET_DIR = Path(supernet.__file__).resolve().parent


def params(name: str) -> dict:
    """The tiny study with `name` as its super-net method: C=2, one cell, 2 epochs of 2 steps (a method
    that mixes every path, with architecture weights, samples none: it keeps the default sampling)."""
    sampling = "random_nas" if METHODS[name].architecture_weights else TINY["supernet"]["sampling"]
    return {**TINY, "space": {"name": "nb201", "channels": 2, "cells": 1},
            "supernet": {**TINY["supernet"], "method": name, "epochs": 2, "batch_size": 16, "save_epochs": [],
                         "seeds": [0], "sampling": sampling}}


def tensors(n: int, seed: int) -> Tensors:
    g = torch.Generator().manual_seed(seed)
    return Tensors(torch.randn(n, *SHAPE, generator=g), torch.randint(0, CLASSES, (n,), generator=g), SHAPE,
                   CLASSES, "mnist1d")


TRAIN, VALID = tensors(32, 0), tensors(16, 1)  # a valid split for methods that need one (DARTS's alpha steps)


class Killed(Exception):
    pass


def run(name: str, state: Path, kill_at: int | None = None):
    """Build the super-net of `name` (torch seed 0) and train it with a resume state at `state`; a run
    with `kill_at` dies in epoch `kill_at`'s callback, before that epoch is saved."""
    cfg = config.from_dict(params(name))
    hp, space = cfg.variant("baseline"), get_space(cfg.space.name)
    torch.manual_seed(0)
    method = supernet.method_for(space, hp)
    net = method.build(cfg.space.channels, cfg.space.cells, TRAIN)

    def on_epoch(epoch, model):
        if epoch == kill_at:
            raise Killed

    history = supernet.base.train(method, net, TRAIN, 0, torch.device("cpu"), state, on_epoch=on_epoch,
                                  valid=VALID)
    return cfg, hp, method, net, history


def tensor_bytes(obj) -> bytes:
    buf = stdio.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per method, trained once: an uninterrupted 2-epoch run, and a run killed in epoch 2 (its state
    holds epoch 1) then resumed by a fresh network and method."""
    cache = {}

    def get(name):
        if name not in cache:
            root = tmp_path_factory.mktemp(f"method-{name}")
            full = run(name, root / "full.pt")
            with pytest.raises(Killed):
                run(name, root / "killed.pt", kill_at=2)
            killed_epoch = io.load_checkpoint(root / "killed.pt")["epoch"]
            resumed = run(name, root / "killed.pt")
            cache[name] = {"root": root, "full": full, "killed_epoch": killed_epoch, "resumed": resumed}
        return cache[name]
    return get


def fixed_archs(space, n=3):
    return space.sample(n, 0)


# --- the method's declarations ---------------------------------------------------------------------

@method_param
def test_settings_are_none_or_a_frozen_dataclass_of_opt_fields(name):
    settings = METHODS[name].Settings
    if settings is None:
        return
    assert dataclasses.is_dataclass(settings) and isinstance(settings, type), \
        f"method {name}: Settings must be a dataclass (or None)"
    assert settings.__dataclass_params__.frozen, f"method {name}: Settings must be a frozen dataclass"
    for f in dataclasses.fields(settings):
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert has_default, f"method {name}: Settings.{f.name} has no default (make it with nas.settings.opt)"
        assert OPT_KEYS <= set(f.metadata), f"method {name}: Settings.{f.name} is not made with nas.settings.opt"
    settings()  # every field defaults: the method runs without a supernet.<name> section


def _config_imports(path: Path) -> list[str]:
    """The lines of `path` that import nas.config (in any form, at any depth)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(n == "nas.config" or n.startswith("nas.config.") for n in names):
            found.append(f"{path.name}:{node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(SUPERNET_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_no_supernet_module_imports_the_config(path):
    """Methods declare settings with nas.settings; nas.config assembles them through the registry."""
    assert not _config_imports(path), f"nas/supernet/{path.name} imports nas.config: {_config_imports(path)}"


@method_param
def test_the_method_s_module_does_not_import_the_config(name):
    path = Path(sys.modules[METHODS[name].__module__].__file__)
    assert not _config_imports(path), f"method {name}: its module imports nas.config: {_config_imports(path)}"


# --- build, train, save, load, resume ----------------------------------------------------------------

@method_param
def test_build_passes_one_network_settings_value_and_the_method_s_choice(name, monkeypatch):
    cfg = config.from_dict(params(name))
    hp, space = cfg.variant("baseline"), get_space(cfg.space.name)
    method = supernet.method_for(space, hp)
    calls, real = [], space.build_supernet

    def recording(net, choice):
        calls.append((net, choice))
        return real(net, choice)

    monkeypatch.setattr(space, "build_supernet", recording)
    torch.manual_seed(0)
    net = method.build(cfg.space.channels, cfg.space.cells, TRAIN)
    want = NetworkSettings.of(hp, cfg.space.channels, cfg.space.cells, TRAIN, training=True)
    assert calls == [(want, METHODS[name].choice)], f"method {name}: build did not build the super-net of {want}"
    net.eval()
    with torch.no_grad():
        out = net(VALID.x[:4], fixed_archs(space, 1)[0])
    assert out.shape == (4, CLASSES), f"method {name}: the super-net's logits have shape {tuple(out.shape)}"


@method_param
def test_one_epoch_trains_and_reports_the_history_columns(name, runs):
    _, _, _, net, history = runs(name)["full"]
    assert list(history.columns[:len(supernet.HISTORY_COLUMNS)]) == supernet.HISTORY_COLUMNS, \
        f"method {name}: history columns {list(history.columns)}"
    assert history["epoch"].tolist() == [1, 2] and (history["passes"] > 0).all(), f"method {name}: {history}"
    assert history["train_loss"].map(lambda v: v == v and abs(v) < float("inf")).all(), \
        f"method {name}: a training loss is not finite"


@method_param
def test_checkpoint_loads_back_to_the_same_weights_metadata_and_outputs(name, runs):
    r = runs(name)
    cfg, hp, method, net, _ = r["full"]
    meta = supernet.checkpoint_meta(cfg.space, hp, TRAIN, [], "baseline", 0)
    path = r["root"] / "weights.pt"
    io.save_checkpoint(supernet.checkpoint(net, meta, hp.epochs), path)
    loaded, got = supernet.load(path, cfg.space.name)
    assert list(got.items()) == list({**meta, "epoch": hp.epochs}.items()), f"method {name}: metadata differs"
    assert NetworkSettings.from_meta(got) == NetworkSettings.of(hp, cfg.space.channels, cfg.space.cells, TRAIN), \
        f"method {name}: the checkpoint does not hold the run's network settings"
    mine, theirs = net.state_dict(), loaded.state_dict()
    assert list(theirs) == list(mine), f"method {name}: the loaded super-net has other state-dict keys"
    for k in mine:
        assert torch.equal(theirs[k], mine[k]), f"method {name}: loaded {k} differs"
    net.eval(), loaded.eval()
    with torch.no_grad():
        for arch in fixed_archs(get_space(cfg.space.name)):
            assert torch.equal(loaded(VALID.x, arch), net(VALID.x, arch)), \
                f"method {name}: the loaded super-net scores {arch} differently"
    again = r["root"] / "again.pt"  # what load rebuilt, saved again: the same bytes
    io.save_checkpoint(supernet.checkpoint(loaded, meta, hp.epochs), again)
    assert again.read_bytes() == path.read_bytes(), f"method {name}: a loaded checkpoint saves to other bytes"


@method_param
def test_a_killed_run_resumes_to_the_bytes_of_an_uninterrupted_one(name, runs):
    r = runs(name)
    assert r["killed_epoch"] == 1, f"method {name}: the killed run's state holds epoch {r['killed_epoch']}, not 1"
    *_, full_net, full_history = r["full"]
    *_, resumed_net, resumed_history = r["resumed"]
    pd.testing.assert_frame_equal(resumed_history, full_history, obj=f"method {name}: resumed history")
    full_w, resumed_w = supernet.weights(full_net), supernet.weights(resumed_net)
    assert tensor_bytes(resumed_w) == tensor_bytes(full_w), \
        f"method {name}: resumed weights differ: " + ", ".join(k for k in full_w if not torch.equal(full_w[k],
                                                                                                     resumed_w[k]))
    full_probs, resumed_probs = r["full"][2].export_probs(), r["resumed"][2].export_probs()
    assert resumed_probs == full_probs, f"method {name}: resumed architecture weights differ"
    # the resume state saved after the last epoch holds the same values too (optimizers, random streams,
    # history); not the same bytes: pickle shares objects the uninterrupted run happens to reuse
    differ = differences(io.load_checkpoint(r["root"] / "full.pt"), io.load_checkpoint(r["root"] / "killed.pt"))
    assert not differ, f"method {name}: the final resume states differ at {', '.join(differ[:5])}"


def differences(a, b, where="state") -> list[str]:
    """Where two nested values (dicts, lists, tensors, plain values) differ; NaN equals NaN."""
    if type(a) is not type(b):
        return [where]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{where} (keys)"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} (length)"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if torch.is_tensor(a):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    return [] if a == b or (a != a and b != b) else [where]


# --- the checkpoint's network settings: today's flat keys, in today's order --------------------------

CHECKPOINT_KEYS = ["space", "channels", "cells", "input_shape", "num_classes", "bn_affine", "bn_track", "op_on",
                   "kernel_mapping", "landmarks", "method", "variant", "seed"]


def test_checkpoint_metadata_keeps_its_flat_keys_in_order():
    """`weights.pt`'s bytes depend on the order of its keys: the network settings are written by
    `NetworkSettings.to_meta` where the loose keys always were."""
    cfg = config.from_dict(params("spos"))
    hp = dataclasses.replace(cfg.variant("baseline"), channels=3, bn_track=True, op_on="node", kernel_mapping=True)
    meta = supernet.checkpoint_meta(cfg.space, hp, TRAIN, [2, 5], "v", 7)
    assert list(meta) == CHECKPOINT_KEYS
    assert meta == {"space": "nb201", "channels": 3, "cells": 1, "input_shape": [1, 16], "num_classes": 10,
                    "bn_affine": False, "bn_track": True, "op_on": "node", "kernel_mapping": True,
                    "landmarks": [2, 5], "method": "spos", "variant": "v", "seed": 7}
    net = NetworkSettings.from_meta(meta)
    assert net == NetworkSettings(3, 1, (1, 16), 10, affine=False, track=True, op_on="node", kernel_mapping=True)
    assert net.to_meta() == {k: meta[k] for k in NetworkSettings.META_KEYS}
    assert NetworkSettings.of(hp, 2, 1, TRAIN, training=True).scoring() == net
    sharing = dataclasses.replace(cfg.variant("baseline"), groups=5)
    assert list(supernet.checkpoint_meta(cfg.space, sharing, TRAIN, [], "v", 0)) == CHECKPOINT_KEYS + ["sharing"]


def test_a_checkpoint_from_before_the_supernet_forms_still_loads(tmp_path):
    """Checkpoints written before op_on and kernel_mapping existed load as edge-wise and unmapped."""
    cfg = config.from_dict(params("spos"))
    hp = cfg.variant("baseline")
    torch.manual_seed(0)
    net = supernet.build(get_space("nb201"), hp, 2, 1, TRAIN, training=False)
    meta = supernet.checkpoint_meta(cfg.space, hp, TRAIN, [], "baseline", 0)
    old = {k: v for k, v in meta.items() if k not in ("op_on", "kernel_mapping")}
    io.save_checkpoint(supernet.checkpoint(net, old, 2), tmp_path / "old.pt")
    loaded, got = supernet.load(tmp_path / "old.pt", "nb201")
    assert NetworkSettings.from_meta(got) == NetworkSettings(2, 1, (1, 16), 10, affine=False, track=False)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())
