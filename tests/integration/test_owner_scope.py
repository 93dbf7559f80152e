"""The owner scope of a rep, enforced by the application on the aggregate a command changes (in
the same load that is then saved), run on every persistence backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.contact import Contact
from domain.lead import Lead
from domain.values import Stage
from services.app.application import Context, CrmApplication
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
from services.app.errors import ConcurrencyConflict, ContactNotFound, LeadNotFound, NotFound
from tests.integration.conftest import BACKENDS
from tests.integration.factories import capture, new_contact

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

MANAGER = Context(actor="maria", correlation_id="req-maria")


def rep(user: str) -> Context:
    """The context of a rep's request: confined to the leads `user` owns."""
    return Context(actor=user, correlation_id=f"req-{user}", owner_scope=user)


def bobs_lead(app: CrmApplication) -> UUID:
    return app.capture_lead(capture(owner="bob"), MANAGER).id


def bobs_contact(app: CrmApplication) -> UUID:
    contact_id = app.convert_lead(bobs_lead(app), ConvertLead(deal_value=100), MANAGER).related_id
    assert contact_id is not None
    return contact_id


LEAD_COMMANDS: dict[str, Callable[[CrmApplication, UUID, Context], Any]] = {
    "log an interaction": lambda app, i, ctx: app.log_lead_interaction(i, LogInteraction(kind="call"), ctx),
    "change the stage": lambda app, i, ctx: app.change_stage(i, ChangeStage(stage="contacted"), ctx),
    "assign": lambda app, i, ctx: app.assign_lead(i, AssignLead(owner=ctx.actor), ctx),
    "disqualify": lambda app, i, ctx: app.disqualify_lead(i, DisqualifyLead(reason="no budget"), ctx),
    "convert": lambda app, i, ctx: app.convert_lead(i, ConvertLead(deal_value=100), ctx),
    "rescore": lambda app, i, ctx: app.rescore_lead(i, RescoreLead(), ctx),
}

CONTACT_COMMANDS: dict[str, Callable[[CrmApplication, UUID, Context], Any]] = {
    "update details": lambda app, i, ctx: app.update_contact_details(i, UpdateContactDetails(title="CEO"), ctx),
    "log an interaction": lambda app, i, ctx: app.log_contact_interaction(i, LogInteraction(kind="support"), ctx),
    "record a purchase": lambda app, i, ctx: app.record_purchase(i, RecordPurchase(order_id="o-1", amount=5), ctx),
    "record purchases": lambda app, i, ctx: app.record_purchases(i, [RecordPurchase(order_id="o-2", amount=5)], ctx),
    "change consent": lambda app, i, ctx: app.change_consent(i, ChangeConsent(channel="email", granted=True), ctx),
    "reactivate": lambda app, i, ctx: app.reactivate_contact(i, ReactivateContact(interest="more", owner="alice"), ctx),
}


class TestLeadsOutsideTheScope:
    @pytest.mark.parametrize("command", LEAD_COMMANDS)
    def test_a_reps_command_on_someone_elses_lead_is_not_found_and_appends_nothing(
        self, app: CrmApplication, command: str
    ) -> None:
        # given
        lead_id = bobs_lead(app)
        head = app.head_position()
        # when
        with pytest.raises(LeadNotFound) as error:
            LEAD_COMMANDS[command](app, lead_id, rep("alice"))
        # then
        assert error.value.withheld and str(error.value) == f"lead {lead_id} not found"
        assert app.head_position() == head

    def test_the_scope_is_checked_before_the_expected_version(self, app: CrmApplication) -> None:
        lead_id = bobs_lead(app)
        with pytest.raises(LeadNotFound):
            app.change_stage(lead_id, ChangeStage(stage="contacted"), rep("alice"), expected_version=99)

    def test_a_reps_command_on_their_own_lead_goes_through(self, app: CrmApplication) -> None:
        lead_id = bobs_lead(app)
        app.change_stage(lead_id, ChangeStage(stage="contacted"), rep("bob"))
        assert app.get_lead(lead_id).stage == Stage.CONTACTED

    def test_a_missing_lead_is_not_found_without_being_withheld(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(), MANAGER).id
        with pytest.raises(LeadNotFound) as error:
            app.change_stage(contact_id, ChangeStage(stage="contacted"), rep("alice"))
        assert not error.value.withheld

    def test_reads_of_someone_elses_lead_are_not_found_now_at_a_version_and_as_of_a_time(
        self, app: CrmApplication
    ) -> None:
        lead_id = bobs_lead(app)
        captured_at = app.get_lead(lead_id).captured_at
        for read in (
            lambda: app.get_lead(lead_id, owner_scope="alice"),
            lambda: app.get_lead(lead_id, version=1, owner_scope="alice"),
            lambda: app.get_lead(lead_id, as_of=captured_at, owner_scope="alice"),
            lambda: app.history(lead_id, owner_scope="alice"),
        ):
            with pytest.raises(LeadNotFound) as error:
                read()
            assert error.value.withheld
        assert app.get_lead(lead_id, version=1, owner_scope="bob").version == 1
        assert [e.event_type for e in app.history(lead_id, of=Lead, owner_scope="bob")][0] == "lead.captured"


