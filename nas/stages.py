"""The pipeline's stages: one function each, (config, the run or shard it is asked for) in, its
artifacts written (atomically), their paths returned.

This is the file plumbing between `nas.layout` (where things are) and the library (what they are):
read the inputs a stage needs, call the library, write what it returns. `nas.cli` maps a subcommand
onto one of these functions; `dvc.yaml` and the Snakemake rules call those subcommands. Nothing here
computes a result itself, so tests and notebooks can call the library directly, and these functions
in-process on a project directory.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nas import codedeps
from nas import config as config_mod
from nas import io
from nas import layout as L
from nas.config import Config
from nas.io import UserError


def stamp_params(cfg: Config, command: str, variant: str | None = None) -> None:
    """Record the params a stage command runs with, before it writes anything (see nas.dag's params
    stamps): the stage of dvc.yaml it is, and its variant where its params are per variant."""
    from nas import dag

    if variant is not None and variant not in cfg.supernet.variants:
        return  # the stage itself refuses it, with its message
    stage = dag.supernet_stage(cfg, variant or cfg.variants[0]) if command == "train-supernet" else command
    if stage in dag.stages(cfg, code=False):
        dag.stamp(cfg, stage, dag.stamp_item(cfg, stage, variant or cfg.variants[0]))


def runs(cfg: Config) -> list[L.Run]:
    return [L.Run(v, s) for v, s in cfg.runs]


def use_threads(cfg: Config) -> None:
    """Set PyTorch's intra-op CPU threads from params (`threads`): CPU results depend on the thread
    count (a reduction split over more threads adds in another order), so the stage sets it itself,
    the same under `dvc repro`, Snakemake and a shell. Stand-alone networks always train on one
    thread per worker process."""
    import torch

    torch.set_num_threads(cfg.threads)


# --- data and architectures -----------------------------------------------------------------------

def prepare(cfg: Config) -> list[Path]:
    from nas import data

    d = cfg.data
    splits = data.prepare(d.dataset, d.root, d.valid_fraction, d.seed, num_samples=d.num_samples,
                          iid_noise_scale=d.iid_noise_scale, corr_noise_scale=d.corr_noise_scale,
                          test_fraction=d.test_fraction)
    for name in L.SPLITS:
        data.write_split(splits[name], L.split(name), d.dataset, data.NUM_CLASSES[d.dataset])
    return [L.split(n) for n in L.SPLITS]


def sample(cfg: Config) -> list[Path]:
    from nas import data, spaces, truth

    space = spaces.study_space(cfg.space)
    train = L.split("train")
    if not train.is_file():
        raise UserError(f"{train}: file not found (run `nas prepare` first)")
    shape, classes = data.split_info(train)  # the metadata, checked against the rows
    candidates = truth.source_for(cfg).candidates()
    if candidates is None:
        pool = space.sample(cfg.sample.archs, cfg.seed)
    else:  # the source covers part of the space (a benchmark): draw among what it holds
        n = len(candidates) if cfg.sample.everything else cfg.sample.archs
        if n > len(candidates):
            raise UserError(f"sample.archs: {n} is more than the {len(candidates)} distinct cells the ground-truth "
                            f"source holds ({cfg.standalone.source}); lower it or write all")
        order = np.random.default_rng(cfg.seed).permutation(len(candidates))[:n]
        pool = [space.parse(candidates[i]) for i in order]
    rows = []
    for arch_id, arch in enumerate(pool):
        params, flops = space.count_params_flops(arch, cfg.space.channels, cfg.space.cells, shape, classes)
        rows.append({"arch_id": arch_id, "arch": space.format(arch), "canonical": space.canonical(arch),
                     "params": params, "flops": flops})
    df = pd.DataFrame(rows).astype({"arch_id": "int64", "params": "int64", "flops": "int64"})
    io.write_parquet(df, L.ARCHS, metadata={"space": cfg.space.name})
    return [L.ARCHS]


# --- the super-net --------------------------------------------------------------------------------

def train_supernet(cfg: Config, variant: str = "baseline", seed: int | None = None) -> list[Path]:
    from nas import data, spaces, supernet
    from nas.train import resolve_device, seed_everything

    run, hp = cfg.run(variant, seed)
    use_threads(cfg)
    space = spaces.study_space(cfg.space)
    device = resolve_device(cfg.device)
    train = data.load_split(L.split("train"))
    landmark_ids, landmarks = [], None
    if hp.landmarks:
        landmark_ids, landmarks = supernet.choose_landmarks(
            _landmark_inputs(hp.landmarks), hp.landmarks, cfg.seed, space)
    seed_everything(run.seed)
    method = supernet.method_for(space, hp)
    net = method.build(cfg.space.channels, cfg.space.cells, train)
    # Everything that changes the arithmetic names the resume state, the thread count too: a run
    # killed under one setting never resumes under another.
    key = config_mod.fingerprint(hp, cfg.space, run.seed, cfg.data.augment, data.splits_fingerprint(["train"]),
                                 device.type, landmarks and [(a, round(acc, 9)) for a, acc in landmarks],
                                 {"threads": cfg.threads}, codedeps.package_digest())
    state = run.progress(key)
    meta = supernet.checkpoint_meta(cfg.space, hp, train, landmark_ids, run.variant, run.seed)
    epoch_seconds, last = [], [time.perf_counter()]
    kept = run.kept_epochs_progress(key)

    def on_epoch(epoch, model):
        now = time.perf_counter()
        epoch_seconds.append(now - last[0])
        last[0] = now
        if epoch in hp.save_epochs:
            io.save_checkpoint(supernet.checkpoint(model, meta, epoch), kept / run.checkpoint(epoch).name)

    augment = data.random_crop_flip if cfg.data.augment and len(train.shape) == 3 else None
    valid = data.load_split(L.split("valid")) if method.needs_valid or hp.dense_steps else None
    dense = _dense_scores(cfg, hp, space, valid, landmark_ids, device) if hp.dense_steps else None
    history = supernet.base.train(method, net, train, run.seed, device, state, augment, on_epoch, landmarks, valid,
                                  dense)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    for p in run.checkpoints.glob("epoch-*.pt"):  # epochs no longer in save_epochs
        if L.Run.checkpoint_epoch(p) not in hp.save_epochs:
            p.unlink()
    for epoch in sorted(hp.save_epochs):  # from the progress area, where a resumed run finds them too
        source = kept / run.checkpoint(epoch).name
        if not source.is_file():
            raise UserError(f"{source}: the checkpoint of epoch {epoch} (supernet.save_epochs) is missing from this "
                            f"run's resume state; delete {state} and rerun the stage (deleting it is safe)")
        io.write_bytes(source.read_bytes(), run.checkpoint(epoch))
    io.write_json({"epochs": sorted(hp.save_epochs),
                   "files": [run.checkpoint(e).name for e in sorted(hp.save_epochs)]}, run.checkpoints_index)
    io.save_checkpoint(supernet.checkpoint(net, meta, hp.epochs), run.weights)
    io.write_parquet(history, run.history)
    io.write_parquet(dense.frame() if dense is not None else supernet.base.DenseScores([], None, 0).frame(),
                     run.step_scores)
    # Wall time is a measurement of the machine, not a function of the inputs: it lives with the logs,
    # outside every tracked output, so identical runs give identical artifacts and dvc.lock.
    io.write_json({"seconds": round(sum(epoch_seconds), 3), "epochs_timed": len(epoch_seconds),
                   "epoch_seconds": [round(s, 3) for s in epoch_seconds]}, run.timing)
    state.unlink(missing_ok=True)
    shutil.rmtree(kept, ignore_errors=True)
    return [run.weights, run.history, run.step_scores, run.checkpoints, run.timing]


def _dense_scores(cfg: Config, hp, space, valid, landmark_ids: list[int], device):
    """The dense scoring of a run (supernet.dense_steps): the pool less its landmarks, on the first
    supernet.dense_batch valid samples."""
    from nas import supernet

    if hp.dense_batch > len(valid.y):
        raise UserError(f"supernet.dense_batch: {hp.dense_batch} is more than the {len(valid.y)} samples of the "
                        f"valid split; expected at most {len(valid.y)}")
    archs = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    pool = [(int(i), space.parse(a)) for i, a in zip(archs["arch_id"], archs["arch"]) if int(i) not in landmark_ids]
    batch = (valid.x[:hp.dense_batch].to(device), valid.y[:hp.dense_batch].to(device))
    return supernet.base.DenseScores(pool, batch, hp.dense_steps)


def _landmark_inputs(count: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sampled pool and the stand-alone results the landmarks are drawn from and ordered by."""
    if not L.STANDALONE.is_file():
        raise UserError(f"supernet.landmarks: {count} landmarks need stand-alone results, but {L.STANDALONE} "
                        "does not exist (run merge-standalone first; dvc repro and snakemake order this for you)")
    return io.read_parquet(L.ARCHS, L.SCHEMAS["archs"]), io.read_parquet(L.STANDALONE, L.SCHEMAS["standalone"])


