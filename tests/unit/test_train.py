"""nas.train: the seeding every training command does, and what a command's start imports."""

from __future__ import annotations

import subprocess
import sys

import torch

from helpers import REPO
from nas import train


def test_seed_everything_seeds_and_asks_for_deterministic_algorithms():
    try:
        train.seed_everything(3)
        a = torch.rand(4)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # an op without one warns, not fails
        train.seed_everything(3)
        assert torch.equal(torch.rand(4), a)
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_stage_command_starts_without_the_compiler_or_scipy():
    """A training command's start: parsing its arguments, loading params.yaml, seeding. The compiler
    (which torch.use_deterministic_algorithms imports) and scipy (the selectors' statistics) took 1.5 s
    and 0.9 s of each stage command; a command that needs scipy imports it when it ranks."""
    code = ("import sys; from nas import cli, config, train; "
            "cli.build_parser(['train-supernet', '--seed', '0']); config.load('params.yaml'); train.seed_everything(0); "
            "print(sorted(m for m in ('scipy', 'torch._inductor', 'torch._dynamo', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# The modules the stages that only read tables run (merge-standalone, correlate, stability without
# interference pairs, pick by scores, select, heuristics, report, summary), and what `nas dag` and a
# Snakefile parse import.
TABLE_STAGES = ["nas.stages", "nas.standalone", "nas.metrics", "nas.metrics_files", "nas.heuristics", "nas.stability",
                "nas.selection", "nas.truth", "nas.report.page", "nas.report.plots", "nas.report.text", "nas.dag",
                "nas.engines", "nas.study"]


def test_the_config_dag_and_table_stages_start_without_torch():
    """Loading every committed study's params (every space, method, selector and source registered and
    checked), deriving its DAG and parsing the table stages' commands imports no PyTorch: about 1.5 s of
    each such command and of each Snakefile parse, most of a tiny study's stage start. The pieces import
    torch where they compute; a module-level `import torch` in any of them fails this test."""
    code = ("import importlib, sys; from pathlib import Path; from nas import cli, config, dag, study\n"
            f"for m in {TABLE_STAGES!r}: importlib.import_module(m)\n"
            "for params in [Path('params.yaml'), *sorted(Path('studies').glob('*/params.yaml'))]:\n"
            "    dag.stages(config.load(params))\n"
            "for c in ['merge-standalone', 'correlate', 'stability', 'pick', 'select', 'heuristics', 'report', 'summary']:\n"
            "    cli.build_parser([c])\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _trained(optimizer_class, **hp) -> tuple[list[torch.Tensor], dict]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3))
    opt = optimizer_class(net.parameters(), **hp)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for _ in range(4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    resumed = optimizer_class(net.parameters(), **hp)
    resumed.load_state_dict(opt.state_dict())
    resumed.step(lambda: torch.nn.functional.cross_entropy(net(x), y))  # a closure, as torch's takes it
    return [p.detach().clone() for p in net.parameters()], resumed.state_dict()


def test_the_optimizers_without_compile_guards_compute_as_torchs():
    """nas.train.SGD and Adam (torch's, less the guards that import the compiler): the same parameters
    and optimizer state, bit for bit, through steps, a state_dict round trip and a closure."""
    cases = [(train.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)),
             (train.SGD, torch.optim.SGD, dict(lr=0.1)),
             (train.Adam, torch.optim.Adam, dict(lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3))]
    for ours, theirs, hp in cases:
        (p_ours, s_ours), (p_theirs, s_theirs) = _trained(ours, **hp), _trained(theirs, **hp)
        assert all(torch.equal(a, b) for a, b in zip(p_ours, p_theirs)), (theirs.__name__, hp)
        assert s_ours["param_groups"] == s_theirs["param_groups"]
        for k, state in s_theirs["state"].items():
            assert all(torch.equal(state[n], s_ours["state"][k][n]) for n in state), (theirs.__name__, hp)
        assert issubclass(ours, theirs) and ours.__name__ == theirs.__name__


def test_training_never_imports_the_compiler():
    """make_optimizer's SGD and its schedule through steps and a checkpoint round trip, and DARTS's
    Adam: torch._dynamo (1.4 s of a command's start, the first step's import) stays unloaded, and the
    schedule sees its optimizer step (no warning)."""
    code = """
import sys, warnings, types, torch
from nas import train
warnings.simplefilter("error")
net = torch.nn.Linear(3, 2)
opt, sched = train.make_optimizer(net, types.SimpleNamespace(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0,
                                                             epochs=2), steps_per_epoch=3)
alpha = train.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.01)
for _ in range(3):
    opt.zero_grad(); alpha.zero_grad()
    net(torch.randn(4, 3)).sum().backward()
    opt.step(); sched.step(); alpha.step()
opt.load_state_dict(opt.state_dict()); alpha.load_state_dict(alpha.state_dict())
print(sorted(m for m in ('torch._dynamo', 'torch._inductor') if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
