"""What the access-log route answers with: who read which person's data, when, through which
route and in which request (no personal data itself: ids and the CRM's own user names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.api.pagination import Page
from services.auth.access import AccessEntry

_ENTRY_EXAMPLE: dict[str, Any] = {
    "id": "01956b4e-2f3a-7c10-8a5e-3f1d2c4b5a69",
    "read_at": "2026-03-02T14:05:00.123000Z",
    "user": "ana",
    "role": "analyst",
    "method": "GET",
    "route": "/v1/leads/{lead_id}",
    "request_id": "4f9c2b8e1d0a4c6f",
    "subject_id": "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21",
}


class AccessEntryPublic(BaseModel):
    """One lead or contact whose data one request showed to one caller."""

    id: UUID = Field(description="the entry (time-ordered: later entries have greater ids)")
    read_at: datetime
    user: str
    role: str
    method: str
    route: str = Field(description="the route template, e.g. /v1/leads/{lead_id}")
    request_id: str = Field(description="the request's X-Request-ID")
    subject_id: UUID = Field(description="the lead or contact whose data was shown")

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessEntryPublic:
        return cls(
            id=UUID(entry.entry_id),
            read_at=entry.read_at,
            user=entry.user,
            role=entry.role,
            method=entry.method,
            route=entry.route,
            request_id=entry.request_id,
            subject_id=UUID(entry.subject_id),
        )


class AccessLogPage(Page[AccessEntryPublic]):
    """One page of the access log, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ENTRY_EXAMPLE], "next_cursor": None}]})
