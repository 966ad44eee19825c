"""`nas` command line: one subcommand per pipeline stage.

Each subcommand is thin: parse arguments, load params.yaml, call the library, write the stage's
artifacts (atomically) and print what it wrote. Only this module knows file paths and stages, so
notebooks and tests can call the library functions directly. Every user mistake becomes one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from pathlib import Path

import pandas as pd

from nas import config as config_mod
from nas import io
from nas.io import UserError

# Artifact paths (relative to the project root; users and tests rely on these names).
PREPARED = Path("data/prepared")
SPLITS = ("train", "valid", "test")
RESULTS = Path("results")
ARCHS = RESULTS / "archs.parquet"
STANDALONE = RESULTS / "standalone.parquet"
CORRELATION = RESULTS / "correlation.parquet"
SELECTION = RESULTS / "selection.parquet"
REPORT = RESULTS / "report"
METRICS = Path("metrics")
PLOTS = Path("plots")
PROGRESS = RESULTS / ".progress"  # resumable partial work; not a DVC output, so DVC never deletes it


def split_path(name: str) -> Path:
    return PREPARED / f"{name}.parquet"


def run_name(variant: str, seed: int) -> str:
    """One super-net run: a variant trained with one of supernet.seeds."""
    return f"{variant}/seed-{seed}"


def supernet_dir(variant: str, seed: int) -> Path:
    return RESULTS / "supernet" / variant / f"seed-{seed}"


def timing_path(variant: str, seed: int) -> Path:
    return METRICS / "supernet" / variant / f"seed-{seed}.json"


HEURISTICS = RESULTS / "heuristics.parquet"


def shard_path(k: int) -> Path:
    return RESULTS / "standalone" / f"shard-{k}.parquet"


def wrote(*paths):
    for p in paths:
        print(f"wrote {p}")


def data_fingerprint(names=SPLITS) -> str:
    h = hashlib.sha256()
    for name in names:
        path = split_path(name)
        if not path.is_file():
            raise UserError(f"{path}: file not found (run `nas prepare` first)")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# --- stages ---------------------------------------------------------------------------------------

def cmd_prepare(cfg, args):
    from nas import data

    d = cfg.data
    splits = data.prepare(d.dataset, d.root, d.valid_fraction, d.seed, num_samples=d.num_samples,
                          iid_noise_scale=d.iid_noise_scale, corr_noise_scale=d.corr_noise_scale,
                          test_fraction=d.test_fraction)
    for name in SPLITS:
        data.write_split(splits[name], split_path(name), d.dataset, data.NUM_CLASSES[d.dataset])
    wrote(*(split_path(n) for n in SPLITS))


def cmd_sample(cfg, args):
    from nas.spaces import get_space

    space = get_space(cfg.space.name)
    if not split_path("train").is_file():
        raise UserError(f"{split_path('train')}: file not found (run `nas prepare` first)")
    meta = io.read_parquet_metadata(split_path("train"))
    shape, classes = tuple(meta["shape"]), meta["num_classes"]
    rows = []
    for arch_id, arch in enumerate(space.sample(cfg.sample.archs, cfg.seed)):
        params, flops = space.count_params_flops(arch, cfg.space.channels, cfg.space.cells, shape, classes)
        rows.append({"arch_id": arch_id, "arch": space.format(arch), "canonical": space.canonical(arch),
                     "params": params, "flops": flops})
    df = pd.DataFrame(rows).astype({"arch_id": "int64", "params": "int64", "flops": "int64"})
    io.write_parquet(df, ARCHS, metadata={"space": cfg.space.name})
    wrote(ARCHS)


def _run(cfg, args):
    """The (variant's settings, seed) that --variant/--seed name, both checked."""
    hp = cfg.variant(args.variant)
    seed = cfg.supernet.seeds[0] if args.seed is None else args.seed
    if seed not in cfg.supernet.seeds:
        raise UserError(f"--seed {seed}: not in supernet.seeds; expected one of "
                        f"{', '.join(map(str, cfg.supernet.seeds))}")
    return hp, seed


def _landmarks(cfg, hp, space) -> tuple[list[int], list[tuple[tuple, float]]]:
    """The landmark architectures (ids and (arch, stand-alone valid accuracy)): a fixed random set of
    the sampled pool, the same for every variant and seed. Valid accuracy, so the test split stays
    unread by super-net training."""
    from nas import standalone, supernet

    if not STANDALONE.is_file():
        raise UserError(f"supernet.landmarks: {hp.landmarks} landmarks need stand-alone results, but {STANDALONE} "
                        "does not exist (run merge-standalone first; dvc repro and snakemake order this for you)")
    archs = io.read_parquet(ARCHS, ["arch_id", "arch"])
    truth = standalone.mean_over_seeds(io.read_parquet(STANDALONE), "valid").set_index("arch_id")["accuracy"]
    ids = supernet.landmark_ids(archs["arch_id"].tolist(), hp.landmarks, cfg.seed)
    missing = [i for i in ids if i not in truth.index]
    if missing:
        raise UserError(f"supernet.landmarks: {STANDALONE} has no accuracy for landmark arch_id(s) "
                        f"{', '.join(map(str, missing[:5]))}; rerun merge-standalone")
    by_id = dict(zip(archs["arch_id"], archs["arch"]))
    return ids, [(space.parse(by_id[i]), float(truth[i])) for i in ids]


def cmd_train_supernet(cfg, args):
    from nas import data, supernet
    from nas.spaces import get_space
    from nas.train import resolve_device, seed_everything

    hp, seed = _run(cfg, args)
    space = get_space(cfg.space.name)
    device = resolve_device(cfg.device)
    train = data.load_split(split_path("train"))
    landmark_ids, landmarks = _landmarks(cfg, hp, space) if hp.landmarks else ([], None)
    seed_everything(seed)
    net = supernet.build(space, hp, cfg.space.channels, cfg.space.cells, train)
    out = supernet_dir(args.variant, seed)
    ckpt_dir = out / "checkpoints"
    key = config_mod.fingerprint(hp, cfg.space, seed, cfg.data.augment, data_fingerprint(["train"]), device.type,
                                 landmarks and [(a, round(acc, 9)) for a, acc in landmarks])
    state = PROGRESS / "supernet" / f"{args.variant}-{seed}-{key}.pt"
    meta = {"space": cfg.space.name, "channels": hp.channels or cfg.space.channels,
            "cells": hp.cells or cfg.space.cells, "input_shape": list(train.shape),
            "num_classes": train.num_classes, "bn_affine": hp.bn_affine, "bn_track": hp.bn_track,
            "op_on": hp.op_on, "kernel_mapping": hp.kernel_mapping, "landmarks": landmark_ids,
            "variant": args.variant, "seed": seed}
    epoch_seconds, last = [], [time.perf_counter()]

    def on_epoch(epoch, model):
        now = time.perf_counter()
        epoch_seconds.append(now - last[0])
        last[0] = now
        if epoch in hp.save_epochs:
            io.save_checkpoint({**meta, "epoch": epoch, "model": supernet.weights(model)},
                               ckpt_dir / f"epoch-{epoch:04d}.pt")

    augment = data.random_crop_flip if cfg.data.augment and len(train.shape) == 3 else None
    history = supernet.train(net, hp, space, train, seed, device, state, augment, on_epoch, landmarks)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stale = [p for p in ckpt_dir.glob("epoch-*.pt") if int(p.stem.split("-")[1]) not in hp.save_epochs]
    for p in stale:
        p.unlink()
    io.save_checkpoint({**meta, "epoch": hp.epochs, "model": supernet.weights(net)}, out / "weights.pt")
    io.write_parquet(history, out / "history.parquet")
    # Wall time is a measurement of the machine, not a function of the inputs: it lives in a JSON
    # metrics file so every Parquet artifact stays byte-identical between runs.
    timing = timing_path(args.variant, seed)
    io.write_json({"seconds": round(sum(epoch_seconds), 3), "epochs_timed": len(epoch_seconds),
                   "epoch_seconds": [round(s, 3) for s in epoch_seconds]}, timing)
    state.unlink(missing_ok=True)
    wrote(out / "weights.pt", out / "history.parquet", timing, ckpt_dir)


def load_supernet(path: Path, space_name: str):
    """The super-net of a `weights.pt` (built for scoring: no dropout) and its metadata."""
    from nas.spaces import get_space

    ckpt = io.load_checkpoint(path)
    if not isinstance(ckpt, dict):
        raise UserError(f"{path}: not a super-net checkpoint of this project (holds a {type(ckpt).__name__}, "
                        "not a dict)")
    try:
        if ckpt["space"] != space_name:
            raise UserError(f"{path}: super-net of space {ckpt['space']!r}, but space.name is {space_name!r}")
        net = get_space(space_name).build_supernet(ckpt["channels"], ckpt["cells"], tuple(ckpt["input_shape"]),
                                                   ckpt["num_classes"], affine=ckpt["bn_affine"],
                                                   track=ckpt["bn_track"], op_on=ckpt.get("op_on", "edge"),
                                                   kernel_mapping=ckpt.get("kernel_mapping", False))
        net.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise UserError(f"{path}: not a super-net checkpoint of this project ({io._first_line(exc)})") from None
    return net, {k: v for k, v in ckpt.items() if k != "model"}


def cmd_eval_supernet(cfg, args):
    from nas import data, evaluate
    from nas.spaces import get_space
    from nas.train import resolve_device

    hp, seed = _run(cfg, args)
    out = supernet_dir(args.variant, seed)
    net, meta = load_supernet(out / "weights.pt", cfg.space.name)
    archs = io.read_parquet(ARCHS, ["arch_id", "arch"])
    # Landmarks were trained on their stand-alone ranking: scoring them would grade the super-net on
    # its own answers.
    archs = archs[~archs["arch_id"].isin(meta.get("landmarks") or [])].reset_index(drop=True)
    e = cfg.eval
    scores = evaluate.score_archs(net, archs, get_space(cfg.space.name), data.load_split(split_path("valid")),
                                  data.load_split(split_path("train")), hp.eval_bn or e.bn, e.recalibrate_batches,
                                  e.batch_size, cfg.seed, resolve_device(cfg.device))
    io.write_parquet(scores, out / "scores.parquet")
    wrote(out / "scores.parquet")


def cmd_train_standalone(cfg, args):
    from nas import standalone

    k, n = standalone.parse_shard(args.shard)
    sc = cfg.standalone
    if sc.source != "train":
        raise UserError("standalone.source is 'table': there is nothing to train (merge-standalone reads the table)")
    if n != sc.shards:
        raise UserError(f"--shard {args.shard}: N must equal standalone.shards ({sc.shards})")
    archs = standalone.shard(io.read_parquet(ARCHS, ["arch_id", "arch"]), k, n)
    hp_key = {f.name: getattr(sc, f.name) for f in dataclasses.fields(config_mod.TrainConfig)}
    hp_key["init"] = sc.init
    key = config_mod.fingerprint(hp_key, cfg.space, cfg.data.augment, data_fingerprint(), cfg.device)
    workers = args.workers or standalone.default_workers()
    results = standalone.run_shard(archs, sc.seeds, sc, cfg.space.name, cfg.space.channels, cfg.space.cells,
                                   {s: str(split_path(s)) for s in SPLITS}, PROGRESS / "standalone" / key,
                                   cfg.device, cfg.data.augment, workers)
    io.write_parquet(results, shard_path(k))
    wrote(shard_path(k))


def cmd_merge_standalone(cfg, args):
    from nas import standalone
    from nas.spaces import get_space

    sc = cfg.standalone
    archs = io.read_parquet(ARCHS, ["arch_id", "arch", "canonical"])
    if sc.source == "table":
        merged = standalone.from_table(archs, sc.table, sc.arch_column, sc.accuracy_column, get_space(cfg.space.name))
    else:
        merged = standalone.merge([io.read_parquet(shard_path(k)) for k in range(1, sc.shards + 1)])
        expected = {(int(a), s) for a in archs["arch_id"] for s in sc.seeds}
        got = set(zip(merged["arch_id"].astype(int), merged["seed"].astype(int)))
        if got != expected:
            missing = sorted(expected - got)
            raise UserError(f"merge-standalone: shards do not match results/archs.parquet and standalone.seeds "
                            f"({len(missing)} (arch, seed) missing, {len(got - expected)} extra); rerun train-standalone")
    io.write_parquet(merged, STANDALONE)
    wrote(STANDALONE)


def _truth(split: str) -> pd.DataFrame:
    from nas import standalone

    return standalone.mean_over_seeds(io.read_parquet(STANDALONE), split)


def _scores(cfg) -> dict[tuple[str, int], pd.DataFrame]:
    out = {}
    for v, seed in cfg.runs:
        path = supernet_dir(v, seed) / "scores.parquet"
        if not path.is_file():
            raise UserError(f"{path}: not found for variant {v!r}, seed {seed} (if you added the variant or seed "
                            "to params.yaml, run `nas dag` to update dvc.yaml, then `dvc repro`)")
        out[v, seed] = io.read_parquet(path, ["arch_id", "accuracy", "loss"])
    return out


def _scored_truth(truth: pd.DataFrame, scores: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The stand-alone truth of the architectures a run scored: all sampled ones, less its landmarks
    (a landmark variant scores fewer; scoring anything outside the pool is an error)."""
    extra = set(scores["arch_id"]) - set(truth["arch_id"])
    if extra or len(scores) < 2:
        raise UserError(f"scores of variant {variant!r} and results/standalone.parquet cover different "
                        "architectures; rerun the pipeline from sample")
    return truth[truth["arch_id"].isin(scores["arch_id"])]


def _aligned(truth: pd.DataFrame, scores: pd.DataFrame, variant: str) -> pd.DataFrame:
    both = _scored_truth(truth, scores, variant).merge(scores, on="arch_id", suffixes=("_truth", "_score"),
                                                        validate="one_to_one")
    return both.sort_values("arch_id")


def cmd_correlate(cfg, args):
    from nas import metrics

    c = cfg.correlate
    truth = _truth(c.truth)
    tables = []
    for (v, seed), scores in _scores(cfg).items():
        both = _aligned(truth, scores, v)
        t = metrics.correlation_table(both["accuracy_truth"], both["accuracy_score"], c.topk,
                                      c.sparse_threshold, c.bootstrap, cfg.seed)
        tables.append(t.assign(variant=v, seed=seed))
    results = io.read_parquet(STANDALONE)
    by_seed = results.pivot(index="arch_id", columns="seed", values=f"{c.truth}_accuracy")
    if by_seed.shape[1] >= 2:
        lo, hi = metrics.seed_to_seed_ci(by_seed, c.bootstrap, cfg.seed)
        tables.append(pd.DataFrame([{"variant": "standalone", "seed": pd.NA, "metric": "seed_to_seed_kendall_tau",
                                     "k": pd.NA, "value": metrics.seed_to_seed_tau(by_seed),
                                     "ci_low": lo, "ci_high": hi}]))
    table = pd.concat(tables, ignore_index=True)[["variant", "seed", "metric", "k", "value", "ci_low", "ci_high"]]
    table = table.astype({"seed": "Int64", "k": "Int64", "value": "float64", "ci_low": "float64",
                          "ci_high": "float64"})
    io.write_parquet(table, CORRELATION)
    io.write_json(_metrics_json(table), METRICS / "correlation.json")
    wrote(CORRELATION, METRICS / "correlation.json")


def _label(variant, seed) -> str:
    return variant if pd.isna(seed) else run_name(variant, int(seed))


def _metrics_json(table: pd.DataFrame) -> dict:
    """{run: {metric[_k]: value, metric[_k]_ci: [lo, hi]}}; nan becomes null. A run is
    "variant/seed-S"; the stand-alone seed-to-seed row is under "standalone"."""
    def num(x):
        return None if pd.isna(x) else round(float(x), 6)
    out: dict = {}
    for row in table.itertuples(index=False):
        name = row.metric if pd.isna(row.k) else f"{row.metric}@{int(row.k)}"
        run = _label(row.variant, row.seed)
        out.setdefault(run, {})[name] = num(row.value)
        out[run][f"{name}_ci"] = [num(row.ci_low), num(row.ci_high)]
    return out


def cmd_select(cfg, args):
    from nas import select

    truth = _truth(cfg.select.truth)
    keep = list(cfg.select.methods) + list(select.BASELINES)
    tables = []
    for (v, seed), scores in _scores(cfg).items():
        t = select.selection_table(v, scores, _scored_truth(truth, scores, v))
        t.insert(1, "seed", seed)
        tables.append(t[t["method"].isin(keep)])
    table = pd.concat(tables, ignore_index=True).astype({"seed": "int64"})
    io.write_parquet(table, SELECTION)
    summary = {}
    for row in table.itertuples(index=False):
        for col in ("accuracy", "percentile", "regret"):
            summary.setdefault(run_name(row.variant, row.seed), {})[f"{row.method}_{col}"] = \
                round(float(row[table.columns.get_loc(col)]), 6)
    io.write_json(summary, METRICS / "selection.json")
    wrote(SELECTION, METRICS / "selection.json")


def _timing(variant: str, seed: int) -> dict:
    """A run's measured training time ({} when it was not recorded)."""
    import json

    path = timing_path(variant, seed)
    return json.loads(path.read_text()) if path.is_file() else {}


def _costs(cfg) -> pd.DataFrame:
    """Training cost per run: passes (from history.parquet, deterministic) and seconds (measured)."""
    rows = []
    for v, seed in cfg.runs:
        history = io.read_parquet(supernet_dir(v, seed) / "history.parquet")
        rows.append({"variant": v, "seed": seed, "passes": int(history["passes"].sum()),
                     "seconds": _timing(v, seed).get("seconds", float("nan"))})
    return pd.DataFrame(rows).astype({"variant": "str", "seed": "int64", "passes": "int64", "seconds": "float64"})


def _heuristics_table(cfg) -> pd.DataFrame:
    from nas import heuristics

    return heuristics.heuristics_table(io.read_parquet(CORRELATION), io.read_parquet(SELECTION), _costs(cfg),
                                       cfg.variants)


def cmd_heuristics(cfg, args):
    from nas import heuristics

    table = _heuristics_table(cfg)
    # Seconds measure the machine, not the inputs: kept out of the artifacts (byte-identical between
    # runs), shown in the printed table and the report.
    deterministic = table[table["metric"] != "seconds"].reset_index(drop=True)
    io.write_parquet(deterministic, HEURISTICS)
    io.write_json(heuristics.metrics_json(deterministic), METRICS / "heuristics.json")
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(heuristics.wide_table(table).to_string(index=False))
    wrote(HEURISTICS, METRICS / "heuristics.json")


def cmd_report(cfg, args):
    from nas import heuristics, report

    # The report speaks of runs ("variant/seed-S") where it used to speak of variants; the heuristics
    # section aggregates the runs of each variant.
    runs = {run_name(v, seed): (v, seed) for v, seed in cfg.runs}
    scores = {run_name(v, seed): s for (v, seed), s in _scores(cfg).items()}
    histories = {r: io.read_parquet(supernet_dir(v, seed) / "history.parquet") for r, (v, seed) in runs.items()}
    timings = {r: _timing(v, seed) for r, (v, seed) in runs.items()}
    correlation = io.read_parquet(CORRELATION)
    correlation["variant"] = [_label(v, s) for v, s in zip(correlation["variant"], correlation["seed"])]
    selection = io.read_parquet(SELECTION)
    selection["variant"] = [run_name(v, s) for v, s in zip(selection["variant"], selection["seed"])]
    table = _heuristics_table(cfg)
    truth = _truth(cfg.correlate.truth)
    # The figures show each variant's first seed (one panel per run would not scale to a sweep); the
    # tables and the plot CSVs cover every run.
    first = {r for r, (_, seed) in runs.items() if seed == cfg.supernet.seeds[0]}
    paths = report.write_report(
        REPORT, archs=io.read_parquet(ARCHS), truth=truth,
        standalone=io.read_parquet(STANDALONE), scores={r: s for r, s in scores.items() if r in first},
        histories={r: h for r, h in histories.items() if r in first}, timings=timings,
        correlation=correlation.drop(columns="seed"), selection=selection.drop(columns="seed"),
        params=config_mod.to_dict(cfg), truth_split=cfg.correlate.truth,
        # With one run there is nothing to aggregate or compare.
        **({"heuristics_html": heuristics.html_table(table), "heuristics_figure": heuristics.effect_figure(table)}
           if len(cfg.runs) > 1 else {}))
    # One CSV per run, so `dvc plots show` draws each run as its own series.
    scatter = report.scatter_frame(truth, scores)
    curves = report.curves_frame(histories)
    for r in runs:
        for name, frame in (("scatter", scatter), ("curves", curves)):
            path = PLOTS / name / f"{r}.csv"
            io.write_text(frame[frame["variant"] == r].to_csv(index=False, float_format="%.6g"), path)
            paths.append(path)
    effect = table[table["metric"] == "sparse_kendall_tau"][["variant", "mean", "ci_low", "ci_high", "diff",
                                                            "diff_ci_low", "diff_ci_high", "p_value"]]
    io.write_text(effect.to_csv(index=False, float_format="%.6g"), PLOTS / "heuristics.csv")
    paths.append(PLOTS / "heuristics.csv")
    wrote(*paths)


def cmd_dag(cfg, args):
    from nas import dag

    import yaml

    missing = dag.missing_params(cfg, yaml.safe_load(Path(args.params).read_text()) or {})
    if missing:
        raise UserError(f"{args.params}: DVC tracks every key a stage reads, but {', '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not written out; add them (defaults in nas/config.py)")
    text = dag.dvc_yaml(cfg)
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).is_file() else ""
        if current != text:
            raise UserError(f"{args.output} is out of date with params.yaml; run `nas dag`")
        print(f"{args.output} is up to date")
        return
    io.write_text(text, args.output)
    wrote(args.output)


def cmd_compare(cfg, args):
    from nas import artifacts

    table = artifacts.compare(args.rev_a, args.rev_b)
    if args.csv:
        io.write_text(table.to_csv(index=False, float_format="%.6g"), args.csv)
        wrote(args.csv)
    with pd.option_context("display.max_rows", None, "display.width", 160):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


def cmd_sync(cfg, args):
    from nas import artifacts

    touched = artifacts.sync_mtimes(artifacts.stage_outputs(cfg))
    print(f"gave {touched} pulled files modification times in DAG order (Snakemake now sees them as current)")


def cmd_check_profile(cfg, args):
    from nas import profile

    problems = profile.check_profile(args.profile)
    if problems:
        raise UserError("; ".join(problems))
    print(f"{args.profile}: ok")


# --- entry point ----------------------------------------------------------------------------------

NO_PARAMS = {"compare", "check-profile"}  # commands that do not read params.yaml


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error
        print(f"nas: error: {message} (see nas --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nas", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    stages = [
        ("prepare", cmd_prepare, "generate or read the dataset; write train/valid/test splits"),
        ("sample", cmd_sample, "sample distinct architectures of the search space"),
        ("train-supernet", cmd_train_supernet, "train the weight-sharing super-net of one variant and seed"),
        ("eval-supernet", cmd_eval_supernet, "score every sampled architecture with shared weights"),
        ("train-standalone", cmd_train_standalone, "train one shard of architectures from scratch"),
        ("merge-standalone", cmd_merge_standalone, "join the shards (or read a ground-truth table)"),
        ("correlate", cmd_correlate, "rank correlations between super-net and stand-alone"),
        ("select", cmd_select, "the architecture each selection method picks, and its regret"),
        ("heuristics", cmd_heuristics, "per variant: metrics over seeds and the difference from baseline"),
        ("report", cmd_report, "HTML report with figures and DVC plot CSVs"),
        ("dag", cmd_dag, "write dvc.yaml from params.yaml (variants and shards)"),
        ("compare", cmd_compare, "metric differences of two git revisions or DVC experiments"),
        ("sync", cmd_sync, "after dvc pull/checkout: make outputs newer than inputs for Snakemake"),
        ("check-profile", cmd_check_profile, "check a Snakemake profile (Slurm: placeholders, commands, controller)"),
    ]
    for name, fn, help_text in stages:
        s = sub.add_parser(name, help=help_text, description=help_text)
        s.set_defaults(func=fn)
        if name in ("train-supernet", "eval-supernet"):
            s.add_argument("--variant", default="baseline", help="a name in supernet.variants")
            s.add_argument("--seed", type=int, default=None, help="one of supernet.seeds (default: the first)")
        if name == "train-standalone":
            s.add_argument("--shard", default="1/1", help="K/N: train the K-th of N shards")
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
