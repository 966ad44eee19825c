"""The code's shape, read statically (nothing is imported): no import cycle among the modules of nas/
and benchmarks/, and no module of nas/ longer than MAX_LINES lines."""

from __future__ import annotations

from helpers import REPO

PACKAGES = ("nas", "benchmarks")
MAX_LINES = 700


def import_graph() -> dict[str, set[str]]:
    """The modules of PACKAGES and what each imports anywhere in its file (nas.codedeps reads them, the
    same reading that derives the stages' code deps)."""
    from nas import codedeps

    return {m: set(deps) for m, deps in codedeps.import_graph(str(REPO), PACKAGES).items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other, directly or through others (a strongly connected
    component of more than one module), its names sorted; the groups sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def shortest_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A shortest import cycle from the group's first module back to it, within the group (to name
    one in a failure message)."""
    start = group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & set(group)):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return group


def test_no_import_cycle():
    # the check itself: it sees every module, imports inside functions, `from X import module`, and
    # not the implicit import of a submodule's parent package
    toy = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": {"a"}, "e": {"a"}}
    assert cycles(toy) == [["a", "b", "c", "d"]] and shortest_cycle(toy, ["a", "b", "c", "d"]) == ["a", "b", "c", "a"]
    graph = import_graph()
    assert {"nas.stages", "nas.report.page", "nas.metrics_files", "benchmarks.run"} <= set(graph)
    assert {"nas.report.text", "nas.io", "nas.metrics_files"} <= graph["nas.stages"]
    assert "nas.report" not in graph["nas.report.page"]
    found = cycles(graph)
    assert found == [], "import cycles (each a group of modules that import each other, directly or not):\n" + \
        "\n".join(f"  {', '.join(group)}; e.g. {' -> '.join(shortest_cycle(graph, group))}" for group in found)


def test_no_module_of_nas_is_longer_than_the_limit():
    lengths = {path.relative_to(REPO).as_posix(): len(path.read_text().splitlines())
               for path in (REPO / "nas").rglob("*.py") if "__pycache__" not in path.parts}
    assert lengths  # it found them
    too_long = {name: n for name, n in sorted(lengths.items()) if n > MAX_LINES}
    assert too_long == {}, f"modules over {MAX_LINES} lines (split them by job): {too_long}"
