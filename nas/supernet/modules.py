"""The torch modules super-net methods add to a space's network: DARTS's mixed choice and
architecture weights (nas/supernet/darts.py), and the partially shared super-net of Zhang et al.
(nas/supernet/sharing.py). Imported when a network is built, so the methods' settings and checks,
which the config reads, need no torch."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nas import io
from nas.spaces.base import Choice
from nas.spaces.ops import PathChoice


class MixedChoice(PathChoice):
    """A choice that mixes its candidates: `forward(x, {op: weight})` is the weighted sum of the
    candidates' outputs (`none` contributes nothing; a weight of exactly 0 skips its operation). With
    an operation name or a tuple of names it runs like a `PathChoice` (scoring a discrete child)."""

    def forward(self, x: torch.Tensor, pick) -> torch.Tensor | None:
        if not isinstance(pick, dict):
            return super().forward(x, pick)
        out = None
        for name, weight in pick.items():
            if name == "none" or (not torch.is_tensor(weight) and weight == 0):
                continue
            term = weight * self[name](x)
            out = term if out is None else out + term
        return out


class ArchWeights(nn.Module):
    """alpha: one vector of logits per choice of the space, in choice order."""

    def __init__(self, choices: tuple[Choice, ...]):
        super().__init__()
        self.keys = [c.key for c in choices]
        self.candidates = [c.candidates for c in choices]
        self.alpha = nn.ParameterList([nn.Parameter(torch.zeros(len(c.candidates))) for c in choices])

    def probs(self) -> list[torch.Tensor]:
        return [F.softmax(a, dim=-1) for a in self.alpha]

    def export_probs(self) -> dict[str, dict[str, float]]:
        with torch.no_grad():
            return {k: {op: float(p) for op, p in zip(ops, probs)}
                    for k, ops, probs in zip(self.keys, self.candidates, self.probs())}


class SharedNets(nn.Module):
    """Several super-nets, each child routed to its own: `forward(x, arch)` runs `nets[route[arch]]`.
    `tied` module names (prefix sharing: the stem and the first cells) are one object in every net."""

    def __init__(self, nets: list[nn.Module], route: dict[tuple, int], tied: list[str]):
        super().__init__()
        for net in nets[1:]:
            for name in tied:
                _set_module(net, name, nets[0].get_submodule(name))
        self.nets = nn.ModuleList(nets)
        self.route = route
        self._path_dropout = 0.0

    @property
    def path_dropout(self) -> float:
        return self._path_dropout

    @path_dropout.setter
    def path_dropout(self, rate: float) -> None:
        self._path_dropout = rate
        for net in self.nets:
            net.path_dropout = rate

    def net_of(self, arch) -> nn.Module:
        try:
            return self.nets[self.route[tuple(arch)]]
        except (KeyError, TypeError):
            raise io.UserError(f"architecture {arch!r} is not a child of this partially shared super-net "
                               "(each child runs on its own group's weights)") from None

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        return self.net_of(arch)(x, arch)


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)
