"""params.yaml -> typed, validated, frozen dataclasses.

Every section is a dataclass; each field's metadata says what values are allowed. Loading checks
every key: an unknown key names its section and the closest valid key, a wrong type or out-of-range
value names the key, the value and what is allowed. Errors are `UserError`s (one line, exit 2).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nas import spaces
from nas.io import UserError
from nas.layout import VARIANT_NAME
from nas.settings import (MAX_EPOCHS, SEED_MAX, TrainConfig, build, cut, fingerprint, merged, opt,  # noqa: F401
                          show, split_sections)  # (re-exported)


MAX_SAMPLES = 1_000_000  # MNIST-1D samples generated: about 160 MB as float32, a few minutes to make


@dataclass(frozen=True)
class DataConfig:
    dataset: str = opt("mnist1d", choices=("mnist1d", "cifar10", "cifar100"))
    root: str | None = opt(None, doc="directory of the CIFAR python-pickle batches")
    num_samples: int = opt(10000, min=100, max=MAX_SAMPLES, doc="MNIST-1D: samples generated (train part + test)")
    iid_noise_scale: float = opt(0.02, min=0.0)
    corr_noise_scale: float = opt(0.25, min=0.0)
    test_fraction: float = opt(0.5, above=0.0, below=1.0, doc="MNIST-1D: share of samples kept as test")
    valid_fraction: float = opt(0.5, above=0.0, below=1.0, doc="share of the training part held out as valid")
    augment: bool = opt(True, doc="random crop + flip for 2-D images during training")
    seed: int = opt(0, min=0, max=SEED_MAX)


@dataclass(frozen=True)
class SpaceConfig:
    name: str = opt("nb201", doc="a search space of nas.spaces.SPACES")
    channels: int = opt(8, min=1, max=1024, doc="C of the stand-alone network (stages have C, 2C, 4C)")
    cells: int = opt(1, min=1, max=64, doc="N, cells per stage of the stand-alone network")
    isomorphism: str = opt("function", doc="which cells count as one: function (same function under a mapping "
                           "of the weights) or benchmark (NAS-Bench-201's own unique strings); see the space")


@dataclass(frozen=True)
class SampleConfig:
    archs: int = opt(64, min=2, max=100_000, doc="architectures in the pool (each trained stand-alone), or "
                     "all: every isomorphism class of an enumerable space (or of the benchmark a study reads)")
    everything: bool = False  # archs written as `all`; archs is then the space's number of classes

    _internal = ("everything",)
    ALL = "all"


@dataclass(frozen=True)
class SupernetConfig(TrainConfig):
    """The super-net's training heuristics (Yu et al.); README "Super-net heuristics" documents each."""
    epochs: int = opt(50, min=1, max=MAX_EPOCHS)  # TrainConfig's fields with the default study's values
    lr: float = opt(0.1, above=0.0)
    method: str = opt("spos", doc="the super-net method: a name of nas.supernet.METHODS")
    lr_schedule: str = opt("cosine", choices=("cosine", "constant"), doc="learning rate over the steps")
    lr_min: float = opt(0.0, min=0.0, doc="where the cosine schedule ends (Zhang et al.: lr / 25)")
    channels: int | None = opt(None, min=1, max=1024, doc="C of the super-net; null = space.channels")
    cells: int | None = opt(None, min=1, max=64, doc="N of the super-net; null = space.cells")
    train_fraction: float = opt(1.0, above=0.0, max=1.0, doc="low fidelity: share of the train split used")
    bn_track: bool = opt(False, doc="batch norm keeps running statistics")
    bn_affine: bool = opt(False, doc="batch norm has a learnable scale and shift")
    eval_bn: str | None = opt(None, choices=("recalibrate", "batch", "stored"),
                              doc="how this variant's scores treat batch norm; null = eval.bn")
    sampling: str = opt("random_nas", choices=("uniform", "fairnas", "random_nas", "round_robin"),
                        doc="path sampling per step")
    warmup_epochs: int = opt(0, min=0, doc="first epochs train every operation at once (one-shot)")
    path_dropout: float = opt(0.0, min=0.0, below=1.0, doc="rate at which an edge's output is dropped")
    global_dropout: float = opt(0.0, min=0.0, below=1.0, doc="dropout on the pooled features")
    op_on: str = opt("edge", choices=("edge", "node"), doc="where the operation choice sits")
    kernel_mapping: bool = opt(False, doc="1x1 convolution uses the centre of the 3x3 kernel")
    dynamic_channels: str | None = opt(None, choices=("fixed_chunck", "random_chunck", "expand"),
                                       doc="NAS-Bench-101: how a vertex of width k takes its weights from the "
                                       "widest (Yu et al.'s names); null = fixed_chunck there, and nothing "
                                       "on a space without vertices of variable width")
    wpl_weight: float = opt(0.0, min=0.0, doc="weight plasticity loss strength (0 = off)")
    landmarks: int = opt(0, min=0, doc="landmark architectures for the ranking loss (0 = off)")
    landmark_weight: float = opt(1.0, min=0.0, doc="strength of the landmark ranking loss")
    prefix_shared: int | None = opt(None, min=0, doc="Zhang et al.: stem and first k cells shared, later cells "
                                    "private per child (null = everything shared)")
    groups: int = opt(1, min=1, doc="Zhang et al.: the children split into this many independent super-nets")
    partition: str = opt("prefix", choices=("prefix", "random", "edges"), doc="how `groups` splits the children")
    partition_seed: int | None = opt(None, min=0, max=SEED_MAX, doc="the fixed random partition's seed")
    partition_edges: list[str] = opt([], doc="partition: edges: the choices whose operations define the groups")
    sharing_compute: str = opt("per_group", choices=("per_group", "matched"),
                               doc="groups: train each group the full epochs (the paper) or match full sharing's passes")
    save_epochs: list[int] = opt([], doc="epochs whose weights are kept besides the last")
    dense_steps: int = opt(0, min=0, doc="Zhang et al.: score every pool architecture after each of the last "
                           "this many optimiser steps (0 = off)")
    dense_batch: int = opt(256, min=2, doc="dense_steps: the first this many valid samples, one fixed batch")
    seeds: list[int] = opt([0, 1], min=0, max=SEED_MAX, doc="each variant is trained once per seed")
    variants: dict = opt({"baseline": {}, "uniform": {"sampling": "uniform"}}, doc="name -> overrides of the keys above")
    # A method's own settings sit in a sub-section named after it (`supernet.darts: {...}`), so one
    # method's keys are not fields of every other's variants. `sections` holds those sub-sections as
    # written (validated against each method's `Settings`); `settings` is filled in by
    # `Config.variant` with the variant's method's resolved `Settings` (None for a method without).
    sections: dict = opt({}, doc="internal: method name -> its sub-section as written")
    settings: object = opt(None, doc="internal: the resolved settings of this variant's method")

    _internal = ("sections", "settings")  # not keys a user writes under these names


