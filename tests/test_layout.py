"""The package's shape (issue 27): the import-linter contracts hold, no import cycles (counting
imports inside functions), and no module imports another's private names."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ppo_jax"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> dict[str, set[tuple[str, str | None]]]:
    """{module: {(imported module, name or None)}}: every `import`/`from ... import` in the
    package, at any depth (inside functions too), resolved to ppo_jax modules."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {(a.name, None) for a in node.names if a.name.startswith("ppo_jax")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ppo_jax"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    edges.add((sub, None) if sub in modules else (node.module, alias.name))
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph (as a path), or None: depth-first search with colours."""
    colour, stack = {}, []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == "grey":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        colour[node] = "black"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles_in_the_package():
    imports = package_imports()
    graph = {m: {dst for dst, _ in edges if dst != m and dst in imports} for m, edges in imports.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_module_imports_another_modules_private_names():
    bad = [f"{m}: {dst}.{name}" for m, edges in package_imports().items() for dst, name in edges
           if name and name.startswith("_") and name != "__version__"]
    assert not bad, bad


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run([exe], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout, done.stdout[-3000:]
