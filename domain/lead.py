"""The Lead aggregate: a person who showed interest, on their way through the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.consent import ConsentStatement, check_consent_changes, check_outbound_allowed
from domain.errors import (
    AlreadyAssigned,
    HoldsMergedRecords,
    InvalidStageTransition,
    LeadAlreadyConverted,
    LeadAlreadyDisqualified,
    MergeFinal,
    MergeIntoItself,
    NotMerged,
    OccurredBeforeCreation,
    PersonErased,
    RecordMerged,
)
from domain.events import CrmAggregate, CrmEvent
from domain.merging import MergedLeadFigures, absorbed_totals
from domain.money import Money
from domain.nurture_enrolments import NurtureEnrolment, NurtureEnrolments
from domain.personal_data import erased_details
from domain.scoring import (
    DEFAULT_MODEL,
    LeadFacts,
    ScoredInteraction,
    ScoringModel,
    next_score_change,
    score_lead,
)
from domain.tasks import FollowUpTasks, Task
from domain.timers import Timer
from domain.values import ConsentChannel, InteractionKind, LeadSource, Meta, Stage

DECAY_TIMER = "decay"
"""The kind of the timer that rescores a lead when decay changes its rounded score."""
DECAY_REASON = "decay"
"""The reason of a `Scored` event that decay alone caused."""


class Lead(NurtureEnrolments, FollowUpTasks, CrmAggregate):
    """A lead is captured, engaged, scored, assigned and moved through stages until it is
    converted into a contact (won) or disqualified (lost). It carries follow-up tasks while open
    (`domain.tasks`) and can be enrolled in nurture sequences (`domain.nurture_enrolments`)."""

    id: UUID  # always given: uuid4, or uuid5 of an idempotency key

    class Event(CrmEvent):
        """A lead's event: who did it, in which request, and when it happened (see CrmEvent)."""

    class Captured(Event, Aggregate.Created):
        class_version = 2
        name: str
        email: str | None
        company: str | None
        phone: str | None
        title: str | None
        source: str
        campaign: str | None
        estimated_value: int | None
        currency: str
        owner: str | None
        contact_id: UUID | None
        interest: str | None
        country: str | None
        """ISO 3166-1 alpha-2, upper-case; since version 2."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A lead captured before countries were recorded has none."""
            state["country"] = None

    class InteractionLogged(Event):
        class_version = 1
        kind: str
        detail: str | None

    class Scored(Event):
        class_version = 1
        score: int
        previous_score: int
        reason: str
        model_version: str
        breakdown: dict[str, float]

    class Assigned(Event):
        class_version = 2
        owner: str
        previous_owner: str | None
        reason: str | None
        """Why: the assignment rule that chose the owner, or what the person said; since version 2."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """An assignment from before reasons were recorded has none."""
            state["reason"] = None

    class StageChanged(Event):
        class_version = 1
        stage: str
        previous_stage: str

    class Disqualified(Event):
        class_version = 1
        reason: str
        previous_stage: str

    class Converted(Event):
        class_version = 1
        contact_id: UUID
        deal_value: int
        currency: str
        previous_stage: str

    class ConsentChanged(Event):
        """The person granted or withdrew consent for one channel. `carried_from` is the contact
        whose consent a reactivation lead started from; None when it was stated on the lead."""

        class_version = 1
        channel: str
        granted: bool
        carried_from: UUID | None

    class Erased(Event):
        """The person's personal data was destroyed (their key shredded); holds none itself."""

        class_version = 1
        reason: str

    class TaskCreated(Event):
        """Someone is to do something about the lead by `due_at` (see domain.tasks)."""

        class_version = 1
        task_id: UUID
        title: str
        due_at: datetime
        note: str | None
        owner: str | None

    class TaskCompleted(Event):
        class_version = 1
        task_id: UUID

    class TaskRescheduled(Event):
        class_version = 1
        task_id: UUID
        due_at: datetime
        previous_due_at: datetime

    class NurtureEnrolled(Event):
        """The lead started a nurture sequence, with a copy of its steps (`NurtureStep.snapshot`)."""

        class_version = 1
        sequence: str
        enrolment: int
        steps: list[dict[str, Any]]

    class NurtureEmailRequested(Event):
        """An email step is due: the email tool is asked to send `template` to the lead."""

        class_version = 1
        sequence: str
        enrolment: int
        step: int
        template: str

    class NurtureStepSkipped(Event):
        """A step was passed over (`reason`, e.g. `no_consent`); the sequence goes on."""

        class_version = 1
        sequence: str
        enrolment: int
        step: int
        reason: str

    class NurtureTaskRequested(Event):
        """A task step added the follow-up task `task_id` (its `TaskCreated` precedes this)."""

        class_version = 1
        sequence: str
        enrolment: int
        step: int
        task_id: UUID

    class NurtureScoreChecked(Event):
        """A score check passed (`score` >= `min_score`); the sequence goes on."""

        class_version = 1
        sequence: str
        enrolment: int
        step: int
        score: int
        min_score: int

    class NurtureExited(Event):
        """The enrolment ended before its last step, for `reason`."""

        class_version = 1
        sequence: str
        enrolment: int
        reason: str

    class NurtureCompleted(Event):
        """The enrolment did its last step."""

        class_version = 1
        sequence: str
        enrolment: int

    class MergedInto(Event):
        """The lead is a duplicate of `survivor_id` and was merged into it: it takes no commands
        until it is unmerged. Its figures at the merge are those its survivor now counts."""

        class_version = 1
        survivor_id: UUID
        interactions: int
        score: int
        last_interaction_at: datetime | None

    class Absorbed(Event):
        """The lead absorbed the merged duplicate `duplicate_id` (its figures), and holds these
        totals of all its duplicates now (`domain.merging.absorbed_totals`)."""

        class_version = 1
        duplicate_id: UUID
        interactions: int
        score: int
        last_interaction_at: datetime | None
        absorbed_interactions: int
        absorbed_score: int
        absorbed_last_interaction_at: datetime | None

    class Unmerged(Event):
        """The lead is no longer merged into `survivor_id`: it stands as it did before the merge."""

        class_version = 1
        survivor_id: UUID

    class Released(Event):
        """The lead gave back the duplicate `duplicate_id`, and holds these totals of the
        duplicates it still has."""

        class_version = 1
        duplicate_id: UUID
        absorbed_interactions: int
        absorbed_score: int
        absorbed_last_interaction_at: datetime | None

    @event(Captured)
    def __init__(
        self,
        *,
        name: str,
        email: str | None,
        company: str | None,
        phone: str | None,
        title: str | None,
        source: str,
        campaign: str | None,
        estimated_value: int | None,
        currency: str,
        owner: str | None,
        contact_id: UUID | None,
        interest: str | None,
        country: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.name = name
        self.email = email
        self.company = company
        self.phone = phone
        self.title = title
        self.source = LeadSource(source)
        self.campaign = campaign
        self.estimated_value = estimated_value
        self.currency = currency
        self.owner = owner
        self.contact_id = contact_id
        self.interest = interest
        self.country = country
        self.captured_at = occurred_at
        self.stage = Stage.NEW
        self.stage_entered_at = occurred_at
        self.score = 0
        self.scored_at = occurred_at
        """The business time of its latest score."""
        self.score_breakdown: dict[str, float] = {}
        self.score_model_version: str | None = None
        self.interactions: list[ScoredInteraction] = []
        self.converted_contact_id: UUID | None = None
        self.deal_value: int | None = None
        self.disqualified_reason: str | None = None
        self.closed_at: datetime | None = None
        self.erased_at: datetime | None = None
        self.consents: dict[str, bool] = {}
        self.own_consent: dict[str, ConsentStatement] = {}
        """The latest statement per channel made on this lead itself (not carried over)."""
        self.tasks: dict[UUID, Task] = {}
        self.nurtures: dict[str, NurtureEnrolment] = {}
        self.merged_into: UUID | None = None
        """The survivor this lead was merged into, while it is merged."""
        self.absorbed: dict[UUID, MergedLeadFigures] = {}
        """The duplicates merged into this lead, with what each brought."""

    # --- commands -------------------------------------------------------------------

    @classmethod
    def capture(
        cls,
        *,
        lead_id: UUID,
        meta: Meta,
        model: ScoringModel = DEFAULT_MODEL,
        **details: Any,
    ) -> Lead:
        """Capture a new lead and give it its first score from what we know about it."""
        lead = cls(id=lead_id, **details, **meta.fields())  # type: ignore[call-arg]
        lead._rescore(meta, model, reason="captured")
        return lead

    def log_interaction(
        self,
        kind: InteractionKind,
        detail: str | None,
        meta: Meta,
        model: ScoringModel = DEFAULT_MODEL,
    ) -> None:
        """Record an interaction; rescore when the rounded score changes."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        check_outbound_allowed(f"lead {self.id}", kind, self.consents)
        self._interaction_logged(kind=kind.value, detail=detail, **meta.fields())
        self._rescore(meta, model, reason=f"interaction:{kind.value}")

    def rescore(self, meta: Meta, model: ScoringModel = DEFAULT_MODEL, reason: str = DECAY_REASON) -> bool:
        """Apply time decay as of `meta.occurred_at`; returns whether a `Scored` event was emitted."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        return self._rescore(meta, model, reason=reason)

    def assign(self, owner: str, meta: Meta, reason: str | None = None) -> None:
        """Give the lead to a sales rep (with why: an assignment rule's name, say)."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        if owner == self.owner:
            raise AlreadyAssigned(f"lead {self.id} is already assigned to {owner!r}")
        self._assigned(owner=owner, previous_owner=self.owner, reason=reason, **meta.fields())

    def change_stage(self, stage: Stage, meta: Meta) -> None:
        """Move the lead between open stages (forwards or back)."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        if not stage.is_open:
            raise InvalidStageTransition(
                f"stage {stage.value!r} is reached by converting or disqualifying, not by a stage change"
            )
        if stage == self.stage:
            raise InvalidStageTransition(f"lead {self.id} is already in stage {stage.value!r}")
        self._stage_changed(stage=stage.value, previous_stage=self.stage.value, **meta.fields())

    def disqualify(self, reason: str, meta: Meta) -> None:
        """Close the lead as lost, with the reason."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        self._disqualified(reason=reason, previous_stage=self.stage.value, **meta.fields())

    def convert(self, contact_id: UUID, deal: Money, meta: Meta) -> None:
        """Close the lead as won: it becomes (or returns to) the given contact."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        self._converted(
            contact_id=contact_id,
            deal_value=deal.amount,
            currency=deal.currency,
            previous_stage=self.stage.value,
            **meta.fields(),
        )

    def change_consent(self, channel: ConsentChannel, granted: bool, meta: Meta) -> None:
        """Grant or withdraw consent for one channel, as the person stated it on this lead."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        check_consent_changes(f"lead {self.id}", channel, granted, self.consents)
        self._consent_changed(channel=channel.value, granted=granted, carried_from=None, **meta.fields())

    def carry_consent_over(self, contact_id: UUID, consents: Mapping[str, bool], meta: Meta) -> None:
        """Start from the consent of the contact this lead follows up (a reactivation), so that
        what the contact withdrew stays withdrawn on the new lead."""
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        for channel in ConsentChannel:
            granted = consents.get(channel.value)
            if granted is not None and self.consents.get(channel.value) is not granted:
                self._consent_changed(channel=channel.value, granted=granted, carried_from=contact_id, **meta.fields())

    def erase(self, reason: str, meta: Meta) -> None:
        """Record that the person's personal data was erased; the lead takes no more commands."""
        self.check_not_erased()
        self._erased(reason=reason, **meta.fields())

    def merge_into(self, survivor: Lead, meta: Meta) -> None:
        """Merge this lead, a duplicate, into `survivor`: both open, neither merged, this one
        holding no duplicates of its own. Emits `MergedInto` here and `Absorbed` on the survivor,
        which the caller saves together."""
        if survivor.id == self.id:
            raise MergeIntoItself("into", f"lead {self.id} cannot be merged into itself")
        self.check_is_open()
        self.check_not_before_capture(meta.occurred_at)
        if self.absorbed:
            held = ", ".join(sorted(str(i) for i in self.absorbed))
            raise HoldsMergedRecords(f"lead {self.id} holds merged duplicates ({held}); unmerge them first")
        survivor.check_is_open()
        survivor.check_not_before_capture(meta.occurred_at)
        figures = self.merge_figures
        self._merged_into(
            survivor_id=survivor.id,
            interactions=figures.interactions,
            score=figures.score,
            last_interaction_at=figures.last_interaction_at,
            **meta.fields(),
        )
        totals = absorbed_totals([*survivor.absorbed.values(), figures])
        survivor._absorbed(
            duplicate_id=self.id,
            interactions=figures.interactions,
            score=figures.score,
            last_interaction_at=figures.last_interaction_at,
            **totals,
            **meta.fields(),
        )

    def unmerge(self, survivor: Lead, meta: Meta, model: ScoringModel = DEFAULT_MODEL) -> None:
        """Undo this lead's merge into `survivor` (emits `Unmerged` here and `Released` there):
        only while the survivor is open and not erased, since a closed survivor's outcome counted
        the duplicate's figures."""
        self.check_not_erased()
        self.check_merged()
        if survivor.id != self.merged_into or self.id not in survivor.absorbed:
            raise ValueError(f"lead {self.id} is merged into {self.merged_into}, not into {survivor.id}")
        if survivor.erased_at is not None or not survivor.is_open:
            what = "erased" if survivor.erased_at is not None else survivor.stage.value
            raise MergeFinal(f"lead {self.id} stays merged: lead {survivor.id}, which absorbed it, was {what}")
        self.check_not_before_capture(meta.occurred_at)
        survivor.check_not_before_capture(meta.occurred_at)
        self._unmerged(survivor_id=survivor.id, **meta.fields())
        remaining = [f for duplicate, f in survivor.absorbed.items() if duplicate != self.id]
        survivor._released(duplicate_id=self.id, **absorbed_totals(remaining), **meta.fields())
        # a decay timer due while it was merged was passed over: ask for it again, computed from
        # its last score as before the merge, so that it decays as though it had never been merged
        at = max([self.scored_at, *(i.occurred_at for i in self.interactions)])
        self._request_decay_timer(at, model)

    # --- guards ---------------------------------------------------------------------

    def check_not_erased(self) -> None:
        """An erased lead keeps its history and numbers but takes no more commands."""
        if self.erased_at is not None:
            raise PersonErased(f"lead {self.id} was erased")

    @property
    def is_open(self) -> bool:
        """True until the lead is converted or disqualified."""
        return self.stage.is_open

    def check_merged(self) -> None:
        """Only a merged duplicate is unmerged."""
        if self.merged_into is None:
            raise NotMerged(f"lead {self.id} is not merged into another lead")

    def check_not_merged(self) -> None:
        """A merged duplicate takes no commands until it is unmerged."""
        if self.merged_into is not None:
            raise RecordMerged(f"lead {self.id} is merged into lead {self.merged_into}; unmerge it first")

    def check_is_open(self) -> None:
        """A converted, disqualified, erased or merged lead takes no more commands."""
        self.check_not_erased()
        self.check_not_merged()
        if self.stage == Stage.CONVERTED:
            raise LeadAlreadyConverted(f"lead {self.id} was converted into contact {self.converted_contact_id}")
        if self.stage == Stage.DISQUALIFIED:
            raise LeadAlreadyDisqualified(f"lead {self.id} was disqualified: {self.disqualified_reason}")

    def check_takes_new_tasks(self, occurred_at: datetime) -> None:
        """Tasks are added to (and rescheduled on) open leads only: a converted lead's follow-up
        belongs on its contact."""
        self.check_is_open()
        self.check_not_before_capture(occurred_at)

    def check_takes_task_completion(self, occurred_at: datetime) -> None:
        """A task is completed even on a closed lead, so that its follow-ups do not stay open for
        ever; an erased or merged lead takes nothing."""
        self.check_not_erased()
        self.check_not_merged()
        self.check_not_before_capture(occurred_at)

    def check_not_before_capture(self, occurred_at: datetime) -> None:
        """Nothing can happen to a lead, in business time, before it was captured."""
        if occurred_at < self.captured_at:
            raise OccurredBeforeCreation(
                f"occurred_at {occurred_at.isoformat()} is before the lead was captured "
                f"({self.captured_at.isoformat()})"
            )

    # --- queries --------------------------------------------------------------------

    def has_consent(self, channel: ConsentChannel) -> bool | None:
        """True when granted, False when withdrawn, None when never stated; an automated email
        needs True."""
        return self.consents.get(channel.value)

    def own_consent_statements(self) -> list[ConsentStatement]:
        """What the person stated on this lead itself, latest per channel: what its contact
        takes over when the lead converts."""
        return list(self.own_consent.values())

    @property
    def merge_figures(self) -> MergedLeadFigures:
        """What this lead brings to a survivor it is merged into: its interactions, its score."""
        lasts = [i.occurred_at for i in self.interactions]
        return MergedLeadFigures(len(self.interactions), self.score, max(lasts, default=None))

    # --- scoring ----------------------------------------------------------------------

    @property
    def facts(self) -> LeadFacts:
        """What the scoring function knows about who this lead is."""
        return LeadFacts(title=self.title, company=self.company, source=self.source)

    def _rescore(self, meta: Meta, model: ScoringModel, reason: str) -> bool:
        # Score as of the latest business time the lead has seen, so a back-dated interaction
        # (an import, a late webhook) does not treat the newer ones as still in the future.
        at = max([meta.occurred_at, *(i.occurred_at for i in self.interactions)])
        score = score_lead(self.facts, self.interactions, at, model)
        if score.value == self.score:
            # The timer set with the last score is due no later than decay will now change it (an
            # interaction only delays the fall): it fires, finds nothing to change, and re-arms here.
            if reason == DECAY_REASON:
                self._request_decay_timer(at, model)
            return False
        self._request_decay_timer(at, model)
        self._scored(
            score=score.value,
            previous_score=self.score,
            reason=reason,
            model_version=model.version,
            breakdown=score.breakdown,
            **meta.fields(),
        )
        return True

    def _request_decay_timer(self, at: datetime, model: ScoringModel) -> None:
        """Ask to be rescored when decay next changes the rounded score, so that lists by score
        stay current without rescoring every lead every minute."""
        due = next_score_change(self.facts, self.interactions, at, model)
        if due is not None:
            self.request_timer(
                Timer(timer_id=f"{DECAY_TIMER}:{self.id}", kind=DECAY_TIMER, aggregate_id=self.id, due_at=due)
            )

    # --- event application: deterministic, re-run on every load -----------------------

    @event(InteractionLogged)
    def _interaction_logged(
        self, *, kind: str, detail: str | None, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.interactions.append(ScoredInteraction(kind=InteractionKind(kind), occurred_at=occurred_at))

    @event(Scored)
    def _scored(
        self,
        *,
        score: int,
        previous_score: int,
        reason: str,
        model_version: str,
        breakdown: dict[str, float],
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.score = score
        self.scored_at = occurred_at
        self.score_breakdown = dict(breakdown)
        self.score_model_version = model_version

    @event(Assigned)
    def _assigned(
        self,
        *,
        owner: str,
        previous_owner: str | None,
        reason: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.owner = owner

    @event(StageChanged)
    def _stage_changed(
        self, *, stage: str, previous_stage: str, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.stage = Stage(stage)
        self.stage_entered_at = occurred_at

    @event(Disqualified)
    def _disqualified(
        self, *, reason: str, previous_stage: str, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.stage = Stage.DISQUALIFIED
        self.stage_entered_at = occurred_at
        self.disqualified_reason = reason
        self.closed_at = occurred_at

    @event(Converted)
    def _converted(
        self,
        *,
        contact_id: UUID,
        deal_value: int,
        currency: str,
        previous_stage: str,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.stage = Stage.CONVERTED
        self.stage_entered_at = occurred_at
        self.converted_contact_id = contact_id
        self.deal_value = deal_value
        self.currency = currency
        self.closed_at = occurred_at

    @event(ConsentChanged)
    def _consent_changed(
        self,
        *,
        channel: str,
        granted: bool,
        carried_from: UUID | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.consents[channel] = granted
        if carried_from is None:
            self.own_consent[channel] = ConsentStatement(ConsentChannel(channel), granted, occurred_at)

    @event(Erased)
    def _erased(self, *, reason: str, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        for field, value in erased_details().items():
            setattr(self, field, value)
        self._forget_task_texts()
        self.erased_at = occurred_at

    @event(TaskCreated)
    def _task_created(
        self,
        *,
        task_id: UUID,
        title: str,
        due_at: datetime,
        note: str | None,
        owner: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_task_created(task_id, title, due_at, note, owner, actor, occurred_at)

    @event(TaskCompleted)
    def _task_completed(self, *, task_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self._apply_task_completed(task_id, occurred_at)

    @event(TaskRescheduled)
    def _task_rescheduled(
        self,
        *,
        task_id: UUID,
        due_at: datetime,
        previous_due_at: datetime,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_task_rescheduled(task_id, due_at)

    @event(NurtureEnrolled)
    def _nurture_enrolled(
        self,
        *,
        sequence: str,
        enrolment: int,
        steps: list[dict[str, Any]],
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_nurture_enrolled(sequence, enrolment, steps, occurred_at)

    @event(NurtureEmailRequested)
    def _nurture_email_requested(
        self,
        *,
        sequence: str,
        enrolment: int,
        step: int,
        template: str,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_nurture_step_done(sequence, step)

    @event(NurtureStepSkipped)
    def _nurture_step_skipped(
        self,
        *,
        sequence: str,
        enrolment: int,
        step: int,
        reason: str,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_nurture_step_done(sequence, step)

    @event(NurtureTaskRequested)
    def _nurture_task_requested(
        self,
        *,
        sequence: str,
        enrolment: int,
        step: int,
        task_id: UUID,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_nurture_step_done(sequence, step)

    @event(NurtureScoreChecked)
    def _nurture_score_checked(
        self,
        *,
        sequence: str,
        enrolment: int,
        step: int,
        score: int,
        min_score: int,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_nurture_step_done(sequence, step)

    @event(NurtureExited)
    def _nurture_exited(
        self, *, sequence: str, enrolment: int, reason: str, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self._apply_nurture_ended(sequence, "exited", reason, occurred_at)

    @event(NurtureCompleted)
    def _nurture_completed(
        self, *, sequence: str, enrolment: int, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self._apply_nurture_ended(sequence, "completed", None, occurred_at)

    @event(MergedInto)
    def _merged_into(
        self,
        *,
        survivor_id: UUID,
        interactions: int,
        score: int,
        last_interaction_at: datetime | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.merged_into = survivor_id

    @event(Absorbed)
    def _absorbed(
        self,
        *,
        duplicate_id: UUID,
        interactions: int,
        score: int,
        last_interaction_at: datetime | None,
        absorbed_interactions: int,
        absorbed_score: int,
        absorbed_last_interaction_at: datetime | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.absorbed[duplicate_id] = MergedLeadFigures(interactions, score, last_interaction_at)

    @event(Unmerged)
    def _unmerged(self, *, survivor_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.merged_into = None

    @event(Released)
    def _released(
        self,
        *,
        duplicate_id: UUID,
        absorbed_interactions: int,
        absorbed_score: int,
        absorbed_last_interaction_at: datetime | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.absorbed.pop(duplicate_id, None)
