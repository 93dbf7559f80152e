"""Nurture sequences end to end on every backend, with a hand-set clock: the policy runner enrols
and exits leads, the scheduler does each step when its business-day wait is over, and running
both again over the same log appends nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from consumers.event_log import read_records
from domain.nurture import NurtureSequence
from domain.nurture_enrolments import nurture_task_id
from domain.values import ConsentChannel, InteractionKind
from services.app.application import CrmApplication
from services.app.commands import (
    AddUser,
    ChangeConsent,
    ConvertLead,
    DefineSequence,
    EnrolInSequence,
    ExitSequence,
    LogInteraction,
    ReactivateContact,
)
from services.automation import nurture
from services.automation.clock import ManualClock
from services.automation.policy_runner import PolicyRunner
from services.automation.scheduler import Scheduler
from services.automation.simulation import WhatIf
from services.bootstrap import simulation, timer_kinds
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture, new_contact

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

THURSDAY = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
FRIDAY, MONDAY, TUESDAY, WEDNESDAY = (THURSDAY + timedelta(days=d) for d in (1, 4, 5, 6))

WELCOME: dict[str, Any] = {
    "name": "welcome",
    "description": "From the first email to the rep's call",
    "steps": [
        {"wait_days": 0, "email": {"template": "welcome-1"}},
        {"wait_days": 1, "email": {"template": "case-study"}},
        {"wait_days": 2, "task": {"title": "Call about the case study", "due_in_days": 1}},
        {"wait_days": 1, "score_check": {"min_score": 5}},
    ],
}


WELCOME_SEQUENCE = NurtureSequence.model_validate(WELCOME)


class Positions:
    """Policy positions kept in a dict, every policy starting at the beginning of the log."""

    def __init__(self) -> None:
        self.saved: dict[str, int] = {}

    def policy_position(self, policy: str) -> int | None:
        return self.saved.get(policy, 0)

    def save_policy_position(self, policy: str, position: int) -> None:
        self.saved[policy] = position


class Automation:
    """The CRM's policies and timers on a hand-set clock, run pass by pass."""

    def __init__(self, app: CrmApplication, start: datetime) -> None:
        self.app = app
        self.clock = ManualClock(start)
        self.positions = Positions()
        self.runner = PolicyRunner(
            app,
            [nurture.NurtureExits(), nurture.NurtureEnrolment()],  # the policies under test
            self.positions,
            lambda start, limit: read_records(app, start, limit),
            clock=self.clock,
        )
        # only the nurture steps: score decay's timers would fire too, and are not what is counted
        self.scheduler = Scheduler(app, {nurture.KIND: timer_kinds()[nurture.KIND]}, self.clock)

    def at(self, moment: datetime) -> dict[str, int]:
        """Move the clock to `moment` and run until nothing is left to do; the timers' outcomes."""
        self.clock.set(moment)
        outcomes: dict[str, int] = {}
        while True:
            self.runner.catch_up()
            run = self.scheduler.run_due()
            for outcome, count in run.outcomes.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
            if not run.fired:
                return outcomes


