"""The floor plan holds: imports point down and never in a loop, and modules stay small.

Read from the source (every import, the ones inside functions too), so a loop or an upward
import fails here before it confuses the next engineer.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "api", "archive", "audit", "backupweb", "jobs", "mail", "sitesettings", "users")
# Apps below jobs/: none of them may import it (DESIGN.md, Layout). The site settings' values
# are read by jobs, archive and audit alike; only its page (views) sits above jobs.
BELOW_JOBS = (
    "accounts",
    "archive",
    "audit",
    "mail",
    "users",
    "sitesettings.models",
    "sitesettings.values",
    "sitesettings.middleware",
    "sitesettings.mailer",
    "sitesettings.forms",
)
# The API sits on top: nothing else may import it.
BELOW_API = ("accounts", "archive", "audit", "jobs", "mail", "sitesettings", "users")
MAX_LINES = 500


def project_modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import of a project module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.append((submodule, []))
                else:
                    found.append((node.module, [alias.name]))
    return [(name, names) for name, names in found if name in modules]


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: {imported for imported, _ in imports_of(path, modules)}
        for name, path in modules.items()
    }


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two modules or more (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ importing its own submodules is not a loop of the floor plan."""
    return {
        name: {t for t in targets if not t.startswith(name + ".") and not name.startswith(t + ".")}
        for name, targets in edges.items()
    }


def test_no_module_imports_another_in_a_loop():
    assert loops(without_packages(graph())) == []


def test_no_app_below_jobs_imports_jobs():
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.startswith(BELOW_JOBS)
        for target in targets
        if target == "jobs" or target.startswith("jobs.")
    ]
    assert upward == []


def test_nothing_but_the_url_configuration_imports_the_api():
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        if name.startswith(BELOW_API)
        for target in targets
        if target == "api" or target.startswith("api.")
    ]
    assert upward == []


def test_the_mail_package_imports_nothing_else_of_the_project():
    edges = graph()
    outside = [
        f"{name} imports {target}"
        for name, targets in edges.items()
        if name.startswith("mail")
        for target in targets
        if not target.startswith("mail")
    ]
    assert outside == []


def test_no_module_imports_a_private_name_from_another():
    modules = project_modules()
    private = [
        f"{name} takes {taken} from {imported}"
        for name, path in modules.items()
        for imported, names in imports_of(path, modules)
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert private == []


def test_no_module_is_over_500_lines():
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in project_modules().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_the_loop_finder_finds_a_loop():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
