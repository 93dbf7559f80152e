"""The access log's buffer and order, without a database: reads are buffered and written in
batches, newest first, with time-ordered ids; a write that fails loses nothing; close writes
what is left."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence

import pytest

from services.auth.access import AccessEntry, PersonalDataRead
from services.storage.access_log import MemoryAccessLog


def read(*subjects: str, user: str = "ana", role: str = "analyst", request_id: str = "r-1") -> PersonalDataRead:
    return PersonalDataRead(user, role, "GET", "/v1/leads/{lead_id}", request_id, subjects)


def within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_read_is_buffered_and_not_written_until_the_log_flushes() -> None:
    # given a log that writes only every hour
    log = MemoryAccessLog(flush_interval=3600)

    # when a read is recorded
    log.record(read("lead-1", "lead-2"))

    # then it waits in the buffer, one entry per record shown, until flushed
    assert log.pending() == 2 and log.entries() == []
    log.flush()
    assert log.pending() == 0 and [e.subject_id for e in log.entries()] == ["lead-2", "lead-1"]
    log.close()


def test_a_full_batch_is_written_by_the_background_writer_without_waiting_for_the_interval() -> None:
    # given a log that writes every hour or every 5 entries
    log = MemoryAccessLog(flush_interval=3600, batch_size=5)

    # when 5 entries are recorded
    log.record(read(*[f"lead-{i}" for i in range(5)]))

    # then the background writer has written them, nobody flushed
    assert within(10, lambda: len(log.entries(limit=10)) == 5)
    log.close()


def test_close_writes_everything_still_buffered() -> None:
    # given entries recorded into a log that never got to write them
    log = MemoryAccessLog(flush_interval=3600)
    for i in range(50):
        log.record(read(f"lead-{i}", request_id=f"r-{i}"))

    # when it is closed
    log.close()

    # then all are written, and a late read after closing is written at once
    assert len(log.entries(limit=100)) == 50
    log.record(read("late"))
    assert log.entries(limit=1)[0].subject_id == "late"


def test_entries_are_newest_first_with_time_ordered_version_7_ids() -> None:
    # given many reads recorded in a row
    log = MemoryAccessLog(flush_interval=3600)
    for i in range(3000):
        log.record(read(f"lead-{i}"))
    log.flush()

    # when / then the newest comes first, and the ids say the order
    found = log.entries(limit=3000)
    assert [e.subject_id for e in found] == [f"lead-{i}" for i in reversed(range(3000))]
    assert len({e.entry_id for e in found}) == 3000
    assert all(uuid.UUID(e.entry_id).version == 7 for e in found)
    log.close()


def test_entries_are_paged_by_the_entry_before_and_filtered_by_subject_and_user() -> None:
    # given reads of two leads by two users
    log = MemoryAccessLog(flush_interval=3600)
    log.record(read("lead-a", user="ana"))
    log.record(read("lead-b", user="alice", role="rep"))
    log.record(read("lead-a", user="alice", role="rep"))
    log.flush()

    # when / then
    newest, *older = log.entries(subject="lead-a")
    assert (newest.user, [e.user for e in older]) == ("alice", ["ana"])
    assert log.entries(subject="lead-a", before=newest.entry_id) == older
    assert [e.subject_id for e in log.entries(user="alice")] == ["lead-a", "lead-b"]
    assert log.entries(subject="lead-a", user="ana", limit=1) == older
    log.close()


class FlakyLog(MemoryAccessLog):
    """A log whose database refuses writes while `down` is set."""

    def __init__(self, **options: float) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.down = threading.Event()
        self.failed_writes = 0

    def _write(self, entries: Sequence[AccessEntry]) -> None:
        if self.down.is_set():
            self.failed_writes += 1
            raise ConnectionError("the database does not answer")
        super()._write(entries)


def test_a_write_that_fails_keeps_its_entries_for_the_next_one_in_order() -> None:
    # given a log whose database is down
    log = FlakyLog(flush_interval=3600)
    log.down.set()
    log.record(read("first"))

    # when a write fails, more reads arrive, and the database comes back
    with pytest.raises(ConnectionError):
        log.flush()
    log.record(read("second"))
    log.down.clear()
    log.flush()

    # then nothing was lost, and the order holds
    assert [e.subject_id for e in log.entries()] == ["second", "first"]
    log.close()


def test_the_background_writer_retries_after_a_failed_write() -> None:
    # given a log writing often, whose database is down for a while
    log = FlakyLog(flush_interval=0.05)
    log.down.set()
    log.record(read("lead-1"))
    assert within(10, lambda: log.failed_writes >= 2 and log.pending() == 1)

    # when the database comes back
    log.down.clear()

    # then the writer gets the entry in on a later round
    assert within(10, lambda: log.pending() == 0 and len(log.entries()) == 1)
    log.close()


def test_while_the_database_is_down_the_buffer_keeps_the_newest_entries_up_to_its_bound() -> None:
    # given a log that keeps at most 3 entries
    log = FlakyLog(flush_interval=3600, max_buffered=3)
    log.down.set()

    # when 5 are recorded
    for i in range(5):
        log.record(read(f"lead-{i}"))

    # then the oldest went (and the log said so)
    log.down.clear()
    log.flush()
    assert [e.subject_id for e in log.entries()] == ["lead-4", "lead-3", "lead-2"]
    log.close()


def test_a_read_that_showed_nothing_is_not_logged() -> None:
    log = MemoryAccessLog(flush_interval=3600)
    log.record(read())
    assert log.pending() == 0
    log.close()
