"""Processes started together on a fresh PostgreSQL database (two `crm automate`, a scaled
consumer group, several servers): each creates the tables it needs if missing, and none fails
because another is creating the same table at the same moment."""

from __future__ import annotations

import base64
import os
import threading
import uuid

import pytest

from services.bootstrap import bootstrap, open_access_log, open_read_models
from services.settings import Settings
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres
STARTERS = 4
ROUNDS = 5


def start_together(settings: Settings) -> list[BaseException]:
    """Open the event store, the people's keys, the read models and the access log from
    `STARTERS` threads at once (each with connections of its own); the errors they met."""
    barrier = threading.Barrier(STARTERS)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            app = bootstrap(settings)
            store = open_read_models(settings)
            access_log = open_access_log(settings)
        except BaseException as error:  # reported by the test
            errors.append(error)
            return
        access_log.close()
        store.close()
        app.close()

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_processes_starting_together_on_a_fresh_database_all_create_their_tables(
    postgres_server: PostgresServer,
) -> None:
    master_key = base64.b64encode(os.urandom(32)).decode()
    for _ in range(ROUNDS):
        url = postgres_server.create_database(f"test_{uuid.uuid4().hex[:16]}")

        errors = start_together(Settings(database_url=url, master_key=master_key))

        assert errors == [], f"{len(errors)} of {STARTERS} failed to start: {errors[0]!r}"
