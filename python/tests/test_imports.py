"""The package's modules import one another without a cycle, type-only imports included."""

import ast

from support import ROOT

PACKAGE = ROOT / "python" / "agentcast"


def imports_of(name: str) -> set:
    """The agentcast modules ``name`` imports, wherever the import statement is (also under TYPE_CHECKING)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found - {name}


def test_no_import_cycle() -> None:
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    graph = {m: imports_of(m) & set(modules) for m in modules}
    assert graph["run"] == {"events", "_sink", "_wire", "errors"}, graph["run"]
    done, path = set(), []

    def visit(module: str) -> None:
        assert module not in path, " -> ".join(path + [module])
        if module in done:
            return
        path.append(module)
        for dep in sorted(graph[module]):
            visit(dep)
        path.pop()
        done.add(module)

    for module in modules:
        visit(module)
