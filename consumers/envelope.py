"""The public event message: what the relay publishes to Kafka and what consumers read.

One message per event, JSON in UTF-8, keyed by the aggregate id (so per-aggregate order holds):
an `Envelope` of metadata plus the event's own `data`, whose shape is fixed per event type by the
`*Data` models below. Those models are the published contract: `python -m
consumers.envelope_schema` turns them into docs/events/*.schema.json and docs/asyncapi.yaml,
and `tests/unit/test_envelope.py` keeps them in step with the domain's event classes.

Never publish Python topics or pickled state; only what is declared here.

This module is shared by the relay and the consumers (both in `consumers/`) and by tests; it has
no Kafka client import, so projections stay free of Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.assignment import Strategy
from domain.catalogue import event_classes
from domain.events import event_id_of
from domain.personal_data import PERSONAL_EVENT_FIELDS
from domain.team import TeamRole
from domain.values import ConsentChannel, InteractionKind, LeadSource, Stage
from projections.event_record import EventRecord

# --- topics and keys ---------------------------------------------------------------------

LEAD_TOPIC = "crm.lead.events.v1"
CONTACT_TOPIC = "crm.contact.events.v1"
WORKSPACE_TOPIC = "crm.workspace.events.v1"
DEAD_LETTER_TOPIC = "crm.dead-letter.v1"

_TOPICS = {"lead": LEAD_TOPIC, "contact": CONTACT_TOPIC, "workspace": WORKSPACE_TOPIC, "webhook": WORKSPACE_TOPIC}
"""Webhook subscriptions are the workspace's configuration too: their events share its topic."""
_TOPICS["campaign"] = WORKSPACE_TOPIC  # campaign spend is business data of no person: no topic of its own

DEAD_LETTER_HEADERS: dict[str, str] = {
    "error": "why the message could not be consumed: the exception type and message",
    "source-topic": "the topic the message was read from",
    "source-partition": "its partition (decimal)",
    "source-offset": "its offset in that partition (decimal)",
    "projection": "the projection whose consumer gave up on it",
}
"""Headers (UTF-8 text) of a dead-lettered message, whose key and value are the original's."""


def topic_for(aggregate_type: str) -> str:
    """The topic of an aggregate type's events: `lead` -> crm.lead.events.v1."""
    try:
        return _TOPICS[aggregate_type]
    except KeyError:
        raise ValueError(f"no topic for aggregate type {aggregate_type!r}; known: {', '.join(_TOPICS)}") from None


def message_key(envelope: Envelope) -> bytes:
    """The Kafka message key: the aggregate id as text, UTF-8, so one aggregate is one partition."""
    return str(envelope.aggregate_id).encode()


# --- errors ------------------------------------------------------------------------------


class SchemaError(ValueError):
    """A message is not a valid envelope, or its data does not match its event type."""


# --- the data of each event type ---------------------------------------------------------

Uuid = Annotated[UUID, Field(strict=False)]
"""A UUID: `uuid.UUID` in Python, its canonical string in JSON."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic code, e.g. USD."""

SourceValue = Annotated[LeadSource, Field(strict=False)]
StageValue = Annotated[Stage, Field(strict=False)]
KindValue = Annotated[InteractionKind, Field(strict=False)]
ChannelValue = Annotated[ConsentChannel, Field(strict=False)]

Points = Annotated[float, Field(allow_inf_nan=False)]

Instant = Annotated[AwareDatetime, Field(strict=False)]
"""An aware datetime: `datetime` in Python, RFC 3339 with an offset in JSON."""

DetailName = Literal["name", "email", "phone", "company", "title"]
"""The contact details an update can change (domain.contact.UPDATABLE_DETAILS)."""

CountryValue = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code, upper-case, e.g. DE."""

RoleValue = Annotated[TeamRole, Field(strict=False)]
StrategyValue = Annotated[Strategy, Field(strict=False)]

UserField = Literal["name", "role", "active", "away", "daily_capacity", "time_zone"]
"""What an update can change about a user (domain.team.USER_FIELDS)."""


class EventData(BaseModel):
    """The `data` of an event: its own fields, every one present (null where allowed)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        use_enum_values=True,
        use_attribute_docstrings=True,
    )


