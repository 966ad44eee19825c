"""Benchmark file readers (nas/truth/benchfiles.py): files written in the real formats with the
benchmark packages' own classes (tests/benchfile_writers.py) read back as the packages' APIs read them;
both torch serialisations; NAS-Bench-101's TFRecord and protobuf read without TensorFlow; hostile,
truncated and misshapen files refused in one line, running nothing."""

from __future__ import annotations

import base64
import bz2
import json
import math
import os
import pickle
import shutil
import struct
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch

from benchfile_writers import (all_nb201_archs, fake_accuracy, fake_costs, fake_nb101_params, model_metrics_class,
                               nb101_metrics, nb101_record, write_nats_tss, write_nb101_tfrecord, write_nb201_pth,
                               write_nds, write_tfrecords)
from helpers import one_line_error
from nas.truth import benchfiles as B
from nas.truth import tfrecord

ARCHS = all_nb201_archs()[::2600]  # 7 cells, none~ to avg_pool~ edges
SPLITS = {"cifar10-valid": ("cifar10-valid", "x-valid", "ori-test"),
          "cifar10": ("cifar10-valid", "x-valid", "ori-test"),  # valid: the same seed's cifar10-valid run
          "cifar100": ("cifar100", "x-valid", "x-test"), "ImageNet16-120": ("ImageNet16-120", "x-valid", "x-test")}
LEGACY = 4  # this architecture's seeds other than 888 store other params/FLOPs (NATS-Bench issue 36)


def seeds_of(index: int, dataset: str, budget: int) -> tuple:
    """Seed quirks of the real files: 12 epochs run once (cifar10-valid twice); architecture 2 has no
    200-epoch seed 999; architecture 3 lacks it on cifar10-valid only (cifar10's valid is then NaN)."""
    if budget == 12:
        return (777, 888) if dataset == "cifar10-valid" else (777,)
    if index == 2 or (index == 3 and dataset == "cifar10-valid"):
        return (777, 888)
    return (777, 888, 999)


def expected(dataset: str, budget: int) -> pd.DataFrame:
    """What read_records must return for the writers' files (fake values, the split conventions)."""
    rows = []
    valid_set, valid_split, test_split = SPLITS[dataset]
    for index, arch in enumerate(ARCHS):
        for seed in seeds_of(index, dataset, budget):
            valid = (fake_accuracy(arch, valid_set, valid_split, seed, budget)
                     if seed in seeds_of(index, valid_set, budget) else math.nan)
            params, flops, latency = fake_costs(arch, dataset)
            if index == LEGACY and 888 not in seeds_of(index, dataset, budget):  # nothing to fix it with
                params, flops = round(params * 0.8, 6), round(flops * 0.8, 5)
            rows.append((index, arch, seed, fake_accuracy(arch, dataset, "train", seed, budget), valid,
                         fake_accuracy(arch, dataset, test_split, seed, budget), float(round(params * 1e6)), flops,
                         latency, budget))
    return B._frame(rows)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("nas_201_api")
    pytest.importorskip("nats_bench")
    root = tmp_path_factory.mktemp("bench")
    paths = {"zip": root / "nb201-zip.pth", "legacy": root / "nb201-legacy.pth", "nats": root / "NATS-tss-simple"}
    write_nb201_pth(paths["zip"], ARCHS, seeds=seeds_of, zip=True, legacy_costs=(LEGACY,))
    write_nb201_pth(paths["legacy"], ARCHS, seeds=seeds_of, zip=False, legacy_costs=(LEGACY,))
    write_nats_tss(paths["nats"], ARCHS, seeds=seeds_of, legacy_costs=(LEGACY,))
    return paths


# --- the packages' own APIs read what read_records reads ---------------------------------------------

def api_rows(api, dataset: str, budget: int) -> list[tuple]:
    """(index, seed, train, valid, test, params count, latency) per run, through the package's API:
    get_more_info with an explicit hp and seed; cifar10's valid from cifar10-valid, as its paper's table."""
    rows = []
    for index in range(len(ARCHS)):
        for seed in api.query_meta_info_by_index(index, str(budget)).get_dataset_seeds(dataset):
            info = api.get_more_info(index, dataset, hp=str(budget), is_random=seed)
            valid = info.get("valid-accuracy")
            if dataset == "cifar10":
                valid_seeds = api.query_meta_info_by_index(index, str(budget)).get_dataset_seeds("cifar10-valid")
                valid = (api.get_more_info(index, "cifar10-valid", hp=str(budget), is_random=seed)["valid-accuracy"]
                         if seed in valid_seeds else math.nan)
            costs = api.get_cost_info(index, dataset, hp=str(budget))
            rows.append((index, seed, info["train-accuracy"], valid, info["test-accuracy"], costs["params"] * 1e6,
                         costs["latency"]))
    return rows


