"""Magnitude selection (DARTS): on each choice, the operation with the largest architecture weight.

`select.methods: [..., magnitude]` reads the alphas a differentiable super-net learned (`supernet.method:
darts`); runs of a method without alphas (spos) get no magnitude pick, and a study with no such run is
refused. Whether `none` may win is `select.magnitude.allow_none`:
true (the default) is the NAS-Bench-201 code's DARTS (its `genotype()` takes the argmax over all
operations, the rule behind the benchmark's published DARTS results); false is DARTS's own rule in its
space, the strongest operation other than `none`.

In a space whose nodes use `keep` of their input edges (a choice group; the DARTS space: 2), the
genotype is derived as DARTS derives it: each edge's strength is its strongest operation other than
`none`, a node keeps its `keep` strongest edges with that operation, the others pick `none`
(`allow_none` applies to ungrouped choices only).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.selection.base import Context, NotApplicable, register_selector
from nas.settings import opt


@dataclass(frozen=True)
class MagnitudeSettings:
    allow_none: bool = opt(True, doc="`none` may win an edge (the NAS-Bench-201 code's plain argmax); false = "
                                     "DARTS's rule (the strongest operation other than none)")


def has_alpha(method) -> bool:
    """Whether runs of super-net method `method` (a class) hold architecture weights to select from."""
    return method.architecture_weights


def alphas(context: Context) -> dict[str, dict[str, float]]:
    """{choice key: {operation: softmax(alpha)}} of the run's super-net; UserError if it has none."""
    net, meta = context.supernet
    weights = getattr(net, "arch_weights", None)
    if weights is None:
        raise NotApplicable(f"select.methods: magnitude reads architecture weights, but run {context.run.name} was "
                        f"trained with supernet.method {meta.get('method', 'spos')!r}, which has none; "
                        "methods with architecture weights: darts")
    return weights.export_probs()


def strongest(probs: dict[str, float], allow_none: bool) -> str:
    """The operation of largest weight (`none` only if allowed); ties: the first operation."""
    ranked = {op: p for op, p in probs.items() if allow_none or op != "none"}
    return max(ranked, key=lambda op: (ranked[op], -list(probs).index(op)))


def keep_strongest_edges(space, probs: dict[str, dict[str, float]], picks: dict[str, str], groups=None) -> dict:
    """`picks` with each group (of `groups`, default all) reduced to its `keep` strongest members by
    DARTS's edge strength (the largest weight other than `none`); the others pick `none`. Ties: the
    first choice."""
    keys = [c.key for c in space.choices()]
    members: dict[str, list] = {}
    for c in space.choices():
        if c.group is not None and (groups is None or c.group in groups):
            members.setdefault(c.group, []).append(c)
    out = dict(picks)
    for group in members.values():
        strength = {c.key: max(p for op, p in probs[c.key].items() if op != "none") for c in group}
        kept = sorted(group, key=lambda c: (-strength[c.key], keys.index(c.key)))[:group[0].keep]
        for c in group:
            if c not in kept:
                out[c.key] = "none"
    return out


@register_selector("magnitude", supernet=True, Settings=MagnitudeSettings, applies=has_alpha)
def magnitude(context: Context):
    allow_none = context.settings.get("magnitude", MagnitudeSettings()).allow_none
    probs = alphas(context)
    picks = {c.key: strongest(probs[c.key], allow_none and c.group is None) for c in context.space.choices()}
    return context.space.from_picks(keep_strongest_edges(context.space, probs, picks))
