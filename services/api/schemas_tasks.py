"""What the task routes answer with: a task command's result, one task, and a page of tasks.
Request bodies are the command models (`AddTask`, `CompleteTask`, `RescheduleTask`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from projections.task_queries import TaskRow
from services.api.pagination import Page
from services.api.schemas import CommandAccepted
from services.app.application import CommandResult
from services.auth.masking import mask_personal

_LEAD_ID = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"
_TASK_ID = "c3a1e7d2-8f4b-4a6e-9b2d-5e0f1a7c3b94"

_CURSOR = "MjAyNi0wMy0wM1QwOTowMDowMC4wMDAwMDArMDA6MDAvYzNhMWU3ZDItOGY0Yi00YTZlLTliMmQtNWUwZjFhN2MzYjk0"
"""The cursor after the example task (base64 of its due time and id)."""

_TASK_EXAMPLE: dict[str, Any] = {
    "id": _TASK_ID,
    "aggregate_type": "lead",
    "aggregate_id": _LEAD_ID,
    "title": "Call back about the demo",
    "note": "She prefers mornings",
    "owner": "alice",
    "due_at": "2026-03-03T09:00:00Z",
    "status": "open",
    "overdue": False,
    "created_at": "2026-03-02T14:05:00Z",
    "created_by": "alice",
    "completed_at": None,
}


class TaskAccepted(CommandAccepted):
    """What a task command did: the task, and the lead or contact it is on at its new version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": _LEAD_ID, "version": 6, "position": 1311, "related_id": _TASK_ID, "task_id": _TASK_ID}]
        }
    )

    task_id: UUID = Field(description="the task (also at `Location` when it was just added)")

    @classmethod
    def of(cls, result: CommandResult) -> TaskAccepted:
        assert result.related_id is not None  # a task command always names its task
        fields = CommandAccepted.of(result).model_dump()
        return cls(**fields, task_id=result.related_id)


class TaskPublic(BaseModel):
    """A follow-up task as the tasks read model holds it now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TASK_EXAMPLE]})

    id: UUID
    aggregate_type: Literal["lead", "contact"] = Field(description="what the task is about: a lead or a contact")
    aggregate_id: UUID = Field(description="the lead or contact")
    title: str | None = Field(description="what to do; null once the person was erased")
    note: str | None
    owner: str | None = Field(description="who is to do it")
    due_at: datetime
    status: Literal["open", "done"]
    overdue: bool = Field(description="open, and due before the time of the answer")
    created_at: datetime = Field(description="business time it was added")
    created_by: str = Field(description="who added it: a user, or `automation:<policy>` for a rule's task")
    completed_at: datetime | None

    @classmethod
    def of(cls, row: TaskRow, now: datetime, *, masked: bool = False) -> TaskPublic:
        texts: dict[str, Any] = {"title": row.title, "note": row.note}
        if masked:
            texts = mask_personal(texts)
        return cls(
            id=UUID(row.task_id),
            aggregate_type=row.aggregate_type,  # type: ignore[arg-type]
            aggregate_id=UUID(row.aggregate_id),
            **texts,
            owner=row.owner,
            due_at=row.due_at,
            status=row.status,  # type: ignore[arg-type]
            overdue=row.is_overdue(now),
            created_at=row.created_at,
            created_by=row.created_by,
            completed_at=row.completed_at,
        )


class TaskPage(Page[TaskPublic]):
    """One page of tasks, soonest due first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_TASK_EXAMPLE],
                    "next_cursor": _CURSOR,
                }
            ]
        }
    )
