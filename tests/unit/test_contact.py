"""The Contact aggregate: details, purchases, consent, interactions and reactivation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.consent import ConsentStatement
from domain.contact import UPDATABLE_DETAILS, Contact
from domain.errors import (
    ConsentUnchanged,
    ConsentWithdrawn,
    DuplicatePurchase,
    NoDetailsChanged,
    OccurredBeforeCreation,
    PersonErased,
)
from domain.money import MAX_AMOUNT_MINOR, Money
from domain.values import ConsentChannel, InteractionKind
from tests.unit.factories import T0, a_contact, a_settled_contact, at, kinds, meta, pending, replay, the_only

ContactCommand = Callable[[Contact, Any], None]
COMMANDS: dict[str, ContactCommand] = {
    "update_details": lambda c, m: c.update_details({"title": "Rear Admiral"}, m),
    "log_interaction": lambda c, m: c.log_interaction(InteractionKind.MEETING, None, m),
    "record_purchase": lambda c, m: c.record_purchase("order-1", Money(1_000, "USD"), 1, m),
    "change_consent": lambda c, m: c.change_consent(ConsentChannel.EMAIL, True, m),
    "reactivate": lambda c, m: c.reactivate(uuid4(), "new product line", m),
    "adopt_consent": lambda c, m: c.adopt_consent([ConsentStatement(ConsentChannel.SMS, True, T0)], m),
}


# --- create ----------------------------------------------------------------------------------


def test_creating_a_contact_emits_created_with_its_details_and_metadata() -> None:
    # given the details of a person
    contact_id = uuid4()
    m = meta(actor="alice", correlation_id="req-create")

    # when a contact is created for them
    contact = a_contact(contact_id=contact_id, meta=m, external_id="cdnow:00042")

    # then one Created event records the details and who created it, when
    created = the_only(pending(contact), Contact.Created)
    assert created.originator_id == contact_id
    assert created.name == "Grace Hopper"
    assert created.email == "grace@example.com"
    assert created.external_id == "cdnow:00042"
    assert created.lead_id is None
    assert (created.actor, created.correlation_id, created.occurred_at) == ("alice", "req-create", T0)


def test_a_new_contact_has_no_purchases_consents_or_reactivations() -> None:
    # given / when a contact is created
    contact = a_contact()

    # then it starts empty
    assert contact.created_at == T0
    assert contact.purchase_count == 0
    assert contact.lifetime_value == {}
    assert contact.first_purchase_at is None
    assert contact.last_purchase_at is None
    assert contact.last_interaction_at is None
    assert contact.consents == {}
    assert contact.reactivated_lead_ids == []
    assert contact.open_lead_id is None


def test_a_contact_created_from_a_lead_remembers_the_lead() -> None:
    # given a converted lead's id
    lead_id = uuid4()

    # when a contact is created from it
    contact = a_contact(lead_id=lead_id)

    # then the contact and its Created event point at the lead
    assert contact.lead_id == lead_id
    assert the_only(pending(contact), Contact.Created).lead_id == lead_id


def test_a_contact_is_rebuilt_from_its_events_with_the_same_state() -> None:
    # given a contact with some history
    contact = a_contact()
    contact.update_details({"email": "grace@navy.mil", "phone": None}, meta(at=at(days=1)))
    contact.record_purchase("o-1", Money(2_500, "USD"), 2, meta(at=at(days=2)))
    contact.record_purchase("o-2", Money(700, "EUR"), 1, meta(at=at(days=3)))
    contact.change_consent(ConsentChannel.SMS, True, meta(at=at(days=4)))
    contact.log_interaction(InteractionKind.CALL, None, meta(at=at(days=5)))
    contact.reactivate(uuid4(), "training", meta(at=at(days=6)))

    # when it is rebuilt from its events alone
    copy = replay(pending(contact))

    # then it has the same state
    for attribute in (
        "id", "version", "email", "phone", "order_ids", "purchase_count", "lifetime_value", "first_purchase_at",
        "last_purchase_at", "consents", "last_interaction_at", "reactivated_lead_ids",
    ):  # fmt: skip
        assert getattr(copy, attribute) == getattr(contact, attribute), attribute


# --- business time ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_that_occurred_before_the_contact_was_created_is_rejected(command: ContactCommand) -> None:
    # given a contact created at T0
    contact = a_settled_contact()

    # when a command says it happened a second before that
    with pytest.raises(OccurredBeforeCreation):
        command(contact, meta(at=at(seconds=-1)))

    # then nothing is recorded
    assert pending(contact) == []


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_at_the_exact_creation_time_is_accepted(command: ContactCommand) -> None:
    # given a contact created at T0
    contact = a_settled_contact()

    # when a command happens at T0 too
    command(contact, meta(at=T0))

    # then one event is recorded
    assert len(pending(contact)) == 1


# --- details -----------------------------------------------------------------------------------


def test_updating_details_records_only_the_fields_that_change() -> None:
    # given a contact named Grace Hopper at grace@example.com
    contact = a_settled_contact()

    # when an update repeats the name but changes the email and clears the phone
    contact.update_details(
        {"name": "Grace Hopper", "email": "grace@navy.mil", "phone": None}, meta(at=at(days=1), actor="bob")
    )

    # then only the email and the phone are recorded as changed
    updated = the_only(pending(contact), Contact.DetailsUpdated)
    assert updated.changes == {"email": "grace@navy.mil", "phone": None}
    assert updated.actor == "bob"
    assert contact.email == "grace@navy.mil"
    assert contact.phone is None
    assert contact.name == "Grace Hopper"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "Grace Hopper"},
        {"name": "Grace Hopper", "email": "grace@example.com", "title": "Director of Programming"},
        {"company": "Remington Rand", "phone": "+1 555 010 0000"},
    ],
    ids=["empty", "same name", "same three", "same company and phone"],
)
def test_an_update_that_changes_nothing_is_rejected(changes: dict[str, str | None]) -> None:
    # given a contact
    contact = a_settled_contact()

    # when an update changes none of its details
    with pytest.raises(NoDetailsChanged):
        contact.update_details(changes, meta(at=at(days=1)))

    # then nothing is recorded
    assert pending(contact) == []


def test_clearing_an_already_empty_detail_changes_nothing() -> None:
    # given a contact without a phone
    contact = a_settled_contact(phone=None)

    # when the phone is cleared
    # then there is nothing to record
    with pytest.raises(NoDetailsChanged):
        contact.update_details({"phone": None}, meta(at=at(days=1)))


@pytest.mark.parametrize("field", ["external_id", "lead_id", "created_at", "lifetime_value", "id"])
def test_updating_a_field_that_is_not_a_detail_is_rejected(field: str) -> None:
    # given a contact
    contact = a_settled_contact()

    # when an update names a field outside name, email, phone, company, title
    with pytest.raises(ValueError, match=field):
        contact.update_details({field: "x", "title": "Admiral"}, meta(at=at(days=1)))

    # then nothing is recorded
    assert pending(contact) == []
    assert contact.title == "Director of Programming"


def test_the_updatable_details_are_name_email_phone_company_and_title() -> None:
    # given / when / then
    assert set(UPDATABLE_DETAILS) == {"name", "email", "phone", "company", "title"}


# --- purchases -----------------------------------------------------------------------------------


def test_recording_a_purchase_emits_purchase_recorded() -> None:
    # given a contact
    contact = a_settled_contact()

    # when an order is recorded
    contact.record_purchase("A-1001", Money(12_999, "GBP"), 3, meta(at=at(days=2), correlation_id="req-buy"))

    # then the order, amount, currency and quantity are recorded
    purchase = the_only(pending(contact), Contact.PurchaseRecorded)
    assert (purchase.order_id, purchase.amount, purchase.currency, purchase.quantity) == ("A-1001", 12_999, "GBP", 3)
    assert purchase.correlation_id == "req-buy"
    assert purchase.occurred_at == at(days=2)
    assert contact.purchase_count == 1
    assert contact.order_ids == {"A-1001"}


def test_recording_the_same_order_id_twice_is_rejected() -> None:
    # given a contact with order A-1001 recorded
    contact = a_settled_contact()
    contact.record_purchase("A-1001", Money(500, "USD"), 1, meta(at=at(days=1)))
    pending(contact)

    # when the same order id comes again, even with another amount
    with pytest.raises(DuplicatePurchase):
        contact.record_purchase("A-1001", Money(900, "USD"), 1, meta(at=at(days=2)))

    # then nothing more is recorded and the totals are unchanged
    assert pending(contact) == []
    assert contact.purchase_count == 1
    assert contact.lifetime_value == {"USD": 500}


def test_the_same_order_id_on_two_contacts_is_allowed() -> None:
    # given two contacts
    first, second = a_settled_contact(), a_settled_contact()

    # when each records order A-1
    first.record_purchase("A-1", Money(100, "USD"), 1, meta(at=at(days=1)))
    second.record_purchase("A-1", Money(100, "USD"), 1, meta(at=at(days=1)))

    # then both are recorded
    assert kinds(pending(first)) == kinds(pending(second)) == ["PurchaseRecorded"]


def test_lifetime_value_is_kept_per_currency() -> None:
    # given a contact
    contact = a_settled_contact()

    # when it buys in dollars twice and in euros once
    contact.record_purchase("o-1", Money(1_000, "USD"), 1, meta(at=at(days=1)))
    contact.record_purchase("o-2", Money(300, "EUR"), 1, meta(at=at(days=2)))
    contact.record_purchase("o-3", Money(550, "USD"), 2, meta(at=at(days=3)))

    # then each currency is summed on its own, never converted
    assert contact.lifetime_value == {"USD": 1_550, "EUR": 300}
    assert contact.purchase_count == 3


@given(
    purchases=st.lists(
        st.tuples(st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR), st.sampled_from(["USD", "EUR", "JPY"])),
        max_size=12,
    )
)
def test_lifetime_value_is_the_exact_integer_sum_of_the_purchases_in_each_currency(
    purchases: list[tuple[int, str]],
) -> None:
    # given a contact
    contact = a_contact()

    # when it buys each amount
    for n, (amount, currency) in enumerate(purchases):
        contact.record_purchase(f"o-{n}", Money(amount, currency), 1, meta(at=at(days=1)))

    # then each currency's total is the sum of its amounts to the cent, also after a reload
    expected: dict[str, int] = {}
    for amount, currency in purchases:
        expected[currency] = expected.get(currency, 0) + amount
    assert contact.lifetime_value == expected
    assert all(isinstance(total, int) for total in contact.lifetime_value.values())
    assert replay(pending(contact)).lifetime_value == expected


def test_first_and_last_purchase_follow_business_time_not_recording_order() -> None:
    # given a contact
    contact = a_settled_contact()

    # when purchases are recorded out of order (an import)
    for order_id, day in [("o-mid", 5), ("o-late", 10), ("o-early", 2)]:
        contact.record_purchase(order_id, Money(100, "USD"), 1, meta(at=at(days=day)))

    # then first and last purchase are the earliest and the latest in business time
    assert contact.first_purchase_at == at(days=2)
    assert contact.last_purchase_at == at(days=10)


def test_a_single_purchase_is_both_first_and_last() -> None:
    # given a contact
    contact = a_settled_contact()

    # when it buys once
    contact.record_purchase("o-1", Money(100, "USD"), 1, meta(at=at(days=4)))

    # then that purchase is both the first and the last
    assert contact.first_purchase_at == contact.last_purchase_at == at(days=4)


# --- interactions ----------------------------------------------------------------------------------


def test_logging_interactions_keeps_the_latest_interaction_time() -> None:
    # given a contact
    contact = a_settled_contact()

    # when interactions are logged out of order
    contact.log_interaction(InteractionKind.CALL, "renewal", meta(at=at(days=7)))
    contact.log_interaction(InteractionKind.SUPPORT, None, meta(at=at(days=3)))

    # then both are recorded and the latest business time is kept
    events = pending(contact)
    assert kinds(events) == ["InteractionLogged", "InteractionLogged"]
    assert (events[0].kind, events[0].detail) == ("call", "renewal")
    assert contact.last_interaction_at == at(days=7)


# --- consent -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(ConsentChannel), ids=lambda c: c.value)
def test_granting_then_withdrawing_consent_records_both_changes(channel: ConsentChannel) -> None:
    # given a contact
    contact = a_settled_contact()

    # when consent for a channel is granted and later withdrawn
    contact.change_consent(channel, True, meta(at=at(days=1)))
    contact.change_consent(channel, False, meta(at=at(days=2)))

    # then both changes are recorded and the consent is withdrawn
    events = pending(contact)
    assert [(e.channel, e.granted) for e in events] == [(channel.value, True), (channel.value, False)]
    assert contact.consents == {channel.value: False}


@pytest.mark.parametrize("granted", [True, False])
def test_setting_consent_to_its_current_value_is_rejected(granted: bool) -> None:
    # given a contact whose email consent was set
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, granted, meta(at=at(days=1)))
    pending(contact)

    # when it is set to the same value again
    with pytest.raises(ConsentUnchanged):
        contact.change_consent(ConsentChannel.EMAIL, granted, meta(at=at(days=2)))

    # then nothing is recorded
    assert pending(contact) == []


def test_consent_is_kept_per_channel() -> None:
    # given a contact that granted email consent
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=1)))

    # when it grants phone consent and withdraws profiling
    contact.change_consent(ConsentChannel.PHONE, True, meta(at=at(days=2)))
    contact.change_consent(ConsentChannel.PROFILING, False, meta(at=at(days=2)))

    # then each channel has its own state
    assert contact.consents == {"email": True, "phone": True, "profiling": False}


def test_a_first_explicit_withdrawal_is_recorded() -> None:
    # given a contact that never said anything about sms
    contact = a_settled_contact()

    # when it opts out of sms
    contact.change_consent(ConsentChannel.SMS, False, meta(at=at(days=1)))

    # then the opt-out is recorded
    changed = the_only(pending(contact), Contact.ConsentChanged)
    assert (changed.channel, changed.granted) == ("sms", False)


def test_has_consent_tells_granted_withdrawn_and_never_stated_apart() -> None:
    # given a contact that granted email and withdrew sms
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=1)))
    contact.change_consent(ConsentChannel.SMS, False, meta(at=at(days=1)))

    # when / then
    assert contact.has_consent(ConsentChannel.EMAIL) is True
    assert contact.has_consent(ConsentChannel.SMS) is False
    assert contact.has_consent(ConsentChannel.PHONE) is None


def test_an_email_sent_to_a_contact_who_withdrew_email_consent_is_refused_and_nothing_is_recorded() -> None:
    # given a contact who withdrew email consent
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, False, meta(at=at(days=1)))
    pending(contact)

    # when an outbound email is logged
    with pytest.raises(ConsentWithdrawn, match="consent for email was withdrawn"):
        contact.log_interaction(InteractionKind.EMAIL_SENT, "promotion", meta(at=at(days=2)))

    # then nothing is recorded; a reply of theirs still is
    assert pending(contact) == []
    assert contact.last_interaction_at is None
    contact.log_interaction(InteractionKind.EMAIL_REPLY, None, meta(at=at(days=2)))
    assert the_only(pending(contact), Contact.InteractionLogged).kind == "email_reply"


def test_an_email_sent_to_a_contact_who_never_stated_email_consent_is_recorded() -> None:
    contact = a_settled_contact()
    contact.log_interaction(InteractionKind.EMAIL_SENT, None, meta(at=at(days=1)))
    assert the_only(pending(contact), Contact.InteractionLogged).kind == "email_sent"


def test_a_new_contact_adopts_every_consent_statement_of_its_lead_in_channel_order() -> None:
    # given a contact just created from a lead that withdrew sms and granted email
    contact = a_contact(lead_id=uuid4())
    statements = [
        ConsentStatement(ConsentChannel.SMS, False, at(days=-3)),
        ConsentStatement(ConsentChannel.EMAIL, True, at(days=-2)),
    ]

    # when it adopts them at the conversion
    contact.adopt_consent(statements, meta(actor="bob", correlation_id="req-convert"))

    # then Created is followed by one ConsentChanged per channel, at the conversion, by its actor
    events = pending(contact)
    assert kinds(events) == ["Created", "ConsentChanged", "ConsentChanged"]
    assert [(e.channel, e.granted) for e in events[1:]] == [("email", True), ("sms", False)]
    assert {(e.actor, e.correlation_id, e.occurred_at) for e in events[1:]} == {("bob", "req-convert", T0)}
    assert contact.consents == {"email": True, "sms": False}


def test_a_returning_lead_statement_newer_than_the_contact_own_applies_and_an_older_one_does_not() -> None:
    # given a contact that granted email on day 1 and withdrew sms on day 5
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=1)))
    contact.change_consent(ConsentChannel.SMS, False, meta(at=at(days=5)))
    pending(contact)

    # when its reactivation lead converts back with an email withdrawal of day 3, an sms grant
    # of day 4 (older than the contact's sms withdrawal) and a first phone grant
    contact.adopt_consent(
        [
            ConsentStatement(ConsentChannel.EMAIL, False, at(days=3)),
            ConsentStatement(ConsentChannel.SMS, True, at(days=4)),
            ConsentStatement(ConsentChannel.PHONE, True, at(days=4)),
        ],
        meta(at=at(days=6)),
    )

    # then the email withdrawal and the phone grant apply; the contact's later sms withdrawal stands
    assert [(e.channel, e.granted) for e in pending(contact)] == [("email", False), ("phone", True)]
    assert contact.consents == {"email": False, "sms": False, "phone": True}


def test_adopting_what_the_contact_already_holds_records_nothing() -> None:
    contact = a_settled_contact()
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=1)))
    pending(contact)
    contact.adopt_consent([ConsentStatement(ConsentChannel.EMAIL, True, at(days=9))], meta(at=at(days=9)))
    assert pending(contact) == []


# --- reactivation ------------------------------------------------------------------------------------


def test_reactivating_a_contact_records_the_new_lead() -> None:
    # given a contact
    contact = a_settled_contact()
    lead_id = uuid4()

    # when it shows new interest, followed up by a new lead
    contact.reactivate(lead_id, "enterprise plan", meta(at=at(days=30), actor="bob"))

    # then the reactivation records the lead and the interest
    reactivated = the_only(pending(contact), Contact.Reactivated)
    assert reactivated.lead_id == lead_id
    assert reactivated.interest == "enterprise plan"
    assert reactivated.actor == "bob"
    assert contact.reactivated_lead_ids == [lead_id]
    assert contact.open_lead_id == lead_id


def test_the_open_lead_is_the_latest_reactivation() -> None:
    # given a contact reactivated twice
    contact = a_settled_contact()
    first, second = uuid4(), uuid4()
    contact.reactivate(first, "training", meta(at=at(days=10)))
    contact.reactivate(second, "support plan", meta(at=at(days=20)))

    # when / then the open lead is the second one, and both are remembered
    assert contact.open_lead_id == second
    assert contact.reactivated_lead_ids == [first, second]


def test_an_erased_contact_reads_as_erased_keeps_its_purchases_and_takes_no_more_commands() -> None:
    contact = a_contact()
    contact.record_purchase("o-1", Money(1_000, "USD"), 1, meta(at=at(days=1)))
    contact.erase("data subject request", meta(at=at(days=2)))
    assert (contact.name, contact.email, contact.phone, contact.title) == ("[erased]", None, None, None)
    assert contact.lifetime_value == {"USD": 1_000}
    with pytest.raises(PersonErased):
        contact.record_purchase("o-2", Money(1_000, "USD"), 1, meta(at=at(days=3)))
