"""Business days: which weekdays count, in which time zone, and what "N business days later" is.

"Call within 1 business day" and a nurture step's `wait_days` count business days in the time
zone of whoever the step is for (a rep's own zone, else the store's default): a lead captured on
Friday afternoon in Berlin is due on Monday afternoon in Berlin, whatever UTC says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.time import utc

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessCalendar:
    """The weekdays that are business days (0 = Monday) and the default time zone (IANA name)."""

    weekdays: frozenset[int] = frozenset(range(5))
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("business days must be a non-empty set of weekdays 0 (Monday) to 6 (Sunday)")
        ZoneInfo(self.time_zone)  # ZoneInfoNotFoundError (a KeyError) for an unknown zone

    def add_business_days(self, start: datetime, days: int, time_zone: str | None = None) -> datetime:
        """`days` business days after `start`, at the same local time of day in `time_zone` (the
        calendar's by default); a start on a day off counts from that day. Returns UTC."""
        if days < 0:
            raise ValueError("days must not be negative")
        zone = ZoneInfo(time_zone or self.time_zone)
        local = start.astimezone(zone)
        day = local.date()
        for _ in range(days):
            day += timedelta(days=1)
            while day.weekday() not in self.weekdays:
                day += timedelta(days=1)
        return utc(datetime.combine(day, local.time(), zone))

    def is_business_day(self, moment: datetime, time_zone: str | None = None) -> bool:
        """True when `moment`'s local date (in `time_zone`, or the calendar's) is a business day."""
        return moment.astimezone(ZoneInfo(time_zone or self.time_zone)).weekday() in self.weekdays


def parse_weekdays(text: str) -> frozenset[int]:
    """`mon-fri`, `mon,tue,thu` or `sun-thu` as weekday numbers; ValueError naming a bad part."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        first, _, last = part.partition("-")
        if first not in WEEKDAY_NAMES or (last and last not in WEEKDAY_NAMES):
            raise ValueError(f"unknown weekday in {part!r}: use {', '.join(WEEKDAY_NAMES)}, or a range like mon-fri")
        start = WEEKDAY_NAMES.index(first)
        end = WEEKDAY_NAMES.index(last) if last else start
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    if not days:
        raise ValueError("no business days given")
    return frozenset(days)
