"""The nurture read model: enrolment rows from a lead's events, and the statistics of a sequence."""

from __future__ import annotations

from typing import Any

from domain.calendar import BusinessCalendar
from domain.lead import Lead
from domain.money import Money
from domain.nurture import NurtureExitReason, NurtureSequence
from projections.event_record import EventRecord, record_of
from projections.nurture import NurtureProjection, sequence_stats
from projections.row_changes import Insert, Update
from tests.unit.factories import a_lead, at, meta, pending
from tests.unit.sqlite_reader import SqliteReader

CALENDAR = BusinessCalendar()
TWO_EMAILS = NurtureSequence.model_validate(
    {
        "name": "welcome",
        "steps": [{"wait_days": 0, "email": {"template": "a"}}, {"wait_days": 0, "email": {"template": "b"}}],
    }
)


class Log:
    """Records of lead events, at increasing positions."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def take(self, lead: Lead) -> list[EventRecord]:
        """The lead's pending events as records of this log."""
        new = [record_of(e, len(self.records) + i) for i, e in enumerate(pending(lead), start=1)]
        self.records += new
        return new


def enrolled(log: Log, **lead: Any) -> Lead:
    subject = a_lead(**lead)
    subject.enrol_in_nurture(TWO_EMAILS, meta(at=at(hours=1)), CALENDAR)
    log.take(subject)
    return subject


def step(lead: Lead, index: int, enrolment: int = 1) -> None:
    lead.perform_nurture_step("welcome", enrolment, index, meta(at=at(hours=2 + index)), CALENDAR, email_consent=True)


def test_an_enrolment_is_a_row_that_counts_its_steps_and_says_how_it_ended() -> None:
    log = Log()
    lead = enrolled(log)
    step(lead, 0)
    step(lead, 1)
    log.take(lead)

    changes = [change for record in log.records for change in NurtureProjection().apply(record)]

    inserted = next(c for c in changes if isinstance(c, Insert))
    assert inserted.row["status"] == "active" and inserted.row["enrolled_at"] == at(hours=1)
    updates = [c.values for c in changes if isinstance(c, Update)]
    assert updates == [{"steps_done": 1}, {"steps_done": 2}, {"status": "completed", "ended_at": at(hours=3)}]


def test_the_stats_count_enrolments_by_outcome_and_the_leads_converted_after_one() -> None:
    log = Log()
    done = enrolled(log)
    step(done, 0)
    step(done, 1)
    replied = enrolled(log)
    replied.exit_nurture("welcome", NurtureExitReason.REPLY, meta(at=at(hours=2)))
    met = enrolled(log)
    met.exit_nurture("welcome", NurtureExitReason.MEETING, meta(at=at(hours=2)))
    met.enrol_in_nurture(TWO_EMAILS, meta(at=at(hours=3)), CALENDAR)  # back in by hand: enrolment 2
    met.convert(met.id, Money(100, "USD"), meta(at=at(hours=4)))
    met.exit_nurtures(NurtureExitReason.CONVERTED, meta(at=at(hours=4)))
    enrolled(log)  # still under way
    a_lead().convert(a_lead().id, Money(1, "USD"), meta())  # converted, never enrolled: not counted
    for lead in (done, replied, met):
        log.take(lead)

    stats = sequence_stats(SqliteReader.of(NurtureProjection(), log.records), "welcome")

    assert (stats.enrolled, stats.active, stats.completed) == (5, 1, 1)
    assert stats.exited == {"converted": 1, "meeting": 1, "reply": 1}
    assert stats.converted == 1, "the lead enrolled twice and converted counts once"


def test_a_sequence_nobody_was_enrolled_in_has_zero_stats() -> None:
    stats = sequence_stats(SqliteReader.of(NurtureProjection()), "welcome")

    assert (stats.enrolled, stats.active, stats.completed, stats.exited, stats.converted) == (0, 0, 0, {}, 0)
