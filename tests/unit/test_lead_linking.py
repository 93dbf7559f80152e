"""A contact links another lead of its person, converted into it instead of into a contact of
its own: the `LeadLinked` event, once per lead."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.errors import LeadAlreadyLinked, OccurredBeforeCreation
from tests.unit.factories import a_settled_contact, at, meta, pending, replay, the_only


def test_linking_a_lead_records_it_on_the_contact() -> None:
    contact = a_settled_contact()
    lead_id = uuid4()

    contact.link_lead(lead_id, meta(at=at(days=2)))

    events = pending(contact)
    assert the_only(events, Contact.LeadLinked).lead_id == lead_id
    assert contact.linked_lead_ids == [lead_id]


def test_a_lead_is_linked_once_and_never_before_the_contact_existed() -> None:
    lead_id = uuid4()
    contact = a_settled_contact(lead_id=lead_id)
    with pytest.raises(LeadAlreadyLinked):
        contact.link_lead(lead_id, meta(at=at(days=1)))  # the lead it was made from
    other = uuid4()
    contact.link_lead(other, meta(at=at(days=1)))
    with pytest.raises(LeadAlreadyLinked):
        contact.link_lead(other, meta(at=at(days=2)))
    with pytest.raises(OccurredBeforeCreation):
        contact.link_lead(uuid4(), meta(at=at(days=-1)))


def test_a_contacts_linked_leads_are_rebuilt_from_its_events() -> None:
    fresh = Contact.create(contact_id=uuid4(), meta=meta(), **_details())
    first, second = uuid4(), uuid4()
    fresh.link_lead(first, meta(at=at(days=1)))
    fresh.link_lead(second, meta(at=at(days=2)))

    assert replay(pending(fresh)).linked_lead_ids == [first, second]


def _details() -> dict[str, object]:
    return {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": None,
        "company": None,
        "title": None,
        "external_id": None,
        "lead_id": None,
    }
