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

from domain.catalogue import event_classes
from domain.events import event_id_of
from domain.personal_data import PERSONAL_EVENT_FIELDS
from domain.values import ConsentChannel, InteractionKind, LeadSource, Stage
from projections.event_record import EventRecord

# --- topics and keys ---------------------------------------------------------------------

LEAD_TOPIC = "crm.lead.events.v1"
CONTACT_TOPIC = "crm.contact.events.v1"
DEAD_LETTER_TOPIC = "crm.dead-letter.v1"

_TOPICS = {"lead": LEAD_TOPIC, "contact": CONTACT_TOPIC}

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
    "contact.created": ContactCreatedData,
    "contact.details_updated": ContactDetailsUpdatedData,
    "contact.interaction_logged": ContactInteractionLoggedData,
    "contact.purchase_recorded": ContactPurchaseRecordedData,
    "contact.reactivated": ContactReactivatedData,
    "contact.consent_changed": ContactConsentChangedData,
    "contact.erased": ContactErasedData,
    "contact.task_created": ContactTaskCreatedData,
    "contact.task_completed": ContactTaskCompletedData,
    "contact.task_rescheduled": ContactTaskRescheduledData,
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
    aggregate_type: Literal["lead", "contact"]
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
    of its event type; SchemaError (a ValueError) naming every problem otherwise."""
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise SchemaError(f"invalid event message: {_problems(exc)}") from None


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
