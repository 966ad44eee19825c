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
