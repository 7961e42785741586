"""common.messaging reads one way: no import circle, each module importable on its own, and
services that use only its public face (docs/messaging.md, "Using it in a service")."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import common.messaging

PACKAGE = "common.messaging"
PACKAGE_DIR = Path(common.messaging.__file__).parent
REPO_ROOT = PACKAGE_DIR.parent.parent


def package_modules() -> dict[str, Path]:
    """Every module of the package (migrations and management commands included)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((PACKAGE, *parts))] = path
    return modules


def imported_names(path: Path, module: str) -> set[str]:
    """The modules `path` imports, wherever the import statement is (inside a function too):
    `from a import b` counts as a.b when a.b is a module of the package, else as a."""
    modules = package_modules()
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                name = f"{base}.{alias.name}"
                names.add(name if name in modules else base)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {
        module: imported_names(path, module) & modules.keys() - {module}
        for module, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting, done = [], set()

    def visit(module: str) -> list[str] | None:
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph[module]):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if cycle := visit(module):
            return cycle
    return None


def test_the_import_graph_of_the_package_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 15  # the walk found the package's modules
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle():
    # The check above can fail: a circle like the one this package had (drain -> events ->
    # tasks -> drain) is found.
    graph = {"drain": {"events"}, "events": {"tasks"}, "tasks": {"drain"}, "conf": set()}
    assert find_cycle(graph) == ["drain", "events", "tasks", "drain"]


def test_no_module_of_the_package_imports_its_public_face():
    # The public face imports the internals, never the other way round.
    for module, targets in import_graph().items():
        if module != PACKAGE:
            assert PACKAGE not in targets, module


@pytest.mark.parametrize("module", sorted(package_modules()))
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    code = f"import django, importlib; django.setup(); importlib.import_module({module!r})"
    result = subprocess.run(  # noqa: S603 - this interpreter, a module of the package
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "common.tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_public_face_loads_each_of_its_names():
    for name in common.messaging.__all__:
        assert getattr(common.messaging, name).__name__ == name


SERVICE_DIRS = ["orders_project", "payments_project"]


def test_services_import_only_the_public_face_of_messaging():
    for service in SERVICE_DIRS:
        for path in (REPO_ROOT / service).rglob("*.py"):
            if "tests" in path.parts:
                continue  # tests may look inside
            internal = imported_names(path, service) & package_modules().keys() - {PACKAGE}
            assert not internal, f"{path} imports {sorted(internal)}"
