"""The shape of the code: no import cycles inside `campaigns`, every blueprint is served, and the
tests share helpers only through their support modules (never a test module or a conftest).

Read from the source with ast: nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "campaigns"
TESTS = Path(__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module and package of `campaigns`."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _top_level_imports(node: ast.AST):
    """Import statements run when the module is imported: not those inside functions or classes,
    nor under `if TYPE_CHECKING:` (for the type checker only)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
            yield from _top_level_imports(ast.Module(body=child.orelse, type_ignores=[]))  # the else: does run
        elif not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            yield from _top_level_imports(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `campaigns` it imports at its top level.

    ``from X import a`` counts as importing X.a when that is a module, X otherwise. A module's
    own parent packages are left out: Python imports them first anyway, whatever the module says.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else source)
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {t for t in targets if t in modules and t != name and t not in ancestors}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_imports_that_are_there():
    graph = import_graph()
    assert "campaigns.addresses" in graph["campaigns.transport"]  # from .addresses import ascii_domain
    assert "campaigns.template_sandbox" in graph["campaigns.compose"]  # from . import …, template_sandbox, …
    assert "campaigns.web.auth" in graph["campaigns.web.tags"]  # from .auth import roles_required
    assert "campaigns.web.tags" in graph["campaigns.web"]  # from . import (…, tags, …)


def test_no_module_of_campaigns_imports_itself_back():
    assert cycles(import_graph()) == []


def _defines_a_blueprint(path: Path) -> bool:
    """A top-level `bp = Blueprint(...)` in the module's source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "bp" for t in node.targets)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "Blueprint"
        for node in tree.body
    )


def test_every_blueprint_is_registered():
    """Every blueprint defined anywhere under web/ (sub-packages too) is one that BLUEPRINTS serves."""
    import importlib

    from campaigns import web

    defined = set()
    for name, path in _modules().items():
        if name.startswith("campaigns.web.") and _defines_a_blueprint(path):
            defined.add(importlib.import_module(name).bp)
    assert defined, "no blueprint found: the finder is broken"
    assert {module.bp for module in web.BLUEPRINTS} == defined


def _imported_modules(tree: ast.AST):
    """(line, dotted name) of every module an import anywhere in the tree names, functions included:
    ``from a.b import c`` names a.b and a.b.c (c may be a module); a relative import keeps its dots."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            yield node.lineno, source
            yield from ((node.lineno, f"{source.rstrip('.')}.{alias.name}".lstrip(".")) for alias in node.names)


def _shared_wrongly(name: str) -> bool:
    last = name.rstrip(".").rpartition(".")[2]
    return last == "conftest" or last.startswith("test_")


def test_the_import_finder_sees_test_modules_and_conftests():
    tree = ast.parse(
        "from tests.test_sending import due\nfrom test_bounces import report\nfrom . import conftest\n"
        "def f():\n    from tests.browser.conftest import log_in\n    import tests.test_api_keys\n"
        "from tests.support import Factory\nfrom tests.scenes import bearer\n"
    )
    wrong = sorted({line for line, name in _imported_modules(tree) if _shared_wrongly(name)})
    assert wrong == [1, 2, 3, 5, 6]


def test_no_test_module_imports_from_another_test_module_or_a_conftest():
    """Shared helpers live in tests/support.py, tests/scenes.py, tests/browser/support.py (fixtures in a
    conftest, which pytest hands out by name): importing a test module runs its tests' module-level
    code twice and collects nothing, and a conftest is pytest's, not a module to import."""
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if _shared_wrongly(name)
    ]
    assert found == []


MAX_LINES = 500


def test_no_module_is_over_500_lines():
    """One concept per module: a module that grows past this holds several — split it along its seams."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items()}
    offenders = sorted(f"{name} ({lines} lines)" for name, lines in sizes.items() if lines > MAX_LINES)
    assert offenders == [], "over 500 lines: " + ", ".join(offenders)
    assert len(sizes) > 50  # the walk found the package


def test_the_readme_layout_names_every_module():
    """README «Layout» is the module map: a newcomer finds every module of `campaigns` there, by its
    file name (`sending.py`), as package/module (`api/base.py`), or a package by `name/`."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        names = {relative.name, "/".join(relative.parts[-2:])}
        if relative.name == "__init__.py" and len(relative.parts) > 1:
            names.add(f"{relative.parts[-2]}/")
        if not any(f"`{name}`" in layout for name in names):
            missing.append(str(relative))
    assert missing == [], "not in README «Layout»: " + ", ".join(missing)
