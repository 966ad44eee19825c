"""nas.dag: the stages dvc.yaml gets from params.yaml, their paths from nas.layout."""

from __future__ import annotations

import copy

import pytest

from helpers import TINY
from nas import config, dag, layout as L, selection


def stages(**changes):
    raw = copy.deepcopy(TINY)
    for key, value in changes.items():
        section, _, name = key.partition("__")
        raw.setdefault(section, {})[name] = value
    return dag.stages(config.from_dict(raw))


def test_stage_order_and_outputs_come_from_the_layout():
    s = stages()
    assert list(s) == ["prepare", "sample", "zero-cost", "train-supernet", "eval-supernet", "train-standalone",
                       "merge-standalone", "correlate", "stability", "pick", "train-picks", "select", "heuristics",
                       "report"]
    assert dag.paths(s["pick"]["outs"]) == [L.PICKS.as_posix()]
    assert dag.paths(s["zero-cost"]["outs"]) == [L.ZEROCOST.as_posix()] and L.ZEROCOST.as_posix() in s["correlate"]["deps"]
    none = stages(zerocost__rankers=[])  # no rankers: no stage, no dep
    assert "zero-cost" not in none and L.ZEROCOST.as_posix() not in none["correlate"]["deps"]
    assert dag.paths(s["train-picks"]["outs"]) == [L.PICKS_STANDALONE.as_posix()]
    assert L.PICKS_STANDALONE.as_posix() in s["select"]["deps"]
    assert dag.paths(s["eval-supernet"]["outs"]) == [L.DVC_RUN.scores.as_posix(), L.DVC_RUN.epoch_scores.as_posix()]


def test_result_tables_are_committed_to_git_and_data_weights_and_report_stay_in_the_cache():
    s = stages()
    uncached, cached = set(), set()
    for spec in s.values():
        for entry in spec.get("do", spec).get("outs", []):
            (uncached if isinstance(entry, dict) and entry[next(iter(entry))] == {"cache": False} else cached).add(
                entry if isinstance(entry, str) else next(iter(entry)))
    tables = {p.as_posix() for p in (L.ARCHS, L.STANDALONE, L.CORRELATION, L.SELECTION, L.SELECTION_SUMMARY,
                                     L.HEURISTICS, L.STABILITY, L.PICKS, L.PICKS_STANDALONE, L.DVC_RUN.scores,
                                     L.DVC_RUN.history, L.DVC_RUN.epoch_scores, L.DVC_RUN.step_scores)}
    assert tables <= uncached, sorted(tables - uncached)
    assert {L.DVC_RUN.weights.as_posix(), L.DVC_RUN.checkpoints.as_posix(), L.REPORT.as_posix(),
            L.split("train").as_posix()} <= cached
    assert all(p.endswith((".json", ".csv")) or L.in_git(p) for p in uncached), sorted(uncached)


def test_thread_count_is_tracked_where_torch_runs():
    s = stages()
    for name in ("train-supernet", "eval-supernet", "pick"):
        assert "threads" in s[name]["params"], name
    for name in ("correlate", "select", "heuristics", "report"):
        assert "threads" not in s[name]["params"], name


def test_pick_reads_the_supernet_only_for_methods_that_need_it(monkeypatch):
    assert not any(d.endswith("weights.pt") for d in stages()["pick"]["deps"])
    monkeypatch.setitem(selection.SELECTORS, "probe", selection.Selector("probe", lambda ctx: None, supernet=True))
    deps = stages(select__methods=["supernet", "probe"])["pick"]["deps"]
    assert L.Run("baseline", 1).weights.as_posix() in deps and L.split("valid").as_posix() in deps


def test_table_source_trains_no_picks_from_scratch():
    s = stages(standalone__source="table", standalone__table={"path": "t.csv"})
    assert "train-standalone" not in s
    assert "t.csv" in s["train-picks"]["deps"] and "standalone.table" in s["train-picks"]["params"]


def test_data_root_is_a_dependency_only_where_it_is_read():
    mnist = config.from_dict({"data": {"root": "/some/where"}})
    code = ["nas/data.py", "nas/io.py", "nas/layout.py"]  # what `nas prepare` runs
    assert dag.stage_spec(mnist, "prepare")["deps"] == code  # MNIST-1D is generated, not read
    cifar = config.from_dict({"data": {"dataset": "cifar10", "root": "/some/where"}})
    assert dag.stage_spec(cifar, "prepare")["deps"] == code + ["/some/where"]


@pytest.mark.parametrize("root", ["/data/${HOME}/cifar", "/data/{x}"])
def test_data_root_with_interpolation_is_refused(root):
    from helpers import one_line_error
    msg = one_line_error(config.from_dict, {"data": {"dataset": "cifar10", "root": root}})
    assert msg.startswith("data.root: ") and "braces" in msg


def test_stability_reads_the_supernets_only_to_measure_interference():
    from nas import config, dag

    plain = dag.stages(config.from_dict({}))["stability"]
    assert not any(d.endswith("weights.pt") for d in plain["deps"]) and "threads" not in plain["params"]
    assert L.DVC_RUN.name not in " ".join(plain["deps"])  # every run written out, no template
    pairs = dag.stages(config.from_dict({"stability": {"interference_pairs": 10}}))["stability"]
    assert "results/supernet/baseline/seed-0/weights.pt" in pairs["deps"] and "threads" in pairs["params"]
    dense = dag.stages(config.from_dict({"supernet": {"variants": {"baseline": {}, "d": {"dense_steps": 5}}}}))
    assert L.ARCHS.as_posix() in dense["train-supernet"]["deps"]  # dense scoring reads the pool
    assert L.ARCHS.as_posix() not in dag.stages(config.from_dict({}))["train-supernet"]["deps"]
