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


def _stage(name, fn=None):
    """A subcommand that runs stage `name` (`fn`, default its function in nas.stages) with the parsed
    options."""
    def run(cfg, args):
        from nas import io, lifeline
        from nas import layout as L
        from nas import stages

        if lifeline.PARENT is None:  # run in-process (tests, a notebook): the watch starts here
            io.exit_with_parent(os.getppid())  # a killed `dvc repro` / scheduler takes its stage with it
        io.remove_stale_temporaries([L.PREPARED, L.RESULTS, L.METRICS, L.PLOTS])
        options = {k: getattr(args, k) for k in ("variant", "seed", "shard", "workers") if hasattr(args, k)}
        stages.stamp_params(cfg, name, options.get("variant"))
        for path in (fn or getattr(stages, name.replace("-", "_")))(cfg, **options):
            print(f"wrote {path}")
    return run


def own_stages() -> list:
    """The stages registered pieces add (nas.registry.OwnStage), of every source and selector."""
    from nas.selection import SELECTORS
    from nas.truth import SOURCES

    return ([s for source in SOURCES.values() for s in source.own_stages]
            + [sel.stage for sel in SELECTORS.values() if sel.stage is not None])


def cmd_dag(cfg, args):
    from nas import dag

    print(dag.write(cfg, args.params, args.output, check=args.check))


def cmd_compare(cfg, args):
    import pandas as pd

    from nas import artifacts, io

    table = artifacts.compare(args.rev_a, args.rev_b, study_a=args.study,
                              study_b=args.study if args.study_b is None else args.study_b or None)
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


def cmd_summary(cfg, args):
    from nas.report import text

    print(text.workspace_summary("no results here yet (run `make study`, or `dvc repro`)"))


def cmd_study(cfg, args):
    from nas import study

    root = study.project_root()
    if args.action == "list":
        print(study.listing(root))
        return
    if not args.name:
        raise UserError(f"nas study {args.action}: which study? (nas study list names them)")
    if args.action == "write":
        print("\n".join(study.write(root, args.name, check=args.check)))
    elif args.action == "plan":
        print(study.plan(root, args.name))
    elif args.action == "show":
        print(study.show(root, args.name))
    else:
        code = study.run(root, args.name, snakemake=args.snakemake, profile=args.profile, cores=args.cores)
        if code:
            raise UserError(f"study {args.name!r}: the run stopped (exit {code}); finished stages are kept, and "
                            f"`nas study run {args.name}` resumes")


def cmd_power(cfg, args):
    import pandas as pd

    from nas import io, power
    from nas import layout as L

    import math

    for key, value, ok, expected in (("--diff", args.diff, math.isfinite(args.diff) and args.diff != 0,
                                      "a non-zero difference (e.g. 0.1 of Kendall tau)"),
                                     ("--sd", args.sd, args.sd is None or (math.isfinite(args.sd) and args.sd >= 0),
                                      "a standard deviation >= 0"),
                                     ("--alpha", args.alpha, 0 < args.alpha < 1, "a level between 0 and 1"),
                                     ("--power", args.power, args.alpha < args.power < 1,
                                      f"a probability between --alpha ({args.alpha:g}) and 1")):
        if not ok:
            raise UserError(f"{key}: {value:g} is not allowed; expected {expected}")
    if args.sd is not None:  # a question without a study: this spread, this difference
        seeds = power.seeds_needed(args.diff, args.sd, args.alpha, args.power)
        print(f"{seeds} seeds per variant detect a difference of {args.diff:g} with {100 * args.power:g} % power "
              f"(paired t-test at {args.alpha:g}) when the paired differences have sd {args.sd:g}")
        return
    if not L.HEURISTICS.is_file():
        raise UserError(f"{L.HEURISTICS}: file not found (run the study first, in its folder, or give --sd)")
    table = power.seeds_table(io.read_parquet(L.HEURISTICS), args.metric, args.diff, args.alpha, args.power)
    with pd.option_context("display.max_rows", None, "display.width", 160):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"seeds_needed: super-net seeds per variant (the baseline's too) to detect a {args.metric} difference of "
          f"{args.diff:g} with {100 * args.power:g} % power (paired t-test at {args.alpha:g}), from each variant's "
          "observed spread of paired differences (an estimate from the seeds it has)")


