"""The NAS-Bench-101 cell (Ying et al., 2019) as the benchmark's code (google-research/nasbench) defines
it: the architecture value, its JSON string, validity, pruning, the isomorphism hash, random
sampling, and the mapping of a cell onto the 7 positions of the space's picks. The `SearchSpace`
is nb101.py; the networks are nb101_nets.py.

A cell is a DAG of at most 7 vertices: an adjacency matrix (upper triangular, 0/1) and one operation
per vertex, the first `input`, the last `output`, the others among OPS. An architecture is a `Spec`,
the tuple (matrix, ops) of tuples, pruned; its string is the benchmark's JSON spec
`{"matrix":[[0,1],[0,0]],"ops":["input","output"]}` (`parse`, `format`; a string is read as written,
and everything that uses it prunes it first).

Validity is exactly what the benchmark refuses (ModelSpec's constructor raises, `NASBench.is_valid`
returns False), in the order it checks (see `_checked`): some rules apply to the pruned cell, so a
spec whose pruning leaves at most 7 vertices and 9 edges is valid even if it is written with more.
`prune` is ModelSpec._prune; `module_hash` is ModelSpec.hash_spec's graph_util.hash_module with the
api's labelling, the key the benchmark's records are stored under (isomorphic cells share it).

`random_spec` is the benchmark's and NASLib's sampler: a uniform random upper-triangular 7x7 matrix
and uniform ops, redrawn until valid, so it is uniform over valid 7-vertex (matrix, ops) pairs, not
over the 423,624 unique cells; the space's `sample` (nb101.py) draws distinct cells by hash.

Picks: of n vertices: its input at 0, its inner vertices at v1..v(n-2) (vertex t at t), its output at 6 (`positions`), so an edge (s, t) of the cell is the pick "s'->t'" of their positions (an edge into the output of a 4-vertex cell, "2->3" in its matrix, is "2->6"); the unused vertices v(n-1)..v5 have no edges and pick OPS[0] (any pick there denotes the same architecture: `from_picks` prunes them away). `from_picks` builds the 7x7 matrix and ops and returns the pruned Spec; a super-net path of tuples (the one-shot warm-up: every op at a vertex, every edge on) gives the pruned Spec whose vertices hold the tuples.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

from nas.io import UserError
from nas.settings import show
from nas.spaces.base import Choice, arch_text, shown


INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# config.py's available_ops, in its order: the hash labels an op by its index here (ModelSpec.hash_spec).
OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7   # config.py module_vertices
MAX_EDGES = 9      # config.py max_edges
NUM_UNIQUE = 423_624  # unique cells (hashes) within the limits: scripts/generate_graphs.py's docstring
EXAMPLE = '{"matrix":[[0,1,0],[0,0,1],[0,0,0]],"ops":["input","conv3x3-bn-relu","output"]}'

# base_ops.py: BN_MOMENTUM = 0.997 is TF's decay of the moving averages (PyTorch's momentum, the weight of
# the new batch, 1 - 0.997); BN_EPSILON = 1e-5 is PyTorch's default. The stand-alone network does not take
# that momentum (nb101_nets.ConvBnRelu): it assumes the benchmark's ~40,000 steps (108 epochs of 390).
BENCHMARK_BN_MOMENTUM = 1.0 - 0.997
BN_MOMENTUM = 0.1
BN_EPS = 1e-5

# The super-net's dynamic-channel rules (nb101_nets.DynamicConvBnRelu says what each does).
RULES = ("fixed_chunck", "random_chunck", "expand")  # Yu et al.'s names, spelled as their framework does
DEFAULT_RULE = "fixed_chunck"


class Spec(NamedTuple):
    """An architecture: the adjacency matrix (matrix[i][j] = 1: an edge i -> j) and the vertices' ops."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]


# --- validity -------------------------------------------------------------------------------------

def _live_vertices(matrix) -> list[int] | None:
    """The vertices on a path from the input (0) to the output (n-1), in order, or None when the input
    cannot reach the output: ModelSpec._prune (a DFS forward from the input, one backward from the
    output; a vertex outside either is extraneous; fewer than 2 vertices left, i.e. more than n - 2
    extraneous, and the spec is invalid). Needs an upper-triangular matrix, as _prune does."""
    n = len(matrix)
    forward, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top][v] and v not in forward:
                forward.add(v)
                frontier.append(v)
    backward, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if matrix[v][top] and v not in backward:
                backward.add(v)
                frontier.append(v)
    keep = sorted(forward & backward)
    return keep if len(keep) >= 2 else None


