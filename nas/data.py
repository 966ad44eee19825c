"""Datasets: MNIST-1D generated offline, CIFAR-10/100 read from local python-pickle batches.

`prepare` returns train/valid/test `Split`s as numpy arrays; `write_split` stores one as Parquet (one
row per sample, the flattened sample in a list column, its shape in the file metadata) and
`load_split` reads it back as normalised torch tensors. Images stay uint8 on disk (4x smaller,
byte-identical across runs) and are normalised only when loaded. `random_crop_flip` is the standard
CIFAR training augmentation, driven by an explicit torch.Generator so that training is reproducible.
"""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nas import layout
from nas.io import UserError, atomic_path, read_parquet_metadata

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    import torch

DATASETS = ("mnist1d", "cifar10", "cifar100")
NUM_CLASSES = {"mnist1d": 10, "cifar10": 10, "cifar100": 100}

# Standard per-channel CIFAR statistics (on the 0..255 scale), as used across the NAS literature.
CIFAR_MEAN = {"cifar10": (125.3, 123.0, 113.9), "cifar100": (129.3, 124.1, 112.4)}
CIFAR_STD = {"cifar10": (63.0, 62.1, 66.7), "cifar100": (68.2, 65.4, 70.4)}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 [n, 1, 40] for mnist1d; uint8 [n, 3, 32, 32] for cifar
    y: np.ndarray  # int64 [n]


@dataclass(frozen=True)
class Tensors:
    x: torch.Tensor  # float32 [n, *shape], normalised
    y: torch.Tensor  # int64 [n]
    shape: tuple[int, ...]
    num_classes: int
    dataset: str


# ----------------------------------------------------------------------------------------------
# MNIST-1D


def make_mnist1d(num_samples: int, seed: int, iid_noise_scale: float, corr_noise_scale: float,
                 test_fraction: float = 0.2) -> tuple[Split, Split]:
    """MNIST-1D generated offline (make_dataset; get_dataset would download). Returns (train_part, test),
    the last `test_fraction` of the generated samples being the test part (mnist1d's train_split)."""
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset builds num_samples // 10 per class; refuse sizes it would silently shrink.
    if num_samples < 10 or num_samples % 10:
        raise UserError(f"data.num_samples: must be a positive multiple of 10 for mnist1d, got {num_samples}")
    for key, value in (("data.iid_noise_scale", iid_noise_scale), ("data.corr_noise_scale", corr_noise_scale)):
        if not value >= 0:
            raise UserError(f"{key}: must be >= 0, got {value}")
    args = get_dataset_args()
    args.num_samples, args.seed = int(num_samples), int(seed)
    args.iid_noise_scale, args.corr_noise_scale = float(iid_noise_scale), float(corr_noise_scale)
    if not 0 < test_fraction < 1:
        raise UserError(f"data.test_fraction: must be between 0 and 1 (exclusive), got {test_fraction}")
    args.train_split = 1.0 - float(test_fraction)
    # make_dataset reseeds the global `random` and `np.random` generators; restore them so that
    # generating data has no side effect on whoever calls us.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return _signal_split(d["x"], d["y"]), _signal_split(d["x_test"], d["y_test"])


