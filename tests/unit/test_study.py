"""nas.study: a study is a folder (studies/<name>/study.yaml: what differs from the root's params.yaml),
with its generated params.yaml and dvc.yaml; list, plan (jobs and cost), write; bad studies are one line."""

from __future__ import annotations

import copy
import fcntl
import shutil

import pytest
import yaml

from helpers import REPO, TINY, one_line_error
from nas import config, study

SMALL = {**copy.deepcopy(TINY), "space": {"name": "nb201", "channels": 2, "cells": 1}, "sample": {"archs": 4}}


@pytest.fixture
def root(tmp_path):
    """A project folder: the package's __init__ (marks the root), a params.yaml and one study."""
    (tmp_path / "nas").mkdir()
    (tmp_path / "nas" / "__init__.py").write_text("")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(config.to_dict(config.from_dict(SMALL)), sort_keys=False))
    write_study(tmp_path, "small", "# A small study: one more variant.\n# Two lines of description.\n",
                {"supernet": {"variants": {"baseline": {}, "wide": {"channels": 4}}, "seeds": [3]},
                 "correlate": {"bootstrap": 30}})
    return tmp_path


def write_study(root, name, header, overrides):
    (root / "studies" / name).mkdir(parents=True, exist_ok=True)
    (root / "studies" / name / "study.yaml").write_text(header + yaml.safe_dump(overrides, sort_keys=False))


def test_the_committed_studies_are_current_and_hold_only_their_differences():
    """Each studies/<name>/ has params.yaml and dvc.yaml as `nas study write` makes them from its
    study.yaml, and its study.yaml writes no key at the default's value."""
    default = yaml.safe_load((REPO / "params.yaml").read_text())
    assert study.names(REPO), "no studies"
    for name in study.names(REPO):
        assert study.write(REPO, name, check=True)  # raises if params.yaml or dvc.yaml is stale
        assert study.description(REPO / "studies" / name), name

        def same(over, base, path=()):  # the keys the study writes at the default's value
            out = []
            for k, v in over.items():
                if isinstance(v, dict) and isinstance(base.get(k), dict) and path + (k,) != ("supernet", "variants"):
                    out += same(v, base[k], path + (k,))
                elif k in base and v == base[k]:
                    out.append(".".join(path + (k,)))
            return out
        overrides = yaml.safe_load((REPO / "studies" / name / "study.yaml").read_text())
        assert same(overrides, default) == [], name


def test_overrides_merge_key_by_key_and_variants_are_replaced(root):
    full = study.params(root, "small")
    assert full["supernet"]["seeds"] == [3] and full["supernet"]["epochs"] == SMALL["supernet"]["epochs"]
    assert full["supernet"]["variants"] == {"baseline": {}, "wide": {"channels": 4}}
    assert full["correlate"]["bootstrap"] == 30 and full["correlate"]["topk"] == [1, 3]
    assert study.listing(root) == "small  A small study: one more variant. Two lines of description."


def test_write_generates_params_and_dvc_yaml_and_leaves_the_root_alone(root, monkeypatch):
    monkeypatch.chdir(root)
    before = (root / "params.yaml").read_bytes()
    assert study.write(root, "small") == ["wrote studies/small/params.yaml", "wrote studies/small/dvc.yaml"]
    assert (root / "params.yaml").read_bytes() == before and not (root / "dvc.yaml").exists()
    written = yaml.safe_load((root / "studies/small/params.yaml").read_text())
    assert written == study.params(root, "small")
    dvc = yaml.safe_load((root / "studies/small/dvc.yaml").read_text())
    # code deps are the root's, seen from the study's folder; outputs are the folder's own
    assert "../../nas/__init__.py" not in dvc["stages"]["prepare"]["deps"]
    assert all(d.startswith("../../nas/") for d in dvc["stages"]["prepare"]["deps"])
    assert dvc["stages"]["prepare"]["outs"][0] == "data/prepared/train.parquet"
    assert study.write(root, "small", check=True) == ["studies/small/dvc.yaml is up to date"]
    (root / "studies/small/study.yaml").write_text("correlate: {bootstrap: 40}\n")
    msg = one_line_error(study.write, root, "small", True)
    assert msg == ("studies/small/params.yaml is out of date with study.yaml or the root params.yaml; "
                   "run `nas study write small`")


@pytest.mark.parametrize("name, text, message", [
    ("nope", None, "study 'nope': no studies/nope/study.yaml; studies: small"),
    ("../x", None, "study '../x': a study name is letters, digits, '_' or '-'"),
    ("bad", "supernet: [1, 2\n", "studies/bad/study.yaml: not valid YAML"),
    ("list", "- 1\n", "studies/list/study.yaml: expected a mapping of the sections it changes, got list"),
    ("typo", "correlate: {bootstrapp: 10}\n",
     "studies/typo/study.yaml: correlate: unknown key 'bootstrapp'; did you mean 'bootstrap'?"),
    ("range", "correlate: {bootstrap: 1}\n", "studies/range/study.yaml: correlate.bootstrap: 1 is not allowed"),
])
def test_a_bad_study_is_one_line_naming_it(root, name, text, message):
    if text is not None:
        (root / "studies" / name).mkdir(parents=True)
        (root / "studies" / name / "study.yaml").write_text(text)
    msg = one_line_error(study.params, root, name)
    assert msg.replace(str(root) + "/", "").startswith(message), msg


def test_a_run_holding_the_study_lock_refuses_a_second(root, monkeypatch):
    monkeypatch.chdir(root)
    lock_path = root / "studies/small/.nas/run.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("`nas study run small` (pid 1, started 2026-01-01 00:00:00)")
        held.flush()
        msg = one_line_error(study.run, root, "small")
    assert msg.startswith("study 'small': `nas study run small` (pid 1, started 2026-01-01 00:00:00) holds its lock")
    assert not (root / "studies/small/params.yaml").exists()  # nothing written


def test_plan_prints_the_jobs_and_their_measured_cost(root, monkeypatch):
    monkeypatch.chdir(root)
    text = study.plan(root, "small")
    assert text.startswith("study small: A small study")
    lines = text.splitlines()
    row = {line.split()[0]: line.split() for line in lines if line.startswith("  ") and len(line.split()) == 3}
    assert row["train-supernet"][1] == "2" and row["eval-supernet"][1] == "2"  # 2 variants x 1 seed
    assert row["train-standalone"][1] == str(SMALL["standalone"]["shards"])
    assert float(row["train-supernet"][2]) > 0
    assert any(line.startswith("  - step times measured now on this machine") for line in lines)


def test_the_study_command_needs_a_name_and_knows_no_other_action(root, monkeypatch, capsys):
    from nas.cli import main

    monkeypatch.chdir(root)
    assert main(["study", "show"]) == 2
    assert "nas study show: which study? (nas study list names them)" in capsys.readouterr().err
    assert main(["study", "show", "small"]) == 2
    assert "study 'small' has no results yet (run `nas study run small`)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["study", "frobnicate"])
    shutil.rmtree(root / "studies")
    assert main(["study", "list"]) == 0
    assert "no studies" in capsys.readouterr().out