def eval_supernet(cfg: Config, variant: str = "baseline", seed: int | None = None, shard: str = "1/1") -> list[Path]:
    """Score the pool with a run's shared weights (and with each epoch it kept); with eval.shards N > 1,
    shard K scores every N-th architecture from the K-th and writes its own files (merge-scores joins
    them). Resumable: finished chunks of architectures are kept (nas.evaluate.CHUNK)."""
    from nas import data, evaluate, spaces, supernet
    from nas.train import resolve_device
    from nas.settings import parse_shard, shard_of

    run, hp = cfg.run(variant, seed)
    k, n = parse_shard(shard)
    if n != cfg.eval.shards:
        raise UserError(f"--shard {shard}: N must equal eval.shards ({cfg.eval.shards})")
    use_threads(cfg)
    net, meta = supernet.load(run.weights, cfg.space.name)
    archs = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    # Landmarks were trained on their stand-alone ranking: scoring them would grade the super-net on
    # its own answers.
    archs = archs[~archs["arch_id"].isin(meta.get("landmarks") or [])].reset_index(drop=True)
    archs = shard_of(archs, k, n).reset_index(drop=True)
    e = cfg.eval
    bn = hp.eval_bn or e.bn
    valid, train = data.load_split(L.split("valid")), data.load_split(L.split("train"))

    def score(path, weights):
        key = config_mod.fingerprint(hashlib.sha256(path.read_bytes()).hexdigest(), bn, e.recalibrate_batches, e.batch_size,
                          cfg.seed, cfg.device, cfg.threads, cfg.space, archs["arch"].tolist(),
                          codedeps.package_digest())
        return evaluate.score_archs(weights, archs, spaces.study_space(cfg.space), valid, train, bn,
                                    e.recalibrate_batches, e.batch_size, cfg.seed, resolve_device(cfg.device),
                                    progress=run.eval_progress(key))
    scores = score(run.weights, net)
    # Every epoch kept by supernet.save_epochs is scored the same way, so the ranking can be followed
    # over training time (nas.stability); the last epoch's scores are the final ones above.
    kept = io.read_json(run.checkpoints_index).get("epochs", []) if run.checkpoints_index.is_file() else []
    by_epoch = [score(run.checkpoint(epoch), supernet.load(run.checkpoint(epoch), cfg.space.name)[0]).assign(epoch=epoch)
                for epoch in kept if epoch != meta["epoch"]] + [scores.assign(epoch=meta["epoch"])]
    epochs = pd.concat(by_epoch, ignore_index=True)[list(L.SCHEMAS["epoch_scores"])].astype({"epoch": "int64"})
    out = (run.scores, run.epoch_scores) if n == 1 else (run.scores_shard(k), run.epoch_scores_shard(k))
    io.write_parquet(scores, out[0])
    io.write_parquet(epochs, out[1])
    return list(out)