def _signal_split(x: np.ndarray, y: np.ndarray) -> Split:
    """mnist1d's float64 [n, 40] signals -> float32 [n, 1, 40]: one input channel for the conv nets."""
    return Split(np.ascontiguousarray(x[:, None, :], dtype=np.float32), np.asarray(y, dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# CIFAR from the python-pickle batches

_CIFAR_LAYOUT = {  # dataset -> (sub-directory, train files, test file, label key)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", b"labels"),
    "cifar100": ("cifar-100-python", ["train"], "test", b"fine_labels"),
}

# The only globals a CIFAR batch needs: numpy array reconstruction (old and new module paths;
# `numpy.core` is what the original Python 2 files name) and bytes from protocol-2 pickles
# written by Python 3. Anything else (os.system, ...) is refused instead of executed.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def read_cifar(root: str | Path, name: str) -> tuple[Split, Split]:
    """CIFAR-10/100 from `root`: the batch directory itself or its parent. Returns (train_part, test)."""
    if name not in _CIFAR_LAYOUT:
        raise UserError(f"data.dataset: {name!r} is not a CIFAR dataset; expected one of {', '.join(_CIFAR_LAYOUT)}")
    subdir, train_files, test_file, label_key = _CIFAR_LAYOUT[name]
    batch_dir = _find_batch_dir(Path(root).expanduser(), name)
    where = str(batch_dir) if batch_dir.name == subdir else f"{batch_dir} or in {batch_dir / subdir}"
    expected = f"the {name} python batches ({', '.join(train_files + [test_file])}) in {where}"
    for file in train_files + [test_file]:
        if not (batch_dir / file).is_file():
            raise UserError(f"data.root: {batch_dir / file} not found (expected {expected})")
    train = [_read_cifar_batch(batch_dir / f, label_key, NUM_CLASSES[name]) for f in train_files]
    test = _read_cifar_batch(batch_dir / test_file, label_key, NUM_CLASSES[name])
    return Split(np.concatenate([s.x for s in train]), np.concatenate([s.y for s in train])), test


def _find_batch_dir(root: Path, name: str) -> Path:
    subdir = _CIFAR_LAYOUT[name][0]
    expected = f"expected the {name} batch directory or its parent containing {subdir}"
    if not root.exists():
        raise UserError(f"data.root: {root} does not exist ({expected})")
    if not root.is_dir():
        raise UserError(f"data.root: {root} is not a directory ({expected})")
    return root / subdir if (root / subdir).is_dir() else root


def _read_cifar_batch(path: Path, label_key: bytes, num_classes: int) -> Split:
    try:
        with open(path, "rb") as f:
            batch = _DataOnlyUnpickler(f, encoding="bytes").load()
    except Exception as exc:  # pickle raises many types for garbage input
        raise UserError(f"data.root: {path} is not a valid CIFAR python pickle ({_first_line(exc)})") from None

    def bad(what: str) -> UserError:
        expected = f"a dict with b'data' uint8 [n, 3072] and {label_key!r} [n] in 0..{num_classes - 1}"
        return UserError(f"data.root: {path}: {what} (expected {expected})")

    if not isinstance(batch, dict):
        raise bad(f"holds a {type(batch).__name__}, not a dict")
    missing = [repr(k) for k in (b"data", label_key) if k not in batch]
    if missing:
        raise bad(f"lacks key(s) {', '.join(missing)}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        described = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise bad(f"b'data' is {described}")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError):
        raise bad(f"{label_key!r} is not a list of integers") from None
    if labels.shape != (len(data),):
        raise bad(f"{label_key!r} has shape {list(labels.shape)} for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise bad(f"{label_key!r} has labels outside 0..{num_classes - 1}")
    return Split(data.reshape(-1, 3, 32, 32), labels)


# ----------------------------------------------------------------------------------------------
# Splits


def split_train_valid(part: Split, valid_fraction: float, seed: int) -> tuple[Split, Split]:
    """Stratified, seeded split of the training part; valid gets round(valid_fraction * n) samples."""
    if not 0 < valid_fraction < 1:
        raise UserError(f"data.valid_fraction: must be in (0, 1), got {valid_fraction}")
    order = np.random.default_rng(seed).permutation(len(part.y))
    classes, counts = np.unique(part.y, return_counts=True)
    shuffled_y = part.y[order]
    in_valid = np.zeros(len(order), dtype=bool)
    for c, k in zip(classes, _valid_counts(counts, valid_fraction)):
        in_valid[np.flatnonzero(shuffled_y == c)[:k]] = True  # the first k of class c in permuted order
    # Sorting keeps the samples in their original order inside each subset; only membership is random.
    valid_idx, train_idx = np.sort(order[in_valid]), np.sort(order[~in_valid])
    if len(valid_idx) == 0 or len(train_idx) == 0:
        raise UserError(f"data.valid_fraction: {valid_fraction} leaves {len(train_idx)} train and "
                        f"{len(valid_idx)} valid samples out of {len(order)}")
    return Split(part.x[train_idx], part.y[train_idx]), Split(part.x[valid_idx], part.y[valid_idx])


def _valid_counts(counts: np.ndarray, valid_fraction: float) -> np.ndarray:
    """Per-class valid sizes: each within 1 of its exact share, summing to round(valid_fraction * n).

    Rounding every class on its own would drift from the requested total (mnist1d's classes are
    unbalanced); largest remainders fix the total. Ties go to the lower class index.
    """
    exact = valid_fraction * counts
    sizes = np.floor(exact).astype(np.int64)
    missing = int(np.floor(valid_fraction * counts.sum() + 0.5)) - sizes.sum()
    sizes[np.argsort(-(exact - sizes), kind="stable")[:missing]] += 1
    return sizes


def prepare(dataset: str, root: str | None, valid_fraction: float, seed: int,
            num_samples: int = 5000, iid_noise_scale: float = 0.02, corr_noise_scale: float = 0.25,
            test_fraction: float = 0.2) -> dict[str, Split]:
    """{'train', 'valid', 'test'} Splits for `dataset`; the valid split is carved out of the training part."""
    if dataset not in DATASETS:
        raise UserError(f"data.dataset: unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if dataset == "mnist1d":
        train_part, test = make_mnist1d(num_samples, seed, iid_noise_scale, corr_noise_scale, test_fraction)
    else:
        if root is None:
            raise UserError(f"data.root: required for dataset {dataset}")
        train_part, test = read_cifar(root, dataset)
    train, valid = split_train_valid(train_part, valid_fraction, seed)
    return {"train": train, "valid": valid, "test": test}


# ----------------------------------------------------------------------------------------------
# Parquet storage


def write_split(split: Split, path, dataset: str, num_classes: int) -> None:
    """One row per sample: x = the flattened sample (list<float32> or list<uint8>), y = int64 label."""
    x = np.ascontiguousarray(split.x)
    if x.dtype not in (np.float32, np.uint8):
        raise ValueError(f"write_split: x must be float32 or uint8, got {x.dtype}")
    if len(x) != len(split.y):
        raise ValueError(f"write_split: {len(x)} samples but {len(split.y)} labels")
    n, row = len(x), int(np.prod(x.shape[1:]))
    # Build the list column from the flat buffer and offsets: no Python object per row.
    offsets = pa.array(np.arange(n + 1, dtype=np.int64) * row, type=pa.int32())
    x_list = pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1)))
    schema = pa.schema([("x", pa.list_(pa.from_numpy_dtype(x.dtype))), ("y", pa.int64())])
    table = pa.Table.from_arrays([x_list, pa.array(np.asarray(split.y, dtype=np.int64))], schema=schema)
    meta = {"shape": list(x.shape[1:]), "dataset": dataset, "num_classes": int(num_classes)}
    _write_table(table, path, meta)


def _write_table(table: pa.Table, path, metadata: dict) -> None:
    """nas.io.write_parquet, minus pandas, plus bounded row groups.

    write_parquet puts everything in one row group, which pyarrow decodes on one thread; a list
    column carries repetition/definition levels for every value, so 60k CIFAR rows took ~3 s to
    read. Row groups of 10k rows are decoded in parallel (~1 s on 2 cores). Metadata is JSON-encoded
    exactly as write_parquet does, so nas.io.read_parquet_metadata reads it back.
    """
    meta = {k.encode(): json.dumps(v, sort_keys=True).encode() for k, v in metadata.items()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd", row_group_size=10_000)


def load_split(path) -> Tensors:
    """A split written by `write_split`, as tensors; uint8 images become normalised float32."""
    import torch

    table, shape, dataset, num_classes = _checked_split(path)
    x_col, y_col = table.column("x"), table.column("y")
    n, item = len(x_col), x_col.type.value_type
    # Convert chunk by chunk straight into the float32 result: torch's cast is multi-threaded and no
    # full-size uint8 copy is made (combine_chunks + numpy astype took ~3x longer for CIFAR).
    x = torch.empty((n, *shape), dtype=torch.float32)
    start = 0
    for chunk in x_col.chunks:
        values = chunk.flatten().to_numpy(zero_copy_only=False, writable=True)  # torch wants writable memory
        x[start : start + len(chunk)] = torch.from_numpy(values).view(len(chunk), *shape)
        start += len(chunk)
    if item == pa.uint8():
        _normalise_images(x, dataset)  # mnist1d floats are standardised by the generator already
    y = torch.from_numpy(y_col.to_numpy().astype(np.int64))
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise UserError(f"{path}: label {bad} is outside 0..{num_classes - 1} (metadata num_classes {num_classes})")
    return Tensors(x=x, y=y, shape=shape, num_classes=num_classes, dataset=dataset)


def split_info(path) -> tuple[tuple[int, ...], int]:
    """(shape, num_classes) of a split written by `write_split`, checked against its rows as
    `load_split` checks them (a stage that builds networks from the metadata alone, `sample`, must not
    trust a shape its rows disagree with); the samples are not converted."""
    _, shape, _, num_classes = _checked_split(path)
    return shape, num_classes


def _checked_split(path) -> tuple[pa.Table, tuple[int, ...], str, int]:
    """(table, shape, dataset, num_classes) of a split, its metadata checked against its rows."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (run the stage that writes it first)")
    meta = read_parquet_metadata(path)
    missing = [k for k in ("shape", "dataset", "num_classes") if k not in meta]
    if missing:
        raise UserError(f"{path}: missing metadata {', '.join(missing)} (not a split written by nas.data.write_split)")
    columns = pq.read_schema(path).names
    missing = [c for c in ("x", "y") if c not in columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(columns)}")
    try:
        table = pq.read_table(path, columns=["x", "y"])
    except Exception as exc:  # corrupt pages only show up when the data is decoded
        raise UserError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None

    shape, dataset, num_classes = meta["shape"], meta["dataset"], meta["num_classes"]
    if not (isinstance(shape, list) and len(shape) in (2, 3)
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise UserError(f"{path}: metadata shape {str(shape)[:60]} is not a list of 2 or 3 positive integers "
                        "(channels, length) or (channels, height, width)")
    if not (isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2):
        raise UserError(f"{path}: metadata num_classes {str(num_classes)[:40]} is not an integer >= 2")
    if not isinstance(dataset, str):
        raise UserError(f"{path}: metadata dataset {str(dataset)[:40]} is not a name")
    shape = tuple(shape)
    x_col, y_col = table.column("x"), table.column("y")
    n, row = len(x_col), int(np.prod(shape))
    item = x_col.type.value_type if pa.types.is_list(x_col.type) else None
    if item not in (pa.uint8(), pa.float32()) or not pa.types.is_integer(y_col.type):
        raise UserError(f"{path}: expected x list<uint8> or list<float32> and y int64, got x {x_col.type} and y {y_col.type}")
    if x_col.null_count or y_col.null_count:
        raise UserError(f"{path}: x and y must have no nulls")
    lengths = pc.list_value_length(x_col)
    if n and (pc.min(lengths).as_py() != row or pc.max(lengths).as_py() != row):
        raise UserError(f"{path}: every x row must hold {row} values for shape {list(shape)}")
    if item == pa.uint8() and (dataset not in CIFAR_MEAN or shape[0] != 3):
        raise UserError(f"{path}: uint8 images need dataset cifar10 or cifar100 and 3 channels, "
                        f"got {dataset[:40]} with shape {list(shape)}")
    return table, shape, dataset, num_classes


def _normalise_images(x: torch.Tensor, dataset: str) -> torch.Tensor:
    """0..255 float images -> per-channel standardised, in place (the float copy is ours)."""
    import torch

    mean = torch.tensor(CIFAR_MEAN[dataset]).view(-1, 1, 1) / 255
    std = torch.tensor(CIFAR_STD[dataset]).view(-1, 1, 1) / 255
    return x.div_(255).sub_(mean).div_(std)


# ----------------------------------------------------------------------------------------------
# Augmentation


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Zero-pad, random crop back to H x W, random horizontal flip, per sample; 3-D input passes through.

    Applied to normalised tensors, so the zero padding is the mean colour (torchvision pads the raw
    image with black before normalising; the difference is a few border pixels).
    """
    import torch
    from torch.nn import functional as F

    if x.dim() == 3:
        return x
    if x.dim() != 4:
        raise ValueError(f"random_crop_flip: expected [B, C, H, W] or [B, C, L], got shape {list(x.shape)}")
    b, c, h, w = x.shape
    # Draw on the generator's device so a CPU generator also drives CUDA batches.
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    flip = torch.randint(0, 2, (b,), generator=generator, device=generator.device).to(x.device).bool()
    padded = F.pad(x, (padding, padding, padding, padding))
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = dy[:, None] + ar_h  # [B, H]
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - ar_w, ar_w)  # [B, W]; reversed = flipped
    # One gather for the whole batch: index [B, C, H, W] by broadcasting sample, channel, row, column.
    sample = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[sample, channel, rows[:, None, :, None], cols[:, None, None, :]]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def splits_fingerprint(names=layout.SPLITS) -> str:
    """A short hash of the prepared splits `names`: resumable work is named by it, so new data never
    reuses it."""
    import hashlib

    h = hashlib.sha256()
    for name in names:
        path = layout.split(name)
        if not path.is_file():
            raise UserError(f"{path}: file not found (run `nas prepare` first)")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