class LeadCapturedData(EventData):
    """A new lead was captured (it may also be a returning contact's new interest)."""

    name: str
    """The person's name."""
    email: str | None
    """Email address as given."""
    company: str | None
    """Company name."""
    phone: str | None
    """Phone number as given."""
    title: str | None
    """Job title."""
    source: SourceValue
    """Where the lead came from."""
    campaign: str | None
    """The marketing campaign, if any."""
    estimated_value: int | None
    """Expected deal size in integer minor units of `currency` (cents for USD)."""
    currency: Currency
    """ISO 4217 currency of `estimated_value` and of the eventual deal."""
    owner: str | None
    """The sales rep it was given to at capture, if any."""
    contact_id: Uuid | None
    """The existing contact this lead follows up (reactivation), if any."""
    interest: str | None
    """What the person is interested in."""
    country: CountryValue | None
    """The person's country, ISO 3166-1 alpha-2 (since schema version 3)."""


class LeadInteractionLoggedData(EventData):
    """The lead engaged with us (opened an email, visited, attended, replied, ...), or we sent
    them an email (`email_sent`, only while their email consent is not withdrawn)."""

    kind: KindValue
    """The kind of interaction (since schema version 3 also `email_sent` and `email_reply`)."""
    detail: str | None
    """Free text about it."""


class LeadScoredData(EventData):
    """The lead's score changed (at capture, after an interaction, or by time decay)."""

    score: int
    """The new score, 0..100."""
    previous_score: int
    """The score before this event."""
    reason: str
    """Why it was rescored, e.g. `captured`, `interaction:demo`, `decay`."""
    model_version: str
    """The version of the scoring model that computed it."""
    breakdown: dict[str, Points]
    """Points per component (engagement and fit), before rounding."""


class LeadAssignedData(EventData):
    """The lead was given to a sales rep."""

    owner: str
    """The new owner."""
    previous_owner: str | None
    """The owner before, if any."""
    reason: str | None
    """Why: the name of the assignment rule that chose the owner (actor `automation:assignment`),
    or what the person who assigned it said; null when not given. Since schema version 2."""


class LeadStageChangedData(EventData):
    """The lead moved between open pipeline stages (forwards or back)."""

    stage: StageValue
    """The stage it entered."""
    previous_stage: StageValue
    """The stage it left."""


class LeadDisqualifiedData(EventData):
    """The lead was closed as lost."""

    reason: str
    """Why."""
    previous_stage: StageValue
    """The stage it was in."""


class LeadConvertedData(EventData):
    """The lead was closed as won and became (or returned to) a contact."""

    contact_id: Uuid
    """The contact it became."""
    deal_value: int
    """The deal's value in integer minor units of `currency`."""
    currency: Currency
    """ISO 4217 currency of `deal_value`."""
    previous_stage: StageValue
    """The stage it was in."""


class LeadConsentChangedData(EventData):
    """The person granted or withdrew consent for one channel on a lead (the contact it converts
    into takes it over)."""

    channel: ChannelValue
    """The channel."""
    granted: bool
    """True when granted, false when withdrawn."""
    carried_from: Uuid | None
    """The contact whose consent a reactivation lead started from; null when stated on the lead."""


class LeadErasedData(EventData):
    """The person's personal data was erased: from now on their name reads `[erased]` and their
    email, phone, title and free text read null, in every earlier event too. A subscriber that
    keeps personal data of this lead (or of the contact it became) must delete it now."""

    reason: str
    """Why (e.g. the data subject's request); never personal data itself."""


class LeadTaskCreatedData(EventData):
    """A follow-up task was added to the lead: someone is to do something about it by `due_at`."""

    task_id: Uuid
    """The task's id (the same in every later event of the task)."""
    title: str
    """What to do (free text about the person: sealed, like `detail`)."""
    due_at: Instant
    """When it is due. RFC 3339 with an offset."""
    note: str | None
    """More about it (free text about the person: sealed, like `detail`)."""
    owner: str | None
    """Who is to do it: the lead's owner unless someone else was named."""


class LeadTaskCompletedData(EventData):
    """A follow-up task of the lead was done (at `occurred_at`)."""

    task_id: Uuid
    """The task."""


class LeadTaskRescheduledData(EventData):
    """A follow-up task of the lead is due at another time."""

    task_id: Uuid
    """The task."""
    due_at: Instant
    """When it is due now. RFC 3339 with an offset."""
    previous_due_at: Instant
    """When it was due before."""


SequenceName = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
"""A nurture sequence's name (a slug)."""

EnrolmentNumber = Annotated[int, Field(ge=1)]
StepIndex = Annotated[int, Field(ge=0)]


class NurtureEmailData(EventData):
    """An email step's action."""

    template: str
    """The email tool's template to send."""


