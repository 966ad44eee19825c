"""Settings schemas: frozen dataclasses whose fields say what values they allow, and their validator.

Every section of params.yaml, and every registered piece's own settings (a super-net method's
`supernet.<method>`, a selector's `select.<selector>`, a ground-truth source's `standalone.<source>`),
is a dataclass of fields made with `opt`. `build` turns a mapping as written into one, checking every
key: an unknown key names its section and the closest valid key; a wrong type or an out-of-range
value names the key, the value (cut short) and what is allowed. Errors are `UserError`s (one line,
exit 2).

This module imports nothing of the project but `nas.io`: the registered pieces declare their settings
with it, and `nas.config` assembles them through the registries, so no piece imports the config.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import reprlib
import types
import typing
from dataclasses import field

from nas.io import UserError

SEED_MAX = 2**32 - 1  # the largest seed every generator here accepts (numpy's legacy seeding)


def opt(default, *, min=None, max=None, choices=None, above=None, below=None, doc=""):
    """A settings field with its constraints (min/max inclusive, above/below exclusive)."""
    meta = {"min": min, "max": max, "choices": choices, "above": above, "below": below, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata=meta)
    return field(default=default, metadata=meta)


def build(cls, raw, section: str, exclude=(), renamed: dict | None = None):
    """An instance of dataclass `cls` from the mapping `raw` written at `section` (nested dataclass
    fields are sections of their own); fields in `exclude` or `cls._internal` are not keys a user
    writes. `renamed` (and `cls._renamed`): {old key: where it went}, for a clear message on a key
    that moved."""
    where = section or "params"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping, got {show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in tuple(exclude) + tuple(getattr(cls, "_internal", ())):
        fields.pop(name, None)
    renamed = {**getattr(cls, "_renamed", {}), **(renamed or {})}
    for key in raw:
        if key not in fields:
            if key in renamed:
                raise UserError(f"{where}: key {key!r} has moved; write it as {renamed[key]}")
            close = difflib.get_close_matches(str(key), list(fields), n=1) if len(str(key)) <= 100 else []
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
            raise UserError(f"{where}: unknown key {show(key)}{hint}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{section}.{name}" if section else name
        if dataclasses.is_dataclass(hints[name]):
            values[name] = build(hints[name], raw.get(name), key)
        elif name in raw:
            values[name] = value(key, raw[name], hints[name], f.metadata)
    return cls(**values)


def value(key, given, hint, meta):
    """`given` checked against the field's type `hint` and constraints `meta`; floats come back as float."""
    allowed_text = allowed(hint, meta)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        if given is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(given, list):
            raise UserError(f"{key}: {show(given)} is not allowed; expected {allowed_text}")
        return [value(f"{key}[{i}]", v, args[0], meta) for i, v in enumerate(given)]
    if hint is dict:
        if not isinstance(given, dict):
            raise UserError(f"{key}: {show(given)} is not allowed; expected {allowed_text}")
        return given
    ok = (isinstance(given, bool) if hint is bool else
          isinstance(given, int) and not isinstance(given, bool) if hint is int else
          isinstance(given, (int, float)) and not isinstance(given, bool) if hint is float else
          isinstance(given, str))
    if not ok:
        raise UserError(f"{key}: {show(given)} is not allowed; expected {allowed_text}")
    written, given = given, float(given) if hint is float else given
    if hint is float and not math.isfinite(given):  # nan passes every comparison below
        raise UserError(f"{key}: {show(written)} is not allowed; expected {allowed_text}")
    m = meta
    if ((m.get("choices") and given not in m["choices"]) or
            (m.get("min") is not None and given < m["min"]) or (m.get("max") is not None and given > m["max"]) or
            (m.get("above") is not None and given <= m["above"]) or
            (m.get("below") is not None and given >= m["below"])):
        raise UserError(f"{key}: {show(written)} is not allowed; expected {allowed_text}")
    return given


def allowed(hint, meta) -> str:
    """What a field allows, in words ("an integer >= 1", "one of a, b")."""
    if meta.get("choices"):
        return "one of " + ", ".join(meta["choices"])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    nullable = origin in (types.UnionType, typing.Union)
    if nullable:
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is list:
        inner = typing.get_args(hint)[0].__name__
        return f"a list of {inner}s" + _range(meta)
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping"}.get(hint, str(hint))
    return name + _range(meta) + (" or null" if nullable else "")


def _range(meta) -> str:
    parts = []
    for k, op in (("min", ">="), ("above", ">"), ("max", "<="), ("below", "<")):
        if meta.get(k) is not None:
            parts.append(f"{op} {meta[k]}")
    return (" " + " and ".join(parts)) if parts else ""


_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 6, 4, 80, 80, 40


def show(given, limit: int = 80) -> str:
    """A value as the user wrote it in YAML (null, true), cut short (a string to about `limit`
    characters, its head and tail kept): an error line stays one short line whatever the value holds."""
    if given is None:
        return "null"
    if isinstance(given, bool):
        return "true" if given else "false"
    if isinstance(given, str):
        if limit == _REPR.maxstring:
            return f"'{_REPR.repr(given)[1:-1]}'"
        wide = reprlib.Repr()
        wide.maxstring = limit
        return f"'{wide.repr(given)[1:-1]}'"
    return _REPR.repr(given)


def cut(text: str, limit: int = 200) -> str:
    """`text` (a message quoted from elsewhere: a parser's, a file's first line) on one line of at most
    about `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else f"{text[:limit - 20]}...{text[-17:]}"


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied key by key, nested mappings merged rather than replaced."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def split_sections(mapping: dict, names, where: str) -> tuple[dict, dict]:
    """(the plain keys, {name: sub-section}) of a mapping in which a key that names a registered piece
    (`names`: the registry's names) is that piece's settings."""
    plain = {k: v for k, v in mapping.items() if k not in names}
    sections = {k: v for k, v in mapping.items() if k in names}
    for name, section in sections.items():
        if section is not None and not isinstance(section, dict):
            raise UserError(f"{where}.{name}: expected a mapping of {name}'s settings, got {show(section)}")
    return plain, {k: v or {} for k, v in sections.items()}


def fingerprint(*parts) -> str:
    """A short stable hash of settings (dataclasses, dicts, strings): names resumable work so that
    changed params never reuse stale partial results."""
    def plain(p):
        return dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p
    text = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- shards: the K-th of N jobs of a stage -------------------------------------------------------

def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--shard {show(text)}: expected K/N, e.g. 1/4")
    k, n = int(m[1]), int(m[2])
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard {show(text)}: K must be between 1 and N (N >= 1)")
    return k, n


def shard_of(archs, k: int, n: int):
    """Shard K of N: every N-th architecture starting at the K-th (interleaved, so shards get a similar
    mix of cheap and expensive cells)."""
    return archs.iloc[k - 1::n]


# --- the optimisation keys of the super-net and stand-alone sections ------------------------------

MAX_EPOCHS = 10_000  # the papers train 8 to 400; a typo of 10**12 is refused when params load


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the super-net and the stand-alone networks (SGD + cosine)."""
    epochs: int = opt(20, min=1, max=MAX_EPOCHS)
    batch_size: int = opt(128, min=2)
    lr: float = opt(0.05, above=0.0)
    momentum: float = opt(0.9, min=0.0, below=1.0)
    nesterov: bool = opt(True)
    weight_decay: float = opt(5e-4, min=0.0)