def _restrict(spec: Spec, keep: list[int]) -> Spec:
    """The spec on the vertices `keep` (in order): the rows and columns of the others deleted."""
    return Spec(tuple(tuple(spec.matrix[i][j] for j in keep) for i in keep), tuple(spec.ops[i] for i in keep))


def _bit(x) -> int | None:
    """x as 0 or 1 if it is an integer 0 or 1 (not a bool, not a float), else None."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x not in (0, 1):
        return None
    return int(x)


def _checked(matrix, ops, quote: Callable[[], str]) -> Spec:
    """The Spec of (matrix, ops), or a one-line UserError naming the rule broken (`quote()`: the input
    as the error quotes it, made only for an error). The rules, in the benchmark's order:
      this module's form (the benchmark takes any array): matrix a list of rows of 0/1 integers, ops a
        list of strings;
      ModelSpec.__init__: the matrix is square, ops has one entry per vertex, the matrix is upper
        triangular (0 on and below the diagonal);
      ModelSpec._prune: the input reaches the output (else valid_spec is False);
      NASBench._check_spec (what is_valid asks), on the *pruned* spec (model_spec.matrix and .ops are
        the pruned ones): at most MAX_VERTICES vertices, at most MAX_EDGES edges (np.sum(matrix)), the
        first op `input`, the last `output`, every other op among OPS. An op on a vertex that pruning
        removes is not checked, nor are the vertices and edges pruning removes."""
    def fail(rule: str):
        raise UserError(f"architecture {quote()}: {rule}")

    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    if not isinstance(matrix, (list, tuple)) or not all(isinstance(row, (list, tuple)) for row in matrix):
        fail(f"matrix must be a list of rows of 0/1, got {show(matrix, 40)}")
    rows = []
    for i, row in enumerate(matrix):
        bits = [_bit(x) for x in row]
        if None in bits:
            j = bits.index(None)
            fail(f"matrix entries must be the integers 0 or 1; matrix[{i}][{j}] is {show(row[j], 40)}")
        rows.append(tuple(bits))
    n = len(rows)
    if n == 0:
        fail("matrix must be square (ModelSpec): it is empty")
    if any(len(row) != n for row in rows):
        widths = ", ".join(str(w) for w in sorted({len(r) for r in rows}))
        fail(f"matrix must be square (ModelSpec): {n} rows of {widths} entries")
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)) or not all(isinstance(o, str) for o in ops):
        fail(f"ops must be a list of operation names, got {show(ops, 60)}")
    if len(ops) != n:
        fail(f"length of ops must match matrix dimensions (ModelSpec): {len(ops)} ops for {n} vertices")
    below = [(i, j) for i in range(n) for j in range(i + 1) if rows[i][j]]
    if below:
        fail(f"matrix must be upper triangular (ModelSpec): matrix[{below[0][0]}][{below[0][1]}] is 1, on or "
             "below the diagonal")
    spec = Spec(tuple(rows), tuple(str(o) for o in ops))
    rule = _broken_rule(spec)
    if rule is not None:
        fail(rule)
    return spec


def _broken_rule(spec: Spec) -> str | None:
    """The benchmark rule a square, upper-triangular spec breaks, as one line, or None when the
    benchmark takes it: the input reaches the output (ModelSpec._prune), then on the pruned spec at
    most MAX_VERTICES vertices and MAX_EDGES edges, the first op `input`, the last `output`, the others
    among OPS (NASBench._check_spec). `_checked`'s last step, and `NB101.violation`'s rule."""
    n, ops = len(spec.matrix), spec.ops
    keep = _live_vertices(spec.matrix)
    if keep is None:
        where = f"to output (vertex {n - 1})" if n > 1 else "to an output: one vertex is both"
        return f"no path from input (vertex 0) {where}; the spec is disconnected (ModelSpec._prune)"
    pruned = _restrict(spec, keep)
    m = len(keep)
    pruned_note = "" if m == n else f" after pruning (of {n}, {n - m} off every input-output path)"
    if m > MAX_VERTICES:
        return f"too many vertices: {m}{pruned_note}, at most {MAX_VERTICES} (NASBench._check_spec)"
    edges = sum(map(sum, pruned.matrix))
    if edges > MAX_EDGES:
        return f"too many edges: {edges}{pruned_note}, at most {MAX_EDGES} (NASBench._check_spec)"
    if ops[0] != INPUT:
        return f"the first op must be {INPUT!r}, got {show(ops[0], 40)} (NASBench._check_spec)"
    if ops[-1] != OUTPUT:
        return f"the last op must be {OUTPUT!r}, got {show(ops[-1], 40)} (NASBench._check_spec)"
    for v in keep[1:-1]:
        if ops[v] not in OPS:
            return (f"unknown op {show(ops[v], 40)} at vertex {v}; expected one of {', '.join(OPS)} "
                    "(NASBench._check_spec)")
    return None


def make_spec(matrix, ops) -> Spec:
    """The Spec of a matrix (nested lists or a numpy array) and an op list, checked as `parse` checks."""
    return _checked(matrix, ops, lambda: shown((matrix, ops)))


def _spec(arch) -> Spec:
    """`arch` (a Spec, a (matrix, ops) pair or a JSON string) as a checked Spec."""
    if isinstance(arch, str):
        return parse(arch)
    if not isinstance(arch, (tuple, list)) or len(arch) != 2:
        raise UserError(f"architecture {shown(arch)}: expected a (matrix, ops) pair or a string like {EXAMPLE}")
    return make_spec(*arch)


# --- the string -------------------------------------------------------------------------------------

def parse(text: str) -> Spec:
    """The benchmark's JSON spec `{"matrix": [[...], ...], "ops": [...]}` -> Spec (as written: not
    pruned). One-line UserError naming the rule broken if it is malformed or not a valid cell."""
    arch_text(text, EXAMPLE)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"architecture {shown(text)}: not JSON ({e.msg} at character {e.pos}); "
                        f"expected e.g. {EXAMPLE}") from None
    except RecursionError:  # arrays nested thousands deep: no architecture, and json gives up
        raise UserError(f"architecture {shown(text)}: JSON nested too deep; expected e.g. {EXAMPLE}") from None
    if not isinstance(value, dict) or set(value) != {"matrix", "ops"}:
        got = f"the keys {show(sorted(value), 60)}" if isinstance(value, dict) else f"a {type(value).__name__}"
        raise UserError(f"architecture {shown(text)}: expected a JSON object with exactly the keys matrix and ops, "
                        f"got {got}")
    return _checked(value["matrix"], value["ops"], lambda: shown(text))


def format(arch) -> str:  # noqa: A001  (the module's verb, as nb201.format)
    """Spec -> compact JSON, keys matrix then ops: `parse(format(a)) == a`."""
    spec = _spec(arch)
    return json.dumps({"matrix": [list(row) for row in spec.matrix], "ops": list(spec.ops)}, separators=(",", ":"))


# --- pruning and the hash ------------------------------------------------------------------------------

def prune(arch) -> Spec:
    """The cell without the vertices off every input->output path (ModelSpec._prune: their rows and
    columns deleted, the others kept in order). UserError if the input cannot reach the output."""
    spec = _spec(arch)
    return _restrict(spec, _live_vertices(spec.matrix))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def graph_hash(matrix, labels) -> str:
    """graph_util.hash_module: an MD5 fingerprint invariant under relabelling the vertices. Each vertex
    starts as the hash of str((out-degree, in-degree, label)); then, as many times as there are
    vertices, becomes the hash of its in-neighbours' hashes sorted and joined, '|', its out-neighbours'
    likewise, '|', its own; the graph's hash is that of str() of the sorted vertex hashes. The
    benchmark formats Python ints (its degrees come from .tolist(), its labels from list.index), so
    everything is converted to Python ints here: numpy 2 prints np.int64(3) as 'np.int64(3)'."""
    m = [[int(x) for x in row] for row in matrix]
    n = len(m)
    outs = [sum(row) for row in m]
    ins = [sum(m[w][v] for w in range(n)) for v in range(n)]
    hashes = [_md5(str((outs[v], ins[v], int(labels[v])))) for v in range(n)]
    for _ in range(n):  # at least the diameter, as the benchmark repeats it
        hashes = [_md5("".join(sorted(hashes[w] for w in range(n) if m[w][v])) + "|"
                       + "".join(sorted(hashes[w] for w in range(n) if m[v][w])) + "|" + hashes[v])
                  for v in range(n)]
    return _md5(str(sorted(hashes)))  # the repr of a list of str: "['...', '...']", as the benchmark's


def labelling(ops) -> list[int]:
    """The hash's vertex labels (ModelSpec.hash_spec with config's available_ops, as NASBench._hash_spec
    calls it): input -1, output -2, an op its index in OPS."""
    return [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]


def module_hash(arch) -> str:
    """The benchmark's key of `arch`: graph_hash of the pruned matrix with `labelling`; isomorphic cells
    share it. The README's Inception-like cell gives 28cfc7874f6d200472e1a9dcd8650aa0."""
    spec = prune(arch)
    return graph_hash(spec.matrix, labelling(spec.ops))


