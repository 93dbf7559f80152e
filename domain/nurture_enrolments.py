"""A lead's enrolments in nurture sequences: the rules, written once, that the Lead aggregate
takes on (`NurtureEnrolments`), and what an enrolment is (`NurtureEnrolment`).

A lead has at most one active enrolment per sequence; once it ended (completed or exited) the
lead may be enrolled again, and that enrolment gets the next number. Each step is driven by a
timer (kind `nurture_step`, id `nurture:<lead>:<sequence>:<enrolment>:<step>`) asked for with the
event that makes the step the next one: the enrolment for step 0, each step's own event for the
one after. A timer that fires for a step that is no longer next (the enrolment ended, or was
followed by another) does nothing.

eventsourcing nests an aggregate's events in its class, so Lead declares the `Nurture*` events
and its `@event` methods hand them to the `_apply_nurture_*` helpers below."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID, uuid5

from domain.calendar import BusinessCalendar
from domain.errors import AlreadyEnrolled, NotEnrolled
from domain.nurture import NurtureExitReason, NurtureSequence, NurtureStep, StepSkipReason, TaskAction, steps_of
from domain.timers import Timer
from domain.values import LeadSource, Meta

NURTURE_TIMER = "nurture_step"
"""The kind of the timers that perform a nurture step when it is due."""

EnrolmentStatus = Literal["active", "completed", "exited"]


def nurture_timer_id(lead_id: UUID, sequence: str, enrolment: int, step: int) -> str:
    """The name of the timer of one step of one enrolment: one timer per step, never reused."""
    return f"nurture:{lead_id}:{sequence}:{enrolment}:{step}"


def nurture_task_id(lead_id: UUID, sequence: str, enrolment: int, step: int) -> UUID:
    """The id of the task a task step adds: the same however often the step is tried."""
    return uuid5(lead_id, f"nurture:{sequence}:{enrolment}:{step}")


@dataclass(frozen=True)
class NurtureEnrolment:
    """One enrolment of a lead in a sequence, with the steps it was enrolled with."""

    sequence: str
    number: int
    """1 for the lead's first enrolment in the sequence, 2 for the next, ..."""
    steps: tuple[NurtureStep, ...]
    enrolled_at: datetime
    next_step: int = 0
    """The index of the step to do next (the number of steps done)."""
    status: EnrolmentStatus = "active"
    exit_reason: str | None = None
    ended_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """True until the enrolment completed or exited."""
        return self.status == "active"


