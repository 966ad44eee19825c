"""Safe, fast readers of the NAS benchmark files researchers have on disk, as one normalised table.

`read_records(fmt, path, dataset, budget)` returns one row per (architecture, seed) that has the
requested dataset and training budget, with RECORD_COLUMNS, sorted by (index, seed); `arch_count`
says how many architectures a file holds. The formats (`FORMATS`):

    nb201_pth  NAS-Bench-201's single file (NAS-Bench-201-v1_0-e61699.pth, -v1_1-096897.pth): a
               `torch.save`d dict {'meta_archs': [arch strings], 'total_archs', 'arch2infos': {index:
               {'less': ArchResults.state_dict() (12 epochs), 'full': ... (200 epochs)}},
               'evaluated_indexes'} (v1_0's 12-epoch results are cifar10-valid's only). The 2020 files
               use torch's legacy serialisation (five pickles in a row: magic number, protocol version,
               system info, the object, the list of tensor storage keys, which must be empty); newer torch
               writes a zip holding `<folder>/data.pkl`. Both are read; the whole object tree is in memory
               at once (about PTH_MEMORY_RATIO times the file's size: ~10 GB for v1_0's 2.2 GB, ~21 GB for
               v1_1's 4.7 GB; the NATS folder needs none of it).
    nats_tss   NATS-Bench's topology folder (NATS-tss-v1_0-3ffb9-simple/): meta.pickle.pbz2 (meta_archs)
               and one {index:06d}.pickle.pbz2 per architecture, a bz2 pickle of {'12': ArchResults
               .state_dict(), '200': ...}. Read one architecture file at a time; `indices` reads only those.
               Same 15,625 cells in the same index order as NAS-Bench-201.
    nds        NDS (Radosavovic et al., 2019) cell sweeps, e.g. DARTS.json / DARTS_fix-w-d.json: a JSON list
               of training records (a dict {'top': [...], 'mid': [...]} is read as the two lists in turn).
    nb101_tfrecord  NAS-Bench-101's nasbench_only108.tfrecord (~500 MB, budget 108) or nasbench_full.tfrecord
               (budgets 4, 12, 36, 108): TFRecord framing around one JSON row per training run, read
               without TensorFlow, one record at a time (see "NAS-Bench-101" below).

An ArchResults state dict (NAS-Bench-201 and NATS-Bench alike) maps (dataset, seed) to a ResultsCount's
`__dict__`: `train_acc1es[epoch]`, `eval_acc1es['<split>@<epoch>']`, `params` (millions, "MB"),
`flop` (MFLOPs), `latency` (a list of seconds), `epochs`. The value read is the last epoch's,
E = epochs - 1, as the benchmarks' own `get_metrics(iepoch=None)` reads it; a run whose `epochs` is not
the budget asked for is refused rather than read at another epoch. Splits, as the benchmark papers' tables:

    cifar10-valid   trained on train:        valid = 'x-valid@E', test = 'ori-test@E'
    cifar10         trained on train+valid:  test = 'ori-test@E'; it has no valid split, so valid is the
                    same seed's cifar10-valid 'x-valid@E' (NaN where that seed has no cifar10-valid run)
    cifar100, ImageNet16-120                 valid = 'x-valid@E', test = 'x-test@E'

Seeds are those the file lists per dataset (`dataset_seed`): not every architecture has all three
200-epoch seeds, and a seed may have run on one dataset and not another. Where a dataset's seeds
disagree on params or FLOPs, every row takes seed 888's values: NATS-Bench's API (since v1.6) does the
same to undo a legacy weight-migration error; without a seed 888 the stored values are kept. params is
the parameter COUNT (the files store millions: x 1e6, rounded), flops MFLOPs as stored, latency the
mean of the stored list in seconds (NaN where absent or not positive, as the API treats it).

NDS records (`net.genotype` with `normal`/`reduce` lists of [op, input] and `*_concat`, `net.width`,
`net.depth`, `test_ep_top1`: per-epoch test ERROR %, `rng_seed`, `params`, `flops`) are merged by
genotype, as Yu et al. do: records of one genotype are its repeats, one row per `rng_seed`; test accuracy
is 100 - test_ep_top1 at the last epoch, train accuracy likewise from `train_ep_top1`, valid NaN (NDS has
none). `index` is the genotype's order of first appearance; `arch` is the darts space's Genotype string.
A genotype trained at two (width, depth) is refused: its records are not repeats of one network (the
*_fix-w-d.json sweeps fix both). NDS stores raw FLOPs; the table has MFLOPs like the others.

NAS-Bench-101 (google-research/nasbench, api.py `NASBench.__init__`). TFRecord framing, per record: the
data's length (uint64, little endian), the masked CRC32C of those 8 bytes (uint32), the data, the masked
CRC32C of the data (uint32); mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 mod 2^32. Every CRC is
checked (the data's in batches, vectorised with numpy: no package needed). The data is a JSON list
[module_hash, epochs, adjacency, operations, metrics]: adjacency the square 0/1 matrix flattened by rows as a
string of digits, operations comma-separated, metrics base64 of a serialized `ModelMetrics` (lib/
model_metrics.proto, proto2), decoded here by a minimal protobuf wire-format reader of exactly its fields:
    ModelMetrics    1 evaluation_data (repeated EvaluationData)  2 trainable_parameters (int32)
                    3 total_time (double)
    EvaluationData  1 current_epoch  2 training_time  3 train_accuracy  4 validation_accuracy
                    5 test_accuracy (doubles)  6 checkpoint_path (string)
Each (hash, epochs) has 3 records, the benchmark's repeats; evaluation_data holds the evaluations at the
start, halfway and end of training, and the API's `query` reads evaluation_data[2], the end, as here. One
row per (hash, repeat) at the budget: index = the hash's order of first appearance in the file (over every
budget, so the full file's indices do not depend on the budget read), arch = the nb101 space's string of the
record's spec (built from the adjacency and operations, pruned), seed = the repeat's order 0, 1, 2 among
that hash's records at the budget (the benchmark records no seed), accuracies in percent (the file stores
fractions), params = trainable_parameters, flops and latency NaN (not in the file), epochs = the budget.
The module hash of each arch is checked to be the record's (a mismatch is our hash's or our reading's fault).
Only dataset cifar10 (the benchmark's: trained on 40k of CIFAR-10's train, validated on the other 10k,
tested on the test set). `indices` decode only those hashes' records (the file is still read whole, as the
index of a hash is its first appearance).

Safety: a pickle can run any code while it is read, and benchmark files come from the internet. Nothing
here calls `pickle.load` or `torch.load`: every pickle goes through `safe_load`, whose unpickler
resolves only plain containers and scalars (ALLOWED_GLOBALS) and refuses every other global, by name,
and every persistent id (a tensor), before anything is called. Three look-alikes that the files hold
are resolved by stand-ins that build plain values and call nothing else: `_codecs.encode` (how pickle
protocol 2, torch's legacy format, writes bytes), and numpy's scalar and dtype (the authors' AutoDL code
counts parameters with numpy: a `numpy.float64`): only numeric dtypes of the right byte length, returned
as Python numbers. Every
problem (a missing or truncated file, a refused global, an unexpected shape) is a one-line UserError
naming the file, the key and what was expected.
"""

