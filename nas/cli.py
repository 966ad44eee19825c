"""`nas` command line: one subcommand per pipeline stage, plus the tools around them.

Argument parsing and dispatch only: each stage subcommand calls its function in `nas.stages` and
prints the paths it wrote. Every user mistake becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nas import config as config_mod
from nas.io import UserError


def _stage(name):
    """A subcommand that runs stage `name` of nas.stages with the parsed options."""
    def run(cfg, args):
        from nas import io
        from nas import layout as L
        from nas import stages

        io.exit_with_parent(os.getppid())  # a killed `dvc repro` / scheduler takes its stage with it
        io.remove_stale_temporaries([L.PREPARED, L.RESULTS, L.METRICS, L.PLOTS])
        options = {k: getattr(args, k) for k in ("variant", "seed", "shard", "workers") if hasattr(args, k)}
        stages.stamp_params(cfg, name, options.get("variant"))
        for path in getattr(stages, name.replace("-", "_"))(cfg, **options):
            print(f"wrote {path}")
    return run


def cmd_dag(cfg, args):
    from nas import dag

    print(dag.write(cfg, args.params, args.output, check=args.check))


def cmd_compare(cfg, args):
    import pandas as pd

    from nas import artifacts, io

    table = artifacts.compare(args.rev_a, args.rev_b)
    if args.csv:
        io.write_text(table.to_csv(index=False, float_format="%.6g"), args.csv)
        print(f"wrote {args.csv}")
    with pd.option_context("display.max_rows", None, "display.width", 160):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


def cmd_sync(cfg, args):
    from nas import artifacts

    stamped = artifacts.sync_stamps(cfg, args.params)
    touched = artifacts.sync_mtimes(artifacts.stage_outputs(cfg))
    print(f"gave {touched} pulled files modification times in DAG order and recorded the params of {stamped} "
          "stages from dvc.lock (Snakemake now sees them as current, and reruns a stage whose params change)")


def cmd_check_profile(cfg, args):
    from nas import profile

    problems = profile.check_profile(args.profile)
    if problems:
        raise UserError("; ".join(problems))
    print(f"{args.profile}: ok")


# --- entry point ----------------------------------------------------------------------------------

NO_PARAMS = {"compare", "check-profile"}  # commands that do not read params.yaml

STAGES = [
    ("prepare", "generate or read the dataset; write train/valid/test splits"),
    ("sample", "sample distinct architectures of the search space"),
    ("train-supernet", "train the weight-sharing super-net of one variant and seed"),
    ("eval-supernet", "score every sampled architecture with shared weights"),
    ("train-standalone", "train one shard of architectures from scratch"),
    ("merge-standalone", "join the shards (or read a ground-truth table)"),
    ("correlate", "rank correlations between super-net and stand-alone"),
    ("stability", "ranking stability over epochs, steps and seeds; interference between children"),
    ("perturb", "DARTS-PT: perturbation-based selection on one DARTS super-net run (resumable)"),
    ("pick", "the architecture each selection method picks from each super-net run"),
    ("train-picks", "train the picks outside the sampled pool stand-alone (or look them up)"),
    ("select", "each pick's stand-alone accuracy, percentile and regret"),
    ("heuristics", "per variant: metrics over seeds and the difference from baseline"),
    ("report", "HTML report with figures and DVC plot CSVs"),
]
TOOLS = [
    ("dag", cmd_dag, "write dvc.yaml from params.yaml (variants and shards)"),
    ("compare", cmd_compare, "metric differences of two git revisions or DVC experiments"),
    ("sync", cmd_sync, "after dvc pull/checkout: make outputs newer than inputs for Snakemake"),
    ("check-profile", cmd_check_profile, "check a Snakemake profile (Slurm: placeholders, commands, controller)"),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error
        print(f"nas: error: {message} (see nas --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nas", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = [(name, _stage(name), help_text) for name, help_text in STAGES] + TOOLS
    for name, fn, help_text in commands:
        s = sub.add_parser(name, help=help_text, description=help_text)
        s.set_defaults(func=fn)
        if name in ("train-supernet", "eval-supernet", "perturb"):
            s.add_argument("--variant", default="baseline", help="a name in supernet.variants")
            s.add_argument("--seed", type=int, default=None, help="one of supernet.seeds (default: the first)")
        if name == "train-standalone":
            s.add_argument("--shard", default="1/1", help="K/N: train the K-th of N shards")
        if name in ("train-standalone", "train-picks"):
            s.add_argument("--workers", type=int, default=0, help="processes (default: CPU count, up to 8)")
        if name == "compare":
            s.add_argument("rev_a", help="git revision or DVC experiment name")
            s.add_argument("rev_b", help="git revision or DVC experiment name")
            s.add_argument("--csv", help="also write the table to this CSV file")
        if name == "check-profile":
            s.add_argument("profile", nargs="?", default="workflow/profiles/slurm")
        if name == "dag":
            s.add_argument("--output", default="dvc.yaml")
            s.add_argument("--check", action="store_true", help="fail if the file differs")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = None if args.command in NO_PARAMS else config_mod.load(args.params)
        args.func(cfg, args)
    except UserError as exc:
        print(f"nas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0
