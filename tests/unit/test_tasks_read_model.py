"""The follow-up tasks read model: the pure projection (task events of leads and contacts in, rows
out, erasures blanking the texts) and its queries (one task, the list by owner, status and due
time, in due order with keyset pages), on events the aggregates themselves made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.contact import Contact
from domain.lead import Lead
from domain.values import InteractionKind
from projections.event_record import EventRecord, record_of
from projections.registry import PROJECTION_NAMES, select_projections
from projections.row_changes import Update, Upsert
from projections.task_queries import TaskRow, fetch_task, list_tasks, page_key, parse_page_key
from projections.tasks import TASKS, TasksProjection
from tests.unit.factories import a_contact, a_lead, at, meta, pending
from tests.unit.sqlite_reader import SqliteReader


class TaskLog:
    """Leads and contacts with tasks, their events taken in the order the commands ran."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.records: dict[str, Lead | Contact] = {}

    def lead(self, name: str) -> Lead:
        lead = a_lead(name=name)
        self.records[name] = lead
        self._take(lead)
        return lead

    def contact(self, name: str) -> Contact:
        contact = a_contact(name=name)
        self.records[name] = contact
        self._take(contact)
        return contact

    def task(self, on: str, due: datetime, owner: str | None = "alice", title: str = "call back", **kw: Any) -> UUID:
        task_id = kw.pop("task_id", None) or uuid4()
        record = self.records[on]
        record.add_task(task_id, title, due, kw.pop("note", None), owner, meta(at=kw.pop("at", at(hours=1))))
        self._take(record)
        return task_id

    def complete(self, on: str, task_id: UUID, when: datetime) -> None:
        self.records[on].complete_task(task_id, meta(at=when))
        self._take(self.records[on])

    def reschedule(self, on: str, task_id: UUID, due: datetime) -> None:
        self.records[on].reschedule_task(task_id, due, meta(at=at(hours=2)))
        self._take(self.records[on])

    def erase(self, on: str) -> None:
        self.records[on].erase("data subject request 9", meta(at=at(hours=3)))
        self._take(self.records[on])

    def _take(self, record: Lead | Contact) -> None:
        self.events += pending(record)

    def records_in_order(self) -> list[EventRecord]:
        return [record_of(event, position) for position, event in enumerate(self.events, start=1)]


def store_of(log: TaskLog) -> SqliteReader:
    return SqliteReader.of(TasksProjection(), log.records_in_order())


def the_task(store: SqliteReader, task_id: UUID) -> TaskRow:
    found = fetch_task(store, task_id)
    assert found is not None
    return found


# --- the projection --------------------------------------------------------------------------


def test_the_tasks_read_model_is_registered_for_replay_verify_and_its_own_consumer() -> None:
    assert "tasks" in PROJECTION_NAMES
    [projection] = select_projections(["tasks"])
    assert isinstance(projection, TasksProjection) and projection.tables == (TASKS,)


def test_a_task_of_a_lead_and_one_of_a_contact_become_open_rows_naming_their_record() -> None:
    # given a lead and a contact, each with a task
    log = TaskLog()
    lead, contact = log.lead("Ada"), log.contact("Grace")
    on_lead = log.task("Ada", at(days=1), note="about the demo")
    on_contact = log.task("Grace", at(days=2), owner=None, title="send the invoice")

    # when they are projected
    store = store_of(log)

    # then each is a row with its record, texts, owner, due time and creator, open
    first, second = the_task(store, on_lead), the_task(store, on_contact)
    assert (first.aggregate_type, first.aggregate_id, first.title, first.note) == (
        "lead",
        str(lead.id),
        "call back",
        "about the demo",
    )
    assert (first.owner, first.due_at, first.status, first.created_at, first.created_by) == (
        "alice",
        at(days=1),
        "open",
        at(hours=1),
        "alice",
    )
    assert first.completed_at is None
    assert (second.aggregate_type, second.aggregate_id, second.owner, second.title) == (
        "contact",
        str(contact.id),
        None,
        "send the invoice",
    )


def test_completing_and_rescheduling_change_the_row() -> None:
    log = TaskLog()
    log.lead("Ada")
    done, moved = log.task("Ada", at(days=1)), log.task("Ada", at(days=2))
    log.complete("Ada", done, at(hours=5))
    log.reschedule("Ada", moved, at(days=9))
    store = store_of(log)
    assert (the_task(store, done).status, the_task(store, done).completed_at) == ("done", at(hours=5))
    assert (the_task(store, moved).status, the_task(store, moved).due_at) == ("open", at(days=9))


def test_an_erasure_blanks_the_titles_and_notes_of_that_records_tasks_only() -> None:
    # given two people with tasks
    log = TaskLog()
    log.lead("Ada")
    log.contact("Grace")
    hers = log.task("Ada", at(days=1), title="call Ada on +44 20 7946 0018", note="she prefers mornings")
    other = log.task("Grace", at(days=1), note="keep")

    # when Ada is erased
    log.erase("Ada")
    store = store_of(log)

    # then her task keeps its times and owner but says nothing of her; Grace's is untouched
    erased = the_task(store, hers)
    assert (erased.title, erased.note) == (None, None)
    assert (erased.due_at, erased.owner, erased.status) == (at(days=1), "alice", "open")
    assert (the_task(store, other).title, the_task(store, other).note) == ("call back", "keep")