from __future__ import annotations

import builtins
import bz2
import collections
import gc
import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from nas.io import UserError, _first_line
from nas.settings import cut, show
from nas.truth import tfrecord

FORMATS = ("nb201_pth", "nats_tss", "nds", "nb101_tfrecord")
_TOPOLOGY_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
DATASETS: dict[str, tuple[str, ...]] = {"nb201_pth": _TOPOLOGY_DATASETS, "nats_tss": _TOPOLOGY_DATASETS,
                                        "nds": ("cifar10",), "nb101_tfrecord": ("cifar10",)}
BUDGETS: dict[str, tuple[int, ...]] = {"nb201_pth": (12, 200), "nats_tss": (12, 200), "nds": (),
                                       "nb101_tfrecord": (4, 12, 36, 108)}
RECORD_COLUMNS = ["index", "arch", "seed", "train_accuracy", "valid_accuracy", "test_accuracy",
                  "params", "flops", "latency", "epochs"]
_DTYPES = {"index": "int64", "arch": "object", "seed": "int64", "train_accuracy": "float64",
           "valid_accuracy": "float64", "test_accuracy": "float64", "params": "float64", "flops": "float64",
           "latency": "float64", "epochs": "int64"}

# The hyper-parameter key of a budget: NAS-Bench-201 names them 'less'/'full', NATS-Bench '12'/'200'.
_HP_KEYS = {"nb201_pth": {12: "less", 200: "full"}, "nats_tss": {12: "12", 200: "200"}}
# dataset -> (dataset of the valid split, valid eval name, test eval name); see the module docstring.
_SPLITS = {"cifar10-valid": ("cifar10-valid", "x-valid", "ori-test"),
           "cifar10": ("cifar10-valid", "x-valid", "ori-test"),
           "cifar100": ("cifar100", "x-valid", "x-test"),
           "ImageNet16-120": ("ImageNet16-120", "x-valid", "x-test")}
