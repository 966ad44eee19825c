"""Shared fixtures. Helpers (the tiny config, running commands, project copies) are in helpers.py."""

from __future__ import annotations

import copy
import inspect
import shutil
from pathlib import Path

import pytest
import torch

from helpers import TINY, TINY_DARTS, TINY_SHARING, make_project, run


TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(wrapper=True)  # marks before pytest-xdist reads them, checks after
def pytest_collection_modifyitems(config, items):
    """`make test` runs two pytest-xdist workers (`--dist loadgroup`). A study run once for many tests
    (a module- or session-scoped fixture of this suite: `dvc_tiny`, a module's `study`, the Slurm
    cluster) must not be run again on the other worker, so tests joined by such fixtures, directly or
    through each other, form one group, scheduled on one worker; every other test goes alone.
    pytest-xdist applies a group by renaming the test (`name@group`); pytest 9.2 ignores that rename
    (pytest-xdist issue #1386) and the groups are silently dropped, every study then running twice,
    so the lock pins pytest 9.1.1 and this fails the run if a group was not applied."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    shared_of = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        autouse = set(info.initialnames) - set(info.argnames)  # cheap, per module (one_thread)
        keys = []
        for name in info.names_closure:
            defs = info.name2fixturedefs.get(name) or ()
            if name in autouse or not defs or defs[-1].scope == "function":
                continue
            fixture = defs[-1]
            if TESTS in Path(inspect.getfile(fixture.func)).resolve().parents:  # not pytest's own (tmp_path_factory)
                keys.append(f"{fixture.baseid}::{name}")
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
        if keys:
            shared_of[item] = keys[0]
    for item, key in shared_of.items():
        item.add_marker(pytest.mark.xdist_group(root(key)))
    result = yield
    dropped = [item.nodeid for item in shared_of if "@" not in item.nodeid]
    if getattr(config.option, "loadgroup", False) and dropped:  # on a worker: every test fails, saying why
        config.stash[GROUPS_DROPPED] = (f"pytest-xdist did not group {dropped[0]} with the tests sharing its "
                                        f"fixtures (pytest {pytest.__version__}; see tests/conftest.py); "
                                        "run `make test TEST_WORKERS=0`")
    return result


GROUPS_DROPPED = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def groups_applied(request):
    if GROUPS_DROPPED in request.config.stash:
        pytest.fail(request.config.stash[GROUPS_DROPPED], pytrace=False)


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