class TestContactsOutsideTheScope:
    @pytest.mark.parametrize("command", CONTACT_COMMANDS)
    def test_a_reps_command_on_the_contact_of_someone_elses_lead_is_not_found_and_appends_nothing(
        self, app: CrmApplication, command: str
    ) -> None:
        # given
        contact_id = bobs_contact(app)
        head = app.head_position()
        # when
        with pytest.raises(ContactNotFound) as error:
            CONTACT_COMMANDS[command](app, contact_id, rep("alice"))
        # then
        assert error.value.withheld
        assert app.head_position() == head

    def test_a_contact_that_came_from_no_lead_is_outside_every_reps_scope(self, app: CrmApplication) -> None:
        contact_id = app.create_contact(new_contact(), MANAGER).id
        head = app.head_position()
        with pytest.raises(ContactNotFound):
            app.record_purchase(contact_id, RecordPurchase(order_id="o-1", amount=5), rep("alice"))
        with pytest.raises(ContactNotFound):
            app.get_contact(contact_id, owner_scope="alice")
        assert app.head_position() == head

    def test_the_owner_of_the_originating_lead_works_on_its_contact(self, app: CrmApplication) -> None:
        contact_id = bobs_contact(app)
        app.record_purchase(contact_id, RecordPurchase(order_id="o-1", amount=5), rep("bob"))
        assert app.get_contact(contact_id, owner_scope="bob").purchase_count == 1
        with pytest.raises(ContactNotFound) as error:
            app.history(contact_id, owner_scope="alice")
        assert error.value.withheld


class TestReassignment:
    def test_a_reassignment_after_the_reps_last_read_stops_their_write(self, app: CrmApplication) -> None:
        # given bob read his lead, then a manager gave it to alice
        lead_id = bobs_lead(app)
        seen = app.get_lead(lead_id, owner_scope="bob").version
        app.assign_lead(lead_id, AssignLead(owner="alice"), MANAGER)
        head = app.head_position()
        # when bob changes it, with or without the version he saw
        for expected in (seen, None):
            with pytest.raises(LeadNotFound):
                app.change_stage(lead_id, ChangeStage(stage="contacted"), rep("bob"), expected_version=expected)
        # then nothing of his was appended, and alice may work on it
        assert app.head_position() == head
        app.change_stage(lead_id, ChangeStage(stage="contacted"), rep("alice"))

    def test_a_reassignment_landing_between_the_owner_check_and_the_save_makes_the_old_owners_write_conflict(
        self, app: CrmApplication, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a manager reassigns bob's lead right after bob's command loaded (and checked) it
        lead_id = bobs_lead(app)
        load = app.repository.get
        reassigned: list[bool] = []

        def load_then_reassign(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
            aggregate = load(aggregate_id, *args, **kwargs)
            if not reassigned:
                reassigned.append(True)
                app.assign_lead(lead_id, AssignLead(owner="alice"), MANAGER)
            return aggregate

        monkeypatch.setattr(app.repository, "get", load_then_reassign)
        # when bob's command is saved
        with pytest.raises(ConcurrencyConflict):
            app.change_stage(lead_id, ChangeStage(stage="contacted"), rep("bob"))
        monkeypatch.undo()
        # then the lead is alice's and bob's change is not in it
        lead = app.get_lead(lead_id)
        assert (lead.owner, lead.stage) == ("alice", Stage.NEW)
        assert app.history(lead_id)[-1].event_type == "lead.assigned"


class TestTrails:
    def test_a_leads_trail_is_not_a_contacts_and_a_missing_one_is_not_withheld(self, app: CrmApplication) -> None:
        lead_id = bobs_lead(app)
        with pytest.raises(ContactNotFound) as error:
            app.history(lead_id, of=Contact)
        assert not error.value.withheld
        with pytest.raises(NotFound) as missing:
            app.history(UUID(int=1), owner_scope="bob")
        assert not missing.value.withheld


class TestBackDatedCommandsOfReps:
    def test_who_owns_the_lead_now_decides_judged_from_the_one_load_the_command_acts_on(
        self, app: CrmApplication
    ) -> None:
        # given bob's lead, captured a day ago and given to alice an hour later (in business time)
        captured_at = datetime.now(UTC) - timedelta(days=1)
        lead_id = app.capture_lead(capture(owner="bob", occurred_at=captured_at), MANAGER).id
        app.assign_lead(lead_id, AssignLead(owner="alice", occurred_at=captured_at + timedelta(hours=1)), MANAGER)
        before = app.get_lead(lead_id).version
        loads = count_loads(app)
        # when each of them logs a call dated to when bob still owned it
        then = LogInteraction(kind="call", occurred_at=captured_at + timedelta(minutes=30))
        with pytest.raises(LeadNotFound) as refused:
            app.log_lead_interaction(lead_id, then, rep("bob"))
        result = app.log_lead_interaction(lead_id, then, rep("alice"))
        # then the owner now decides, each command having loaded the lead once
        assert refused.value.withheld
        assert loads == [lead_id, lead_id]
        assert result.version > before and app.get_lead(lead_id).owner == "alice"


def count_loads(app: CrmApplication) -> list[UUID]:
    """The ids the application loads from the event store from now on (it keeps counting)."""
    loads: list[UUID] = []
    load = app._load

    def counted(aggregate_id: UUID, at: datetime | None = None) -> Any:
        loads.append(aggregate_id)
        return load(aggregate_id, at)

    app._load = counted  # type: ignore[method-assign]
    return loads