_LEGACY_COST_SEED = 888  # NATS-Bench's fix_legacy_issue takes this seed's params/FLOPs

# Bytes of Python objects per byte of .pth file, measured on files written like NAS-Bench-201-v1_1's (every
# epoch of every split, legacy serialisation; tests/benchfile_writers.py `measure_pth_memory`): 4.2 held
# after the load, 4.4 at its peak (the unpickler's memo).
PTH_MEMORY_RATIO = 4.5
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch/serialization.py MAGIC_NUMBER
_TORCH_PROTOCOL = 1001                 # torch/serialization.py PROTOCOL_VERSION
NATS_EXT = ".pickle.pbz2"


# --- the restricted unpickler --------------------------------------------------------------------

class _Refused(pickle.UnpicklingError):
    """A stand-in below refused its arguments (the message says what it was asked)."""


def _encode(text, encoding="utf-8", errors="strict"):
    """`_codecs.encode` as pickle protocol 2 uses it for bytes: a str in latin-1, nothing else (another
    codec could be anything)."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1") and errors == "strict"):
        raise _Refused(f"_codecs.encode({show(text, 20)}, {show(encoding, 20)}), which is not latin-1 bytes")
    return text.encode("latin-1")


def _bytes(*args):
    """`bytes()` as protocol 2 writes an empty bytes (and bytes of bytes): no `bytes(10**12)`."""
    if args == () or (len(args) == 1 and isinstance(args[0], (bytes, bytearray))):
        return bytes(*args)
    raise _Refused(f"bytes{show(args, 30)}, which is not a copy of bytes")


_NUMERIC_DTYPES = frozenset(f"{kind}{size}" for kind, sizes in (("f", "248"), ("i", "1248"), ("u", "1248"))
                            for size in sizes) | {"b1"}


def _numpy_dtype(spec, align=False, copy=False):
    """numpy.dtype(spec, align, copy) for a numeric `spec` only; always a copy, so the BUILD that follows
    (dtype.__setstate__) cannot change numpy's shared dtype."""
    if not (isinstance(spec, str) and spec in _NUMERIC_DTYPES):
        raise _Refused(f"numpy dtype {show(spec, 20)}, which is not a plain number type")
    return np.dtype(spec, bool(align), True)


def _numpy_scalar(dtype, data=None):
    """A numpy scalar's value as a Python number (numpy.float64 and friends pickle this way)."""
    if not (isinstance(dtype, np.dtype) and dtype.kind in "fiub" and isinstance(data, bytes)
            and len(data) == dtype.itemsize):
        raise _Refused("a numpy scalar that is not one plain number")
    return np.frombuffer(data, dtype=dtype)[0].item()


