"""Group commit on PostgreSQL: appends made while another is being written share one
transaction, and each keeps its own answer.

A group is formed on purpose, not by luck: another connection holds the events table's lock, so
the first append (the leader) waits for it while the others queue; once all are queued the lock
is let go and they are written as one group."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.app.application import CrmApplication
from services.app.commands import CaptureLead, ConvertLead
from services.storage.timers import PostgresTimerRecorder

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(open_app: Callable[[], CrmApplication]) -> CrmApplication:
    """The application on a fresh PostgreSQL store."""
    return open_app()


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """Every test here runs on PostgreSQL: grouping is what its event store does."""
    return postgres_url


def recorder_of(app: CrmApplication) -> PostgresTimerRecorder:
    recorder = app.recorder
    assert isinstance(recorder, PostgresTimerRecorder)
    return recorder


def event(originator: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id=originator, originator_version=version, topic="test:Event", state=b"{}")


class Queued:
    """Appends started in threads while the events table is locked elsewhere; `release` lets
    the lock go once `count` of them wait (the leader at the lock, the others queued)."""

    def __init__(self, app: CrmApplication, database_url: str) -> None:
        self.recorder = recorder_of(app)
        self.answers: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []
        self.blocker = psycopg.connect(database_url, autocommit=False)
        table = self.recorder.events_table_name
        self.blocker.execute(f'LOCK TABLE "{self.recorder.datastore.schema}"."{table}" IN EXCLUSIVE MODE')

    def start(self, index: int, append: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                self.answers[index] = append()
            except Exception as error:  # each append's own answer, error or ids
                self.answers[index] = error

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def wait_queued(self, count: int) -> None:
        """Until the leader holds its group and `count - 1` appends wait behind it."""
        commit, deadline = self.recorder.group_commit, time.monotonic() + 60
        while commit.queued() != (True, count - 1):
            assert time.monotonic() < deadline, f"{count} appends never queued: {commit.queued()}"
            time.sleep(0.005)  # polls the condition; the queue notifies no one as it grows

    def release(self) -> dict[int, Any]:
        self.blocker.rollback()
        self.blocker.close()
        for thread in self.threads:
            thread.join(timeout=60)
        return self.answers


@pytest.fixture
def lock_events(app: CrmApplication, database_url: str) -> Iterator[Callable[[], Queued]]:
    """Takes the events table's lock from another connection, for appends to queue behind."""
    made: list[Queued] = []

    def lock() -> Queued:
        made.append(Queued(app, database_url))
        return made[-1]

    yield lock
    for queued in made:
        if not queued.blocker.closed:
            queued.release()


def test_appends_queued_behind_one_being_written_commit_together_each_with_its_own_ids(
    app: CrmApplication, lock_events: Callable[[], Queued]
) -> None:
    recorder = recorder_of(app)
    ids = [uuid.uuid4() for _ in range(6)]
    # the first append leads, alone, and waits at the lock; five more queue behind it
    queued = lock_events()
    queued.start(0, lambda: recorder.insert_events([event(ids[0])]))
    queued.wait_queued(1)
    for index in range(1, 6):
        queued.start(index, lambda i=index: recorder.insert_events([event(ids[i], 1), event(ids[i], 2)]))
    queued.wait_queued(6)
    groups_before = recorder.group_commit.stats.groups

    answers = queued.release()

    # then two transactions in all: the leader's, and the five queued as one group
    stats = recorder.group_commit.stats
    assert stats.groups - groups_before == 2 and stats.largest == 5
    # each append got the positions of its own events, in order
    for index, originator in enumerate(ids):
        stored = recorder.select_notifications(start=1, limit=100)
        mine = [n.id for n in stored if n.originator_id == originator]
        assert list(answers[index]) == mine and len(mine) == (1 if index == 0 else 2)


def test_a_conflicting_append_in_a_group_fails_alone_and_the_others_commit(
    app: CrmApplication, lock_events: Callable[[], Queued]
) -> None:
    recorder = recorder_of(app)
    taken = uuid.uuid4()
    recorder.insert_events([event(taken)])
    head = app.head_position()
    leader, fresh = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]

    queued = lock_events()
    queued.start(0, lambda: recorder.insert_events([event(leader)]))
    queued.wait_queued(1)
    queued.start(1, lambda: recorder.insert_events([event(fresh[0])]))
    queued.start(2, lambda: recorder.insert_events([event(taken, 1)]))  # version 1 is taken already
    queued.start(3, lambda: recorder.insert_events([event(fresh[1]), event(fresh[2])]))
    queued.wait_queued(4)

    answers = queued.release()

    assert isinstance(answers[2], IntegrityError)
    assert [len(answers[i]) for i in (0, 1, 3)] == [1, 1, 2]
    stored = recorder.select_notifications(start=head + 1, limit=10)
    assert sorted(str(n.originator_id) for n in stored) == sorted(map(str, [leader, *fresh]))
    assert len(stored) == 4  # positions may skip the numbers the undone insert drew, as after any conflict


def test_commands_in_one_group_keep_their_own_answers_and_a_conversion_stays_whole(
    app: CrmApplication, lock_events: Callable[[], Queued]
) -> None:
    leads = [
        app.capture_lead(CaptureLead(name=f"Lead {n}", email=f"lead{n}@example.com", source="web_form")).id
        for n in range(3)
    ]
    head = app.head_position()

    queued = lock_events()
    queued.start(0, lambda: app.convert_lead(leads[0], ConvertLead(deal_value=100, currency="USD")))
    queued.wait_queued(1)
    queued.start(1, lambda: app.convert_lead(leads[1], ConvertLead(deal_value=200, currency="USD")))
    # two conversions of the same lead, both made on the lead before either is written
    queued.start(2, lambda: app.convert_lead(leads[2], ConvertLead(deal_value=300, currency="USD")))
    queued.start(3, lambda: app.convert_lead(leads[2], ConvertLead(deal_value=300, currency="USD")))
    queued.wait_queued(4)

    answers = queued.release()

    # then one of the two conflicts, alone, and every conversion written holds its lead and contact
    conflicts = [i for i in (2, 3) if type(answers[i]).__name__ == "ConcurrencyConflict"]
    assert len(conflicts) == 1, answers
    [won] = {2, 3} - set(conflicts)
    for index, lead_id in ((0, leads[0]), (1, leads[1]), (won, leads[2])):
        result = answers[index]
        contact = app.get_contact(result.related_id)
        assert app.get_lead(lead_id).converted_contact_id == contact.id
        assert result.position is not None and result.position > head
    assert recorder_of(app).group_commit.stats.largest == 3


def test_the_application_reports_its_groups_on_postgresql(app: CrmApplication) -> None:
    app.capture_lead(CaptureLead(name="Ada", email="ada@example.com", source="web_form"))
    groups = app.append_groups()
    assert groups is not None and groups.groups >= 1 and groups.appends >= groups.groups
