"""Studies whose ground truth is a benchmark's own records (`standalone.source: benchmark`), on small
files in the real formats (tests/benchfile_writers.py, written with the benchmark packages' classes),
each run end to end under DVC and under Snakemake with the same bytes. The two paper-scale studies run at
a tiny size, as written but for sizes and paths: DARTS-PT's on a NAS-Bench-201 `.pth` (legacy
serialisation), its magnitude picks outside the file skipped and counted; Yu et al.'s on a NATS-Bench
folder read in two parts and scored in two shards; a DARTS-space study on an NDS file; a hostile file
refused with one line."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from benchfile_writers import fake_accuracy, fake_cifar, write_nats_tss, write_nb201_pth, write_nds
from helpers import REPO, TINY, make_project, run, with_snakemake_files
from nas import layout as L
from nas import study
from nas.spaces import get_space

pytestmark = pytest.mark.e2e

PROFILE = ["--profile", "workflow/profiles/default", "--cores", "2"]


def tiny_paper_study(name: str, tmp_path, benchmark_path) -> dict:
    """The committed paper-scale study `name` as written, at a tiny size, on the CPU, reading fake CIFAR-10
    batches and the benchmark file at `benchmark_path`."""
    fake_cifar(tmp_path / "cifar")
    params = study.params(REPO, name)
    params["device"] = "cpu"
    params["data"].update(root=str(tmp_path / "cifar"), augment=False)
    params["space"].update(channels=2, cells=1)
    params["supernet"].update(epochs=1, seeds=[0])
    for overrides in params["supernet"]["variants"].values():
        overrides.pop("epochs", None)
    params["eval"].update(recalibrate_batches=2, batch_size=30)
    params["standalone"]["benchmark"]["path"] = str(benchmark_path)
    params["correlate"].update(topk=[1, 3], bootstrap=20)
    params["zerocost"]["batch_size"] = 30  # the fake CIFAR split's 60 training images
    if "perturbation" in params["select"]:
        params["select"]["perturbation"].update(tune_epochs=0, valid_batches=1)
    return params


def nb201_archs(n: int) -> list[str]:
    space = get_space("nb201")
    return [space.format(a) for a in space.sample(n, 7)]


def same_bytes(a, b, paths) -> None:
    for rel in paths:
        assert (b / rel).read_bytes() == (a / rel).read_bytes(), rel


def both_engines(params: dict, tmp_path):
    """The study of `params` end to end under `dvc repro` and under Snakemake (two cores), in two fresh
    projects: (the DVC project, the Snakemake one), after checking that every table, metrics file, plot
    and the report page hold the same bytes."""
    dvc_project = make_project(tmp_path / "dvc", params)
    snake_project = with_snakemake_files(make_project(tmp_path / "snake", params))
    run(["dvc", "repro", "-q"], dvc_project)
    run(["snakemake", *PROFILE], snake_project)
    files = sorted(p.relative_to(dvc_project) for pattern in ("results/**/*.parquet", "metrics/*.json",
                                                             "plots/**/*.csv", "results/report/index.html")
                   for p in dvc_project.glob(pattern) if ".progress" not in p.parts)
    assert len(files) >= 20 and L.benchmark_part(1) in files and L.SELECTION in files
    same_bytes(dvc_project, snake_project, files)
    return dvc_project, snake_project


def test_darts_pt_nb201_runs_tiny_on_a_pth_under_dvc_and_snakemake_with_the_same_bytes(tmp_path):
    archs = nb201_archs(12)
    write_nb201_pth(tmp_path / "nb201.pth", archs, zip=False)  # the 2020 files' legacy serialisation
    params = tiny_paper_study("darts_pt_nb201", tmp_path, tmp_path / "nb201.pth")
    params["sample"]["archs"] = "all"
    params["standalone"]["benchmark"]["missing"] = "skip"  # magnitude's picks are mostly outside 12 cells
    dvc_project, _ = both_engines(params, tmp_path)

    # The pool is every distinct cell the file holds, each with the benchmark's three seeds as written.
    pool = pd.read_parquet(dvc_project / L.ARCHS)
    space = get_space("nb201").with_isomorphism("benchmark")
    assert sorted(pool["canonical"]) == sorted({space.canonical(a) for a in archs})
    truth = pd.read_parquet(dvc_project / L.STANDALONE)
    assert sorted(truth["seed"].unique()) == [777, 888, 999] and len(truth) == 3 * len(pool)
    for row in truth.itertuples():
        assert row.test_accuracy == fake_accuracy(row.arch, "cifar10", "test", row.seed, 200)
        assert row.valid_accuracy == fake_accuracy(row.arch, "cifar10", "valid", row.seed, 200)
    correlation = pd.read_parquet(dvc_project / L.CORRELATION)
    assert (correlation["variant"] == "standalone").any()  # the benchmark's seed-to-seed reference
    # Every pick is looked up: those the file holds get its accuracy, the others a row without one,
    # left out of the summary's count of runs.
    selection = pd.read_parquet(dvc_project / L.SELECTION)
    picked = selection[selection["method"].isin(["magnitude", "perturbation"])]
    held = picked["arch"].map(space.canonical).isin({space.canonical(a) for a in archs})  # string or isomorph
    assert picked.loc[~held, "accuracy"].isna().all() and picked.loc[held, "accuracy"].notna().all()
    summary = pd.read_parquet(dvc_project / L.SELECTION_SUMMARY).query("metric == 'accuracy'")
    assert int(summary[summary["method"].isin(["magnitude", "perturbation"])]["runs"].sum()) == int(held.sum())


def test_yu_nb201_runs_tiny_on_a_nats_folder_read_in_parts_under_dvc_and_snakemake_alike(tmp_path):
    archs = nb201_archs(10)
    write_nats_tss(tmp_path / "NATS-tss", archs, seeds=lambda i, d, b: (777, 888) if i == 3 else (777, 888, 999))
    params = tiny_paper_study("yu_nb201", tmp_path, tmp_path / "NATS-tss")
    params["standalone"]["benchmark"]["shards"] = 2
    params["eval"]["shards"] = 2  # the study scores in shards (4): two here, joined by merge-scores
    dvc_project, _ = both_engines(params, tmp_path)
    parts = [pd.read_parquet(dvc_project / L.benchmark_part(k)) for k in (1, 2)]
    assert parts[0]["index"].max() < parts[1]["index"].min()  # index ranges
    assert sorted(pd.concat(parts)["index"].unique()) == list(range(10))
    truth = pd.read_parquet(dvc_project / L.STANDALONE)
    assert truth.groupby("arch_id").size().min() == 2  # architecture 3 lacks a seed: kept, with two
    correlation = pd.read_parquet(dvc_project / L.CORRELATION)
    assert {"kendall_tau", "seed_to_seed_kendall_tau"} <= set(correlation["metric"])
    scored = [pd.read_parquet(dvc_project / L.Run("baseline", 0).scores_shard(k)) for k in (1, 2)]
    assert sum(map(len, scored)) == len(pd.read_parquet(dvc_project / L.Run("baseline", 0).scores))


def test_an_nds_file_is_the_ground_truth_of_a_darts_study_under_dvc_and_snakemake(tmp_path):
    darts = get_space("darts")
    rng = np.random.default_rng(0)
    genotypes = [darts.format(darts.random_arch(rng)) for _ in range(8)]
    write_nds(tmp_path / "DARTS.json", genotypes)
    fake_cifar(tmp_path / "cifar")
    params = copy.deepcopy(TINY)
    params.update(data={"dataset": "cifar10", "root": str(tmp_path / "cifar")}, space={"name": "darts", "channels": 2},
                  sample={"archs": 5}, correlate={"topk": [1], "bootstrap": 20},
                  supernet={**TINY["supernet"], "seeds": [0], "epochs": 1, "batch_size": 30},
                  eval={"bn": "recalibrate", "recalibrate_batches": 2, "batch_size": 30},  # fake CIFAR: 60 train
                  zerocost={"batch_size": 30},
                  standalone={"source": "benchmark", "benchmark": {"format": "nds", "path": str(tmp_path / "DARTS.json"),
                                                                   "budget": None}})
    dvc_project, _ = both_engines(params, tmp_path)
    truth = pd.read_parquet(dvc_project / L.STANDALONE)
    assert set(truth["arch"]) <= set(genotypes) and truth["arch_id"].nunique() == 5
    for row in truth.itertuples():
        assert row.test_accuracy == pytest.approx(fake_accuracy(row.arch, "cifar10", "test", row.seed, 100))


def test_a_hostile_benchmark_file_is_refused_with_one_line_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"meta_archs": [Payload()]}))
    params = tiny_paper_study("darts_pt_nb201", tmp_path, tmp_path / "evil.pth")
    project = make_project(tmp_path / "p", params)
    proc = run(["nas", "import-benchmark"], project, check=False)
    assert proc.returncode == 2 and not marker.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "open" in lines[0] and "evil.pth" in lines[0], proc.stderr
    assert not (project / L.benchmark_part(1)).exists()
