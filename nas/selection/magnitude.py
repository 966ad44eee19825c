"""Magnitude selection (DARTS): on each choice, the operation with the largest architecture weight.

`select.methods: [..., magnitude]` reads the alphas a differentiable super-net learned (`supernet.method:
darts`); runs of a method without alphas (spos) get no magnitude pick, and a study with no such run is
refused. Whether `none` may win is `select.magnitude_none`:
true (the default) is the NAS-Bench-201 code's DARTS (its `genotype()` takes the argmax over all
operations, the rule behind the benchmark's published DARTS results); false is DARTS's own rule in its
space, the strongest operation other than `none`.
"""

from __future__ import annotations

from nas.selection.base import Context, NotApplicable, register_selector


def alphas(context: Context) -> dict[str, dict[str, float]]:
    """{choice key: {operation: softmax(alpha)}} of the run's super-net; UserError if it has none."""
    net, meta = context.supernet
    weights = getattr(net, "arch_weights", None)
    if weights is None:
        raise NotApplicable(f"select.methods: magnitude reads architecture weights, but run {context.run.name} was "
                        f"trained with supernet.method {meta.get('method', 'spos')!r}, which has none; "
                        "methods with architecture weights: darts")
    return weights.export_probs()


@register_selector("magnitude", supernet=True)
def magnitude(context: Context):
    allow_none = True if context.settings is None else context.settings.magnitude_none
    picks = {}
    for key, probs in alphas(context).items():
        ranked = {op: p for op, p in probs.items() if allow_none or op != "none"}
        picks[key] = max(ranked, key=lambda op: (ranked[op], -list(probs).index(op)))  # ties: the first op
    return context.space.from_picks(picks)
