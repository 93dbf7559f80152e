"""A lead's enrolments in nurture sequences: enrolling (once at a time), doing each due step,
exiting, and the timers each step asks for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.calendar import BusinessCalendar
from domain.errors import AlreadyEnrolled, LeadAlreadyConverted, NotEnrolled
from domain.lead import Lead
from domain.money import Money
from domain.nurture import NurtureExitReason, NurtureSequence
from domain.nurture_enrolments import NURTURE_TIMER, nurture_task_id, nurture_timer_id
from tests.unit.factories import a_lead, kinds, meta, pending, replay, the_only

CALENDAR = BusinessCalendar()
FRIDAY = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
MONDAY, TUESDAY = datetime(2024, 3, 4, 9, 0, tzinfo=UTC), datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


def sequence(*steps: dict[str, Any], name: str = "welcome", **fields: Any) -> NurtureSequence:
    """A sequence of the given steps (one email step by default)."""
    return NurtureSequence.model_validate(
        {"name": name, "steps": list(steps) or [{"wait_days": 0, "email": {"template": "hello"}}], **fields}
    )


def enrolled_lead(seq: NurtureSequence, at: datetime = FRIDAY, **lead: Any) -> Lead:
    """A lead enrolled in `seq` at `at`, its events and timers taken."""
    subject = a_lead(meta=meta(at=at), **lead)
    subject.enrol_in_nurture(seq, meta(at=at), CALENDAR)
    pending(subject)
    subject.collect_timers()
    return subject


def test_enrolling_records_a_copy_of_the_steps_and_asks_for_the_first_step_after_its_wait() -> None:
    seq = sequence({"wait_days": 1, "email": {"template": "hello"}})
    lead = a_lead(meta=meta(at=FRIDAY))

    lead.enrol_in_nurture(seq, meta(at=FRIDAY), CALENDAR)

    enrolled = the_only(pending(lead), Lead.NurtureEnrolled)
    assert (enrolled.sequence, enrolled.enrolment, enrolled.steps) == ("welcome", 1, seq.step_snapshots())
    [timer] = [t for t in lead.collect_timers() if t.kind == NURTURE_TIMER]
    assert timer.timer_id == nurture_timer_id(lead.id, "welcome", 1, 0) == f"nurture:{lead.id}:welcome:1:0"
    assert timer.due_at == MONDAY, "one business day after a Friday is the Monday"
    assert timer.payload == {"sequence": "welcome", "enrolment": 1, "step": 0}


def test_business_days_are_counted_in_the_time_zone_given() -> None:
    late_friday = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # already Saturday in Tokyo
    seq = sequence({"wait_days": 1, "email": {"template": "hello"}})
    in_tokyo, in_utc = a_lead(meta=meta(at=late_friday)), a_lead(meta=meta(at=late_friday))

    in_tokyo.enrol_in_nurture(seq, meta(at=late_friday), CALENDAR, time_zone="Asia/Tokyo")
    in_utc.enrol_in_nurture(seq, meta(at=late_friday), CALENDAR)

    [tokyo] = [t for t in in_tokyo.collect_timers() if t.kind == NURTURE_TIMER]
    [utc] = [t for t in in_utc.collect_timers() if t.kind == NURTURE_TIMER]
    assert tokyo.due_at == datetime(2024, 3, 3, 23, 30, tzinfo=UTC), (
        "Monday 08:30 in Tokyo: Saturday counts from itself"
    )
    assert utc.due_at == datetime(2024, 3, 4, 23, 30, tzinfo=UTC), "Monday 23:30 in the calendar's own zone"


def test_a_lead_is_enrolled_once_at_a_time_and_may_be_enrolled_again_after_it_left() -> None:
    seq = sequence()
    lead = enrolled_lead(seq)

    with pytest.raises(AlreadyEnrolled):
        lead.enrol_in_nurture(seq, meta(at=FRIDAY), CALENDAR)
    lead.exit_nurture("welcome", NurtureExitReason.MANUAL, meta(at=FRIDAY))
    lead.enrol_in_nurture(seq, meta(at=MONDAY), CALENDAR)

    assert [type(e).__name__ for e in pending(lead)] == ["NurtureExited", "NurtureEnrolled"]
    assert lead.nurtures["welcome"].number == 2 and lead.nurtures["welcome"].is_active
    [timer] = lead.collect_timers()
    assert timer.timer_id == nurture_timer_id(lead.id, "welcome", 2, 0), "a new enrolment has timers of its own"


def test_an_email_step_with_consent_asks_for_the_email_and_the_next_step_after_its_wait() -> None:
    seq = sequence({"wait_days": 0, "email": {"template": "hello"}}, {"wait_days": 2, "task": {"title": "call"}})
    lead = enrolled_lead(seq)

    assert lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR, email_consent=True)

    requested = the_only(pending(lead), Lead.NurtureEmailRequested)
    assert (requested.template, requested.step, requested.enrolment) == ("hello", 0, 1)
    [timer] = lead.collect_timers()
    assert timer.timer_id.endswith(":welcome:1:1") and timer.due_at == TUESDAY


@pytest.mark.parametrize("consent", [None, False], ids=["never stated", "withdrawn"])
def test_an_email_step_without_consent_is_skipped_and_the_sequence_goes_on(consent: bool | None) -> None:
    seq = sequence({"wait_days": 0, "email": {"template": "hello"}}, {"wait_days": 1, "task": {"title": "call"}})
    lead = enrolled_lead(seq)

    lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR, email_consent=consent)

    skipped = the_only(pending(lead), Lead.NurtureStepSkipped)
    assert (skipped.reason, skipped.step) == ("no_consent", 0)
    assert lead.nurtures["welcome"].next_step == 1 and len(lead.collect_timers()) == 1


def test_a_task_step_gives_the_owner_a_task_due_in_business_days() -> None:
    seq = sequence({"wait_days": 0, "task": {"title": "Call about the trial", "due_in_days": 1}})
    lead = enrolled_lead(seq, owner="bob")

    lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR)

    events = pending(lead)
    created, requested = the_only(events, Lead.TaskCreated), the_only(events, Lead.NurtureTaskRequested)
    assert (created.title, created.owner, created.due_at) == ("Call about the trial", "bob", MONDAY)
    assert requested.task_id == created.task_id == nurture_task_id(lead.id, "welcome", 1, 0)
    assert lead.tasks[created.task_id].created_by == "alice"
    assert kinds(events) == ["TaskCreated", "NurtureTaskRequested", "NurtureCompleted"]
    assert lead.collect_timers() == [] and not lead.nurtures["welcome"].is_active


def test_a_score_check_goes_on_at_the_threshold_and_exits_below_it() -> None:
    check = {"wait_days": 0, "score_check": {"min_score": 30}}
    then = {"wait_days": 0, "email": {"template": "ready"}}
    passing = enrolled_lead(sequence(check, then))
    failing = enrolled_lead(sequence(check, then))
    passing.score, failing.score = 30, 29  # as scoring left them

    passing.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR)
    failing.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR)

    checked = the_only(pending(passing), Lead.NurtureScoreChecked)
    assert (checked.score, checked.min_score) == (30, 30)
    assert len(passing.collect_timers()) == 1
    exited = the_only(pending(failing), Lead.NurtureExited)
    assert exited.reason == "score_below_threshold"
    assert failing.collect_timers() == [] and failing.nurtures["welcome"].status == "exited"


def test_a_step_that_is_not_next_does_nothing() -> None:
    seq = sequence({"wait_days": 0, "email": {"template": "a"}}, {"wait_days": 0, "email": {"template": "b"}})
    lead = enrolled_lead(seq)
    lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR, email_consent=True)
    pending(lead)

    done_already = lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR, email_consent=True)
    other_enrolment = lead.perform_nurture_step("welcome", 2, 1, meta(at=FRIDAY), CALENDAR, email_consent=True)
    lead.exit_nurture("welcome", NurtureExitReason.REPLY, meta(at=FRIDAY))
    pending(lead)
    after_exit = lead.perform_nurture_step("welcome", 1, 1, meta(at=FRIDAY), CALENDAR, email_consent=True)

    assert (done_already, other_enrolment, after_exit) == (False, False, False)
    assert pending(lead) == []


def test_rules_enrol_a_matching_lead_once_and_never_again_after_it_left() -> None:
    seq = sequence(name="webinar-leads", enrol_when={"sources": ["webinar"]})
    other = sequence(name="big-scores", enrol_when={"min_score": 90})
    lead = a_lead(source="webinar")

    assert lead.enrol_by_rules([seq, other], meta(), CALENDAR) == ["webinar-leads"]
    lead.exit_nurture("webinar-leads", NurtureExitReason.MEETING, meta())

    assert lead.enrol_by_rules([seq, other], meta(), CALENDAR) == []
    assert not lead.nurtures["webinar-leads"].is_active


def test_a_converted_lead_leaves_its_sequences_but_takes_no_step() -> None:
    lead = enrolled_lead(sequence())
    lead.convert(lead.id, Money(100, "USD"), meta(at=FRIDAY))

    assert lead.exit_nurtures(NurtureExitReason.CONVERTED, meta(at=FRIDAY)) == ["welcome"]
    with pytest.raises(LeadAlreadyConverted):
        lead.perform_nurture_step("welcome", 1, 0, meta(at=FRIDAY), CALENDAR)
    with pytest.raises(NotEnrolled):
        lead.exit_nurture("welcome", NurtureExitReason.MANUAL, meta(at=FRIDAY))
    assert lead.exit_nurtures(NurtureExitReason.DISQUALIFIED, meta(at=FRIDAY)) == []


def test_a_replayed_lead_follows_the_steps_it_was_enrolled_with() -> None:
    seq = sequence({"wait_days": 3, "email": {"template": "v1"}})
    lead = a_lead(meta=meta(at=FRIDAY))
    events = pending(lead)
    lead.enrol_in_nurture(seq, meta(at=FRIDAY), CALENDAR)
    events += pending(lead)

    again = replay(events)

    assert again.nurtures == lead.nurtures
    assert again.nurtures["welcome"].steps[0].email.template == "v1"
