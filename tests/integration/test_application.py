"""The CRM application's behaviour, run on every persistence backend: POPO, SQLite, PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.errors import ConsentWithdrawn, LeadAlreadyConverted, OccurredBeforeCreation
from domain.values import ConsentChannel, Meta, Stage
from services.app.application import CrmApplication, derived_id
from services.app.commands import (
    AssignLead,
    ChangeConsent,
    ChangeStage,
    ConvertLead,
    DisqualifyLead,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    RescoreLead,
    UpdateContactDetails,
)
from services.app.errors import (
    ConcurrencyConflict,
    ContactNotFound,
    IdempotencyKeyReused,
    LeadNotFound,
    NotFound,
    ReactivationInProgress,
)
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, BOB, capture, new_contact

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

DAY = timedelta(days=1)


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - n * DAY


class TestCapturingLeads:
    def test_a_captured_lead_can_be_read_back_with_its_first_score(self, app: CrmApplication) -> None:
        # when
        result = app.capture_lead(capture(), ALICE)
        # then
        lead = app.get_lead(result.id)
        assert (lead.name, lead.stage, lead.currency) == ("Ada Lovelace", Stage.NEW, "EUR")
        assert lead.score == 35  # CTO 15 + company 5 + referral 15
        assert result.version == lead.version == 2
        assert result.position == app.head_position()

    def test_a_retried_create_with_the_same_idempotency_key_returns_the_same_lead_and_appends_nothing(
        self, app: CrmApplication
    ) -> None:
        # given
        first = app.capture_lead(capture(idempotency_key="form-123"), ALICE)
        head = app.head_position()
        # when
        retry = app.capture_lead(capture(idempotency_key="form-123"), ALICE)
        # then
        assert retry.id == first.id and retry.version == first.version
        assert retry.position is None
        assert app.head_position() == head

    def test_an_idempotency_key_reused_for_another_lead_is_refused(self, app: CrmApplication) -> None:
        app.capture_lead(capture(idempotency_key="form-123"), ALICE)
        head = app.head_position()
        with pytest.raises(IdempotencyKeyReused) as error:
            app.capture_lead(capture(idempotency_key="form-123", name="Someone Else"), ALICE)
        assert error.value.fields == ["name"]
        assert app.head_position() == head


class TestChangingLeads:
    def test_an_interaction_is_recorded_and_rescored(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        result = app.log_lead_interaction(lead_id, LogInteraction(kind="demo", detail="product tour"), ALICE)
        lead = app.get_lead(lead_id)
        assert lead.score == 50 and result.version == 4
        assert [e.event_type for e in app.history(lead_id)][-2:] == ["lead.interaction_logged", "lead.scored"]

    def test_a_stale_expected_version_is_a_conflict_and_appends_nothing(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        app.assign_lead(lead_id, AssignLead(owner="bob"), ALICE, expected_version=2)
        head = app.head_position()
        with pytest.raises(ConcurrencyConflict) as error:
            app.change_stage(lead_id, ChangeStage(stage="contacted"), BOB, expected_version=2)
        assert (error.value.expected, error.value.actual) == (2, 3)
        assert app.head_position() == head

    def test_a_command_that_breaks_a_rule_appends_nothing(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=days_ago(3)), ALICE).id
        head = app.head_position()
        with pytest.raises(OccurredBeforeCreation):
            app.change_stage(lead_id, ChangeStage(stage="contacted", occurred_at=days_ago(4)), ALICE)
        assert app.head_position() == head

    def test_decay_rescoring_lowers_the_score_of_a_quiet_lead(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=days_ago(60)), ALICE).id
        app.log_lead_interaction(lead_id, LogInteraction(kind="demo", occurred_at=days_ago(60)), ALICE)
        before = app.get_lead(lead_id).score
        app.rescore_lead(lead_id, RescoreLead(), ALICE)
        lead = app.get_lead(lead_id)
        assert lead.score < before
        assert app.history(lead_id)[-1].data["reason"] == "decay"

    def test_a_disqualified_lead_keeps_its_reason(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        app.disqualify_lead(lead_id, DisqualifyLead(reason="no budget"), ALICE)
        lead = app.get_lead(lead_id)
        assert (lead.stage, lead.disqualified_reason) == (Stage.DISQUALIFIED, "no budget")


class TestConvertingLeads:
    def test_converting_a_lead_creates_a_linked_contact_in_the_same_append(self, app: CrmApplication) -> None:
        # given
        lead_id = app.capture_lead(capture(), ALICE).id
        head = app.head_position()
        # when
        result = app.convert_lead(lead_id, ConvertLead(deal_value=9_000_00, currency="EUR"), ALICE)
        # then
        assert result.related_id is not None
        contact = app.get_contact(result.related_id)
        lead = app.get_lead(lead_id)
        assert contact.lead_id == lead_id and contact.email == "ada@example.com"
        assert (lead.stage, lead.converted_contact_id, lead.deal_value) == (Stage.CONVERTED, contact.id, 9_000_00)
        assert app.head_position() == head + 2 == result.position

    def test_a_converted_lead_takes_no_more_commands(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        app.convert_lead(lead_id, ConvertLead(deal_value=100), ALICE)
        head = app.head_position()
        with pytest.raises(LeadAlreadyConverted):
            app.log_lead_interaction(lead_id, LogInteraction(kind="call"), ALICE)
        with pytest.raises(LeadAlreadyConverted):
            app.convert_lead(lead_id, ConvertLead(deal_value=100), ALICE)
        assert app.head_position() == head


class TestContacts:
    def test_a_contact_records_purchases_consent_and_details(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(external_id="shop:42"), ALICE).id
        app.record_purchase(contact_id, RecordPurchase(order_id="o-1", amount=25_00), ALICE)
        app.record_purchase(contact_id, RecordPurchase(order_id="o-2", amount=15_50), ALICE)
        app.change_consent(contact_id, ChangeConsent(channel="email", granted=True), ALICE)
        app.update_contact_details(contact_id, UpdateContactDetails(title="Rear Admiral"), ALICE)
        contact = app.get_contact(contact_id)
        assert contact.lifetime_value == {"USD": 40_50} and contact.purchase_count == 2
        assert contact.consents == {"email": True}
        assert (contact.title, contact.external_id) == ("Rear Admiral", "shop:42")

    def test_reactivating_a_contact_opens_a_linked_lead_atomically(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(), ALICE).id
        head = app.head_position()
        result = app.reactivate_contact(contact_id, ReactivateContact(interest="analytics add-on"), BOB)
        assert result.related_id is not None
        lead = app.get_lead(result.related_id)
        assert (lead.source.value, lead.contact_id, lead.interest) == ("reactivation", contact_id, "analytics add-on")
        assert app.get_contact(contact_id).reactivated_lead_ids == [lead.id]
        assert app.head_position() >= head + 2  # Reactivated, Captured (+ Scored)
        with pytest.raises(ReactivationInProgress):
            app.reactivate_contact(contact_id, ReactivateContact(interest="more"), BOB)

    def test_a_reactivated_lead_converts_back_into_its_contact(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(), ALICE).id
        lead_id = app.reactivate_contact(contact_id, ReactivateContact(interest="upgrade"), BOB).related_id
        assert lead_id is not None
        result = app.convert_lead(lead_id, ConvertLead(deal_value=500_00), BOB)
        assert result.related_id == contact_id
        # and the contact may be reactivated again once that lead is closed
        again = app.reactivate_contact(contact_id, ReactivateContact(interest="second upgrade"), BOB)
        assert app.get_contact(contact_id).reactivated_lead_ids == [lead_id, again.related_id]


class TestConsent:
    def test_a_lead_consent_is_recorded_and_read_back(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        result = app.change_lead_consent(lead_id, ChangeConsent(channel="email", granted=True), ALICE, 2)
        app.change_lead_consent(lead_id, ChangeConsent(channel="sms", granted=False), BOB)
        lead = app.get_lead(lead_id)
        assert result.version == 3 and lead.version == 4
        assert lead.consents == {"email": True, "sms": False}
        assert (lead.has_consent(ConsentChannel.EMAIL), lead.has_consent(ConsentChannel.PHONE)) == (True, None)
        assert app.history(lead_id)[-1].data == {"channel": "sms", "granted": False, "carried_from": None}

    def test_converting_carries_the_lead_consent_to_the_new_contact_in_the_same_append(
        self, app: CrmApplication
    ) -> None:
        # given a lead that granted email and withdrew phone consent
        lead_id = app.capture_lead(capture(), ALICE).id
        app.change_lead_consent(lead_id, ChangeConsent(channel="phone", granted=False), ALICE)
        app.change_lead_consent(lead_id, ChangeConsent(channel="email", granted=True), ALICE)
        head = app.head_position()
        # when it converts
        result = app.convert_lead(lead_id, ConvertLead(deal_value=100_00), BOB)
        # then the contact's Created event is followed by its consent, all in one append
        assert result.related_id is not None
        trail = app.history(result.related_id)
        assert [e.event_type for e in trail] == [
            "contact.created",
            "contact.consent_changed",
            "contact.consent_changed",
        ]
        assert [e.data for e in trail[1:]] == [
            {"channel": "email", "granted": True},
            {"channel": "phone", "granted": False},
        ]
        assert {(e.actor, e.correlation_id) for e in trail} == {("bob", "req-bob")}
        assert app.get_contact(result.related_id).consents == {"email": True, "phone": False}
        assert app.head_position() == head + 4 == result.position  # Converted, Created, 2 x ConsentChanged

    def test_a_conversion_whose_append_fails_stores_neither_the_conversion_nor_the_carried_consent(
        self, app: CrmApplication
    ) -> None:
        # given a lead with consent, and the id its contact would get already taken
        lead_id = app.capture_lead(capture(), ALICE).id
        app.change_lead_consent(lead_id, ChangeConsent(channel="email", granted=False), ALICE)
        meta = Meta(actor="alice", correlation_id="req-squat", occurred_at=datetime.now(UTC))
        squatter = Contact.create(contact_id=derived_id("contact-from-lead", str(lead_id)), meta=meta, **_nobody())
        app.save(squatter)
        head = app.head_position()
        # when the conversion's append fails
        with pytest.raises(ConcurrencyConflict):
            app.convert_lead(lead_id, ConvertLead(deal_value=100_00), ALICE)
        # then nothing of it is stored: the lead is open, the squatter has no consent
        assert app.head_position() == head
        assert app.get_lead(lead_id).stage == Stage.NEW
        assert app.get_contact(squatter.id).consents == {} and app.get_contact(squatter.id).version == 1

    def test_a_reactivation_lead_starts_from_its_contact_consent_and_returns_its_newer_statements(
        self, app: CrmApplication
    ) -> None:
        # given a contact that withdrew email and granted phone consent, reactivated
        contact_id = app.create_contact(new_contact(), ALICE).id
        app.change_consent(contact_id, ChangeConsent(channel="email", granted=False), ALICE)
        app.change_consent(contact_id, ChangeConsent(channel="phone", granted=True), ALICE)
        lead_id = app.reactivate_contact(contact_id, ReactivateContact(interest="upgrade"), BOB).related_id
        assert lead_id is not None
        # then the new lead starts from the contact's consent, so the withdrawal holds there too
        lead = app.get_lead(lead_id)
        assert lead.consents == {"email": False, "phone": True}
        assert {e.data["carried_from"] for e in app.history(lead_id) if e.event_type == "lead.consent_changed"} == {
            contact_id
        }
        head = app.head_position()
        with pytest.raises(ConsentWithdrawn):
            app.log_lead_interaction(lead_id, LogInteraction(kind="email_sent"), BOB)
        assert app.head_position() == head
        # when the person grants sms on the lead, and it converts back
        app.change_lead_consent(lead_id, ChangeConsent(channel="sms", granted=True), BOB)
        before = app.get_contact(contact_id).version
        result = app.convert_lead(lead_id, ConvertLead(deal_value=500_00), BOB)
        # then the contact takes the lead's own statement over, in the conversion's append, and keeps its own
        contact = app.get_contact(contact_id)
        assert result.related_id == contact_id and contact.version == before + 1
        assert contact.consents == {"email": False, "phone": True, "sms": True}
        assert app.history(contact_id)[-1].correlation_id == "req-bob"
        assert app.head_position() == result.position

    def test_an_email_sent_after_a_withdrawal_is_refused_on_leads_and_contacts_and_appends_nothing(
        self, app: CrmApplication
    ) -> None:
        lead_id = app.capture_lead(capture(), ALICE).id
        contact_id = app.create_contact(new_contact(), ALICE).id
        app.log_lead_interaction(lead_id, LogInteraction(kind="email_sent"), ALICE)  # never stated: allowed
        app.change_lead_consent(lead_id, ChangeConsent(channel="email", granted=False), ALICE)
        app.change_consent(contact_id, ChangeConsent(channel="email", granted=False), ALICE)
        head = app.head_position()
        with pytest.raises(ConsentWithdrawn):
            app.log_lead_interaction(lead_id, LogInteraction(kind="email_sent"), ALICE)
        with pytest.raises(ConsentWithdrawn):
            app.log_contact_interaction(contact_id, LogInteraction(kind="email_sent"), ALICE)
        assert app.head_position() == head


def _nobody() -> dict[str, object]:
    return {
        "name": "Squatter",
        "email": None,
        "phone": None,
        "company": None,
        "title": None,
        "external_id": None,
        "lead_id": None,
    }


class TestReading:
    def test_history_lists_every_event_with_its_actor_and_request(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=days_ago(5)), ALICE).id
        app.assign_lead(lead_id, AssignLead(owner="bob", occurred_at=days_ago(4)), ALICE)
        app.change_stage(lead_id, ChangeStage(stage="contacted", occurred_at=days_ago(3)), BOB)
        history = app.history(lead_id)
        assert [(h.version, h.event_type, h.actor) for h in history] == [
            (1, "lead.captured", "alice"),
            (2, "lead.scored", "alice"),
            (3, "lead.assigned", "alice"),
            (4, "lead.stage_changed", "bob"),
        ]
        assert history[3].correlation_id == "req-bob"
        assert history[3].data == {"stage": "contacted", "previous_stage": "new"}
        assert all(h.recorded_at >= h.occurred_at for h in history)

    def test_a_lead_can_be_read_as_of_a_business_date_and_at_a_version(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=days_ago(10)), ALICE).id
        app.change_stage(lead_id, ChangeStage(stage="contacted", occurred_at=days_ago(8)), ALICE)
        app.change_stage(lead_id, ChangeStage(stage="qualified", occurred_at=days_ago(2)), ALICE)
        assert app.get_lead(lead_id, as_of=days_ago(5)).stage == Stage.CONTACTED
        assert app.get_lead(lead_id, version=2).stage == Stage.NEW
        assert app.get_lead(lead_id).stage == Stage.QUALIFIED
        with pytest.raises(LeadNotFound):
            app.get_lead(lead_id, as_of=days_ago(11))

    def test_unknown_ids_and_the_wrong_kind_of_aggregate_are_not_found(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(), ALICE).id
        lead_id = app.capture_lead(capture(), ALICE).id
        with pytest.raises(LeadNotFound):
            app.get_lead(contact_id)
        with pytest.raises(ContactNotFound):
            app.record_purchase(lead_id, RecordPurchase(order_id="x", amount=1), ALICE)
        with pytest.raises(NotFound):
            app.history(uuid4())
