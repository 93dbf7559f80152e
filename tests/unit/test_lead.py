"""The Lead aggregate: capture, scoring, assignment, stages, and closing as won or lost."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application

from domain.errors import (
    AlreadyAssigned,
    ConsentUnchanged,
    ConsentWithdrawn,
    DomainError,
    InvalidStageTransition,
    LeadAlreadyConverted,
    LeadAlreadyDisqualified,
    LeadClosed,
    OccurredBeforeCreation,
    PersonErased,
)
from domain.lead import Lead
from domain.money import Money
from domain.scoring import DEFAULT_MODEL, ScoredInteraction, ScoringModel, score_lead
from domain.values import OPEN_STAGES, ConsentChannel, InteractionKind, LeadSource, Stage
from tests.unit.factories import (
    T0,
    a_converted_lead,
    a_disqualified_lead,
    a_lead,
    a_settled_lead,
    at,
    kinds,
    meta,
    pending,
    replay,
    the_only,
)

# Every command a lead takes, with arguments that would be accepted by an open lead.
LeadCommand = Callable[[Lead, Any], object]
COMMANDS: dict[str, LeadCommand] = {
    "log_interaction": lambda lead, m: lead.log_interaction(InteractionKind.CALL, "follow-up call", m),
    "assign": lambda lead, m: lead.assign("someone-new", m),
    "change_stage": lambda lead, m: lead.change_stage(Stage.CONTACTED, m),
    "disqualify": lambda lead, m: lead.disqualify("went with a competitor", m),
    "convert": lambda lead, m: lead.convert(uuid4(), Money(5_000, "USD"), m),
    "rescore": lambda lead, m: lead.rescore(m),
    "change_consent": lambda lead, m: lead.change_consent(ConsentChannel.EMAIL, False, m),
    "carry_consent_over": lambda lead, m: lead.carry_consent_over(uuid4(), {"email": True}, m),
}


# --- capture -------------------------------------------------------------------------------


def test_capturing_a_lead_emits_captured_then_scored_with_reason_captured() -> None:
    # given a lead with a title, a company and a source, so its fit is above zero
    lead_id = uuid4()
    m = meta(actor="alice", correlation_id="req-1")

    # when it is captured
    lead = a_lead(lead_id=lead_id, meta=m, title="CEO", company="Acme", source="referral")

    # then a Captured event is followed by a first Scored event for its fit alone
    events = pending(lead)
    assert kinds(events) == ["Captured", "Scored"]
    captured, scored = events
    assert captured.originator_id == lead_id
    assert captured.name == "Ada Lovelace"
    assert captured.source == "referral"
    assert scored.reason == "captured"
    assert scored.previous_score == 0
    assert scored.score == 15 + 5 + 15
    assert scored.model_version == DEFAULT_MODEL.version
    assert scored.breakdown == {"engagement": 0.0, "fit_title": 15.0, "fit_company": 5.0, "fit_source": 15.0}


def test_a_captured_lead_starts_new_open_and_unassigned_with_its_fit_score() -> None:
    # given / when a lead is captured at T0
    lead = a_lead(title=None, company=None, source="cold_outreach", estimated_value=None)

    # then it starts in stage new, open, with only its source points as score
    assert lead.stage == Stage.NEW
    assert lead.is_open
    assert lead.owner is None
    assert lead.captured_at == T0
    assert lead.stage_entered_at == T0
    assert lead.score == 2
    assert lead.source is LeadSource.COLD_OUTREACH
    assert lead.interactions == []
    assert lead.closed_at is None


def test_a_lead_captured_with_an_owner_keeps_that_owner() -> None:
    # given / when a lead is captured with an owner
    lead = a_lead(owner="carol")

    # then it belongs to that owner from the start
    assert lead.owner == "carol"


def test_collecting_events_clears_them() -> None:
    # given a freshly captured lead
    lead = a_lead()

    # when its pending events are collected twice
    first = pending(lead)
    second = pending(lead)

    # then the second collection is empty
    assert kinds(first) == ["Captured", "Scored"]
    assert second == []


def test_a_lead_is_rebuilt_from_its_events_with_the_same_state() -> None:
    # given a lead taken through a typical life
    lead = a_lead()
    lead.log_interaction(InteractionKind.WEBINAR, "spring webinar", meta(at=at(days=1)))
    lead.assign("bob", meta(at=at(days=2)))
    lead.change_stage(Stage.QUALIFIED, meta(at=at(days=3)))
    lead.rescore(meta(at=at(days=20)))
    contact_id = uuid4()
    lead.convert(contact_id, Money(9_900, "EUR"), meta(at=at(days=21)))

    # when it is rebuilt from its events alone
    copy = replay(pending(lead))

    # then it has the same state
    for attribute in (
        "id", "version", "name", "stage", "owner", "score", "score_breakdown", "score_model_version",
        "interactions", "converted_contact_id", "deal_value", "currency", "closed_at", "stage_entered_at",
    ):  # fmt: skip
        assert getattr(copy, attribute) == getattr(lead, attribute), attribute


# --- every event carries its metadata ------------------------------------------------------


def test_every_lead_event_carries_actor_correlation_id_and_occurred_at() -> None:
    # given a lead taken through every kind of event, each step by another user in another request
    metas = [meta(at=at(days=10 * i), actor=f"user-{i}", correlation_id=f"req-{i}") for i in range(6)]
    lead = a_lead(meta=metas[0])
    lead.log_interaction(InteractionKind.DEMO, None, metas[1])
    lead.assign("bob", metas[2])
    lead.change_stage(Stage.PROPOSAL, metas[3])
    lead.rescore(metas[4])
    lead.convert(uuid4(), Money(1, "USD"), metas[5])

    # when the events are collected
    events = pending(lead)

    # then every event carries the metadata of the command that caused it
    assert kinds(events) == [
        "Captured", "Scored", "InteractionLogged", "Scored", "Assigned", "StageChanged", "Scored", "Converted",
    ]  # fmt: skip
    by_correlation_id = {m.correlation_id: m for m in metas}
    for e in events:
        m = by_correlation_id[e.correlation_id]
        assert (e.actor, e.occurred_at) == (m.actor, m.occurred_at), type(e).__name__
    assert [e.correlation_id for e in events] == ["req-0", "req-0", "req-1", "req-1", "req-2", "req-3", "req-4",
                                                  "req-5"]  # fmt: skip


def test_the_disqualified_event_carries_its_metadata() -> None:
    # given a settled lead
    lead = a_settled_lead()

    # when it is disqualified by bob in request req-dq
    lead.disqualify("spam", meta(at=at(hours=5), actor="bob", correlation_id="req-dq"))

    # then the event says who, which request and when
    event = the_only(pending(lead), Lead.Disqualified)
    assert (event.actor, event.correlation_id, event.occurred_at) == ("bob", "req-dq", at(hours=5))


# --- closed leads reject every command -----------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_converted_lead_rejects_further_commands(command: LeadCommand) -> None:
    # given a converted lead
    lead = a_converted_lead()

    # when any command is sent to it
    with pytest.raises(LeadAlreadyConverted) as raised:
        command(lead, meta(at=at(days=2)))

    # then it is refused as a closed lead and nothing is recorded
    assert isinstance(raised.value, LeadClosed)
    assert pending(lead) == []
    assert lead.stage == Stage.CONVERTED


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_disqualified_lead_rejects_further_commands(command: LeadCommand) -> None:
    # given a disqualified lead
    lead = a_disqualified_lead()

    # when any command is sent to it
    with pytest.raises(LeadAlreadyDisqualified) as raised:
        command(lead, meta(at=at(days=2)))

    # then it is refused as a closed lead and nothing is recorded
    assert isinstance(raised.value, LeadClosed)
    assert pending(lead) == []
    assert lead.stage == Stage.DISQUALIFIED


def test_the_closed_lead_errors_are_domain_errors_under_lead_closed() -> None:
    # given / when / then both closing errors share the LeadClosed parent
    assert issubclass(LeadAlreadyConverted, LeadClosed)
    assert issubclass(LeadAlreadyDisqualified, LeadClosed)
    assert issubclass(LeadClosed, DomainError)
    assert not issubclass(LeadAlreadyConverted, LeadAlreadyDisqualified)


def test_a_closed_lead_reports_closed_before_checking_the_time() -> None:
    # given a converted lead
    lead = a_converted_lead()

    # when a command is sent to it with a time before its capture
    # then it is refused because it is closed, not because of the time
    with pytest.raises(LeadAlreadyConverted):
        lead.assign("bob", meta(at=at(days=-1)))


# --- business time -------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_that_occurred_before_the_capture_is_rejected(command: LeadCommand) -> None:
    # given a lead captured at T0
    lead = a_settled_lead()

    # when a command says it happened a second before that
    with pytest.raises(OccurredBeforeCreation):
        command(lead, meta(at=at(seconds=-1)))

    # then nothing is recorded and the lead is unchanged
    assert pending(lead) == []
    assert lead.stage == Stage.NEW
    assert lead.owner is None
    assert lead.interactions == []


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_at_the_exact_capture_time_is_accepted(command: LeadCommand) -> None:
    # given a lead captured at T0
    lead = a_settled_lead()

    # when a command happens at T0 too
    command(lead, meta(at=T0))

    # then it is accepted (rescore may have nothing to record; the others record events)
    assert command is COMMANDS["rescore"] or pending(lead)


# --- stages --------------------------------------------------------------------------------


@pytest.mark.parametrize("closed", [Stage.CONVERTED, Stage.DISQUALIFIED])
def test_a_stage_change_to_a_closed_stage_is_rejected(closed: Stage) -> None:
    # given an open lead
    lead = a_settled_lead()

    # when it is asked to move to converted or disqualified by a plain stage change
    with pytest.raises(InvalidStageTransition):
        lead.change_stage(closed, meta(at=at(hours=1)))

    # then nothing is recorded and it stays open
    assert pending(lead) == []
    assert lead.stage == Stage.NEW


@pytest.mark.parametrize("stage", OPEN_STAGES)
def test_a_stage_change_to_the_current_stage_is_rejected(stage: Stage) -> None:
    # given a lead in some open stage
    lead = a_settled_lead()
    if stage != Stage.NEW:
        lead.change_stage(stage, meta(at=at(hours=1)))
        pending(lead)

    # when it is asked to move to the stage it is already in
    with pytest.raises(InvalidStageTransition):
        lead.change_stage(stage, meta(at=at(hours=2)))

    # then nothing is recorded
    assert pending(lead) == []
    assert lead.stage == stage


@pytest.mark.parametrize(
    ("origin", "target"),
    [(a, b) for a, b in itertools.permutations(OPEN_STAGES, 2)],
    ids=lambda s: s.value,
)
def test_a_lead_moves_between_any_two_open_stages_forwards_or_back(origin: Stage, target: Stage) -> None:
    # given a lead in one open stage
    lead = a_settled_lead()
    if origin != Stage.NEW:
        lead.change_stage(origin, meta(at=at(days=1)))
        pending(lead)

    # when it moves to another open stage
    lead.change_stage(target, meta(at=at(days=2)))

    # then the move is recorded with the stage it left
    changed = the_only(pending(lead), Lead.StageChanged)
    assert changed.stage == target.value
    assert changed.previous_stage == origin.value
    assert lead.stage == target
    assert lead.stage_entered_at == at(days=2)
    assert lead.is_open


def test_the_open_stages_are_all_stages_but_converted_and_disqualified() -> None:
    # given / when / then
    assert set(OPEN_STAGES) == set(Stage) - {Stage.CONVERTED, Stage.DISQUALIFIED}


# --- assignment ----------------------------------------------------------------------------


def test_assigning_an_unassigned_lead_records_no_previous_owner() -> None:
    # given an unassigned lead
    lead = a_settled_lead()

    # when it is assigned to bob
    lead.assign("bob", meta(at=at(hours=1)))

    # then the assignment is recorded
    assigned = the_only(pending(lead), Lead.Assigned)
    assert assigned.owner == "bob"
    assert assigned.previous_owner is None
    assert lead.owner == "bob"


def test_reassigning_a_lead_records_the_previous_owner() -> None:
    # given a lead that belongs to bob
    lead = a_settled_lead(owner="bob")

    # when it is given to carol
    lead.assign("carol", meta(at=at(hours=1)))

    # then the event says it was bob's
    assigned = the_only(pending(lead), Lead.Assigned)
    assert (assigned.owner, assigned.previous_owner) == ("carol", "bob")
    assert lead.owner == "carol"


@pytest.mark.parametrize("assigned_how", ["at capture", "by assignment"])
def test_assigning_a_lead_to_its_current_owner_is_rejected(assigned_how: str) -> None:
    # given a lead that belongs to bob
    if assigned_how == "at capture":
        lead = a_settled_lead(owner="bob")
    else:
        lead = a_settled_lead()
        lead.assign("bob", meta(at=at(hours=1)))
        pending(lead)

    # when it is assigned to bob again
    with pytest.raises(AlreadyAssigned):
        lead.assign("bob", meta(at=at(hours=2)))

    # then nothing is recorded
    assert pending(lead) == []


# --- interactions and scoring --------------------------------------------------------------


def test_an_interaction_is_recorded_and_rescored_when_the_rounded_score_changes() -> None:
    # given a lead with a fit score of 25
    lead = a_settled_lead()
    assert lead.score == 25

    # when a demo (15 points) happens a day later
    lead.log_interaction(InteractionKind.DEMO, "product tour", meta(at=at(days=1)))

    # then the interaction and a new score are recorded
    events = pending(lead)
    assert kinds(events) == ["InteractionLogged", "Scored"]
    logged, scored = events
    assert (logged.kind, logged.detail) == ("demo", "product tour")
    assert scored.reason == "interaction:demo"
    assert (scored.previous_score, scored.score) == (25, 40)
    assert scored.breakdown["engagement"] == 15.0
    assert lead.score == 40
    assert lead.interactions == [ScoredInteraction(InteractionKind.DEMO, at(days=1))]


def test_a_tiny_interaction_that_does_not_change_the_rounded_score_emits_no_scored() -> None:
    # given a model where an email open is worth a fifth of a point, and a lead scored with it
    tiny = ScoringModel(
        engagement_points=MappingProxyType(
            {kind: (0.2 if kind == InteractionKind.EMAIL_OPEN else 5.0) for kind in InteractionKind}
        )
    )
    lead = a_settled_lead(model=tiny)
    before = lead.score
    when = at(hours=1)
    # (the score it would get, computed independently, rounds to the same total)
    expected = score_lead(lead.facts, [ScoredInteraction(InteractionKind.EMAIL_OPEN, when)], when, tiny)
    assert expected.breakdown["engagement"] == pytest.approx(0.2)
    assert expected.value == before

    # when an email open is logged
    lead.log_interaction(InteractionKind.EMAIL_OPEN, None, meta(at=when), model=tiny)

    # then only the interaction is recorded, no Scored
    assert kinds(pending(lead)) == ["InteractionLogged"]
    assert lead.score == before


def test_an_interaction_whose_points_offset_the_decay_emits_no_scored() -> None:
    # given a lead that had a demo at T0 (25 fit + 15 = 40)
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.DEMO, None, meta(at=T0))
    pending(lead)
    assert lead.score == 40

    # (a day and a half later the demo has decayed by about one point, which an email open makes up)
    when = at(days=1.5)
    interactions = [*lead.interactions, ScoredInteraction(InteractionKind.EMAIL_OPEN, when)]
    expected = score_lead(lead.facts, interactions, when)
    assert expected.breakdown["engagement"] == pytest.approx(15 * 0.5 ** (1.5 / 14) + 1, abs=1e-4)
    assert expected.value == 40

    # when the email open is logged
    lead.log_interaction(InteractionKind.EMAIL_OPEN, "newsletter", meta(at=when))

    # then no Scored is emitted, since the rounded score did not change
    assert kinds(pending(lead)) == ["InteractionLogged"]
    assert lead.score == 40


def test_interactions_beyond_the_engagement_cap_emit_no_scored() -> None:
    # given a lead whose engagement is already at the cap (4 demos = 60 points)
    lead = a_settled_lead()
    for _ in range(4):
        lead.log_interaction(InteractionKind.DEMO, None, meta(at=at(hours=1)))
    pending(lead)
    assert lead.score == 25 + 60

    # when yet another meeting happens at the same time
    lead.log_interaction(InteractionKind.MEETING, None, meta(at=at(hours=1)))

    # then it is recorded but the score does not move
    assert kinds(pending(lead)) == ["InteractionLogged"]
    assert lead.score == 85


def test_a_rescore_later_in_time_applies_decay() -> None:
    # given a lead with a webinar (10 points) at T0: score 25 + 10 = 35
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.WEBINAR, None, meta(at=T0))
    pending(lead)
    assert lead.score == 35

    # when it is rescored two half-lives (28 days) later
    changed = lead.rescore(meta(at=at(days=28)))

    # then the webinar counts a quarter: 25 + 2.5 = 27.5, rounded half to even = 28
    assert changed is True
    scored = the_only(pending(lead), Lead.Scored)
    assert scored.reason == "decay"
    assert scored.previous_score == 35
    assert scored.score == 28
    assert scored.breakdown["engagement"] == 2.5
    assert scored.occurred_at == at(days=28)
    assert lead.score == 28


def test_a_rescore_that_changes_nothing_emits_nothing_and_returns_false() -> None:
    # given a lead with no interactions (its score is fit only, which never decays)
    lead = a_settled_lead()

    # when it is rescored a year later
    changed = lead.rescore(meta(at=at(days=365)))

    # then nothing is recorded
    assert changed is False
    assert pending(lead) == []


def test_a_rescore_with_another_model_records_that_model_version_and_reason() -> None:
    # given a lead with a demo at T0
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.DEMO, None, meta(at=T0))
    pending(lead)

    # when it is rescored 7 days later with a 7-day half-life model and a custom reason
    model = ScoringModel(half_life_days=7)
    lead.rescore(meta(at=at(days=7)), model=model, reason="model-upgrade")

    # then the new score says which model and why
    scored = the_only(pending(lead), Lead.Scored)
    assert scored.reason == "model-upgrade"
    assert scored.model_version == "engagement-fit/1/hl7d"
    # (25 + 7.5 = 32.5, and Python rounds halves to even)
    assert scored.score == 32
    assert lead.score_model_version == "engagement-fit/1/hl7d"


def test_an_interaction_logged_late_in_time_decays_earlier_ones() -> None:
    # given a lead with a demo at T0 (score 40)
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.DEMO, None, meta(at=T0))
    pending(lead)

    # when an email open happens 28 days later
    lead.log_interaction(InteractionKind.EMAIL_OPEN, None, meta(at=at(days=28)))

    # then the score is computed as of then: 25 + 15/4 + 1 = 29.75 -> 30
    scored = the_only(pending(lead), Lead.Scored)
    assert (scored.previous_score, scored.score) == (40, 30)
    assert scored.reason == "interaction:email_open"


# A back-dated interaction (an import, a late webhook) is scored as of the latest business
# time the lead has seen, so newer interactions never count as "future" and logging one never
# lowers the score.
def test_a_backdated_interaction_does_not_lower_the_score() -> None:
    # given a lead with a demo ten days after capture (score 25 + 15 = 40)
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.DEMO, None, meta(at=at(days=10)))
    pending(lead)
    assert lead.score == 40

    # when an email open that happened on day 1 is logged afterwards
    lead.log_interaction(InteractionKind.EMAIL_OPEN, None, meta(at=at(days=1)))

    # then the score does not go down because of it
    assert lead.score >= 40


# --- closing: convert and disqualify -------------------------------------------------------


def test_converting_a_lead_records_the_contact_the_deal_and_closes_it() -> None:
    # given a qualified lead estimated in USD
    lead = a_settled_lead(currency="USD")
    lead.change_stage(Stage.NEGOTIATION, meta(at=at(days=1)))
    pending(lead)
    contact_id = uuid4()

    # when it is converted with a deal in EUR
    lead.convert(contact_id, Money(1_234_500, "EUR"), meta(at=at(days=9)))

    # then the conversion records the contact, the deal and the stage it left
    converted = the_only(pending(lead), Lead.Converted)
    assert converted.contact_id == contact_id
    assert converted.deal_value == 1_234_500
    assert converted.currency == "EUR"
    assert converted.previous_stage == "negotiation"
    # and the lead is closed as converted
    assert lead.stage == Stage.CONVERTED
    assert not lead.is_open
    assert lead.converted_contact_id == contact_id
    assert lead.deal_value == 1_234_500
    assert lead.currency == "EUR"
    assert lead.closed_at == at(days=9)
    assert lead.stage_entered_at == at(days=9)


def test_converting_a_new_lead_directly_is_allowed() -> None:
    # given a brand new lead
    lead = a_settled_lead()

    # when it is converted at once
    lead.convert(uuid4(), Money(0, "USD"), meta(at=T0))

    # then it records new as the stage it left
    assert the_only(pending(lead), Lead.Converted).previous_stage == "new"


@pytest.mark.parametrize("stage", OPEN_STAGES)
def test_disqualifying_a_lead_records_the_reason_and_the_stage_it_left(stage: Stage) -> None:
    # given a lead in some open stage
    lead = a_settled_lead()
    if stage != Stage.NEW:
        lead.change_stage(stage, meta(at=at(days=1)))
        pending(lead)

    # when it is disqualified
    lead.disqualify("no budget this year", meta(at=at(days=2)))

    # then the reason and the stage it left are recorded, and it is closed
    disqualified = the_only(pending(lead), Lead.Disqualified)
    assert disqualified.reason == "no budget this year"
    assert disqualified.previous_stage == stage.value
    assert lead.stage == Stage.DISQUALIFIED
    assert not lead.is_open
    assert lead.disqualified_reason == "no budget this year"
    assert lead.closed_at == at(days=2)


def test_closing_a_lead_emits_no_scored() -> None:
    # given a lead with some engagement
    lead = a_settled_lead()
    lead.log_interaction(InteractionKind.MEETING, None, meta(at=T0))
    pending(lead)

    # when it is disqualified much later
    lead.disqualify("unresponsive", meta(at=at(days=90)))

    # then only the Disqualified event is recorded
    assert kinds(pending(lead)) == ["Disqualified"]


def test_an_erased_lead_reads_as_erased_keeps_its_numbers_and_takes_no_more_commands() -> None:
    lead = a_lead()
    lead.change_stage(Stage.QUALIFIED, meta(at=at(days=1)))
    lead.erase("data subject request", meta(at=at(days=2)))
    assert (lead.name, lead.email, lead.phone, lead.title) == ("[erased]", None, None, None)
    assert lead.stage is Stage.QUALIFIED and lead.erased_at == at(days=2)
    with pytest.raises(PersonErased):
        lead.change_stage(Stage.PROPOSAL, meta(at=at(days=3)))
    with pytest.raises(PersonErased):
        lead.erase("twice", meta(at=at(days=3)))


# --- consent -----------------------------------------------------------------------------------


def test_a_new_lead_has_stated_no_consent() -> None:
    # given / when a lead is captured
    lead = a_lead()

    # then no channel is granted nor withdrawn
    assert lead.consents == {}
    assert all(lead.has_consent(channel) is None for channel in ConsentChannel)


@pytest.mark.parametrize("channel", list(ConsentChannel), ids=lambda c: c.value)
def test_granting_then_withdrawing_consent_on_a_lead_records_both_as_its_own(channel: ConsentChannel) -> None:
    # given a lead
    lead = a_settled_lead()

    # when the person grants consent for a channel and later withdraws it
    lead.change_consent(channel, True, meta(at=at(days=1), actor="bob"))
    lead.change_consent(channel, False, meta(at=at(days=2)))

    # then both statements are recorded, stated on the lead itself, and the consent is withdrawn
    events = pending(lead)
    assert kinds(events) == ["ConsentChanged", "ConsentChanged"]
    assert [(e.channel, e.granted, e.carried_from) for e in events] == [
        (channel.value, True, None),
        (channel.value, False, None),
    ]
    assert events[0].actor == "bob"
    assert lead.has_consent(channel) is False
    assert [(s.channel, s.granted, s.stated_at) for s in lead.own_consent_statements()] == [
        (channel, False, at(days=2))
    ]


@pytest.mark.parametrize("granted", [True, False])
def test_stating_a_lead_consent_it_already_has_is_rejected(granted: bool) -> None:
    # given a lead whose email consent was stated
    lead = a_settled_lead()
    lead.change_consent(ConsentChannel.EMAIL, granted, meta(at=at(days=1)))
    pending(lead)

    # when the same is stated again
    with pytest.raises(ConsentUnchanged, match="already"):
        lead.change_consent(ConsentChannel.EMAIL, granted, meta(at=at(days=2)))

    # then nothing is recorded
    assert pending(lead) == []


def test_a_lead_consent_is_rebuilt_from_its_events() -> None:
    # given a lead that carried consent over and then stated its own
    lead = a_lead()
    lead.carry_consent_over(uuid4(), {"email": True, "sms": False}, meta())
    lead.change_consent(ConsentChannel.EMAIL, False, meta(at=at(days=1)))

    # when it is rebuilt from its events alone
    copy = replay(pending(lead))

    # then it knows the same consent and the same own statements
    assert copy.consents == lead.consents == {"email": False, "sms": False}
    assert copy.own_consent == lead.own_consent


def test_a_reactivation_lead_starts_from_its_contact_consent_marked_as_carried_over() -> None:
    # given a contact that granted email and withdrew phone consent
    contact_id = uuid4()
    lead = a_settled_lead(contact_id=contact_id, source="reactivation")

    # when the new lead carries the contact's consent over
    lead.carry_consent_over(contact_id, {"phone": False, "email": True}, meta(actor="bob"))

    # then each channel is recorded in channel order, as carried from the contact
    events = pending(lead)
    assert [(e.channel, e.granted, e.carried_from) for e in events] == [
        ("email", True, contact_id),
        ("phone", False, contact_id),
    ]
    assert lead.has_consent(ConsentChannel.PHONE) is False
    assert lead.has_consent(ConsentChannel.EMAIL) is True
    # and none of it counts as said on the lead itself
    assert lead.own_consent_statements() == []


def test_carrying_over_no_consent_records_nothing() -> None:
    lead = a_settled_lead(contact_id=uuid4(), source="reactivation")
    lead.carry_consent_over(uuid4(), {}, meta())
    assert pending(lead) == []


def test_an_email_sent_after_the_email_consent_was_withdrawn_is_refused_and_nothing_is_recorded() -> None:
    # given a lead that withdrew email consent
    lead = a_settled_lead()
    lead.change_consent(ConsentChannel.EMAIL, False, meta(at=at(days=1)))
    pending(lead)

    # when an outbound email is logged
    with pytest.raises(ConsentWithdrawn, match="consent for email was withdrawn"):
        lead.log_interaction(InteractionKind.EMAIL_SENT, "newsletter", meta(at=at(days=2)))

    # then nothing is recorded
    assert pending(lead) == []
    assert lead.interactions == []


def test_a_withdrawal_carried_over_from_the_contact_refuses_an_email_sent_too() -> None:
    lead = a_settled_lead(contact_id=uuid4(), source="reactivation")
    lead.carry_consent_over(uuid4(), {"email": False}, meta())
    with pytest.raises(ConsentWithdrawn):
        lead.log_interaction(InteractionKind.EMAIL_SENT, None, meta(at=at(days=1)))


@pytest.mark.parametrize("email_consent", [None, True], ids=["never stated", "granted"])
def test_an_email_sent_is_logged_while_email_consent_is_not_withdrawn(email_consent: bool | None) -> None:
    # given a lead whose email consent was never stated, or granted
    lead = a_settled_lead()
    if email_consent is not None:
        lead.change_consent(ConsentChannel.EMAIL, email_consent, meta())
    pending(lead)

    # when an outbound email is logged
    lead.log_interaction(InteractionKind.EMAIL_SENT, "welcome", meta(at=at(days=1)))

    # then it is recorded
    assert the_only(pending(lead), Lead.InteractionLogged).kind == "email_sent"
    assert lead.has_consent(ConsentChannel.EMAIL) is email_consent


def test_after_an_email_withdrawal_the_person_still_engages_and_other_channels_are_untouched() -> None:
    # given a lead that withdrew email consent
    lead = a_settled_lead()
    lead.change_consent(ConsentChannel.EMAIL, False, meta())

    # when the person replies, and we call them
    lead.log_interaction(InteractionKind.EMAIL_REPLY, "please call me instead", meta(at=at(hours=1)))
    lead.log_interaction(InteractionKind.CALL, None, meta(at=at(hours=2)))

    # then both are recorded: only what we send by email needs email consent
    assert [i.kind for i in lead.interactions] == [InteractionKind.EMAIL_REPLY, InteractionKind.CALL]


def test_an_email_sent_earns_no_points_and_a_reply_does() -> None:
    # given two leads alike
    quiet, replying = a_settled_lead(), a_settled_lead()

    # when we email one and the other replies
    quiet.log_interaction(InteractionKind.EMAIL_SENT, None, meta())
    replying.log_interaction(InteractionKind.EMAIL_REPLY, None, meta())

    # then the sent email changes no score, the reply raises it
    assert kinds(pending(quiet)) == ["InteractionLogged"]
    assert the_only(pending(replying), Lead.Scored).reason == "interaction:email_reply"
    assert replying.score > quiet.score


def test_an_erased_lead_keeps_its_consent_flags_and_takes_no_more_consent_changes() -> None:
    # given a lead that withdrew email consent, then was erased
    lead = a_settled_lead()
    lead.change_consent(ConsentChannel.EMAIL, False, meta(at=at(days=1)))
    lead.erase("data subject request", meta(at=at(days=2)))
    pending(lead)

    # then the flag, which names no one, is still known (nothing may be sent anyway) ...
    assert lead.has_consent(ConsentChannel.EMAIL) is False
    # ... and the lead takes no more statements
    with pytest.raises(PersonErased):
        lead.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=3)))
    assert pending(lead) == []


# --- country (Captured version 2) ---------------------------------------------------------------


def test_a_lead_keeps_the_country_it_was_captured_with() -> None:
    lead = a_lead(country="DE")
    assert lead.country == "DE"
    assert the_only(pending(lead), Lead.Captured).country == "DE"


def test_a_captured_event_stored_before_countries_loads_with_no_country() -> None:
    # given a Captured event as version 1 stored it: no country field and no class_version
    mapper = Application().mapper
    captured = the_only(pending(a_lead(country="FR")), Lead.Captured)
    stored = mapper.to_stored_event(captured)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2 and state.pop("country") == "FR"
    old = replace(stored, state=json.dumps(state).encode())
    # when it is read back
    loaded = mapper.to_domain_event(old)
    # then it is a version 2 event without a country, and the lead it makes has none
    assert isinstance(loaded, Lead.Captured) and loaded.country is None
    assert loaded.name == captured.name and loaded.occurred_at == captured.occurred_at
    assert replay([loaded]).country is None