class NurtureTaskData(EventData):
    """A task step's action."""

    title: str
    """What the lead's owner is to do."""
    due_in_days: int | None
    """Business days after the step by which it is due (null: the same day)."""


class NurtureScoreCheckData(EventData):
    """A score check's action."""

    min_score: int
    """The sequence goes on when the lead's score is at least this."""
    below: Literal["exit"]
    """What happens below it: the enrolment exits (`score_below_threshold`)."""


class NurtureStepData(EventData):
    """One step of a sequence as an enrolment recorded it: a wait, then exactly one action (the
    other two are null)."""

    wait_days: int
    """Business days waited before the action (after the enrolment, or after the step before)."""
    email: NurtureEmailData | None
    """Send an email template."""
    task: NurtureTaskData | None
    """Give the owner a task."""
    score_check: NurtureScoreCheckData | None
    """Check the lead's score."""


class LeadNurtureEnrolledData(EventData):
    """The lead started a nurture sequence. The steps are a copy of the sequence's as they were
    then: a later change of the sequence does not change this enrolment."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """1 for the lead's first enrolment in this sequence, 2 for the next, ..."""
    steps: Annotated[list[NurtureStepData], Field(min_length=1)]
    """The steps this enrolment follows, in order."""


class LeadNurtureEmailRequestedData(EventData):
    """An email step is due and the person consented to email: the email tool subscribed to this
    event is to send `template` to the lead (the CRM sends nothing itself)."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""
    step: StepIndex
    """The step's index (0 for the first) in the enrolment's steps."""
    template: str
    """The template to send."""


class LeadNurtureStepSkippedData(EventData):
    """A step was passed over; the sequence goes on with the next one."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""
    step: StepIndex
    """The step's index."""
    reason: Literal["no_consent"]
    """Why: `no_consent` for an email step without the person's email consent."""


class LeadNurtureTaskRequestedData(EventData):
    """A task step was done: it added a follow-up task for the lead's owner (the
    `lead.task_created` just before this event, with the step's title and due time)."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""
    step: StepIndex
    """The step's index."""
    task_id: Uuid
    """The task it added."""


class LeadNurtureScoreCheckedData(EventData):
    """A score check passed; the sequence goes on (one that fails exits the enrolment)."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""
    step: StepIndex
    """The step's index."""
    score: int
    """The lead's score then."""
    min_score: int
    """The step's threshold."""


NurtureExitReasonValue = Literal[
    "reply", "meeting", "demo", "converted", "disqualified", "consent_withdrawn", "score_below_threshold", "manual"
]
"""domain.nurture.NurtureExitReason."""


class LeadNurtureExitedData(EventData):
    """The enrolment ended before its last step; its remaining steps will not happen."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""
    reason: NurtureExitReasonValue
    """Why: the person replied, had a meeting or a demo, the lead was converted or disqualified,
    email consent was withdrawn, a score check failed, or someone ended it by hand."""


class LeadNurtureCompletedData(EventData):
    """The enrolment did its last step."""

    sequence: SequenceName
    """The sequence's name."""
    enrolment: EnrolmentNumber
    """Which of the lead's enrolments in it."""


class ContactCreatedData(EventData):
    """A contact was created, directly or from a converted lead."""

    name: str
    """The person's name."""
    email: str | None
    """Email address."""
    phone: str | None
    """Phone number."""
    company: str | None
    """Company name."""
    title: str | None
    """Job title."""
    external_id: str | None
    """The id in the system it was imported from, if any."""
    lead_id: Uuid | None
    """The converted lead it came from, if any."""


class ContactDetailsUpdatedData(EventData):
    """Some of the contact's details changed."""

    changes: Annotated[dict[DetailName, str | None], Field(min_length=1)]
    """The new value of each changed detail (null clears it); unchanged details are absent."""


class ContactInteractionLoggedData(EventData):
    """The contact engaged with us, or we sent them an email (`email_sent`, only while their
    email consent is not withdrawn)."""

    kind: KindValue
    """The kind of interaction (since schema version 3 also `email_sent` and `email_reply`)."""
    detail: str | None
    """Free text about it."""


class ContactPurchaseRecordedData(EventData):
    """The contact bought something; an order id is recorded once per contact."""

    order_id: str
    """The order's id in the shop or ERP."""
    amount: int
    """The order's amount in integer minor units of `currency` (cents for USD)."""
    currency: Currency
    """ISO 4217 currency of `amount`."""
    quantity: int
    """Number of items."""