# Keys of the supernet section that are not heuristics: set once for every variant.
SUPERNET_SHARED = ("seeds", "variants") + SupernetConfig._internal


@dataclass(frozen=True)
class EvalConfig:
    bn: str = opt("recalibrate", choices=("recalibrate", "batch", "stored"))
    recalibrate_batches: int = opt(5, min=1)
    batch_size: int = opt(500, min=2)
    shards: int = opt(1, min=1, max=256, doc="eval-supernet jobs per run, each scoring every N-th architecture "
                      "(merge-scores joins them): two one-thread jobs use two cores better than one job")


@dataclass(frozen=True)
class StandaloneConfig(TrainConfig):
    """The ground truth: its source (nas.truth) and the stand-alone training keys (source: train)."""
    epochs: int = opt(8, min=1, max=MAX_EPOCHS)  # TrainConfig's fields with the default study's values
    source: str = opt("train", doc="where the ground truth comes from: a name of nas.truth.SOURCES")
    seeds: list[int] = opt([0, 1], min=0, max=SEED_MAX)
    shards: int = opt(2, min=1)
    init: str = opt("paired", choices=("paired", "independent"),
                    doc="paired: a module with the same name starts from the same weights in every architecture")
    # A source's own settings sit in a sub-section named after it (`standalone.table: {path: ...}`);
    # `settings` holds the study's source's, resolved (None for a source without).
    settings: object = opt(None, doc="internal: the resolved settings of standalone.source")

    _internal = ("settings",)
    _renamed = {"arch_column": "standalone.table.arch_column", "accuracy_column": "standalone.table.accuracy_column"}