def test_every_change_of_a_task_is_keyed_by_its_record_too() -> None:
    # so that a task id some caller reused on another record never changes that record's task
    log = TaskLog()
    log.lead("Ada")
    task_id = log.task("Ada", at(days=1))
    log.complete("Ada", task_id, at(hours=2))
    created, completed = [TasksProjection().apply(r) for r in log.records_in_order()[-2:]]
    assert isinstance(created[0], Upsert) and created[0].key == ("task_id",)
    assert isinstance(completed[0], Update)
    assert completed[0].where == {"task_id": str(task_id), "aggregate_id": str(log.records["Ada"].id)}


def test_events_other_than_task_events_and_erasures_change_nothing() -> None:
    log = TaskLog()
    log.lead("Ada").log_interaction(InteractionKind.CALL, "hi", meta())
    log._take(log.records["Ada"])
    assert [TasksProjection().apply(r) for r in log.records_in_order()] == [[], [], [], []]


# --- the queries -----------------------------------------------------------------------------


@pytest.fixture
def tasks() -> tuple[SqliteReader, dict[str, UUID]]:
    """alice: a (due d1, done), b (d2), c (d3); bob: d (d2), e (d5); nobody: f (d4)."""
    log = TaskLog()
    log.lead("Ada")
    log.contact("Grace")
    made = {
        "a": log.task("Ada", at(days=1)),
        "b": log.task("Ada", at(days=2)),
        "c": log.task("Grace", at(days=3)),
        "d": log.task("Ada", at(days=2), owner="bob"),
        "e": log.task("Grace", at(days=5), owner="bob"),
        "f": log.task("Grace", at(days=4), owner=None),
    }
    log.complete("Ada", made["a"], at(hours=6))
    return store_of(log), made


def names(rows: Sequence[TaskRow], made: dict[str, UUID]) -> list[str]:
    by_id = {str(v): k for k, v in made.items()}
    return [by_id[row.task_id] for row in rows]


def test_the_list_is_in_due_order_then_by_id(tasks: tuple[SqliteReader, dict[str, UUID]]) -> None:
    store, made = tasks
    listed = names(list_tasks(store, now=at()), made)
    assert listed[0] == "a" and listed[3] == "c" and listed[4:] == ["f", "e"]
    assert listed[1:3] == sorted(["b", "d"], key=lambda n: str(made[n]))


def test_the_list_filters_by_owner_status_and_due_time(tasks: tuple[SqliteReader, dict[str, UUID]]) -> None:
    store, made = tasks

    def listed(**filters: Any) -> set[str]:
        return set(names(list_tasks(store, now=filters.pop("now", at(days=2, hours=12)), **filters), made))

    assert listed(owner="alice") == {"a", "b", "c"}
    assert listed(status="open") == {"b", "c", "d", "e", "f"}
    assert listed(status="done") == {"a"}
    # overdue: open and due before now (day 2.5): a is done, so b and d
    assert listed(status="overdue") == {"b", "d"}
    assert listed(status="overdue", now=at(days=1)) == set()
    assert listed(status="overdue", owner="bob") == {"d"}
    assert listed(due_before=at(days=3)) == {"a", "b", "d"}
    assert listed(status="open", owner="alice", due_before=at(days=3)) == {"b"}
    assert listed(owner="carol") == set()


def test_keyset_pages_go_through_every_task_once_in_order(tasks: tuple[SqliteReader, dict[str, UUID]]) -> None:
    store, made = tasks
    everything = list_tasks(store, now=at())
    pages, after = [], None
    while True:
        page = list_tasks(store, now=at(), after=after, limit=2)
        if not page:
            break
        pages.append(page)
        after = parse_page_key(page_key(page[-1]))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [row.task_id for p in pages for row in p] == [row.task_id for row in everything]


def test_a_page_key_reads_back_as_the_due_time_and_id_and_nothing_else_does() -> None:
    row = TaskRow(
        task_id=str(UUID(int=7)),
        aggregate_type="lead",
        aggregate_id=str(UUID(int=8)),
        title=None,
        note=None,
        owner=None,
        due_at=at(days=1),
        status="open",
        created_at=at(),
        created_by="alice",
        completed_at=None,
    )
    assert parse_page_key(page_key(row)) == (at(days=1), str(UUID(int=7)))
    for bad in ("", "2024-03-02T09:00:00+00:00", "nonsense/" + str(UUID(int=7)), "2024-03-02T09:00:00+00:00/x"):
        with pytest.raises(ValueError):
            parse_page_key(bad)


def test_an_unknown_task_is_not_in_the_read_model(tasks: tuple[SqliteReader, dict[str, UUID]]) -> None:
    store, _ = tasks
    assert fetch_task(store, uuid4()) is None


def test_a_row_knows_whether_it_is_overdue(tasks: tuple[SqliteReader, dict[str, UUID]]) -> None:
    store, made = tasks
    assert the_task(store, made["b"]).is_overdue(at(days=3))
    assert not the_task(store, made["b"]).is_overdue(at(days=1))
    assert not the_task(store, made["a"]).is_overdue(at(days=30))  # done
