"""Where every artifact of the study lives, and how super-net runs are named: the one place a path
is spelled.

The stage functions (`nas.stages`), the DVC stages (`nas.dag`), the Snakemake rules
(`workflow/rules/*.smk`), `nas.load` / `nas compare` / `nas sync` (`nas.artifacts`) all take paths
from here. Paths are relative to the project root.

A super-net *run* is one variant of `supernet.variants` trained with one of `supernet.seeds`; its
files sit under `results/supernet/<variant>/seed-<seed>/`. `Run` accepts placeholders as well as
values, so the same definition gives a real path (`Run("baseline", 0).scores`), DVC's template
(`Run("${item.variant}", "${item.seed}").scores`) and a Snakemake pattern
(`Run("{variant}", "{seed}").scores`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

def project_root(start: Path | None = None) -> Path | None:
    """The project folder: the nearest of `start` (default: the working folder) and its parents that
    holds the `nas` package's source and a params.yaml (the root, seen from a study's folder); None
    outside a project."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nas" / "__init__.py").is_file() and (folder / "params.yaml").is_file():
            return folder
    return None


SPLITS = ("train", "valid", "test")
PREPARED = Path("data/prepared")
RESULTS = Path("results")
METRICS = Path("metrics")
PLOTS = Path("plots")
LOGS = Path("logs")
# Resumable partial work: not a DVC output, so DVC never deletes it before rerunning a stage.
PROGRESS = RESULTS / ".progress"

ARCHS = RESULTS / "archs.parquet"
STANDALONE = RESULTS / "standalone.parquet"
STANDALONE_SHARDS = RESULTS / "standalone"
# A benchmark's records imported as the study's ground truth (standalone.source: benchmark), in parts.
BENCHMARK = RESULTS / "benchmark"
# Architectures a selection method picked outside the sampled pool, and their stand-alone results.
PICKS = RESULTS / "picks.parquet"
PICKS_STANDALONE = RESULTS / "picks_standalone.parquet"
CORRELATION = RESULTS / "correlation.parquet"
ZEROCOST = RESULTS / "zerocost.parquet"  # the pool's training-free scores, one column per ranker
SELECTION = RESULTS / "selection.parquet"
SELECTION_SUMMARY = RESULTS / "selection_summary.parquet"  # each method over the runs of a variant
HEURISTICS = RESULTS / "heuristics.parquet"
# Ranking stability over epochs, steps and seeds, each child's rank per seed, and interference (nas stability).
STABILITY = RESULTS / "stability.parquet"
STABILITY_RANKS = RESULTS / "stability_ranks.parquet"
INTERFERENCE = RESULTS / "interference.parquet"
REPORT = RESULTS / "report"
# The studies beside the default one: studies/<name>/, each a pipeline of its own (nas.study).
STUDIES = Path("studies")
STUDY_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"


def in_git(path) -> bool:
    """Whether a stage output is committed to git (a DVC output with `cache: false`) rather than kept in
    DVC's cache and remote: every Parquet table under results/ (kilobytes to a few megabytes), so a fresh
    clone re-opens a study's tables without a remote. The data splits, weights, checkpoints and the report
    page stay in the cache; .gitignore and studies/.gitignore ignore exactly those (a unit test checks)."""
    p = Path(path)
    return p.suffix == ".parquet" and RESULTS in p.parents and PROGRESS not in p.parents

# The columns of each Parquet artifact that readers rely on, with their kind (int, float, str, bool):
# checked on read (`io.read_parquet(path, SCHEMAS[...])`), so a file that parses but holds the wrong
# contents is a one-line error naming the file and column, not a traceback deep in a stage.
_RESULTS = {"arch_id": "int", "arch": "str", "seed": "int", "train_accuracy": "float", "valid_accuracy": "float",
            "valid_loss": "float", "test_accuracy": "float", "test_loss": "float"}