@dataclass(frozen=True)
class CorrelateConfig:
    truth: str = opt("test", choices=("test", "valid"), doc="stand-alone split ranked against")
    topk: list[int] = opt([1, 5, 10])
    sparse_threshold: float = opt(0.1, above=0.0, doc="percentage points")
    bootstrap: int = opt(1000, min=10, max=100_000, doc="resamples; each holds every architecture's index")


@dataclass(frozen=True)
class SelectConfig:
    methods: list[str] = opt(["supernet"], doc="selection methods: names of nas.selection.SELECTORS")
    truth: str = opt("test", choices=("test", "valid"))
    # A method's own settings sit in a sub-section named after it (`select.perturbation: {...}`);
    # `settings` holds every registered method's, resolved (defaults where not written).
    settings: dict = opt({}, doc="internal: selection method name -> its resolved settings")

    _internal = ("settings",)
    _renamed = {"magnitude_none": "select.magnitude.allow_none"}


@dataclass(frozen=True)
class StabilityConfig:
    """Ranking stability and interference (Zhang et al.); README "Degree of weight sharing" documents each."""
    interference_pairs: int = opt(0, min=0, max=100_000, doc="per run: ordered pairs (i, j) of pool architectures; "
                                  "one SGD step on i, the change of j's loss (0 = off)")
    interference_lr: float = opt(0.1, above=0.0, doc="the learning rate of that one step")
    batch_size: int = opt(256, min=2, doc="the step's training batch and the valid probe batch")


# The training-free rankers (nas/zerocost.py defines each): here, as the schema's values.
ZERO_COST_RANKERS = ("params", "flops", "grad_norm", "snip", "synflow", "naswot")


@dataclass(frozen=True)
class ZeroCostConfig:
    """Training-free rankers scored on the pool and correlated like the super-nets (README, Zero-cost)."""
    rankers: list[str] = opt(list(ZERO_COST_RANKERS), doc="some of " + ", ".join(ZERO_COST_RANKERS) + " ([]: none)")
    batch_size: int = opt(64, min=2, doc="the training samples grad_norm, snip and naswot see")