_BUILTINS = {name: getattr(builtins, name)
             for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bool")}
_BUILTINS["bytes"] = _bytes
ALLOWED_GLOBALS = {
    **{("builtins", name): value for name, value in _BUILTINS.items()},
    **{("__builtin__", name): value for name, value in _BUILTINS.items()},  # pickles written by Python 2
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _encode,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,   # numpy 1
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # numpy 2
}
_PLAIN = "benchmark results hold only numbers, strings and containers; reading never runs a file's code"


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED_GLOBALS; refuses any other global and every persistent id."""

    def __init__(self, file, what: str):
        super().__init__(file)
        self.what = what

    def find_class(self, module, name):
        found = ALLOWED_GLOBALS.get((module, name))
        if found is not None:
            return found
        qualified = f"{module}.{name}"
        if module.split(".")[0] == "torch" and ("rebuild" in name or "Storage" in name):
            raise UserError(f"{self.what}: holds a tensor (refuses global {show(qualified)}); {_PLAIN}")
        raise UserError(f"{self.what}: refuses global {show(qualified)}; {_PLAIN}")

    def persistent_load(self, pid):
        raise UserError(f"{self.what}: holds a persistent id (a tensor or storage: {show(pid, 40)}); {_PLAIN}")


def _unpickle(stream: BinaryIO, what: str):
    """One pickle from `stream` through the restricted unpickler. MemoryError passes (the caller knows
    how much the file needs); any other failure is a UserError."""
    try:
        return _SafeUnpickler(stream, what).load()
    except (UserError, MemoryError):
        raise
    except _Refused as exc:
        raise UserError(f"{what}: refuses {exc}; {_PLAIN}") from None
    except Exception as exc:  # a truncated or corrupt pickle raises many types (EOFError, KeyError, ...)
        raise UserError(f"{what}: truncated or corrupt pickle ({cut(_first_line(exc), 120)})") from None


def safe_load(data: bytes | BinaryIO, what: str) -> object:
    """One pickle from `data` (bytes or a binary stream) holding only plain containers and scalars;
    `what` names the file in errors. Never runs code from the pickle: see the module docstring."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        return _unpickle(stream, what)
    except MemoryError:
        raise UserError(f"{what}: out of memory while unpickling") from None


# --- NAS-Bench-201 .pth ----------------------------------------------------------------------------

def _read_pth(path: Path) -> object:
    """The object a NAS-Bench-201 .pth holds, in either torch serialisation."""
    what = str(path)
    collecting = gc.isenabled()
    gc.disable()  # millions of containers and no cycles: the collector's passes would only cost time
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0)
            if head == b"PK\x03\x04":
                return _zip_pth(f, what)
            return _legacy_pth(f, what)
    except MemoryError:
        size = path.stat().st_size
        raise UserError(f"{path}: out of memory reading a {size / 1e9:.1f} GB .pth (needs about "
                        f"{PTH_MEMORY_RATIO * size / 1e9:.0f} GB of RAM); use NATS-Bench's folder "
                        "NATS-tss-v1_0-3ffb9-simple (format nats_tss), read one architecture at a time") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({os.strerror(exc.errno) if exc.errno else exc})") from None
    finally:
        if collecting:
            gc.enable()


def _legacy_pth(f: BinaryIO, what: str) -> object:
    """torch's legacy format (torch/serialization.py `_legacy_load`): magic number, protocol version,
    system info, the object, then the storage keys, each a pickle of its own."""
    magic = _unpickle(f, what)
    if magic != _TORCH_MAGIC:
        raise UserError(f"{what}: not a torch .pth file (neither a zip archive nor torch's legacy format: "
                        f"starts with {show(magic, 30)}, expected torch's magic number)")
    version = _unpickle(f, what)
    if version != _TORCH_PROTOCOL:
        raise UserError(f"{what}: torch legacy protocol version {show(version, 30)}; expected {_TORCH_PROTOCOL}")
    _unpickle(f, what)  # system info (byte order, type sizes): only tensors depend on it
    obj = _unpickle(f, what)
    storage_keys = _unpickle(f, what)
    if storage_keys != []:  # the tensor data that follows; persistent_load already refused any tensor
        raise UserError(f"{what}: lists tensor storages {show(storage_keys, 40)}; expected none ({_PLAIN})")
    return obj


def _zip_pth(f: BinaryIO, what: str) -> object:
    """torch's zip format: the object is `<folder>/data.pkl` (the folder's name varies: 'archive', or
    the file's stem)."""
    try:
        archive = zipfile.ZipFile(f)
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(names) != 1:
            raise UserError(f"{what}: a zip archive with {len(names)} '<folder>/data.pkl' entries; expected "
                            "one (torch.save's zip format)")
        # A buffer in front: the unpickler reads many small pieces, each costly on a ZipExtFile.
        with io.BufferedReader(archive.open(names[0]), buffer_size=1 << 20) as stream:
            return _unpickle(stream, what)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise UserError(f"{what}: truncated or corrupt zip archive ({cut(_first_line(exc), 120)})") from None


def _nb201_tables(obj, what: str) -> tuple[list[str], dict]:
    """(meta_archs, arch2infos) of a NAS-Bench-201 .pth's dict, checked."""
    if not isinstance(obj, dict):
        raise UserError(f"{what}: holds a {type(obj).__name__}; expected NAS-Bench-201's dict with "
                        "meta_archs and arch2infos")
    archs = _meta_archs(obj, what)
    infos = obj.get("arch2infos")
    if not isinstance(infos, dict):
        raise UserError(f"{what}: key 'arch2infos' is {_kind(infos)}; expected a dict {{index: {{'less': "
                        "..., 'full': ...}}}} (NAS-Bench-201)")
    return archs, infos


def _meta_archs(obj, what: str) -> list[str]:
    archs = obj.get("meta_archs") if isinstance(obj, dict) else None
    if not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
        raise UserError(f"{what}: key 'meta_archs' is {_kind(archs)}; expected a list of architecture strings")
    return archs