SCHEMAS = {
    "archs": {"arch_id": "int", "arch": "str", "canonical": "str"},
    "standalone": _RESULTS,  # STANDALONE, its shards, PICKS_STANDALONE
    "benchmark": {"index": "int", "arch": "str", "canonical": "str", "seed": "int", "train_accuracy": "float",
                  "valid_accuracy": "float", "test_accuracy": "float", "params": "float", "flops": "float",
                  "latency": "float", "epochs": "int"},
    "scores": {"arch_id": "int", "accuracy": "float", "loss": "float"},
    "epoch_scores": {"epoch": "int", "arch_id": "int", "accuracy": "float", "loss": "float"},
    "step_scores": {"step": "int", "arch_id": "int", "accuracy": "float", "loss": "float"},
    "history": {"epoch": "int", "lr": "float", "train_loss": "float", "train_accuracy": "float", "passes": "int"},
    "picks": {"variant": "str", "seed": "int", "method": "str", "arch_id": "int", "arch": "str", "in_pool": "bool"},
    "correlation": {"variant": "str", "seed": "int", "metric": "str", "k": "int", "value": "float",
                    "ci_low": "float", "ci_high": "float"},
    "perturbation": {"decision": "int", "phase": "str", "step": "int", "choice": "str", "op": "str", "alpha": "float", "accuracy": "float",
                     "loss": "float", "chosen": "bool"},
    "selection": {"variant": "str", "seed": "int", "method": "str", "arch_id": "int", "arch": "str",
                  "accuracy": "float", "percentile": "float", "regret": "float", "param_free": "float"},
    "selection_summary": {"variant": "str", "method": "str", "metric": "str", "runs": "int", "mean": "float",
                          "ci_low": "float", "ci_high": "float", "interval": "str", "diff": "float",
                          "diff_ci_low": "float", "diff_ci_high": "float", "diff_interval": "str",
                          "p_value": "float", "p_holm": "float", "detectable": "float"},
    "stability": {"variant": "str", "seed": "int", "series": "str", "statistic": "str", "point": "int",
                  "value": "float", "ci_low": "float", "ci_high": "float", "interval": "str"},
    "stability_ranks": {"variant": "str", "seed": "int", "arch_id": "int", "rank": "int"},
    "interference": {"variant": "str", "seed": "int", "i": "str", "j": "str", "shared": "int", "before": "float",
                     "after": "float", "change": "float"},
}

CORRELATION_JSON = METRICS / "correlation.json"
SELECTION_JSON = METRICS / "selection.json"
HEURISTICS_JSON = METRICS / "heuristics.json"
HEADLINE_JSON = METRICS / "headline.json"  # the few numbers `dvc metrics show` / `dvc exp show` list
STABILITY_JSON = METRICS / "stability.json"
HEURISTICS_CSV = PLOTS / "heuristics.csv"
# `dvc plots`: one CSV per figure, every run in it (a `run` column colours the series), drawn with the
# Vega-Lite templates in PLOT_TEMPLATES; PLOTS_HTML is the offline page template (nas.report.plots).
SCATTER_CSV = PLOTS / "scatter.csv"
CURVES_CSV = PLOTS / "curves.csv"
PLOT_TEMPLATES = Path("workflow/plots")
PLOTS_HTML = Path(".nas") / "plots.html"
# What a finished study commits beside its code (so `dvc metrics/plots diff` and `nas.load` work in a fresh
# clone):
# results, not code, so test projects and the study benchmark start without them.
COMMITTED_RESULTS = ("dvc.lock", f"{METRICS.as_posix()}/", f"{PLOTS.as_posix()}/", f"{RESULTS.as_posix()}/")


def split(name: str) -> Path:
    """One split of the prepared dataset (train, valid or test)."""
    return PREPARED / f"{name}.parquet"


def shard(k: int | str) -> Path:
    """Shard k of the stand-alone training."""
    return STANDALONE_SHARDS / f"shard-{k}.parquet"


# What each stage last ran with: the values of the params keys it tracks (`nas.dag.stamp`), an input
# of its Snakemake rule, so a params change reruns it even for outputs Snakemake did not write.
STAMPS = Path(".nas") / "params"


def benchmark_part(k: int | str) -> Path:
    """Part k of the imported benchmark records."""
    return BENCHMARK / f"part-{k}.parquet"


def params_stamp(stage: str, item: str | None = None) -> Path:
    """The params stamp of a dvc.yaml stage (`item`: the variant, for per-variant stages)."""
    return STAMPS / (f"{stage}@{item}.json" if item is not None else f"{stage}.json")


def standalone_progress(key: str) -> Path:
    """Finished (architecture, seed) results of stand-alone training with settings `key`."""
    return PROGRESS / "standalone" / key


# A variant's name is a folder name and part of DVC's params key supernet.variants.<name>: letters,
# digits, '_' and '-', no '.', at most 64 characters.
VARIANT_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"