@dataclass(frozen=True)
class Config:
    seed: int = opt(0, min=0, max=SEED_MAX)
    device: str = opt("auto", doc="auto | cpu | cuda | cuda:N")
    threads: int = opt(1, min=1, max=256, doc="intra-op CPU threads of every torch stage (results depend on it)")
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    standalone: StandaloneConfig = field(default_factory=StandaloneConfig)
    correlate: CorrelateConfig = field(default_factory=CorrelateConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    zerocost: ZeroCostConfig = field(default_factory=ZeroCostConfig)

    @property
    def variants(self) -> list[str]:
        return list(self.supernet.variants)

    def variant(self, name: str) -> SupernetConfig:
        """The supernet section with variant `name`'s overrides applied (and validated)."""
        if name not in self.supernet.variants:
            raise UserError(f"--variant {show(name)}: not in supernet.variants; expected one of "
                            f"{', '.join(self.supernet.variants)}")
        overrides = self.supernet.variants[name]
        overrides = {} if overrides is None else overrides
        if not isinstance(overrides, dict):
            raise UserError(f"supernet.variants.{name}: expected a mapping of overrides, got {show(overrides)}")
        where = f"supernet.variants.{name}"
        overrides, own = _split_sections(overrides, where)
        shared = [k for k in overrides if k in SUPERNET_SHARED and k not in ("variants",) + SupernetConfig._internal]
        if shared:
            raise UserError(f"{where}: {shared[0]!r} cannot be overridden per variant; "
                            f"set supernet.{shared[0]} for all variants")
        base = {f.name: getattr(self.supernet, f.name) for f in dataclasses.fields(SupernetConfig)
                if f.name not in SUPERNET_SHARED}
        base.update(overrides)
        resolved = build(SupernetConfig, base, where, exclude=SUPERNET_SHARED)
        settings = _method_settings(resolved.method, self.supernet.sections.get(resolved.method), own, where)
        return dataclasses.replace(resolved, variants={}, seeds=list(self.supernet.seeds), sections={},
                                   settings=settings)

    def run(self, variant: str = "baseline", seed: int | None = None):
        """(nas.layout.Run, the variant's settings) of the run that --variant/--seed name (seed: the
        first of supernet.seeds by default), both checked."""
        from nas import layout

        hp = self.variant(variant)
        seed = self.supernet.seeds[0] if seed is None else seed
        if seed not in self.supernet.seeds:
            raise UserError(f"--seed {seed}: not in supernet.seeds; expected one of "
                            f"{', '.join(map(str, self.supernet.seeds))}")
        return layout.Run(variant, seed), hp

    @property
    def runs(self) -> list[tuple[str, int]]:
        """Every (variant, super-net seed) pair, variants in params order."""
        return [(v, s) for v in self.variants for s in self.supernet.seeds]


MAX_DEPTH = 32  # nesting of sections, lists and mappings in a params file (the deepest written is 4)


class _ParamsLoader(yaml.SafeLoader):
    """YAML's safe loader, stricter for params files: a key given twice in one mapping is an error
    (YAML keeps the last silently), and so is an alias (`*name`): an anchor used many times can stand
    for a structure too large to validate or print (an "alias bomb")."""

    depth = 0  # how many collections the node being composed lies in

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise UserError(f"line {event.start_mark.line + 1}: YAML aliases (*{cut(event.anchor, 40)}) are not "
                            "allowed in a params file; write the value out")
        if self.depth >= MAX_DEPTH:  # refused before the composer's recursion runs out of stack
            raise UserError(f"line {self.peek_event().start_mark.line + 1}: values nested more than {MAX_DEPTH} "
                            "levels deep; a params file is a few levels of sections and lists")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise UserError(f"line {key_node.start_mark.line + 1}: key {show(key)} appears twice in one mapping")
            seen.add(key)
        return super().construct_mapping(node, deep)


def load(path: str | Path = "params.yaml") -> Config:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: params file not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ParamsLoader)  # noqa: S506 (a SafeLoader)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({cut(str(exc).splitlines()[0])})") from None
    except RecursionError:  # a structure too deep for the scanner, whatever MAX_DEPTH allows
        raise UserError(f"{path}: values nested too deep (at most {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid YAML (not UTF-8 text: byte {exc.start} is {exc.object[exc.start]:#04x})") from None
    if raw is None:
        # Every stage would otherwise run silently on the built-in defaults.
        raise UserError(f"{path}: empty params file; expected the study's sections (seed, data, space, ...)")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return from_dict(raw)


