"""Commands: pydantic models that validate everything entering the CRM before anything is appended."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from domain.assignment import AssignmentRule
from domain.money import MAX_AMOUNT_MINOR, is_currency_code
from domain.nurture import NurtureSequence, SequenceName
from domain.team import USER_FIELDS, DailyCapacity, TeamRole, TimeZoneName, User
from domain.team import UserId as TeamUserId
from domain.text import printable, single_line
from domain.values import ConsentChannel, CountryCode, InteractionKind, LeadSource, Stage

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a client's `occurred_at` may be before it is rejected."""

EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
"""The business times the CRM accepts and answers about: far outside them, converting a time to
UTC (or comparing it with now) overflows Python's datetime range."""

_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,28}[0-9]$")


def _check_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 6 <= digits <= 15:
        raise ValueError("phone must be 6-15 digits, optionally with a leading + and spaces, dots, dashes or brackets")
    return value


def _check_currency(value: str) -> str:
    if not is_currency_code(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _check_business_time(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"occurred_at must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    if value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("occurred_at must not be in the future")
    return value.astimezone(UTC)


def _check_due_time(value: datetime) -> datetime:
    # A task may be due in the past (an overdue follow-up is still one), but within the years
    # the CRM answers about.
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"due_at must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value.astimezone(UTC)


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(single_line)
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(single_line)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(printable)
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_phone)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_check_currency)]
AmountMinor = Annotated[
    int, Field(strict=True, ge=0, le=MAX_AMOUNT_MINOR, description="integer minor units, e.g. cents")
]
UserId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$")
]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(single_line)]
OccurredAt = Annotated[AwareDatetime, AfterValidator(_check_business_time)]
DueAt = Annotated[
    AwareDatetime,
    AfterValidator(_check_due_time),
    Field(description="when it is due, with a UTC offset (ISO 8601); it may be in the past"),
]


class Command(BaseModel):
    """Base of every command: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    occurred_at: OccurredAt | None = Field(
        default=None, description="business time of the fact; defaults to now (imports set it)"
    )


class CaptureLead(Command):
    """Capture a person who showed interest."""

    name: Name
    email: EmailStr | None = None
    company: Text | None = None
    phone: Phone | None = None
    title: Text | None = None
    source: LeadSource
    campaign: Text | None = None
    estimated_value: AmountMinor | None = None
    currency: Currency = "USD"
    owner: UserId | None = None
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. DE (any case)")
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _reachable_and_not_reactivated(self) -> CaptureLead:
        if self.email is None and self.phone is None:
            raise ValueError("a lead needs an email or a phone number")
        if self.source == LeadSource.REACTIVATION:
            raise ValueError("source 'reactivation' is set by reactivating a contact, not by capture")
        return self

    def lead_details(self) -> dict[str, Any]:
        """The fields of the `Captured` event this command asks for."""
        return {
            "name": self.name,
            "email": self.email,
            "company": self.company,
            "phone": self.phone,
            "title": self.title,
            "source": self.source.value,
            "campaign": self.campaign,
            "estimated_value": self.estimated_value,
            "currency": self.currency,
            "owner": self.owner,
            "contact_id": None,
            "interest": None,
            "country": self.country,
        }


Interest = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(printable)
]


class InboundLead(CaptureLead):
    """A web form's or a form tool's submission: a lead unless the person is known already (see
    `services.app.inbound`). `interest` is what they asked about (a product, a plan); `message`
    what they wrote."""

    source: LeadSource = LeadSource.WEB_FORM
    interest: Interest | None = Field(default=None, description="what they are interested in, e.g. a product")
    message: LongText | None = Field(default=None, description="what they wrote in the form")

    def lead_details(self) -> dict[str, Any]:
        """The fields of the `Captured` event a new lead gets: a capture's, with the interest."""
        return {**super().lead_details(), "interest": self.interest}


class InboundEmailEvent(Command):
    """An email tool tells that the person with this address opened or clicked an email of ours."""

    email: EmailStr
    kind: Literal[InteractionKind.EMAIL_OPEN, InteractionKind.EMAIL_CLICK] = Field(
        description="`email_open` or `email_click`"
    )
    detail: LongText | None = Field(default=None, description="e.g. the campaign, or the link clicked")


class LogInteraction(Command):
    """Record an email, visit, call, meeting... with a lead or a contact."""

    kind: InteractionKind
    detail: LongText | None = None


class ChangeStage(Command):
    """Move a lead to another open stage."""

    stage: Stage


class AssignLead(Command):
    """Give a lead to a sales rep."""

    owner: UserId
    reason: Text | None = Field(default=None, description="why, e.g. `territory: DACH`; recorded with the event")


