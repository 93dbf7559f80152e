"""The contact routes under /v1/contacts: create, read (now, at a version, as of a time, its
audit trail), the contact's commands, and the list of contacts and a contact's features from
the segments read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

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
    KnownAt,
    MinPosition,
    PageQuery,
    Permit,
    ReadAsOf,
    ReadModelsDep,
    SegmentFilter,
    TimeUnit,
)
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES, documented_problem
from services.api.read_models import BEHIND
from services.api.responses import (
    accepted,
    created,
    created_or_replayed,
    etag,
    exact_version,
    trail,
    with_etag,
    with_key,
)
from services.api.schemas import (
    UNMERGE_EXAMPLES,
    AuditTrail,
    CommandAccepted,
    ContactPublic,
    ContactReactivated,
    merge_examples,
)
from services.api.schemas_people import DuplicatePage, DuplicatePair
from services.api.schemas_read_models import ContactFeaturesPublic, ContactPage, ContactSummary
from services.app.commands import (
    ChangeConsent,
    CreateContact,
    LogInteraction,
    Merge,
    ReactivateContact,
    RecordPurchase,
    Unmerge,
    UpdateContactDetails,
)
from services.app.errors import ContactNotFound
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=PROBLEM_RESPONSES)

_CREATE_EXAMPLES = {
    "import": {
        "summary": "a customer imported from the shop",
        "value": {"name": "Ada Lovelace", "email": "ada@acme.example", "company": "Acme", "external_id": "cdnow:00042"},
    }
}
_UPDATE_EXAMPLES = {
    "new email": {"summary": "the person has a new email", "value": {"email": "ada.lovelace@acme.example"}},
    "new role": {"summary": "a new title at another company", "value": {"title": "CEO", "company": "Initech"}},
    "clear the title": {"summary": "null clears a field (not the name)", "value": {"title": None}},
}
_INTERACTION_EXAMPLES = {"meeting": {"summary": "a meeting held", "value": {"kind": "meeting", "detail": "Renewal"}}}
_PURCHASE_EXAMPLES = {
    "order": {
        "summary": "an order of 2 items at 49.90 EUR in all (amounts in minor units)",
        "value": {"order_id": "A-10042", "amount": 4990, "currency": "EUR", "quantity": 2},
    }
}
_CONSENT_EXAMPLES = {
    "opt in": {"summary": "the person agreed to receive email", "value": {"channel": "email", "granted": True}}
}
_REACTIVATE_EXAMPLES = {
    "upsell": {
        "summary": "the customer asks about another product",
        "value": {"interest": "the analytics add-on", "estimated_value": 300000, "owner": "rep-anna"},
    }
}


@router.get(
    "",
    summary="List contacts (filter by segment, external id or email, page through)",
    responses={**BEHIND, 404: documented_problem("No such segment")},
)
def list_contacts(
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
def get_contact_features(
    contact_id: UUID,
    reads: ReadModelsDep,
    as_of: ReadAsOf = None,
    unit: TimeUnit = "days",
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> ContactFeaturesPublic:
    """Purchases, value, consent, reactivations, lifecycle and RFM (Fader-Hardie) of one
    contact as of a business time; with `known_at`, from the events recorded by then."""
    features = reads.caught_up(min_position).contact_features(contact_id, as_of, unit, known_at)
    return ContactFeaturesPublic.of(features)


@router.post(
    "", status_code=201, summary="Create a contact", responses=created_or_replayed(CommandAccepted, "the new contact")
)
def create_contact(
    who: Annotated[Caller, Depends(Permit(Action.CREATE_CONTACT))],
    crm: CrmDep,
    body: Annotated[CreateContact, Body(openapi_examples=_CREATE_EXAMPLES)],
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> CommandAccepted:
    """A contact without a lead (an import, a sign-up, a purchase); 201 with its `Location`. A retry
    with the same `Idempotency-Key` answers 200 with the same id and appends nothing."""
    result = crm.create_contact(with_key(body, key), who.context())
    created(response, result, f"/v1/contacts/{result.id}")
    return accepted(response, result)


@router.get("/{contact_id}", summary="A contact now, at a version, or as of a time", responses=with_etag())
def get_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ))],
    crm: CrmDep,
    response: Response,
    as_of: AsOf = None,
    version: AtVersion = None,
    known_at: KnownAt = None,
) -> ContactPublic:
    """The contact as it stands now, at `version`, or as of the business time `as_of` as known at
    `known_at` (the fold of its events in occurred_at order); its `ETag` is the version answered.
    An analyst sees names, emails and phones masked."""
    contact = crm.get_contact(contact_id, version=version, as_of=as_of, owner_scope=who.owner_scope, known_at=known_at)
    exact_version(contact, version, as_of or known_at, ContactNotFound(contact_id, f" at version {version}"))
    who.read([contact.id])
    response.headers["ETag"] = etag(contact.version)
    return ContactPublic.of(contact, masked=who.principal.masks_personal_data)


@router.patch("/{contact_id}", summary="Change some of a contact's details", responses=with_etag())
def update_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.UPDATE_CONTACT))],
    crm: CrmDep,
    body: Annotated[UpdateContactDetails, Body(openapi_examples=_UPDATE_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """Only the fields sent change; null clears one (not the name)."""
    return accepted(response, crm.update_contact_details(contact_id, body, who.context(), expected_version=expected))


@router.get("/{contact_id}/history", summary="A contact's audit trail")
def get_contact_history(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ))],
    crm: CrmDep,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> AuditTrail:
    """Every event of the contact, oldest first (in version order): what happened, when, and who
    did it. With `as_of` and/or `known_at`, the events the contact's read then folds, in business
    order (occurred_at, ties by version)."""
    return trail(crm, contact_id, Contact, who, as_of, known_at)


@router.post("/{contact_id}/interactions", summary="Log an interaction with a contact", responses=with_etag())
def log_contact_interaction(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.LOG_INTERACTION))],
    crm: CrmDep,
    body: Annotated[LogInteraction, Body(openapi_examples=_INTERACTION_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """An email, visit, call, meeting... with the customer."""
    return accepted(response, crm.log_contact_interaction(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/purchases", summary="Record a purchase", responses=with_etag())
def record_purchase(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.RECORD_PURCHASE))],
    crm: CrmDep,
    body: Annotated[RecordPurchase, Body(openapi_examples=_PURCHASE_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """An order the contact placed; the contact's features and segments follow from it."""
    return accepted(response, crm.record_purchase(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/consent", summary="Grant or withdraw consent for a channel", responses=with_etag())
def change_contact_consent(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_CONSENT))],
    crm: CrmDep,
    body: Annotated[ChangeConsent, Body(openapi_examples=_CONSENT_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """Record what the person said about a channel; without email consent, `email_sent` is refused (409)."""
    return accepted(response, crm.change_consent(contact_id, body, who.context(), expected_version=expected))


@router.post(
    "/{contact_id}/reactivate",
    status_code=201,
    summary="Open a new lead for a contact's new interest",
    responses=created_or_replayed(ContactReactivated, "the new lead (the `ETag` is the contact's)"),
)
def reactivate_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.REACTIVATE_CONTACT))],
    crm: CrmDep,
    body: Annotated[ReactivateContact, Body(openapi_examples=_REACTIVATE_EXAMPLES)],
    expected: IfMatch,
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> ContactReactivated:
    """A new lead (source `reactivation`) for the customer's new interest; 201 with the lead's
    `Location`. A retry with the same `Idempotency-Key` answers 200 with the same lead."""
    cmd = who.as_owner(with_key(body, key))
    result = crm.reactivate_contact(contact_id, cmd, who.context(), expected_version=expected)
    created(response, result, f"/v1/leads/{result.related_id}")
    response.headers["ETag"] = etag(result.version)
    return ContactReactivated.of(result)


