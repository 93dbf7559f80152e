"""Consent, as leads and contacts share it: a statement per channel, the rule that outbound
interactions obey, and which of a lead's statements its contact takes over at a conversion."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.errors import ConsentUnchanged, ConsentWithdrawn
from domain.values import OUTBOUND_CHANNELS, ConsentChannel, InteractionKind


@dataclass(frozen=True)
class ConsentStatement:
    """What the person last said about one channel, and when (business time)."""

    channel: ConsentChannel
    granted: bool
    stated_at: datetime


def check_consent_changes(subject: str, channel: ConsentChannel, granted: bool, consents: Mapping[str, bool]) -> None:
    """A consent change must change the channel's consent (a first withdrawal does)."""
    if consents.get(channel.value) is granted:
        state = "granted" if granted else "withdrawn"
        raise ConsentUnchanged(f"{subject}: consent for {channel.value} is already {state}")


def check_outbound_allowed(subject: str, kind: InteractionKind, consents: Mapping[str, bool]) -> None:
    """An interaction we start towards the person (an email we send) is refused once they
    withdrew consent for its channel. Never stated is allowed here, for a person's own request
    logged by hand; automation asks more (`has_consent(...) is True`)."""
    channel = OUTBOUND_CHANNELS.get(kind)
    if channel is not None and consents.get(channel.value) is False:
        raise ConsentWithdrawn(
            f"{subject}: consent for {channel.value} was withdrawn, so {kind.value} cannot be logged"
        )


def statements_to_adopt(
    statements: Iterable[ConsentStatement], consents: Mapping[str, bool], stated_at: Mapping[str, datetime]
) -> list[ConsentStatement]:
    """The statements that change a record's consent: each that differs from the record's and
    is newer (in business time) than the record's own statement for that channel, if it has one.
    In channel order, so that the events they become are always in the same order."""
    adopted = []
    for statement in sorted(statements, key=lambda s: list(ConsentChannel).index(s.channel)):
        channel = statement.channel.value
        if consents.get(channel) is statement.granted:
            continue
        if channel in stated_at and statement.stated_at <= stated_at[channel]:
            continue
        adopted.append(statement)
    return adopted
