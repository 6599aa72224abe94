"""The floor plan holds: no import loops and no borrowed private names in the lower apps.

Read from the source with `ast`, so imports inside functions count as much as those at the top:
a loop hidden in a function is still a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
CHECKED = ("accounts", "archive", "users", "audit", "backupweb")
ALL_APPS = (*CHECKED, "jobs", "mail", "api")
MAX_LINES = 500


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in ALL_APPS:
        for path in sorted((BASE_DIR / app).rglob("*.py")):
            parts = path.relative_to(BASE_DIR).with_suffix("").parts
            if "migrations" not in parts:
                modules[".".join(parts).removesuffix(".__init__")] = path
    return modules


MODULES = project_modules()


def owner(name: str) -> str | None:
    """The project module `name` lives in (a module, or the package it is an attribute of)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> Iterator[tuple[str, str]]:
    """(module imported from, name imported) for every import statement of `module`."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield from ((base, alias.name) for alias in node.names)


def dependencies(module: str) -> set[str]:
    found = set()
    for base, name in imports(module):
        target = f"{base}.{name}" if f"{base}.{name}" in MODULES else owner(base)
        if target and target != module:
            found.add(target)
    return found


def loop_through(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from `start` back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for nxt in graph[module]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_module_of_the_lower_apps_is_part_of_an_import_loop():
    graph = {module: dependencies(module) for module in MODULES}
    loops = [loop_through(m, graph) for m in MODULES if m.split(".")[0] in CHECKED]
    assert [" -> ".join(loop) for loop in loops if loop] == []


def test_no_module_of_the_lower_apps_imports_a_private_name_of_another():
    borrowed = [
        f"{module} imports {name} from {base}"
        for module in MODULES
        if module.split(".")[0] in CHECKED
        for base, name in imports(module)
        if name.startswith("_") and not name.startswith("__") and owner(base)
    ]
    assert borrowed == []


def test_every_archive_module_stays_under_500_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (BASE_DIR / "archive").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= MAX_LINES} == {}