@router.post("/{contact_id}/merge", summary="Merge a duplicate contact into another (its survivor)")
def merge_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.MERGE_RECORDS))],
    crm: CrmDep,
    body: Annotated[Merge, Body(openapi_examples=merge_examples("contact"))],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """The contact (a duplicate) is merged into `into` (the survivor), both in one append: the
    duplicate takes no commands until it is unmerged (409), leaves the read models' figures, and
    the survivor's figures count it (docs/read-models.md). `If-Match` is the duplicate's version;
    `related_id` is the survivor."""
    return accepted(response, crm.merge_contact(contact_id, body, who.context(), expected_version=expected))


@router.post("/{contact_id}/unmerge", summary="Undo a merged contact's merge")
def unmerge_contact(
    contact_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.MERGE_RECORDS))],
    crm: CrmDep,
    expected: IfMatch,
    response: Response,
    body: Annotated[Unmerge | None, Body(openapi_examples=UNMERGE_EXAMPLES)] = None,
) -> CommandAccepted:
    """The merged contact and its survivor stand, and count, exactly as before the merge (events
    only: nothing is deleted). `If-Match` is the duplicate's version."""
    cmd = body or Unmerge()
    return accepted(response, crm.unmerge_contact(contact_id, cmd, who.context(), expected_version=expected))