def check_against_api(df: pd.DataFrame, rows: list[tuple], costs_fixed: bool) -> None:
    assert len(df) == len(rows)
    for (index, seed, train, valid, test, params, latency), (_, got) in zip(rows, df.iterrows()):
        assert (got["index"], got["seed"]) == (index, seed)
        assert got["train_accuracy"] == train and got["test_accuracy"] == test
        assert got["valid_accuracy"] == valid or (math.isnan(valid) and math.isnan(got["valid_accuracy"]))
        if costs_fixed or index != LEGACY:  # nas_201_api averages disagreeing seeds; NATS-Bench takes 888's
            assert got["params"] == pytest.approx(params, abs=0.5)
        assert got["latency"] == pytest.approx(latency)


@pytest.mark.parametrize("dataset", B.DATASETS["nb201_pth"])
def test_nb201_reads_as_the_package_api(files, dataset):
    from nas_201_api import NASBench201API

    # The API's torch.load is weights_only under torch >= 2.6, which refuses the numpy.float64 params that
    # the real files hold (AutoDL's parameter count): allow them for the package's own read.
    with torch.serialization.safe_globals([np._core.multiarray.scalar, np.dtype, np.dtypes.Float64DType]):
        api = NASBench201API(str(files["zip"]), verbose=False)
    for budget in (12, 200):
        df = B.read_records("nb201_pth", files["zip"], dataset, budget)
        check_against_api(df, api_rows(api, dataset, budget), costs_fixed=False)
        pd.testing.assert_frame_equal(df, expected(dataset, budget))


@pytest.mark.parametrize("dataset", B.DATASETS["nats_tss"])
def test_nats_reads_as_the_package_api(files, dataset):
    from nats_bench import create

    api = create(str(files["nats"]), "tss", fast_mode=True, verbose=False)
    for budget in (12, 200):
        df = B.read_records("nats_tss", files["nats"], dataset, budget)
        check_against_api(df, api_rows(api, dataset, budget), costs_fixed=True)
        pd.testing.assert_frame_equal(df, expected(dataset, budget))


def test_columns_conventions_and_seed_quirks(files):
    df = B.read_records("nb201_pth", files["zip"], "cifar10", 200)
    assert list(df.columns) == B.RECORD_COLUMNS
    assert {c: str(t) for c, t in df.dtypes.items()} == B._DTYPES
    assert df.groupby("index").size().tolist() == [3, 3, 2, 3, 3, 3, 3]  # architecture 2: no seed 999
    row = df[(df["index"] == 3) & (df["seed"] == 999)].iloc[0]  # cifar10 seed 999 without cifar10-valid's
    assert math.isnan(row["valid_accuracy"]) and not math.isnan(row["test_accuracy"])
    legacy = df[df["index"] == LEGACY]["params"]  # seeds disagree: every row takes seed 888's count
    assert legacy.tolist() == [float(round(fake_costs(ARCHS[LEGACY], "cifar10")[0] * 1e6))] * 3
    assert (df["epochs"] == 200).all() and df["arch"].tolist()[0] == ARCHS[0]
    for _, row in df[df["seed"] == 888].iterrows():  # the writers' 'valid'/'test': what read_records reports
        assert row["test_accuracy"] == fake_accuracy(row["arch"], "cifar10", "test", 888, 200)
        assert row["valid_accuracy"] == fake_accuracy(row["arch"], "cifar10", "valid", 888, 200)


def test_both_serialisations_indices_and_count(files, tmp_path):
    for dataset, budget in (("cifar10-valid", 12), ("ImageNet16-120", 200)):
        legacy = B.read_records("nb201_pth", files["legacy"], dataset, budget)
        pd.testing.assert_frame_equal(legacy, B.read_records("nb201_pth", files["zip"], dataset, budget))
        pd.testing.assert_frame_equal(legacy, B.read_records("nats_tss", files["nats"], dataset, budget))
    assert files["legacy"].read_bytes()[:2] == b"\x80\x02" and files["zip"].read_bytes()[:2] == b"PK"
    for fmt, key in (("nb201_pth", "zip"), ("nats_tss", "nats")):
        assert B.arch_count(fmt, files[key]) == len(ARCHS)
        whole = B.read_records(fmt, files[key], "cifar100", 200)
        part = B.read_records(fmt, files[key], "cifar100", 200, indices=range(2, 4))
        pd.testing.assert_frame_equal(part, whole[whole["index"].isin([2, 3])].reset_index(drop=True))
        assert B.read_records(fmt, files[key], "cifar100", 200, indices=range(0)).empty
        msg = one_line_error(lambda: B.read_records(fmt, files[key], "cifar100", 200, indices=range(5, 9)))
        assert "index 7 is out of range" in msg and f"0..{len(ARCHS) - 1}" in msg
    # NATS reads only the files of `indices`: without architecture 0's file, 2..3 still read
    nats = tmp_path / "nats"
    shutil.copytree(files["nats"], nats)
    (nats / "000000.pickle.pbz2").unlink()
    assert len(B.read_records("nats_tss", nats, "cifar10", 200, indices=range(2, 4))) == 5
    assert B.arch_count("nats_tss", nats) == len(ARCHS)  # meta only
    msg = one_line_error(lambda: B.read_records("nats_tss", nats, "cifar10", 200))
    assert "000000.pickle.pbz2: not found" in msg and "incomplete" in msg