class NurtureEnrolments:
    """The nurture behaviour of a lead: enrol, perform the due step, exit. The lead provides
    the state and guards named below, and an `@event` method per `Nurture*` event."""

    id: UUID
    nurtures: dict[str, NurtureEnrolment]
    """The latest enrolment per sequence name."""
    score: int
    source: LeadSource
    owner: str | None
    campaign: str | None

    # given by the aggregate: @event methods of its own nested nurture events
    _nurture_enrolled: Any
    _nurture_email_requested: Any
    _nurture_step_skipped: Any
    _nurture_task_requested: Any
    _nurture_score_checked: Any
    _nurture_exited: Any
    _nurture_completed: Any

    if TYPE_CHECKING:  # given by the aggregate; declared here for the type checker only

        def check_is_open(self) -> None: ...

        def check_not_erased(self) -> None: ...

        def check_not_before_capture(self, occurred_at: datetime) -> None: ...

        def request_timer(self, timer: Timer) -> None: ...

        def add_task(
            self, task_id: UUID, title: str, due_at: datetime, note: str | None, owner: str | None, meta: Meta
        ) -> None: ...

    # --- commands -------------------------------------------------------------------

    def enrol_in_nurture(
        self, sequence: NurtureSequence, meta: Meta, calendar: BusinessCalendar, time_zone: str | None = None
    ) -> None:
        """Start a sequence for this lead with a copy of its steps; the first is due after its
        `wait_days` business days in `time_zone` (the calendar's own when None)."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        current = self.nurtures.get(sequence.name)
        if current is not None and current.is_active:
            raise AlreadyEnrolled(
                f"lead {self.id} is already enrolled in sequence {sequence.name!r} "
                f"(enrolment {current.number}, since {current.enrolled_at.isoformat()})"
            )
        number = 1 if current is None else current.number + 1
        self._nurture_enrolled(
            sequence=sequence.name, enrolment=number, steps=sequence.step_snapshots(), **meta.fields()
        )
        self._request_nurture_step(self.nurtures[sequence.name], meta.occurred_at, calendar, time_zone)

    def enrol_by_rules(
        self,
        sequences: Iterable[NurtureSequence],
        meta: Meta,
        calendar: BusinessCalendar,
        time_zone: str | None = None,
    ) -> list[str]:
        """Enrol the lead in every sequence whose `enrol_when` it matches now and that it was
        never enrolled in: a lead that left a sequence is not put back into it by a later score
        change (only by hand). Returns the names of the sequences it was enrolled in."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        enrolled = []
        for sequence in sequences:
            rule = sequence.enrol_when
            if rule is None or sequence.name in self.nurtures:
                continue
            if rule.matches(self.source, self.campaign, self.score):
                self.enrol_in_nurture(sequence, meta, calendar, time_zone)
                enrolled.append(sequence.name)
        return enrolled

    def perform_nurture_step(
        self,
        sequence: str,
        enrolment: int,
        step: int,
        meta: Meta,
        calendar: BusinessCalendar,
        time_zone: str | None = None,
        email_consent: bool | None = None,
    ) -> bool:
        """Do a due step of an enrolment, when it is still that enrolment's next step (an ended
        enrolment, or a step done already, does nothing: returns False). `email_consent` is the
        person's email consent now: True, False (withdrawn) or None (never stated)."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        current = self.nurtures.get(sequence)
        if current is None or current.number != enrolment or not current.is_active or current.next_step != step:
            return False
        action = current.steps[step]
        where: dict[str, Any] = {"sequence": sequence, "enrolment": enrolment, "step": step, **meta.fields()}
        if action.email is not None:
            if email_consent is True:
                self._nurture_email_requested(template=action.email.template, **where)
            else:
                self._nurture_step_skipped(reason=StepSkipReason.NO_CONSENT.value, **where)
        elif action.task is not None:
            self._request_nurture_task(action.task, where, meta, calendar, time_zone)
        elif action.score_check is not None:
            if self.score < action.score_check.min_score:
                self._nurture_exited(reason=NurtureExitReason.SCORE_BELOW_THRESHOLD.value, **_ending(where))
                return True
            self._nurture_score_checked(score=self.score, min_score=action.score_check.min_score, **where)
        self._after_step(self.nurtures[sequence], meta, calendar, time_zone)
        return True

    def exit_nurture(self, sequence: str, reason: NurtureExitReason, meta: Meta) -> None:
        """End the lead's active enrolment in a sequence before its last step. A closed lead can
        still leave its sequences (its conversion is one reason to)."""
        self.check_not_erased()
        self.check_not_before_capture(meta.occurred_at)
        current = self.nurtures.get(sequence)
        if current is None or not current.is_active:
            raise NotEnrolled(f"lead {self.id} has no active enrolment in sequence {sequence!r}")
        self._nurture_exited(sequence=sequence, enrolment=current.number, reason=reason.value, **meta.fields())

    def exit_nurtures(self, reason: NurtureExitReason, meta: Meta) -> list[str]:
        """End every active enrolment of the lead; returns the sequences it left (none is fine)."""
        active = sorted(name for name, enrolment in self.nurtures.items() if enrolment.is_active)
        for name in active:
            self.exit_nurture(name, reason, meta)
        return active

    # --- reads ----------------------------------------------------------------------

    @property
    def active_nurtures(self) -> list[NurtureEnrolment]:
        """The lead's enrolments under way, by sequence name."""
        return [e for _, e in sorted(self.nurtures.items()) if e.is_active]

    # --- steps ----------------------------------------------------------------------

    def _request_nurture_task(
        self,
        task: TaskAction,
        where: Mapping[str, Any],
        meta: Meta,
        calendar: BusinessCalendar,
        time_zone: str | None,
    ) -> None:
        """The task step: a follow-up task (`lead.task_created`) for the lead's owner, due
        `due_in_days` business days after the step, and the step's record of it."""
        due_at = calendar.add_business_days(meta.occurred_at, task.due_in_days or 0, time_zone)
        task_id = nurture_task_id(self.id, where["sequence"], where["enrolment"], where["step"])
        self.add_task(task_id, task.title, due_at, None, self.owner, meta)
        self._nurture_task_requested(task_id=task_id, **where)

    def _after_step(
        self, enrolment: NurtureEnrolment, meta: Meta, calendar: BusinessCalendar, time_zone: str | None
    ) -> None:
        """After a step: the sequence is complete, or the next step is due after its wait."""
        if enrolment.next_step >= len(enrolment.steps):
            self._nurture_completed(sequence=enrolment.sequence, enrolment=enrolment.number, **meta.fields())
        else:
            self._request_nurture_step(enrolment, meta.occurred_at, calendar, time_zone)

    def _request_nurture_step(
        self, enrolment: NurtureEnrolment, after: datetime, calendar: BusinessCalendar, time_zone: str | None
    ) -> None:
        """Ask for the timer of the enrolment's next step, `wait_days` business days after `after`."""
        index = enrolment.next_step
        self.request_timer(
            Timer(
                timer_id=nurture_timer_id(self.id, enrolment.sequence, enrolment.number, index),
                kind=NURTURE_TIMER,
                aggregate_id=self.id,
                due_at=calendar.add_business_days(after, enrolment.steps[index].wait_days, time_zone),
                payload={"sequence": enrolment.sequence, "enrolment": enrolment.number, "step": index},
            )
        )

    # --- event application: deterministic, re-run on every load -----------------------

    def _apply_nurture_enrolled(
        self, sequence: str, enrolment: int, steps: Sequence[Mapping[str, Any]], occurred_at: datetime
    ) -> None:
        self.nurtures[sequence] = NurtureEnrolment(sequence, enrolment, steps_of(steps), occurred_at)

    def _apply_nurture_step_done(self, sequence: str, step: int) -> None:
        self.nurtures[sequence] = replace(self.nurtures[sequence], next_step=step + 1)

    def _apply_nurture_ended(
        self, sequence: str, status: EnrolmentStatus, reason: str | None, occurred_at: datetime
    ) -> None:
        self.nurtures[sequence] = replace(
            self.nurtures[sequence], status=status, exit_reason=reason, ended_at=occurred_at
        )


def _ending(where: Mapping[str, Any]) -> dict[str, Any]:
    """A step's fields without the step: what an exit records."""
    return {name: value for name, value in where.items() if name != "step"}