class ContactReactivatedData(EventData):
    """The contact showed new interest; a new lead follows it up."""

    lead_id: Uuid
    """The new lead."""
    interest: str
    """What they are interested in now."""


class ContactLeadLinkedData(EventData):
    """Another lead of the contact's person (the same email) converted into this contact."""

    lead_id: Uuid
    """The lead; its `lead.converted` names this contact."""


class ContactConsentChangedData(EventData):
    """The contact granted or withdrew consent for one channel."""

    channel: ChannelValue
    """The channel."""
    granted: bool
    """True when granted, false when withdrawn."""


class ContactErasedData(EventData):
    """The person's personal data was erased: from now on their name reads `[erased]` and their
    email, phone, title and free text read null, in every earlier event too. A subscriber that
    keeps personal data of this contact (or of its leads) must delete it now."""

    reason: str
    """Why (e.g. the data subject's request); never personal data itself."""


class ContactTaskCreatedData(EventData):
    """A follow-up task was added to the contact: someone is to do something about it by `due_at`."""

    task_id: Uuid
    """The task's id (the same in every later event of the task)."""
    title: str
    """What to do (free text about the person: sealed, like `detail`)."""
    due_at: Instant
    """When it is due. RFC 3339 with an offset."""
    note: str | None
    """More about it (free text about the person: sealed, like `detail`)."""
    owner: str | None
    """Who is to do it: the contact's owner unless someone else was named."""


class ContactTaskCompletedData(EventData):
    """A follow-up task of the contact was done (at `occurred_at`)."""

    task_id: Uuid
    """The task."""


class ContactTaskRescheduledData(EventData):
    """A follow-up task of the contact is due at another time."""

    task_id: Uuid
    """The task."""
    due_at: Instant
    """When it is due now. RFC 3339 with an offset."""
    previous_due_at: Instant
    """When it was due before."""


class WorkspaceCreatedData(EventData):
    """The store's workspace (its team and assignment rules) was set up; its first change follows."""


class WorkspaceUserAddedData(EventData):
    """A user joined the team."""

    user_id: str
    """Their id, the one a lead's `owner` names (lowercase letters, digits, `-`, `_`, `.`, `@`)."""
    name: str
    """Their name."""
    role: RoleValue
    """What they are on the team."""
    active: bool
    """False for someone who left: they own their leads still but take no new ones."""
    away: bool
    """Away for now: assignment rules pass them over."""
    daily_capacity: int | None
    """The most leads assignment rules give them per day of theirs; null: no limit."""
    time_zone: str | None
    """The IANA time zone their day is in; null: the store's default (UTC)."""


class WorkspaceUserUpdatedData(EventData):
    """Some of a user's fields changed."""

    user_id: str
    """The user."""
    changes: Annotated[dict[UserField, str | bool | int | None], Field(min_length=1)]
    """The new value of each changed field; unchanged fields are absent."""


class RuleConditionsData(EventData):
    """Which leads a rule takes: every condition must hold; an empty list accepts any value."""

    sources: list[SourceValue]
    """The lead's source is one of these."""
    campaigns: list[str]
    """The lead's campaign is one of these."""
    countries: list[CountryValue]
    """The lead's country is one of these."""
    min_score: int | None
    """The lead scores at least this."""


class AssignmentRuleData(EventData):
    """One assignment rule."""

    name: str
    """Unique in the list."""
    when: RuleConditionsData
    """Which leads it takes."""
    strategy: StrategyValue
    """How it shares them among its reps."""
    reps: Annotated[list[str], Field(min_length=1)]
    """The users who take its leads, in order."""
    weights: dict[str, int] | None
    """For the weighted strategy: the weight of each rep; null otherwise."""


class WorkspaceAssignmentRulesReplacedData(EventData):
    """The assignment rules were replaced: `rules` is the whole ordered list from now on."""

    rules: list[AssignmentRuleData]
    """The rules, in the order they are tried: the first whose conditions a lead meets takes it."""


class NurtureEnrolWhenData(EventData):
    """Which leads a sequence takes by itself: those meeting every criterion given (null: any)."""

    sources: list[SourceValue] | None
    """The lead's source is one of these."""
    campaigns: list[str] | None
    """The lead's campaign is one of these."""
    min_score: int | None
    """The lead's score is at least this."""


