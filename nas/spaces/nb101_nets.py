"""The networks of the NAS-Bench-101 space (nb101_cell.py holds the cell, its validity, hash,
sampling and picks; nb101.py the `SearchSpace`): the benchmark's stand-alone network and the
weight-sharing super-net whose vertices share weights across widths (Yu et al.'s dynamic channels).

The network (`build`) is model_builder.py's: a conv3x3-bn-relu stem to C channels; 3 stacks of N
cells, each stack after the first opening with a 2x2 max pool (stride 2) and doubling the channels
(the first cell of the stack makes the doubled count); global average pooling; a dense layer. In a
cell the channels are split among the vertices that feed the output (`vertex_channels`), the cell's
input reaches a vertex through its own 1x1 projection, wider inputs are truncated, a vertex sums its
inputs and the output concatenates its in-vertices (plus a projection of the input if they are
joined). 1-D (C, L) or 2-D (C, H, W) inputs, from the same code.

The super-net (`build_supernet`, op_on "node" only): the stand-alone skeleton with `SuperCell`s, each
built once from the fully connected 7-vertex cell at its output width K: per vertex a choice of op
(conv3x3, conv1x1: each its own weights at width K, `DynamicConvBnRelu`; maxpool3x3: weightless,
any width) and a fixed 1x1 conv-bn-relu projection of the cell input (in_c -> K), per edge a choice
none/edge (an identity), and one projection input -> output. A step's architecture is pruned, its
vertex widths are `vertex_channels(in_c, K, matrix)`, and the cell runs as the benchmark's with
width-k slices of the shared weights. Batch norm is `ops.bn` (net.affine, net.track; PyTorch's
momentum 0.1, as the other spaces' super-nets), initialisation PyTorch's default (not `_init_like_tf`).

The dynamic-channel rule (`NetworkSettings.dynamic_channels`, None = fixed_chunck) says which slice a
vertex of width k < K uses, after Yu et al.'s framework kcyu2014/nas-landmarkreg
(nasws/cnn/search_space/nasbench101/model_search.py NasBenchCellSearch, operations.py
DynamicReLUConvBNv2 / DynamicConv2dv2 / channel_chunck_fix / channel_random_chunck,
nasws/cnn/operations/ofa/ofa_dynamic_ops.py DynamicBatchNorm2d); in all three batch norm uses its
first k running statistics and affine parameters (`sliced_batch_norm`) and an earlier vertex is
truncated to its first k channels:
  fixed_chunck   the conv kernel W[:k_out, :k_in] (a vertex op k_in = k_out = k; the input projection
                 W[:k, :C_in]);
  random_chunck  the kernel's out and in dimensions each take k contiguous channels from a start drawn
                 uniformly in [0, K - k) (np.random.randint(0, K - k): the last chunk is never taken;
                 the whole dimension when K == k), independently per dimension at every conv call,
                 from torch's global generator (checkpointed: a resumed run draws the same). Deviation:
                 the framework draws in eval mode too, which makes a score random; here a chunk is
                 drawn only in a training step (train mode with gradients on), and eval mode, and the
                 train-mode passes scoring makes under no_grad (BN recalibration, batch statistics:
                 nas.evaluate), take the first chunk (fixed_chunck);
  expand         every width a vertex can take has its own block: the conv is allocated with
                 sum(widths) out and in channels, widths = `width_blocks(K)`, every floor(K/d) and
                 ceil(K/d) for d = 1..5 (all values compute_vertex_channels can give; the framework
                 takes them from its template specs, a subset), and width k uses
                 W[off(k):off(k)+k, off(k):off(k)+k], off(k) the sum of the smaller widths; the input
                 projection's out dimension takes the same blocks, its in dimension is the whole C_in;
                 batch norm stays size K, shared across widths, as the framework's.
The framework also passes the benchmark's TF batch-norm momentum (0.997) to PyTorch, where it is the
weight of the new batch; that is not copied here.

"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from nas.spaces.base import NetworkSettings
from nas.spaces.nb101_cell import (BN_EPS, BN_MOMENTUM, CHOICES, CONV3X3, DEFAULT_RULE, EDGE, EDGE_INDEX,  # noqa: F401
                                   MAX_VERTICES, MAXPOOL3X3, NONE, RULES, Spec, VERTEX_KEYS, path, positions,
                                   prune)  # (RULES, DEFAULT_RULE: re-exported)
from nas.spaces.ops import bn, conv, drop_path, max_pool


# --- the network ------------------------------------------------------------------------------------

def vertex_channels(in_channels: int, out_channels: int, matrix) -> list[int]:
    """The channels of each vertex of a pruned cell: model_builder.compute_vertex_channels. The input
    has `in_channels`, the output `out_channels`. The output's channels are split among the inner
    vertices that feed it, out // k each (k of them), the remainder out % k one each to the first of
    them in vertex order. Every other inner vertex takes the largest of the vertices it feeds, walking
    backwards (from n-3: vertex n-2 of a pruned cell feeds only the output). ValueError when no inner
    vertex feeds the output (the matrix was not pruned) or the output is narrower than its feeders."""
    m = [[int(x) for x in row] for row in matrix]
    n = len(m)
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:  # only input and output
        return channels
    fan_in = sum(m[v][n - 1] for v in range(1, n - 1))  # in-degree of the output, the input ignored
    if fan_in == 0:
        raise ValueError(f"vertex_channels: no inner vertex feeds the output of {m}; prune the cell first")
    share, extra = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if m[v][n - 1]:
            channels[v] = share + (1 if extra else 0)
            extra -= 1 if extra else 0
    for v in range(n - 3, 0, -1):
        if not m[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if m[v][dst]:
                    channels[v] = max(channels[v], channels[dst])
    # compute_vertex_channels' sanity checks: channels never grow along an inner edge (truncate keeps
    # the first ones; the output's in-vertices add up by construction). It asserts a vertex has channels
    # for all but vertex n-2, which it lets have 0 when the output is narrower than its feeders; no
    # network has a vertex of 0 channels, so that is refused here for every vertex.
    if any(c <= 0 for c in channels[1:n - 1]) or any(
            channels[v] < channels[d] for v in range(1, n - 1) for d in range(v + 1, n - 1) if m[v][d]):
        raise ValueError(f"vertex_channels: {channels} for {m} (in {in_channels}, out {out_channels})")
    return channels


class ConvBnRelu(nn.Sequential):
    """base_ops.conv_bn_relu: a stride-1 'same' convolution without bias, batch norm, ReLU. Batch norm's
    momentum is PyTorch's 0.1, as every other space's network here, not the benchmark's TF decay 0.997
    (momentum 0.003, `BENCHMARK_BN_MOMENTUM`): that decay needs the benchmark's ~40,000 steps for the
    running statistics to leave their initial values, and a network trained for a few hundred steps
    then evaluates with statistics near mean 0, variance 1 (the benchmark's README cell at C=16 on
    MNIST-1D, 8 epochs of 20 steps: 9.84 % test accuracy with 0.003, 94.98 % with 0.1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dim: int):
        norm = bn(dim, c_out, affine=True, track=True)
        norm.momentum, norm.eps = BN_MOMENTUM, BN_EPS
        super().__init__(conv(dim)(c_in, c_out, kernel, padding=kernel // 2, bias=False), norm, nn.ReLU())


def _operation(op: str, channels: int, dim: int) -> nn.Module:
    """base_ops.OP_MAP's op at a vertex of `channels` channels (its input has as many: projected or
    truncated to them). MaxPool3x3 ignores the channel count it is given and keeps its input's."""
    if op == MAXPOOL3X3:
        return max_pool(dim, 3, 1, 1)  # 3x3, stride 1, 'same': the padding never wins a max
    return ConvBnRelu(channels, channels, 3 if op == CONV3X3 else 1, dim)


class Vertex(nn.Module):
    """One inner vertex: the 1x1 projection of the cell input (if the input feeds it), then its op."""

    def __init__(self, op: str, in_channels: int, channels: int, from_input: bool, dim: int):
        super().__init__()
        # built in model_builder's order: projection, then op (the weights' initialisation follows it)
        self.projection = ConvBnRelu(in_channels, channels, 1, dim) if from_input else None
        self.op = _operation(op, channels, dim)
        self.channels = channels


class Cell(nn.Module):
    """model_builder.build_module for a pruned spec: vertices in order, each the sum of its inner
    inputs (truncated to its channels) and its projection of the cell input; the output the
    concatenation of its inner in-vertices plus, if the input feeds the output, a projection of the
    input to the output channels (the projection alone when no inner vertex feeds it)."""

    def __init__(self, spec: Spec, in_channels: int, out_channels: int, dim: int):
        super().__init__()
        self.matrix = spec.matrix
        n = len(spec.matrix)
        channels = vertex_channels(in_channels, out_channels, spec.matrix)
        self.vertices = nn.ModuleList(Vertex(spec.ops[t], in_channels, channels[t], bool(spec.matrix[0][t]), dim)
                                      for t in range(1, n - 1))
        self.out_projection = ConvBnRelu(in_channels, out_channels, 1, dim) if spec.matrix[0][n - 1] else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, n = self.matrix, len(self.matrix)
        values, concat = [x], []
        for t, vertex in enumerate(self.vertices, start=1):
            # truncate: a wider inner input keeps its first channels (model_builder.truncate)
            terms = [values[s][:, :vertex.channels] for s in range(1, t) if m[s][t]]
            if vertex.projection is not None:
                terms.append(vertex.projection(x))
            value = vertex.op(terms[0] if len(terms) == 1 else sum(terms))
            values.append(value)
            if m[t][n - 1]:
                concat.append(value)
        if not concat:
            return self.out_projection(x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        return out if self.out_projection is None else out + self.out_projection(x)


class Network(nn.Module):
    """model_builder.build_model_fn's network: stem, 3 stacks of `cells` cells (the channels doubled and
    the resolution halved by a 2x2 max pool at the start of stacks 1 and 2), global average pooling, a
    dense layer with bias."""

    def __init__(self, spec: Spec, channels: int, cells: int, in_channels: int, num_classes: int, dim: int):
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim}")
        self.spec = spec
        self.stem = ConvBnRelu(in_channels, channels, 3, dim)
        layers, c = [], channels
        for stack in range(3):
            c_out = c
            if stack > 0:
                pool = max_pool(dim, 2, 2, 0)
                pool.ceil_mode = True  # TF's 'same': an odd size gives ceil(n/2), the last window cut short
                layers.append(pool)
                c_out = 2 * c  # the stack's first cell takes c channels in and makes 2c
            for _ in range(cells):
                layers.append(Cell(spec, c, c_out, dim))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)
        _init_like_tf(self)

    def forward(self, x: torch.Tensor, arch=None) -> torch.Tensor:
        """Logits; `arch` is ignored (the network is one architecture), as the training loop passes it."""
        x = self.layers(self.stem(x))
        return self.classifier(x.flatten(2).mean(-1))


def _init_like_tf(net: nn.Module) -> None:
    """The benchmark's initialisation: convolutions tf.variance_scaling_initializer() (scale 1, fan_in,
    a normal truncated at 2 std whose std is corrected by 0.8796 for the truncation), the dense layer
    tf.layers.dense's default glorot_uniform kernel and zero bias; batch norm gamma 1, beta 0."""
    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            fan_in = module.in_channels * math.prod(module.kernel_size)
            std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


def build(arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """The stand-alone network of `arch` (pruned first, as the benchmark builds ModelSpec.matrix) for
    inputs of shape (C, L) or (C, H, W); `net(x)` gives logits."""
    return Network(prune(arch), channels, cells, input_shape[0], num_classes, len(input_shape) - 1)


def count_params(arch, channels: int = 128, cells: int = 3, input_shape: tuple[int, ...] = (3, 32, 32),
                 num_classes: int = 10) -> int:
    """The trainable parameters of `build`'s network, as TensorFlow counts them (the benchmark's
    trainable_parameters at the defaults, its configuration): convolution kernels, batch norm gamma
    and beta (not the moving statistics, which are buffers here), the dense kernel and bias."""
    return sum(p.numel() for p in build(arch, channels, cells, input_shape, num_classes).parameters())


# --- the super-net: vertices of variable width ----------------------------------------------------




def width_blocks(channels: int) -> tuple[int, ...]:
    """Every width an inner vertex of a cell with `channels` output channels can take, sorted: the
    output's share floor(K/d) or ceil(K/d) for d = 1..5 feeders (a vertex that does not feed the output
    takes the width of one that does). `expand` gives each its own weight block."""
    return tuple(sorted({w for d in range(1, MAX_VERTICES - 1) for w in (channels // d, -(-channels // d)) if w > 0}))


def chunk(weight: torch.Tensor, k: int, dim: int, rule: str, blocks: tuple[int, ...] | None = None,
          draw: bool = False) -> torch.Tensor:
    """The k entries of `weight` along `dim` that a use of width k takes, by the dynamic-channel `rule`
    (a view: gradients land in those entries):
      fixed_chunck   the first k;
      random_chunck  k contiguous entries from a start drawn uniformly in [0, length - k) from torch's
                     global generator when `draw` (a training step), else the first k; the whole
                     dimension when it holds exactly k (nothing drawn);
      expand         the block of width k: entries off(k)..off(k)+k-1, off(k) the sum of the `blocks`
                     smaller than k (ValueError for a width not among them); a dimension without
                     `blocks` is used whole (a projection's input).
    """
    length = weight.shape[dim]
    if rule == "expand" and blocks is not None:
        if k not in blocks:
            raise ValueError(f"chunk: width {k} is not among the expand blocks {blocks}")
        return weight.narrow(dim, sum(b for b in blocks if b < k), k)
    if k == length:
        return weight
    if not 0 < k < length:
        raise ValueError(f"chunk: width {k} of a dimension of {length}")
    start = int(torch.randint(length - k, (1,))) if rule == "random_chunck" and draw else 0
    return weight.narrow(dim, start, k)


def sliced_batch_norm(norm: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Batch norm of x's k channels with the first k entries of `norm` (built at the largest width):
    its scale and shift and, in train mode, its running statistics, updated in place through the views
    (ofa_dynamic_ops.DynamicBatchNorm2d.bn_forward). All of `norm` when k is its width."""
    k = x.shape[1]
    if k == norm.num_features:
        return norm(x)
    factor = 0.0 if norm.momentum is None else norm.momentum  # as _BatchNorm.forward
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        factor = 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum

    def first(t):
        return None if t is None else t[:k]
    return F.batch_norm(x, first(norm.running_mean), first(norm.running_var), first(norm.weight), first(norm.bias),
                        norm.training or not norm.track_running_stats, factor, norm.eps)


class DynamicConvBnRelu(nn.Module):
    """conv (no bias, stride 1, 'same') - batch norm - ReLU, built at the largest width and called at
    any: `forward(x, width)` maps x's channels to `width` (default: as many as x has) with the slice of
    the kernel `chunk` gives for each dimension under the rule (out first, then in, each drawn on its
    own under random_chunck), and the first `width` entries of the batch norm (`sliced_batch_norm`).
    `vary_in` False: the input always has all `c_in` channels (a projection of the cell input), so its
    dimension is used whole under every rule."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dim: int, rule: str, affine: bool, track: bool,
                 vary_in: bool = True):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown dynamic-channel rule {rule!r}; expected one of {', '.join(RULES)}")
        self.rule, self.kernel, self.dim = rule, kernel, dim
        self.out_blocks = width_blocks(c_out) if rule == "expand" else None
        self.in_blocks = width_blocks(c_in) if rule == "expand" and vary_in else None
        self.conv = conv(dim)(sum(self.in_blocks) if self.in_blocks else c_in,
                              sum(self.out_blocks) if self.out_blocks else c_out, kernel, padding=kernel // 2,
                              bias=False)
        self.bn = bn(dim, c_out, affine, track)

    def forward(self, x: torch.Tensor, width: int | None = None) -> torch.Tensor:
        k = x.shape[1] if width is None else width
        # random chunks in a training step only: eval mode, and the train-mode passes scoring makes under
        # no_grad (batch-norm recalibration, batch statistics), take the first chunk
        draw = self.rule == "random_chunck" and self.training and torch.is_grad_enabled()
        w = chunk(self.conv.weight, k, 0, self.rule, self.out_blocks, draw)
        w = chunk(w, x.shape[1], 1, self.rule, self.in_blocks, draw)
        y = (F.conv1d if self.dim == 1 else F.conv2d)(x, w, None, 1, self.kernel // 2)
        return torch.relu(sliced_batch_norm(self.bn, y))


def _vertex_op(op: str, channels: int, dim: int, rule: str, affine: bool, track: bool) -> nn.Module:
    """One candidate of a vertex choice at the cell's width K: a width-aware conv-bn-relu, or the
    weightless, width-agnostic 3x3 max pool."""
    if op == MAXPOOL3X3:
        return max_pool(dim, 3, 1, 1)
    return DynamicConvBnRelu(channels, channels, 3 if op == CONV3X3 else 1, dim, rule, affine, track)


@lru_cache(maxsize=4096)
def _cell_channels(in_channels: int, out_channels: int, matrix) -> tuple[int, ...]:
    return tuple(vertex_channels(in_channels, out_channels, matrix))


class SuperCell(nn.Module):
    """The weight-sharing cell: the fully connected 7-vertex cell built once at the cell's output width
    K. Per vertex v1..v5 its choice of operation (each op its own weights at width K) and a 1x1
    conv-bn-relu projection of the cell input (in_c -> K, not a choice); per edge its choice of
    none/edge (an identity); one projection of the input to the output (in_c -> K).

    `forward(x, spec)` runs a pruned spec (`path`): the vertices of an n-vertex cell sit at v1..v(n-2)
    and the output at 6 (`positions`); widths are `vertex_channels(in_c, K, matrix)`; each edge
    between two vertices of the cell runs its choice module (None: the edge is off); a vertex sums the
    projection of the cell input (sliced to its width) and the earlier vertices (their first k
    channels) over the edges that are on, runs its op choice at width k (path dropout on its output in
    train mode); the output concatenates the vertices feeding it, in vertex order, plus the input's
    projection if input->output is on (that projection alone if no vertex feeds the output)."""

    def __init__(self, in_channels: int, out_channels: int, dim: int, rule: str, affine: bool, track: bool,
                 choice):
        super().__init__()
        self.in_channels, self.channels = in_channels, out_channels
        self.projections = nn.ModuleList(
            DynamicConvBnRelu(in_channels, out_channels, 1, dim, rule, affine, track, vary_in=False)
            for _ in VERTEX_KEYS)
        self.vertices = nn.ModuleList(
            choice(c, {op: _vertex_op(op, out_channels, dim, rule, affine, track) for op in c.candidates})
            for c in CHOICES[:len(VERTEX_KEYS)])
        self.edges = nn.ModuleList(choice(c, {NONE: None, EDGE: nn.Identity()}) for c in CHOICES[len(VERTEX_KEYS):])
        # always the whole K channels out and in_c in: a plain conv-bn-relu under every rule
        self.out_projection = DynamicConvBnRelu(in_channels, out_channels, 1, dim, DEFAULT_RULE, affine, track,
                                                vary_in=False)

    def forward(self, x: torch.Tensor, spec: Spec, path_dropout: float = 0.0) -> torch.Tensor:
        m, n = spec.matrix, len(spec.matrix)
        where = positions(n)
        channels = _cell_channels(self.in_channels, self.channels, m)

        def flow(s: int, t: int, value: torch.Tensor) -> torch.Tensor | None:
            return self.edges[EDGE_INDEX[where[s], where[t]]](value, EDGE if m[s][t] else NONE)

        values = [x]
        for t in range(1, n - 1):
            k, total = channels[t], None
            for s in range(t):
                value = flow(s, t, values[s])
                if value is None:
                    continue
                term = self.projections[t - 1](value, k) if s == 0 else value[:, :k]  # truncate: first k
                total = term if total is None else total + term
            if total is None:
                raise ValueError(f"vertex {t} of {spec} has no input; prune the cell first")
            value = self.vertices[t - 1](total, spec.ops[t])
            values.append(drop_path(value, path_dropout) if self.training else value)
        skip, feeders = None, []
        for s in range(n - 1):
            value = flow(s, n - 1, values[s])
            if value is not None:
                if s == 0:
                    skip = value
                else:
                    feeders.append(value)
        if not feeders:
            return self.out_projection(skip, self.channels)
        out = feeders[0] if len(feeders) == 1 else torch.cat(feeders, dim=1)
        return out if skip is None else out + self.out_projection(skip, self.channels)


class SuperNetwork(nn.Module):
    """The stand-alone network's skeleton (`Network`) around `SuperCell`s: a conv3x3-bn-relu stem to C
    channels, 3 stacks of `cells` cells (a 2x2 max pool, ceil mode, and doubled channels at the start of
    stacks 1 and 2), global average pooling, dropout on the pooled features, a linear classifier.
    Called as `net(x, arch)` with an architecture or a super-net path (`path`)."""

    def __init__(self, net: NetworkSettings, choice):
        super().__init__()
        dim = len(net.input_shape) - 1
        if dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim}")
        self.rule = net.dynamic_channels or DEFAULT_RULE
        self.path_dropout = 0.0  # set by super-net training; applies in train mode only
        c = net.channels
        self.stem = nn.Sequential(conv(dim)(net.input_shape[0], c, 3, padding=1, bias=False),
                                  bn(dim, c, net.affine, net.track), nn.ReLU())
        layers = []
        for stack in range(3):
            c_out = c
            if stack > 0:
                pool = max_pool(dim, 2, 2, 0)
                pool.ceil_mode = True
                layers.append(pool)
                c_out = 2 * c
            for _ in range(net.cells):
                layers.append(SuperCell(c, c_out, dim, self.rule, net.affine, net.track, choice))
                c = c_out
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(net.global_dropout)
        self.classifier = nn.Linear(c, net.num_classes)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        spec = path(arch)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, spec, self.path_dropout) if isinstance(layer, SuperCell) else layer(x)
        return self.classifier(self.dropout(x.flatten(2).mean(-1)))
