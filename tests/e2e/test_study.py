"""A study folder is a pipeline of its own: `nas study run` of a tiny study under DVC and under Snakemake
writes the same bytes under the folder, and leaves the root's params.yaml and dvc.lock alone."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
import yaml

from helpers import TINY, make_project, run, with_snakemake_files

pytestmark = pytest.mark.e2e

# The root's default study, and a study that changes a little of it: the smallest sizes that run
# every stage (one super-net seed, one stand-alone seed).
ROOT = {**copy.deepcopy(TINY), "space": {"name": "nb201", "channels": 2, "cells": 1}, "sample": {"archs": 4},
        "correlate": {"topk": [1, 2], "bootstrap": 20}}
STUDY = "# A tiny study: one more variant, one seed.\n" + yaml.safe_dump(
    {"supernet": {"seeds": [0], "epochs": 1, "variants": {"baseline": {}, "bn": {"bn_track": True}}},
     "standalone": {"seeds": [0], "shards": 1}})


def study_project(dest):
    project = with_snakemake_files(make_project(dest, ROOT))
    shutil.rmtree(project / "studies", ignore_errors=True)
    (project / "studies" / "tiny").mkdir(parents=True)
    (project / "studies" / "tiny" / "study.yaml").write_text(STUDY)
    return project


def test_a_study_runs_in_its_folder_under_dvc_and_snakemake_with_the_same_bytes(tmp_path):
    dvc_project, snake_project = study_project(tmp_path / "dvc"), study_project(tmp_path / "snake")
    root_files = {name: (dvc_project / name).read_bytes() for name in ("params.yaml", "dvc.yaml")}
    assert "tiny  A tiny study: one more variant, one seed." in run(["nas", "study", "list"], dvc_project).stdout

    out = run(["nas", "study", "run", "tiny"], dvc_project).stdout
    last = out.rstrip().splitlines()[-1]
    assert re.match(r"\[progress\] (\d+)/\1 stages done, ", last), out  # every stage, with the time it took
    run(["nas", "study", "run", "tiny", "--snakemake", "--cores", "2"], snake_project)

    folder = "studies/tiny"
    for project in (dvc_project, snake_project):  # the root is untouched: no lock, no results, same files
        assert {name: (project / name).read_bytes() for name in root_files} == root_files
        assert not (project / "dvc.lock").exists() and not (project / "results").exists()
    assert (dvc_project / folder / "dvc.lock").is_file()
    produced = sorted(p.relative_to(dvc_project) for p in (dvc_project / folder).glob("**/*")
                      if p.suffix in (".parquet", ".json", ".csv") and ".progress" not in p.parts
                      and "logs" not in p.parts and ".nas" not in p.parts)
    assert len(produced) >= 20
    for rel in produced:
        assert (snake_project / rel).read_bytes() == (dvc_project / rel).read_bytes(), rel
    summary = run(["nas", "study", "show", "tiny"], dvc_project).stdout
    assert "Kendall τ" in summary and any(line.split()[:1] == ["bn"] for line in summary.splitlines()), summary
    assert "selection: the stand-alone accuracy of each method's pick" in summary and " seeds" in summary, summary
    # Nothing changed: a second run trains nothing.
    again = run(["nas", "study", "run", "tiny"], dvc_project).stdout
    assert "Running stage" not in again