def merge_scores(cfg: Config, variant: str = "baseline", seed: int | None = None) -> list[Path]:
    """A run's scores from its eval-supernet shards (eval.shards > 1), in the order one job writes them."""
    run, _ = cfg.run(variant, seed)
    n = cfg.eval.shards
    scores = pd.concat([io.read_parquet(run.scores_shard(k), L.SCHEMAS["scores"]) for k in range(1, n + 1)],
                       ignore_index=True).sort_values("arch_id", kind="stable").reset_index(drop=True)
    epochs = pd.concat([io.read_parquet(run.epoch_scores_shard(k), L.SCHEMAS["epoch_scores"]) for k in range(1, n + 1)],
                       ignore_index=True).sort_values(["epoch", "arch_id"], kind="stable").reset_index(drop=True)
    io.write_parquet(scores, run.scores)
    io.write_parquet(epochs, run.epoch_scores)
    return [run.scores, run.epoch_scores]


# --- the stand-alone ground truth -----------------------------------------------------------------
# Where it comes from is the registered source standalone.source names (nas.truth); stages of a
# source's own (train-standalone) are run by `nas.cli` from the registry.

def merge_standalone(cfg: Config) -> list[Path]:
    from nas import truth

    archs = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    io.write_parquet(truth.source_for(cfg).pool(archs), L.STANDALONE)
    return [L.STANDALONE]


