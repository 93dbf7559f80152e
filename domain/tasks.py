"""Follow-up tasks: something a sales rep is to do about a lead or a contact by a due time
("call back within one business day", "send the proposal").

Leads and contacts both take tasks, with the same rules, written once here (`FollowUpTasks`).
eventsourcing nests an aggregate's events in its class, so each aggregate declares its own
`TaskCreated`, `TaskCompleted` and `TaskRescheduled` (public types `lead.task_created`,
`contact.task_created`, ...), and its `@event` methods hand them to the `_apply_*` helpers below.

A task's title and note are free text about the person and are sealed with their key like an
interaction's detail (`domain.personal_data`): once the person is erased they read null."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import OccurredBeforeCreation, TaskAlreadyCompleted, TaskAlreadyExists, TaskDueUnchanged, UnknownTask
from domain.values import Meta


class TaskStatus(StrEnum):
    """Where a task stands: to do, or done. (Overdue is an open task past its due time: a
    question asked at some instant, not a state the log records.)"""

    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True)
class Task:
    """One follow-up task as its record holds it."""

    task_id: UUID
    title: str | None
    """What to do; null once the person is erased."""
    due_at: datetime
    note: str | None
    owner: str | None
    """Who is to do it: the record's owner unless someone else was named."""
    created_at: datetime
    created_by: str
    """The actor who added it (a user, or `automation:<policy>` for a rule's task)."""
    completed_at: datetime | None = None

    @property
    def status(self) -> TaskStatus:
        """Open until completed."""
        return TaskStatus.OPEN if self.completed_at is None else TaskStatus.DONE

    def is_overdue(self, now: datetime) -> bool:
        """An open task whose due time is before `now`."""
        return self.completed_at is None and self.due_at < now


class FollowUpTasks:
    """The task behaviour Lead and Contact share: commands with their guards, and how the task
    events change the record. Each aggregate gives the three `@event` methods named below and
    the two guards that say when it takes task commands."""

    tasks: dict[UUID, Task]

    # given by each aggregate: @event methods of its own nested task events
    _task_created: Any
    _task_completed: Any
    _task_rescheduled: Any

    # --- commands -------------------------------------------------------------------

    def add_task(
        self, task_id: UUID, title: str, due_at: datetime, note: str | None, owner: str | None, meta: Meta
    ) -> None:
        """Give someone something to do about this record by `due_at`."""
        self.check_takes_new_tasks(meta.occurred_at)
        if task_id in self.tasks:
            raise TaskAlreadyExists(f"task {task_id} already exists on {self._record_name()}")
        self._task_created(task_id=task_id, title=title, due_at=due_at, note=note, owner=owner, **meta.fields())

    def complete_task(self, task_id: UUID, meta: Meta) -> None:
        """Mark an open task done; a task is completed once (a second time is an error)."""
        self.check_takes_task_completion(meta.occurred_at)
        task = self.task(task_id)
        self._check_open(task, "completed")
        self._check_not_before(task, meta.occurred_at)
        self._task_completed(task_id=task_id, **meta.fields())

    def reschedule_task(self, task_id: UUID, due_at: datetime, meta: Meta) -> None:
        """Move an open task's due time."""
        self.check_takes_new_tasks(meta.occurred_at)
        task = self.task(task_id)
        self._check_open(task, "rescheduled")
        self._check_not_before(task, meta.occurred_at)
        if due_at == task.due_at:
            raise TaskDueUnchanged(f"task {task_id} is already due at {due_at.isoformat()}")
        self._task_rescheduled(task_id=task_id, due_at=due_at, previous_due_at=task.due_at, **meta.fields())

    # --- reads and guards -----------------------------------------------------------

    def task(self, task_id: UUID) -> Task:
        """The record's task of that id; `UnknownTask` when it has none."""
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownTask(f"{self._record_name()} has no task {task_id}") from None

    def check_takes_new_tasks(self, occurred_at: datetime) -> None:
        """Whether the record takes a new task or a rescheduled one at this business time."""
        raise NotImplementedError

    def check_takes_task_completion(self, occurred_at: datetime) -> None:
        """Whether a task of the record may be completed at this business time."""
        raise NotImplementedError

    @staticmethod
    def _check_open(task: Task, change: str) -> None:
        if task.completed_at is not None:
            raise TaskAlreadyCompleted(
                f"task {task.task_id} was completed at {task.completed_at.isoformat()}; it cannot be {change}"
            )

    @staticmethod
    def _check_not_before(task: Task, occurred_at: datetime) -> None:
        if occurred_at < task.created_at:
            raise OccurredBeforeCreation(
                f"occurred_at {occurred_at.isoformat()} is before task {task.task_id} was added "
                f"({task.created_at.isoformat()})"
            )

    def _record_name(self) -> str:
        return f"{type(self).__name__.lower()} {getattr(self, 'id', '')}".strip()

    # --- event application: deterministic, re-run on every load -----------------------

    def _apply_task_created(
        self,
        task_id: UUID,
        title: str | None,
        due_at: datetime,
        note: str | None,
        owner: str | None,
        actor: str,
        occurred_at: datetime,
    ) -> None:
        self.tasks[task_id] = Task(task_id, title, due_at, note, owner, occurred_at, actor)

    def _apply_task_completed(self, task_id: UUID, occurred_at: datetime) -> None:
        self.tasks[task_id] = replace(self.tasks[task_id], completed_at=occurred_at)

    def _apply_task_rescheduled(self, task_id: UUID, due_at: datetime) -> None:
        self.tasks[task_id] = replace(self.tasks[task_id], due_at=due_at)

    def _forget_task_texts(self) -> None:
        """What an erasure leaves of the tasks: their titles and notes read null, as every
        earlier task event of the person does once their key is destroyed."""
        self.tasks = {task_id: replace(task, title=None, note=None) for task_id, task in self.tasks.items()}