# --- sampling ---------------------------------------------------------------------------------------

def random_spec(rng: np.random.Generator) -> Spec:
    """A random valid cell, pruned: the sampler of the benchmark's notebook (random_spec) and NASLib's
    nasbench101 sample_random_architecture. A 7x7 matrix of fair 0/1 draws kept above the diagonal
    (np.triu(., 1)) and a uniform op for each of the 5 inner vertices, redrawn until the benchmark
    accepts it; uniform over valid 7-vertex (matrix, ops) pairs."""
    while True:
        matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
        inner = rng.integers(0, len(OPS), size=MAX_VERTICES - 2)
        spec = Spec(tuple(tuple(int(x) for x in row) for row in matrix),
                    (INPUT,) + tuple(OPS[int(i)] for i in inner) + (OUTPUT,))
        keep = _live_vertices(spec.matrix)
        if keep is None:
            continue
        pruned = _restrict(spec, keep)
        if sum(map(sum, pruned.matrix)) <= MAX_EDGES:  # the other rules hold by construction
            return pruned


# --- the space: choices and picks --------------------------------------------------------------------

NAME = "nb101"
VERTEX_KEYS = tuple(f"v{v}" for v in range(1, MAX_VERTICES - 1))          # v1..v5
EDGE_PAIRS = tuple((i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES))  # row order
EDGE_KEYS = tuple(f"{i}->{j}" for i, j in EDGE_PAIRS)                        # 0->1 .. 5->6
EDGE_INDEX = {pair: k for k, pair in enumerate(EDGE_PAIRS)}
NONE, EDGE = "none", "edge"
CHOICES = (tuple(Choice(k, OPS) for k in VERTEX_KEYS)
           + tuple(Choice(k, (NONE, EDGE)) for k in EDGE_KEYS))
