"""Artifact files: Parquet with explicit schemas, JSON metrics, torch checkpoints.

Every write goes to a temporary file in the target directory and is renamed into place, so a killed
stage never leaves a half-written artifact. Every read turns a missing, truncated or corrupted file
into a `UserError` that names the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class UserError(Exception):
    """A mistake the user can fix (bad params, missing or corrupt input). The CLI prints it as one
    line on stderr and exits with status 2."""


def require_columns(df: pd.DataFrame, columns: list[str], name: str) -> None:
    """A one-line UserError naming the table and the columns it lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}")


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The writer (pid@host) is in the name, so a later stage can tell a killed writer's leftover from
        # a file another process is writing right now (`remove_stale_temporaries`).
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_writer()}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual permissions
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise unwritable(path, exc) from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a file-size limit, a folder made read-only meanwhile
            raise unwritable(path, exc) from None
        raise


def unwritable(path, exc: OSError) -> UserError:
    """The one-line error of a file that could not be written (nothing of it is left behind)."""
    reason = os.strerror(exc.errno) if exc.errno else _first_line(exc)
    return UserError(f"{path}: cannot be written ({reason}); nothing was written")


def _writer() -> str:
    """'pid@host' of this process; the host is a short hash, so the name stays file-name safe."""
    import hashlib
    import socket

    return f"{os.getpid()}@{hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]}"


