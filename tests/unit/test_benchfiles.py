"""Benchmark file readers (nas/truth/benchfiles.py): files written in the real formats with the
benchmark packages' own classes (tests/benchfile_writers.py) read back as the packages' APIs read them;
both torch serialisations; hostile, truncated and misshapen files refused in one line, running nothing."""

from __future__ import annotations

import bz2
import json
import math
import os
import pickle
import shutil
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch

from benchfile_writers import all_nb201_archs, fake_accuracy, fake_costs, write_nats_tss, write_nb201_pth, write_nds
from helpers import one_line_error
from nas.truth import benchfiles as B

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