# --- analysis -------------------------------------------------------------------------------------

def _truth(split: str, picks: bool = False) -> pd.DataFrame:
    """arch_id, arch, accuracy: the stand-alone accuracy on `split`, mean over seeds (of the sampled
    pool, and with `picks` of the architectures selected outside it too)."""
    from nas import standalone

    results = [io.read_parquet(L.STANDALONE, L.SCHEMAS["standalone"])] + ([io.read_parquet(L.PICKS_STANDALONE, L.SCHEMAS["standalone"])] if picks else [])
    return standalone.mean_over_seeds(pd.concat(results, ignore_index=True), split)


def _scores(cfg: Config) -> dict[L.Run, pd.DataFrame]:
    out = {}
    for run in runs(cfg):
        if not run.scores.is_file():
            raise UserError(f"{run.scores}: not found for variant {run.variant!r}, seed {run.seed} (if you added "
                            "the variant or seed to params.yaml, run `nas dag` to update dvc.yaml, then `dvc repro`)")
        out[run] = io.read_parquet(run.scores, L.SCHEMAS["scores"])
    return out


def zero_cost(cfg: Config) -> list[Path]:
    """Every pool architecture's training-free scores (nas/zerocost.py): no training."""
    from nas import data, spaces, zerocost
    from nas.train import resolve_device

    use_threads(cfg)
    space = spaces.study_space(cfg.space)
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    train = data.load_split(L.split("train"))
    z = cfg.zerocost
    if z.batch_size > len(train.y):
        raise UserError(f"zerocost.batch_size: {z.batch_size} is more than the {len(train.y)} samples of the train "
                        f"split; expected at most {len(train.y)}")
    table = zerocost.score_pool(space, pool, z.rankers, cfg.space.channels, cfg.space.cells, train, z.batch_size,
                                cfg.seed, resolve_device(cfg.device))
    io.write_parquet(table, L.ZEROCOST)
    return [L.ZEROCOST]


def correlate(cfg: Config) -> list[Path]:
    from nas import metrics, metrics_files, standalone, zerocost

    c = cfg.correlate
    truth = _truth(c.truth)
    scored = None
    if cfg.zerocost.rankers:  # the training-free rankers' scores of the same pool
        scored = truth.merge(io.read_parquet(L.ZEROCOST), on="arch_id", how="inner", validate="one_to_one")
        if len(scored) != len(truth):
            raise UserError(f"{L.ZEROCOST}: scores {len(scored)} of the pool's {len(truth)} architectures (rerun "
                            "`nas zero-cost`)")
    tables = []
    for run, scores in _scores(cfg).items():
        both = standalone.aligned(truth, scores, run.variant)
        t = metrics.correlation_table(both["accuracy_truth"], both["accuracy_score"], c.topk,
                                      c.sparse_threshold, c.bootstrap, cfg.seed)
        tables.append(t.assign(variant=run.variant, seed=run.seed))
        if scored is not None:  # the run against each ranker: the difference of tau, paired over architectures
            free = both[["arch_id", "accuracy_truth", "accuracy_score"]].merge(scored, on="arch_id")
            rows = [(metrics.MINUS + r, *metrics.paired_difference(
                metrics.kendall_tau, free["accuracy_truth"], free["accuracy_score"],
                zerocost.for_ranking(free[r]), c.bootstrap, cfg.seed)) for r in cfg.zerocost.rankers]
            tables.append(pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"]).assign(
                k=pd.NA, variant=run.variant, seed=run.seed))
    for ranker in cfg.zerocost.rankers:  # each ranker against the same truth with the same statistics
        t = metrics.correlation_table(scored["accuracy"], zerocost.for_ranking(scored[ranker]), c.topk,
                                      c.sparse_threshold, c.bootstrap, cfg.seed)
        tables.append(t.assign(variant=metrics.ZERO_COST + ranker, seed=cfg.seed))
    tables.append(metrics.seed_to_seed_row(io.read_parquet(L.STANDALONE, L.SCHEMAS["standalone"]), c.truth, c.bootstrap, cfg.seed))
    table = metrics.correlation_long(tables)
    io.write_parquet(table, L.CORRELATION)
    io.write_json(metrics_files.correlation_json(table), L.CORRELATION_JSON)
    return [L.CORRELATION, L.CORRELATION_JSON]


