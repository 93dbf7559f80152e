"""The access log in its tables beside the event store (SQLite, PostgreSQL): what a process
recorded survives a clean shutdown, batches are written in the background, pages are newest
first, and processes sharing the database read each other's entries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.auth.access import PersonalDataRead
from services.bootstrap import open_access_log, postgres_conninfo
from services.settings import Settings
from services.storage.access_log import ACCESS_LOG_TABLE, AccessLog, PostgresAccessLog, SqliteAccessLog

pytestmark = pytest.mark.parametrize(
    "database_url",
    [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


@pytest.fixture
def open_log(database_url: str) -> Iterator[Callable[..., AccessLog]]:
    """Opens access logs on the test's database (several, as processes would); closes them all."""
    opened: list[AccessLog] = []

    def _open(**options: float) -> AccessLog:
        database = Settings(database_url=database_url).database
        log: AccessLog
        if database.backend == "sqlite":
            log = SqliteAccessLog(database.path, **options)
        else:
            log = PostgresAccessLog(postgres_conninfo(database), **options)
        opened.append(log)
        return log

    yield _open
    for log in opened:
        log.close()


def read(subject: uuid.UUID, user: str = "ana", request_id: str = "r-1") -> PersonalDataRead:
    return PersonalDataRead(user, "analyst", "GET", "/v1/contacts/{contact_id}", request_id, (str(subject),))


def within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_log_beside_each_database_is_its_own_kind(database_url: str) -> None:
    log = open_access_log(Settings(database_url=database_url))
    expected = SqliteAccessLog if database_url.startswith("sqlite") else PostgresAccessLog
    assert isinstance(log, expected)
    log.close()


def test_entries_still_buffered_at_a_clean_shutdown_are_in_the_table_afterwards(
    open_log: Callable[..., AccessLog],
) -> None:
    # given a process that recorded reads but never reached its next write
    first = open_log(flush_interval=3600, batch_size=10_000)
    subjects = [uuid.uuid4() for _ in range(120)]
    for number, subject in enumerate(subjects):
        first.record(read(subject, request_id=f"r-{number}"))
    assert first.pending() == 120

    # when it shuts down cleanly
    first.close()

    # then the next process finds every entry, as it was recorded
    found = open_log().entries(limit=500)
    assert [e.subject_id for e in reversed(found)] == [str(s) for s in subjects]
    assert [e.request_id for e in reversed(found)] == [f"r-{n}" for n in range(120)]
    assert {(e.user, e.role, e.method, e.route) for e in found} == {
        ("ana", "analyst", "GET", "/v1/contacts/{contact_id}")
    }
    assert all(abs(e.read_at - datetime.now(UTC)) < timedelta(minutes=5) for e in found)


def test_a_full_batch_reaches_the_table_without_anyone_flushing(open_log: Callable[..., AccessLog]) -> None:
    # given a writer that writes every hour or every 20 entries, and a reader in another process
    writer, reader = open_log(flush_interval=3600, batch_size=20), open_log()

    # when 20 reads are recorded
    for _ in range(20):
        writer.record(read(uuid.uuid4()))

    # then the other process reads them soon, no flush asked for
    assert within(30, lambda: len(reader.entries(limit=50)) == 20)


def test_pages_are_newest_first_and_filter_by_subject_and_user(open_log: Callable[..., AccessLog]) -> None:
    # given reads of one contact by two users, among reads of others
    log = open_log(flush_interval=3600)
    contact = uuid.uuid4()
    for number in range(7):
        log.record(read(contact, user="ana" if number % 2 else "alice", request_id=f"r-{number}"))
        log.record(read(uuid.uuid4()))
    log.flush()

    # when the contact's reads are paged three at a time
    pages, before = [], None
    while page := log.entries(subject=str(contact), before=before, limit=3):
        pages.append([e.request_id for e in page])
        before = page[-1].entry_id

    # then they come newest first, each once
    assert pages == [["r-6", "r-5", "r-4"], ["r-3", "r-2", "r-1"], ["r-0"]]
    assert [e.request_id for e in log.entries(subject=str(contact), user="ana")] == ["r-5", "r-3", "r-1"]
    assert len(log.entries(limit=100)) == 14


def test_the_table_holds_ids_users_and_routes_only(open_log: Callable[..., AccessLog], database_url: str) -> None:
    # given a written entry
    log = open_log()
    log.record(read(uuid.uuid4()))
    log.flush()

    # then the table's columns are these and no others (no name, email or phone of anyone)
    columns = _columns(log, database_url)
    assert columns == ["entry_id", "read_at", "user_name", "role", "method", "route", "request_id", "subject_id"]


def _columns(log: AccessLog, database_url: str) -> list[str]:
    if isinstance(log, SqliteAccessLog):
        with log._connect() as db:
            return [row[1] for row in db.execute(f"PRAGMA table_info({ACCESS_LOG_TABLE})")]
    assert isinstance(log, PostgresAccessLog)
    with log._pool.connection() as db:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (ACCESS_LOG_TABLE,),
        ).fetchall()
    return [row[0] for row in rows]