def test_never_calls_the_unsafe_loaders(files, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an unrestricted loader was called")

    for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(module, name, refuse)
    for fmt, key in (("nb201_pth", "legacy"), ("nb201_pth", "zip"), ("nats_tss", "nats")):
        assert len(B.read_records(fmt, files[key], "cifar10-valid", 200)) > 0


# --- the restricted unpickler ------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4])
def test_safe_load_reads_plain_values(protocol):
    value = {"a": [1, 2.5, "x", None, True], ("cifar10", 777): OrderedDict(b=(1, 2)), "s": {1, 2},
             "f": frozenset({3}), "c": 1 + 2j, "bytes": b"\x00\xff", "empty": b"", "np": np.float64(0.875),
             "np32": np.int32(-3), "big": 2 ** 70}
    got = B.safe_load(pickle.dumps(value, protocol=protocol), "x.pkl")
    assert got == value
    assert type(got["np"]) is float and type(got["np32"]) is int and type(got[("cifar10", 777)]) is OrderedDict


class Payload:
    """Runs `touch marker` when unpickled by an unrestricted unpickler."""

    def __init__(self, marker, call=os.system):
        self.marker, self.call = marker, call

    def __reduce__(self):
        return self.call, (f"touch {self.marker}",)


def test_reduce_payload_runs_nothing_in_any_container(files, tmp_path):
    marker = tmp_path / "marker"
    system = f"{os.system.__module__}.system"  # 'posix.system' as pickle writes os.system on Linux
    payload = {"meta_archs": Payload(marker), "arch2infos": {}}
    torch.save(payload, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save(payload, tmp_path / "zip.pth")
    nats = tmp_path / "nats"
    shutil.copytree(files["nats"], nats)
    (nats / "000001.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(OrderedDict({"200": Payload(marker)}))))
    for fmt, path in (("nb201_pth", tmp_path / "legacy.pth"), ("nb201_pth", tmp_path / "zip.pth"),
                      ("nats_tss", nats)):
        msg = one_line_error(lambda: B.read_records(fmt, path, "cifar10", 200))
        assert f"refuses global '{system}'" in msg and str(path) in msg
    # a hand-written protocol-0 pickle, and other builtins an attacker reaches for
    msg = one_line_error(lambda: B.safe_load(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(), "evil.pkl"))
    assert msg.startswith("evil.pkl: refuses global 'os.system'")
    for call in (eval, exec, getattr, open):
        data = pickle.dumps(Payload(marker, call))
        assert f"refuses global '{call.__module__}.{call.__name__}'" in one_line_error(lambda: B.safe_load(data, "e"))
    assert not marker.exists()


def test_refuses_globals_tensors_and_persistent_ids(files, tmp_path):
    from nas_201_api import ArchResults

    # The authors' intermediate files pickle ArchResults objects, not their state dicts
    path = tmp_path / "objects.pth"
    torch.save({"meta_archs": ARCHS, "arch2infos": {0: {"full": ArchResults(0, ARCHS[0])}}}, path)
    assert "refuses global 'nas_201_api.api_utils.ArchResults'" in one_line_error(
        lambda: B.read_records("nb201_pth", path, "cifar10", 200))
    for zip in (True, False):
        path = tmp_path / f"tensor-{zip}.pth"
        torch.save({"meta_archs": ARCHS, "arch2infos": {0: {"full": torch.zeros(3)}}}, path,
                   _use_new_zipfile_serialization=zip)
        msg = one_line_error(lambda: B.read_records("nb201_pth", path, "cifar10", 200))
        assert "holds a tensor" in msg and "torch._utils._rebuild_tensor_v2" in msg
    assert "_reconstruct" in one_line_error(lambda: B.safe_load(pickle.dumps(np.zeros(2)), "array.pkl"))

    class Persistent(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, bytearray) else None

    import io
    buffer = io.BytesIO()
    Persistent(buffer, protocol=2).dump({"w": bytearray(b"12")})
    assert "holds a persistent id" in one_line_error(lambda: B.safe_load(buffer.getvalue(), "p.pkl"))
    rot13 = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    msg = one_line_error(lambda: B.safe_load(rot13, "r.pkl"))
    assert "refuses _codecs.encode('a', 'rot13'), which is not latin-1 bytes" in msg
    obj = pickle.dumps(np.dtype(object))  # a numpy scalar of dtype('O') would be any object
    assert "not a plain number type" in one_line_error(lambda: B.safe_load(obj, "o.pkl"))


def test_truncated_and_corrupt_files(files, tmp_path):
    for key in ("zip", "legacy"):
        path = tmp_path / f"{key}.pth"
        data = files[key].read_bytes()
        path.write_bytes(data[: len(data) // 2])
        assert "truncated or corrupt" in one_line_error(lambda: B.read_records("nb201_pth", path, "cifar10", 200))
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file at all")
    assert "truncated or corrupt" in one_line_error(lambda: B.arch_count("nb201_pth", path))
    nats = tmp_path / "nats"
    shutil.copytree(files["nats"], nats)
    arch = nats / "000002.pickle.pbz2"
    arch.write_bytes(arch.read_bytes()[:-40])
    assert "000002.pickle.pbz2: truncated or corrupt bz2" in one_line_error(
        lambda: B.read_records("nats_tss", nats, "cifar10", 200))
    (nats / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"meta_archs": ARCHS})[:-5]))
    assert "meta.pickle.pbz2: truncated or corrupt pickle" in one_line_error(lambda: B.arch_count("nats_tss", nats))


def test_memory_error_says_what_the_file_needs(files, monkeypatch):
    def out_of_memory(*args):
        raise MemoryError

    monkeypatch.setattr(B, "_legacy_pth", out_of_memory)
    msg = one_line_error(lambda: B.read_records("nb201_pth", files["legacy"], "cifar10", 200))
    assert "out of memory" in msg and "GB of RAM" in msg and "NATS-tss-v1_0-3ffb9-simple" in msg


def test_wrong_shapes(files, tmp_path):
    data = torch.load(files["zip"], weights_only=False)  # our own file: trusted
    cases = {"no arch2infos": ({k: v for k, v in data.items() if k != "arch2infos"}, "key 'arch2infos' is missing"),
             "archs not strings": ({**data, "meta_archs": list(range(7))}, "key 'meta_archs' is a list holding a int"),
             "a list": (list(data), "holds a list; expected NAS-Bench-201's dict"),
             "bad index": ({**data, "arch2infos": {**data["arch2infos"], 99: {}}}, "arch2infos key 99 is not an index")}
    for name, (obj, message) in cases.items():
        path = tmp_path / f"{name}.pth"
        torch.save(obj, path)
        assert message in one_line_error(lambda: B.read_records("nb201_pth", path, "cifar100", 200)), name
    del data["arch2infos"][1]["full"]["all_results"][("cifar100", 888)]["eval_acc1es"]["x-test@199"]
    data["arch2infos"][0]["full"]["all_results"][("cifar10", 777)]["epochs"] = 199
    data["meta_archs"][5] = "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    path = tmp_path / "tampered.pth"
    torch.save(data, path)
    msg = one_line_error(lambda: B.read_records("nb201_pth", path, "cifar100", 200))
    assert "arch2infos[1]['full'][('cifar100', 888)]: eval_acc1es has no key 'x-test@199'" in msg
    assert "epochs is 199 under the 200-epoch results" in one_line_error(
        lambda: B.read_records("nb201_pth", path, "cifar10", 200, indices=range(1)))
    assert "meta_archs[5]" in one_line_error(lambda: B.read_records("nb201_pth", path, "cifar10", 200,
                                                                    indices=range(5, 6)))
    nats = tmp_path / "nats"
    shutil.copytree(files["nats"], nats)
    (nats / "000003.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(["12", "200"])))
    assert "000003.pickle.pbz2: holds a list" in one_line_error(lambda: B.read_records("nats_tss", nats, "cifar10", 12))


def test_paths_datasets_budgets(files, tmp_path):
    def error(*args, **kwargs):
        return one_line_error(lambda: B.read_records(*args, **kwargs))

    assert "not found; format nb201_pth reads" in error("nb201_pth", tmp_path / "nope.pth", "cifar10", 200)
    assert "is a folder" in error("nb201_pth", files["nats"], "cifar10", 200)
    assert "is a file; format nats_tss reads" in error("nats_tss", files["zip"], "cifar10", 200)
    assert "format 'nb301' is unknown" in error("nb301", files["zip"], "cifar10", 200)
    assert "dataset 'imagenet' is not one of format nats_tss's" in error("nats_tss", files["nats"], "imagenet", 200)
    assert "budget 90 is not one of format nb201_pth's: 12, 200" in error("nb201_pth", files["zip"], "cifar10", 90)
    # budget 12 of v1_0 held cifar10-valid only: the same shape here
    path = tmp_path / "v1_0.pth"
    write_nb201_pth(path, ARCHS[:2], datasets=("cifar10-valid",), budgets=(200,))
    msg = error("nb201_pth", path, "cifar10-valid", 12)
    assert "no architecture has 'cifar10-valid' results at budget 12 (at that budget it holds: nothing)" in msg
    assert "at that budget it holds: cifar10-valid" in error("nb201_pth", path, "cifar100", 200)


# --- NDS --------------------------------------------------------------------------------------------

GENOTYPES = [  # DARTS (first order), with a node's inputs in the published order (1 before 0), then DARTS V2
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    "Genotype(normal=[('dil_conv_5x5', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 2), "
    "('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('sep_conv_3x3', 0), ('skip_connect', 4)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
]


def test_nds_merges_repeats_by_genotype(tmp_path):
    from nas.spaces import darts

    path = tmp_path / "DARTS_fix-w-d.json"
    write_nds(path, GENOTYPES, seeds=(3, 1))
    records = json.loads(path.read_text())
    assert len(records) == 6 and records[0]["net"]["genotype"]["normal"][0] == ["sep_conv_3x3", 1]
    df = B.read_records("nds", path, "cifar10", None)
    archs = [darts.SPACE.format(darts.SPACE.parse(g)) for g in GENOTYPES]
    assert df["index"].tolist() == [0, 0, 1, 1, 2, 2] and df["seed"].tolist() == [1, 3] * 3
    assert df["arch"].tolist() == [a for a in archs for _ in range(2)] and archs[0] != GENOTYPES[0]
    for _, row in df.iterrows():  # records are seed-major: seeds (3, 1), genotypes in order
        record = records[3 * (3, 1).index(row["seed"]) + row["index"]]
        assert row["test_accuracy"] == 100 - record["test_ep_top1"][99]  # the last of 100 epochs
        assert row["test_accuracy"] == pytest.approx(fake_accuracy(row["arch"], "cifar10", "test", row["seed"], 100))
        assert row["train_accuracy"] == pytest.approx(fake_accuracy(row["arch"], "cifar10", "train", row["seed"], 100))
        assert row["params"] == record["params"] and row["flops"] == record["flops"] / 1e6
    assert df["valid_accuracy"].isna().all() and df["latency"].isna().all() and (df["epochs"] == 100).all()
    assert B.arch_count("nds", path) == 3
    pd.testing.assert_frame_equal(B.read_records("nds", path, "cifar10", None, indices=range(1, 2)),
                                  df[df["index"] == 1].reset_index(drop=True))


def test_nds_refusals(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_nds(first, GENOTYPES[:2], seeds=(1,))
    write_nds(second, GENOTYPES[1:], seeds=(2,), width=36, depth=20)
    mixed = tmp_path / "DARTS.json"
    mixed.write_text(json.dumps(json.loads(first.read_text()) + json.loads(second.read_text())))
    msg = one_line_error(lambda: B.read_records("nds", mixed, "cifar10", None))
    assert "record 2: the genotype of record 1 again, at width/depth 36/20 instead of 16/8" in msg
    assert "DARTS_fix-w-d.json" in msg
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(json.loads(first.read_text()) * 2))
    assert "record 2: repeats record 0 (same genotype, same rng_seed 1)" in one_line_error(
        lambda: B.arch_count("nds", twice))
    assert "budget 100; NDS records are read at the file's last epoch" in one_line_error(
        lambda: B.read_records("nds", first, "cifar10", 100))
    assert "dataset 'cifar100' is not one of format nds's: cifar10" in one_line_error(
        lambda: B.read_records("nds", first, "cifar100", None))
    cut = tmp_path / "cut.json"
    cut.write_text(first.read_text()[:-100])
    assert "not valid JSON, truncated or corrupt" in one_line_error(lambda: B.arch_count("nds", cut))
    records = json.loads(first.read_text())
    records[1]["net"]["genotype"]["normal"] = records[1]["net"]["genotype"]["normal"][:6]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    msg = one_line_error(lambda: B.read_records("nds", bad, "cifar10", None))
    assert msg.startswith(f"{bad}: record 1: architecture") and "6 (operation, input) pairs" in msg


# --- NAS-Bench-101 .tfrecord ------------------------------------------------------------------------

def nb101_specs() -> list:
    """12 cells with distinct module hashes: the README's Inception-like cell (whose hash the benchmark's
    README gives), a cell written with a vertex off every path (the file's hash is of the pruned cell), and
    10 drawn by the benchmark's sampler."""
    from nas.spaces.nb101 import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, Spec, module_hash, sample

    readme = Spec(((0, 1, 1, 1, 0, 1, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 1, 0, 0),
                   (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 0)),
                  (INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))
    dangling = Spec(((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)), (INPUT, MAXPOOL3X3, CONV1X1, OUTPUT))
    fixed = {module_hash(readme), module_hash(dangling)}
    return [readme, dangling] + [s for s in sample(12, 4) if module_hash(s) not in fixed][:10]


NB101_README_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"


@pytest.fixture(scope="module")
def nb101_file(tmp_path_factory):
    """(path, record data, specs) of a .tfrecord of 12 cells x 3 repeats at budgets 12 and 108."""
    pytest.importorskip("google.protobuf")
    pytest.importorskip("crc32c")
    from nas.spaces import nb101

    specs = nb101_specs()
    assert len({nb101.module_hash(s) for s in specs}) == len(specs)
    path = tmp_path_factory.mktemp("nb101") / "nasbench_full.tfrecord"
    return path, write_nb101_tfrecord(path, specs, budgets=(12, 108)), specs


def nb101_expected(specs, budget: int) -> pd.DataFrame:
    from nas.spaces import nb101

    rows = []
    for index, spec in enumerate(specs):
        arch = nb101.format(nb101.prune(spec))
        for repeat in range(3):
            rows.append((index, arch, repeat, *(fake_accuracy(arch, "cifar10", split, repeat, budget)
                                               for split in ("train", "valid", "test")),
                         float(fake_nb101_params(arch)), math.nan, math.nan, budget))
    return B._frame(rows)


def test_nb101_framing_reads_with_the_tfrecord_package_and_crcs_agree(nb101_file):
    tfrecord_reader = pytest.importorskip("tfrecord.reader")
    import crc32c
    from tfrecord.writer import TFRecordWriter

    path, records, _ = nb101_file
    assert len(records) == 12 * 3 * 2
    assert [bytes(view) for view in tfrecord_reader.tfrecord_iterator(str(path))] == records  # raw records
    assert [data for _, data in tfrecord._tfrecords(path)] == records
    rng = np.random.default_rng(0)
    datas = [b"", b"123456789", records[0]] + [rng.bytes(int(n)) for n in rng.integers(0, 700, 300)]
    ours = tfrecord.masked_crc32c_many(datas).tolist()
    assert ours == [tfrecord.masked_crc32c(d) for d in datas]
    assert [struct.pack("<I", c) for c in ours] == [TFRecordWriter.masked_crc(d) for d in datas]  # the package's
    assert crc32c.crc32c(b"123456789") == 0xE3069283  # CRC-32C's check value


def test_nb101_metrics_decode_as_protobuf_parses_them(nb101_file):
    from google.protobuf.json_format import MessageToDict

    _, records, _ = nb101_file
    for data in records[::7]:
        raw = base64.b64decode(json.loads(data)[4])
        message = model_metrics_class().FromString(raw)
        ours = tfrecord.decode_metrics(raw)
        assert ours == MessageToDict(message, preserving_proto_field_name=True)  # every field, as protobuf reads it
        assert len(ours["evaluation_data"]) == 3 and ours["evaluation_data"][2]["test_accuracy"] < 1
    # unknown fields are skipped, as protobuf skips them; a negative int32 is ten bytes of two's complement
    message = model_metrics_class()(trainable_parameters=-5, total_time=1.5)
    extra = b"\x38\x07" + b"\x45\x00\x00\x80\x3f" + b"\x4a\x02hi"  # fields 7 (varint), 8 (32-bit), 9 (bytes)
    assert tfrecord.decode_metrics(message.SerializeToString() + extra) == {"trainable_parameters": -5, "total_time": 1.5}


@pytest.mark.parametrize("budget", [12, 108])
def test_nb101_reads_one_row_per_hash_and_repeat(nb101_file, budget):
    from nas.spaces import nb101

    path, records, specs = nb101_file
    df = B.read_records("nb101_tfrecord", path, "cifar10", budget)
    expected = nb101_expected(specs, budget)
    assert list(df.columns) == B.RECORD_COLUMNS and {c: str(t) for c, t in df.dtypes.items()} == B._DTYPES
    pd.testing.assert_frame_equal(df, expected, check_exact=False, rtol=0, atol=1e-9)  # fractions x 100
    hashes = {json.loads(r)[0] for r in records}
    assert {nb101.module_hash(a) for a in df["arch"]} == hashes and len(hashes) == 12
    assert nb101.module_hash(df["arch"][0]) == NB101_README_HASH  # the benchmark README's hash of its cell
    assert df["arch"][3] == nb101.format(nb101.prune(specs[1])) != nb101.format(specs[1])  # pruned
    assert df["params"][0] == fake_nb101_params(df["arch"][0])
    assert df[["train_accuracy", "valid_accuracy", "test_accuracy"]].gt(1).all().all()  # percent
    assert df["flops"].isna().all() and df["latency"].isna().all()
    assert B.arch_count("nb101_tfrecord", path) == 12
    part = B.read_records("nb101_tfrecord", path, "cifar10", budget, indices=range(3, 6))
    pd.testing.assert_frame_equal(part, df[df["index"].isin([3, 4, 5])].reset_index(drop=True))


def test_nb101_index_is_first_appearance_over_every_budget(tmp_path):
    pytest.importorskip("crc32c")
    from nas.spaces import nb101

    specs = nb101_specs()[:3]
    first = write_nb101_tfrecord(tmp_path / "a.tfrecord", specs[2:], budgets=(4,), repeats=1)
    rest = write_nb101_tfrecord(tmp_path / "b.tfrecord", specs, budgets=(108,), repeats=2)
    write_tfrecords(tmp_path / "mixed.tfrecord", first + rest)
    df = B.read_records("nb101_tfrecord", tmp_path / "mixed.tfrecord", "cifar10", 108)
    archs = [nb101.format(nb101.prune(s)) for s in specs]
    assert df["index"].tolist() == [0, 0, 1, 1, 2, 2] and df["seed"].tolist() == [0, 1] * 3
    assert df["arch"].tolist() == [archs[2]] * 2 + [archs[0]] * 2 + [archs[1]] * 2


def frame_at(path, k: int) -> int:
    """The byte offset of record k's frame."""
    data, offset = path.read_bytes(), 0
    for _ in range(k):
        offset += 12 + struct.unpack("<Q", data[offset:offset + 8])[0] + 4
    return offset


def test_nb101_corrupt_and_truncated_files(nb101_file, tmp_path):
    path, records, _ = nb101_file
    data = path.read_bytes()
    bad = tmp_path / "flipped.tfrecord"
    at = frame_at(path, 41) + 12 + 100  # a byte of record 41's data
    bad.write_bytes(data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:])
    msg = one_line_error(lambda: B.read_records("nb101_tfrecord", bad, "cifar10", 108))
    assert msg == f"{bad}: record 41: the CRC of its data does not match (a corrupt file: download it again)"
    assert "record 41: the CRC of its data" in one_line_error(lambda: B.arch_count("nb101_tfrecord", bad))
    at = frame_at(path, 5) + 2  # its length
    bad.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
    assert f"{bad}: record 5: the CRC of its length does not match" in one_line_error(
        lambda: B.read_records("nb101_tfrecord", bad, "cifar10", 12))
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(data[:frame_at(path, 60) + 50])
    assert one_line_error(lambda: B.read_records("nb101_tfrecord", cut, "cifar10", 108)).startswith(
        f"{cut}: record 60: truncated (38 of ")
    cut.write_bytes(data[:frame_at(path, 60) + 7])
    assert "record 60: truncated in its length header (7 of 12 bytes)" in one_line_error(
        lambda: B.arch_count("nb101_tfrecord", cut))
    cut.write_bytes(b"")
    assert "holds no records" in one_line_error(lambda: B.read_records("nb101_tfrecord", cut, "cifar10", 108))
    other = tmp_path / "not.tfrecord"
    other.write_bytes(b"PK\x03\x04" + bytes(100))
    assert "record 0: the CRC of its length does not match (a corrupt file, or not a TFRecord file)" in one_line_error(
        lambda: B.arch_count("nb101_tfrecord", other))


def test_nb101_malformed_records(nb101_file, tmp_path):
    from nas.spaces import nb101

    _, _, specs = nb101_file
    spec = nb101.prune(specs[2])
    key, good = nb101.module_hash(spec), nb101_metrics(nb101.format(spec), 108, 0)
    message = model_metrics_class().FromString(good)

    def fails(metrics=good, module_hash=key, matrix=spec.matrix, ops=spec.ops, raw=None) -> str:
        records = [nb101_record(key, 108, spec.matrix, spec.ops, good)]
        records.append(raw if raw is not None else nb101_record(module_hash, 108, matrix, ops, metrics))
        path = tmp_path / "bad.tfrecord"
        write_tfrecords(path, records)
        msg = one_line_error(lambda: B.read_records("nb101_tfrecord", path, "cifar10", 108))
        assert msg.startswith(f"{path}: record 1: "), msg
        return msg[len(f"{path}: record 1: "):]

    assert fails(good[:-3]).startswith("malformed ModelMetrics protobuf (field 3 runs past the end")  # total_time
    assert fails(good[:20]).startswith("malformed ModelMetrics protobuf (field 1 runs past the end")
    assert fails(b"\x0a\xff") == "malformed ModelMetrics protobuf (a varint runs past the end)"
    assert fails(good + b"\x0b") == ("malformed ModelMetrics protobuf (field 1 has wire type 3 (a group or no type), "
                                      "which ModelMetrics never uses)")
    assert fails(good + b"\x10" + b"\xff" * 11) == "malformed ModelMetrics protobuf (a varint longer than 10 bytes)"
    assert fails(b"\x19" + bytes(8) + b"\x00") == "malformed ModelMetrics protobuf (field number 0)"
    assert fails(b"\x0a\x02\x28\x01") == ("malformed ModelMetrics protobuf (ModelMetrics.evaluation_data.test_accuracy "
                                         "(field 5) has wire type 0; expected 1)")
    assert fails(b"\x15\x00\x00\x00\x00") == ("malformed ModelMetrics protobuf (ModelMetrics.trainable_parameters "
                                              "(field 2) has wire type 5; expected 0)")
    two = model_metrics_class()()
    two.CopyFrom(message)
    del two.evaluation_data[2]
    assert fails(two.SerializeToString()).startswith("ModelMetrics holds 2 evaluation_data; expected 3")
    percent = model_metrics_class()()
    percent.CopyFrom(message)
    percent.evaluation_data[2].test_accuracy = 93.5
    assert fails(percent.SerializeToString()) == ("evaluation_data[2].test_accuracy is 93.5; expected a fraction in "
                                                  "[0, 1]")
    percent.evaluation_data[2].ClearField("validation_accuracy")
    assert fails(percent.SerializeToString()).startswith("evaluation_data[2].validation_accuracy is missing")
    record = json.loads(nb101_record(key, 108, spec.matrix, spec.ops, good))
    assert fails(raw=json.dumps(record[:4] + ["not base64!"]).encode()).startswith("metrics are not base64")
    assert fails(raw=b'{"hash": 1}').startswith("holds {'hash': 1}; expected NAS-Bench-101's JSON row")
    assert fails(raw=b"[1, 2").startswith("not JSON (")
    assert fails(raw=json.dumps([key, "108"] + record[2:]).encode()).startswith("holds ")
    other = nb101.prune(specs[3])

    def mismatch(ours, theirs):
        return (f"the cell's module hash is {ours}, the record's {theirs}: the space's hash or the reading of the "
                "spec is wrong (report it)")
    assert fails(module_hash=nb101.module_hash(other)) == mismatch(key, nb101.module_hash(other))
    # a later record of a hash with another cell is checked too
    assert fails(matrix=other.matrix, ops=other.ops) == mismatch(nb101.module_hash(other), key)
    assert fails(raw=json.dumps(record[:2] + ["01000"] + record[3:]).encode()).startswith(
        "adjacency '01000' is not a square 0/1 matrix")
    bad_ops = ["input"] + ["conv5x5"] * (len(spec.ops) - 2) + ["output"]
    assert "unknown op 'conv5x5'" in fails(ops=bad_ops)


def test_nb101_datasets_and_budgets(nb101_file, tmp_path):
    path, _, _ = nb101_file
    assert "dataset 'cifar100' is not one of format nb101_tfrecord's: cifar10" in one_line_error(
        lambda: B.read_records("nb101_tfrecord", path, "cifar100", 108))
    assert "budget 200 is not one of format nb101_tfrecord's: 4, 12, 36, 108 (epochs)" in one_line_error(
        lambda: B.read_records("nb101_tfrecord", path, "cifar10", 200))
    assert one_line_error(lambda: B.read_records("nb101_tfrecord", path, "cifar10", 36)) == (
        f"{path}: no record at budget 36 (the file holds epochs 12, 108; nasbench_only108.tfrecord holds 108 only, "
        "nasbench_full.tfrecord 4, 12, 36, 108)")
    assert "index 12 is out of range; the file holds 0..11" in one_line_error(
        lambda: B.read_records("nb101_tfrecord", path, "cifar10", 108, indices=range(10, 14)))
    assert "is a folder; format nb101_tfrecord reads NAS-Bench-101's nasbench_only108.tfrecord" in one_line_error(
        lambda: B.read_records("nb101_tfrecord", tmp_path, "cifar10", 108))