class WorkspaceSequenceDefinedData(EventData):
    """A nurture sequence was defined; a name is defined once. Leads enrolled in it follow the
    copy of the steps their `lead.nurture_enrolled` holds."""

    name: SequenceName
    """The sequence's name (a slug)."""
    description: str
    """What it is for."""
    steps: Annotated[list[NurtureStepData], Field(min_length=1)]
    """The steps, in order: each waits its business days, then does its one action."""
    enrol_when: NurtureEnrolWhenData | None
    """The rule that enrols captured or rescored leads by itself; null: leads are enrolled by hand."""


class LeadMergedIntoData(EventData):
    """The lead is a duplicate and was merged into its survivor (whose `lead.absorbed` is in the
    same append): it takes no commands until `lead.unmerged`, and the read models count it with
    the survivor. A subscriber that keeps one record per person points this lead at `survivor_id`."""

    survivor_id: Uuid
    """The lead it was merged into."""
    interactions: int
    """How many interactions it had at the merge."""
    score: int
    """Its score at the merge."""
    last_interaction_at: Instant | None
    """Its latest interaction at the merge (business time), if any."""


class LeadAbsorbedData(EventData):
    """The lead absorbed a merged duplicate (whose `lead.merged_into` is in the same append)."""

    duplicate_id: Uuid
    """The lead merged into this one."""
    interactions: int
    """How many interactions the duplicate had at the merge."""
    score: int
    """The duplicate's score at the merge."""
    last_interaction_at: Instant | None
    """The duplicate's latest interaction at the merge, if any."""
    absorbed_interactions: int
    """All this lead's duplicates' interactions together, now."""
    absorbed_score: int
    """The highest score of this lead's duplicates, now."""
    absorbed_last_interaction_at: Instant | None
    """The latest interaction of any of this lead's duplicates, now."""


class LeadUnmergedData(EventData):
    """The lead is no longer merged into `survivor_id` (whose `lead.released` is in the same
    append): it stands, and counts, as before its merge."""

    survivor_id: Uuid
    """The lead it had been merged into."""


class LeadReleasedData(EventData):
    """The lead gave back a duplicate that was merged into it."""

    duplicate_id: Uuid
    """The lead unmerged from this one."""
    absorbed_interactions: int
    """The interactions of the duplicates this lead still holds."""
    absorbed_score: int
    """The highest score of the duplicates this lead still holds (0 when none)."""
    absorbed_last_interaction_at: Instant | None
    """The latest interaction of the duplicates this lead still holds, if any."""


class ContactMergedIntoData(EventData):
    """The contact is a duplicate and was merged into its survivor (whose `contact.absorbed` is
    in the same append): it takes no commands until `contact.unmerged`, and the read models count
    its purchases and interactions with the survivor's."""

    survivor_id: Uuid
    """The contact it was merged into."""


class ContactAbsorbedData(EventData):
    """The contact absorbed a merged duplicate (whose `contact.merged_into` is in the same append)."""

    duplicate_id: Uuid
    """The contact merged into this one."""


class ContactUnmergedData(EventData):
    """The contact is no longer merged into `survivor_id`: it stands, and counts, as before."""

    survivor_id: Uuid
    """The contact it had been merged into."""


class ContactReleasedData(EventData):
    """The contact gave back a duplicate that was merged into it."""

    duplicate_id: Uuid
    """The contact unmerged from this one."""


WebhookEventType = Annotated[str, Field(pattern=r"^(\*|[a-z_]+\.(\*|[a-z_]+))$")]
"""An event-type filter: `*`, `<aggregate_type>.*`, or one event type, e.g. `lead.converted`."""


class WebhookSubscribedData(EventData):
    """A tool subscribed to the CRM's events over HTTPS (Standard Webhooks). The signing secret is
    never published: only its key id."""

    url: str
    """Where the events are POSTed (https)."""
    event_types: Annotated[list[WebhookEventType], Field(min_length=1)]
    """Which events are sent: `*`, `lead.*`, or exact event types."""
    description: str | None
    """What the subscription is for."""
    active: bool
    """False: nothing is sent until it is made active."""
    key_id: str
    """The id of the signing secret (the secret itself is kept apart, never in an event)."""


class WebhookChangedData(EventData):
    """Some of a subscription's fields changed."""

    changes: Annotated[dict[Literal["url", "event_types", "description", "active"], Any], Field(min_length=1)]
    """The new value of each changed field; unchanged fields are absent."""


class WebhookSecretRotatedData(EventData):
    """A new signing secret was issued; the one before still signs until `previous_valid_until`."""

    key_id: str
    """The new secret's id."""
    previous_key_id: str
    """The id of the secret it replaces."""
    previous_valid_until: Instant
    """Until when the previous secret signs too (both signatures are sent meanwhile)."""


