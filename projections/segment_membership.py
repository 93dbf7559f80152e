"""Segment membership over time: a contact's facts (`ContactHistory`), the moments at which a
segment rule's verdict can change (`candidate_times`), the stays in a segment
(`membership_intervals`) and the members as of a date (`members_as_of`).

Segment rules are projections.segment_rules; features and the time conventions (UTC, "as of t")
are projections.contact_features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from domain.time import utc
from projections.contact_features import (
    AT_RISK_AFTER_DAYS,
    LAPSED_AFTER_DAYS,
    NEW_CUSTOMER_DAYS,
    ContactFeatures,
    Purchase,
    contact_features,
)
from projections.segment_rules import SegmentRule, Unit


@dataclass(frozen=True)
class ConsentChange:
    """One grant or withdrawal; the later one (business time, then log position) wins."""

    occurred_at: datetime
    channel: str
    granted: bool
    position: int = 0


@dataclass(frozen=True)
class ContactHistory:
    """Every fact of one contact that features depend on, each with its business time."""

    contact_id: str
    name: str | None
    created_at: datetime
    purchases: tuple[Purchase, ...] = ()
    interactions: tuple[datetime, ...] = ()
    consent_changes: tuple[ConsentChange, ...] = ()
    reactivations: tuple[datetime, ...] = ()

    def consents_as_of(self, as_of: datetime) -> dict[str, bool]:
        """Channel -> granted, from the changes at or before `as_of`."""
        as_of = utc(as_of)
        consents: dict[str, bool] = {}
        for change in sorted(self.consent_changes, key=lambda c: (utc(c.occurred_at), c.position)):
            if utc(change.occurred_at) <= as_of:
                consents[change.channel] = change.granted
        return consents

    def features(self, as_of: datetime, unit: Unit = "days") -> ContactFeatures:
        """The contact's features as of `as_of`."""
        return contact_features(
            self.created_at,
            self.purchases,
            self.interactions,
            self.consents_as_of(as_of),
            as_of,
            unit,
            reactivations=sum(1 for r in self.reactivations if utc(r) <= utc(as_of)),
        )

    def change_points(self, until: datetime | None = None) -> list[datetime]:
        """The times of the contact's events (creation first), at or before `until` if given."""
        times = {utc(self.created_at)}
        times.update(utc(p.occurred_at) for p in self.purchases)
        times.update(utc(t) for t in self.interactions)
        times.update(utc(c.occurred_at) for c in self.consent_changes)
        times.update(utc(t) for t in self.reactivations)
        if until is not None:
            times = {t for t in times if t <= utc(until)}
        return sorted(times)


class MembershipInterval(NamedTuple):
    """A stay in a segment: entered at `entered_at`, left at `left_at` (None: still a member)."""

    entered_at: datetime
    left_at: datetime | None


_TICK = timedelta(microseconds=1)


def _shifted(moment: datetime, days: float) -> datetime | None:
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return None


def candidate_times(rule: SegmentRule, change_points: Iterable[datetime], until: datetime) -> list[datetime]:
    """Every moment at which the rule's verdict for a contact can change, from the contact's first
    change point up to `until`: the event times themselves, plus the times at which a time-based
    condition crosses its threshold (an event time + the threshold, and one microsecond either
    side so that both strict and non-strict comparisons are caught). `T` counts whole days, so it
    can only cross at midnight (UTC) some whole number of days after an event's day."""
    until = utc(until)
    points = sorted({utc(p) for p in change_points if utc(p) <= until})
    if not points:
        return []
    continuous: set[float] = set()
    whole_days: set[int] = set()
    for condition in rule.conditions:
        if condition.feature.startswith("days_since_") and not isinstance(condition.value, str | bool):
            continuous.add(float(condition.value))
        elif condition.feature == "lifecycle":
            continuous.update((NEW_CUSTOMER_DAYS, AT_RISK_AFTER_DAYS, LAPSED_AFTER_DAYS))
        elif condition.feature == "T" and not isinstance(condition.value, str | bool):
            in_days = float(condition.value) * (7.0 if rule.unit == "weeks" else 1.0)
            if math.isfinite(in_days) and abs(in_days) < 10**6:
                whole_days.update((math.floor(in_days), math.floor(in_days) + 1))
    found = set(points)
    for point in points:
        for offset in continuous:
            crossing = _shifted(point, offset)
            if crossing is not None:
                found.update((crossing - _TICK, crossing, crossing + _TICK))
        midnight = point.replace(hour=0, minute=0, second=0, microsecond=0)
        for n in whole_days:
            crossing = _shifted(midnight, n)
            if crossing is not None:
                found.add(crossing)
    return sorted(t for t in found if points[0] <= t <= until)


def membership_intervals(
    features_at: Callable[[datetime], Any],
    change_points: Iterable[datetime],
    rule: SegmentRule,
    until: datetime,
) -> list[MembershipInterval]:
    """When the contact was in the segment, up to `until`.

    `features_at(t)` gives the contact's features as of t (in the rule's unit); `change_points` are
    the times of the contact's events, the first being its creation. Between two candidate times
    (see `candidate_times`) nothing a rule can see changes, so evaluating at those is exact. An
    interval still open at `until` has `left_at` None."""
    intervals: list[MembershipInterval] = []
    entered: datetime | None = None
    for moment in candidate_times(rule, change_points, until):
        inside = rule.matches(features_at(moment))
        if inside and entered is None:
            entered = moment
        elif not inside and entered is not None:
            intervals.append(MembershipInterval(entered, moment))
            entered = None
    if entered is not None:
        intervals.append(MembershipInterval(entered, None))
    return intervals


def history_intervals(history: ContactHistory, rule: SegmentRule, until: datetime) -> list[MembershipInterval]:
    """`membership_intervals` of one contact's history."""
    return membership_intervals(lambda t: history.features(t, rule.unit), history.change_points(until), rule, until)


class SegmentMember(BaseModel):
    """A member of a segment as of a date, and since when (the start of the current stay)."""

    model_config = ConfigDict(frozen=True)

    contact_id: str
    name: str | None
    entered_at: datetime


def members_as_of(rule: SegmentRule, histories: Iterable[ContactHistory], as_of: datetime) -> list[SegmentMember]:
    """The contacts (created at or before `as_of`) in the segment as of `as_of`, oldest stay first."""
    as_of = utc(as_of)
    members = []
    for history in histories:
        if utc(history.created_at) > as_of:
            continue
        intervals = history_intervals(history, rule, as_of)
        if intervals and intervals[-1].left_at is None:
            members.append(
                SegmentMember(contact_id=history.contact_id, name=history.name, entered_at=intervals[-1].entered_at)
            )
    return sorted(members, key=lambda m: (m.entered_at, m.contact_id))
