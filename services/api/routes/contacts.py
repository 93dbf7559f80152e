"""The contact routes under /v1/contacts: create, read (now, at a version, as of a time, its
audit trail), the contact's commands, and the list of contacts and a contact's features from
the segments read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from domain.contact import Contact
from projections.people_queries import candidates_page
from services.api.deps import (
    AsOf,
    AtVersion,
    CandidatePageQuery,
    CrmDep,
    EmailFilter,
    ExternalIdFilter,
    IdempotencyKeyHeader,
    IfMatch,
    MinPosition,
    PageQuery,
    Permit,
    ReadAsOf,
    ReadModelsDep,
    SegmentFilter,
    TimeUnit,
)
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES, READ_MODEL_RESPONSES
from services.api.read_models import BEHIND
from services.api.responses import accepted, created, etag, exact_version, trail, with_key
from services.api.schemas import AuditTrail, CommandAccepted, ContactPublic, ContactReactivated
from services.api.schemas_people import DuplicatePage, DuplicatePair
from services.api.schemas_read_models import ContactFeaturesPublic, ContactPage, ContactSummary
from services.app.commands import (
    ChangeConsent,
    CreateContact,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    UpdateContactDetails,
)
from services.app.errors import ContactNotFound
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=PROBLEM_RESPONSES)


@router.get(
    "",
    summary="List contacts (filter by segment, external id or email, page through)",
    responses={**BEHIND, 404: READ_MODEL_RESPONSES[404]},
)
def list_contacts_page(
    who: Annotated[Caller, Depends(Permit(Action.READ_INSIGHTS, or_else=Action.LOOKUP_BY_EMAIL))],
    reads: ReadModelsDep,
    page: PageQuery,
    segment: SegmentFilter = None,
    external_id: ExternalIdFilter = None,
    email: EmailFilter = None,
    min_position: MinPosition = None,
) -> ContactPage:
    """Contacts with their current details, in contact id order, from the segments read
    model; `email` finds the contacts with that address (compared normalised, through the
    people read model). An analyst sees names, emails and phones masked (inside free text too).
    A service may look contacts up by `email` only, and sees ids and times, no personal data."""
    who.lookup(email)
    queries = reads.caught_up(min_position)
    rows, cursor = keyset_page(
        lambda after, limit: queries.contacts(
            segment=segment, external_id=external_id, email=email, after=after, limit=limit
        ),
        page,
        key=lambda row: row.contact_id,
    )
    who.read(row.contact_id for row in rows)
    if who.looks_up_only:
        return ContactPage(items=[ContactSummary.minimal(row) for row in rows], next_cursor=cursor)
    masked = who.principal.masks_personal_data
    return ContactPage(items=[ContactSummary.of(row, masked=masked) for row in rows], next_cursor=cursor)


@router.get("/duplicates", summary="Pairs of contacts that look like one person", responses=BEHIND)
def contact_duplicates(
    who: Annotated[Caller, Depends(Permit(Action.READ_INSIGHTS))],
    reads: ReadModelsDep,
    page: CandidatePageQuery,
    min_position: MinPosition = None,
) -> DuplicatePage:
    """Duplicate candidates among the contacts, from the people read model, as for leads
    (`GET /v1/leads/duplicates`); an analyst sees names, emails and phones masked."""
    candidates = reads.caught_up(min_position).duplicate_candidates("contact")
    pairs, cursor = keyset_page(
        lambda after, limit: candidates_page(candidates, after, limit), page, key=lambda pair: pair.key
    )
    who.read(person.person_id for pair in pairs for person in (pair.first, pair.second))
    masked = who.principal.masks_personal_data
    return DuplicatePage(items=[DuplicatePair.of(pair, masked=masked) for pair in pairs], next_cursor=cursor)


@router.get(
    "/{contact_id}/features",
    summary="A contact's features and RFM as of a time",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
    responses=BEHIND,
)
def contact_features(
    contact_id: UUID,
    reads: ReadModelsDep,
    as_of: ReadAsOf = None,
    unit: TimeUnit = "days",
    min_position: MinPosition = None,
) -> ContactFeaturesPublic:
    """Purchases, value, consent, reactivations, lifecycle and RFM (Fader-Hardie) of one
    contact as of a business time."""
    return ContactFeaturesPublic.of(reads.caught_up(min_position).contact_features(contact_id, as_of, unit))


@router.post("", status_code=201, summary="Create a contact")
def create_contact(
    who: Annotated[Caller, Depends(Permit(Action.CREATE_CONTACT))],
    crm: CrmDep,
    body: CreateContact,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> CommandAccepted:
    result = crm.create_contact(with_key(body, key), who.context())
    created(response, result, f"/v1/contacts/{result.id}")
    return accepted(response, result)


@router.get("/{contact_id}", summary="A contact now, at a version, or as of a time")
def get_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ))],
    crm: CrmDep,
    response: Response,
    as_of: AsOf = None,
    version: AtVersion = None,
) -> ContactPublic:
    contact = crm.get_contact(contact_id, version=version, as_of=as_of, owner_scope=who.owner_scope)
    exact_version(contact, version, as_of, ContactNotFound(contact_id, f" at version {version}"))
    who.read([contact.id])
    response.headers["ETag"] = etag(contact.version)
    return ContactPublic.of(contact, masked=who.principal.masks_personal_data)


@router.patch("/{contact_id}", summary="Change some of a contact's details")
def update_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.UPDATE_CONTACT))],
    crm: CrmDep,
    body: UpdateContactDetails,
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    return accepted(response, crm.update_contact_details(contact_id, body, who.context(), expected_version=expected))


@router.get("/{contact_id}/history", summary="A contact's audit trail")
def contact_history(contact_id: UUID, who: Annotated[Caller, Depends(Permit(Action.READ))], crm: CrmDep) -> AuditTrail:
    return trail(crm, contact_id, Contact, who)


@router.post("/{contact_id}/interactions", summary="Log an interaction with a contact")
def log_contact_interaction(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.LOG_INTERACTION))],
    crm: CrmDep,
    body: LogInteraction,
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    return accepted(response, crm.log_contact_interaction(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/purchases", summary="Record a purchase")
def record_purchase(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.RECORD_PURCHASE))],
    crm: CrmDep,
    body: RecordPurchase,
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    return accepted(response, crm.record_purchase(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/consent", summary="Grant or withdraw consent for a channel")
def change_consent(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_CONSENT))],
    crm: CrmDep,
    body: ChangeConsent,
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    return accepted(response, crm.change_consent(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/reactivate", status_code=201, summary="Open a new lead for a contact's new interest")
def reactivate_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.REACTIVATE_CONTACT))],
    crm: CrmDep,
    body: ReactivateContact,
    expected: IfMatch,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> ContactReactivated:
    cmd = who.as_owner(with_key(body, key))
    result = crm.reactivate_contact(contact_id, cmd, who.context(), expected_version=expected)
    created(response, result, f"/v1/leads/{result.related_id}")
    response.headers["ETag"] = etag(result.version)
    return ContactReactivated.of(result)
