"""What the lead and contact routes share: the ETag of a single aggregate, the `Idempotency-Key`
of a create, the answer to a command, reads at a version or as of a time, and audit trails."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from fastapi import Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from domain.contact import Contact
from domain.lead import Lead
from services.api.schemas import AuditTrail, CommandAccepted
from services.app.application import CommandResult, CrmApplication
from services.app.commands import AddTask, CaptureLead, CreateContact, ReactivateContact, RecordCampaignCost
from services.app.errors import NotFound
from services.auth.access import Caller

C = TypeVar("C", CaptureLead, CreateContact, ReactivateContact, AddTask, RecordCampaignCost)


def etag(version: int) -> str:
    return f'"{version}"'


_STRING = {"type": "string"}
ETAG_HEADER = {
    "ETag": {"description": 'the version now, e.g. `"7"`; send it back as `If-Match` to change it', "schema": _STRING}
}


REPLAYED_HEADER = {
    "Idempotent-Replayed": {"description": "`true`: this answers a retry, and nothing was appended", "schema": _STRING}
}


def location_header(of: str) -> dict[str, Any]:
    """The `Location` header of a response, for the OpenAPI document."""
    return {"Location": {"description": f"the path of {of}", "schema": _STRING}}


def with_etag(status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The success response of a route that answers with the aggregate's `ETag`, for the OpenAPI document."""
    return {status: {"headers": ETAG_HEADER}}


def created_at(of: str) -> dict[int | str, dict[str, Any]]:
    """The 201 of a route that answers with the `Location` of what it created, for the OpenAPI document."""
    return {201: {"headers": location_header(of)}}


def created_or_replayed(model: type[BaseModel], of: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a create that takes an `Idempotency-Key` (see `created`), for the OpenAPI
    document: 201 with `Location` and `ETag`, and 200 for a retry with the same key."""
    headers = {**location_header(of), **ETAG_HEADER}
    return {
        201: {"description": "Created", "headers": headers},
        200: {
            "model": model,
            "description": "A retry with the same `Idempotency-Key`: nothing appended, the first answer again",
            "headers": {**headers, **REPLAYED_HEADER},
        },
    }


def with_key(cmd: C, key: str | None) -> C:
    """The `Idempotency-Key` header becomes the command's idempotency key."""
    if key is None:
        return cmd
    if cmd.idempotency_key not in (None, key):
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "Idempotency-Key"),
                    "msg": "differs from the body's idempotency_key",
                    "input": key,
                }
            ]
        )
    return cmd.model_copy(update={"idempotency_key": key})


def accepted(response: Response, result: CommandResult) -> CommandAccepted:
    response.headers["ETag"] = etag(result.version)
    return CommandAccepted.of(result)


def created(response: Response, result: CommandResult, location: str) -> None:
    """201 with Location for a new aggregate; 200 for a retry that appended nothing."""
    response.headers["Location"] = location
    if result.position is None:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"


def exact_version(found: Lead | Contact, version: int | None, as_of: datetime | None, missing: NotFound) -> None:
    if version is not None and as_of is None and found.version != version:
        raise missing


def trail(
    crm: CrmApplication,
    aggregate_id: UUID,
    of: type[Lead] | type[Contact],
    who: Caller,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> AuditTrail:
    """The audit trail of a lead or of a contact, within the caller's owner scope (a read of the
    person's data, so it goes to the access log); with `as_of` / `known_at`, the events folded
    then, in business order."""
    entries = crm.history(aggregate_id, of=of, owner_scope=who.owner_scope, as_of=as_of, known_at=known_at)
    who.read([aggregate_id])
    return AuditTrail.of(aggregate_id, entries, masked=who.principal.masks_personal_data)
