"""The package's layering, read from its source: which module imports which.

- No import circle between modules.
- No loop between folders: each sub-package (kindlike.cluster, .create, ...)
  and each top-level module (kindlike.lifecycle, ...) is one unit, and the
  units' imports form no circle.
- create/ is one command among peers: only the public API (kindlike.api)
  and create/ itself import it; the CLI reaches create through the API.
- Only engines/ talks to an engine SDK or reads an engine's inspect document.
- Imports sit at the top of a module; engines/ may defer the SDKs (their
  import costs every command that needs no engine).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kindlike"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            return True
    return False


def _imports(module: str) -> list[tuple[str, ast.AST, bool]]:
    """(imported module, the import node, at function level) for every
    import of a kindlike module (or an SDK) in `module`. `from pkg import
    sub` names the submodule, not the package's __init__."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        nested = not isinstance(parents.get(node), ast.Module)
        if isinstance(node, ast.Import):
            out += [(a.name, node, nested) for a in node.names]
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
        out += [(s, node, nested) for s in subs] if len(subs) == len(node.names) else [(base, node, nested)]
    return out


def _graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _unit(module: str) -> str:
    """kindlike.create.steps -> kindlike.create; kindlike.lifecycle stays."""
    return ".".join(module.split(".")[:2])


def test_no_import_circle_between_modules():
    assert _circles(_graph()) == []


def test_no_loop_between_folders():
    units: dict[str, set[str]] = {}
    for m, targets in _graph().items():
        if m == "kindlike":  # the package's lazy exports (importlib) are not imports
            continue
        units.setdefault(_unit(m), set()).update(_unit(t) for t in targets if _unit(t) != _unit(m))
    assert _circles(units) == []


def test_only_the_api_reaches_into_create():
    outside = sorted(f"{m} imports {t}" for m, targets in _graph().items() for t in targets
                     if _unit(t) == "kindlike.create" and _unit(m) != "kindlike.create" and m != "kindlike.api")
    assert outside == []


def test_only_engines_talk_to_an_engine_sdk_or_its_inspect_document():
    found = []
    for m, path in MODULES.items():
        if _unit(m) == "kindlike.engines":
            continue
        for target, node, _ in _imports(m):
            if target.split(".")[0] in ("docker", "podman"):
                found.append(f"{m}:{node.lineno} imports {target}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("attrs", "inspect", "_get"):
                found.append(f"{m}:{node.lineno} uses .{node.attr}")
    assert found == []


def test_imports_at_the_top():
    found = [f"{m}:{node.lineno} {ast.unparse(node)}" for m in MODULES for t, node, nested in _imports(m)
             if nested and not (_unit(m) == "kindlike.engines" and t.split(".")[-1] in ("docker", "podman"))]
    assert found == []


def test_the_checks_see_what_they_look_for():
    # The parser itself: a function-level import is seen as one, `from pkg
    # import sub` as the submodule, and a circle is found.
    got = {t: nested for t, _, nested in _imports("kindlike.engines.detect")}
    assert got["kindlike.engines.docker"] is True and got["kindlike.errors"] is False
    assert "kindlike.config.defaulting" in _graph()["kindlike.config.load"]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