class WebhookDisabledData(EventData):
    """The CRM stopped sending to a subscription by itself."""

    reason: str
    """Why: the endpoint answered 410 Gone, or every retry of a delivery failed."""


class WebhookDeletedData(EventData):
    """The subscription was removed; nothing is sent to it any more."""


class CampaignCreatedData(EventData):
    """A campaign (the name a lead's `campaign` holds) got its first cost; that cost follows."""

    name: str
    """The campaign's name; the aggregate id is derived from it."""


class CampaignCostRecordedData(EventData):
    """Money was spent on a campaign, at the event's `occurred_at` in business time."""

    campaign: str
    """The campaign's name."""
    cost_id: str
    """The cost's own id (a UUID; the same for a retried request with the same idempotency key)."""
    amount: int
    """The cost in integer minor units of `currency` (more than 0)."""
    currency: Currency
    """ISO 4217 currency of `amount`."""
    note: str | None
    """Free text about the spend (e.g. the invoice); never personal data."""


EVENT_DATA_MODELS: dict[str, type[EventData]] = {
    "lead.captured": LeadCapturedData,
    "lead.interaction_logged": LeadInteractionLoggedData,
    "lead.scored": LeadScoredData,
    "lead.assigned": LeadAssignedData,
    "lead.stage_changed": LeadStageChangedData,
    "lead.disqualified": LeadDisqualifiedData,
    "lead.converted": LeadConvertedData,
    "lead.consent_changed": LeadConsentChangedData,
    "lead.erased": LeadErasedData,
    "lead.task_created": LeadTaskCreatedData,
    "lead.task_completed": LeadTaskCompletedData,
    "lead.task_rescheduled": LeadTaskRescheduledData,
    "lead.nurture_enrolled": LeadNurtureEnrolledData,
    "lead.nurture_email_requested": LeadNurtureEmailRequestedData,
    "lead.nurture_step_skipped": LeadNurtureStepSkippedData,
    "lead.nurture_task_requested": LeadNurtureTaskRequestedData,
    "lead.nurture_score_checked": LeadNurtureScoreCheckedData,
    "lead.nurture_exited": LeadNurtureExitedData,
    "lead.nurture_completed": LeadNurtureCompletedData,
    "lead.merged_into": LeadMergedIntoData,
    "lead.absorbed": LeadAbsorbedData,
    "lead.unmerged": LeadUnmergedData,
    "lead.released": LeadReleasedData,
    "contact.created": ContactCreatedData,
    "contact.details_updated": ContactDetailsUpdatedData,
    "contact.interaction_logged": ContactInteractionLoggedData,
    "contact.purchase_recorded": ContactPurchaseRecordedData,
    "contact.reactivated": ContactReactivatedData,
    "contact.consent_changed": ContactConsentChangedData,
    "contact.lead_linked": ContactLeadLinkedData,
    "contact.erased": ContactErasedData,
    "contact.task_created": ContactTaskCreatedData,
    "contact.task_completed": ContactTaskCompletedData,
    "contact.task_rescheduled": ContactTaskRescheduledData,
    "contact.merged_into": ContactMergedIntoData,
    "contact.absorbed": ContactAbsorbedData,
    "contact.unmerged": ContactUnmergedData,
    "contact.released": ContactReleasedData,
    "workspace.created": WorkspaceCreatedData,
    "workspace.user_added": WorkspaceUserAddedData,
    "workspace.user_updated": WorkspaceUserUpdatedData,
    "workspace.assignment_rules_replaced": WorkspaceAssignmentRulesReplacedData,
    "workspace.sequence_defined": WorkspaceSequenceDefinedData,
    "webhook.subscribed": WebhookSubscribedData,
    "webhook.changed": WebhookChangedData,
    "webhook.secret_rotated": WebhookSecretRotatedData,
    "webhook.disabled": WebhookDisabledData,
    "webhook.deleted": WebhookDeletedData,
    "campaign.created": CampaignCreatedData,
    "campaign.cost_recorded": CampaignCostRecordedData,
}
"""The data model of every public event type, in catalogue order."""

SEALED_SINCE = 2
"""The schema version from which an event type's personal fields are published sealed."""

CONTRACT_REVISIONS: dict[str, int] = {
    # `kind` gained email_sent and email_reply: a subscriber that validates against the older
    # enum would refuse them, so the published version moves on. The stored events did not
    # change (their field is a string), so class_version stays and no upcaster is needed.
    "lead.interaction_logged": 1,
    "contact.interaction_logged": 1,
}
"""How many times an event type's published data changed while its event class kept its shape."""

