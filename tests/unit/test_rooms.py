"""Which rooms of services/ each room may import: the application knows nothing of its entry
points, authorization knows the application but not the HTTP API or storage, and the HTTP API
reaches storage only through what the composition root hands it."""

from __future__ import annotations

import pytest

from tests.unit.test_architecture import package_of, project_modules

RULES = [
    ("services.app", {"services.api", "services.auth", "services.storage", "services.cli", "services.jobs"}),
    ("services.auth", {"services.api", "services.storage", "services.cli"}),
    ("services.api", {"services.storage", "services.cli", "services.bootstrap"}),
]


@pytest.mark.parametrize(("room", "forbidden"), RULES, ids=[room for room, _ in RULES])
def test_a_room_imports_only_the_rooms_below_it(room: str, forbidden: set[str]) -> None:
    for module, imported in project_modules().items():
        if package_of(module) == room:
            wrong = sorted(name for name in imported if package_of(name) in forbidden)
            assert not wrong, f"{module} imports {wrong}"


CONSOLE = "services.console"
CONSOLE_MOUNT = "services.cli.serve"
"""The one module that mounts the console on the API's app."""


def test_the_console_reaches_the_crm_only_as_the_api_does_and_only_serve_mounts_it() -> None:
    for module, imported in project_modules().items():
        rooms = {package_of(name) for name in imported}
        if package_of(module) == CONSOLE:
            wrong = rooms & {"services.storage", "services.cli", "services.bootstrap", "services.jobs"}
            assert not wrong, f"{module} imports {sorted(wrong)}"
        elif module != CONSOLE_MOUNT:
            assert CONSOLE not in rooms, f"{module} imports the console; only {CONSOLE_MOUNT} mounts it"