def stability(cfg: Config) -> list[Path]:
    """Ranking stability of every run over its scored epochs and last steps, each variant over its
    seeds, and (stability.interference_pairs) interference between children (Zhang et al.)."""
    from nas import metrics_files
    from nas import stability as st
    from nas.report import text

    truth = _truth(cfg.correlate.truth).set_index("arch_id")["accuracy"]
    trajectories, passes = {}, {}
    for run in runs(cfg):
        steps = io.read_parquet(run.step_scores, L.SCHEMAS["step_scores"])
        trajectories[(run.variant, run.seed)] = {
            "epoch": st.trajectory(io.read_parquet(run.epoch_scores, L.SCHEMAS["epoch_scores"]), "epoch"),
            "step": st.trajectory(steps, "step") if len(steps) else None}
        passes[(run.variant, run.seed)] = int(io.read_parquet(run.history, L.SCHEMAS["history"])["passes"].sum())
    table, ranks = st.stability_table(trajectories, truth, passes)
    effects = _interference(cfg)
    if len(effects):
        table = pd.concat([table, st.interference_rows(effects)], ignore_index=True)
    io.write_parquet(table, L.STABILITY)
    io.write_parquet(ranks, L.STABILITY_RANKS)
    io.write_parquet(effects, L.INTERFERENCE)
    io.write_json(metrics_files.stability_json(table), L.STABILITY_JSON)
    print(text.stability_text(table))
    return [L.STABILITY, L.STABILITY_RANKS, L.INTERFERENCE, L.STABILITY_JSON]


def _interference(cfg: Config) -> pd.DataFrame:
    """One SGD step on child i, the change of child j's loss, for stability.interference_pairs pairs
    of the pool (the same pairs, training batch and probe batch for every run)."""
    columns = list(L.SCHEMAS["interference"])
    sc = cfg.stability
    if not sc.interference_pairs:  # no super-net to load: the stage runs without torch
        return pd.DataFrame({c: pd.Series(dtype={"str": "object", "int": "int64", "float": "float64"}[k])
                             for c, k in L.SCHEMAS["interference"].items()})
    import torch

    from nas import data, interference, spaces, supernet
    from nas.train import resolve_device

    use_threads(cfg)
    device = resolve_device(cfg.device)
    space = spaces.study_space(cfg.space)
    train, valid = data.load_split(L.split("train")), data.load_split(L.split("valid"))
    for name, split in (("train", train), ("valid", valid)):
        if sc.batch_size > len(split.y):
            raise UserError(f"stability.batch_size: {sc.batch_size} is more than the {len(split.y)} samples of the "
                            f"{name} split; expected at most {len(split.y)}")
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    pairs = interference.sample_pairs([space.parse(a) for a in pool["arch"]], sc.interference_pairs, cfg.seed)
    chosen = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(cfg.seed))[:sc.batch_size]
    batch = (train.x[chosen].to(device), train.y[chosen].to(device))
    probe = (valid.x[:sc.batch_size].to(device), valid.y[:sc.batch_size].to(device))
    tables = []
    for run in runs(cfg):
        net, _ = supernet.load(run.weights, cfg.space.name)
        effects = interference.pair_effects(net.to(device), space, pairs, batch, probe, sc.interference_lr)
        tables.append(effects.assign(variant=run.variant, seed=run.seed))
    return pd.concat(tables, ignore_index=True)[columns].astype({"seed": "int64", "shared": "int64"})


def pick(cfg: Config) -> list[Path]:
    """Each selection method's architecture for each run; picks outside the pool get new arch_ids."""
    from nas import data, selection, spaces, supernet

    space = spaces.study_space(cfg.space)
    pool = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])

    def load_supernet(run):
        use_threads(cfg)  # a selector that reads the super-net computes; one that reads scores needs no torch
        return supernet.load(run.weights, cfg.space.name)

    picks, skipped = [], {}
    for run, scores in _scores(cfg).items():
        context = selection.Context(space=space, run=run, scores=scores, pool=pool, seed=cfg.seed,
                                    load_supernet=lambda run=run: load_supernet(run),
                                    load_valid=lambda: data.load_split(L.split("valid")),
                                    settings=cfg.select.settings)
        picks.append(selection.pick(context, cfg.select.methods, skipped))
    table = pd.concat(picks, ignore_index=True)
    for method in cfg.select.methods:
        if not (table["method"] == method).any():  # it applied to no run: say why, as it said for the first
            raise skipped[method]
    table = selection.number_picks(table, pool)
    io.write_parquet(table, L.PICKS)
    return [L.PICKS]


