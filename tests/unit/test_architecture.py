"""The dependency rules of the layout: domain <- projections <- services; only consumers talk to Kafka."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"domain", "projections", "consumers", "services"}
KAFKA_CLIENTS = {"kafka", "confluent_kafka", "aiokafka"}
COMPOSITION_ROOT = {
    "services/cli/main.py",
    "services/cli/read_models.py",
    "services/cli/kafka.py",
    "services/cli/serve.py",
}
"""The modules that wire everything together (the CLI and the server); they alone may start
consumers from services."""


def imported_modules(package: str) -> dict[str, set[str]]:
    """Every module imported by each file of a package (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_domain_imports_only_the_standard_library_pydantic_and_eventsourcing_domain() -> None:
    allowed_third_party = {"pydantic", "eventsourcing.domain"}
    for path, names in imported_modules("domain").items():
        for name in names:
            if top(name) in sys.stdlib_module_names or top(name) == "domain" or top(name) == "__future__":
                continue
            assert name in allowed_third_party or top(name) == "pydantic", f"{path} imports {name}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("domain", {"projections", "services", "consumers"}),
        ("projections", {"services", "consumers"}),
        ("services", {"consumers"}),
    ],
)
def test_imports_point_one_way(package: str, forbidden: set[str]) -> None:
    for path, names in imported_modules(package).items():
        if path in COMPOSITION_ROOT:
            continue
        wrong = {n for n in names if top(n) in forbidden}
        assert not wrong, f"{path} imports {sorted(wrong)}"


def test_only_consumers_import_a_kafka_client() -> None:
    for package in PROJECT_PACKAGES - {"consumers"}:
        for path, names in imported_modules(package).items():
            wrong = {n for n in names if top(n) in KAFKA_CLIENTS}
            assert not wrong, f"{path} imports the Kafka client {sorted(wrong)}"


def test_the_rule_checker_sees_imports(tmp_path: Path) -> None:
    # the checker itself must be able to fail: it finds this module's own imports
    names = imported_modules("tests/unit")["tests/unit/test_architecture.py"]
    assert {"ast", "pytest", "pathlib"} <= names
