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
