"""The forecast's model of one open deal: its chance of being won given its stage and how long it
has sat in that stage, and when it closes, as an empirical survival curve from that age on.

Both are learned from the stage history known at the forecast date (`DealHistory`): every stay of
a lead in an open stage that reached age `a` at an instant `OBSERVED_DAYS` or more before the
forecast date is one observation of "a lead in this stage at age a", and whether (and how many days
later) it converted within `OBSERVED_DAYS` is its outcome. Leads that were never closed count as not
won: stale deals that neither convert nor get disqualified are what drags the win rate of old
deals down. Below `min_sample` observations the win rate is smoothed towards the stage's rate and
the time to close falls back to the stage's default days to close.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.values import Stage
from projections.pipeline_queries import OPEN_STAGE_ORDER, StageInterval, days_between

OBSERVED_DAYS = 120.0
"""How long after reaching an age in a stage a lead is followed for its outcome: a stay that
reached the age less than this before the forecast date is not yet an observation."""

SMOOTHING = 2.0
"""Pseudo-observations at the stage's overall win rate added to each (stage, age) win rate."""

MIN_AGE_SAMPLE = 5
"""Fewest observations at an age in a stage from which that age's win rate is learned; an older
deal is judged as the deals at the oldest such age."""


@dataclass(frozen=True)
class _Stay:
    entered_at: datetime
    left_at: datetime | None
    won_at: datetime | None
    """When the lead converted (on or before the forecast date), if it did."""


@dataclass
class DealHistory:
    """The stays in open stages known at `as_of`, per stage, with each lead's conversion."""

    as_of: datetime
    stays: dict[str, list[_Stay]] = field(default_factory=dict)

    @classmethod
    def of(cls, intervals: list[StageInterval], as_of: datetime) -> DealHistory:
        """The history from the stage intervals entered by `as_of` (as known then)."""
        won: dict[str, datetime] = {}
        for i in intervals:
            if i.stage == Stage.CONVERTED.value:
                won.setdefault(i.lead_id, i.entered_at)
        stays: dict[str, list[_Stay]] = defaultdict(list)
        for i in intervals:
            if i.stage in OPEN_STAGE_ORDER:
                stays[i.stage].append(_Stay(i.entered_at, i.left_at, won.get(i.lead_id)))
        return cls(as_of=as_of, stays=dict(stays))

    def observations(self, stage: str, age_days: float) -> list[float | None]:
        """Per stay of `stage` that reached `age_days` in it at least OBSERVED_DAYS before `as_of`:
        days from that instant to conversion within OBSERVED_DAYS, or None (not won by then)."""
        latest = self.as_of - timedelta(days=OBSERVED_DAYS)
        found: list[float | None] = []
        for stay in self.stays.get(stage, ()):
            at_age = stay.entered_at + timedelta(days=age_days)
            if at_age > latest or (stay.left_at is not None and stay.left_at <= at_age):
                continue
            if stay.won_at is not None and stay.won_at >= at_age:
                days = days_between(at_age, stay.won_at)
                found.append(days if days <= OBSERVED_DAYS else None)
            else:
                found.append(None)
        return found

    def supported_age(self, stage: str, age_days: float, min_sample: int) -> float:
        """`age_days`, or a younger age (halving it) at which the stage has at least `min_sample`
        observations: a deal older than any observed is judged as the oldest observed ones."""
        age = age_days
        while age >= 1.0 and len(self.observations(stage, age)) < max(min_sample, 1):
            age /= 2
        return age if age >= 1.0 else 0.0


WinProbability = Callable[[str, float, DealHistory], float]
"""P(win) of an open deal from its stage, its age in the stage (days) and the history: the
pluggable part of the forecast (a learned per-lead model can take its place)."""


def stage_and_age_win_probability(defaults: Mapping[str, float], min_sample: int) -> WinProbability:
    """P(win | stage, age): the share won among the stays observed at that age in the stage,
    smoothed with SMOOTHING pseudo-observations towards the stage's rate (its share won from
    entry, or the default below `min_sample` observations)."""
    cache: dict[tuple[int, str], float] = {}

    def stage_rate(stage: str, history: DealHistory) -> float:
        key = (id(history), stage)
        if key not in cache:
            seen = history.observations(stage, 0.0)
            won = sum(1 for o in seen if o is not None)
            cache[key] = won / len(seen) if len(seen) >= max(min_sample, 1) else defaults[stage]
        return cache[key]

    def probability(stage: str, age_days: float, history: DealHistory) -> float:
        prior = stage_rate(stage, history)
        seen = history.observations(stage, history.supported_age(stage, age_days, MIN_AGE_SAMPLE))
        won = sum(1 for o in seen if o is not None)
        return (won + SMOOTHING * prior) / (len(seen) + SMOOTHING)

    return probability


@dataclass(frozen=True)
class CloseCurve:
    """When a deal that will be won closes, seen from the forecast date: sorted days from then
    (an empirical distribution), each equally likely."""

    days: list[float]
    learned: bool

    def share_between(self, start_days: float, end_days: float) -> float:
        """P(start <= days to close < end | won)."""
        if not self.days:
            return 0.0
        return (bisect_left(self.days, end_days) - bisect_left(self.days, start_days)) / len(self.days)

    def median(self) -> float:
        """The median days to close."""
        return self.days[len(self.days) // 2]


def close_curve(
    stage: str, age_days: float, history: DealHistory, min_sample: int, default_days: float, overdue_days: float
) -> CloseCurve:
    """Days to close of a won deal in `stage` at `age_days`: those of the stays observed won from
    that age (Kaplan-Meier without censoring, since each is followed OBSERVED_DAYS); below
    `min_sample` of them, the stage's default days from entry (or `overdue_days` if that is past)."""
    at = age_days
    while True:
        won = sorted(o for o in history.observations(stage, at) if o is not None)
        if len(won) >= max(min_sample, 1):
            return CloseCurve(days=won, learned=True)
        if at < 1.0:
            break
        at = at / 2 if at >= 2.0 else 0.0
    return CloseCurve(days=[max(default_days - age_days, overdue_days)], learned=False)
