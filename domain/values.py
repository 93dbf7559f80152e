"""Value types shared by the aggregates: stages, interaction kinds, sources, consent channels,
countries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypedDict

from pydantic import AfterValidator, StringConstraints


class Stage(StrEnum):
    """Where a lead stands in the sales pipeline."""

    NEW = "new"
    CONTACTED = "contacted"
    NURTURING = "nurturing"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"

    @property
    def is_open(self) -> bool:
        """True for every stage a lead can still move out of."""
        return self not in (Stage.CONVERTED, Stage.DISQUALIFIED)


OPEN_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s.is_open)


class InteractionKind(StrEnum):
    """Ways a person and we interact: what the person does earns engagement points, what we do
    (an email we sent) earns none by itself."""

    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    WEB_VISIT = "web_visit"
    FORM_SUBMIT = "form_submit"
    WEBINAR = "webinar"
    CALL = "call"
    MEETING = "meeting"
    DEMO = "demo"
    SOCIAL = "social"
    SUPPORT = "support"
    EMAIL_SENT = "email_sent"
    """An outbound email we sent the person: it needs their email consent not to be withdrawn."""
    EMAIL_REPLY = "email_reply"
    """The person replied to an email of ours."""


class LeadSource(StrEnum):
    """Where a lead came from."""

    WEB_FORM = "web_form"
    WEBINAR = "webinar"
    REFERRAL = "referral"
    EVENT = "event"
    COLD_OUTREACH = "cold_outreach"
    PAID_ADS = "paid_ads"
    SOCIAL = "social"
    PARTNER = "partner"
    IMPORT = "import"
    REACTIVATION = "reactivation"


class ConsentChannel(StrEnum):
    """Channels a lead or a contact can grant or withdraw consent for."""

    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    PROFILING = "profiling"


OUTBOUND_CHANNELS: dict[InteractionKind, ConsentChannel] = {InteractionKind.EMAIL_SENT: ConsentChannel.EMAIL}
"""The interactions we start towards a person, and the channel whose consent each one needs."""


def country_code(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code written in either case, upper-cased (`de` -> `DE`);
    ValueError for anything but two ASCII letters."""
    # checked before upper-casing: "ß".upper() is "SS", which would pass for a code
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise ValueError("must be an ISO 3166-1 alpha-2 country code: two letters, e.g. DE")
    return value.upper()


CountryCode = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(country_code)]
"""A country as commands and rules take it: two letters, stored upper-case."""


class MetaFields(TypedDict):
    """The metadata fields every event carries."""

    actor: str
    correlation_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class Meta:
    """Who did it, within which request, and when it happened in business time."""

    actor: str
    correlation_id: str
    occurred_at: datetime

    def fields(self) -> MetaFields:
        """The metadata as event fields."""
        return {
            "actor": self.actor,
            "correlation_id": self.correlation_id,
            "occurred_at": self.occurred_at,
        }
