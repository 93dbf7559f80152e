"""The follow-up task routes: add a task to a lead or a contact, the task list and one task from
the tasks read model, and completing or rescheduling a task. A rep adds tasks for themselves
on the records they own, and sees and changes their own tasks only: anyone else's answers 404,
like a missing one. An analyst reads tasks with emails and phone numbers in their texts masked.

A task's record is found through the tasks read model (see `CrmApplication.complete_task`); a
task it does not hold yet is looked for again once it applied the head of the log, so that a
task can be read or completed right after it was added, without a `min_position`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from projections.task_queries import page_key, parse_page_key
from services.api.deps import (
    CrmDep,
    DueBefore,
    IdempotencyKeyHeader,
    IfMatch,
    MinPosition,
    Permit,
    ReadModelsDep,
    TaskOwnerFilter,
    TaskPageQuery,
    TaskStatusQuery,
)
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES
from services.api.read_models import BEHIND
from services.api.responses import created, created_or_replayed, etag, with_key
from services.api.schemas_tasks import TaskAccepted, TaskPage, TaskPublic
from services.app.application import CommandResult
from services.app.commands import AddTask, CompleteTask, RescheduleTask
from services.app.errors import TaskNotFound
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1", tags=["tasks"], responses=PROBLEM_RESPONSES)

_ADD_EXAMPLES: dict[str, Any] = {
    "call back": {
        "summary": "a call-back for the record's owner tomorrow morning",
        "value": {"title": "Call back about the demo", "due_at": "2026-03-03T09:00:00+01:00", "note": "Mornings"},
    },
    "for another rep": {
        "summary": "a task for someone else (managers and admins)",
        "value": {"title": "Send the proposal", "due_at": "2026-03-06T17:00:00Z", "owner": "bob"},
    },
}
_COMPLETE_EXAMPLES: dict[str, Any] = {
    "now": {"summary": "done now", "value": {}},
    "earlier": {"summary": "done earlier (business time)", "value": {"occurred_at": "2026-03-03T08:40:00Z"}},
}
_RESCHEDULE_EXAMPLES: dict[str, Any] = {
    "next week": {"summary": "due a week later", "value": {"due_at": "2026-03-10T09:00:00+01:00"}},
}


def _added(response: Response, result: CommandResult) -> TaskAccepted:
    """201 with the task's Location (200 for a repeat that appended nothing), the record's ETag."""
    created(response, result, f"/v1/tasks/{result.related_id}")
    response.headers["ETag"] = etag(result.version)
    return TaskAccepted.of(result)


@router.post(
    "/leads/{lead_id}/tasks",
    status_code=201,
    summary="Add a follow-up task to a lead",
    responses=created_or_replayed(TaskAccepted, "the new task (the `ETag` is the lead's)"),
)
def add_lead_task(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.ADD_TASK))],
    crm: CrmDep,
    body: Annotated[AddTask, Body(openapi_examples=_ADD_EXAMPLES)],
    expected: IfMatch,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> TaskAccepted:
    """A task on an open lead (a closed lead's follow-up belongs on its contact: 409), for the
    lead's owner unless `owner` names someone else. A retry with the same `Idempotency-Key`
    answers 200 with the same task and appends nothing."""
    cmd = who.as_owner(with_key(body, key))
    return _added(response, crm.add_lead_task(lead_id, cmd, who.context(), expected_version=expected))


@router.post(
    "/contacts/{contact_id}/tasks",
    status_code=201,
    summary="Add a follow-up task to a contact",
    responses=created_or_replayed(TaskAccepted, "the new task (the `ETag` is the contact's)"),
)
def add_contact_task(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.ADD_TASK))],
    crm: CrmDep,
    body: Annotated[AddTask, Body(openapi_examples=_ADD_EXAMPLES)],
    expected: IfMatch,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> TaskAccepted:
    """A task on a contact, for the owner of the lead it came from unless `owner` names someone
    else. A retry with the same `Idempotency-Key` answers 200 with the same task."""
    cmd = who.as_owner(with_key(body, key))
    return _added(response, crm.add_contact_task(contact_id, cmd, who.context(), expected_version=expected))


@router.get("/tasks", summary="List follow-up tasks (filter, page through)", responses=BEHIND)
def list_tasks(
    who: Annotated[Caller, Depends(Permit(Action.READ_TASKS))],
    reads: ReadModelsDep,
    page: TaskPageQuery,
    owner: TaskOwnerFilter = None,
    status: TaskStatusQuery = None,
    due_before: DueBefore = None,
    min_position: MinPosition = None,
) -> TaskPage:
    """Tasks soonest due first, from the tasks read model. A rep sees their own only; an analyst
    sees emails and phone numbers in titles and notes masked."""
    owner = who.owner_filter(owner)
    queries = reads.caught_up(min_position)
    now = datetime.now(UTC)
    rows, cursor = keyset_page(
        lambda after, limit: queries.tasks(
            now=now,
            owner=owner,
            status=status,
            due_before=due_before,
            after=parse_page_key(after) if after else None,
            limit=limit,
        ),
        page,
        key=page_key,
    )
    who.read(dict.fromkeys(row.aggregate_id for row in rows))  # a task's texts are its person's data
    masked = who.principal.masks_personal_data
    return TaskPage(items=[TaskPublic.of(row, now, masked=masked) for row in rows], next_cursor=cursor)


@router.get("/tasks/{task_id}", summary="One follow-up task", responses=BEHIND)
def get_task(
    task_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ_TASKS))],
    reads: ReadModelsDep,
    min_position: MinPosition = None,
) -> TaskPublic:
    """A task as it stands now; someone else's task is 404 for a rep."""
    row = reads.task(task_id, min_position)
    if row is None:
        raise TaskNotFound(task_id)
    if who.owner_scope is not None and row.owner != who.owner_scope:
        raise TaskNotFound(task_id, withheld=True)
    who.read([row.aggregate_id])
    return TaskPublic.of(row, datetime.now(UTC), masked=who.principal.masks_personal_data)


@router.post("/tasks/{task_id}/complete", summary="Mark a task done", responses=BEHIND)
def complete_task(
    task_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_TASK))],
    crm: CrmDep,
    reads: ReadModelsDep,
    body: Annotated[CompleteTask | None, Body(openapi_examples=_COMPLETE_EXAMPLES)] = None,
    min_position: MinPosition = None,
) -> TaskAccepted:
    """Done now (or at `occurred_at`). Completing a done task again is 409; a task of a lead
    that closed meanwhile can still be completed."""
    cmd = body or CompleteTask()
    return TaskAccepted.of(crm.complete_task(task_id, cmd, who.context(), locate=reads.task_locator(min_position)))


@router.post("/tasks/{task_id}/reschedule", summary="Move a task's due time", responses=BEHIND)
def reschedule_task(
    task_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_TASK))],
    crm: CrmDep,
    reads: ReadModelsDep,
    body: Annotated[RescheduleTask, Body(openapi_examples=_RESCHEDULE_EXAMPLES)],
    min_position: MinPosition = None,
) -> TaskAccepted:
    """A new due time for an open task (a done one is 409, and so is the same time again)."""
    return TaskAccepted.of(crm.reschedule_task(task_id, body, who.context(), locate=reads.task_locator(min_position)))
