"""The forecast's monthly conversion model: what the open pipeline at the forecast date brings in
each month ahead, plus the new business captured after it.

Learned from past snapshots of the pipeline (`PipelineHistory`, one scan of the pipeline tables):
the forecast date shifted back by whole months gives snapshot dates s; every lead open at s is one
observation of "a lead in this stage, this long in it", and whether it converted in the calendar
month k after s (k = 0: from s to the end of its month) is its outcome. Only snapshots whose
outcome month had ended by the forecast date are used, so nothing learned was unknown then. A
discrete-time hazard, smoothed from (stage, age bucket) towards the stage and from the stage
towards the defaults:

    P(convert in month k | stage, age)  = (won + SMOOTHING x P(k | stage)) / (seen + SMOOTHING)
    P(convert in month k | stage)       = (won + PRIOR_WEIGHT x default(k, stage)) / (seen + PRIOR_WEIGHT)

Expected value of the open pipeline in month k = sum over open leads of its expected deal value x
P(k); new business in month k = the mean, over the last NEW_BUSINESS_SNAPSHOTS snapshots, of the
value converted in their month k from leads captured after the snapshot. The hazard is pluggable
(`ConversionHazard`).
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from domain.time import parse_time, utc
from domain.values import Stage
from projections.pipeline import LEAD_VERSIONS, LEADS, STAGE_INTERVALS
from projections.pipeline_queries import DEFAULT_WIN_PROBABILITIES, OPEN_STAGE_ORDER, days_between
from projections.row_changes import Reader

AGE_BUCKETS: tuple[float, ...] = (7.0, 14.0, 30.0, 60.0, 120.0)
"""Upper bounds (days in the stage) of the age buckets; older deals share the last bucket."""

SMOOTHING = 3.0
"""Pseudo-observations added to each (stage, segment) rate, at the stage's rate times the segment's
pooled lift (its rate over all stages / the rate over all segments, itself smoothed the same way)."""

PRIOR_WEIGHT = 5.0
"""Pseudo-observations at the default rate added to each stage's rate: below about this many
observed leads of a stage the defaults still weigh as much as what was seen."""

SEASON_WEIGHT: float | None = 20.0
"""Pseudo-conversions added to both sides of each month-of-quarter factor (None: no factor)."""

NEW_BUSINESS_SNAPSHOTS = 3
"""How many of the most recent snapshots the new business is averaged over."""

MIN_VALUE_SAMPLE = 20
"""Fewest conversions of a currency from which the line from open value to deal value is learned;
below it a deal is expected to close at its open value."""

DEFAULT_DAYS_TO_CLOSE: Mapping[str, float] = MappingProxyType(
    {
        Stage.NEW.value: 90.0,
        Stage.CONTACTED.value: 60.0,
        Stage.NURTURING.value: 120.0,
        Stage.QUALIFIED.value: 45.0,
        Stage.PROPOSAL.value: 30.0,
        Stage.NEGOTIATION.value: 14.0,
    }
)
"""Days from entering a stage to conversion, used until enough conversions are observed (by the
stage model, `projections.forecast`, and by this model's defaults): new 90, contacted 60,
nurturing 120, qualified 45, proposal 30, negotiation 14."""

_OPEN = frozenset(OPEN_STAGE_ORDER)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after the month of `month`."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    return utc(datetime(day.year, day.month, day.day))


def months_back(moment: datetime, count: int) -> datetime:
    """`moment` moved back `count` calendar months (the day clamped to the month's last)."""
    first = add_months(date(moment.year, moment.month, 1), -count)
    day = min(moment.day, calendar.monthrange(first.year, first.month)[1])
    return moment.replace(year=first.year, month=first.month, day=day)


def window_end(moment: datetime, k: int) -> datetime:
    """The end of month k after `moment`: the first instant of the (k+1)th month after its month."""
    return _midnight(add_months(date(moment.year, moment.month, 1), k + 1))


def window_start(moment: datetime, k: int) -> datetime:
    """The start of month k after `moment`: `moment` itself for k = 0, else its month's first instant."""
    return moment if k == 0 else _midnight(add_months(date(moment.year, moment.month, 1), k))


def age_bucket(age_days: float) -> int:
    """The index of the age bucket of a deal `age_days` in its stage."""
    return bisect_right(AGE_BUCKETS, age_days)


def segment_of(lead: OpenLead) -> int:
    """The segment of an open lead within its stage: its age bucket (the days since the lead's
    latest activity were tried too, and forecast worse on the seeded histories)."""
    return age_bucket(lead.age_days)


class OpenLead(NamedTuple):
    """A lead open at some instant: its stage, since when, and its open value."""

    lead_id: str
    stage: str
    owner: str | None
    value: int | None
    currency: str | None
    stage_entered_at: datetime
    age_days: float


class Conversion(NamedTuple):
    """A converted lead: when it was captured and converted, its open value and its deal value."""

    lead_id: str
    captured_at: datetime
    closed_at: datetime
    open_value: int | None
    deal_value: int
    currency: str | None


@dataclass(frozen=True)
class _Version:
    valid_from: datetime
    valid_to: datetime | None
    stage: str
    owner: str | None
    value: int | None
    currency: str | None


@dataclass
class PipelineHistory:
    """The pipeline tables read once (leads, their versions, their stage stays), from which the
    open pipeline at any instant and the conversions are computed without reading again."""

    versions: dict[str, list[_Version]]
    entries: dict[str, list[tuple[datetime, str]]]
    """Per lead, (entered_at, stage) of each stage stay, by entry time."""
    conversions: list[Conversion]
    """By closed_at."""
    _open_cache: dict[datetime, list[OpenLead]] = field(default_factory=dict)

    @classmethod
    def load(cls, reader: Reader) -> PipelineHistory:
        """One scan of the pipeline tables (merged duplicates left out, as every query does)."""
        merged = f"lead_id NOT IN (SELECT m.lead_id FROM {LEADS.name} m WHERE m.merged_into IS NOT NULL)"
        versions: dict[str, list[_Version]] = defaultdict(list)
        for r in reader.fetch(
            f"SELECT lead_id, valid_from, valid_to, stage, owner, value, currency FROM {LEAD_VERSIONS.name}"
            f" WHERE {merged} ORDER BY lead_id, valid_from, version"
        ):
            versions[r["lead_id"]].append(
                _Version(
                    parse_time(r["valid_from"]),
                    parse_time(r["valid_to"]) if r["valid_to"] is not None else None,
                    r["stage"],
                    r["owner"],
                    int(r["value"]) if r["value"] is not None else None,
                    r["currency"],
                )
            )
        entries: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for r in reader.fetch(
            f"SELECT lead_id, stage, entered_at FROM {STAGE_INTERVALS.name}"
            f" WHERE {merged} ORDER BY lead_id, entered_at, version"
        ):
            entries[r["lead_id"]].append((parse_time(r["entered_at"]), r["stage"]))
        conversions = []
        for r in reader.fetch(
            f"SELECT lead_id, captured_at, closed_at, deal_value, currency FROM {LEADS.name}"
            f" WHERE stage = ? AND closed_at IS NOT NULL AND {merged} ORDER BY closed_at, lead_id",
            [Stage.CONVERTED.value],
        ):
            opened = [v for v in versions.get(r["lead_id"], []) if v.stage in _OPEN]
            conversions.append(
                Conversion(
                    r["lead_id"],
                    parse_time(r["captured_at"]),
                    parse_time(r["closed_at"]),
                    opened[-1].value if opened else None,
                    int(r["deal_value"] or 0),
                    r["currency"],
                )
            )
        return cls(versions=dict(versions), entries=dict(entries), conversions=conversions)

    def open_at(self, moment: datetime) -> list[OpenLead]:
        """The leads open at `moment`, each with its stage's latest entry on or before it; by lead id."""
        moment = utc(moment)
        if moment in self._open_cache:
            return self._open_cache[moment]
        found = []
        for lead_id in sorted(self.versions):
            version = next(
                (
                    v
                    for v in reversed(self.versions[lead_id])
                    if v.valid_from <= moment and (v.valid_to is None or v.valid_to > moment)
                ),
                None,
            )
            if version is None or version.stage not in _OPEN:
                continue
            entered = max(
                (at for at, stage in self.entries.get(lead_id, ()) if stage == version.stage and at <= moment),
                default=moment,  # always found unless business times run backwards
            )
            found.append(
                OpenLead(
                    lead_id,
                    version.stage,
                    version.owner,
                    version.value,
                    version.currency,
                    entered,
                    days_between(entered, moment),
                )
            )
        self._open_cache[moment] = found
        return found

    def converted_between(self, start: datetime, end: datetime) -> list[Conversion]:
        """The conversions with start <= closed_at < end."""
        return [c for c in self.conversions if start <= c.closed_at < end]


ConversionHazard = Callable[[OpenLead, int], float]
"""P(an open lead converts in month k after the forecast date | what is known of it then): the
pluggable part of the forecast (a learned per-lead model can take its place)."""


def default_hazard(stage: str, age_days: float, moment: datetime, k: int) -> float:
    """The defaults' P(month k): the stage's default win probability, in the month of its default
    expected close (entry + default days, or 7 days after `moment` if that is past)."""
    expected = moment + timedelta(days=max(DEFAULT_DAYS_TO_CLOSE[stage] - age_days, 7.0))
    inside = window_start(moment, k) <= expected < window_end(moment, k)
    return DEFAULT_WIN_PROBABILITIES[stage] if inside else 0.0


@dataclass(frozen=True)
class HazardTable:
    """The learned P(convert in month k | stage, age bucket), as of a forecast date."""

    as_of: datetime
    months: int
    by_stage: dict[tuple[str, int], float]
    """(stage, k) -> P(k | stage), smoothed towards the default."""
    by_bucket: dict[tuple[str, int, int], float]
    """(stage, bucket, k) -> P(k | stage, age bucket), smoothed towards the stage's."""
    observations: dict[str, int]
    """Per stage, the open leads observed over the snapshots used for month 0."""
    observed: frozenset[tuple[str, int]] = frozenset()
    """The (stage, k) of which open leads were seen in the snapshots."""
    season: dict[int, float] = field(default_factory=dict)
    """Per month of the quarter (0..2), what converted over what the table expected in such months."""

    def __call__(self, lead: OpenLead, k: int) -> float:
        """P(`lead` converts in month k after `as_of`)."""
        rate = _rate(self.by_stage, self.by_bucket, self.observed, self.as_of, lead, k)
        return min(rate * self.season.get(month_of_quarter(self.as_of, k), 1.0), 1.0)


def _rate(
    by_stage: Mapping[tuple[str, int], float],
    by_bucket: Mapping[tuple[str, int, int], float],
    observed: frozenset[tuple[str, int]],
    as_of: datetime,
    lead: OpenLead,
    k: int,
) -> float:
    """A table's P(`lead` converts in month k) before the month-of-quarter factor."""
    key = (lead.stage, segment_of(lead), k)
    if key in by_bucket:
        return by_bucket[key]
    if (lead.stage, k) in observed:
        return by_stage[lead.stage, k]
    return default_hazard(lead.stage, lead.age_days, as_of, k)  # nothing seen of the stage yet: the defaults


def month_of_quarter(moment: datetime, k: int) -> int:
    """Which month of its calendar quarter (0, 1 or 2) is month k after `moment`."""
    return (moment.month - 1 + k) % 3


def learn_hazard(history: PipelineHistory, as_of: datetime, months: int) -> HazardTable:
    """The hazard table as of `as_of` for months 0..months-1, from the snapshots before it."""
    as_of = utc(as_of)
    first_seen = min((vs[0].valid_from for vs in history.versions.values() if vs), default=as_of)
    by_stage: dict[tuple[str, int], float] = {}
    by_bucket: dict[tuple[str, int, int], float] = {}
    observations: dict[str, int] = defaultdict(int)
    observed: set[tuple[str, int]] = set()
    converted_at = {c.lead_id: c.closed_at for c in history.conversions}
    for k in range(months):
        seen: dict[tuple[str, int], int] = defaultdict(int)
        won: dict[tuple[str, int], int] = defaultdict(int)
        default_sum: dict[str, float] = defaultdict(float)
        for snapshot in _snapshots(as_of, k, first_seen):
            start, end = window_start(snapshot, k), window_end(snapshot, k)
            for lead in history.open_at(snapshot):
                bucket = segment_of(lead)
                seen[lead.stage, bucket] += 1
                default_sum[lead.stage] += default_hazard(lead.stage, lead.age_days, snapshot, k)
                closed = converted_at.get(lead.lead_id)
                if closed is not None and start <= closed < end:
                    won[lead.stage, bucket] += 1
                if k == 0:
                    observations[lead.stage] += 1
        # the pooled rates per segment say how a segment differs from its stage (proportionally)
        all_seen, all_won = sum(seen.values()), sum(won.values())
        pooled = (all_won + 1.0) / (all_seen + 2.0)
        segment_seen: dict[int, int] = defaultdict(int)
        segment_won: dict[int, int] = defaultdict(int)
        for (_, bucket), n in seen.items():
            segment_seen[bucket] += n
        for (_, bucket), n in won.items():
            segment_won[bucket] += n
        for stage in OPEN_STAGE_ORDER:
            stage_seen = sum(n for (s, _), n in seen.items() if s == stage)
            stage_won = sum(n for (s, _), n in won.items() if s == stage)
            prior = default_sum[stage] / stage_seen if stage_seen else default_hazard(stage, 0.0, as_of, k)
            rate = (stage_won + PRIOR_WEIGHT * prior) / (stage_seen + PRIOR_WEIGHT)
            by_stage[stage, k] = rate
            if stage_seen:
                observed.add((stage, k))
            for (s, bucket), n in seen.items():
                if s == stage:
                    lift = (segment_won[bucket] + SMOOTHING * pooled) / (segment_seen[bucket] + SMOOTHING) / pooled
                    shape = min(rate * lift, 1.0)
                    by_bucket[stage, bucket, k] = (won.get((stage, bucket), 0) + SMOOTHING * shape) / (n + SMOOTHING)
    seen_stages = frozenset(observed)
    season: dict[int, float] = {}
    if SEASON_WEIGHT is not None:
        # the months of a quarter convert unevenly where deals are pushed to close by its end
        won_in: dict[int, float] = defaultdict(float)
        expected_in: dict[int, float] = defaultdict(float)
        for snapshot in _snapshots(as_of, 0, first_seen):
            position = month_of_quarter(snapshot, 0)
            end = window_end(snapshot, 0)
            for lead in history.open_at(snapshot):
                expected_in[position] += min(_rate(by_stage, by_bucket, seen_stages, as_of, lead, 0), 1.0)
                closed = converted_at.get(lead.lead_id)
                won_in[position] += closed is not None and snapshot <= closed < end
        weight = SEASON_WEIGHT
        season = {q: (won_in[q] + weight) / (expected_in[q] + weight) for q in range(3) if q in expected_in}
    return HazardTable(
        as_of=as_of,
        months=months,
        by_stage=by_stage,
        by_bucket=by_bucket,
        observations=dict(observations),
        observed=seen_stages,
        season=season,
    )


def _snapshots(as_of: datetime, k: int, first_seen: datetime) -> list[datetime]:
    """The snapshots (as_of moved back whole months, not before the history's first record) whose
    month k had ended by `as_of`; newest first."""
    found = []
    back = 1
    while (snapshot := months_back(as_of, back)) >= months_back(first_seen, 1):
        if window_end(snapshot, k) <= as_of:
            found.append(snapshot)
        back += 1
    return found


def new_business(history: PipelineHistory, as_of: datetime, months: int) -> dict[tuple[int, str], float]:
    """Per (k, currency): the mean over the NEW_BUSINESS_SNAPSHOTS most recent snapshots of the value
    converted in their month k from leads captured after the snapshot."""
    as_of = utc(as_of)
    first_seen = min((vs[0].valid_from for vs in history.versions.values() if vs), default=as_of)
    totals: dict[tuple[int, str], float] = defaultdict(float)
    for k in range(months):
        used = _snapshots(as_of, k, first_seen)[:NEW_BUSINESS_SNAPSHOTS]
        for snapshot in used:
            for c in history.converted_between(window_start(snapshot, k), window_end(snapshot, k)):
                if c.captured_at > snapshot and c.currency is not None:
                    totals[k, c.currency] += c.deal_value / len(used)
    return dict(totals)


class ValueLine(NamedTuple):
    """deal value = intercept + slope x open value, per currency, learned from conversions."""

    intercept: float
    slope: float
    sample_size: int
    learned: bool

    def expected(self, value: int | None) -> float:
        """The expected deal value of a lead of this open value (the intercept without one)."""
        if value is None:
            return max(self.intercept, 0.0) if self.learned else 0.0
        return max(self.intercept + self.slope * value, 0.0)


def learn_value_lines(history: PipelineHistory, as_of: datetime) -> dict[str, ValueLine]:
    """Per currency, the least-squares line from open value to deal value through the conversions
    closed by `as_of`; the identity below MIN_VALUE_SAMPLE of them."""
    by_currency: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c in history.conversions:
        if c.closed_at <= as_of and c.currency is not None and c.open_value is not None:
            by_currency[c.currency].append((float(c.open_value), float(c.deal_value)))
    lines = {}
    for currency, pairs in by_currency.items():
        n = len(pairs)
        if n < MIN_VALUE_SAMPLE:
            lines[currency] = ValueLine(0.0, 1.0, n, False)
            continue
        mean_x = sum(x for x, _ in pairs) / n
        mean_y = sum(y for _, y in pairs) / n
        var = sum((x - mean_x) ** 2 for x, _ in pairs)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / var if var else 0.0
        lines[currency] = ValueLine(mean_y - slope * mean_x, slope, n, True)
    return lines
