"""Nurture sequences by themselves: the timer that does a lead's due step, the policy that
enrols leads matching a sequence's `enrol_when`, and the policy that ends a lead's enrolments
when the person engages for real (a reply, a meeting, a demo), the lead closes, or email consent
is withdrawn.

A step is dated at its timer's due time, however late the scheduler ran; what the policies do is
dated by the automation's clock, like every automated command (a simulation's clock, in a
simulation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.nurture import NurtureExitReason
from domain.nurture_enrolments import NURTURE_TIMER
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication
from services.app.timers import StoredTimer

POLICY = "nurture"
"""The policy the step timers act for: their events' actor is `automation:nurture`."""
KIND = NURTURE_TIMER

EXITING_INTERACTIONS: dict[str, NurtureExitReason] = {
    "email_reply": NurtureExitReason.REPLY,
    "meeting": NurtureExitReason.MEETING,
    "demo": NurtureExitReason.DEMO,
}
"""The interactions after which a lead needs a person, not a sequence."""


def perform_step_when_due(app: CrmApplication, stored: StoredTimer, ctx: Context) -> None:
    """Do the step the timer names, dated at its due time (nothing when the enrolment ended)."""
    timer = stored.timer
    app.perform_nurture_step(
        timer.aggregate_id,
        str(timer.payload["sequence"]),
        int(timer.payload["enrolment"]),
        int(timer.payload["step"]),
        ctx,
        timer.due_at,
    )


def exit_reason(record: EventRecord) -> NurtureExitReason | None:
    """Why an event ends a lead's enrolments, if it does."""
    if record.event_type == "lead.interaction_logged":
        return EXITING_INTERACTIONS.get(str(record.data["kind"]))
    if record.event_type == "lead.converted":
        return NurtureExitReason.CONVERTED
    if record.event_type == "lead.disqualified":
        return NurtureExitReason.DISQUALIFIED
    if record.event_type == "lead.consent_changed":
        withdrawn = str(record.data["channel"]) == "email" and record.data["granted"] is False
        return NurtureExitReason.CONSENT_WITHDRAWN if withdrawn else None
    return None


@dataclass(frozen=True)
class NurtureExits:
    """Ends every active enrolment of a lead that replied, met us, saw a demo, was converted or
    disqualified, or withdrew email consent."""

    name: str = "nurture_exits"
    event_types: frozenset[str] = field(
        default=frozenset({"lead.interaction_logged", "lead.converted", "lead.disqualified", "lead.consent_changed"})
    )

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        """Exit the lead's enrolments when the event is a reason to."""
        reason = exit_reason(record)
        if reason is not None:
            app.exit_sequences(record.aggregate_id, reason, ctx)


@dataclass(frozen=True)
class NurtureEnrolment:
    """Enrols a captured or rescored lead in every sequence whose `enrol_when` it now matches and
    that it was never enrolled in (a lead that left a sequence goes back only by hand)."""

    name: str = "nurture_enrolment"
    event_types: frozenset[str] = field(default=frozenset({"lead.captured", "lead.scored"}))

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        """Enrol the lead by the sequences' rules."""
        app.enrol_by_rules(record.aggregate_id, ctx)
