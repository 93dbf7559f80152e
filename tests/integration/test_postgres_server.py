"""The test harness really starts PostgreSQL 15 and hands out isolated databases."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres


def test_server_is_real_postgresql_15(postgres_server: PostgresServer, postgres_url: str) -> None:
    assert postgres_url.startswith(f"postgresql://crm@127.0.0.1:{postgres_server.port}/")
    with psycopg.connect(postgres_url) as conn:
        (version,) = conn.execute("SELECT version()").fetchone()
        (server_version_num,) = conn.execute("SHOW server_version_num").fetchone()
        (user,) = conn.execute("SELECT current_user").fetchone()
        (encoding,) = conn.execute("SHOW server_encoding").fetchone()
    assert version.startswith("PostgreSQL 15"), version
    assert 150000 <= int(server_version_num) < 160000
    assert user == "crm"
    assert encoding == "UTF8"


def test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    other_url = postgres_server.create_database("isolation_check_other")
    assert other_url != postgres_url
    with psycopg.connect(postgres_url) as conn:
        (tables,) = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == 0, "each test's database starts empty"
        conn.execute("CREATE TABLE leads (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO leads VALUES (1, 'Ada')")
    with psycopg.connect(other_url) as conn:
        (exists,) = conn.execute("SELECT to_regclass('public.leads') IS NOT NULL").fetchone()
        assert not exists
        conn.execute("CREATE TABLE leads (id int PRIMARY KEY, name text)")
        (count,) = conn.execute("SELECT count(*) FROM leads").fetchone()
        assert count == 0
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT name FROM leads").fetchall() == [("Ada",)]
    postgres_server.drop_database("isolation_check_other")


def test_server_stops_cleanly(postgres_server: PostgresServer) -> None:
    # A second, private server (the session's one gates on PostgreSQL existing).
    with PostgresServer() as server:
        assert server.port != postgres_server.port
        base_dir = server.base_dir
        url = server.create_database("scratch")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not base_dir.exists()
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_a_halted_server_refuses_connections_and_resumes_on_its_port_with_every_commit(
    postgres_server: PostgresServer,
) -> None:
    # A private server again: halting the session's one would disturb every other test.
    with PostgresServer(crash_safe=True) as server:
        port, url = server.port, server.create_database("outage")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE acknowledged (id int PRIMARY KEY)")
            conn.execute("INSERT INTO acknowledged VALUES (1)")

        server.halt()
        assert server.halted and server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)

        server.resume()
        assert not server.halted and server.port == port
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM acknowledged").fetchall() == [(1,)]