def train_picks(cfg: Config, workers: int = 0) -> list[Path]:
    """The ground truth of the picks outside the sampled pool, from the pool's source with the pool's
    settings (trained, or looked up)."""
    from nas import selection, spaces, standalone, truth

    outside = selection.outside_pool(io.read_parquet(L.PICKS, L.SCHEMAS["picks"]))
    if outside.empty:
        results = standalone.empty_results()
    else:
        space = spaces.study_space(cfg.space)
        results = truth.source_for(cfg).lookup(outside.assign(canonical=[space.canonical(a) for a in outside["arch"]]),
                                               workers)
    io.write_parquet(results, L.PICKS_STANDALONE)
    return [L.PICKS_STANDALONE]


def select(cfg: Config) -> list[Path]:
    from nas import metrics_files, selection, spaces, standalone
    from nas.report import text

    truth = _truth(cfg.select.truth, picks=True)
    # Each run is judged against the pool it scored (the sampled pool less its landmarks).
    pools = {(run.variant, run.seed): standalone.scored_truth(truth, scores, run.variant)["arch_id"].to_numpy()
             for run, scores in _scores(cfg).items()}
    space = spaces.study_space(cfg.space)
    from nas import truth as truth_sources

    table = selection.selection_table(io.read_parquet(L.PICKS, L.SCHEMAS["picks"]), truth, pools,
                                      space.parameter_free_count, truth_sources.source_for(cfg).skips_missing)
    summary = selection.selection_summary(table)
    io.write_parquet(table, L.SELECTION)
    io.write_parquet(summary, L.SELECTION_SUMMARY)
    io.write_json(metrics_files.selection_json(table), L.SELECTION_JSON)
    print(text.selection_summary_text(summary))
    return [L.SELECTION, L.SELECTION_SUMMARY, L.SELECTION_JSON]


def _timing(run: L.Run) -> dict:
    """A run's measured training time ({} when it was not recorded)."""
    timing = io.read_json(run.timing) if run.timing.is_file() else {}
    if not isinstance(timing, dict):
        raise UserError(f"{run.timing}: expected a JSON object with 'seconds'; rerun its train-supernet stage")
    return timing


def _costs(cfg: Config) -> pd.DataFrame:
    """Training cost per run: passes (from history.parquet, deterministic) and seconds (measured)."""
    rows = []
    for run in runs(cfg):
        history = io.read_parquet(run.history, L.SCHEMAS["history"])
        rows.append({"variant": run.variant, "seed": run.seed, "passes": int(history["passes"].sum()),
                     "seconds": _timing(run).get("seconds", float("nan"))})
    return pd.DataFrame(rows).astype({"variant": "str", "seed": "int64", "passes": "int64", "seconds": "float64"})


def _heuristics_table(cfg: Config) -> pd.DataFrame:
    from nas import heuristics

    return heuristics.heuristics_table(io.read_parquet(L.CORRELATION, L.SCHEMAS["correlation"]), io.read_parquet(L.SELECTION, L.SCHEMAS["selection"]), _costs(cfg),
                                       cfg.variants)


def heuristics(cfg: Config) -> list[Path]:
    from nas import metrics_files
    from nas.report import text

    table = _heuristics_table(cfg)
    # Seconds measure the machine, not the inputs: kept out of the artifacts (byte-identical between
    # runs), shown in the printed table only.
    deterministic = table[table["metric"] != "seconds"].reset_index(drop=True)
    io.write_parquet(deterministic, L.HEURISTICS)
    io.write_json(metrics_files.heuristics_json(deterministic), L.HEURISTICS_JSON)
    io.write_json(metrics_files.headline_json(deterministic, io.read_parquet(L.CORRELATION, L.SCHEMAS["correlation"])),
                  L.HEADLINE_JSON)
    with pd.option_context("display.max_rows", None, "display.max_columns", None):
        print(text.heuristics_wide(table).to_string(index=False, line_width=150))  # columns wrap, no 400-char lines
    return [L.HEURISTICS, L.HEURISTICS_JSON, L.HEADLINE_JSON]


