"""NAS-Bench-101's records (`nasbench_only108.tfrecord`, `nasbench_full.tfrecord`) read without TensorFlow,
for `nas.truth.benchfiles` (format `nb101_tfrecord`): the TFRecord framing streamed record by record
with every CRC-32C checked, each record's JSON row `[module_hash, epochs, adjacency, operations,
metrics]` (google-research/nasbench api.py, `NASBench.__init__`), and the base64 `ModelMetrics`
protobuf (model_metrics.proto) decoded by a minimal wire-format reader of exactly its fields; nothing
from the file is executed. `nb101_table(path, budget, indices)` gives the rows benchfiles normalises.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import struct
from pathlib import Path

import numpy as np

from nas.io import UserError, _first_line
from nas.settings import cut, show


_CRC32C_POLY = 0x82F63B78  # Castagnoli's polynomial, bit-reversed (CRC-32C as TFRecord uses it)
_TFRECORD_MASK = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()
_CRC_TABLE_NP = np.array(_CRC_TABLE, dtype=np.uint32)
_CRC_BATCH = 4096         # records whose data CRCs are checked together
_MAX_RECORD = 1 << 20     # NAS-Bench-101's records are under 2 KB; a longer one is not of this format
_NB101_HASH = re.compile(r"[0-9a-f]{32}")
_NB101_ROW = ("NAS-Bench-101's JSON row [module_hash (32 hex digits), epochs, adjacency ('0110...'), operations "
              "('input,...,output'), base64 ModelMetrics]")


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data` (one byte at a time: for the 8-byte length headers)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _TFRECORD_MASK) & 0xFFFFFFFF


def masked_crc32c_many(datas: list[bytes]) -> np.ndarray:
    """masked_crc32c of each of `datas` (uint32), vectorised over the records: byte j of every record at
    least j + 1 long goes through the table in one numpy step (records sorted longest first, so those are
    a prefix)."""
    n = len(datas)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    lengths = np.fromiter(map(len, datas), dtype=np.int64, count=n)
    order = np.argsort(-lengths, kind="stable")
    longest_first = lengths[order]
    width = int(longest_first[0])
    grid = np.zeros((n, width), dtype=np.uint8)
    grid[np.arange(width) < longest_first[:, None]] = np.frombuffer(b"".join(datas[i] for i in order), np.uint8)
    grid = np.ascontiguousarray(grid.T)  # row j: byte j of every record
    active = n - np.searchsorted(longest_first[::-1], np.arange(width), side="right")  # records longer than j
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    for j in range(width):
        m = active[j]
        c = crc[:m]
        crc[:m] = _CRC_TABLE_NP[(c ^ grid[j, :m]) & 0xFF] ^ (c >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    masked = ((crc >> 15) | (crc << 17)) + np.uint32(_TFRECORD_MASK)  # uint32: wraps mod 2^32
    out = np.empty(n, dtype=np.uint32)
    out[order] = masked
    return out


def _tfrecords(path: Path):
    """(record number, data) of each record of a TFRecord file, in order, streamed; every CRC checked
    (a record's data is yielded once its batch's CRCs are)."""
    batch, stored, first = [], [], 0

    def checked():
        bad = np.flatnonzero(masked_crc32c_many(batch) != np.array(stored, dtype=np.uint32))
        if bad.size:
            raise UserError(f"{path}: record {first + int(bad[0])}: the CRC of its data does not match (a corrupt "
                            "file: download it again)")
        return enumerate(batch, start=first)

    try:
        with open(path, "rb", buffering=1 << 20) as f:
            k = 0
            while True:
                head = f.read(12)
                if not head:
                    break
                if len(head) < 12:
                    raise UserError(f"{path}: record {k}: truncated in its length header ({len(head)} of 12 bytes); "
                                    "the file is incomplete")
                length, length_crc = struct.unpack("<QI", head)
                if masked_crc32c(head[:8]) != length_crc:
                    raise UserError(f"{path}: record {k}: the CRC of its length does not match (a corrupt file, or "
                                    "not a TFRecord file)")
                if length > _MAX_RECORD:
                    raise UserError(f"{path}: record {k}: {length} bytes long; NAS-Bench-101's records are under 2 KB "
                                    "(not a NAS-Bench-101 file?)")
                body = f.read(length + 4)
                if len(body) < length + 4:
                    raise UserError(f"{path}: record {k}: truncated ({len(body)} of {length + 4} bytes of data and "
                                    "CRC); the file is incomplete")
                batch.append(body[:length])
                stored.append(int.from_bytes(body[length:], "little"))
                k += 1
                if len(batch) == _CRC_BATCH:
                    yield from checked()
                    first, batch, stored = k, [], []
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({os.strerror(exc.errno) if exc.errno else exc})") from None
    yield from checked()


class _Malformed(ValueError):
    """A protobuf message that does not decode (the message says why)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Malformed("a varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("a varint longer than 10 bytes")


def _wire_fields(buf: bytes):
    """(field number, wire type, value) of each field of a protobuf message: an int (varint) or the
    bytes (64-bit, length-delimited, 32-bit)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 2, 5):
            if wire == 2:
                size, pos = _varint(buf, pos)
            else:
                size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise _Malformed(f"field {number} runs past the end ({size} bytes from byte {pos} of {len(buf)})")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _Malformed(f"field {number} has wire type {wire} (a group or no type), which ModelMetrics never uses")
        yield number, wire, value


# lib/model_metrics.proto: field number -> (name, type); a dict type is a repeated message of those fields.
_EVALUATION_DATA = {1: ("current_epoch", "double"), 2: ("training_time", "double"), 3: ("train_accuracy", "double"),
                    4: ("validation_accuracy", "double"), 5: ("test_accuracy", "double"),
                    6: ("checkpoint_path", "string")}
_MODEL_METRICS = {1: ("evaluation_data", _EVALUATION_DATA), 2: ("trainable_parameters", "int32"),
                  3: ("total_time", "double")}
_WIRE_TYPES = {"double": 1, "string": 2, "int32": 0}


def decode_metrics(buf: bytes, schema: dict = _MODEL_METRICS, name: str = "ModelMetrics") -> dict:
    """A serialized ModelMetrics as {field name: value}, `evaluation_data` a list of dicts; absent
    fields absent, an unknown field skipped (as protobuf does). _Malformed if it does not decode."""
    out: dict = {}
    for number, wire, value in _wire_fields(buf):
        if number not in schema:
            continue
        key, kind = schema[number]
        expected = 2 if isinstance(kind, dict) else _WIRE_TYPES[kind]
        if wire != expected:
            raise _Malformed(f"{name}.{key} (field {number}) has wire type {wire}; expected {expected}")
        if isinstance(kind, dict):
            out.setdefault(key, []).append(decode_metrics(value, kind, f"{name}.{key}"))
        elif kind == "double":
            out[key] = struct.unpack("<d", value)[0]
        elif kind == "string":
            try:
                out[key] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise _Malformed(f"{name}.{key} is not UTF-8") from None
        else:  # int32: a negative one is written as 10 bytes of two's complement
            number_value = value - (1 << 64) if value >= 1 << 63 else value
            if not -(1 << 31) <= number_value < 1 << 31:
                raise _Malformed(f"{name}.{key} is {number_value}, out of int32's range")
            out[key] = number_value
    return out


def _nb101_row(data: bytes, where: str) -> tuple[str, int, str, str, str]:
    """The five fields of one record's JSON row, checked."""
    try:
        row = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{where}: not JSON ({cut(_first_line(exc), 80)}); expected {_NB101_ROW}") from None
    if not (isinstance(row, list) and len(row) == 5 and isinstance(row[0], str) and _NB101_HASH.fullmatch(row[0])
            and type(row[1]) is int and all(isinstance(v, str) for v in row[2:])):
        raise UserError(f"{where}: holds {show(row, 60)}; expected {_NB101_ROW}")
    return tuple(row)


def _nb101_spec(adjacency: str, operations: str, module_hash: str, where: str) -> str:
    """The nb101 space's string of a record's cell (pruned), its module hash checked to be the record's."""
    from nas.spaces import nb101

    dim = math.isqrt(len(adjacency))
    if not adjacency or dim * dim != len(adjacency) or set(adjacency) - {"0", "1"}:
        raise UserError(f"{where}: adjacency {show(adjacency, 60)} is not a square 0/1 matrix flattened by rows")
    matrix = [[int(c) for c in adjacency[i * dim:(i + 1) * dim]] for i in range(dim)]
    try:
        spec = nb101.prune(nb101.make_spec(matrix, operations.split(",")))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    ours = nb101.module_hash(spec)
    if ours != module_hash:
        raise UserError(f"{where}: the cell's module hash is {ours}, the record's {module_hash}: the space's hash "
                        "or the reading of the spec is wrong (report it)")
    return nb101.format(spec)


def _nb101_metrics(raw: str, where: str) -> tuple[float, float, float, float]:
    """(train, valid, test accuracy in percent, params) at the end of training (evaluation_data[2], as
    NASBench.query reads it) of one record's base64 ModelMetrics."""
    try:
        metrics = decode_metrics(base64.b64decode(raw, validate=True))
    except binascii.Error as exc:
        raise UserError(f"{where}: metrics are not base64 ({cut(_first_line(exc), 60)})") from None
    except _Malformed as exc:
        raise UserError(f"{where}: malformed ModelMetrics protobuf ({exc})") from None
    evaluations = metrics.get("evaluation_data", [])
    if len(evaluations) < 3:
        raise UserError(f"{where}: ModelMetrics holds {len(evaluations)} evaluation_data; expected 3 (start, halfway, "
                        "end of training: the benchmark reads evaluation_data[2])")
    final = evaluations[2]
    accuracies = []
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
        value = final.get(key)
        if value is None or not 0.0 <= value <= 1.0:
            shown_value = "missing" if value is None else show(value, 30)
            raise UserError(f"{where}: evaluation_data[2].{key} is {shown_value}; expected a fraction in [0, 1]")
        accuracies.append(100.0 * value)
    params = metrics.get("trainable_parameters")
    return (*accuracies, float(params) if params is not None else math.nan)


def nb101_table(path: Path, budget: int | None, indices) -> tuple[int, list[tuple]]:
    """(the number of distinct hashes, the rows at `budget` of the hashes in `indices`, None: all;
    budget None: no rows, a count only) of a NAS-Bench-101 .tfrecord, in one streaming pass."""
    first: dict[str, int] = {}   # module hash -> index (order of first appearance)
    repeats: dict[str, int] = {}  # module hash -> its records at the budget so far
    archs: dict[str, tuple[str, str, str]] = {}  # module hash -> (adjacency, operations, arch) of its first record
    budgets: set[int] = set()
    wanted = None if indices is None else set(indices)
    rows = []
    for k, data in _tfrecords(path):
        where = f"{path}: record {k}"
        module_hash, epochs, adjacency, operations, raw = _nb101_row(data, where)
        index = first.setdefault(module_hash, len(first))
        budgets.add(epochs)
        if epochs != budget or (wanted is not None and index not in wanted):
            continue
        # The benchmark has no seeds: a record's "seed" is its repeat's order among the hash's records.
        repeat = repeats.get(module_hash, 0)
        repeats[module_hash] = repeat + 1
        known = archs.get(module_hash)
        if known is None or known[:2] != (adjacency, operations):  # each record's cell is checked against its hash
            arch = _nb101_spec(adjacency, operations, module_hash, where)
            if known is None:
                known = archs[module_hash] = (adjacency, operations, arch)
        rows.append((index, known[2], repeat, *_nb101_metrics(raw, where), math.nan, math.nan, epochs))
    if not first:
        raise UserError(f"{path}: holds no records; expected NAS-Bench-101's nasbench_only108.tfrecord or "
                        "nasbench_full.tfrecord")
    if budget is not None and budget not in budgets:
        raise UserError(f"{path}: no record at budget {budget} (the file holds epochs "
                        f"{', '.join(map(str, sorted(budgets)))}; nasbench_only108.tfrecord holds 108 only, "
                        "nasbench_full.tfrecord 4, 12, 36, 108)")
    return len(first), rows  # the caller checks `indices` against the count
