"""The degree of weight sharing (Zhang et al., "Deeper insights into weight sharing"): super-nets that
share less than all their weights among the children. Two forms, settings of the `supernet` section
(so each degree is a variant), for single-path methods on a space that can be enumerated:

  prefix_shared: k   the stem and the first k cells are shared; the later cells are private to each
                     child (k = the number of cells: full sharing; k = 0: only the stem shared). One
                     network per child whose first modules are the same objects; the paper's code
                     swaps each child's private parameters in and out of one network, the same thing.
  groups: g          the children split into g independent super-nets; `partition` says how:
                     prefix  by the space's enumeration order, g equal blocks (zhang64: by child index,
                             so a group shares a prefix of choices: the paper's "similar" grouping);
                     random  a fixed random partition into g equal groups, from `partition_seed`;
                     edges   by the operations on the choices `partition_edges` (few-shot NAS: one
                             sub-super-net per operation of an edge; g = the product of their candidates).
                     Each child is trained and scored by its own group's super-net.

`sharing_compute` (groups only): `per_group`, the paper's, trains every group for the full epochs, so
each epoch makes g passes over the data and each child gets g times the updates; `matched` keeps the
passes of full sharing. The history's `passes` counts either way. Prefix sharing is always one
network trained as usual (each child's private cells move only when that child trains).

Independence needs nothing else: a group's (or a child's private) parameters get no gradient when
another child trains, so SGD leaves them, their momentum and their weight decay untouched
(`zero_grad(set_to_none=True)` in the training loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import numpy as np

from nas import io
from nas.spaces.base import SearchSpace

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    from torch import nn


def is_partial(hp) -> bool:
    """Whether `hp` asks for less than full sharing."""
    return hp.groups > 1 or hp.prefix_shared is not None


def group_of(space: SearchSpace, hp) -> dict[tuple, int]:
    """{architecture: its group (0..g-1)} for every architecture of the space (`groups` > 1), or
    {architecture: its own index} (prefix sharing: one private part per child)."""
    children = [tuple(a) for a in space.enumerate_all()]
    if hp.prefix_shared is not None:
        return {a: i for i, a in enumerate(children)}
    if hp.partition == "edges":
        keys = [c.key for c in space.choices()]
        candidates = {c.key: c.candidates for c in space.choices()}
        out = {}
        for a in children:
            index = 0
            for key in hp.partition_edges:
                index = index * len(candidates[key]) + candidates[key].index(a[keys.index(key)])
            out[a] = index
        return out
    size = len(children) // hp.groups
    if hp.partition == "prefix":
        return {a: i // size for i, a in enumerate(children)}
    order = np.random.default_rng(hp.partition_seed).permutation(len(children))
    return {children[int(child)]: rank // size for rank, child in enumerate(order)}


def build(make_net, space: SearchSpace, hp, cells: int) -> nn.Module:
    """The partially shared super-net: `make_net()` builds one full super-net (called once per group
    or child, in group order, so the initialisation follows the run's torch seed); `cells`: its cells."""
    route = group_of(space, hp)
    count = max(route.values()) + 1
    nets = [make_net() for _ in range(count)]
    tied = space.prefix_modules(hp.prefix_shared, cells) if hp.prefix_shared is not None else []
    from nas.supernet.modules import SharedNets

    return SharedNets(nets, route, tied)


def data_passes(hp) -> int:
    """How many passes over the training data one epoch makes: g with `per_group` compute, else 1."""
    return hp.groups if hp.groups > 1 and hp.sharing_compute == "per_group" else 1


def check(where, hp, space: SearchSpace, cells: int) -> None:
    """One-line errors for sharing settings that do not apply (`cells`: the super-net's cells)."""
    if not is_partial(hp):
        return
    if hp.groups > 1 and hp.prefix_shared is not None:
        raise io.UserError(f"{where('prefix_shared')}: prefix sharing and {where('groups')} {hp.groups} are two "
                           "degrees of sharing; set one of them")
    what = where("groups") if hp.groups > 1 else where("prefix_shared")
    if not space.enumerable:
        raise io.UserError(f"{what}: partial sharing gives every child its own weights, but space {space.name!r} "
                           f"has {space.size():,} architectures, too many to enumerate")
    n = space.size()
    if hp.prefix_shared is not None:
        if space.prefix_modules(0, cells) is None:
            raise io.UserError(f"{where('prefix_shared')}: space {space.name!r} is not a stack of identical cells "
                               "that prefix sharing can cut; use groups")
        if hp.prefix_shared > cells:
            raise io.UserError(f"{where('prefix_shared')}: {hp.prefix_shared} is more than the super-net's {cells} "
                               f"cells; expected 0..{cells}")
        return
    if hp.partition == "edges":
        keys = {c.key: c for c in space.choices()}
        unknown = [k for k in hp.partition_edges if k not in keys]
        if not hp.partition_edges or unknown or len(set(hp.partition_edges)) != len(hp.partition_edges):
            raise io.UserError(f"{where('partition_edges')}: {list(hp.partition_edges)!r} is not allowed; expected "
                               f"distinct choices of space {space.name!r} ({', '.join(keys)})")
        implied = math.prod(len(keys[k].candidates) for k in hp.partition_edges)
        if implied != hp.groups:
            raise io.UserError(f"{where('groups')}: {hp.groups}, but partition by {', '.join(hp.partition_edges)} "
                               f"makes {implied} groups (one per combination of their operations); set groups: {implied}")
        return
    if hp.groups > n:
        raise io.UserError(f"{where('groups')}: {hp.groups} is more than the {n} architectures of space "
                           f"{space.name!r}; expected a divisor of {n} (g = {n}: no sharing at all)")
    if n % hp.groups:
        raise io.UserError(f"{where('groups')}: {hp.groups} does not divide the {n} architectures of space "
                           f"{space.name!r} into equal groups; expected a divisor of {n}")
    if hp.partition == "random" and hp.partition_seed is None:
        raise io.UserError(f"{where('partition_seed')}: required with partition: random (the partition is fixed "
                           "by its own seed, the same for every run of the variant)")