def nurture_events(app: CrmApplication, lead_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    """The lead's nurture events after its enrolment: (type, data without sequence and enrolment)."""
    trail = [e for e in app.history(lead_id) if e.event_type.startswith("lead.nurture_")]
    return [
        (
            e.event_type.removeprefix("lead.nurture_"),
            {k: v for k, v in e.data.items() if k not in ("sequence", "steps")},
        )
        for e in trail
    ]


def consenting_lead(app: CrmApplication, at: datetime = THURSDAY) -> UUID:
    """A lead that follows up a contact who granted email consent (a reactivation)."""
    contact_id = app.create_contact(new_contact(occurred_at=at - timedelta(days=30)), ALICE).id
    app.change_consent(
        contact_id,
        ChangeConsent(channel=ConsentChannel.EMAIL, granted=True, occurred_at=at - timedelta(days=30)),
        ALICE,
    )
    result = app.reactivate_contact(contact_id, ReactivateContact(interest="the new plan", occurred_at=at), ALICE)
    assert result.related_id is not None
    return result.related_id


def test_a_lead_walks_through_a_whole_sequence_counted_in_business_days(app: CrmApplication) -> None:
    app.define_sequence(DefineSequence.model_validate({**WELCOME, "enrol_when": {"sources": ["reactivation"]}}))
    automation = Automation(app, THURSDAY)
    lead_id = consenting_lead(app)

    assert automation.at(THURSDAY) == {"done": 1}, "enrolled by its rule, the first email at once"
    assert automation.at(FRIDAY - timedelta(minutes=1)) == {}
    assert automation.at(FRIDAY) == {"done": 1}, "one business day later"
    assert automation.at(MONDAY + timedelta(hours=8)) == {}, "two business days from Friday are not Monday"
    assert automation.at(TUESDAY) == {"done": 1}
    assert automation.at(WEDNESDAY) == {"done": 1}

    assert app.get_lead(lead_id).score >= 5, "the score check passes"
    assert nurture_events(app, lead_id) == [
        ("enrolled", {"enrolment": 1}),
        ("email_requested", {"enrolment": 1, "step": 0, "template": "welcome-1"}),
        ("email_requested", {"enrolment": 1, "step": 1, "template": "case-study"}),
        ("task_requested", {"enrolment": 1, "step": 2, "task_id": nurture_task_id(lead_id, "welcome", 1, 2)}),
        ("score_checked", {"enrolment": 1, "step": 3, "score": app.get_lead(lead_id).score, "min_score": 5}),
        ("completed", {"enrolment": 1}),
    ]
    task = app.get_lead(lead_id).tasks[nurture_task_id(lead_id, "welcome", 1, 2)]
    assert (task.title, task.due_at, task.created_by) == ("Call about the case study", WEDNESDAY, "automation:nurture")
    trail = [e for e in app.history(lead_id) if e.event_type.startswith("lead.nurture_")]
    assert trail[0].actor == "automation:nurture_enrolment" and trail[0].occurred_at == THURSDAY
    assert {e.actor for e in trail[1:]} == {"automation:nurture"}
    assert [e.occurred_at for e in trail[1:5]] == [THURSDAY, FRIDAY, TUESDAY, WEDNESDAY], "dated when due"
    events = list(app.events.get(lead_id))
    assert all(e.cause is not None for e in events if type(e).__name__.startswith("Nurture"))


def test_running_the_policies_and_the_timers_again_over_the_log_appends_nothing(app: CrmApplication) -> None:
    app.define_sequence(DefineSequence.model_validate({**WELCOME, "enrol_when": {"sources": ["reactivation"]}}))
    automation = Automation(app, THURSDAY)
    consenting_lead(app)
    for moment in (THURSDAY, FRIDAY, TUESDAY, WEDNESDAY):
        automation.at(moment)
    head = app.head_position()

    again = Automation(app, WEDNESDAY)  # its policies start from the beginning of the log
    assert again.at(WEDNESDAY) == {}
    again.clock.set(THURSDAY)
    assert again.at(WEDNESDAY + timedelta(days=30)) == {}

    assert app.head_position() == head


def test_an_email_step_without_consent_is_skipped_and_the_sequence_goes_on(app: CrmApplication) -> None:
    app.define_sequence(DefineSequence.model_validate(WELCOME))
    automation = Automation(app, THURSDAY)
    lead_id = app.capture_lead(capture(occurred_at=THURSDAY), ALICE).id
    app.enrol_lead(lead_id, EnrolInSequence(sequence="welcome", occurred_at=THURSDAY), ALICE)

    automation.at(FRIDAY)

    assert nurture_events(app, lead_id)[1:] == [
        ("step_skipped", {"enrolment": 1, "step": 0, "reason": "no_consent"}),
        ("step_skipped", {"enrolment": 1, "step": 1, "reason": "no_consent"}),
    ]
    timer = app.timers.stored_timer(f"nurture:{lead_id}:welcome:1:2")
    assert timer is not None and timer.fired_at is None and timer.timer.due_at == TUESDAY


@pytest.mark.parametrize("kind", [InteractionKind.EMAIL_REPLY, InteractionKind.MEETING, InteractionKind.DEMO])
def test_a_reply_a_meeting_or_a_demo_ends_the_enrolment_and_its_next_step_does_nothing(
    app: CrmApplication, kind: InteractionKind
) -> None:
    app.define_sequence(DefineSequence.model_validate(WELCOME))
    automation = Automation(app, THURSDAY)
    lead_id = consenting_lead(app)
    app.enrol_lead(lead_id, EnrolInSequence(sequence="welcome", occurred_at=THURSDAY), ALICE)
    automation.at(THURSDAY)

    app.log_lead_interaction(lead_id, LogInteraction(kind=kind, occurred_at=THURSDAY + timedelta(hours=3)), ALICE)
    automation.at(THURSDAY + timedelta(hours=3))
    version = app.get_lead(lead_id).version
    outcomes = automation.at(FRIDAY + timedelta(days=30))

    reason = "reply" if kind is InteractionKind.EMAIL_REPLY else kind.value
    assert nurture_events(app, lead_id)[-1] == ("exited", {"enrolment": 1, "reason": reason})
    assert outcomes == {"no_change": 1}, "the step due on Friday found its enrolment over"
    assert app.get_lead(lead_id).version == version


def test_a_score_below_the_check_ends_the_enrolment(app: CrmApplication) -> None:
    steps = [{"wait_days": 1, "score_check": {"min_score": 100}}, {"wait_days": 0, "email": {"template": "x"}}]
    app.define_sequence(DefineSequence(name="hot-only", steps=steps))  # type: ignore[arg-type]
    automation = Automation(app, THURSDAY)
    lead_id = app.capture_lead(capture(occurred_at=THURSDAY), ALICE).id
    app.enrol_lead(lead_id, EnrolInSequence(sequence="hot-only", occurred_at=THURSDAY), ALICE)

    assert automation.at(FRIDAY) == {"done": 1}

    assert nurture_events(app, lead_id)[-1] == ("exited", {"enrolment": 1, "reason": "score_below_threshold"})
    assert app.get_lead(lead_id).active_nurtures == []


def test_a_converted_lead_leaves_every_sequence_it_is_in(app: CrmApplication) -> None:
    app.define_sequence(DefineSequence.model_validate(WELCOME))
    app.define_sequence(DefineSequence.model_validate({**WELCOME, "name": "second"}))
    automation = Automation(app, THURSDAY)
    lead_id = app.capture_lead(capture(occurred_at=THURSDAY), ALICE).id
    for name in ("welcome", "second"):
        app.enrol_lead(lead_id, EnrolInSequence(sequence=name, occurred_at=THURSDAY), ALICE)

    app.convert_lead(lead_id, ConvertLead(deal_value=100_00, occurred_at=THURSDAY + timedelta(hours=1)), ALICE)
    automation.at(THURSDAY + timedelta(hours=1))

    exits = [e for e in app.history(lead_id) if e.event_type == "lead.nurture_exited"]
    assert sorted((e.data["sequence"], e.data["reason"]) for e in exits) == [
        ("second", "converted"),
        ("welcome", "converted"),
    ]
    assert {e.actor for e in exits} == {"automation:nurture_exits"}


def test_rules_enrol_a_lead_when_its_score_reaches_them_and_not_again_after_it_left(app: CrmApplication) -> None:
    rule = {"enrol_when": {"min_score": 20}}
    app.define_sequence(DefineSequence.model_validate({**WELCOME, **rule}))
    app.define_sequence(DefineSequence.model_validate({**WELCOME, **rule, "name": "also-warm"}))
    automation = Automation(app, THURSDAY)
    lead_id = app.capture_lead(capture(occurred_at=THURSDAY, title=None, company=None), ALICE).id
    automation.at(THURSDAY)
    assert app.get_lead(lead_id).nurtures == {}, "too cold to enrol"

    for hour in (1, 2):
        moment = THURSDAY + timedelta(hours=hour)
        app.log_lead_interaction(lead_id, LogInteraction(kind="webinar", occurred_at=moment), ALICE)
        automation.at(moment)
    lead = app.get_lead(lead_id)
    assert lead.score >= 20 and sorted(lead.nurtures) == ["also-warm", "welcome"]
    first_emails = [e for e in app.history(lead_id) if e.event_type == "lead.nurture_step_skipped"]
    assert len(first_emails) == 2, "both enrolments made by one command did their first step"

    app.exit_sequence(lead_id, ExitSequence(sequence="welcome", occurred_at=THURSDAY + timedelta(hours=3)), ALICE)
    app.log_lead_interaction(lead_id, LogInteraction(kind="webinar", occurred_at=THURSDAY + timedelta(hours=4)), ALICE)
    automation.at(THURSDAY + timedelta(hours=4))

    welcome = app.get_lead(lead_id).nurtures["welcome"]
    assert (welcome.number, welcome.status, welcome.exit_reason) == (1, "exited", "manual")


def test_withdrawing_email_consent_ends_the_enrolment(app: CrmApplication) -> None:
    app.define_sequence(DefineSequence.model_validate(WELCOME))
    automation = Automation(app, THURSDAY)
    lead_id = consenting_lead(app)
    app.enrol_lead(lead_id, EnrolInSequence(sequence="welcome", occurred_at=THURSDAY), ALICE)
    automation.at(THURSDAY)
    withdrawn = ChangeConsent(channel=ConsentChannel.EMAIL, granted=False, occurred_at=THURSDAY + timedelta(hours=1))

    app.change_lead_consent(lead_id, withdrawn, ALICE)
    automation.at(THURSDAY + timedelta(hours=1))

    assert nurture_events(app, lead_id)[-1] == ("exited", {"enrolment": 1, "reason": "consent_withdrawn"})
    assert automation.at(FRIDAY) == {"no_change": 1}


def test_a_what_if_with_another_sequence_counts_whom_it_would_have_enrolled_and_writes_nothing(
    app: CrmApplication, database_url: str
) -> None:
    app.define_sequence(DefineSequence.model_validate({**WELCOME, "enrol_when": {"sources": ["webinar"]}}))
    automation = Automation(app, THURSDAY)
    for n, source in enumerate(["webinar", "webinar", "referral"]):
        app.capture_lead(capture(email=f"lead{n}@example.com", source=source, occurred_at=THURSDAY), ALICE)
    for moment in (THURSDAY, FRIDAY, TUESDAY, WEDNESDAY):
        automation.at(moment)
    head = app.head_position()
    what_if = WhatIf.load(
        """
        sequences:
          - name: referrals
            steps: [{wait_days: 0, email: {template: thanks}}]
            enrol_when: {sources: [referral]}
        """
    )

    report = simulation(app, Settings(database_url=database_url), what_if.configure).run(
        THURSDAY - timedelta(hours=1), THURSDAY + timedelta(days=10)
    )

    assert report.actual.enrolments == {"welcome": 2}
    assert report.simulated.enrolments == {"referrals": 1, "welcome": 2}, "the sequence in force, and the trial"
    assert report.simulated.emails_skipped == report.actual.emails_skipped + 1 == 5
    assert app.head_position() == head and [s.name for s in app.list_sequences()] == ["welcome"]
    with pytest.raises(ValueError, match="sequences.0.name: 'welcome' is in force already"):
        simulation(app, Settings(database_url=database_url), WhatIf(sequences=[WELCOME_SEQUENCE]).configure).run(
            THURSDAY, FRIDAY
        )


def test_the_waits_of_a_lead_count_business_days_in_its_owners_time_zone(app: CrmApplication) -> None:
    app.add_user(AddUser(id="kenji", name="Kenji Sato", role="rep", time_zone="Asia/Tokyo"), ALICE)
    app.add_user(AddUser(id="ute", name="Ute Berg", role="rep"), ALICE)
    app.define_sequence(DefineSequence.model_validate({**WELCOME, "name": "one-day", "steps": WELCOME["steps"][1:2]}))
    late_friday = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # already Saturday in Tokyo
    due = {}
    for owner in ("kenji", "ute"):
        lead_id = app.capture_lead(
            capture(occurred_at=late_friday, owner=owner, email=f"{owner}@example.com"), ALICE
        ).id
        app.enrol_lead(lead_id, EnrolInSequence(sequence="one-day", occurred_at=late_friday), ALICE)
        timer = app.timers.stored_timer(f"nurture:{lead_id}:one-day:1:0")
        assert timer is not None
        due[owner] = timer.timer.due_at

    assert due["kenji"] == datetime(2026, 3, 8, 23, 30, tzinfo=UTC), "Monday 08:30 in Tokyo"
    assert due["ute"] == datetime(2026, 3, 9, 23, 30, tzinfo=UTC), "a user without a zone: the calendar's (UTC)"
