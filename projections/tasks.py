"""The follow-up tasks read model: one row per task of any lead or contact, as it stands now
(open or done, when it is due, who is to do it). Pure: an event record in, row changes out.
Queries are in `projections/task_queries.py`."""

from __future__ import annotations

from collections.abc import Callable

from domain.personal_data import TASK_TEXT, erased_value
from domain.tasks import TaskStatus
from projections.event_record import EventRecord
from projections.row_changes import RowChange, Table, Update, Upsert

TASKS = Table(
    name="follow_up_tasks",
    columns={
        "task_id": "text",
        "aggregate_type": "text",
        "aggregate_id": "text",
        "title": "text",
        "note": "text",
        "owner": "text",
        "due_at": "timestamp",
        "status": "text",
        "created_at": "timestamp",
        "created_by": "text",
        "completed_at": "timestamp",
        "merged_into": "text",
    },
    primary_key=("task_id",),
    indexes=(("owner", "status", "due_at"), ("status", "due_at"), ("aggregate_id",)),
)
"""One row per task. `merged_into` is set on the tasks of a record while it is merged into
another: the task list leaves them out until the record is unmerged."""


class TasksProjection:
    """Task events of leads and contacts -> task rows; an erasure blanks its records' task texts,
    a merge takes its duplicate's tasks out of the list (and an unmerge puts them back)."""

    name: str = "tasks"
    tables: tuple[Table, ...] = (TASKS,)

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; [] for events this read model does not use."""
        kind = record.event_type.split(".", 1)[-1]
        handler = _HANDLERS.get(kind)
        return handler(record) if handler else []


def _task_key(r: EventRecord) -> dict[str, str]:
    # The record is part of the key of every change, so that a task id that some caller reused on
    # another record (ids are uuid4, or derived from a trigger) never changes that other's task.
    return {"task_id": str(r.data["task_id"]), "aggregate_id": str(r.aggregate_id)}


def _created(r: EventRecord) -> list[RowChange]:
    d = r.data
    row = {
        "task_id": str(d["task_id"]),
        "aggregate_type": r.aggregate_type,
        "aggregate_id": str(r.aggregate_id),
        "title": d["title"],
        "note": d["note"],
        "owner": d["owner"],
        "due_at": d["due_at"],
        "status": TaskStatus.OPEN.value,
        "created_at": r.occurred_at,
        "created_by": r.actor,
        "completed_at": None,
        "merged_into": None,
    }
    # an upsert, not an insert: a task id reused on another record must not stop the read model
    return [Upsert(TASKS.name, ("task_id",), row)]


def _completed(r: EventRecord) -> list[RowChange]:
    return [Update(TASKS.name, _task_key(r), {"status": TaskStatus.DONE.value, "completed_at": r.occurred_at})]


def _rescheduled(r: EventRecord) -> list[RowChange]:
    return [Update(TASKS.name, _task_key(r), {"due_at": r.data["due_at"]})]


def _erased(r: EventRecord) -> list[RowChange]:
    # the texts every earlier task event of the record now reads as, so a replay writes the same rows
    return [Update(TASKS.name, {"aggregate_id": str(r.aggregate_id)}, {f: erased_value(f) for f in sorted(TASK_TEXT)})]


def _merged_into(r: EventRecord) -> list[RowChange]:
    return [Update(TASKS.name, {"aggregate_id": str(r.aggregate_id)}, {"merged_into": str(r.data["survivor_id"])})]


def _unmerged(r: EventRecord) -> list[RowChange]:
    return [Update(TASKS.name, {"aggregate_id": str(r.aggregate_id)}, {"merged_into": None})]


_HANDLERS: dict[str, Callable[[EventRecord], list[RowChange]]] = {
    "task_created": _created,
    "task_completed": _completed,
    "task_rescheduled": _rescheduled,
    "erased": _erased,
    "merged_into": _merged_into,
    "unmerged": _unmerged,
}
"""By what happened, for leads and contacts alike (`lead.task_created`, `contact.erased`, ...)."""
