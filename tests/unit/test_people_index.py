"""The identity index: the pure projection (lead and contact events in, one row per record with
its compared email and phone out, erasures emptying it of personal data), its lookups, and
duplicate candidates as a pure function over index rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.contact import Contact
from domain.lead import Lead
from domain.money import Money
from domain.personal_data import ERASED_NAME
from projections.event_record import EventRecord, record_of
from projections.people import CONTACT, LEAD, PeopleProjection
from projections.people_queries import (
    PersonRow,
    candidates_among,
    candidates_page,
    duplicate_candidates,
    normalised_company,
    normalised_name,
    person,
    with_email,
    with_phone,
)
from projections.registry import PROJECTION_NAMES, select_projections
from tests.unit.factories import T0, a_contact, a_lead, at, meta, pending
from tests.unit.sqlite_reader import SqliteReader


def records(*aggregates_events: list[Any]) -> list[EventRecord]:
    events = [e for batch in aggregates_events for e in batch]
    return [record_of(event, position) for position, event in enumerate(events, start=1)]


def index_of(*batches: list[Any], region: str | None = None) -> SqliteReader:
    return SqliteReader.of(PeopleProjection(region), records(*batches))


def test_the_people_index_is_a_registered_read_model() -> None:
    assert "people" in PROJECTION_NAMES
    assert [p.name for p in select_projections(["people"])] == ["people"]


def test_a_captured_lead_is_indexed_by_its_normalised_email_and_e164_phone() -> None:
    lead = a_lead(email="  Ada.Lovelace+News@Example.COM ", phone="020 7946 0018", country="GB")
    store = index_of(pending(lead))

    [row] = with_email(store, LEAD, "ada.lovelace+news@example.com")
    assert (row.person_id, row.phone, row.status, row.company) == (
        str(lead.id),
        "+442079460018",
        "open",
        "Analytical Engines Ltd",
    )
    assert with_phone(store, LEAD, "+442079460018") == [row]
    assert with_email(store, LEAD, "ada.lovelace@example.com") == []  # a plus-address is another address
    assert with_email(store, CONTACT, "ada.lovelace+news@example.com") == []


def test_a_phone_without_a_country_code_is_read_in_the_default_region_or_not_compared() -> None:
    lead = a_lead(phone="020 7946 0018")
    events = pending(lead)

    assert index_of(events).fetch("SELECT phone FROM people") == [{"phone": None}]
    assert index_of(events, region="GB").fetch("SELECT phone FROM people") == [{"phone": "+442079460018"}]


def test_conversion_and_disqualification_change_a_leads_status() -> None:
    won, lost = a_lead(), a_lead(email="other@example.com")
    events = pending(won) + pending(lost)
    contact_id = uuid4()
    won.convert(contact_id, Money(100, "USD"), meta(at=at(days=1)))
    lost.disqualify("no budget", meta(at=at(days=1)))
    store = index_of(events, pending(won), pending(lost))

    assert person(store, LEAD, str(won.id)) is not None
    assert person(store, LEAD, str(won.id)).status == "converted"  # type: ignore[union-attr]
    assert person(store, LEAD, str(won.id)).contact_id == str(contact_id)  # type: ignore[union-attr]
    assert person(store, LEAD, str(lost.id)).status == "disqualified"  # type: ignore[union-attr]


def test_a_contacts_changed_details_are_indexed_in_their_compared_form() -> None:
    contact = a_contact(email="grace@example.com")
    created = pending(contact)
    contact.update_details({"email": "Grace.H@Example.com", "phone": "+1 (555) 010-0001"}, meta(at=at(days=1)))
    store = index_of(created, pending(contact))

    [row] = with_email(store, CONTACT, "grace.h@example.com")
    assert (row.person_id, row.phone, row.status) == (str(contact.id), "+15550100001", "active")
    assert with_email(store, CONTACT, "grace@example.com") == []


def test_erasure_removes_the_person_from_the_index() -> None:
    lead: Lead = a_lead(email="hedy@example.com", phone="+43 1 555 0192")
    contact: Contact = a_contact(email="hedy@example.com", phone="+43 1 555 0192")
    created = pending(lead) + pending(contact)
    lead.erase("data subject request", meta(at=at(days=1)))
    contact.erase("data subject request", meta(at=at(days=1)))
    store = index_of(created, pending(lead), pending(contact))

    assert with_email(store, LEAD, "hedy@example.com") == []
    assert with_email(store, CONTACT, "hedy@example.com") == []
    assert with_phone(store, CONTACT, "+4315550192") == []
    rows = store.fetch("SELECT email, phone, name, status FROM people ORDER BY kind")
    assert rows == [{"email": None, "phone": None, "name": ERASED_NAME, "status": "erased"}] * 2


def test_a_merged_duplicate_matches_nobody_until_it_is_unmerged() -> None:
    survivor, duplicate = a_lead(email="ada@example.com"), a_lead(email="Ada@Example.com ")
    survivor_c, duplicate_c = a_contact(email="grace@example.com"), a_contact(email="grace@example.com")
    created = pending(survivor) + pending(duplicate) + pending(survivor_c) + pending(duplicate_c)
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    duplicate_c.merge_into(survivor_c, meta(at=at(days=1)))
    merged = pending(duplicate) + pending(survivor) + pending(duplicate_c) + pending(survivor_c)

    store = index_of(created, merged)
    assert [p.person_id for p in with_email(store, LEAD, "ada@example.com")] == [str(survivor.id)]
    assert [p.person_id for p in with_email(store, CONTACT, "grace@example.com")] == [str(survivor_c.id)]
    assert duplicate_candidates(candidates_among(store, LEAD) + candidates_among(store, CONTACT)) == []

    duplicate.unmerge(survivor, meta(at=at(days=2)))
    duplicate_c.unmerge(survivor_c, meta(at=at(days=2)))
    unmerged = pending(duplicate) + pending(survivor) + pending(duplicate_c) + pending(survivor_c)
    store = index_of(created, merged, unmerged)
    assert person(store, LEAD, str(duplicate.id)).status == "open"  # type: ignore[union-attr]
    assert person(store, CONTACT, str(duplicate_c.id)).status == "active"  # type: ignore[union-attr]
    assert len(with_email(store, LEAD, "ada@example.com")) == 2


def row(
    name: str, *, email: str | None = None, phone: str | None = None, company: str | None = None, n: int = 0
) -> PersonRow:
    return PersonRow(
        kind="lead",
        person_id=f"00000000-0000-0000-0000-{n:012d}",
        email=email,
        phone=phone,
        name=name,
        company=company,
        country=None,
        status="open",
        contact_id=None,
        created_at=T0 + timedelta(minutes=n),
        updated_position=n,
    )


def test_records_sharing_an_email_are_the_surest_candidates() -> None:
    a = row("Ada Lovelace", email="ada@example.com", n=1)
    b = row("A. King", email="ada@example.com", n=2)
    c = row("Charles Babbage", phone="+442079460018", n=3)
    d = row("C. Babbage", phone="+442079460018", n=4)

    found = duplicate_candidates([d, c, b, a])

    assert [(x.first.person_id, x.second.person_id, x.reason) for x in found] == [
        (a.person_id, b.person_id, "email"),
        (c.person_id, d.person_id, "phone"),
    ]
    assert found[0].confidence > found[1].confidence
    assert all(0 < x.confidence <= 1 for x in found)


def test_a_similar_name_at_the_same_company_is_a_candidate_and_at_another_company_is_not() -> None:
    a = row("José Müller", company="Acme GmbH", n=1)
    b = row("jose muller", company="ACME", n=2)
    c = row("Jose Mueller", company="Other Corp", n=3)
    d = row("Someone Else", company="Acme", n=4)

    [found] = duplicate_candidates([a, b, c, d])

    assert (found.first, found.second, found.reasons) == (a, b, ("name_company",))
    assert found.name_similarity == 1.0
    assert found.confidence < 0.95  # below what a shared email gives


def test_several_reasons_make_a_pair_surer_than_any_one_of_them() -> None:
    a = row("Ada Lovelace", email="ada@example.com", phone="+442079460018", n=1)
    b = row("Ada Lovelace", email="ada@example.com", phone="+442079460018", n=2)

    [found] = duplicate_candidates([a, b])

    assert found.reasons == ("email", "phone")
    assert 0.95 < found.confidence <= 1


def test_candidates_page_through_in_their_order() -> None:
    rows = [row(f"P{i}", email="same@example.com", n=i) for i in range(1, 5)]
    found = duplicate_candidates(rows)
    assert len(found) == 6

    first = candidates_page(found, None, 4)
    rest = candidates_page(found, first[-1].key, 4)

    assert first + rest == found


def test_names_and_companies_compare_without_accents_case_punctuation_or_legal_form() -> None:
    assert normalised_name("  Zoë  O'Brien-Smith ") == "zoe o brien smith"
    assert normalised_company("Acme, Inc.") == normalised_company("ACME") == "acme"
    assert normalised_name(None) is None
