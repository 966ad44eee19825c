"""Operations shared by the search spaces, for 1-D signals (dim 1) or 2-D images (dim 2).

`conv`, `bn`, `avg_pool`, `max_pool` pick the layer class by dimension; `ReLUConvBN`,
`ResidualReduction` and `CentreKernelConvBN` are NAS-Bench-201's blocks; `SepConv`, `DilConv` and
`FactorizedReduce` are DARTS's (operations.py of Liu et al.: the same layers, for 1-D or 2-D);
`PathChoice` holds the candidates of one super-net choice (the default, single-path one); `drop_path`
is DARTS' path dropout; `make_op` builds one cell operation by name from `OPS`,
`candidate_modules` the candidates of one super-net choice, and `count_params_flops` counts a network
the way NAS-Bench-201 does. A new operation is one builder in `OPS`.
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nas.io import UserError


# --- the default super-net choice (nas.spaces.base.single_path builds it) ------------------------------

class PathChoice(nn.ModuleDict):
    """The candidates of one choice, keyed by operation name (so a super-net's state-dict keys read
    `...edges.K.<op>...`); `none` has no module. `forward(x, pick)` runs the picked candidate, or the
    mean of a tuple of picks (the one-shot warm-up), and returns None when nothing flows (`none`)."""

    def __init__(self, candidates: dict[str, nn.Module | None]):
        super().__init__({name: m for name, m in candidates.items() if m is not None})

    def forward(self, x: torch.Tensor, pick) -> torch.Tensor | None:
        if pick is None:
            raise ValueError("a single-path choice needs a pick (an operation name or a tuple of names)")
        names = [pick] if isinstance(pick, str) else [p for p in pick]
        outs = [self[n](x) for n in names if n != "none"]
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else torch.stack(outs).mean(0)


# --- layers ------------------------------------------------------------------------------------------

def conv(dim: int):
    """nn.Conv1d or nn.Conv2d."""
    return nn.Conv1d if dim == 1 else nn.Conv2d


def bn(dim: int, channels: int, affine: bool, track: bool):
    cls = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
    return cls(channels, affine=affine, track_running_stats=track)


def avg_pool(dim: int, kernel: int, stride: int, padding: int):
    """Average pooling without counting the padding (NAS-Bench-201's and DARTS's), 1-D or 2-D."""
    return AvgPool(kernel, stride, padding)


class AvgPool(nn.Module):
    """Average pooling (padding not counted), with a fast path: without gradients on the CPU (scoring,
    batch-norm recalibration) it is computed as a sum of strided windows, 3-6x faster than torch's
    pooling kernel on the small 1-D signals of MNIST-1D, where that kernel was a third of a score, and
    the same bits: the kernel adds a window's values in order onto 0 and divides by the count, which
    is what this does (a padding position adds +0.0, which changes nothing; the leading `+ 0.0` turns
    a -0.0 into the kernel's +0.0). Tested against the kernel, signed zeros included
    (tests/unit/test_ops.py). With gradients (training), or off the CPU, the kernel runs."""

    def __init__(self, kernel: int, stride: int, padding: int):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = x.dim() - 2
        if (x.requires_grad and torch.is_grad_enabled()) or x.device.type != "cpu" or dim not in (1, 2):
            pool = F.avg_pool1d if dim == 1 else F.avg_pool2d
            return pool(x, self.kernel, stride=self.stride, padding=self.padding, count_include_pad=False)
        k, s, p = self.kernel, self.stride, self.padding
        sizes = tuple(x.shape[2:])
        outs = tuple((n + 2 * p - k) // s + 1 for n in sizes)
        padded = F.pad(x, (p, p) * dim) if p else x
        total = None
        for offsets in itertools.product(range(k), repeat=dim):  # the kernel's order: rows, then columns
            window = padded[(..., *(slice(o, o + s * (m - 1) + 1, s) for o, m in zip(offsets, outs)))]
            total = window + 0.0 if total is None else total.add_(window)
        return total / _window_counts(sizes, k, s, p, x.dtype)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


@functools.lru_cache(maxsize=256)
def _window_counts(sizes: tuple[int, ...], k: int, s: int, p: int, dtype) -> torch.Tensor:
    """How many input positions each output window covers (the padding left out), per dimension,
    multiplied. Cached: read only."""
    counts = []
    for n in sizes:
        starts = torch.arange((n + 2 * p - k) // s + 1) * s - p
        counts.append((torch.clamp(starts + k, max=n) - torch.clamp(starts, min=0)).to(dtype))
    return counts[0] if len(counts) == 1 else counts[0][:, None] * counts[1][None, :]


def max_pool(dim: int, kernel: int, stride: int, padding: int):
    cls = nn.MaxPool1d if dim == 1 else nn.MaxPool2d
    return cls(kernel, stride=stride, padding=padding)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, dim, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            conv(dim)(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            bn(dim, c_out, affine, track),
        )


class DilConv(nn.Sequential):
    """DARTS's dilated convolution: ReLU, depthwise conv (dilation 2), pointwise conv, BN."""

    def __init__(self, c_in, c_out, kernel, stride, dilation, dim, affine=True, track=True):
        padding = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            conv(dim)(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            conv(dim)(c_in, c_out, 1, bias=False),
            bn(dim, c_out, affine, track),
        )


class SepConv(nn.Sequential):
    """DARTS's separable convolution: two (ReLU, depthwise conv, pointwise conv, BN) blocks, the first
    with the stride."""

    def __init__(self, c_in, c_out, kernel, stride, dim, affine=True, track=True):
        super().__init__(DilConv(c_in, c_in, kernel, stride, 1, dim, affine, track),
                         DilConv(c_in, c_out, kernel, 1, 1, dim, affine, track))


class FactorizedReduce(nn.Module):
    """DARTS's stride-2 reduction without information loss: ReLU, then two stride-2 1x1 convs, the
    second on the input shifted by one position, concatenated, BN. An odd size is padded so both
    halves have the same shape (DARTS's inputs are always even)."""

    def __init__(self, c_in, c_out, dim, affine=True, track=True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.dim = dim
        self.conv_a = conv(dim)(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = conv(dim)(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(dim, c_out, affine, track)

    def forward(self, x):
        x = torch.relu(x)
        shifted = x[..., 1:] if self.dim == 1 else x[..., 1:, 1:]
        if any(n % 2 for n in x.shape[2:]):  # pad the shifted copy so both convs see ceil(n/2) positions
            shifted = F.pad(shifted, (0, 1) * self.dim)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


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
    # DARTS: a skip with stride 2 (an input edge of a reduction cell) is a factorised reduction.
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, dim, affine, track)


# name -> builder(channels, stride, dim, affine, track) -> module, or None for `none` (nothing flows).
# Every operation keeps the channel count; stride 2 halves the resolution.
OPS: dict[str, Callable[[int, int, int, bool, bool], nn.Module | None]] = {
    "none": lambda c, stride, dim, affine, track: None,
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c, stride, dim, affine, track: ReLUConvBN(c, c, 1, stride, dim, affine, track),
    "nor_conv_3x3": lambda c, stride, dim, affine, track: ReLUConvBN(c, c, 3, stride, dim, affine, track),
    "avg_pool_3x3": lambda c, stride, dim, affine, track: avg_pool(dim, 3, stride, 1),
    "max_pool_3x3": lambda c, stride, dim, affine, track: max_pool(dim, 3, stride, 1),
    "sep_conv_3x3": lambda c, stride, dim, affine, track: SepConv(c, c, 3, stride, dim, affine, track),
    "sep_conv_5x5": lambda c, stride, dim, affine, track: SepConv(c, c, 5, stride, dim, affine, track),
    "dil_conv_3x3": lambda c, stride, dim, affine, track: DilConv(c, c, 3, stride, 2, dim, affine, track),
    "dil_conv_5x5": lambda c, stride, dim, affine, track: DilConv(c, c, 5, stride, 2, dim, affine, track),
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
                      kernel_pairs: tuple[tuple[str, str], ...] = (), stride: int = 1) -> dict[str, nn.Module | None]:
    """{name: module} for the candidates of one choice, in order (None for `none`), built in that order
    (so the random initialisation follows it). For each (smaller, larger) pair of `kernel_pairs` that
    are both candidates, the smaller becomes a `CentreKernelConvBN` on the larger's kernel (it is
    built, and so draws its initialisation, first all the same)."""
    modules = {name: make_op(name, channels, dim, affine, track, stride) if name != "none" else None
               for name in names}
    for small, large in kernel_pairs:
        if modules.get(small) is not None and modules.get(large) is not None:
            if (small, large) != ("nor_conv_1x1", "nor_conv_3x3"):
                raise ValueError(f"kernel mapping of {small} onto {large} is not implemented")
            modules[small] = CentreKernelConvBN(modules[large], channels, dim, affine, track)
    return modules


def count_params_flops(net: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, FLOPs) of `net` for one input of `input_shape`, as NAS-Bench-201 counts them: all
    parameters; FLOPs are the multiply-adds of convolutions (plus bias adds) and of linear layers.
    Pooling, batch norm and activations are not counted."""
    flops = 0

    def conv_hook(module, inputs, output):
        nonlocal flops
        per_position = module.in_channels * module.out_channels // module.groups * int(np.prod(module.kernel_size))
        positions = int(np.prod(output.shape[2:]))
        flops += per_position * positions + (module.out_channels * positions if module.bias is not None else 0)

    def linear_hook(module, inputs, output):
        nonlocal flops
        flops += module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)

    hooks = []
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, *input_shape))
    net.train(was_training)
    for h in hooks:
        h.remove()
    return sum(p.numel() for p in net.parameters()), flops
