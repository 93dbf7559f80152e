"""The application under test, on each persistence backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.app.application import CrmApplication
from services.bootstrap import bootstrap, open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.factories import TEAM, hire

BACKENDS = [
    pytest.param("memory", id="popo"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty event store of the backend named by the test's parameter."""
    backend = getattr(request, "param", "memory")
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_app(database_url: str) -> Iterator[Callable[[], CrmApplication]]:
    """Opens applications on the test's store (several, to check what persists), the reps of
    TEAM on its team; closes them all."""
    opened: list[CrmApplication] = []

    def _open() -> CrmApplication:
        app = bootstrap(Settings(database_url=database_url))
        opened.append(app)
        hire(app, *TEAM)
        return app

    yield _open
    for app in opened:
        app.close()


@pytest.fixture
def app(open_app: Callable[[], CrmApplication]) -> CrmApplication:
    """An application on a fresh store whose team is TEAM (alice and bob)."""
    return open_app()


@pytest.fixture
def store(database_url: str) -> Iterator[ReadModelStore]:
    """The live read models of the test's database (every projection), closed after the test."""
    read_models = open_read_models(Settings(database_url=database_url))
    yield read_models
    read_models.close()