SCHEMA_VERSIONS: dict[str, int] = {
    name: int(getattr(cls, "class_version", 1))
    + (SEALED_SINCE - 1 if name in PERSONAL_EVENT_FIELDS else 0)
    + CONTRACT_REVISIONS.get(name, 0)
    for name, cls in event_classes().items()
}
"""The schema version of every event type: its event class's `class_version`, one more for the
types that carry personal fields, which are published sealed (`enc:v1:...`, see
docs/operations.md) since version 2, so that a subscriber written for plain values refuses them
instead of taking a sealed value for a name, plus its `CONTRACT_REVISIONS`."""

READABLE_OLDER_VERSIONS: dict[str, frozenset[int]] = {
    name: frozenset({SCHEMA_VERSIONS[name] - 1}) for name in CONTRACT_REVISIONS
}
"""Older schema versions this code still decodes, because their data is a subset of the current
one (an enum that only grew): a consumer upgraded before the relay, as it should be, reads what
the old relay publishes meanwhile, and what the topics hold from before, instead of parking it."""

DATA_UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("lead.captured", 2): lambda data: {**data, "country": None},
    ("lead.assigned", 1): lambda data: {**data, "reason": None},
}
"""How the data of an older schema version of an event type reads in the next version, by
(event type, older version): what the CRM's own consumers apply to messages published before
an upgrade (still in the topics, or read again by a rebuild), as the event store's upcasters
do to stored events. A version with no way up is refused as unsupported."""


def _upcast(raw: bytes) -> bytes | None:
    """A message of an older schema version as the current version would have it (its data upcast
    step by step, its schema_version the current one); None when there is no way up."""
    message = json.loads(raw)
    event_type, version, data = message.get("event_type"), message.get("schema_version"), message.get("data")
    if not isinstance(event_type, str) or type(version) is not int or not isinstance(data, dict):
        return None
    known = SCHEMA_VERSIONS.get(event_type, version)
    while version < known and (event_type, version) in DATA_UPCASTERS:
        data, version = DATA_UPCASTERS[(event_type, version)](data), version + 1
    if version != known:
        return None
    return json.dumps({**message, "schema_version": version, "data": data}, ensure_ascii=False).encode()


# --- the envelope ------------------------------------------------------------------------