def _kind(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, list):
        bad = next((v for v in value if not isinstance(v, str)), None)
        return f"a list holding a {type(bad).__name__}" if bad is not None else "a list"
    return f"a {type(value).__name__}"


# --- NATS-Bench topology folder --------------------------------------------------------------------

def _read_pbz2(path: Path) -> object:
    """The object of one NATS-Bench .pickle.pbz2 file (bz2 of a pickle)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: not found; the NATS-Bench folder is incomplete (one "
                        f"{{index:06d}}{NATS_EXT} per architecture)") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({os.strerror(exc.errno) if exc.errno else exc})") from None
    try:
        data = bz2.decompress(data)
    except (OSError, EOFError, ValueError) as exc:
        raise UserError(f"{path}: truncated or corrupt bz2 ({cut(_first_line(exc), 120)})") from None
    return safe_load(data, str(path))


def _nats_arch_file(folder: Path, index: int) -> Path:
    """{index:06d}.pickle.pbz2, or {index}.pickle.pbz2 as NATS-Bench's `reload` also accepts."""
    path = folder / f"{index:06d}{NATS_EXT}"
    if not path.exists():
        unpadded = folder / f"{index}{NATS_EXT}"
        if unpadded.exists():
            return unpadded
    return path


# --- rows of one ArchResults state dict --------------------------------------------------------------

def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where} is {show(value, 30)}; expected a number")
    return float(value)


def _field(run: dict, key: str, where: str):
    try:
        return run[key]
    except KeyError:
        raise UserError(f"{where}: no key {show(key)}; expected a ResultsCount state "
                        "(train_acc1es, eval_acc1es, params, flop, epochs)") from None


def _eval(run: dict, split: str, epoch: int, where: str) -> float:
    accs = _field(run, "eval_acc1es", where)
    key = f"{split}@{epoch}"
    if not isinstance(accs, dict) or key not in accs:
        have = ", ".join(sorted({str(k).split("@")[0] for k in accs})) if isinstance(accs, dict) else _kind(accs)
        raise UserError(f"{where}: eval_acc1es has no key {show(key)} (has {have or 'nothing'}); expected "
                        f"the benchmark's '{split}@<last epoch>'")
    return _number(accs[key], f"{where}: eval_acc1es[{show(key)}]")


def _train(run: dict, epoch: int, where: str) -> float:
    accs = _field(run, "train_acc1es", where)
    try:
        return _number(accs[epoch], f"{where}: train_acc1es[{epoch}]")
    except (KeyError, IndexError, TypeError):
        raise UserError(f"{where}: train_acc1es has no epoch {epoch}; expected the last epoch's "
                        "training accuracy") from None


def _latency(value) -> float:
    """Mean of the stored latencies (seconds); NaN where absent or not positive (the API's -1)."""
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            mean = sum(value) / len(value)
            return mean if mean > 0 else math.nan
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return math.nan


def _costs(runs: list[dict], seeds: list[int], where: str) -> tuple[list[float], list[float]]:
    """Per-seed (params count, MFLOPs), with seed 888's where the seeds disagree (module docstring)."""
    params = [_number(_field(run, "params", where), f"{where}: params") for run in runs]
    flops = [_number(_field(run, "flop", where), f"{where}: flop") for run in runs]

    def fixed(values):
        if len({f"{v:.5f}" for v in values}) > 1 and _LEGACY_COST_SEED in seeds:
            return [values[seeds.index(_LEGACY_COST_SEED)]] * len(values)
        return values
    return [float(round(p * 1e6)) for p in fixed(params)], fixed(flops)


