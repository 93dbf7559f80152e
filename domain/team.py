"""The team: the CRM's users who own leads and take them from assignment rules, as value types.

A user is named by a slug (`rep-anna`), the same string a lead's `owner` holds and a bearer
token's user is. Who may *do* what through the API is the token's role (services/auth); the
role here says what the person is on the team, for assignment and for the directory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from domain.errors import InactiveUser, UnknownUser

USER_ID_PATTERN = r"^[a-z0-9_.@-]+$"
"""Lowercase letters, digits, `-`, `_`, `.` and `@`."""

UNASSIGNED = "none"
"""Not a user id: `owner=none` asks the lead list for the leads nobody owns."""

DEFAULT_TIME_ZONE = "UTC"
"""The day a user without a time zone of their own works in."""

_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the time-zone database that are not IANA zone names (the machine's own zone, a
rules template, a placeholder)."""


class TeamRole(StrEnum):
    """What a user is on the team."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"
    ANALYST = "analyst"


def _not_reserved(value: str) -> str:
    if value == UNASSIGNED:
        raise ValueError(f"{UNASSIGNED!r} is reserved: `owner={UNASSIGNED}` lists the leads nobody owns")
    return value


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def time_zone_name(value: str) -> str:
    """The name when it is an IANA time zone of this machine's database (`Europe/Berlin`);
    ValueError otherwise."""
    if value not in _zone_names():
        raise ValueError(f"{value!r} is not an IANA time zone name, e.g. Europe/Berlin or America/New_York")
    return value


UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=USER_ID_PATTERN),
    AfterValidator(_not_reserved),
]
"""A user's id: a slug of at most 64 lowercase letters, digits, `-`, `_`, `.`, `@`."""

TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(time_zone_name)]
"""An IANA time zone name."""

DailyCapacity = Annotated[int, Field(strict=True, ge=0, le=100_000)]
"""How many leads assignment rules may give a user per day of theirs (0: none today)."""

USER_FIELDS = ("name", "role", "active", "away", "daily_capacity", "time_zone")
"""What an update can change about a user (everything but the id)."""


class User(BaseModel):
    """One person on the team."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UserId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: TeamRole
    active: bool = True
    """An inactive user (someone who left) owns their leads still, but is given no new ones."""
    away: bool = False
    """Away for now (holiday, sick leave): assignment rules pass them over; they may still be
    given a lead by hand."""
    daily_capacity: DailyCapacity | None = None
    """The most leads assignment rules give them per day of theirs; None: no limit."""
    time_zone: TimeZoneName | None = None
    """Where their day starts and ends; None: the store's default (UTC)."""

    @classmethod
    def recorded(cls, fields: Mapping[str, Any]) -> User:
        """The user as an event recorded them: not validated again, so that a history stays
        readable even if the rules for new input tighten (or a zone leaves the database)."""
        values = {name: fields[name] for name in ("id", *USER_FIELDS) if name in fields}
        values["role"] = TeamRole(values["role"])
        return cls.model_construct(**values)

    def changed(self, changes: Mapping[str, Any]) -> User:
        """This user with some fields changed (as recorded: not validated again)."""
        return User.recorded({**self.model_dump(), **changes})

    def takes_new_leads(self, assigned_today: int) -> bool:
        """True when assignment rules may give them another lead: active, not away, and below
        their daily capacity (counting the leads already given to them today)."""
        if not self.active or self.away:
            return False
        return self.daily_capacity is None or assigned_today < self.daily_capacity

    def zone(self, default: str = DEFAULT_TIME_ZONE) -> ZoneInfo:
        """The time zone their day is in."""
        return ZoneInfo(self.time_zone or default)

    def day_start(self, moment: datetime, default_zone: str = DEFAULT_TIME_ZONE) -> datetime:
        """When their day that `moment` falls in began, in UTC: what "assigned today" counts from."""
        zone = self.zone(default_zone)
        local = moment.astimezone(zone)
        return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def check_assignable(users: Mapping[str, User], user_id: str, field: str = "owner") -> None:
    """A lead can be given only to an active user of the team; `field` names the command's field
    that named them."""
    user = users.get(user_id)
    if user is None:
        raise UnknownUser(field, f"{user_id!r} is not a user of the team (add them with POST /v1/users)")
    if not user.active:
        raise InactiveUser(field, f"{user_id!r} is no longer active and takes no leads")