class Envelope(BaseModel):
    """One CRM event as published on Kafka: who, what, when and where in the log, plus the
    event's own `data`, whose shape depends on `event_type` and `schema_version`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, use_attribute_docstrings=True)

    event_id: UUID
    """Deterministic: uuid5(89c19dac-914d-5444-844a-217505c7d113, "<aggregate_id>:<aggregate_version>").
    A republished event keeps its id: deduplicate on it."""
    event_type: Annotated[str, Field(json_schema_extra={"enum": list(EVENT_DATA_MODELS)})]
    """The public event type, `<aggregate_type>.<what_happened>`, e.g. `lead.scored`."""
    schema_version: int = Field(ge=1)
    """Version of the shape of `data` for this event type; it changes when the shape does."""
    aggregate_type: Literal["lead", "contact", "workspace", "webhook", "campaign"]
    """The kind of aggregate the event belongs to."""
    aggregate_id: UUID
    """The aggregate's id; also the Kafka message key, so its events stay in order."""
    aggregate_version: int = Field(ge=1)
    """The aggregate's version after this event: 1, 2, 3, ... without gaps per aggregate."""
    position: int = Field(ge=1)
    """The event's position in the event store's log (its notification id): increasing, global."""
    occurred_at: AwareDatetime
    """Business time: when it happened (imports set it in the past). RFC 3339 with an offset."""
    recorded_at: AwareDatetime
    """When the event store recorded it. RFC 3339 with an offset."""
    actor: str
    """Who caused it: a user id, `system`, or `service:<name>`."""
    correlation_id: str
    """The request it belongs to."""
    cause: UUID | None = None
    """For what the CRM's automation did (actor `automation:<policy>`): the `event_id` of the event
    that caused it (for a timer, the event that set the timer). Absent or null otherwise."""
    data: dict[str, Any]
    """The event's own fields, as defined for `event_type` (see the per-type schemas)."""

    @field_validator("event_type")
    @classmethod
    def _known_event_type(cls, value: str) -> str:
        if value not in EVENT_DATA_MODELS:
            raise _error("unknown_event_type", _unknown_event_type(value))
        return value

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _fixed_offset(cls, value: datetime) -> datetime:
        offset = value.utcoffset()
        assert offset is not None  # AwareDatetime
        return value.replace(tzinfo=timezone(offset))  # timezone.utc for a zero offset

    @field_validator("data")
    @classmethod
    def _data_of_its_type(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        event_type, version = info.data.get("event_type"), info.data.get("schema_version")
        if event_type is None or version is None:
            return value  # already reported
        known = SCHEMA_VERSIONS[event_type]
        if version != known and version not in READABLE_OLDER_VERSIONS.get(event_type, ()):
            raise _error(
                "unsupported_schema_version",
                f"schema_version {version} of {event_type} is not supported (this code knows version {known})",
            )
        try:
            data = EVENT_DATA_MODELS[event_type].model_validate(value)
        except ValidationError as exc:
            raise _error("event_data", f"data of {event_type}: {_problems(exc)}") from None
        return data.model_dump(mode="json")

    @model_validator(mode="after")
    def _consistent(self) -> Envelope:
        if self.event_type.split(".")[0] != self.aggregate_type:
            raise _error(
                "aggregate_type_mismatch",
                f"event_type {self.event_type} does not belong to aggregate_type {self.aggregate_type}",
            )
        if self.event_id != event_id_of(self.aggregate_id, self.aggregate_version):
            raise _error(
                "event_id_mismatch",
                "event_id is not the id of this aggregate_id and aggregate_version",
            )
        return self


# --- conversions -------------------------------------------------------------------------


def envelope_of(record: EventRecord) -> Envelope:
    """The envelope to publish for an event record; SchemaError when the record breaks the contract."""
    try:
        return Envelope(
            event_id=event_id_of(record.aggregate_id, record.aggregate_version),
            event_type=record.event_type,
            schema_version=SCHEMA_VERSIONS.get(record.event_type, 1),
            aggregate_type=record.aggregate_type,  # type: ignore[arg-type]
            aggregate_id=record.aggregate_id,
            aggregate_version=record.aggregate_version,
            position=record.position,
            occurred_at=record.occurred_at,
            recorded_at=record.recorded_at,
            actor=record.actor,
            correlation_id=record.correlation_id,
            cause=None if record.cause is None else UUID(record.cause),
            data=record.data,
        )
    except ValidationError as exc:
        raise SchemaError(
            f"cannot publish {record.event_type} at position {record.position}: {_problems(exc)}"
        ) from None


def encode(envelope: Envelope) -> bytes:
    """The message value: compact JSON, UTF-8 (non-ASCII text is not escaped)."""
    return envelope.model_dump_json().encode()


def decode(raw: bytes) -> Envelope:
    """The envelope in a message value, checked against the envelope schema and the data schema
    of its event type (a message of an older schema version that `DATA_UPCASTERS` lead up from is
    read as the current version); SchemaError (a ValueError) naming every problem otherwise."""
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        error = exc
    # an older schema version (published before an upgrade) is read as the current one, when it can be
    upcast = _upcast(raw) if any(e["type"] == "unsupported_schema_version" for e in error.errors()) else None
    if upcast is not None:
        try:
            return Envelope.model_validate_json(upcast)
        except ValidationError as exc:
            error = exc
    raise SchemaError(f"invalid event message: {_problems(error)}") from None


def record_of_envelope(envelope: Envelope) -> EventRecord:
    """What a projection sees of a consumed message: the same EventRecord that `record_of` gives
    for the domain event (UUIDs as uuid.UUID, aware datetimes, plain strings for enum values)."""
    data = EVENT_DATA_MODELS[envelope.event_type].model_validate(envelope.data)
    return EventRecord(
        position=envelope.position,
        event_type=envelope.event_type,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        occurred_at=envelope.occurred_at,
        recorded_at=envelope.recorded_at,
        actor=envelope.actor,
        correlation_id=envelope.correlation_id,
        data=data.model_dump(),
        cause=None if envelope.cause is None else str(envelope.cause),
    )


# --- messages ----------------------------------------------------------------------------


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


def _unknown_event_type(event_type: object) -> str:
    shown = repr(event_type)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"unknown event type {shown}; known: {', '.join(EVENT_DATA_MODELS)}"


def _problems(exc: ValidationError) -> str:
    """Every problem as `field.path: what is wrong`, without echoing values (they may be personal data)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] in ("event_data", "unsupported_schema_version") or not where:
            problems.append(error["msg"])
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