def _arch_rows(state, dataset: str, budget: int, where: str) -> list[tuple]:
    """(seed, train, valid, test, params, flops, latency, epochs) per seed of one architecture's
    ArchResults state dict at one budget on `dataset` (none if it has no run there)."""
    if not isinstance(state, dict):
        raise UserError(f"{where} is {_kind(state)}; expected an ArchResults state dict")
    seeds_of, results = state.get("dataset_seed"), state.get("all_results")
    if not (isinstance(seeds_of, dict) and isinstance(results, dict)):
        raise UserError(f"{where}: dataset_seed is {_kind(seeds_of)}, all_results {_kind(results)}; expected "
                        "two dicts (an ArchResults state dict)")
    seeds = seeds_of.get(dataset)
    if not seeds:
        return []
    if not (isinstance(seeds, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise UserError(f"{where}: dataset_seed[{show(dataset)}] is {show(seeds, 40)}; expected a list of seeds")
    seeds = sorted(seeds)
    runs = []
    for seed in seeds:
        run = results.get((dataset, seed))
        if not isinstance(run, dict):
            raise UserError(f"{where}: all_results[({show(dataset)}, {seed})] is {_kind(run)}; expected the "
                            "ResultsCount state of a seed that dataset_seed lists")
        runs.append(run)
    valid_dataset, valid_split, test_split = _SPLITS[dataset]
    epoch = budget - 1
    params, flops = _costs(runs, seeds, f"{where}[{show(dataset)}]")
    rows = []
    for seed, run, p, f in zip(seeds, runs, params, flops):
        at = f"{where}[({show(dataset)}, {seed})]"
        epochs = _field(run, "epochs", at)
        if epochs != budget:
            raise UserError(f"{at}: epochs is {show(epochs, 20)} under the {budget}-epoch results; expected "
                            f"{budget}")
        if valid_dataset == dataset:
            valid = _eval(run, valid_split, epoch, at)
        else:  # cifar10 has no valid split: the same seed's cifar10-valid run (module docstring)
            other = results.get((valid_dataset, seed))
            valid = (_eval(other, valid_split, epoch, f"{where}[({show(valid_dataset)}, {seed})]")
                     if isinstance(other, dict) else math.nan)
        rows.append((seed, _train(run, epoch, at), valid, _eval(run, test_split, epoch, at), p, f,
                     _latency(run.get("latency")), budget))
    return rows


def _space_arch(space, text: str, where: str) -> str:
    """`text` in the space's own format (parse, then format), or a UserError naming where it came from."""
    try:
        return space.format(space.parse(text))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


# --- NDS ------------------------------------------------------------------------------------------

def _nds_records(path: Path) -> list:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UserError(f"{path}: not valid JSON, truncated or corrupt ({cut(_first_line(exc), 120)})") from None
    except MemoryError:
        raise UserError(f"{path}: out of memory reading the JSON ({path.stat().st_size / 1e9:.1f} GB)") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({os.strerror(exc.errno) if exc.errno else exc})") from None
    if isinstance(data, dict) and isinstance(data.get("top"), list) and isinstance(data.get("mid"), list):
        data = data["top"] + data["mid"]  # some NDS sweeps split their records so
    if not isinstance(data, list):
        raise UserError(f"{path}: holds a JSON {type(data).__name__}; expected NDS's list of training records")
    return data


def _nds_genotype_text(genotype, where: str) -> str:
    """The `Genotype(normal=[('op', i), ...], ...)` text of an NDS `net.genotype` dict."""
    if not isinstance(genotype, dict):
        raise UserError(f"{where}: net.genotype is {_kind(genotype)}; expected a dict with normal, "
                        "normal_concat, reduce, reduce_concat")
    parts = []
    for kind in ("normal", "reduce"):
        pairs, concat = genotype.get(kind), genotype.get(f"{kind}_concat")
        if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs)
                and isinstance(concat, list)):
            raise UserError(f"{where}: net.genotype.{kind} is {show(pairs, 40)}, {kind}_concat {show(concat, 20)}; "
                            "expected a list of [op, input] pairs and a list of nodes")
        parts.append(f"{kind}={[tuple(p) for p in pairs]!r}, {kind}_concat={concat!r}")
    return f"Genotype({', '.join(parts)})"