OUT = MAX_VERTICES - 1  # the output's position among the picks (vertex 6)


def positions(n: int) -> list[int]:
    """Where the vertices of a pruned cell of n vertices sit among the picks' 7: the input at 0, inner
    vertex t at t (v1..v(n-2)), the output at 6."""
    return list(range(n - 1)) + [OUT]


def _full_spec(picks: dict[str, object]) -> Spec:
    """The 7-vertex spec the picks write (not pruned): an edge wherever its pick holds `edge` (a name,
    or a tuple of names with `edge` among them), the vertices' picks as their ops."""
    matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
    for (i, j), key in zip(EDGE_PAIRS, EDGE_KEYS):
        pick = picks[key]
        matrix[i][j] = int(pick == EDGE if isinstance(pick, str) else EDGE in pick)
    ops = (INPUT,) + tuple(picks[k] for k in VERTEX_KEYS) + (OUTPUT,)
    return Spec(tuple(map(tuple, matrix)), ops)


def _names(pick) -> tuple[str, ...] | None:
    """A pick as the names it holds (one name, or a tuple of names), or None if it is neither."""
    if isinstance(pick, str):
        return (pick,)
    if isinstance(pick, (tuple, list)) and pick and all(isinstance(p, str) for p in pick):
        return tuple(pick)
    return None


def _path_uncached(arch) -> Spec:
    if isinstance(arch, Spec) and not all(isinstance(op, str) for op in arch.ops):
        # a super-net path (the one-shot warm-up): vertices holding tuples of operation names
        for v, op in enumerate(arch.ops[1:-1], start=1):
            names = _names(op)
            if names is None or any(o not in OPS for o in names):
                raise UserError(f"super-net path {shown(arch)}: vertex {v} holds {show(op, 60)}; expected an "
                                f"operation or a tuple of them among {', '.join(OPS)}")
        keep = _live_vertices(arch.matrix)
        if keep is None:
            raise UserError(f"super-net path {shown(arch)}: no path from input to output")
        return _restrict(arch, keep)
    return prune(arch)


_path_cached = lru_cache(maxsize=4096)(_path_uncached)


def path(arch) -> Spec:
    """What a super-net runs for `arch`: its pruned Spec (an architecture: a Spec, a (matrix, ops) pair
    or its JSON string, checked and pruned), or a super-net path (a Spec whose vertices hold tuples of
    names, as `from_picks` of a one-shot path gives it), pruned. Cached: every cell and every step of
    one architecture prunes it once."""
    try:
        return _path_cached(arch)
    except TypeError:  # unhashable (lists): not cached
        return _path_uncached(arch)
