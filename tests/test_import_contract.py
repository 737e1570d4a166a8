"""The import contract (issue 9 §3): ``sim``'s layers only point down, and no modules import each other in a
cycle. Checked by ``make test`` from the source with ``ast`` (no import is executed, no extra dependency).

Every ``import`` counts, at module level or inside a function (a deferred import is still a dependency), except
under ``if TYPE_CHECKING:``. ``from sim import bold`` is an edge to ``sim.bold``; ``from sim.x import f`` an edge
to ``sim.x``. A module belongs to the layer of the longest prefix listed in :data:`LAYERS`.

There are no known violations: any upward import or cycle fails ``make test``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: bottom to top; a module may import its own layer and the layers below, never a layer above
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sim", "sim.errors", "sim.stats", "sim.params", "sim.config", "sim.conf", "sim.analysis", "sim.schema"),
    ("sim.atlas", "sim.connectome", "sim.network", "sim.cohort", "sim.rng", "sim.kernel", "sim.models",
     "sim.integrate", "sim.bold",
     "sim.observe", "sim.metrics", "sim.pharmacology", "sim.empirical"),
    ("sim.simulate", "sim.experiment", "sim.validate"),
    ("sim.claims",),
    ("sim.summary", "sim.report", "sim.plots", "sim.sweep"),
    ("sim.runio", "sim.run", "sim.fit", "sim.cli", "sim.sandbox"),
)


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> source file for every module of the ``sim`` package."""
    out = {}
    for p in sorted((root / "sim").rglob("*.py")):
        parts = p.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the ``sim`` modules it imports (resolved to the longest existing module name)."""
    graph: dict[str, set[str]] = {}

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _type_checking_lines(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            targets.update(t for t in (resolve(n) for n in names if n == "sim" or n.startswith("sim.")) if t)
        targets.discard(mod)
        graph[mod] = targets
    return graph


def layer_of(mod: str) -> int:
    best, level = -1, None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (mod == prefix or mod.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    if level is None:
        raise AssertionError(f"{mod} is in no layer of tests/test_import_contract.py LAYERS: add it")
    return level


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def violations(graph: dict[str, set[str]], allowed: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    g = {m: {t for t in ts if (m, t) not in allowed} for m, ts in graph.items()}
    out = [f"upward import: {m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
           for m, ts in sorted(g.items()) for t in sorted(ts) if layer_of(t) > layer_of(m)]
    out += ["import cycle: " + " <-> ".join(c) for c in cycles(g)]
    return out


GRAPH = import_graph(module_files())


def test_the_graph_sees_the_package():
    assert {"sim.simulate", "sim.cli", "sim.claims.registry", "sim.models.hopf"} <= set(GRAPH)
    assert "sim.atlas" in GRAPH["sim.simulate"] and "sim.errors" in GRAPH["sim.atlas"]
    for mod in GRAPH:
        layer_of(mod)  # every module is placed in a layer


def test_layers_only_point_down_and_there_is_no_cycle():
    assert violations(GRAPH) == []


def test_the_checker_finds_a_cycle_and_an_upward_import():
    graph = {"sim.atlas": {"sim.errors"}, "sim.errors": {"sim.atlas"}, "sim.simulate": {"sim.report"},
             "sim.report": set()}
    found = violations(graph)
    assert "import cycle: sim.atlas <-> sim.errors" in found
    assert any(v.startswith("upward import: sim.errors") for v in found)
    assert any(v.startswith("upward import: sim.simulate (layer 2) imports sim.report") for v in found)
