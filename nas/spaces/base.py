"""The interface every search space implements (`SearchSpace`), and the default super-net choice.

A space names its decisions as `Choice`s: each has a key, the candidate operations a super-net holds
weights for, and optionally a group of choices that compete (e.g. the input edges of a DARTS node,
of which `keep` are used). An architecture is the space's own hashable value (NB201: a tuple of 6
operation names); `to_picks` / `from_picks` convert it to and from {choice key: candidate}, the
architecture dict of NNI. A space whose architectures obey a rule beyond their candidates and groups
(NAS-Bench-101: at most 9 edges, a path from input to output) says which picks break it in
`violation`; `constrained` is True for such a space and for one with groups (its picks are not free:
a sampler draws `random_arch`, not independent picks).

Networks: `build(arch, ...)` is a stand-alone network called as `net(x)`; `build_supernet(net, choice)`
is the weight-sharing network called as `net(x, arch)`, built from one `NetworkSettings` value (size,
input, classes, batch-norm form, op placement, kernel mapping, dropout; also what its checkpoint
stores), whose per-choice modules come from a factory the super-net method supplies (`choice(c,
candidates) -> module`, forward `(x, pick) -> Tensor | None`). The default factory `single_path` runs
the picked candidate; a DARTS mixture would weight them all.

This module, like every space's own, imports no torch: the networks are built from `nas.spaces.ops`
and a space's network module, imported when a network is built, so the config and the stages that
build none (correlation, selection tables, the report) start without torch.

Generic logic lives here: the picks round trip and its checks, the size of a space with groups,
uniform sampling of distinct architectures (by permutation of the enumeration when the space is
small enough, else by uniform draws over the picks), and isomorphism classes from `canonical`.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import itertools
import reprlib
from dataclasses import dataclass
from typing import Callable, ClassVar, TYPE_CHECKING

import numpy as np

from nas.io import UserError
from nas.settings import show

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    from torch import nn

MAX_ARCH_CHARS = 10_000  # the longest architecture string read (a DARTS genotype has about 330)
ARCH_SHOWN = 200         # how much of one an error quotes


def shown(arch) -> str:
    """An architecture (string or picks) as an error quotes it: cut to a readable length."""
    return show(arch, ARCH_SHOWN) if isinstance(arch, str) else reprlib.repr(arch)


def arch_text(text, example: str) -> str:
    """`text`, checked to be a string of at most MAX_ARCH_CHARS characters before any parsing: a string
    of megabytes is refused in time and memory bounded by that length."""
    if not isinstance(text, str):
        raise UserError(f"architecture {shown(text)}: expected a string like {example}")
    if len(text) > MAX_ARCH_CHARS:
        raise UserError(f"architecture {show(text, 60)}: {len(text):,} characters; an architecture string is at "
                        f"most {MAX_ARCH_CHARS:,} long")
    return text


@dataclass(frozen=True)
class Choice:
    """One decision of a space, and the candidate weights a super-net holds for it."""

    key: str                       # unique in the space; NB201: the edge "j<-i", e.g. "1<-0"
    candidates: tuple[str, ...]    # the operation names a super-net holds weights for
    group: str | None = None       # choices that compete with each other (e.g. the input edges of one DARTS node)
    keep: int = 1                  # how many choices of the group carry a non-"none" pick in an architecture


# --- the super-net's network settings -------------------------------------------------------------

@dataclass(frozen=True)
class NetworkSettings:
    """What a super-net network is built from, one value (passed to `build_supernet`, checkpointed with
    the weights): its size, its input and output, and its form.

    channels        C, the width of the first stage (the variant's `supernet.channels`, else `space.channels`)
    cells           N, the cells per stage (the variant's `supernet.cells`, else `space.cells`)
    input_shape     one sample's shape, (C, L) or (C, H, W): the data's
    num_classes     the classifier's outputs: the data's
    affine          batch norm has a learnable scale and shift (`supernet.bn_affine`)
    track           batch norm keeps running statistics (`supernet.bn_track`)
    op_on           where the operation choice sits, one of the space's `supernet_forms` (`supernet.op_on`)
    kernel_mapping  the smaller conv of each of the space's `kernel_pairs` uses the centre of the larger
                    one's kernel (`supernet.kernel_mapping`)
    dynamic_channels how a vertex of variable width slices the weights it shares across widths, one of
                    the space's `dynamic_channel_rules` (`supernet.dynamic_channels`); None: the
                    space's default (NAS-Bench-101: fixed_chunck); a space without such vertices
                    takes None only
    global_dropout  dropout on the pooled features (`supernet.global_dropout`) in a network built for
                    training; 0.0 for scoring, and not checkpointed (a loaded super-net scores)

    `of` builds it from a variant's settings; `to_meta` / `from_meta` write it into a checkpoint's
    metadata and read it back. This module imports neither `nas.config` nor `nas.supernet`: `of` reads
    the attributes it names from whatever it is given."""

    channels: int
    cells: int
    input_shape: tuple[int, ...]
    num_classes: int
    affine: bool = True
    track: bool = True
    op_on: str = "edge"
    kernel_mapping: bool = False
    global_dropout: float = 0.0
    dynamic_channels: str | None = None

    # The checkpoint's keys for the fields, in the order `weights.pt` has always written them: its bytes
    # depend on the order, so the study's artifacts stay byte-identical only while it is kept. Keys added
    # later (dynamic_channels) follow them and are written only when set, so a checkpoint that does
    # not use them keeps its bytes.
    META_KEYS: ClassVar[tuple[str, ...]] = ("channels", "cells", "input_shape", "num_classes", "bn_affine",
                                            "bn_track", "op_on", "kernel_mapping")

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(self.input_shape))  # a list or torch.Size given: a tuple

    @classmethod
    def of(cls, hp, channels: int, cells: int, data, *, training: bool = False) -> "NetworkSettings":
        """The network of variant settings `hp` (a `SupernetConfig`: channels, cells, bn_affine, bn_track,
        op_on, kernel_mapping, global_dropout, dynamic_channels) for `data` (shape, num_classes);
        `channels` and `cells` are the space section's, which hp.channels/cells override. `training`: keep
        the variant's global dropout (else 0.0, a network for scoring). A settings object without
        dynamic_channels reads as None."""
        return cls(hp.channels or channels, hp.cells or cells, tuple(data.shape), data.num_classes,
                   affine=hp.bn_affine, track=hp.bn_track, op_on=hp.op_on, kernel_mapping=hp.kernel_mapping,
                   global_dropout=hp.global_dropout if training else 0.0,
                   dynamic_channels=getattr(hp, "dynamic_channels", None))

    def scoring(self) -> "NetworkSettings":
        """The same network built for scoring: no dropout."""
        return dataclasses.replace(self, global_dropout=0.0)

    def to_meta(self) -> dict:
        """The checkpoint metadata of these settings: flat keys `META_KEYS` in that order (batch norm as
        bn_affine/bn_track, input_shape a list), then dynamic_channels only when it is set (not None);
        global_dropout is not written."""
        meta = dict(zip(self.META_KEYS, (self.channels, self.cells, list(self.input_shape), self.num_classes,
                                         self.affine, self.track, self.op_on, self.kernel_mapping)))
        if self.dynamic_channels is not None:
            meta["dynamic_channels"] = self.dynamic_channels
        return meta

    @classmethod
    def from_meta(cls, meta: dict) -> "NetworkSettings":
        """The settings a checkpoint's metadata holds (`to_meta`'s keys; others are ignored), for scoring.
        Checkpoints older than the super-net forms lack op_on and kernel_mapping: "edge" and False; one
        without dynamic_channels has None. KeyError if a key that was always written is missing."""
        return cls(meta["channels"], meta["cells"], tuple(meta["input_shape"]), meta["num_classes"],
                   affine=meta["bn_affine"], track=meta["bn_track"], op_on=meta.get("op_on", "edge"),
                   kernel_mapping=meta.get("kernel_mapping", False),
                   dynamic_channels=meta.get("dynamic_channels"))


# --- the default super-net choice ------------------------------------------------------------------

def single_path(choice: Choice, candidates: dict[str, nn.Module | None]) -> nn.Module:
    """The default choice factory: a `PathChoice` (single-path one-shot training and scoring)."""
    from nas.spaces.ops import PathChoice

    return PathChoice(candidates)


ChoiceFactory = Callable[[Choice, dict], "nn.Module"]  # (choice, {candidate: module or None}) -> module


# --- the interface ------------------------------------------------------------------------------------

class SearchSpace(abc.ABC):
    """A search space. Subclasses set `name` and implement the abstract methods; the defaults below
    assume an architecture is the tuple of its picks in choice order (override `to_picks` and
    `from_picks` together for another value), that every combination of candidates that satisfies the
    groups is an architecture (override `violation`, and `size`, for a rule beyond them) and that no
    two architectures are isomorphic (override `canonical`). A new space is registered in
    `nas.spaces.SPACES`."""

    name: str
    parameter_free: frozenset[str] = frozenset()   # operations without weights (e.g. none, skip, pooling)
    supernet_forms: tuple[str, ...] = ("edge",)    # the `op_on` values `build_supernet` accepts
    kernel_pairs: tuple[tuple[str, str], ...] = ()  # (smaller, larger) convs that can share a kernel centre
    dynamic_channel_rules: tuple[str, ...] = ()    # `dynamic_channels` values (vertices of variable width)
    min_channels: int = 1                          # the least `channels` every architecture builds at
    max_enumerable: int = 1_000_000                 # larger spaces are not enumerated (see `enumerable`)
    isomorphisms: tuple[str, ...] = ("function",)  # conventions for isomorphism classes (space.isomorphism)
    isomorphism: str = "function"                  # this instance's convention (see `with_isomorphism`)
    canonical_is_member: bool = True               # `canonical` returns an architecture string (else a key)

    def with_isomorphism(self, name: str) -> "SearchSpace":
        """This space with isomorphism classes by convention `name` (one of `isomorphisms`; "function",
        the default of every space: one class = one function under a mapping of the weights). A space
        offering others reads `self.isomorphism` in `canonical`. Instances are cached per convention."""
        if name not in self.isomorphisms:
            raise UserError(f"space.isomorphism: {show(name)} does not apply to space {self.name!r}; expected one of "
                            f"{', '.join(self.isomorphisms)}")
        if name == self.isomorphism:
            return self
        variants = self.__dict__.setdefault("_conventions", {})
        if name not in variants:
            other = copy.copy(self)
            other.__dict__.pop("_cache", None)
            other.__dict__.pop("_conventions", None)
            other.isomorphism = name
            variants[name] = other
        return variants[name]

    # --- what the space is ---

    @abc.abstractmethod
    def choices(self) -> tuple[Choice, ...]:
        """The decisions, in the order a super-net builds their modules (the same on every call)."""

    def to_picks(self, arch) -> dict[str, object]:
        """{choice key: candidate} of `arch` (a string is parsed first). Default: `arch` is the tuple of
        picks in choice order. A super-net path may hold a tuple of names or None in place of a name."""
        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        keys = [c.key for c in self.choices()]
        if len(arch) != len(keys):
            raise UserError(f"architecture {shown(arch)}: expected {len(keys)} picks, one per choice")
        return dict(zip(keys, arch))

    def from_picks(self, picks: dict[str, object]):
        """The architecture of `picks`, inverse of `to_picks`. Checks the keys only: a super-net path
        (tuples or None as picks) converts too; `check_picks` checks the values."""
        keys = self._check_keys(picks)
        return tuple(picks[k] for k in keys)

    def _check_keys(self, picks: dict[str, object]) -> list[str]:
        """The choice keys in order; UserError unless `picks` names exactly them."""
        keys = [c.key for c in self.choices()]
        if set(picks) != set(keys):
            missing, extra = sorted(set(keys) - set(picks)), sorted(set(picks) - set(keys))
            raise UserError(f"picks {show(picks)}: missing choices {missing}, unknown choices {extra}")
        return keys

    def violation(self, picks: dict[str, object]) -> str | None:
        """The reason, as one line, why `picks` (every choice named, each pick one of its candidates,
        the groups satisfied) break a rule of the space beyond its candidates and groups; None when
        they are an architecture. Default: no such rule. A space that overrides it is `constrained`."""
        return None

    @property
    def constrained(self) -> bool:
        """Whether some combinations of candidates are not architectures: the space has groups, or a rule
        of its own (`violation` overridden). A sampler then draws whole architectures (`random_arch`)."""
        return (type(self).violation is not SearchSpace.violation
                or any(c.group is not None for c in self.choices()))

    def check_picks(self, picks: dict[str, object]) -> None:
        """UserError (one line) unless `picks` names every choice once, each pick is one of its
        candidates, each group has exactly `keep` non-`none` picks, and the space's own rule holds
        (`violation`: "architecture <picks>: <reason>")."""
        self._check_keys(picks)
        groups: dict[str, list[Choice]] = {}
        for c in self.choices():
            if picks[c.key] not in c.candidates:
                raise UserError(f"choice {c.key}: {show(picks[c.key])} is not one of {', '.join(c.candidates)}")
            if c.group is not None:
                groups.setdefault(c.group, []).append(c)
        for group, members in groups.items():
            used = sum(picks[c.key] != "none" for c in members)
            if used != members[0].keep:
                raise UserError(f"group {group}: {used} of its choices are used; expected {members[0].keep}")
        reason = self.violation(picks)
        if reason is not None:
            raise UserError(f"architecture {shown(picks)}: {reason}")

    @abc.abstractmethod
    def parse(self, text: str):
        """The space's architecture string -> architecture. UserError (one line) if malformed: call
        `arch_text(text, example)` first (a string of megabytes refused at once) and quote the string
        with `shown`, cut to a readable length."""

    @abc.abstractmethod
    def format(self, arch) -> str:
        """Architecture -> the space's string; `parse(format(a)) == a`."""

    # --- enumeration, isomorphism, sampling ---

    def size(self) -> int:
        """The number of architectures: the product over ungrouped choices of their candidates, and over
        groups of the ways to use `keep` members (each used member any non-`none` candidate, each
        unused one `none`). A space with a rule of its own (`violation`) overrides it: the product then
        counts picks the rule refuses."""
        total, groups = 1, {}
        for c in self.choices():
            if c.group is None:
                total *= len(c.candidates)
            else:
                groups.setdefault(c.group, []).append(c)
        for members in groups.values():
            total *= sum(self._subset_weight(members, used)
                         for used in itertools.combinations(range(len(members)), members[0].keep))
        return total

    @staticmethod
    def _subset_weight(members: list[Choice], used: tuple[int, ...]) -> int:
        """The architectures of a group whose used members are `used`."""
        weight = 1
        for i, c in enumerate(members):
            weight *= sum(o != "none" for o in c.candidates) if i in used else int("none" in c.candidates)
        return weight

    @property
    def enumerable(self) -> bool:
        """Whether `enumerate_all` and `isomorphism_classes` are available (size <= max_enumerable)."""
        return self.size() <= self.max_enumerable

    def enumerate_all(self) -> list:
        """Every architecture in a fixed order: itertools.product over the choices' candidates in choice
        order, keeping those that satisfy the groups and the space's rule (`violation`). UserError if
        the space is not enumerable."""
        if not self.enumerable:
            raise UserError(f"space {self.name}: {self.size():,} architectures are too many to enumerate "
                            f"(limit {self.max_enumerable:,})")
        return [self.from_picks(picks) for picks in self._all_picks()]

    def _all_picks(self):
        """The picks of every architecture, in `enumerate_all`'s order (a generator: a space with a rule
        of its own can count them for its `size`)."""
        choices = self.choices()
        keys = [c.key for c in choices]
        grouped = any(c.group is not None for c in choices)
        ruled = type(self).violation is not SearchSpace.violation
        for combo in itertools.product(*(c.candidates for c in choices)):
            picks = dict(zip(keys, combo))
            if grouped and not self._groups_hold(picks):
                continue
            if ruled and self.violation(picks) is not None:
                continue
            yield picks

    def _groups_hold(self, picks: dict[str, object]) -> bool:
        used: dict[str, int] = {}
        keep: dict[str, int] = {}
        for c in self.choices():
            if c.group is not None:
                used[c.group] = used.get(c.group, 0) + (picks[c.key] != "none")
                keep[c.group] = c.keep
        return all(used[g] == keep[g] for g in used)

    def canonical(self, arch) -> str:
        """A key of `arch`'s isomorphism class, the same for all members (and `canonical(key) == key`):
        what pools are deduplicated by and benchmark records and tables are looked up by. A space whose
        benchmark keys its records by a hash returns that hash (NAS-Bench-101's module hash);
        `canonical_is_member` says whether the key is itself an architecture string (a member of the
        class, which can be parsed and built) or not. Default: no two architectures are isomorphic, so
        the architecture's own string."""
        return self.format(self.parse(arch) if isinstance(arch, str) else arch)

    def _class_members(self) -> dict[str, list]:
        """canonical string -> members in enumeration order (classes in order of first member); cached."""
        cache = self.__dict__.setdefault("_cache", {})
        if "classes" not in cache:
            members: dict[str, list] = {}
            for arch in self.enumerate_all():
                members.setdefault(self.canonical(arch), []).append(arch)
            cache["classes"] = members
        return cache["classes"]

    def isomorphism_classes(self) -> tuple[tuple, ...] | None:
        """Every isomorphism class as the tuple of its members, classes in canonical order; None when the
        space is not enumerable (random_nas sampling needs it)."""
        if not self.enumerable:
            return None
        cache = self.__dict__.setdefault("_cache", {})
        if "class_tuples" not in cache:
            cache["class_tuples"] = tuple(tuple(m) for m in self._class_members().values())
        return cache["class_tuples"]

    def num_unique(self) -> int:
        """The number of isomorphism classes. A space that is not enumerable and has isomorphisms
        overrides this (the default then assumes none: `size()`)."""
        return len(self._class_members()) if self.enumerable else self.size()

    def random_arch(self, rng: np.random.Generator):
        """One architecture drawn uniformly from the space (groups included: a group's used members are
        drawn in proportion to the architectures they allow), without enumerating it. Picks that break
        the space's own rule (`violation`) are drawn again (rejection: still uniform over the
        architectures); a space whose rule refuses most picks overrides this."""
        while True:
            picks: dict[str, object] = {}
            groups: dict[str, list[Choice]] = {}
            for c in self.choices():
                if c.group is None:
                    picks[c.key] = c.candidates[int(rng.integers(len(c.candidates)))]
                else:
                    groups.setdefault(c.group, []).append(c)
            for members in groups.values():
                subsets = list(itertools.combinations(range(len(members)), members[0].keep))
                weights = np.array([self._subset_weight(members, s) for s in subsets], dtype=float)
                used = subsets[int(rng.choice(len(subsets), p=weights / weights.sum()))]
                for i, c in enumerate(members):
                    real = [o for o in c.candidates if o != "none"]
                    picks[c.key] = real[int(rng.integers(len(real)))] if i in used else "none"
            picks = {c.key: picks[c.key] for c in self.choices()}
            if self.violation(picks) is None:
                return self.from_picks(picks)

    def sample(self, n: int, seed: int) -> list:
        """`n` architectures drawn uniformly without replacement, skipping any isomorphic to one already
        drawn, so the pool holds `n` distinct functions; deterministic for a seed, and a prefix of the
        pool for a larger `n`. An enumerable space permutes its enumeration (numpy's default_rng(seed));
        a larger one draws `random_arch` until it has `n`."""
        if n < 1:
            raise UserError(f"sample.archs: {n} must be at least 1")
        if n > self.num_unique():
            raise UserError(f"sample.archs: {n} is more than the {self.num_unique()} unique cells of {self.name}")
        rng = np.random.default_rng(seed)
        pool, seen = [], set()
        if self.enumerable:
            archs = self.enumerate_all()
            draws = (archs[i] for i in rng.permutation(len(archs)))
        else:
            draws = (self.random_arch(rng) for _ in itertools.count())
        for arch in draws:
            key = self.canonical(arch)
            if key not in seen:
                seen.add(key)
                pool.append(arch)
                if len(pool) == n:
                    break
        return pool

    def operations(self, arch) -> list[str]:
        """The operations `arch` uses, in choice order: every pick, less the `none` of a grouped choice
        (an input edge the node does not use, which is no operation of the architecture)."""
        picks = self.to_picks(arch)
        return [picks[c.key] for c in self.choices() if c.group is None or picks[c.key] != "none"]

    def parameter_free_count(self, arch) -> int:
        """How many of `arch`'s operations are parameter-free (`parameter_free`): the count DARTS-PT
        reports to show magnitude selection's collapse."""
        return sum(op in self.parameter_free for op in self.operations(arch))

    # --- networks ---

    def prefix_modules(self, k: int, cells: int) -> list[str] | None:
        """The super-net's module names that make up its stem and first `k` cells (of `cells`), which
        prefix sharing (nas.supernet.sharing) shares among children; None if the space's networks are
        not a stack of cells that can be cut that way (the default)."""
        return None

    def count_params_flops(self, arch, channels: int, cells: int, input_shape: tuple[int, ...],
                           num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs) of the stand-alone network of `arch`, as the space's benchmark counts them.
        Default: `ops.count_params_flops` of `build` (every parameter; multiply-adds of convolutions and
        linear layers, NAS-Bench-201's way)."""
        from nas.spaces import ops

        return ops.count_params_flops(self.build(arch, channels, cells, input_shape, num_classes), input_shape)

    @abc.abstractmethod
    def build(self, arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        """The stand-alone network of `arch` (or its string) for inputs (C, L) or (C, H, W); `net(x)`."""

    @abc.abstractmethod
    def build_supernet(self, net: NetworkSettings, choice: ChoiceFactory = single_path) -> nn.Module:
        """The weight-sharing network of `net` (its size, input, classes and form; see `NetworkSettings`),
        called as `net(x, arch)`: the space builds the skeleton (stem, cells, reductions, head) and, in
        construction order, calls `choice(c, candidates)` once per choice a cell holds (every cell all of
        them, or, as DARTS's normal and reduce cells, each kind its own; every choice in at least one
        cell), in choice order, `candidates` holding a module per candidate name (None for `none`). In
        forward each choice module gets `(x, pick)`, pick being what `arch` says for it (a name, a tuple
        of names, or None for the method to decide) and returns a Tensor or None (nothing flows); a node
        sums the non-None outputs of its inputs (zeros if none), each passed through `drop_path` at
        `net.path_dropout` in train mode. `net.op_on` must be in `supernet_forms`, `net.kernel_mapping`
        needs `kernel_pairs` and `net.dynamic_channels` one of `dynamic_channel_rules`
        (`check_supernet_form`); `net.affine`/`net.track` make the batch norms, `net.global_dropout`
        drops the pooled features."""

    def check_supernet_form(self, op_on: str, kernel_mapping: bool, dynamic_channels: str | None = None) -> None:
        """UserError unless the space supports this super-net form (for `build_supernet`)."""
        if op_on not in self.supernet_forms:
            raise UserError(f"supernet.op_on: {show(op_on)} does not apply to space {self.name!r}; "
                            f"it supports {', '.join(self.supernet_forms)}")
        if kernel_mapping and not self.kernel_pairs:
            raise UserError(f"supernet.kernel_mapping: space {self.name!r} has no pair of convolutions "
                            "that share a kernel centre")
        if (why := self.dynamic_channels_refusal(dynamic_channels)) is not None:
            raise UserError(f"supernet.dynamic_channels: {why}")

    def dynamic_channels_refusal(self, rule: str | None) -> str | None:
        """Why the super-net of this space cannot take `dynamic_channels` = `rule`, or None (None is
        always taken: the space's default)."""
        if rule is None:
            return None
        if not self.dynamic_channel_rules:
            return f"space {self.name!r} has no vertices of variable width"
        if rule not in self.dynamic_channel_rules:
            return (f"{show(rule)} does not apply to space {self.name!r}; it supports "
                    f"{', '.join(self.dynamic_channel_rules)}")
        return None

    def __repr__(self) -> str:
        return f"<search space {self.name}>"