def from_dict(raw: dict) -> Config:
    if not isinstance(raw, dict):
        raise UserError(f"params: expected a mapping of sections, got {type(raw).__name__}")
    sections, own = {}, {}
    if isinstance(raw.get("supernet"), dict):
        plain, sections = _split_sections(raw["supernet"], "supernet")
        raw = {**raw, "supernet": plain}
    for name, registry in (("standalone", _sources()), ("select", _selectors())):
        if isinstance(raw.get(name), dict):
            plain, own[name] = split_sections(raw[name], registry, name)
            raw = {**raw, name: plain}
    raw, everything = _sample_all(raw)
    cfg = build(Config, raw, "")
    if everything:
        cfg = dataclasses.replace(cfg, sample=dataclasses.replace(
            cfg.sample, archs=spaces.study_space(cfg.space).num_unique(), everything=True))
    for method, section in sections.items():
        _method_settings(method, section, None, "supernet")  # each sub-section checked once, where written
    cfg = dataclasses.replace(
        cfg, supernet=dataclasses.replace(cfg.supernet, sections=sections),
        standalone=dataclasses.replace(cfg.standalone, settings=_source_settings(cfg, own.get("standalone", {}))),
        select=dataclasses.replace(cfg.select, settings=_selector_settings(cfg, own.get("select", {}))))
    _check(cfg)
    return cfg


def _sample_all(raw: dict) -> tuple[dict, bool]:
    """(raw with `sample.archs: all` taken out, whether it was there): the count is the space's,
    resolved once the space is known; an enumerable space is needed."""
    sample = raw.get("sample")
    if not (isinstance(sample, dict) and sample.get("archs") == SampleConfig.ALL):
        return raw, False
    space = build(Config, {k: v for k, v in raw.items() if k == "space"}, "").space
    if not spaces.study_space(space).enumerable:
        raise UserError(f"sample.archs: all needs a space whose classes can be listed; {space.name} has "
                        f"{spaces.get_space(space.name).size():.3g} architectures; give a number")
    return {**raw, "sample": {k: v for k, v in sample.items() if k != "archs"}}, True


def to_dict(obj) -> dict:
    """A config as a params mapping (what `from_dict` reads back): the sub-sections of methods,
    the ground-truth source and selectors where a user writes them, internal fields left out."""
    out = dataclasses.asdict(obj)
    supernet = out.get("supernet") if isinstance(obj, Config) else out if isinstance(obj, SupernetConfig) else None
    if supernet is not None:
        sections = supernet.pop("sections")
        supernet.pop("settings")
        supernet.update(sections)
    if isinstance(obj, Config):
        sample = out["sample"]
        if sample.pop("everything"):
            sample["archs"] = SampleConfig.ALL
        standalone, select = out["standalone"], out["select"]
        settings = standalone.pop("settings")
        if settings is not None:
            standalone[obj.standalone.source] = settings
        settings = select.pop("settings")
        select.update({m: settings[m] for m in obj.select.methods if m in settings})
    return out


# --- the sub-sections of registered pieces --------------------------------------------------------

def _sources() -> dict:
    from nas.truth import SOURCES

    return SOURCES


def _selectors() -> dict:
    from nas.selection import SELECTORS

    return SELECTORS


def _source_settings(cfg: Config, sections: dict):
    """The resolved settings of standalone.source from its sub-section (None for a source without);
    a sub-section of another source is an error."""
    source = cfg.standalone.source
    sources = _sources()
    if source not in sources:
        raise UserError(f"standalone.source: unknown source {show(source)}; expected one of {', '.join(sources)}")
    for name, section in sections.items():
        if name != source:
            raise UserError(f"standalone.{name}: settings of source {name!r}, but standalone.source is {source!r}")
    settings_cls = sources[source].Settings
    if settings_cls is None:
        if sections.get(source):
            raise UserError(f"standalone.{source}: source {source!r} has no settings of its own")
        return None
    return build(settings_cls, sections.get(source), f"standalone.{source}")


def _selector_settings(cfg: Config, sections: dict) -> dict:
    """{selector: resolved settings} of every registered selector with settings (defaults where not
    written); a sub-section of a method the study does not select is an error."""
    selectors = _selectors()
    for m in cfg.select.methods:
        if m not in selectors:
            raise UserError(f"select.methods: unknown method {show(m)}; expected one of {', '.join(selectors)}")
    for name, section in sections.items():
        if name not in cfg.select.methods:
            raise UserError(f"select.{name}: settings of selection method {name!r}, but select.methods does not "
                            f"list it")
        if selectors[name].Settings is None and section:
            raise UserError(f"select.{name}: selection method {name!r} has no settings of its own")
    return {name: build(sel.Settings, sections.get(name), f"select.{name}")
            for name, sel in selectors.items() if sel.Settings is not None}


