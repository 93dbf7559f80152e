"""Questions asked of the follow-up tasks read model: one task, where a task is, and the task
list by owner, status and due time, in due order with keyset pages.

"Overdue" is asked at an instant that the caller passes in (`now`): an open task whose due time
is before it. Timestamps compare as fixed-width ISO-8601 UTC text, as everywhere in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.tasks import TaskStatus
from domain.time import parse_time, utc
from projections.row_changes import Reader
from projections.tasks import TASKS

StatusFilter = Literal["open", "done", "overdue"]
"""`open` (overdue ones included), `done`, or `overdue`: open with its due time before now."""


class TaskRow(BaseModel):
    """One task as it stands now in the read model."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    aggregate_type: str
    """`lead` or `contact`."""
    aggregate_id: str
    title: str | None
    """What to do; null once the person is erased."""
    note: str | None
    owner: str | None
    due_at: datetime
    status: str
    """`open` or `done`."""
    created_at: datetime
    created_by: str
    completed_at: datetime | None

    def is_overdue(self, now: datetime) -> bool:
        """Open, and due before `now`."""
        return self.status == TaskStatus.OPEN.value and self.due_at < now


_COLUMNS = tuple(TaskRow.model_fields)
_TIMES = ("due_at", "created_at", "completed_at")


def _row(values: dict[str, Any]) -> TaskRow:
    row = dict(values)
    for column in _TIMES:
        if row[column] is not None:
            row[column] = parse_time(row[column])
    return TaskRow.model_validate(row)


def fetch_task(reader: Reader, task_id: UUID | str) -> TaskRow | None:
    """The task of that id, if the read model has it."""
    rows = reader.fetch(f"SELECT {', '.join(_COLUMNS)} FROM {TASKS.name} WHERE task_id = ?", [str(task_id)])
    return _row(rows[0]) if rows else None


def page_key(row: TaskRow) -> str:
    """Where a page of the task list ends: the last task's due time and id (the list's order)."""
    return f"{utc(row.due_at).isoformat(timespec='microseconds')}/{row.task_id}"


def parse_page_key(key: str) -> tuple[datetime, str]:
    """The due time and task id of a page key; ValueError when it is not one."""
    due, _, task_id = key.partition("/")
    return utc(datetime.fromisoformat(due)), str(UUID(task_id))


def list_tasks(
    reader: Reader,
    *,
    now: datetime,
    owner: str | None = None,
    status: StatusFilter | None = None,
    due_before: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[TaskRow]:
    """Tasks matching every filter given, soonest due first (then by id), starting after the
    (due time, id) `after`, at most `limit` of them. Keyset pages: a page never repeats or skips
    a task that stayed where it was; a task rescheduled while you page moves with its due time."""
    where, params = ["merged_into IS NULL"], list[Any]()  # a merged record's tasks wait for its unmerge
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if status == "overdue":
        where.append("status = ? AND due_at < ?")
        params += [TaskStatus.OPEN.value, utc(now)]
    elif status is not None:
        where.append("status = ?")
        params.append(status)
    if due_before is not None:
        where.append("due_at < ?")
        params.append(utc(due_before))
    if after is not None:
        due, task_id = after
        where.append("(due_at > ? OR (due_at = ? AND task_id > ?))")
        params += [utc(due), utc(due), task_id]
    rows = reader.fetch(
        f"SELECT {', '.join(_COLUMNS)} FROM {TASKS.name} WHERE {' AND '.join(where)}"
        f" ORDER BY due_at, task_id LIMIT {max(int(limit), 0)}",
        params,
    )
    return [_row(row) for row in rows]
