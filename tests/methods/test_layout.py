"""The method package layout (README "Adding a method"), checked on every package under ``biomedai.methods``.

* ``pipeline.py`` holds the registered ``Method`` and is imported by nothing but the package's ``__init__.py``;
* the package's modules import each other one way only (no cycle), at module level (a heavy module is
  reached through ``biomedai.utils.lazy_import`` at module level, never through an import inside a function);
* no module imports another module's private (``_name``) names.

New method packages are picked up automatically; the checks read the source (``ast``), nothing is imported.
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import biomedai.methods

METHODS_DIR = Path(biomedai.methods.__file__).parent
PACKAGES = sorted(p.name for p in METHODS_DIR.iterdir() if (p / "__init__.py").is_file())


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (both module names relative to the package) at ``line``."""

    source: str
    target: str
    line: int
    names: tuple[str, ...]
    in_function: bool
    lazy: bool = False


def _modules(package: str) -> dict[str, Path]:
    root = METHODS_DIR / package
    return {".".join(path.relative_to(root).with_suffix("").parts): path for path in sorted(root.rglob("*.py"))}


def _import_edges(package: str) -> list[Edge]:
    """Every import of one of the package's modules by another, wherever it is written."""
    full = f"biomedai.methods.{package}"
    modules = _modules(package)
    edges = []
    for name, path in modules.items():
        is_init = path.name == "__init__.py"
        module_full = f"{full}.{name}" if name != "__init__" else full
        parent = module_full if is_init else module_full.rpartition(".")[0]
        if name.endswith(".__init__"):
            module_full = parent = f"{full}.{name[:-len('.__init__')]}"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        in_function: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                in_function.update(id(child) for child in ast.walk(node) if child is not node)

        def local(target: str) -> str | None:
            if target == full:
                return "__init__"
            if target.startswith(full + "."):
                rest = target[len(full) + 1:]
                while rest and rest not in modules:  # "model.Thing" -> "model"
                    rest = rest.rpartition(".")[0]
                return rest or None
            return None

        for node in ast.walk(tree):
            found: list[tuple[str, tuple[str, ...], bool]] = []
            if isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), parent) \
                    if node.level else (node.module or "")
                if node.level and not node.module:  # from . import x
                    for alias in node.names:
                        found.append((f"{base}.{alias.name}", (alias.name,), False))
                else:
                    found.append((base, tuple(a.name for a in node.names), False))
            elif isinstance(node, ast.Import):
                found += [(alias.name, (), False) for alias in node.names]
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in
                  ("lazy_import", "import_module") and node.args and isinstance(node.args[0], ast.Constant)):
                target = str(node.args[0].value)
                if target.startswith("."):
                    target = importlib.util.resolve_name(target, parent)
                found.append((target, (), True))
            for target, names, lazy in found:
                other = local(target)
                if other is not None and other != name:
                    edges.append(Edge(name, other, node.lineno, names, id(node) in in_function, lazy))
    return edges


def _cycles(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _where(package: str, e: Edge) -> str:
    return f"methods/{package}/{e.source.replace('.', '/')}.py:{e.line}"


def test_every_method_package_is_checked() -> None:
    assert {"nuclei_hannet", "ki67", "cryoet_cosnet"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_pipeline_is_on_top_and_registered_from_init(package: str) -> None:
    modules = _modules(package)
    assert "pipeline" in modules, f"methods/{package}/ has no pipeline.py holding its Method"
    users = [e for e in _import_edges(package) if e.target == "pipeline" and e.source != "__init__"]
    assert not users, ("only __init__.py may import .pipeline (it is the top of the package; move what others "
                       "need into a domain module): " + ", ".join(_where(package, e) for e in users))
    assert any(e.source == "__init__" and e.target == "pipeline" for e in _import_edges(package)), \
        f"methods/{package}/__init__.py does not import its Method from .pipeline"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_method_package(package: str) -> None:
    edges = _import_edges(package)
    cycles = _cycles(list(_modules(package)), edges)
    detail = [" <-> ".join(c) + " (" + ", ".join(_where(package, e) for e in edges
                                                   if e.source in c and e.target in c) + ")" for c in cycles]
    assert not cycles, f"import cycles in methods/{package}: " + "; ".join(detail)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_are_at_module_level(package: str) -> None:
    inside = [e for e in _import_edges(package) if e.in_function]
    assert not inside, ("import the package's modules at module level (a heavy one through "
                        "biomedai.utils.lazy_import): " + ", ".join(f"{_where(package, e)} imports .{e.target}"
                                                                    for e in inside))


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_a_private_name(package: str) -> None:
    bad = []
    for name, path in _modules(package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("biomedai")):
                bad += [f"methods/{package}/{name}.py:{node.lineno} imports {node.module}.{a.name}"
                        for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "a private name belongs to its module; make it public or move it: " + ", ".join(bad)


def test_checks_catch_a_cycle_and_a_pipeline_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "broken"
    package.mkdir()
    (package / "__init__.py").write_text("from .pipeline import M\n")
    (package / "pipeline.py").write_text("from .a import f\n")
    (package / "a.py").write_text("from .b import g\n\ndef f():\n    from .pipeline import M\n")
    (package / "b.py").write_text("from ._c import _h\nfrom .a import f\n")
    (package / "_c.py").write_text("_h = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "METHODS_DIR", tmp_path)
    edges = _import_edges("broken")
    assert any({"a", "b"} <= set(c) for c in _cycles(list(_modules("broken")), edges))
    assert any(e.source == "a" and e.target == "pipeline" and e.in_function for e in edges)
    with pytest.raises(AssertionError, match="only __init__.py may import .pipeline"):
        test_pipeline_is_on_top_and_registered_from_init("broken")
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycle_inside_a_method_package("broken")
    with pytest.raises(AssertionError, match="at module level"):
        test_package_imports_are_at_module_level("broken")
    with pytest.raises(AssertionError, match="private name"):
        test_no_module_imports_a_private_name("broken")


def test_discovering_methods_imports_no_torch() -> None:
    """``biomedai list`` stays fast: a method's network module is reached through ``lazy_import``."""
    code = ("import sys; from biomedai.methods.registry import list_methods; list_methods(); "
            "print([m for m in ('torch', 'monai', 'SimpleITK') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
