"""nas/spaces/ops.py: the fast average pool gives the bits of torch's pooling kernel."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from nas.spaces.ops import AvgPool, avg_pool

# (kernel, stride, padding) of every average pool the spaces build: NAS-Bench-201's and DARTS's cell
# pool, DARTS's reduction-cell pool, NAS-Bench-201's residual shortcut.
POOLS = [(3, 1, 1), (3, 2, 1), (2, 2, 0)]


def kernel(x, k, s, p):
    pool = F.avg_pool1d if x.dim() == 3 else F.avg_pool2d
    return pool(x, k, stride=s, padding=p, count_include_pad=False)


def bits(t: torch.Tensor) -> bytes:
    return t.contiguous().numpy().tobytes()


@pytest.mark.parametrize("k, s, p", POOLS)
@pytest.mark.parametrize("dim", [1, 2])
def test_the_fast_path_gives_the_kernels_bits(k, s, p, dim):
    g = torch.Generator().manual_seed(k * 10 + s + dim)
    pool = avg_pool(dim, k, s, p)
    assert isinstance(pool, AvgPool)
    for trial in range(60):
        sizes = [int(torch.randint(max(k - 2 * p, 1), 23, (1,), generator=g)) for _ in range(dim)]
        shape = [int(torch.randint(1, 9, (1,), generator=g)), int(torch.randint(1, 7, (1,), generator=g)), *sizes]
        # exact zeros of both signs (randn * 0), tiny, ordinary and huge values; half through a ReLU
        x = torch.randn(shape, generator=g) * [0.0, 1e-30, 1e-3, 1.0, 1e3, 1e30][trial % 6]
        if trial % 2:
            x = torch.relu(x)
        with torch.no_grad():
            fast = pool(x)
        assert fast.shape == kernel(x, k, s, p).shape
        assert bits(fast) == bits(kernel(x, k, s, p)), (shape, trial)


def test_with_gradients_the_kernel_runs_and_its_backward_is_torchs():
    pool = avg_pool(1, 3, 1, 1)
    x = torch.randn(4, 3, 10, requires_grad=True)
    pool(x).square().sum().backward()
    y = x.detach().clone().requires_grad_(True)
    kernel(y, 3, 1, 1).square().sum().backward()
    assert bits(x.grad) == bits(y.grad)
