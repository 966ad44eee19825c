"""The registries' shared parts: a registry of named classes, and a stage a registered piece adds.

A ground-truth source (`nas.truth`) or a selection method (`nas.selection`) may need a pipeline
stage that the fixed DAG does not have: stand-alone training runs in shards before the results are
merged (`train-standalone`), DARTS-PT's perturbation selection runs once per super-net run before the
picks are made (`perturb`). The piece declares the stage with `OwnStage`; `nas dag` writes its DVC
stage from the piece's spec, the Snakefile makes one rule of it, and `nas <name>` runs it. Nothing
outside the piece's own file names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nas.io import UserError
from nas.settings import show


class Registry(dict):
    """{name: class} of one kind of registered piece (super-net methods, ground-truth sources), filled
    by `register` (a class decorator reading the class's `name`); `lookup` names the params key on an
    unknown name."""

    def __init__(self, kind: str, key: str):
        super().__init__()
        self.kind, self.key = kind, key

    def register(self, cls):
        if not cls.name or cls.name in self:
            raise ValueError(f"{self.kind} name {cls.name!r} is empty or already taken")
        self[cls.name] = cls
        return cls

    def lookup(self, name):
        try:
            return self[name]
        except (KeyError, TypeError):
            raise UserError(f"{self.key}: unknown {self.kind} {show(name)}; expected one of {', '.join(self)}") from None


@dataclass(frozen=True)
class OwnStage:
    """A stage a registered piece adds to the DAG.

    name     the stage, its `nas` subcommand and (with '-' as '_') its Snakemake rule
    help     one line for `nas --help`
    per      "run": one job per super-net run (--variant, --seed); "shard": one per stand-alone shard
             (--shard K/N; --workers), `foreach` over the shards in dvc.yaml
    run      run(cfg, **options) -> the paths written (options: variant and seed, or shard and workers)
    threads  what the Snakemake rule reserves: "params" (the `threads` key) or a number of processes
    mem_mb, runtime   the Snakemake rule's resources (MB, minutes), overridable in a profile
    """

    name: str
    help: str
    per: str
    run: Callable
    threads: int | str = "params"
    mem_mb: int = 8000
    runtime: int = 240

    @property
    def rule(self) -> str:
        return self.name.replace("-", "_")