def cmd_check_profile(cfg, args):
    from nas import profile

    problems = profile.check_profile(args.profile)
    if problems:  # one line per problem, each saying what to change
        for problem in problems[:-1]:
            print(f"nas check-profile: error: {problem}", file=sys.stderr)
        raise UserError(problems[-1])
    print(f"{args.profile}: ok")


# --- entry point ----------------------------------------------------------------------------------

NO_PARAMS = {"compare", "check-profile", "study", "power"}  # commands that do not read params.yaml

STAGES = [
    ("prepare", "generate or read the dataset; write train/valid/test splits"),
    ("sample", "sample distinct architectures of the search space"),
    ("zero-cost", "score every sampled architecture with the training-free rankers (zerocost.rankers)"),
    ("train-supernet", "train the weight-sharing super-net of one variant and seed"),
    ("eval-supernet", "score every sampled architecture with shared weights (one shard of them: eval.shards)"),
    ("merge-scores", "a run's scores joined from its eval-supernet shards (eval.shards > 1)"),
    ("merge-standalone", "the ground truth of the sampled pool: the shards joined, or read from its source"),
    ("correlate", "rank correlations between super-net and stand-alone"),
    ("stability", "ranking stability over epochs, steps and seeds; interference between children"),
    ("pick", "the architecture each selection method picks from each super-net run"),
    ("train-picks", "the ground truth of the picks outside the sampled pool (trained, or looked up)"),
    ("select", "each pick's stand-alone accuracy, percentile and regret"),
    ("heuristics", "per variant: metrics over seeds and the difference from baseline"),
    ("report", "HTML report with figures and DVC plot CSVs"),
]
TOOLS = [
    ("dag", cmd_dag, "write dvc.yaml from params.yaml (variants and shards)"),
    ("summary", cmd_summary, "a few lines on the finished study: tau and regret per variant, the reference, the report"),
    ("compare", cmd_compare, "metric differences of two git revisions or DVC experiments"),
    ("sync", cmd_sync, "after dvc pull/checkout: make outputs newer than inputs for Snakemake"),
    ("check-profile", cmd_check_profile, "check a Snakemake profile (Slurm: placeholders, commands, controller)"),
    ("study", cmd_study, "the studies of studies/<name>/: list, plan (jobs and cost), run, show, write"),
    ("power", cmd_power, "seeds a difference needs: from this study's heuristics table, or from --sd"),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error
        print(f"nas: error: {message} (see nas --help)", file=sys.stderr)
        raise SystemExit(2)


def stage_io(cfg, name: str) -> str:
    """What stage `name` reads, writes and which params keys it tracks, from the study's DAG (nas.dag)
    with `params` loaded: the epilog of its --help. V and S stand for the variant and the seed."""
    from nas import dag

    if cfg is None:
        return "reads, writes and params: see dvc.yaml (params.yaml did not load here)"
    stages = dag.stages(cfg)
    names = [n for n in stages if n == name or n == f"{name}-landmarks"]
    if not names:
        return "not a stage of this study's DAG (params.yaml does not ask for it)"
    spec = stages[names[0]].get("do", stages[names[0]])

    from nas import layout as L

    runs = [(L.Run(v, seed), L.Run("V", "S")) for v, seed in cfg.runs]

    def show(items):
        paths = [next(iter(i)) if isinstance(i, dict) else i for i in items]
        shown = []
        for p in paths:  # every run's copy of a file once, as the template V/seed-S
            p = p.replace("${item.variant}", "V").replace("${item.seed}", "S").replace("${item}", "K")
            for run, template in runs:
                p = p.replace(f"{run.dir.as_posix()}/", f"{template.dir.as_posix()}/").replace(
                    run.timing.as_posix(), template.timing.as_posix())
            if p not in shown:
                shown.append(p)
        return ", ".join(shown) or "-"
    return "\n".join([f"reads:  {show(spec.get('deps', []))}",
                      f"writes: {show(spec.get('outs', []) + spec.get('metrics', []) + spec.get('plots', []))}",
                      f"params: {show(spec.get('params', []))}"])


def _params_path(argv) -> str:
    """--params as given anywhere in argv (before or after the subcommand), else params.yaml."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--params" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--params="):
            return arg.split("=", 1)[1]
    return "params.yaml"


def _command(argv) -> str | None:
    """The subcommand argv names: its first word that is neither an option nor --params's value."""
    value = False
    for arg in argv:
        if value:
            value = False
        elif arg == "--params":
            value = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv=()) -> argparse.ArgumentParser:
    p = _Parser(prog="nas", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # The registered pieces' stages only where they may be asked for: importing every selector and
    # source (scipy among them) would add most of a second to each stage command's start.
    built_in = {name for name, _ in STAGES} | {name for name, *_ in TOOLS}
    own = {} if _command(argv) in built_in else {s.name: s for s in own_stages()}
    commands = ([(name, _stage(name), help_text) for name, help_text in STAGES]
                + [(s.name, _stage(s.name, s.run), s.help) for s in own.values()] + TOOLS)
    cfg = None
    if any(a in ("-h", "--help") for a in argv):  # a stage's --help lists its files from the DAG
        try:
            cfg = config_mod.load(_params_path(argv))
        except UserError:
            pass
    stage_names = {name for name, _ in STAGES} | set(own)
    for name, fn, help_text in commands:
        s = sub.add_parser(name, help=help_text, description=help_text,
                           epilog=stage_io(cfg, name) if name in stage_names and cfg is not None else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.set_defaults(func=fn)
        # --params after the subcommand too (`nas correlate --params p.yaml`); absent, the top level's holds.
        s.add_argument("--params", default=argparse.SUPPRESS, help="params file (default: params.yaml)")
        if name in ("train-supernet", "eval-supernet", "merge-scores") or (name in own and own[name].per == "run"):
            s.add_argument("--variant", default="baseline", help="a name in supernet.variants")
            s.add_argument("--seed", type=int, default=None, help="one of supernet.seeds (default: the first)")
        if name == "eval-supernet" or (name in own and own[name].per == "shard"):
            s.add_argument("--shard", default="1/1", help="K/N: the K-th of N shards")
        if name == "train-picks" or (name in own and own[name].per == "shard"):
            s.add_argument("--workers", type=int, default=0, help="processes (default: CPU count, up to 8)")
        if name == "compare":
            s.add_argument("rev_a", help="git revision, DVC experiment name, or 'workspace' (the files now)")
            s.add_argument("rev_b", help="git revision, DVC experiment name, or 'workspace' (the files now)")
            s.add_argument("--csv", help="also write the table to this CSV file")
            s.add_argument("--study", default=None, help="the study both sides read (default: the root's)")
            s.add_argument("--study-b", default=None, help="the study side b reads, when it differs ('' for the "
                           "root's): two studies compared at one revision or two")
        if name == "study":
            s.add_argument("action", choices=("list", "plan", "run", "show", "write"))
            s.add_argument("name", nargs="?", help="a study: a folder of studies/ (nas study list)")
            s.add_argument("--snakemake", action="store_true", help="run: under Snakemake instead of DVC")
            s.add_argument("--profile", default="workflow/profiles/default", help="run --snakemake: the profile")
            s.add_argument("--cores", type=int, default=None, help="run --snakemake: cores to use")
            s.add_argument("--check", action="store_true", help="write: fail if params.yaml or dvc.yaml differ")
        if name == "check-profile":
            s.add_argument("profile", nargs="?", default="workflow/profiles/slurm")
        if name == "power":
            s.add_argument("--diff", type=float, required=True, help="the difference to detect (e.g. 0.1 of tau)")
            s.add_argument("--metric", default="kendall_tau", help="a metric of the heuristics table")
            s.add_argument("--sd", type=float, default=None, help="the sd of paired differences, instead of the study's")
            s.add_argument("--alpha", type=float, default=0.05, help="the test's level (default 0.05)")
            s.add_argument("--power", type=float, default=0.8, help="the chance to detect it (default 0.8)")
        if name == "dag":
            s.add_argument("--output", default="dvc.yaml")
            s.add_argument("--check", action="store_true", help="fail if the file differs")
    return p


MAX_ERROR = 2000  # characters of an error line; values quoted in it are cut far shorter (nas.settings.show)


def one_line(message: str) -> str:
    """An error message as one line of readable length, whatever it quotes."""
    text = " ".join(message.splitlines())
    return text if len(text) <= MAX_ERROR else config_mod.cut(text, MAX_ERROR)


def os_error(exc: OSError) -> str:
    """An OSError as 'FILE: reason'."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{config_mod.cut(str(exc.filename), 200)}: {reason}" if exc.filename else reason


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        cfg = None if args.command in NO_PARAMS else config_mod.load(args.params)
        args.func(cfg, args)
    except UserError as exc:
        print(f"nas {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine, not the code: a path too long, a folder not writable, a full disk
        print(f"nas {args.command}: error: {one_line(os_error(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0
