"""The dependency rules of the layout: domain <- projections <- services, and consumers (delivery)
never import services; only services/bootstrap.py wires delivery in; no package imports itself
back through another; only consumers talk to Kafka."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("domain", "projections", "consumers", "services")
KAFKA_CLIENTS = {"kafka", "confluent_kafka", "aiokafka"}
COMPOSITION_ROOT = "services.bootstrap"
"""The one module of services/ that imports delivery (consumers/) and wires it."""
MAX_TOP_LEVEL_SERVICES_MODULES = 6


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, function-local and type-checking imports included."""
    names: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from services.cli import data` imports the module services.cli.data
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_modules() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports."""
    files = {module_name(p): p for package in PROJECT_PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}
    return {name: {n for n in imports_of(path) if n in files and n != name} for name, path in files.items()}


def top(name: str) -> str:
    return name.split(".")[0]


def package_of(module: str) -> str:
    """The room a module belongs to: `services.api.routes.leads` -> `services.api`;
    a module at the top of services/ (`services.bootstrap`) is a room of its own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "services" else parts[0]


def package_graph(modules: Mapping[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, imported in modules.items():
        source = package_of(module)
        graph.setdefault(source, set()).update(package_of(i) for i in imported if package_of(i) != source)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Each cycle of a directed graph, once, as the list of nodes along it."""
    seen: set[frozenset[str]] = set()

    def walk(node: str, path: list[str]) -> Iterator[list[str]]:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    yield [*cycle, nxt]
            elif nxt > path[0]:  # start each cycle at its smallest node, so each is walked once
                yield from walk(nxt, [*path, nxt])

    for start in sorted(graph):
        yield from walk(start, [start])


def test_the_domain_imports_only_the_standard_library_pydantic_phonenumbers_and_eventsourcing_domain() -> None:
    # phonenumbers is pure data and functions: the domain's one way to compare phone numbers
    for path in sorted((ROOT / "domain").rglob("*.py")):
        for name in imports_of(path):
            if top(name) in sys.stdlib_module_names or top(name) in {
                "domain",
                "__future__",
                "pydantic",
                "phonenumbers",
            }:
                continue
            assert name.startswith("eventsourcing.domain"), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("domain", {"projections", "services", "consumers"}),
        ("projections", {"services", "consumers"}),
        ("consumers", {"services"}),
    ],
)
def test_imports_point_one_way(package: str, forbidden: set[str]) -> None:
    for module, imported in project_modules().items():
        if top(module) == package:
            wrong = {n for n in imported if top(n) in forbidden}
            assert not wrong, f"{module} imports {sorted(wrong)}"


def test_only_the_composition_root_of_services_imports_delivery() -> None:
    for module, imported in project_modules().items():
        if top(module) == "services" and module != COMPOSITION_ROOT:
            wrong = sorted(n for n in imported if top(n) == "consumers")
            assert not wrong, f"{module} imports {wrong}; wire delivery in {COMPOSITION_ROOT}"


def test_no_package_imports_itself_back_through_another() -> None:
    found = list(cycles(package_graph(project_modules())))
    assert not found, "package cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_no_module_imports_itself_back_through_another() -> None:
    found = list(cycles(project_modules()))
    assert not found, "module cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_services_keeps_its_code_in_rooms() -> None:
    top_level = sorted(p.name for p in (ROOT / "services").glob("*.py") if p.name != "__init__.py")
    assert len(top_level) <= MAX_TOP_LEVEL_SERVICES_MODULES, top_level
    rooms = {p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists()}
    assert {"app", "api", "cli", "storage", "auth", "jobs"} <= rooms


def test_only_consumers_import_a_kafka_client() -> None:
    for package in set(PROJECT_PACKAGES) - {"consumers"}:
        for path in sorted((ROOT / package).rglob("*.py")):
            wrong = {n for n in imports_of(path) if top(n) in KAFKA_CLIENTS}
            assert not wrong, f"{path.relative_to(ROOT)} imports the Kafka client {sorted(wrong)}"


def test_the_cycle_finder_finds_a_cycle_and_only_cycles() -> None:
    # the checker itself must be able to fail
    assert list(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c", "a"]]
    assert list(cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}})) == []


def test_the_rule_checker_sees_imports_of_every_kind() -> None:
    names = imports_of(ROOT / "services" / "cli" / "main.py")
    assert {"argparse", "services.cli.data", "services.settings"} <= names  # top-level, from-package, local
    assert package_of("services.api.routes.leads") == "services.api"
    assert package_of("services.bootstrap") == "services.bootstrap"