def _method_names() -> dict:
    from nas.supernet import METHODS  # here: the methods import this module
    return METHODS


def _split_sections(mapping: dict, where: str) -> tuple[dict, dict]:
    """(the plain keys, {method: sub-section}) of a supernet mapping or a variant's overrides: a key
    that names a registered super-net method is that method's settings sub-section."""
    return split_sections(mapping, _method_names(), where)


def _method_settings(method: str, section: dict | None, overrides: dict | None, where: str):
    """The `Settings` of `method` from its sub-section with a variant's overrides of it (`overrides`:
    {method: sub-section} written under the variant at `where`); None if the method has none."""
    methods = _method_names()
    overrides = overrides or {}
    other = [m for m in overrides if m != method]
    if other:
        raise UserError(f"{where}.{other[0]}: settings of method {other[0]!r}, but this variant's "
                        f"supernet.method is {show(method)}")
    settings_cls = getattr(methods.get(method), "Settings", None)
    if settings_cls is None:
        given = ("supernet", section) if section else (where, overrides.get(method))
        if given[1]:
            raise UserError(f"{given[0]}.{cut(method, 40)}: method {show(method)} has no settings of its own; its keys "
                            "are supernet.* keys")
        return None
    own = overrides.get(method)
    written = merged(section or {}, own or {})
    return build(settings_cls, written, f"{where}.{method}" if own else f"supernet.{method}")


# --- validation -----------------------------------------------------------------------------------

