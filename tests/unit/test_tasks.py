"""Follow-up tasks on leads and contacts: adding, completing and rescheduling them, the rules
that refuse them, and the state rebuilt from the events alone. Every rule holds on both
aggregates, so most tests run once for a lead and once for a contact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.contact import Contact
from domain.errors import (
    LeadAlreadyConverted,
    LeadAlreadyDisqualified,
    OccurredBeforeCreation,
    PersonErased,
    TaskAlreadyCompleted,
    TaskAlreadyExists,
    TaskDueUnchanged,
    UnknownTask,
)
from domain.lead import Lead
from domain.money import Money
from domain.tasks import TaskStatus
from tests.unit.factories import (
    a_contact,
    a_converted_lead,
    a_disqualified_lead,
    a_lead,
    a_settled_contact,
    a_settled_lead,
    at,
    meta,
    pending,
    replay,
    the_only,
)

Record = Lead | Contact

RECORDS: dict[str, Callable[[], Record]] = {"lead": a_settled_lead, "contact": a_settled_contact}
"""A lead or a contact with no pending events, created at T0."""

by_record = pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())


def with_task(record: Record, task_id: UUID | None = None, **fields: Any) -> UUID:
    """Add a task due a day after T0 to the record; its events stay pending."""
    task_id = task_id or uuid4()
    values: dict[str, Any] = {"title": "call back", "due_at": at(days=1), "note": None, "owner": "alice"}
    values.update(fields)
    record.add_task(task_id, meta=meta(at=at(hours=1), actor="maria"), **values)
    return task_id


# --- adding -------------------------------------------------------------------------------------


@by_record
def test_adding_a_task_records_what_is_to_be_done_by_whom_and_when(make: Callable[[], Record]) -> None:
    # given a record
    record = make()
    task_id = uuid4()

    # when a task is added to it
    record.add_task(task_id, "send the proposal", at(days=2), "with the discount", "bob", meta(at=at(hours=1)))

    # then one TaskCreated of the record's own kind says so, and the record holds the task open
    created = the_only(pending(record), type(record).TaskCreated)
    assert (created.task_id, created.title, created.due_at, created.note, created.owner) == (
        task_id,
        "send the proposal",
        at(days=2),
        "with the discount",
        "bob",
    )
    assert created.occurred_at == at(hours=1) and created.actor == "alice"
    task = record.task(task_id)
    assert task.status is TaskStatus.OPEN and task.completed_at is None
    assert (task.created_at, task.created_by, task.owner) == (at(hours=1), "alice", "bob")


def test_each_aggregate_has_task_events_of_its_own() -> None:
    assert Lead.TaskCreated is not Contact.TaskCreated
    assert issubclass(Lead.TaskCompleted, Lead.Event) and issubclass(Contact.TaskCompleted, Contact.Event)
    assert not issubclass(Lead.TaskRescheduled, Contact.Event)


@by_record
def test_a_task_id_is_added_once(make: Callable[[], Record]) -> None:
    # given a record with a task
    record = make()
    task_id = with_task(record)
    pending(record)

    # when the same id is added again, then it is refused and nothing is recorded
    with pytest.raises(TaskAlreadyExists):
        with_task(record, task_id, title="something else")
    assert pending(record) == []


@by_record
def test_a_task_may_be_due_in_the_past_and_is_then_overdue_at_once(make: Callable[[], Record]) -> None:
    record = make()
    task_id = with_task(record, due_at=at(days=-3))
    assert record.task(task_id).is_overdue(at(hours=1))
    assert not record.task(task_id).is_overdue(at(days=-4))


@pytest.mark.parametrize(
    ("closed", "error"), [(a_converted_lead, LeadAlreadyConverted), (a_disqualified_lead, LeadAlreadyDisqualified)]
)
def test_a_closed_lead_takes_no_new_task_because_its_follow_up_belongs_on_the_contact(
    closed: Callable[[], Lead], error: type[Exception]
) -> None:
    lead = closed()
    with pytest.raises(error):
        lead.add_task(uuid4(), "call", at(days=3), None, None, meta(at=at(days=2)))
    assert pending(lead) == []


@by_record
def test_a_task_cannot_be_added_before_its_record_existed(make: Callable[[], Record]) -> None:
    record = make()
    with pytest.raises(OccurredBeforeCreation):
        record.add_task(uuid4(), "call", at(days=1), None, None, meta(at=at(seconds=-1)))
    assert pending(record) == []


# --- completing ---------------------------------------------------------------------------------


@by_record
def test_completing_a_task_marks_it_done_at_that_time(make: Callable[[], Record]) -> None:
    # given a record with an open task
    record = make()
    task_id = with_task(record)
    pending(record)

    # when it is completed
    record.complete_task(task_id, meta(at=at(hours=5), actor="bob"))

    # then TaskCompleted names it and the task is done
    completed = the_only(pending(record), type(record).TaskCompleted)
    assert (completed.task_id, completed.occurred_at, completed.actor) == (task_id, at(hours=5), "bob")
    assert record.task(task_id).status is TaskStatus.DONE
    assert record.task(task_id).completed_at == at(hours=5)
    assert not record.task(task_id).is_overdue(at(days=10))


@by_record
def test_completing_a_done_task_again_is_refused(make: Callable[[], Record]) -> None:
    # A second completion is an error, as assigning a lead to its owner is: it would say that
    # the work was done twice. A retry after a lost answer reads the task to see it done.
    record = make()
    task_id = with_task(record)
    record.complete_task(task_id, meta(at=at(hours=2)))
    pending(record)
    with pytest.raises(TaskAlreadyCompleted):
        record.complete_task(task_id, meta(at=at(hours=3)))
    assert pending(record) == []


@by_record
def test_an_unknown_task_is_neither_completed_nor_rescheduled(make: Callable[[], Record]) -> None:
    record = make()
    with pytest.raises(UnknownTask):
        record.complete_task(uuid4(), meta(at=at(hours=1)))
    with pytest.raises(UnknownTask):
        record.reschedule_task(uuid4(), at(days=3), meta(at=at(hours=1)))
    assert pending(record) == []


@by_record
def test_a_task_is_not_completed_before_it_was_added(make: Callable[[], Record]) -> None:
    record = make()
    task_id = with_task(record)  # added at T0 + 1 h
    pending(record)
    with pytest.raises(OccurredBeforeCreation):
        record.complete_task(task_id, meta(at=at(minutes=30)))
    assert pending(record) == []


@pytest.mark.parametrize("close", ["convert", "disqualify"])
def test_a_task_of_a_lead_that_closed_meanwhile_can_still_be_completed(close: str) -> None:
    # so that a converted lead's follow-ups do not stay open (and overdue) for ever
    lead = a_settled_lead()
    task_id = with_task(lead)
    if close == "convert":
        lead.convert(uuid4(), Money(100, "USD"), meta(at=at(hours=2)))
    else:
        lead.disqualify("no budget", meta(at=at(hours=2)))
    pending(lead)
    lead.complete_task(task_id, meta(at=at(hours=3)))
    assert the_only(pending(lead), Lead.TaskCompleted).task_id == task_id
    with pytest.raises(LeadAlreadyConverted if close == "convert" else LeadAlreadyDisqualified):
        lead.reschedule_task(task_id, at(days=9), meta(at=at(hours=4)))


# --- rescheduling -------------------------------------------------------------------------------


@by_record
def test_rescheduling_moves_the_due_time_and_remembers_the_previous_one(make: Callable[[], Record]) -> None:
    record = make()
    task_id = with_task(record)
    pending(record)
    record.reschedule_task(task_id, at(days=4), meta(at=at(hours=2)))
    moved = the_only(pending(record), type(record).TaskRescheduled)
    assert (moved.task_id, moved.due_at, moved.previous_due_at) == (task_id, at(days=4), at(days=1))
    assert record.task(task_id).due_at == at(days=4)


@by_record
def test_rescheduling_a_done_task_or_to_the_same_time_is_refused(make: Callable[[], Record]) -> None:
    record = make()
    task_id = with_task(record)
    with pytest.raises(TaskDueUnchanged):
        record.reschedule_task(task_id, at(days=1), meta(at=at(hours=2)))
    record.complete_task(task_id, meta(at=at(hours=2)))
    pending(record)
    with pytest.raises(TaskAlreadyCompleted):
        record.reschedule_task(task_id, at(days=5), meta(at=at(hours=3)))
    assert pending(record) == []


# --- erasure and replay -------------------------------------------------------------------------


@by_record
def test_an_erased_record_takes_no_task_command(make: Callable[[], Record]) -> None:
    record = make()
    task_id = with_task(record)
    record.erase("data subject request 17", meta(at=at(hours=2)))
    pending(record)
    for command in (
        lambda: with_task(record),
        lambda: record.complete_task(task_id, meta(at=at(hours=3))),
        lambda: record.reschedule_task(task_id, at(days=5), meta(at=at(hours=3))),
    ):
        with pytest.raises(PersonErased):
            command()
    assert pending(record) == []


@by_record
def test_an_erasure_leaves_the_tasks_without_their_titles_and_notes(make: Callable[[], Record]) -> None:
    # as every earlier TaskCreated reads once the person's key is destroyed
    record = make()
    task_id = with_task(record, title="call Ada on +44 20 7946 0018", note="she prefers mornings")
    record.erase("data subject request 17", meta(at=at(hours=2)))
    task = record.task(task_id)
    assert (task.title, task.note) == (None, None)
    assert (task.due_at, task.owner, task.status) == (at(days=1), "alice", TaskStatus.OPEN)


@pytest.mark.parametrize("make", [a_lead, a_contact], ids=["lead", "contact"])
def test_a_record_is_rebuilt_from_its_events_with_the_same_tasks(make: Callable[[], Record]) -> None:
    # given a record with an open, a rescheduled and a done task
    record = make()
    first, second, third = with_task(record), with_task(record, note="n"), with_task(record, owner=None)
    record.reschedule_task(second, at(days=6), meta(at=at(hours=3)))
    record.complete_task(third, meta(at=at(hours=4)))

    # when it is rebuilt from its events alone
    copy = replay(pending(record))

    # then it holds the same tasks
    assert copy.tasks == record.tasks
    assert set(copy.tasks) == {first, second, third}
    assert copy.tasks[second].due_at == at(days=6) and copy.tasks[third].status is TaskStatus.DONE
