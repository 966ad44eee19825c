"""Operations shared by the search spaces, for 1-D signals (dim 1) or 2-D images (dim 2).

`conv`, `bn`, `avg_pool` pick the layer class by dimension; `ReLUConvBN`, `ResidualReduction` and
`CentreKernelConvBN` are NAS-Bench-201's blocks; `drop_path` is DARTS' path dropout; `make_op` builds
one cell operation by name from `OPS`, and `candidate_modules` the candidates of one super-net choice.
A new operation (e.g. DARTS' sep_conv_3x3, dil_conv_3x3, max_pool_3x3) is one builder in `OPS`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from nas.io import UserError


def conv(dim: int):
    """nn.Conv1d or nn.Conv2d."""
    return nn.Conv1d if dim == 1 else nn.Conv2d


def bn(dim: int, channels: int, affine: bool, track: bool):
    cls = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
    return cls(channels, affine=affine, track_running_stats=track)


def avg_pool(dim: int, kernel: int, stride: int, padding: int):
    cls = nn.AvgPool1d if dim == 1 else nn.AvgPool2d
    return cls(kernel, stride=stride, padding=padding, count_include_pad=False)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, dim, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            conv(dim)(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            bn(dim, c_out, affine, track),
        )


def drop_path(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Zero each sample's tensor with probability `rate` and scale the kept ones by 1/(1-rate), so
    the expected output is unchanged (DARTS' drop_path; Bender et al.'s path dropout)."""
    if rate <= 0.0:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= rate
    return x * keep / (1.0 - rate)


class CentreKernelConvBN(nn.Module):
    """ReLU-Conv-BN whose 1x1 kernel is the centre of another ReLU-Conv-BN's 3x3 kernel: the mapping
    function of Yu et al. (kernel sharing as in Once-for-All, without its transformation matrix).
    Only batch norm is its own; gradients of its path land on the centre of the 3x3 kernel."""

    def __init__(self, source: ReLUConvBN, channels: int, dim: int, affine: bool, track: bool):
        super().__init__()
        self._source = (source,)  # a tuple, not a submodule: the shared kernel is stored once
        self.bn = bn(dim, channels, affine, track)
        self.dim = dim

    def forward(self, x):
        weight = self._source[0][1].weight
        centre = weight[..., 1:2] if self.dim == 1 else weight[..., 1:2, 1:2]
        conv_fn = F.conv1d if self.dim == 1 else F.conv2d
        return self.bn(conv_fn(torch.relu(x), centre))


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: a stride-2 ResNet basic block whose shortcut is
    average-pool + 1x1 conv."""

    def __init__(self, c_in, c_out, dim, affine=True, track=True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, dim, affine, track)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, dim, affine, track)
        self.shortcut = nn.Sequential(avg_pool(dim, 2, 2, 0), conv(dim)(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def _skip(c, stride, dim, affine, track):
    if stride != 1:  # DARTS reduces with a factorised reduction; add it here when a space needs it
        raise ValueError("skip_connect with stride > 1 is not implemented")
    return nn.Identity()


# name -> builder(channels, stride, dim, affine, track) -> module, or None for `none` (nothing flows).
# Every operation keeps the channel count; stride 2 halves the resolution.
OPS: dict[str, Callable[[int, int, int, bool, bool], nn.Module | None]] = {
    "none": lambda c, stride, dim, affine, track: None,
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c, stride, dim, affine, track: ReLUConvBN(c, c, 1, stride, dim, affine, track),
    "nor_conv_3x3": lambda c, stride, dim, affine, track: ReLUConvBN(c, c, 3, stride, dim, affine, track),
    "avg_pool_3x3": lambda c, stride, dim, affine, track: avg_pool(dim, 3, stride, 1),
}


def make_op(name: str, channels: int, dim: int, affine: bool = True, track: bool = True,
            stride: int = 1) -> nn.Module | None:
    """The module of one operation inside a cell; None for `none`."""
    try:
        builder = OPS[name]
    except KeyError:
        raise UserError(f"unknown operation {name!r}; expected one of {', '.join(OPS)}") from None
    return builder(channels, stride, dim, affine, track)


def candidate_modules(names, channels: int, dim: int, affine: bool, track: bool,
                      kernel_pairs: tuple[tuple[str, str], ...] = ()) -> dict[str, nn.Module | None]:
    """{name: module} for the candidates of one choice, in order (None for `none`), built in that order
    (so the random initialisation follows it). For each (smaller, larger) pair of `kernel_pairs` that
    are both candidates, the smaller becomes a `CentreKernelConvBN` on the larger's kernel (it is
    built, and so draws its initialisation, first all the same)."""
    modules = {name: make_op(name, channels, dim, affine, track) if name != "none" else None for name in names}
    for small, large in kernel_pairs:
        if modules.get(small) is not None and modules.get(large) is not None:
            if (small, large) != ("nor_conv_1x1", "nor_conv_3x3"):
                raise ValueError(f"kernel mapping of {small} onto {large} is not implemented")
            modules[small] = CentreKernelConvBN(modules[large], channels, dim, affine, track)
    return modules
