"""What bounds a request while PostgreSQL is down, without a database: eventsourcing's retries
are off in our recorders, the pools carry the budgets of services/bootstrap.py, and every error
that means "the database does not answer" is a 503 with Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresTrackingRecorder
from eventsourcing.utils import Environment
from fastapi import FastAPI
from psycopg_pool import PoolClosed, PoolTimeout

from services import bootstrap
from services.api.problems import STORE_UNAVAILABLE, install_problem_handlers, problem_type_of
from services.settings import Database
from services.storage.fail_fast_postgres import (
    FailFastAggregateRecorder,
    FailFastApplicationRecorder,
    FailFastPostgresFactory,
    FailFastTrackingRecorder,
)
from services.storage.recorders import PostgresReadModelRecorder

UNANSWERED = [
    pytest.param(PoolTimeout("couldn't get a connection after 1.00 sec"), id="psycopg_pool.PoolTimeout"),
    pytest.param(PoolClosed("the pool is closed"), id="psycopg_pool.PoolClosed"),
    pytest.param(psycopg.OperationalError("server closed the connection unexpectedly"), id="psycopg.OperationalError"),
    pytest.param(OperationalError("couldn't get a connection after 1.00 sec"), id="eventsourcing.OperationalError"),
    pytest.param(InterfaceError("the connection is closed"), id="eventsourcing.InterfaceError"),
]


async def get(app: FastAPI, path: str) -> httpx.Response:
    """GET `path` of an app in this process (no server, no socket)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        return await client.get(path)


def retried(method: Any) -> bool:
    """Whether a method is wrapped in eventsourcing's retry decorator."""
    return hasattr(method, "__wrapped__") and method.__code__.co_name == "retry_decorator"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (FailFastAggregateRecorder, PostgresAggregateRecorder),
        (FailFastApplicationRecorder, PostgresApplicationRecorder),
        (FailFastTrackingRecorder, PostgresTrackingRecorder),
        (PostgresReadModelRecorder, PostgresTrackingRecorder),
    ],
)
def test_our_recorders_make_one_attempt_where_eventsourcing_retries_ten_times(ours: type, theirs: type) -> None:
    retried_there = {name for name in dir(theirs) if retried(getattr(theirs, name))}
    assert retried_there, "eventsourcing no longer retries: the fail-fast recorders may go"
    assert {name for name in retried_there if retried(getattr(ours, name))} == set()


@pytest.fixture
def factory() -> Iterator[FailFastPostgresFactory]:
    database = Database("postgres", host="127.0.0.1", port=1, name="crm", user="crm", password="pw")
    made = InfrastructureFactory.construct(Environment("crm", bootstrap.eventsourcing_env(database)))
    assert isinstance(made, FailFastPostgresFactory)
    try:
        yield made
    finally:
        made.close()  # the pool opens on first use: nothing connected


def test_the_event_store_pool_waits_the_budgets_of_the_composition_root(factory: FailFastPostgresFactory) -> None:
    datastore = factory.datastore
    assert datastore.pool.timeout == bootstrap.POOL_WAIT_SECONDS <= 1.5
    assert datastore.pool.reconnect_timeout == bootstrap.RECONNECT_GIVE_UP_SECONDS
    assert isinstance(datastore.pool.kwargs, dict)
    assert datastore.pool.kwargs["connect_timeout"] == bootstrap.CONNECT_TIMEOUT_SECONDS
    assert datastore.pre_ping  # a connection a restart broke is replaced on checkout, not used
    assert datastore.lock_timeout == bootstrap.LOCK_TIMEOUT_SECONDS
    assert datastore.idle_in_transaction_session_timeout == bootstrap.IDLE_IN_TRANSACTION_SECONDS


@pytest.mark.parametrize("error", UNANSWERED)
def test_every_error_of_a_database_that_does_not_answer_is_a_503(error: Exception) -> None:
    assert problem_type_of(error) is STORE_UNAVAILABLE


@pytest.mark.parametrize("error", UNANSWERED)
def test_a_503_for_a_database_that_does_not_answer_says_when_to_retry_and_leaks_nothing(error: Exception) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/probe")
    def probe() -> None:
        raise error

    response = asyncio.run(get(app, "/probe"))

    assert response.status_code == 503 and response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["type"] == "/problems/store-unavailable" and "retry" in body["detail"]
    assert str(error) not in response.text
