"""The privacy routes: erase a person (GDPR Art. 17) from one of their leads or contacts, and
export everything about a person (Art. 15). Admin and the `privacy` role only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from domain.contact import Contact
from domain.lead import Lead
from services.api.deps import AfterErasure, AfterErasureHook, CrmDep, Permit
from services.api.problems import PROBLEM_RESPONSES
from services.api.responses import etag, with_etag
from services.api.schemas_privacy import ErasureAccepted, PersonExport
from services.app.application import CrmApplication, ErasureResult
from services.app.commands import ErasePerson
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1", tags=["privacy"], responses=PROBLEM_RESPONSES)

Eraser = Annotated[Caller, Depends(Permit(Action.ERASE_PERSON))]


def _erase(
    crm: CrmApplication,
    after_erasure: AfterErasureHook,
    record_id: UUID,
    body: ErasePerson,
    who: Caller,
    of: type[Lead] | type[Contact],
) -> ErasureResult:
    result = crm.erase_person(record_id, body, who.context(), of=of)
    after_erasure(result.position)
    return result


_ERASE_EXAMPLES = {
    "request": {"summary": "a data subject's request", "value": {"reason": "data subject request 2026-117"}}
}
EraseBody = Annotated[ErasePerson, Body(openapi_examples=_ERASE_EXAMPLES)]


@router.post("/leads/{lead_id}/erase", summary="Erase the person of a lead", responses=with_etag())
def erase_lead(
    lead_id: UUID, body: EraseBody, who: Eraser, crm: CrmDep, after_erasure: AfterErasure, response: Response
) -> ErasureAccepted:
    """Destroys the person's key, so that their name, email, phone, title and free text read as
    erased in every lead and contact of theirs, the history and the read models; appends
    `lead.erased` / `contact.erased`, which hold no personal data. Numbers stay as they were."""
    result = _erase(crm, after_erasure, lead_id, body, who, Lead)
    response.headers["ETag"] = etag(result.version)
    return ErasureAccepted.of(result)


@router.post("/contacts/{contact_id}/erase", summary="Erase the person of a contact", responses=with_etag())
def erase_contact(
    contact_id: UUID, body: EraseBody, who: Eraser, crm: CrmDep, after_erasure: AfterErasure, response: Response
) -> ErasureAccepted:
    """As for a lead: the contact, the lead it came from and its later leads are one person."""
    result = _erase(crm, after_erasure, contact_id, body, who, Contact)
    response.headers["ETag"] = etag(result.version)
    return ErasureAccepted.of(result)


@router.get("/contacts/{contact_id}/export", summary="Everything about the person of a contact")
def export_person(
    contact_id: UUID, who: Annotated[Caller, Depends(Permit(Action.EXPORT_PERSON))], crm: CrmDep
) -> PersonExport:
    """The person's contacts and leads as they stand, each with its full history, as JSON."""
    records = crm.person_records(contact_id, owner_scope=who.owner_scope, of=Contact)
    histories = {record.id: crm.history(record.id) for record in records}
    who.read(record.id for record in records)  # an export is a read of the person's data: the access log
    return PersonExport.of(contact_id, records, histories, datetime.now(UTC))
