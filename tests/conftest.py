"""Shared fixtures: a real PostgreSQL server per test session, a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.kafka_server import KafkaServer, KafkaUnavailable
from tests.support.postgres_server import PostgresServer, PostgresUnavailable


@contextmanager
def running_postgres(**options: Any) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server until the block ends.

    If PostgreSQL is not installed and cannot be installed, tests that need it
    are skipped on a developer machine, but fail on CI (CI is set), where a
    skipped database suite would hide real breakage.
    """
    server = PostgresServer(**options)
    try:
        server.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty database of its own for this test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    try:
        postgres_server.drop_database(name)
    except Exception:
        pass  # the server and all its databases are thrown away at the end anyway


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[KafkaServer]:
    """One throwaway single-node Kafka broker (KRaft) for the whole test session.

    Started only when a test asks for it.  If Java or Maven is missing, tests
    that need Kafka are skipped on a developer machine, but fail on CI (CI is
    set), where a skipped Kafka suite would hide real breakage.
    """
    server = KafkaServer()
    try:
        server.start()
    except KafkaUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Kafka is required on CI: {exc}", pytrace=False)
        pytest.skip(f"Kafka not available: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kafka_bootstrap(kafka_server: KafkaServer) -> str:
    """``host:port`` of the session's Kafka broker, for ``bootstrap_servers``."""
    if not kafka_server.running:
        # A test that killed or shut down the broker left it down: bring it back.
        kafka_server.start()
    return kafka_server.bootstrap