@dataclass(frozen=True)
class Run:
    """One super-net run: a variant trained with one seed (values, or placeholders for templates)."""

    variant: str
    seed: int | str

    @property
    def name(self) -> str:
        """'variant/seed-S': the run's name in tables, metrics JSON and plot files."""
        return f"{self.variant}/seed-{self.seed}"

    @property
    def dir(self) -> Path:
        return RESULTS / "supernet" / self.variant / f"seed-{self.seed}"

    @property
    def weights(self) -> Path:
        return self.dir / "weights.pt"

    @property
    def history(self) -> Path:
        return self.dir / "history.parquet"

    @property
    def scores(self) -> Path:
        return self.dir / "scores.parquet"

    def scores_shard(self, k: int | str) -> Path:
        """Shard k of the scores, with eval.shards > 1 (merge-scores joins them into `scores`)."""
        return self.dir / "scores" / f"shard-{k}.parquet"

    def epoch_scores_shard(self, k: int | str) -> Path:
        return self.dir / "epoch_scores" / f"shard-{k}.parquet"

    def eval_progress(self, key: str) -> Path:
        """The architectures an unfinished eval-supernet job has scored with settings `key` (chunks)."""
        return PROGRESS / "eval" / f"{self.variant}-{self.seed}-{key}"

    @property
    def step_scores(self) -> Path:
        """The pool scored after each of the run's last supernet.dense_steps steps (empty when 0)."""
        return self.dir / "step_scores.parquet"

    @property
    def epoch_scores(self) -> Path:
        """The pool scored with the weights of each epoch in supernet.save_epochs and the final ones."""
        return self.dir / "epoch_scores.parquet"

    @property
    def checkpoints(self) -> Path:
        """The weights of the epochs in supernet.save_epochs (a directory)."""
        return self.dir / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.pt"

    @property
    def perturbation(self) -> Path:
        """DARTS-PT's decision log of this run (nas.selection.perturbation)."""
        return self.dir / "perturbation.parquet"

    @property
    def checkpoints_index(self) -> Path:
        """Which epochs the checkpoints directory holds: always written, so the directory (a DVC
        output) is never empty, even with save_epochs []."""
        return self.checkpoints / "epochs.json"

    @staticmethod
    def checkpoint_epoch(path: Path) -> int:
        """The epoch of a path written by `checkpoint`."""
        return int(Path(path).stem.split("-")[1])

    @property
    def timing(self) -> Path:
        """Measured training time: a measurement of the machine, not a function of the inputs, so kept
        with the logs, outside every tracked output (identical runs give an identical dvc.lock)."""
        return LOGS / "timings" / self.variant / f"seed-{self.seed}.json"

    def progress(self, key: str) -> Path:
        """The resumable training state of this run with settings `key`."""
        return PROGRESS / "supernet" / f"{self.variant}-{self.seed}-{key}.pt"

    def kept_epochs_progress(self, key: str) -> Path:
        """The supernet.save_epochs checkpoints of an unfinished run with settings `key`: kept beside its
        resume state (not in `checkpoints`, which DVC and Snakemake clear before rerunning the stage),
        so a run resumed after a kill still has the epochs it saved before."""
        return PROGRESS / "supernet" / f"{self.variant}-{self.seed}-{key}-epochs"

    def perturbation_progress(self, key: str) -> Path:
        """The resumable state of this run's perturbation selection with settings `key`."""
        return PROGRESS / "perturbation" / f"{self.variant}-{self.seed}-{key}.pt"


# Templates: the run of a DVC matrix stage and of a Snakemake rule.
DVC_RUN = Run("${item.variant}", "${item.seed}")
SNAKEMAKE_RUN = Run("{variant}", "{seed}")

# name -> path (or path of a run) of every artifact `nas.load` reads.
ARTIFACTS = {
    **{name: split(name) for name in SPLITS},
    "archs": ARCHS,
    "weights": lambda run: run.weights,
    "history": lambda run: run.history,
    "scores": lambda run: run.scores,
    "epoch_scores": lambda run: run.epoch_scores,
    "step_scores": lambda run: run.step_scores,
    "standalone": STANDALONE,
    "picks": PICKS,
    "picks_standalone": PICKS_STANDALONE,
    "correlation": CORRELATION,
    "selection": SELECTION,
    "selection_summary": SELECTION_SUMMARY,
    "heuristics": HEURISTICS,
    "stability": STABILITY,
    "stability_ranks": STABILITY_RANKS,
    "interference": INTERFERENCE,
}
# What `nas compare` reads (the headline repeats numbers of heuristics.json, so it is not among them).
METRICS_FILES = {"correlation": CORRELATION_JSON, "selection": SELECTION_JSON, "heuristics": HEURISTICS_JSON,
                 "stability": STABILITY_JSON}