def _check(cfg: Config):
    """Checks that span keys."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        raise UserError(f"device: {show(cfg.device)} is not allowed; expected auto, cpu, cuda or cuda:N")
    space = spaces.study_space(cfg.space)  # an unknown space or convention is the first thing named
    if cfg.space.channels < space.min_channels:
        raise UserError(f"space.channels: {cfg.space.channels} is not allowed; {_min_width(space)}")
    if cfg.data.root is not None and ("${" in cfg.data.root or "{" in cfg.data.root):
        # dvc.yaml would read ${...} as its own interpolation, Snakemake {...} as a wildcard
        raise UserError(f"data.root: {show(cfg.data.root)} is not allowed; a path without '${{' or braces")
    if cfg.data.dataset != "mnist1d" and not cfg.data.root:
        raise UserError(f"data.root: required for dataset {cfg.data.dataset} (a directory with its "
                        "python-pickle batches)")
    if not cfg.supernet.variants:
        raise UserError("supernet.variants: needs at least one variant (e.g. baseline: {})")
    seeds = cfg.supernet.seeds
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise UserError(f"supernet.seeds: {seeds} is not allowed; expected a non-empty list of distinct "
                        "integers >= 0")
    used = set()  # the methods the variants use
    for name in cfg.supernet.variants:
        # No '.': DVC and `nas dag` name a variant's params key supernet.variants.<name>.
        if not isinstance(name, str) or not re.fullmatch(VARIANT_NAME, name):
            raise UserError(f"supernet.variants: name {show(name)} must be a string of letters, digits, '_' or '-' "
                            "(at most 64)")
        sn = cfg.variant(name)
        used.add(sn.method)
        _check_heuristics(cfg, name, sn, space)
        if (sn.eval_bn or cfg.eval.bn) == "stored" and not sn.bn_track:
            where = "supernet.eval_bn" if sn.eval_bn else "eval.bn"
            raise UserError(f"{where}: 'stored' needs running statistics, but variant {show(name)} has "
                            "supernet.bn_track false; use recalibrate or batch")
        bad = [e for e in sn.save_epochs if not 1 <= e <= sn.epochs]
        if bad:
            raise UserError(f"supernet.save_epochs: {bad[0]} is not allowed; expected epochs in 1..{sn.epochs}")
    for method in cfg.supernet.sections:
        if method not in used:
            raise UserError(f"supernet.{method}: settings of method {method!r}, but no variant uses it "
                            f"(supernet.method is {show(cfg.supernet.method)})")
    for name in cfg.zerocost.rankers:
        if name not in ZERO_COST_RANKERS:
            raise UserError(f"zerocost.rankers: {show(name)} is not a ranker; expected some of "
                            f"{', '.join(ZERO_COST_RANKERS)}")
    if len(set(cfg.zerocost.rankers)) != len(cfg.zerocost.rankers):
        raise UserError(f"zerocost.rankers: {cfg.zerocost.rankers} names a ranker twice")
    sc = cfg.standalone
    if len(set(sc.seeds)) != len(sc.seeds):
        raise UserError(f"standalone.seeds: {sc.seeds} has duplicates")
    _sources()[sc.source].check(cfg)
    if cfg.eval.shards > cfg.sample.archs:
        raise UserError(f"eval.shards: {cfg.eval.shards} is more than sample.archs ({cfg.sample.archs})")
    bad = [k for k in cfg.correlate.topk if k < 1 or k > cfg.sample.archs]
    if bad:
        raise UserError(f"correlate.topk: {bad[0]} is not allowed; expected integers in 1..{cfg.sample.archs}")
    from nas.supernet import METHODS
    methods = {METHODS[cfg.variant(v).method] for v in cfg.variants}
    for m in cfg.select.methods:
        selector = _selectors()[m]
        if not any(selector.applies(method) for method in methods):
            # Refused here, before any training, rather than by `nas pick` after all of it.
            raise UserError(f"select.methods: {m!r} applies to none of this study's super-nets (supernet.method "
                            f"{', '.join(sorted(meth.name for meth in methods))}); add a variant it applies to "
                            "(e.g. supernet.method darts) or remove it")
        if selector.check is not None:
            selector.check(cfg, cfg.select.settings.get(m), space)


def _min_width(space) -> str:
    return (f"space {space.name!r} needs at least {space.min_channels} channels (NAS-Bench-101: one for each "
            "vertex that can feed a cell's output)")


def _check_heuristics(cfg: Config, name: str, sn: SupernetConfig, space) -> None:
    """The variant's method checks its own keys (e.g. heuristics that do not apply to the space)."""
    from nas.supernet import METHODS

    overrides = cfg.supernet.variants[name] or {}

    def where(k):  # where the user wrote the value
        return f"supernet.variants.{name}.{k}" if k in overrides else f"supernet.{k}"

    if sn.method not in METHODS:
        raise UserError(f"{where('method')}: unknown method {show(sn.method)}; expected one of {', '.join(METHODS)}")
    if sn.lr_min >= sn.lr:
        raise UserError(f"{where('lr_min')}: {sn.lr_min} is not allowed; expected less than the lr it decays "
                        f"from ({where('lr')}: {sn.lr})")
    if (why := space.dynamic_channels_refusal(sn.dynamic_channels)) is not None:  # whatever the method
        raise UserError(f"{where('dynamic_channels')}: {why}")
    if sn.channels is not None and sn.channels < space.min_channels:
        raise UserError(f"{where('channels')}: {sn.channels} is not allowed; {_min_width(space)}")
    METHODS[sn.method].check(where, sn, space, cfg.sample.archs, cfg.correlate.topk)
    from nas.supernet import sharing
    if sharing.is_partial(sn) and METHODS[sn.method].architecture_weights:
        raise UserError(f"{where('groups' if sn.groups > 1 else 'prefix_shared')}: partial sharing routes each "
                        f"child to its own weights; supernet.method {sn.method!r} mixes every operation at once")
    sharing.check(where, sn, space, sn.cells or cfg.space.cells)
