"""Every search space keeps the SearchSpace contract (nas/spaces/base.py): each registered space, plus
the toy spaces of toy_space.py (grouped choices; one of them too large to enumerate, one with a rule of
its own). Tiny networks: C=2, or the least width a space's cells build at (`min_channels`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch

from helpers import one_line_error
from nas import supernet
from nas.io import UserError
from nas.spaces import SPACES
from nas.spaces.base import Choice, NetworkSettings, SearchSpace, shown, single_path
from nas.spaces.ops import PathChoice
from unit.toy_space import ToyLargeSpace, ToyRuleSpace, ToySpace

ALL_SPACES = list(SPACES.values()) + [ToySpace(), ToyLargeSpace(), ToyRuleSpace()]
SHAPES = [(1, 12), (2, 6, 6)]
space_param = pytest.mark.parametrize("space", ALL_SPACES, ids=[s.name for s in ALL_SPACES])


def few(space: SearchSpace, n: int = 6, seed: int = 0) -> list:
    return space.sample(min(n, space.num_unique()), seed)


def width(space: SearchSpace) -> int:
    """The tiny networks' C: 2, or more where a space's cells need it (NB101: a channel per vertex)."""
    return max(2, space.min_channels)


def ruled(space: SearchSpace) -> bool:
    """Whether the space has a rule of its own beyond candidates and groups (`violation` overridden)."""
    return type(space).violation is not SearchSpace.violation


@space_param
def test_choices_are_well_formed(space):
    choices = space.choices()
    assert choices and all(isinstance(c, Choice) for c in choices) and space.choices() == choices
    keys = [c.key for c in choices]
    assert len(set(keys)) == len(keys)
    assert all(c.candidates and len(set(c.candidates)) == len(c.candidates) for c in choices)
    groups: dict[str, list[Choice]] = {}
    for c in choices:
        if c.group is not None:
            groups.setdefault(c.group, []).append(c)
    for members in groups.values():
        assert len({c.keep for c in members}) == 1 and 1 <= members[0].keep <= len(members)
        assert all("none" in c.candidates for c in members)  # an unused member picks none
    assert isinstance(space.name, str) and space.name
    assert space.supernet_forms and all(isinstance(f, str) for f in space.supernet_forms)
    assert space.constrained == (bool(groups) or ruled(space))
    assert space.min_channels >= 1 and isinstance(space.canonical_is_member, bool)
    ops = {o for c in choices for o in c.candidates}
    assert space.parameter_free <= ops
    assert all(small in ops and large in ops for small, large in space.kernel_pairs)


@space_param
def test_format_parse_round_trip(space):
    for arch in few(space):
        text = space.format(arch)
        assert isinstance(text, str) and space.parse(text) == arch
        assert space.format(space.parse(text)) == text
        hash(arch)
    for bad in ("not an architecture", "", None):
        assert one_line_error(space.parse, bad).startswith(f"architecture {bad!r}:")


@space_param
def test_picks(space):
    keys = [c.key for c in space.choices()]
    for arch in few(space):
        picks = space.to_picks(arch)
        assert list(picks) == keys
        assert all(picks[c.key] in c.candidates for c in space.choices())
        used: dict[str, int] = {}
        for c in space.choices():
            if c.group is not None:
                used[c.group] = used.get(c.group, 0) + (picks[c.key] != "none")
                assert used[c.group] <= c.keep
        assert all(used[c.group] == c.keep for c in space.choices() if c.group is not None)
        assert space.from_picks(picks) == arch and space.to_picks(space.format(arch)) == picks
        space.check_picks(picks)
        bad = dict(picks, **{keys[0]: "no_such_op"})
        assert "'no_such_op'" in one_line_error(space.check_picks, bad)
    grouped = [c for c in space.choices() if c.group is not None]
    if grouped:  # use one choice too many (or too few) in a group
        picks = space.to_picks(few(space, 1)[0])
        c = next(c for c in grouped if picks[c.key] == "none") if any(picks[c.key] == "none" for c in grouped) \
            else grouped[0]
        picks[c.key] = next(o for o in c.candidates if o != "none") if picks[c.key] == "none" else "none"
        assert one_line_error(space.check_picks, picks).startswith(f"group {c.group}:")
    if ruled(space):  # one pick changed so that the groups hold but the space's rule breaks
        flips = (dict(space.to_picks(a), **{c.key: o}) for a in few(space) for c in space.choices()
                 for o in c.candidates)
        broken = next(p for p in flips if space._groups_hold(p) and space.violation(p) is not None)
        reason = space.violation(broken)
        assert isinstance(reason, str) and reason and "\n" not in reason
        assert one_line_error(space.check_picks, broken) == f"architecture {shown(broken)}: {reason}"
    else:
        assert all(space.violation(space.to_picks(a)) is None for a in few(space))


@space_param
def test_sample(space):
    n = min(8, space.num_unique())
    pool = space.sample(n, 0)
    assert len(pool) == n and space.sample(n, 0) == pool
    assert space.sample(n, 1) != pool
    assert len({space.canonical(a) for a in pool}) == n
    assert space.sample(n - 1, 0) == pool[:-1]
    assert all(space.from_picks(space.to_picks(a)) == a for a in pool)
    assert one_line_error(space.sample, 0, 0) == "sample.archs: 0 must be at least 1"
    too_many = space.num_unique() + 1
    assert one_line_error(space.sample, too_many, 0).startswith(f"sample.archs: {too_many} is more than")


@space_param
def test_samplers_draw_architectures(space):
    """A uniform path is an architecture: independent picks in a free space, `random_arch` in a
    constrained one (groups, or a rule of its own); fairnas, one path per candidate, refuses the latter."""
    generator = torch.Generator().manual_seed(0)
    draw = supernet.uniform_sampler(space)
    for _ in range(20):
        (arch,) = draw(generator)
        space.check_picks(space.to_picks(arch))
        assert space.from_picks(space.to_picks(arch)) == arch
    assert (supernet.spos.fairnas_refusal(space) is None) == (not space.constrained)
    assert supernet.one_shot_path(space) is not None  # every candidate of every choice: a path


@space_param
def test_canonical_and_enumeration(space):
    for arch in few(space):
        c = space.canonical(arch)
        assert isinstance(c, str) and space.canonical(c) == c and space.canonical(space.format(arch)) == c
        if space.canonical_is_member:  # the key is an architecture string of the class
            assert space.canonical(space.parse(c)) == c
        else:  # a key only (NB101: the benchmark's hash), no architecture string
            with pytest.raises(UserError):
                space.parse(c)
    if not space.enumerable:
        assert space.isomorphism_classes() is None
        assert "too many to enumerate" in one_line_error(space.enumerate_all)
        return
    archs = space.enumerate_all()
    assert len(archs) == len(set(archs)) == space.size()
    classes = space.isomorphism_classes()
    assert len(classes) == space.num_unique() and sum(map(len, classes)) == space.size()
    canon = [space.canonical(members[0]) for members in classes]
    assert len(set(canon)) == len(classes)  # one canonical form per class ...
    for members, c in zip(classes, canon):
        assert all(space.canonical(m) == c for m in members)  # ... shared by all its members
        assert space.parse(c) in members or not space.canonical_is_member
    assert all(space.violation(space.to_picks(a)) is None for a in archs)


@space_param
@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d"])
def test_build_and_counts(space, shape):
    c = width(space)
    for arch in few(space, 2):
        torch.manual_seed(0)
        net = space.build(arch, c, 1, shape, 3)
        x = torch.randn(4, *shape)
        out = net(x)
        assert out.shape == (4, 3) and torch.isfinite(out).all()
        net.eval()  # the training loop and evaluation call a stand-alone network as net(x, None)
        assert torch.equal(net(x, None), net(x))
        params, flops = space.count_params_flops(arch, c, 1, shape, 3)
        assert params == sum(p.numel() for p in net.parameters())
        assert isinstance(flops, int) and flops > 0


class Recording(PathChoice):
    """The default single-path choice, recording the picks its forward receives."""

    def __init__(self, candidates):
        super().__init__(candidates)
        self.seen = []

    def forward(self, x, pick):
        self.seen.append(pick)
        return super().forward(x, pick)


def recording_factory(calls: list):
    def factory(choice, candidates):
        assert isinstance(choice, Choice) and tuple(candidates) == choice.candidates
        module = Recording(candidates)
        calls.append((choice.key, module, dict(candidates)))
        return module
    return factory


@space_param
def test_supernet_factory_is_called_once_per_choice_per_cell(space):
    keys = [c.key for c in space.choices()]
    counts = []
    for cells in (1, 2):
        calls = []
        space.build_supernet(NetworkSettings(2, cells, (1, 12), 3, op_on=space.supernet_forms[0]),
                             recording_factory(calls))
        got = [k for k, _, _ in calls]
        # every choice is built, each cell's choices in choice order (a cell may hold only some of them:
        # the DARTS space's normal and reduce cells hold their own kind's)
        assert got and set(got) == set(keys)
        runs = [[]]
        for k in got:
            if runs[-1] and keys.index(k) <= keys.index(runs[-1][-1]):
                runs.append([])
            runs[-1].append(k)
        assert all(run == sorted(run, key=keys.index) for run in runs)
        counts.append(len(got))
        for _, module, candidates in calls:  # the candidates' modules, `none` without one
            assert list(module) == [o for o in candidates if candidates[o] is not None]
            assert all(candidates[o] is None for o in candidates if o == "none")
            for op, m in module.items():
                weightless = sum(p.numel() for p in m.parameters()) == 0
                # a skip on a stride-2 edge (DARTS's reduce cells) is a factorised reduction with weights
                assert weightless == (op in space.parameter_free) or op == "skip_connect" and not weightless, op
    assert counts[1] > counts[0]


def pick_matters(space: SearchSpace, arch, picks: dict, key: str) -> bool:
    """Whether another candidate for `key` makes another architecture (or none): a choice whose pick
    does not matter (NB101: a vertex off the pruned cell, an edge to or from one) may go unrun."""
    choice = next(c for c in space.choices() if c.key == key)
    for other in choice.candidates:
        if other != picks[key]:
            try:
                if space.from_picks(dict(picks, **{key: other})) != arch:
                    return True
            except UserError:
                return True
    return False


@space_param
@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d"])
def test_supernet_trains_only_the_picked_candidates(space, shape):
    torch.manual_seed(0)
    calls = []
    settings = NetworkSettings(width(space), 1, shape, 3, affine=False, track=False, op_on=space.supernet_forms[0])
    net = space.build_supernet(settings, recording_factory(calls))
    default = space.build_supernet(settings, single_path)
    assert list(default.state_dict()) == list(net.state_dict())  # the factory decides nothing of the names
    x = torch.randn(4, *shape)
    # the sampled arch with the most parametric operations, so that some gradient must flow
    arch = max(few(space, 6), key=lambda a: sum(op not in space.parameter_free for op in space.operations(a)))
    picks = space.to_picks(arch)
    net.train()
    out = net(x, arch)
    assert out.shape == (4, 3) and default(x, arch).shape == (4, 3)
    out.square().sum().backward()
    trained = 0
    for key, module, _ in calls:
        assert module.seen or not pick_matters(space, arch, picks, key), key  # every choice that matters runs
        assert all(p == picks[key] for p in module.seen)
        for op, m in module.items():
            grads = [p.grad for p in m.parameters()]
            if op != picks[key]:
                assert all(g is None for g in grads), (key, op)
            else:
                trained += any(g is not None and g.abs().sum() > 0 for g in grads)
    assert trained > 0
    # the one-shot path (every candidate of every choice, averaged) runs through the same modules
    assert net(x, supernet.one_shot_path(space)).shape == (4, 3)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (at any depth), and every name it imports from a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


@space_param
def test_the_space_imports_neither_the_config_nor_the_supernet(space):
    """A space builds its super-net from one `NetworkSettings` value (nas/spaces/base.py) and depends on
    no super-net method and no config section."""
    for module in (type(space).__module__, SearchSpace.__module__):
        path = Path(sys.modules[module].__file__)
        bad = sorted(m for m in _imports(path) if m.split(".")[:2] in (["nas", "config"], ["nas", "supernet"]))
        assert not bad, f"space {space.name}: {path.name} imports {', '.join(bad)}"


@space_param
def test_a_string_of_megabytes_is_refused_at_once_in_one_short_line(space):
    import time

    example = space.format(few(space, 1)[0])
    for text in (example * (10**7 // len(example) + 1), "|" * 10**7, example + "x" * 20_000):
        start = time.perf_counter()
        message = one_line_error(space.parse, text)
        assert time.perf_counter() - start < 1 and len(message) < 300, message[:400]
        assert message.endswith("characters; an architecture string is at most 10,000 long"), message
