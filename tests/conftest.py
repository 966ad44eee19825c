"""Shared fixtures. Helpers (the tiny config, running commands, project copies) are in helpers.py."""

from __future__ import annotations

import copy
import shutil

import pytest
import torch

from helpers import TINY, TINY_DARTS, TINY_SHARING, make_project, run


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks: one thread is fastest, and intra-op threads spin badly on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_params() -> dict:
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def dvc_tiny(tmp_path_factory):
    """The tiny study run once with `dvc repro`: (project, dvc's output, an untouched copy). The
    project is handed to tests that change it; the copy is the reference other engines must match."""
    project = make_project(tmp_path_factory.mktemp("dvc-tiny"), TINY)
    out = run(["dvc", "repro"], project).stdout
    pristine = tmp_path_factory.mktemp("dvc-tiny-pristine") / "project"
    shutil.copytree(project, pristine, symlinks=True)
    return project, out, pristine


@pytest.fixture(scope="session")
def dvc_darts(tmp_path_factory):
    """The tiny DARTS-PT study (helpers.TINY_DARTS) run once with `dvc repro`: (project, output)."""
    project = make_project(tmp_path_factory.mktemp("dvc-darts"), TINY_DARTS)
    return project, run(["dvc", "repro"], project).stdout


@pytest.fixture(scope="session")
def dvc_sharing(tmp_path_factory):
    """The tiny weight-sharing study (helpers.TINY_SHARING) run once with `dvc repro`: (project, output)."""
    project = make_project(tmp_path_factory.mktemp("dvc-sharing"), TINY_SHARING)
    return project, run(["dvc", "repro"], project).stdout
