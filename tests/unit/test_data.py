"""nas.data: MNIST-1D generation, CIFAR pickle reading, splits, Parquet round trips, augmentation."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from nas.data import (
    DATASETS,
    NUM_CLASSES,
    Split,
    load_split,
    make_mnist1d,
    prepare,
    random_crop_flip,
    read_cifar,
    split_train_valid,
    write_split,
)
from nas.io import UserError

SUBDIR = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def write_fake_cifar(batch_dir: Path, name: str, rows: int = 2) -> None:
    """Tiny batches in the real format: pickled dicts of b'data' uint8 [n, 3072] and labels.

    Protocol 2 like the originals (which Python 2 wrote); each file gets distinct pixel values so the
    tests can tell the batches apart.
    """
    batch_dir.mkdir(parents=True, exist_ok=True)
    if name == "cifar10":
        files, label_key = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels"
    else:
        files, label_key = ["train", "test"], b"fine_labels"
    for i, file in enumerate(files):
        batch = {
            b"batch_label": f"fake {file}".encode(),
            b"data": np.full((rows, 3072), i, dtype=np.uint8),
            label_key: [(i * rows + r) % NUM_CLASSES[name] for r in range(rows)],
            b"filenames": [f"{file}_{r}.png".encode() for r in range(rows)],
        }
        (batch_dir / file).write_bytes(pickle.dumps(batch, protocol=2))


def ids_split(labels) -> Split:
    """A split whose x is the sample index, so membership can be traced after splitting."""
    y = np.asarray(labels, dtype=np.int64)
    return Split(np.arange(len(y), dtype=np.float32).reshape(-1, 1, 1), y)


# ------------------------------------------------------------------------------------------------
# MNIST-1D


def test_mnist1d_shapes_dtypes_classes():
    train, test = make_mnist1d(1000, seed=0, iid_noise_scale=0.02, corr_noise_scale=0.25)
    assert train.x.shape == (800, 1, 40) and test.x.shape == (200, 1, 40)  # mnist1d's fixed 80/20 split
    assert train.x.dtype == np.float32 and train.y.dtype == np.int64
    assert train.y.shape == (800,) and test.y.shape == (200,)
    assert set(np.unique(train.y)) == set(range(10))
    assert np.isfinite(train.x).all()


def test_mnist1d_same_seed_same_data_other_seed_other_data():
    a_train, a_test = make_mnist1d(500, seed=3, iid_noise_scale=0.02, corr_noise_scale=0.25)
    b_train, b_test = make_mnist1d(500, seed=3, iid_noise_scale=0.02, corr_noise_scale=0.25)
    c_train, _ = make_mnist1d(500, seed=4, iid_noise_scale=0.02, corr_noise_scale=0.25)
    np.testing.assert_array_equal(a_train.x, b_train.x)
    np.testing.assert_array_equal(a_train.y, b_train.y)
    np.testing.assert_array_equal(a_test.x, b_test.x)
    assert not np.array_equal(a_train.x, c_train.x)


def test_mnist1d_noise_scale_changes_data():
    a, _ = make_mnist1d(500, seed=3, iid_noise_scale=0.02, corr_noise_scale=0.25)
    b, _ = make_mnist1d(500, seed=3, iid_noise_scale=0.2, corr_noise_scale=0.25)
    assert not np.array_equal(a.x, b.x)


def test_mnist1d_leaves_global_rngs_alone():
    # mnist1d reseeds the global `random` and `np.random`; make_mnist1d must undo that.
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.rand())
    random.seed(123)
    np.random.seed(123)
    make_mnist1d(100, seed=0, iid_noise_scale=0.02, corr_noise_scale=0.25)
    assert (random.random(), np.random.rand()) == expected


@pytest.mark.parametrize("num_samples", [0, 5, 1005])
def test_mnist1d_rejects_sizes_it_would_shrink(num_samples):
    with pytest.raises(UserError, match="data.num_samples"):
        make_mnist1d(num_samples, seed=0, iid_noise_scale=0.02, corr_noise_scale=0.25)


# ------------------------------------------------------------------------------------------------
# Train / valid split


def test_split_train_valid_is_a_stratified_partition():
    labels = np.repeat(np.arange(4), [100, 40, 20, 60])
    np.random.default_rng(0).shuffle(labels)
    part = ids_split(labels)
    train, valid = split_train_valid(part, valid_fraction=0.25, seed=7)
    train_ids, valid_ids = train.x.ravel().astype(int), valid.x.ravel().astype(int)
    assert not set(train_ids) & set(valid_ids)
    assert sorted(np.concatenate([train_ids, valid_ids])) == list(range(len(labels)))
    assert len(valid_ids) == 55 and len(train_ids) == 165
    np.testing.assert_array_equal(train.y, labels[train_ids])  # labels travel with their samples
    np.testing.assert_array_equal(valid.y, labels[valid_ids])
    assert np.bincount(valid.y, minlength=4).tolist() == [25, 10, 5, 15]  # every class keeps its share


def test_split_train_valid_total_is_exact_when_shares_are_fractional():
    train, valid = split_train_valid(ids_split(np.repeat(np.arange(3), 3)), valid_fraction=0.5, seed=0)
    assert len(valid.y) == 5 and len(train.y) == 4  # round(4.5); per-class rounding would give 6
    assert sorted(np.bincount(valid.y, minlength=3).tolist()) == [1, 2, 2]


def test_split_train_valid_is_deterministic_and_seeded():
    part = ids_split(np.arange(200) % 10)
    a = split_train_valid(part, 0.1, seed=1)
    b = split_train_valid(part, 0.1, seed=1)
    c = split_train_valid(part, 0.1, seed=2)
    np.testing.assert_array_equal(a[1].x, b[1].x)
    np.testing.assert_array_equal(a[0].x, b[0].x)
    assert not np.array_equal(a[1].x, c[1].x)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_train_valid_rejects_fraction_outside_open_unit_interval(fraction):
    with pytest.raises(UserError, match="data.valid_fraction"):
        split_train_valid(ids_split(np.arange(20) % 2), fraction, seed=0)


def test_split_train_valid_rejects_an_empty_valid_split():
    with pytest.raises(UserError, match="data.valid_fraction"):
        split_train_valid(ids_split(np.arange(20) % 10), 0.01, seed=0)  # 0.2 samples -> 0 valid


# ------------------------------------------------------------------------------------------------
# prepare


def test_prepare_mnist1d():
    splits = prepare("mnist1d", root=None, valid_fraction=0.1, seed=0, num_samples=1000)
    assert {k: len(v.y) for k, v in splits.items()} == {"train": 720, "valid": 80, "test": 200}
    # mnist1d's train part is not class balanced; valid still mirrors its class shares within 1.
    train_part, _ = make_mnist1d(1000, seed=0, iid_noise_scale=0.02, corr_noise_scale=0.25)
    share = np.bincount(train_part.y, minlength=10) * 0.1
    assert np.abs(np.bincount(splits["valid"].y, minlength=10) - share).max() < 1


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_prepare_cifar(tmp_path, name):
    write_fake_cifar(tmp_path / SUBDIR[name], name, rows=20)
    splits = prepare(name, root=str(tmp_path), valid_fraction=0.5, seed=0)
    total_train = 100 if name == "cifar10" else 20
    assert len(splits["train"].y) + len(splits["valid"].y) == total_train
    assert len(splits["test"].y) == 20
    assert splits["train"].x.dtype == np.uint8 and splits["train"].x.shape[1:] == (3, 32, 32)


def test_prepare_rejects_unknown_dataset():
    with pytest.raises(UserError, match="data.dataset") as err:
        prepare("imagenet", root=None, valid_fraction=0.1, seed=0)
    assert "imagenet" in str(err.value) and all(name in str(err.value) for name in DATASETS)


def test_prepare_cifar_needs_root():
    with pytest.raises(UserError, match="data.root: required for dataset cifar10"):
        prepare("cifar10", root=None, valid_fraction=0.1, seed=0)


# ------------------------------------------------------------------------------------------------
# CIFAR reading


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("root_is_parent", [False, True])
def test_read_cifar_layouts(tmp_path, name, root_is_parent):
    write_fake_cifar(tmp_path / SUBDIR[name], name, rows=2)
    root = tmp_path if root_is_parent else tmp_path / SUBDIR[name]
    train, test = read_cifar(root, name)
    n_train_files = 5 if name == "cifar10" else 1
    assert train.x.shape == (2 * n_train_files, 3, 32, 32) and train.x.dtype == np.uint8
    assert test.x.shape == (2, 3, 32, 32) and train.y.dtype == np.int64
    # Batches are concatenated in file order and the test file is kept apart.
    assert train.x[:, 0, 0, 0].tolist() == [i for i in range(n_train_files) for _ in range(2)]
    assert (test.x == n_train_files).all()
    assert train.y.tolist() == [r % NUM_CLASSES[name] for r in range(2 * n_train_files)]


def test_read_cifar_accepts_python2_era_numpy_paths(tmp_path):
    # The original files name numpy.core.multiarray (numpy 2 moved it to numpy._core).
    write_fake_cifar(tmp_path, "cifar10")
    for file in tmp_path.iterdir():
        file.write_bytes(file.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray" in (tmp_path / "test_batch").read_bytes()
    train, _ = read_cifar(tmp_path, "cifar10")
    assert train.x.shape == (10, 3, 32, 32)


def test_read_cifar_refuses_code_in_a_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    write_fake_cifar(tmp_path, "cifar10")
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(UserError, match="data_batch_2.*refusing to load global builtins.print"):
        read_cifar(tmp_path, "cifar10")


def test_read_cifar_root_missing(tmp_path):
    with pytest.raises(UserError, match="data.root") as err:
        read_cifar(tmp_path / "nowhere", "cifar10")
    assert str(tmp_path / "nowhere") in str(err.value) and "cifar-10-batches-py" in str(err.value)


def test_read_cifar_batch_file_missing(tmp_path):
    write_fake_cifar(tmp_path / "cifar-10-batches-py", "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data.root") as err:
        read_cifar(tmp_path, "cifar10")
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in str(err.value)


def test_read_cifar100_file_missing(tmp_path):
    write_fake_cifar(tmp_path, "cifar100")
    (tmp_path / "test").unlink()
    with pytest.raises(UserError, match=r"data.root: .*/test not found"):
        read_cifar(tmp_path, "cifar100")


def test_read_cifar_corrupt_pickle(tmp_path):
    write_fake_cifar(tmp_path, "cifar10")
    (tmp_path / "test_batch").write_bytes(b"this is not a pickle")
    with pytest.raises(UserError, match="data.root") as err:
        read_cifar(tmp_path, "cifar10")
    assert str(tmp_path / "test_batch") in str(err.value) and "not a valid CIFAR python pickle" in str(err.value)


def test_read_cifar_truncated_pickle(tmp_path):
    write_fake_cifar(tmp_path, "cifar10")
    file = tmp_path / "data_batch_1"
    file.write_bytes(file.read_bytes()[:100])
    with pytest.raises(UserError, match="data_batch_1"):
        read_cifar(tmp_path, "cifar10")


def test_read_cifar100_needs_fine_labels(tmp_path):
    write_fake_cifar(tmp_path, "cifar100")
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"coarse_labels": [0, 1]}
    (tmp_path / "train").write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError, match=r"data.root: .*/train: lacks key\(s\) b'fine_labels'"):
        read_cifar(tmp_path, "cifar100")


@pytest.mark.parametrize("batch, what", [
    ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, r"b'data' is uint8 \[2, 1024\]"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, r"b'data' is float32"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"b'labels' has shape \[1\] for 2 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"b'labels' has labels outside 0..9"),
    ([1, 2, 3], r"holds a list, not a dict"),
])
def test_read_cifar_wrong_contents(tmp_path, batch, what):
    write_fake_cifar(tmp_path, "cifar10")
    (tmp_path / "data_batch_4").write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError, match=r"data.root: .*data_batch_4: " + what):
        read_cifar(tmp_path, "cifar10")


# ------------------------------------------------------------------------------------------------
# Parquet round trips


def test_mnist1d_round_trip(tmp_path):
    train, _ = make_mnist1d(200, seed=0, iid_noise_scale=0.02, corr_noise_scale=0.25)
    write_split(train, tmp_path / "train.parquet", "mnist1d", 10)
    t = load_split(tmp_path / "train.parquet")
    assert (t.shape, t.num_classes, t.dataset) == ((1, 40), 10, "mnist1d")
    assert t.x.dtype == torch.float32 and t.y.dtype == torch.int64
    np.testing.assert_array_equal(t.x.numpy(), train.x)  # floats come back bit for bit
    np.testing.assert_array_equal(t.y.numpy(), train.y)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_round_trip_normalises_per_channel(tmp_path, name):
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (5, 3, 32, 32), dtype=np.uint8), rng.integers(0, NUM_CLASSES[name], 5))
    path = tmp_path / "x.parquet"
    write_split(split, path, name, NUM_CLASSES[name])
    schema = pq.read_schema(path)
    assert schema.field("x").type.value_type == pa.uint8() and schema.field("y").type == pa.int64()
    t = load_split(path)
    assert t.x.shape == (5, 3, 32, 32) and (t.shape, t.num_classes) == ((3, 32, 32), NUM_CLASSES[name])
    mean = {"cifar10": [125.3, 123.0, 113.9], "cifar100": [129.3, 124.1, 112.4]}[name]
    std = {"cifar10": [63.0, 62.1, 66.7], "cifar100": [68.2, 65.4, 70.4]}[name]
    expected = (split.x / 255.0 - np.array(mean)[:, None, None] / 255) / (np.array(std)[:, None, None] / 255)
    np.testing.assert_allclose(t.x.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(t.y.numpy(), split.y)


def test_round_trip_spans_several_row_groups(tmp_path):
    split = Split(np.arange(25_000 * 3, dtype=np.float32).reshape(-1, 1, 3), np.arange(25_000) % 10)
    write_split(split, tmp_path / "big.parquet", "mnist1d", 10)
    assert pq.ParquetFile(tmp_path / "big.parquet").num_row_groups > 1
    t = load_split(tmp_path / "big.parquet")
    np.testing.assert_array_equal(t.x.numpy(), split.x)
    np.testing.assert_array_equal(t.y.numpy(), split.y)


def test_write_split_is_byte_identical(tmp_path):
    splits = prepare("mnist1d", root=None, valid_fraction=0.1, seed=0, num_samples=200)
    write_split(splits["train"], tmp_path / "a.parquet", "mnist1d", 10)
    write_split(splits["train"], tmp_path / "b.parquet", "mnist1d", 10)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    images = Split(np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8), np.arange(4))
    write_split(images, tmp_path / "c.parquet", "cifar10", 10)
    write_split(images, tmp_path / "d.parquet", "cifar10", 10)
    assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "d.parquet").read_bytes()


def test_load_split_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found") as err:
        load_split(tmp_path / "absent.parquet")
    assert str(tmp_path / "absent.parquet") in str(err.value)


def test_load_split_truncated_file(tmp_path):
    path = tmp_path / "train.parquet"
    write_split(Split(np.zeros((10, 1, 40), np.float32), np.zeros(10, np.int64)), path, "mnist1d", 10)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(UserError, match="not a readable Parquet file") as err:
        load_split(path)
    assert str(path) in str(err.value)


def test_load_split_without_metadata(tmp_path):
    path = tmp_path / "plain.parquet"
    x = pa.ListArray.from_arrays(pa.array([0, 2, 4], pa.int32()), pa.array([1, 2, 3, 4], pa.float32()))
    pq.write_table(pa.table({"x": x, "y": pa.array([0, 1], pa.int64())}), path)
    with pytest.raises(UserError, match="missing metadata shape") as err:
        load_split(path)
    assert str(path) in str(err.value)


def test_load_split_without_y_column(tmp_path):
    path = tmp_path / "no_y.parquet"
    x = pa.ListArray.from_arrays(pa.array([0, 2], pa.int32()), pa.array([1, 2], pa.float32()))
    table = pa.table({"x": x}).replace_schema_metadata({"shape": "[1, 2]", "dataset": '"mnist1d"', "num_classes": "10"})
    pq.write_table(table, path)
    with pytest.raises(UserError, match=r"missing column\(s\) y") as err:
        load_split(path)
    assert str(path) in str(err.value)


def test_load_split_rows_not_matching_shape(tmp_path):
    path = tmp_path / "ragged.parquet"
    x = pa.ListArray.from_arrays(pa.array([0, 2, 5], pa.int32()), pa.array([1, 2, 3, 4, 5], pa.float32()))
    table = pa.table({"x": x, "y": pa.array([0, 1], pa.int64())})
    pq.write_table(table.replace_schema_metadata({"shape": "[1, 2]", "dataset": '"mnist1d"', "num_classes": "10"}), path)
    with pytest.raises(UserError, match=r"every x row must hold 2 values"):
        load_split(path)


# ------------------------------------------------------------------------------------------------
# Augmentation


def all_crops_and_flips(image: torch.Tensor, padding: int) -> list[torch.Tensor]:
    c, h, w = image.shape
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    crops = [padded[:, i : i + h, j : j + w] for i in range(2 * padding + 1) for j in range(2 * padding + 1)]
    return crops + [crop.flip(-1) for crop in crops]


def test_random_crop_flip_is_a_crop_and_flip_of_each_sample():
    x = torch.randn(16, 3, 8, 8)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape and out.dtype == x.dtype
    for image, augmented in zip(x, out):
        assert any(torch.equal(augmented, c) for c in all_crops_and_flips(image, 2))
    assert not torch.equal(out, x)  # 16 identity draws out of 50 choices each: practically impossible


def test_random_crop_flip_deterministic_per_generator_seed():
    x = torch.randn(32, 3, 32, 32)
    a = random_crop_flip(x, torch.Generator().manual_seed(5))
    b = random_crop_flip(x, torch.Generator().manual_seed(5))
    c = random_crop_flip(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_random_crop_flip_zero_padding_only_flips():
    x = torch.randn(64, 3, 4, 4)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_random_crop_flip_passes_1d_signals_through():
    x = torch.randn(8, 1, 40)
    g = torch.Generator().manual_seed(0)
    assert random_crop_flip(x, g) is x
    untouched = torch.Generator().manual_seed(0)  # passthrough draws nothing from the generator
    assert torch.equal(torch.randint(0, 10**6, (4,), generator=g), torch.randint(0, 10**6, (4,), generator=untouched))


def test_missing_cifar_file_names_the_batch_directory_once(tmp_path):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    with pytest.raises(UserError) as err:
        read_cifar(tmp_path, "cifar10")
    msg = str(err.value)
    assert msg.startswith(f"data.root: {batches / 'data_batch_1'} not found")
    assert msg.count("cifar-10-batches-py") == 2 and "cifar-10-batches-py/cifar-10-batches-py" not in msg
