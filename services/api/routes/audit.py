"""The audit routes under /v1/audit: the access log (who read which person's data), for admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.api.deps import AccessLogDep, AccessSubjectFilter, AccessUserFilter, PageQuery, Permit
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES
from services.api.schemas_audit import AccessEntryPublic, AccessLogPage
from services.auth.policy import Action

router = APIRouter(
    prefix="/v1/audit",
    tags=["audit"],
    responses={status: answer for status, answer in PROBLEM_RESPONSES.items() if status not in (404, 409, 413)},
)


@router.get(
    "/access",
    summary="Who read which person's data, newest first",
    dependencies=[Depends(Permit(Action.READ_ACCESS_LOG))],
)
def list_access_log(
    log: AccessLogDep, page: PageQuery, subject: AccessSubjectFilter = None, user: AccessUserFilter = None
) -> AccessLogPage:
    """Every read of a lead's or a contact's data (the record, its history, the lists, segment
    members), one entry per record shown: who, with which role, when, which route and request.
    Newest first; filter by the record (`subject`) and/or by who read it (`user`)."""
    log.flush()  # this server's reads of a moment ago are in the answer too
    rows, cursor = keyset_page(
        lambda before, limit: log.entries(
            subject=str(subject) if subject else None, user=user, before=before, limit=limit
        ),
        page,
        key=lambda entry: entry.entry_id,
    )
    return AccessLogPage(items=[AccessEntryPublic.of(entry) for entry in rows], next_cursor=cursor)