def _nds_table(path: Path) -> tuple[list[str], list[tuple]]:
    """(genotype strings by index, rows of every record) of an NDS file."""
    from nas.spaces import darts

    space = darts.SPACE
    genotypes: dict[str, int] = {}   # darts string -> index (order of first appearance)
    shape: dict[int, tuple] = {}     # index -> (width, depth, first record)
    seeds: dict[tuple[int, int], int] = {}
    parsed: dict[str, str] = {}      # genotype text -> darts string
    rows = []
    for k, record in enumerate(_nds_records(path)):
        where = f"{path}: record {k}"
        net = record.get("net") if isinstance(record, dict) else None
        if not isinstance(net, dict):
            raise UserError(f"{where}: net is {_kind(net)}; expected a dict with genotype, width, depth (NDS)")
        text = _nds_genotype_text(net.get("genotype"), where)
        if text not in parsed:
            parsed[text] = _space_arch(space, text, where)
        arch = parsed[text]
        index = genotypes.setdefault(arch, len(genotypes))
        size = (net.get("width"), net.get("depth"))
        first = shape.setdefault(index, size + (k,))
        if first[:2] != size:
            raise UserError(f"{where}: the genotype of record {first[2]} again, at width/depth {size[0]}/{size[1]} "
                            f"instead of {first[0]}/{first[1]}: not a repeat; read the *_fix-w-d.json sweep "
                            "(e.g. DARTS_fix-w-d.json), where every record has one width and depth")
        seed = record.get("rng_seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UserError(f"{where}: rng_seed is {show(seed, 20)}; expected an integer seed")
        if (index, seed) in seeds:
            raise UserError(f"{where}: repeats record {seeds[index, seed]} (same genotype, same rng_seed {seed}); "
                            "expected one record per genotype and seed")
        seeds[index, seed] = k
        rows.append(_nds_row(record, index, arch, seed, where))
    return list(genotypes), rows


def _nds_row(record: dict, index: int, arch: str, seed: int, where: str) -> tuple:
    test = record.get("test_ep_top1")
    if not (isinstance(test, list) and test):
        raise UserError(f"{where}: test_ep_top1 is {_kind(test)}; expected the per-epoch test error list")
    epochs = len(test)
    max_ep = record.get("optim", {}).get("max_ep") if isinstance(record.get("optim"), dict) else None
    if max_ep is not None and max_ep != epochs:
        raise UserError(f"{where}: test_ep_top1 has {epochs} epochs, optim.max_ep is {show(max_ep, 20)}; "
                        "expected one error per epoch")
    train = record.get("train_ep_top1")
    train_acc = (100.0 - _number(train[-1], f"{where}: train_ep_top1[-1]")
                 if isinstance(train, list) and train else math.nan)
    params = _number(record.get("params"), f"{where}: params")
    flops = _number(record.get("flops"), f"{where}: flops") / 1e6
    return (index, arch, seed, train_acc, math.nan, 100.0 - _number(test[-1], f"{where}: test_ep_top1[-1]"),
            params, flops, math.nan, epochs)


# --- the interface --------------------------------------------------------------------------------

def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UserError(f"benchmark format {show(fmt)} is unknown; expected one of {', '.join(FORMATS)}")


def _check_path(fmt: str, path) -> Path:
    path = Path(path)
    folder = fmt == "nats_tss"
    expected = {"nb201_pth": "NAS-Bench-201's .pth file (e.g. NAS-Bench-201-v1_1-096897.pth)",
                "nats_tss": f"NATS-Bench's folder NATS-tss-v1_0-3ffb9-simple (meta{NATS_EXT} and one "
                            f"{{index:06d}}{NATS_EXT} per architecture)",
                "nds": "an NDS sweep's JSON file (e.g. DARTS_fix-w-d.json)",
                "nb101_tfrecord": "NAS-Bench-101's nasbench_only108.tfrecord or nasbench_full.tfrecord"}[fmt]
    if not path.exists():
        raise UserError(f"{path}: not found; format {fmt} reads {expected}")
    if folder and not path.is_dir():
        raise UserError(f"{path}: is a file; format {fmt} reads {expected}")
    if not folder and not path.is_file():
        raise UserError(f"{path}: is a folder; format {fmt} reads {expected}")
    return path


def arch_count(fmt: str, path) -> int:
    """How many architectures the file (folder) holds: meta_archs' length (nb201_pth reads the whole
    file for it; nats_tss only meta.pickle.pbz2), NDS's number of distinct genotypes, NAS-Bench-101's
    number of distinct module hashes (one streaming pass over the file)."""
    _check_format(fmt)
    path = _check_path(fmt, path)
    if fmt == "nb101_tfrecord":
        return tfrecord.nb101_table(path, None, None)[0]
    if fmt == "nb201_pth":
        return len(_nb201_tables(_read_pth(path), str(path))[0])
    if fmt == "nats_tss":
        return len(_meta_archs(_read_pbz2(path / f"meta{NATS_EXT}"), str(path / f"meta{NATS_EXT}")))
    return len(_nds_table(path)[0])


def read_records(fmt: str, path, dataset: str, budget: int | None,
                 indices: range | None = None) -> pd.DataFrame:
    """One row per (architecture, seed) with `dataset` at `budget` (epochs; None for NDS: the file's
    last epoch), RECORD_COLUMNS, sorted by (index, seed); `indices` restricts to those architecture
    indices (nats_tss then reads only their files, nb101_tfrecord decodes only their records). See the
    module docstring for the conventions."""
    _check_format(fmt)
    path = _check_path(fmt, path)
    if dataset not in DATASETS[fmt]:
        raise UserError(f"{path}: dataset {show(dataset)} is not one of format {fmt}'s: {', '.join(DATASETS[fmt])}")
    if fmt == "nds":
        if budget is not None:
            raise UserError(f"{path}: budget {show(budget)}; NDS records are read at the file's last epoch: "
                            "give budget null (None)")
        genotypes, rows = _nds_table(path)
        wanted = set(_checked_indices(indices, len(genotypes), path))
        return _frame([r for r in rows if r[0] in wanted])
    if budget not in BUDGETS[fmt]:
        raise UserError(f"{path}: budget {show(budget)} is not one of format {fmt}'s: "
                        f"{', '.join(map(str, BUDGETS[fmt]))} (epochs)")
    if fmt == "nb101_tfrecord":
        count, rows = tfrecord.nb101_table(path, budget, indices)
        _checked_indices(indices, count, path)
        return _frame(rows)
    hp = _HP_KEYS[fmt][budget]
    if fmt == "nb201_pth":
        archs_file = str(path)
        archs, infos = _nb201_tables(_read_pth(path), archs_file)
        states = _nb201_states(infos, archs, hp, indices, archs_file)
    else:
        archs_file = str(path / f"meta{NATS_EXT}")
        archs = _meta_archs(_read_pbz2(path / f"meta{NATS_EXT}"), archs_file)
        states = _nats_states(path, archs, hp, indices)
    from nas.spaces import nb201

    rows, seen, held = [], 0, set()
    for index, state, where in states:
        seen += 1
        found = _arch_rows(state, dataset, budget, where)
        if found:  # the benchmark's string, checked to be the nb201 space's (0.02 ms each)
            arch = _space_arch(nb201.SPACE, archs[index], f"{archs_file}: meta_archs[{index}]")
            rows.extend((index, arch) + r for r in found)
        elif isinstance(state, dict) and isinstance(state.get("dataset_seed"), dict):
            held.update(map(str, state["dataset_seed"]))
    if seen and not rows:
        raise UserError(f"{path}: no architecture{' of those indices' if indices is not None else ''} has "
                        f"{show(dataset)} results at budget {budget} (at that budget it holds: "
                        f"{', '.join(sorted(held)) or 'nothing'})")
    return _frame(rows)


def _checked_indices(indices, count: int, path) -> range | list:
    if indices is None:
        return range(count)
    indices = list(indices)
    bad = next((i for i in indices if not 0 <= i < count), None)
    if bad is not None:
        raise UserError(f"{path}: architecture index {bad} is out of range; the file holds 0..{count - 1}")
    return indices


def _nb201_states(infos: dict, archs: list[str], hp: str, indices, what: str):
    """(index, ArchResults state at `hp`, where) of the .pth's evaluated architectures in `indices`."""
    if indices is None:
        bad = next((i for i in infos if not isinstance(i, int) or not 0 <= i < len(archs)), None)
        if bad is not None:
            raise UserError(f"{what}: arch2infos key {show(bad, 20)} is not an index of meta_archs "
                            f"(0..{len(archs) - 1})")
    for index in sorted(infos) if indices is None else _checked_indices(indices, len(archs), what):
        entry = infos.get(index)
        if entry is None:
            continue  # not evaluated
        if not isinstance(entry, dict):
            raise UserError(f"{what}: arch2infos[{index}] is {_kind(entry)}; expected {{'less': ..., 'full': ...}}")
        if hp in entry:
            yield index, entry[hp], f"{what}: arch2infos[{index}][{show(hp)}]"


def _nats_states(folder: Path, archs: list[str], hp: str, indices):
    """(index, ArchResults state at `hp`, where), one architecture file at a time."""
    for index in _checked_indices(indices, len(archs), folder):
        path = _nats_arch_file(folder, index)
        obj = _read_pbz2(path)
        if not isinstance(obj, dict):
            raise UserError(f"{path}: holds a {type(obj).__name__}; expected {{'12': ArchResults state, "
                            "'200': ...}} (NATS-Bench)")
        if hp in obj:
            yield index, obj[hp], f"{path}: [{show(hp)}]"


def _frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=RECORD_COLUMNS)
    df = df.astype(_DTYPES)
    return df.sort_values(["index", "seed"], kind="stable").reset_index(drop=True)