class DisqualifyLead(Command):
    """Close a lead as lost."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(printable)
    ]


class ConvertLead(Command):
    """Close a lead as won: it becomes a contact."""

    deal_value: AmountMinor
    currency: Currency = "USD"


class Merge(Command):
    """Merge this record, a duplicate, into the one it duplicates (`into`, the survivor)."""

    into: UUID = Field(description="the survivor: the lead (or contact) that absorbs this one")


class Unmerge(Command):
    """Undo a merge: the duplicate and its survivor stand as they did before it."""


class RescoreLead(Command):
    """Apply score decay as of `occurred_at` (now by default)."""


class CreateContact(Command):
    """Create a contact directly (an import, a sign-up, a purchase without a lead)."""

    name: Name
    email: EmailStr | None = None
    phone: Phone | None = None
    company: Text | None = None
    title: Text | None = None
    external_id: Text | None = Field(default=None, description="the id in another system, e.g. cdnow:00042")
    idempotency_key: IdempotencyKey | None = None

    def contact_details(self) -> dict[str, Any]:
        """The fields of the `Created` event this command asks for."""
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company,
            "title": self.title,
            "external_id": self.external_id,
            "lead_id": None,
        }


class UpdateContactDetails(Command):
    """Change some of a contact's details; omitted fields stay as they are, null clears one."""

    name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    company: Text | None = None
    title: Text | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateContactDetails:
        if not self.changes():
            raise ValueError("give at least one of name, email, phone, company, title")
        if "name" in self.changes() and self.name is None:
            raise ValueError("name cannot be cleared")
        return self

    def changes(self) -> dict[str, str | None]:
        """Only the fields the caller set."""
        return self.model_dump(exclude_unset=True, exclude={"occurred_at"})


class RecordPurchase(Command):
    """Record an order a contact placed."""

    order_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(single_line)
    ]
    amount: AmountMinor
    currency: Currency = "USD"
    quantity: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1


class ChangeConsent(Command):
    """Grant or withdraw consent for one channel."""

    channel: ConsentChannel
    granted: Annotated[bool, Field(strict=True)]


class ReactivateContact(Command):
    """A customer shows interest in something new: open a new lead for it."""

    interest: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(printable)
    ]
    estimated_value: AmountMinor | None = None
    currency: Currency = "USD"
    owner: UserId | None = None
    campaign: Text | None = None
    idempotency_key: IdempotencyKey | None = None


class ErasePerson(Command):
    """Erase a person (GDPR Art. 17): destroy their key, so that every personal field of their
    leads and contact reads as erased, while the history keeps its types, times and numbers."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), AfterValidator(single_line)
    ]
    """Why, e.g. `data subject request 2026-117`; the reason stays in the history, so it must not
    itself hold personal data."""


class AddTask(Command):
    """Give someone something to do about a lead or a contact by a due time (a follow-up)."""

    title: Text = Field(description="what to do, e.g. `call back about the demo`")
    due_at: DueAt
    note: LongText | None = None
    owner: UserId | None = Field(default=None, description="who is to do it; the record's owner by default")
    idempotency_key: IdempotencyKey | None = None

    def given_details(self) -> dict[str, Any]:
        """The task's fields this command names: a retry is compared on these (an owner left to
        default is the record's owner at the time, which may have changed since)."""
        given = {"title": self.title, "due_at": self.due_at, "note": self.note}
        return given if self.owner is None else {**given, "owner": self.owner}


class CompleteTask(Command):
    """Mark a task done (at `occurred_at`, now by default)."""


class RescheduleTask(Command):
    """Move a task's due time."""

    due_at: DueAt


# --- the team and the assignment rules -----------------------------------------------------------


class AddUser(Command):
    """Put a new user on the team."""

    id: TeamUserId = Field(description="a slug: lowercase letters, digits, -, _, ., @ (at most 64), e.g. rep-anna")
    name: Name
    role: TeamRole
    active: Annotated[bool, Field(strict=True)] = True
    away: Annotated[bool, Field(strict=True)] = False
    daily_capacity: DailyCapacity | None = Field(
        default=None, description="the most leads assignment rules give them per day; null: no limit"
    )
    time_zone: TimeZoneName | None = Field(
        default=None, description="IANA name, e.g. Europe/Berlin; null: the store's default (UTC)"
    )

    def user(self) -> User:
        """The user this command adds."""
        return User.model_validate(self.model_dump(exclude={"occurred_at"}))


class UpdateUser(Command):
    """Change some of a user's fields; omitted fields stay as they are. Null clears the daily
    capacity (no limit) and the time zone (the store's default); the others cannot be null."""

    name: Name | None = None
    role: TeamRole | None = None
    active: Annotated[bool, Field(strict=True)] | None = None
    away: Annotated[bool, Field(strict=True)] | None = None
    daily_capacity: DailyCapacity | None = None
    time_zone: TimeZoneName | None = None

    @field_validator("name", "role", "active", "away")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave it out to keep it")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateUser:
        if not self.changes():
            raise ValueError(f"give at least one of {', '.join(USER_FIELDS)}")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller set, as an event records them."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"occurred_at"})


class ReplaceAssignmentRules(Command):
    """Make this the whole ordered list of assignment rules (an empty list: no rules)."""

    rules: Annotated[list[AssignmentRule], Field(max_length=200)]


class DefineSequence(NurtureSequence):
    """Define a nurture sequence (`domain.nurture`): its name, steps and enrolment rule."""


class EnrolInSequence(Command):
    """Enrol a lead in a nurture sequence by hand."""

    sequence: SequenceName


class ExitSequence(Command):
    """End a lead's enrolment in a nurture sequence by hand (reason `manual`)."""

    sequence: SequenceName


class RecordCampaignCost(Command):
    """Record money spent on a campaign (the name a lead's `campaign` holds), at `occurred_at`."""

    amount: Annotated[
        int, Field(strict=True, ge=1, le=MAX_AMOUNT_MINOR, description="integer minor units, e.g. cents; more than 0")
    ]
    currency: Currency
    note: LongText | None = None
    idempotency_key: IdempotencyKey | None = None
