"""Converting a second lead of a person who is a contact already links it to that contact: the
lead's `Converted` names the contact, the contact's `LeadLinked` names the lead, in one append;
and erasing the person erases the linked lead too (it keeps the key it was captured with)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from consumers.in_process_runner import InProcessRunner
from domain.personal_data import ERASED_NAME
from services.app.application import ContactFinder, Context, CrmApplication
from services.app.commands import CaptureLead, ConvertLead, ErasePerson, LogInteraction
from services.app.errors import ConcurrencyConflict
from services.app.queries import ReadModelQueries
from services.bootstrap import bootstrap, open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore

ALICE = Context(actor="alice", correlation_id="req-linking")
DURABLE = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DURABLE)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}", master_key_file=str(tmp_path / "mk"))
    return Settings(database_url=str(request.getfixturevalue("postgres_url")), master_key_file=str(tmp_path / "mk"))


@pytest.fixture
def app(settings: Settings) -> Iterator[CrmApplication]:
    app = bootstrap(settings)
    yield app
    app.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[ReadModelStore]:
    store = open_read_models(settings)
    yield store
    store.close()


def finder(app: CrmApplication, store: ReadModelStore) -> ContactFinder:
    """The contact with an email, from the people index once it applied the log."""
    runner = InProcessRunner(app, store)

    def find(email: str) -> UUID | None:
        runner.catch_up()
        found = ReadModelQueries(store).people_with_email("contact", email)
        return UUID(found[0].person_id) if found else None

    return find


def a_lead(app: CrmApplication, email: str, name: str = "Ada Lovelace") -> UUID:
    return app.capture_lead(CaptureLead(name=name, email=email, company="Acme", source="web_form"), ALICE).id


def test_converting_a_second_lead_with_the_same_email_links_it_to_the_existing_contact(
    app: CrmApplication, store: ReadModelStore
) -> None:
    find = finder(app, store)
    first = a_lead(app, "ada@acme.example")
    contact_id = app.convert_lead(first, ConvertLead(deal_value=100_00), ALICE, find_contact=find).related_id
    second = a_lead(app, "  ADA@Acme.example", name="Ada L.")
    head = app.head_position()

    result = app.convert_lead(second, ConvertLead(deal_value=50_00), ALICE, find_contact=find)

    assert result.related_id == contact_id
    assert app.get_lead(second).converted_contact_id == contact_id
    contact = app.get_contact(contact_id)
    assert (contact.lead_id, contact.linked_lead_ids) == (first, [second])
    assert [e.event_type for e in app.history(contact_id)][-1] == "contact.lead_linked"
    assert str(app.history(contact_id)[-1].data["lead_id"]) == str(second)
    # one append: the lead's Converted and the contact's LeadLinked, nothing else
    assert app.head_position() == head + 2
    # a lead with another email still makes a contact of its own
    other = a_lead(app, "grace@navy.example", name="Grace Hopper")
    assert app.convert_lead(other, ConvertLead(deal_value=1), ALICE, find_contact=find).related_id != contact_id


def test_a_linking_conversion_whose_append_fails_leaves_neither_event(
    app: CrmApplication, store: ReadModelStore
) -> None:
    find = finder(app, store)
    first = a_lead(app, "ada@acme.example")
    contact_id = app.convert_lead(first, ConvertLead(deal_value=100_00), ALICE, find_contact=find).related_id
    assert contact_id is not None
    second = a_lead(app, "ada@acme.example")

    def find_while_the_lead_changes(email: str) -> UUID | None:
        # someone else writes to the lead after the conversion loaded it: its save must fail
        app.log_lead_interaction(second, LogInteraction(kind="call"), ALICE)
        return find(email)

    head = app.head_position()
    with pytest.raises(ConcurrencyConflict):
        app.convert_lead(second, ConvertLead(deal_value=50_00), ALICE, find_contact=find_while_the_lead_changes)

    assert app.head_position() == head + 2  # the interaction and its score only
    assert app.get_lead(second).converted_contact_id is None
    assert app.get_contact(contact_id).linked_lead_ids == []


def test_erasing_the_contact_erases_the_lead_linked_to_it_and_back(app: CrmApplication, store: ReadModelStore) -> None:
    find = finder(app, store)
    first = a_lead(app, "ada@acme.example")
    contact_id = app.convert_lead(first, ConvertLead(deal_value=100_00), ALICE, find_contact=find).related_id
    assert contact_id is not None
    second = a_lead(app, "ada@acme.example", name="Ada Linked")
    app.convert_lead(second, ConvertLead(deal_value=50_00), ALICE, find_contact=find)

    result = app.erase_person(second, ErasePerson(reason="data subject request 7"), ALICE)

    assert set(result.erased_ids) == {first, contact_id, second}
    for lead_id in (first, second):
        assert (app.get_lead(lead_id).name, app.get_lead(lead_id).email) == (ERASED_NAME, None)
    assert app.get_contact(contact_id).email is None