def remove_stale_temporaries(roots) -> list[Path]:
    """Delete the temporary files that killed writers left under `roots` (a SIGKILL skips the cleanup
    of `atomic_path`): those written on this host by a process that is gone. A temporary of another
    host (a cluster job on a shared file system) is left alone: its writer cannot be checked from here.
    Returns what was removed."""
    host = _writer().split("@")[1]
    removed = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for tmp in root.rglob(".*.tmp"):
            parts = tmp.name.rsplit(".", 3)  # ['.name', 'pid@host', random, 'tmp']
            writer = parts[1].split("@") if len(parts) == 4 else []
            if len(writer) == 2 and writer[0].isdigit():
                if writer[1] != host or _alive(int(writer[0])):
                    continue
            tmp.unlink(missing_ok=True)  # a dead writer's, or named before writers were recorded
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def exit_with_parent(parent: int) -> None:
    """Exit as soon as process `parent` is gone: a stage whose `dvc repro` or scheduler was SIGKILLed
    must not train on as an orphan next to the rerun's copy (and a stand-alone worker must not outlive
    its stage). `parent` is passed in, since a process that starts after its parent died already sees
    the reaper as its parent: exits at once if `parent` is not the parent now. A stage command run as
    `nas` watches its parent from its first moment (nas.lifeline)."""
    from nas import lifeline

    lifeline.watch(parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_parquet(df: pd.DataFrame, path, schema: pa.Schema | None = None, metadata: dict | None = None):
    """Write `df` atomically. Bytes depend only on the data: no pandas index, no timestamps."""
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
    for key, value in (metadata or {}).items():
        meta[key.encode()] = json.dumps(value, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta or None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path, columns: list[str] | dict[str, str] | None = None) -> pd.DataFrame:
    """A Parquet artifact as a DataFrame. `columns`: the columns the caller needs, or its schema
    {column: kind} (an artifact's schema is in nas.layout.SCHEMAS), checked by `check_schema`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (run the stage that writes it first)")
    try:
        df = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for truncated/corrupt files
        raise UserError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}")
        if isinstance(columns, dict):
            check_schema(df, columns, str(path))
    return df


def _is_int(s: pd.Series) -> bool:
    """Integers, or floats that are whole numbers and NaN (an integer column with nulls reads back as
    float: the Parquet files carry no pandas metadata)."""
    if pd.api.types.is_integer_dtype(s.dtype):
        return True
    if pd.api.types.is_float_dtype(s.dtype):
        values = s.dropna().to_numpy(dtype=float)
        return bool(np.all(np.isfinite(values) & (values == np.round(values))))
    return False


def _is_str(s: pd.Series) -> bool:
    if s.dtype == object:  # pandas' is_string_dtype says yes to any object column
        return all(isinstance(v, str) for v in s.dropna())
    return pd.api.types.is_string_dtype(s.dtype)


KINDS = {  # kind -> (test of a column, what the error says was expected)
    "int": (lambda s: _is_int(s), "integers"),
    "float": (lambda s: pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype), "numbers"),
    "str": (_is_str, "strings"),
    "bool": (lambda s: pd.api.types.is_bool_dtype(s.dtype), "true/false values"),
}


def check_schema(df: pd.DataFrame, schema: dict[str, str], name: str) -> None:
    """UserError (one line) unless every column of `schema` is present and holds its kind (a column of
    integers passes as numbers)."""
    require_columns(df, list(schema), name)
    for column, kind in schema.items():
        test, expected = KINDS[kind]
        if not test(df[column]):
            raise UserError(f"{name}: column {column!r} holds {df[column].dtype} values; expected {expected}")


def read_parquet_metadata(path) -> dict:
    """The JSON metadata written by `write_parquet(..., metadata=...)`."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:
        raise UserError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    try:
        return {k.decode(): json.loads(v) for k, v in meta.items() if k != b"pandas"}
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UserError(f"{path}: metadata is not JSON ({_first_line(exc)[:100]}); not a file this project "
                        "wrote") from None


def read_json(path) -> object:
    """A JSON file written by `write_json` (a metrics file, say); UserError if missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (run the stage that writes it first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise UserError(f"{path}: not valid JSON (nested too deep); rerun the stage that writes it") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({_first_line(exc)}); rerun the stage that writes it") from None


def write_json(obj, path):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def write_text(text: str, path):
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(data: bytes, path):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_checkpoint(obj: dict, path):
    """torch.save into memory, then written like any artifact: saved to a path, the archive's inner
    folder would be named after the (random) temporary file, so identical tensors would give different
    bytes; and torch's own writer answers a full disk with three chained tracebacks."""
    import io as _io

    import torch

    buffer = _io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(buffer.getbuffer(), path)


def load_checkpoint(path) -> dict:
    """Load a checkpoint written by `save_checkpoint`; never unpickles arbitrary objects."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found (run the stage that writes it first)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = _first_line(exc)
        if "weights_only" in str(exc) or "Weights only load failed" in reason:
            # torch's message goes on to suggest weights_only=False: never for a file of unknown origin
            reason = "it holds objects other than tensors and plain data, which are never unpickled here"
        raise UserError(f"{path}: not a readable checkpoint ({reason})") from None


PROGRESS_HINT = "; it is resumable progress: deleting it is safe (the work it holds is done again)"


def progress_error(exc: UserError) -> UserError:
    """A corrupt or mismatched progress or resume file's error, saying that deleting it is safe."""
    return UserError(f"{exc}{PROGRESS_HINT}")


def restore(path, objects: dict, generator=None) -> dict:
    """Load a resume state written with `objects`' state dicts (and a batch generator's and torch's RNG
    states): each object gets its saved state back; returns the whole state for the caller's own
    entries. Every mismatch is one line saying that deleting the file is safe."""
    import torch

    try:
        state = load_checkpoint(path)
    except UserError as exc:
        raise progress_error(exc) from None
    for name, obj in objects.items():
        load_state(obj, state, name, path)
    try:
        if generator is not None:
            generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])  # dropout masks drawn on the GPU
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise progress_error(UserError(f"{path}: not a resume state of this run ({_first_line(exc)})")) from None
    return state


def load_state(obj, state: dict, name: str, path) -> None:
    """`obj.load_state_dict(state[name])`, one line if the saved state does not fit `obj` (torch's
    message lists every key and can run to kilobytes)."""
    try:
        obj.load_state_dict(state[name])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        first = _first_line(exc)
        raise progress_error(UserError(f"{path}: saved state {name!r} does not match this run "
                                       f"({first[:200]}{'...' if len(first) > 200 else ''})")) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Progress:
    """A tqdm bar on a terminal; otherwise one log line per step on stderr (for CI and cluster logs)."""

    def __init__(self, total: int, desc: str):
        import sys

        from tqdm import tqdm

        self.total, self.desc, self.done = total, desc, 0
        self.bar = tqdm(total=total, desc=desc, leave=False) if sys.stderr.isatty() else None

    def update(self, **stats):
        import sys

        self.done += 1
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            print(f"{self.desc} {self.done}/{self.total} {text}".rstrip(), file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
