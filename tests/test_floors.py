"""The house rules of the package, checked on its source: imports point down the floors,
no private name crosses modules, files and functions stay a readable size.

The floors (README, "Architecture"), each with the floors it may import besides itself:

    core, store                 <- nothing of chainrule's
    nn, data, graph             <- core, store
    training                    <- core, store, nn, data
    book, export                <- and training, graph (book)
    cli, web                    <- everything below (cli also starts web)

Every import is read, those inside functions included. The one allowed exception is
named in ``EXCEPTIONS``.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

GROUND = {"chainrule._startup"}
"""Root modules every floor may import: the start-up signal handler."""

BELOW: dict[str, set[str]] = {
    "core": set(),
    "store": set(),
    "nn": {"core", "store"},
    "data": {"core", "store"},
    "graph": {"core"},
    "training": {"core", "store", "nn", "data"},
    "book": {"core", "store", "nn", "data", "graph", "training"},
    "export": {"core", "store", "nn", "data", "training"},
    "book_shim": {"core", "store", "nn", "data", "graph", "training", "book"},
    "web": {"core", "store", "nn", "data", "graph", "training", "book", "export"},
    "cli": {"core", "store", "nn", "data", "graph", "training", "book", "export",
            "book_shim", "web"},
    "__init__": {"core", "store", "nn", "data", "graph"},  # the public names
    "__main__": {"cli"},
}
"""Which floors each floor may import (besides itself and ``GROUND``)."""

EXCEPTIONS = {
    ("chainrule.graph.record", "chainrule.web"):
        "Graph.serve() opens the lab: public API since chapter 5's graphs",
}

LONG_FILES: dict[str, str] = {}
"""Files allowed over ``MAX_FILE_LINES``, and why."""

LONG_FUNCTIONS: dict[str, str] = {}
"""Functions (``module:qualname``) allowed over ``MAX_FUNCTION_LINES``, and why."""

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
"""Lines of code, the docstring left out."""


def floor_of(module: str) -> str:
    """``core`` for ``chainrule.core.layers``; ``__init__`` for the package itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, modules: set[str]) -> list[tuple[str, int, list[str]]]:
    """``(imported module, line, names)`` for every chainrule import in ``path``,
    whether at the top, inside a function or under ``TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, []) for a in node.names
                      if a.name.split(".")[0] == "chainrule"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            if base.split(".")[0] != "chainrule":
                continue
            names = [a.name for a in node.names]
            for name in names:  # `from chainrule.graph import draw` imports a module
                sub = f"{base}.{name}"
                found.append((sub, node.lineno, []) if sub in modules
                             else (base, node.lineno, [name]))
    return found


def package_modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / "chainrule").rglob("*.py"))}


def violations(root: Path) -> list[str]:
    """Every import in the package under ``root`` that breaks the house rules."""
    modules = package_modules(root)
    found = []
    for module, path in modules.items():
        if module in GROUND:
            continue
        floor = floor_of(module)
        allowed = BELOW.get(floor)
        where = f"{path.relative_to(root)}"
        if allowed is None:
            found.append(f"{where}: {module} is on no floor (add it to BELOW)")
            continue
        for target, line, names in imports_of(path, module, set(modules)):
            if target in GROUND:
                continue
            if (module, ".".join(target.split(".")[:2])) in EXCEPTIONS:
                continue
            to = floor_of(target)
            if to != floor and to not in allowed:
                found.append(f"{where}:{line}: {floor} imports {target} ({to}): "
                             "imports point down the floors only")
            private = [n for n in names if n.startswith("_")]
            if private and target != module:
                found.append(f"{where}:{line}: imports the private "
                             f"{', '.join(private)} of {target}")
    return found


def test_imports_point_down_the_floors():
    assert violations(SRC) == []


def test_an_upward_import_is_caught(tmp_path):
    shutil.copytree(SRC / "chainrule", tmp_path / "chainrule",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    core = tmp_path / "chainrule" / "core" / "layers.py"
    core.write_text(core.read_text() + "\n\ndef _up():\n"
                    "    from chainrule.training.loop import TrainingLoop\n"
                    "    return TrainingLoop\n")
    nn = tmp_path / "chainrule" / "nn" / "multilayer.py"
    nn.write_text(nn.read_text() + "\nfrom chainrule.data import catalog  # noqa\n")
    private = tmp_path / "chainrule" / "training" / "runs.py"
    private.write_text(private.read_text() + "\nfrom chainrule.nn.optim import _zeros\n")
    found = violations(tmp_path)
    assert any("core imports chainrule.training.loop (training)" in v for v in found), found
    assert any("nn imports chainrule.data.catalog (data)" in v for v in found), found
    assert any("private _zeros of chainrule.nn.optim" in v for v in found), found
    assert len(found) == 3, found


def test_the_named_exception_is_the_only_one():
    assert set(EXCEPTIONS) == {("chainrule.graph.record", "chainrule.web")}
    lines = (SRC / "chainrule" / "graph" / "record.py").read_text()
    assert "from chainrule import web" in lines


def test_files_stay_readable():
    long = {}
    for path in package_modules(SRC).values():
        n = len(path.read_text().splitlines())
        rel = str(path.relative_to(SRC))
        if n > MAX_FILE_LINES and rel not in LONG_FILES:
            long[rel] = n
    assert long == {}, f"split these along a real seam, or say in LONG_FILES why not: {long}"
    stale = [f for f in LONG_FILES if len((SRC / f).read_text().splitlines()) <= MAX_FILE_LINES]
    assert stale == [], f"no longer long: {stale}"


def test_functions_stay_readable():
    long = {}
    for module, path in package_modules(SRC).items():
        tree = ast.parse(path.read_text())
        stack = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        n = _code_lines(child)
                        key = f"{module}:{name}"
                        if n > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                            long[key] = n
                    stack.append((child, name + "."))
    assert long == {}, long


def _code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines, its docstring left out."""
    n = function.end_lineno - function.lineno + 1
    first = function.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        n -= first.end_lineno - first.lineno + 1
    return n


@pytest.mark.parametrize("floor", sorted(BELOW))
def test_every_floor_exists(floor):
    if floor in ("__init__", "__main__"):
        assert (SRC / "chainrule" / f"{floor}.py").is_file()
    elif floor != "export":  # chapter 8's export comes with its extra
        assert (SRC / "chainrule" / floor / "__init__.py").is_file()
