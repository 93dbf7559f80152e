"""The contact routes under /v1/contacts: create, read (now, at a version, as of a time, its
audit trail), the contact's commands, and the list of contacts and a contact's features from
the segments read model."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from projections.segments import ContactFeatures, list_contacts
from services.api.deps import (
    PAGE_SIZE,
    AsOf,
    AtVersion,
    Cursor,
    IdempotencyKeyHeader,
    IfMatch,
    Limit,
    MinPosition,
    ReadAsOf,
    Who,
    allowed,
    decode_cursor,
    next_cursor,
)
from services.api.problems import PROBLEM_RESPONSES, READ_MODEL_RESPONSES
from services.api.read_models import BEHIND, ReadModelGate
from services.api.responses import accepted, created, etag, exact_version, trail, utc, with_key
from services.api.schemas import (
    AuditTrail,
    CommandAccepted,
    ContactPage,
    ContactPublic,
    ContactReactivated,
    ContactSummary,
)
from services.app.application import CrmApplication
from services.app.commands import (
    ChangeConsent,
    CreateContact,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    UpdateContactDetails,
)
from services.app.errors import ContactNotFound
from services.auth.policy import Access, Action


def contact_routes(crm: CrmApplication, access: Access, reads: ReadModelGate) -> APIRouter:
    """The router of /v1/contacts over `crm`, with the role and object rules of `access`."""
    contacts = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=PROBLEM_RESPONSES)
    queries, caught_up = reads.queries, reads.caught_up

    @contacts.get(
        "",
        summary="List contacts (filter by segment or external id, page through)",
        dependencies=[allowed(Action.READ_INSIGHTS)],
        responses={**BEHIND, 404: READ_MODEL_RESPONSES[404]},
    )
    def list_contacts_page(
        who: Who,
        segment: Annotated[
            str | None, Query(min_length=1, max_length=100, description="only the segment's members as of now")
        ] = None,
        external_id: Annotated[
            str | None, Query(min_length=1, max_length=200, description="only the contact with this id elsewhere")
        ] = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> ContactPage:
        """Contacts with their current details, in contact id order, from the segments read
        model; an analyst sees names, emails and phones masked."""
        after = decode_cursor(cursor)
        caught_up(min_position)
        models = queries()
        among = None if segment is None else [m.contact_id for m in models.segment_members(segment)]
        rows = list_contacts(models.store, external_id=external_id, among=among, after=after, limit=limit + 1)
        masked = who.principal.masks_personal_data
        return ContactPage(
            items=[ContactSummary.of(row, masked=masked) for row in rows[:limit]],
            next_cursor=next_cursor([row.contact_id for row in rows], limit),
        )

    @contacts.get(
        "/{contact_id}/features",
        summary="A contact's features and RFM as of a time",
        dependencies=[allowed(Action.READ_INSIGHTS)],
        responses=BEHIND,
    )
    def contact_features(
        contact_id: UUID,
        as_of: ReadAsOf = None,
        unit: Annotated[Literal["days", "weeks"], Query(description="unit of recency and T")] = "days",
        min_position: MinPosition = None,
    ) -> ContactFeatures:
        """Purchases, value, consent, reactivations, lifecycle and RFM (Fader-Hardie) of one
        contact as of a business time."""
        caught_up(min_position)
        return queries().contact_features(contact_id, as_of, unit)

    @contacts.post("", status_code=201, summary="Create a contact", dependencies=[allowed(Action.CREATE_CONTACT)])
    def create_contact(
        body: CreateContact, who: Who, response: Response, key: IdempotencyKeyHeader = None
    ) -> CommandAccepted:
        result = crm.create_contact(with_key(body, key), who.context())
        created(response, result, f"/v1/contacts/{result.id}")
        return accepted(response, result)

    @contacts.get(
        "/{contact_id}", summary="A contact now, at a version, or as of a time", dependencies=[allowed(Action.READ)]
    )
    def get_contact(
        contact_id: UUID, who: Who, response: Response, as_of: AsOf = None, version: AtVersion = None
    ) -> ContactPublic:
        access.contact(who, contact_id, Action.READ)
        contact = crm.get_contact(contact_id, version=version, as_of=utc(as_of))
        exact_version(contact, version, as_of, ContactNotFound(contact_id, f" at version {version}"))
        response.headers["ETag"] = etag(contact.version)
        return ContactPublic.of(contact, masked=who.principal.masks_personal_data)

    @contacts.patch(
        "/{contact_id}", summary="Change some of a contact's details", dependencies=[allowed(Action.UPDATE_CONTACT)]
    )
    def update_contact(
        contact_id: UUID,
        body: UpdateContactDetails,
        who: Who,
        expected: IfMatch,
        response: Response,
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.UPDATE_CONTACT, expected)
        return accepted(response, crm.update_contact_details(contact_id, body, who.context(), expected_version=version))

    @contacts.get("/{contact_id}/history", summary="A contact's audit trail", dependencies=[allowed(Action.READ)])
    def contact_history(contact_id: UUID, who: Who) -> AuditTrail:
        access.contact(who, contact_id, Action.READ)
        return trail(crm, contact_id, "contact", who)

    @contacts.post(
        "/{contact_id}/interactions",
        summary="Log an interaction with a contact",
        dependencies=[allowed(Action.LOG_INTERACTION)],
    )
    def log_contact_interaction(
        contact_id: UUID, body: LogInteraction, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.LOG_INTERACTION, expected)
        return accepted(
            response, crm.log_contact_interaction(contact_id, body, who.context(), expected_version=version)
        )

    @contacts.post(
        "/{contact_id}/purchases", summary="Record a purchase", dependencies=[allowed(Action.RECORD_PURCHASE)]
    )
    def record_purchase(
        contact_id: UUID, body: RecordPurchase, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.RECORD_PURCHASE, expected)
        return accepted(response, crm.record_purchase(contact_id, body, who.context(), expected_version=version))

    @contacts.post(
        "/{contact_id}/consent",
        summary="Grant or withdraw consent for a channel",
        dependencies=[allowed(Action.CHANGE_CONSENT)],
    )
    def change_consent(
        contact_id: UUID, body: ChangeConsent, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.CHANGE_CONSENT, expected)
        return accepted(response, crm.change_consent(contact_id, body, who.context(), expected_version=version))

    @contacts.post(
        "/{contact_id}/reactivate",
        status_code=201,
        summary="Open a new lead for a contact's new interest",
        dependencies=[allowed(Action.REACTIVATE_CONTACT)],
    )
    def reactivate_contact(
        contact_id: UUID,
        body: ReactivateContact,
        who: Who,
        expected: IfMatch,
        response: Response,
        key: IdempotencyKeyHeader = None,
    ) -> ContactReactivated:
        version = access.contact(who, contact_id, Action.REACTIVATE_CONTACT, expected)
        cmd = access.reactivation(who, with_key(body, key))
        result = crm.reactivate_contact(contact_id, cmd, who.context(), expected_version=version)
        created(response, result, f"/v1/leads/{result.related_id}")
        response.headers["ETag"] = etag(result.version)
        return ContactReactivated.of(result)

    return contacts