def _provenance() -> str:
    """What made the report: a fingerprint of the code (every .py file of the nas package), which identical
    runs share, unlike a time or a git state (the report is a tracked output: its bytes are in dvc.lock)."""
    import hashlib

    from nas import codedeps

    h = hashlib.sha256()
    for module, path in sorted(codedeps.modules().items()):
        h.update(module.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"Made by the nas code with fingerprint {h.hexdigest()[:16]} (sha256 of its modules), with these params:"


def _degrees(cfg: Config) -> pd.DataFrame:
    """variant, form, k, g, partition, compute: how much each variant's super-net shares."""
    from nas import stability as st

    return pd.DataFrame([{"variant": v, **st.degree_of_sharing(cfg.variant(v), cfg.variant(v).cells or cfg.space.cells)}
                         for v in cfg.variants])


def _own_outputs(cfg: Config) -> dict[str, dict[str, pd.DataFrame]]:
    """{selection method: {run name: what its own stage wrote for the run}} (DARTS-PT's decision logs)."""
    from nas import dag
    from nas.selection import SELECTORS

    return {name: {L.Run(v, s).name: io.read_parquet(SELECTORS[name].writes(L.Run(v, s)), L.SCHEMAS[SELECTORS[name].schema])
                   for v in group for s in cfg.supernet.seeds}
            for name, group in dag.selector_runs(cfg).items()}


def report(cfg: Config) -> list[Path]:
    from nas import metrics_files, spaces
    from nas.report import page, plots
    from nas.report.figures.bias import operation_bias
    from nas.report.figures.heuristics import heuristics_figure

    all_runs = runs(cfg)
    scores = {run.name: s for run, s in _scores(cfg).items()}
    histories = {run.name: io.read_parquet(run.history, L.SCHEMAS["history"]) for run in all_runs}
    correlation = io.read_parquet(L.CORRELATION, L.SCHEMAS["correlation"])
    correlation["variant"] = [metrics_files.run_label(v, s) for v, s in zip(correlation["variant"], correlation["seed"])]
    selection = io.read_parquet(L.SELECTION, L.SCHEMAS["selection"])
    selection["variant"] = [L.Run(v, s).name for v, s in zip(selection["variant"], selection["seed"])]
    summary = io.read_parquet(L.SELECTION_SUMMARY, L.SCHEMAS["selection_summary"])
    own = _own_outputs(cfg)  # what the selection methods' own stages wrote (DARTS-PT's decision logs)
    # Seconds measure the machine: left out of the report, a tracked output (shown by `nas heuristics`).
    table = _heuristics_table(cfg)
    table = table[table["metric"] != "seconds"].reset_index(drop=True)
    truth = _truth(cfg.correlate.truth)
    space = spaces.study_space(cfg.space)
    archs = io.read_parquet(L.ARCHS, L.SCHEMAS["archs"])
    bias = operation_bias(archs, truth, scores, lambda a: space.operations(space.parse(a)))
    paths = page.write_report(
        L.REPORT, archs=archs, truth=truth,
        standalone=io.read_parquet(L.STANDALONE, L.SCHEMAS["standalone"]), scores=scores,
        histories=histories, heuristics=table, bias=bias, provenance=_provenance(),
        correlation=correlation.drop(columns="seed"), selection=selection.drop(columns="seed"),
        params=config_mod.to_dict(cfg), truth_split=cfg.correlate.truth, summary=summary, own=own,
        stability=io.read_parquet(L.STABILITY, L.SCHEMAS["stability"]),
        ranks=io.read_parquet(L.STABILITY_RANKS, L.SCHEMAS["stability_ranks"]), degrees=_degrees(cfg),
        # With one run there is nothing to aggregate or compare.
        **({"heuristics_html": page.heuristics_html(table), "heuristics_figure": heuristics_figure(table)}
           if len(all_runs) > 1 else {}))
    # One CSV per figure with every run; its `run` column gives each run its colour in `dvc plots`.
    for frame, path in ((plots.scatter_frame(truth, scores), L.SCATTER_CSV), (plots.curves_frame(histories), L.CURVES_CSV)):
        io.write_text(frame.rename(columns={"variant": "run"}).to_csv(index=False, float_format="%.6g"), path)
        paths.append(path)
    io.write_text(plots.heuristics_effect_frame(table).to_csv(index=False, float_format="%.6g"), L.HEURISTICS_CSV)
    paths.append(L.HEURISTICS_CSV)
    return paths
