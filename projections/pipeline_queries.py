"""Questions asked of the pipeline read model, each as of any business time.

Every query reads only rows that were already true at `as_of`: the lead versions valid at that
instant and the stage intervals entered on or before it (an interval left after `as_of` counts as
still open). Asked over the full history, a query therefore answers exactly what it would have
answered over a replay of only the events that occurred on or before `as_of`, with one exception:
a lead merged into another is left out as of every date while its merge stands (a merge corrects
who is who, it is no move through the pipeline; docs/read-models.md).

The SQL is plain (no dialect functions, `?` placeholders); timestamps are compared as ISO-8601
UTC text and all date arithmetic and aggregation happen here in Python. Money stays integer minor
units and is always summed per currency.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from domain.time import parse_time, utc
from domain.values import Stage
from projections.pipeline import LEAD_VERSIONS, LEADS, STAGE_INTERVALS, STAGE_ORDER
from projections.row_changes import Reader

OPEN_STAGE_ORDER: tuple[str, ...] = STAGE_ORDER[:-1]
"""The open stages in pipeline order (STAGE_ORDER without its final `converted`)."""

SUMMARY_STAGES: tuple[str, ...] = STAGE_ORDER + (Stage.DISQUALIFIED.value,)
"""Every stage, as listed in a summary: pipeline order, then `disqualified`."""

CLOSED_STAGES: tuple[str, ...] = (Stage.CONVERTED.value, Stage.DISQUALIFIED.value)

DEFAULT_WIN_PROBABILITIES: Mapping[str, float] = MappingProxyType(
    {
        Stage.NEW.value: 0.05,
        Stage.CONTACTED.value: 0.10,
        Stage.NURTURING.value: 0.15,
        Stage.QUALIFIED.value: 0.30,
        Stage.PROPOSAL.value: 0.50,
        Stage.NEGOTIATION.value: 0.70,
    }
)
"""Chance that an open lead in a stage is eventually converted, used when it is not learned.

    new .05, contacted .10, nurturing .15, qualified .30, proposal .50, negotiation .70

Conventional starting values for a B2B funnel; `forecast.learn_win_probabilities` replaces them
per stage once enough leads that reached the stage have closed."""

SECONDS_PER_DAY = 86_400.0


def days_between(start: datetime, end: datetime) -> float:
    """Elapsed days, fractional."""
    return (end - start).total_seconds() / SECONDS_PER_DAY


# --- the rows every query is built from -------------------------------------------------------


class LeadVersion(NamedTuple):
    """A lead as it stood at some instant."""

    lead_id: str
    stage: str
    owner: str | None
    source: str | None
    value: int | None
    currency: str | None


class StageInterval(NamedTuple):
    """A stay of a lead in a stage, as known at some instant (`left_at` None: not left by then)."""

    lead_id: str
    stage: str
    entered_at: datetime
    left_at: datetime | None


_VALID_AT = "v.valid_from <= ? AND (v.valid_to IS NULL OR v.valid_to > ?)"

_NOT_MERGED = f"lead_id NOT IN (SELECT m.lead_id FROM {LEADS.name} m WHERE m.merged_into IS NOT NULL)"
"""Leaves out the leads merged into another (see docs/read-models.md, merged duplicates): a merge
says two records are one person, so while it stands the duplicate is in no answer, as of any
date; its survivor's figures count it instead."""


def _filters(owner: str | None, source: str | None) -> tuple[str, list[Any]]:
    sql, params = "", list[Any]()
    if owner is not None:
        sql, params = sql + " AND v.owner = ?", [*params, owner]
    if source is not None:
        sql, params = sql + " AND v.source = ?", [*params, source]
    return sql, params


def lead_versions_at(
    reader: Reader, as_of: datetime, owner: str | None = None, source: str | None = None
) -> list[LeadVersion]:
    """Every lead as it stood at `as_of` (captured by then), optionally only one owner's or source's;
    ordered by lead id."""
    as_of = utc(as_of)
    extra, params = _filters(owner, source)
    rows = reader.fetch(
        f"SELECT v.lead_id, v.stage, v.owner, v.source, v.value, v.currency FROM {LEAD_VERSIONS.name} v"
        f" WHERE {_VALID_AT} AND v.{_NOT_MERGED}{extra} ORDER BY v.lead_id",
        [as_of, as_of, *params],
    )
    return [
        LeadVersion(r["lead_id"], r["stage"], r["owner"], r["source"], _int_or_none(r["value"]), r["currency"])
        for r in rows
    ]


def stage_intervals_until(
    reader: Reader, as_of: datetime, owner: str | None = None, source: str | None = None
) -> list[StageInterval]:
    """Every stage interval entered on or before `as_of`, as known then: one left later is still open.

    The owner and source filters select leads by their owner and source at `as_of`. Ordered by
    lead and entry time."""
    as_of = utc(as_of)
    if owner is None and source is None:
        join, params = "", []
    else:
        extra, filter_params = _filters(owner, source)
        join = f" JOIN {LEAD_VERSIONS.name} v ON v.lead_id = i.lead_id AND {_VALID_AT}{extra}"
        params = [as_of, as_of, *filter_params]
    rows = reader.fetch(
        f"SELECT i.lead_id, i.stage, i.entered_at, i.left_at FROM {STAGE_INTERVALS.name} i{join}"
        f" WHERE i.entered_at <= ? AND i.{_NOT_MERGED} ORDER BY i.lead_id, i.entered_at, i.version",
        [*params, as_of],
    )
    intervals = []
    for r in rows:
        left = parse_time(r["left_at"]) if r["left_at"] is not None else None
        if left is not None and left > as_of:
            left = None  # left after as_of: still in the stage then
        intervals.append(StageInterval(r["lead_id"], r["stage"], parse_time(r["entered_at"]), left))
    return intervals


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def stages_reached(intervals: list[StageInterval]) -> dict[str, set[str]]:
    """The stages each lead has entered."""
    reached: dict[str, set[str]] = defaultdict(set)
    for i in intervals:
        reached[i.lead_id].add(i.stage)
    return reached


def weighted(amount: float, probability: float) -> int:
    """An expected amount in minor units, rounded to the nearest unit."""
    return round(amount * probability)


def resolve_win_probabilities(given: Mapping[str, float] | None) -> dict[str, float]:
    """The defaults, overridden by the given probabilities of any open stages."""
    probabilities = dict(DEFAULT_WIN_PROBABILITIES)
    for stage, p in (given or {}).items():
        if stage not in probabilities:
            raise ValueError(f"win probabilities are for open stages, not {stage!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"win probability of {stage!r} must be between 0 and 1, got {p}")
        probabilities[stage] = float(p)
    return probabilities


# --- the summary ------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class StageTotals(_Frozen):
    """Leads in one stage at `as_of`; money in minor units per currency."""

    stage: str
    count: int
    value: dict[str, int]
    win_probability: float | None
    """None for the closed stages."""
    weighted_value: dict[str, int]
    """value x win probability (empty for the closed stages)."""


class StageConversion(_Frozen):
    """Of the leads that entered `stage` by `as_of`, how many had by then reached a later stage of
    the pipeline order (converted included; disqualified is not a step forward)."""

    stage: str
    entered: int
    advanced: int
    rate: float | None
    """advanced / entered; None when no lead entered the stage."""


class StageDuration(_Frozen):
    """Days spent in a stage, over the stays that had ended by `as_of`."""

    stage: str
    intervals: int
    mean_days: float | None
    median_days: float | None


class PipelineSummary(_Frozen):
    """The pipeline at one business time, optionally for one owner and/or source (as of then)."""

    as_of: datetime
    owner: str | None
    source: str | None
    stages: list[StageTotals]
    """All eight stages: pipeline order, then disqualified."""
    open_count: int
    open_value: dict[str, int]
    weighted_value: dict[str, int]
    win_probabilities: dict[str, float]
    conversions: list[StageConversion]
    """One per open stage, in pipeline order."""
    converted: int
    disqualified: int
    win_rate: float | None
    """converted / (converted + disqualified), over leads closed by `as_of`; None if none closed."""
    time_in_stage: list[StageDuration]
    """One per open stage, in pipeline order."""

    def stage(self, name: str) -> StageTotals:
        return next(s for s in self.stages if s.stage == name)

    def conversion(self, name: str) -> StageConversion:
        return next(c for c in self.conversions if c.stage == name)

    def duration(self, name: str) -> StageDuration:
        return next(d for d in self.time_in_stage if d.stage == name)


def pipeline_summary(
    reader: Reader,
    as_of: datetime,
    owner: str | None = None,
    source: str | None = None,
    win_probabilities: Mapping[str, float] | None = None,
) -> PipelineSummary:
    """Counts, value and weighted value per stage, conversion rates, win rate and time in stage,
    as of `as_of`, for the leads whose owner/source at `as_of` match the filters given.

    `win_probabilities` overrides DEFAULT_WIN_PROBABILITIES for the open stages it names."""
    as_of = utc(as_of)
    probabilities = resolve_win_probabilities(win_probabilities)
    versions = lead_versions_at(reader, as_of, owner, source)
    intervals = stage_intervals_until(reader, as_of, owner, source)

    counts: dict[str, int] = defaultdict(int)
    values: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in versions:
        counts[v.stage] += 1
        if v.value is not None and v.currency is not None:
            values[v.stage][v.currency] += v.value

    stages = []
    for stage in SUMMARY_STAGES:
        p = probabilities.get(stage)
        value = dict(sorted(values[stage].items()))
        stages.append(
            StageTotals(
                stage=stage,
                count=counts[stage],
                value=value,
                win_probability=p,
                weighted_value={c: weighted(a, p) for c, a in value.items()} if p is not None else {},
            )
        )
    open_stages = [s for s in stages if s.stage in OPEN_STAGE_ORDER]

    reached = stages_reached(intervals)
    conversions = []
    for index, stage in enumerate(OPEN_STAGE_ORDER):
        later = set(STAGE_ORDER[index + 1 :])
        entered = [lead for lead, seen in reached.items() if stage in seen]
        advanced = sum(1 for lead in entered if reached[lead] & later)
        conversions.append(
            StageConversion(
                stage=stage,
                entered=len(entered),
                advanced=advanced,
                rate=advanced / len(entered) if entered else None,
            )
        )
    converted = sum(1 for seen in reached.values() if Stage.CONVERTED.value in seen)
    disqualified = sum(1 for seen in reached.values() if Stage.DISQUALIFIED.value in seen)

    stays: dict[str, list[float]] = defaultdict(list)
    for i in intervals:
        if i.left_at is not None:
            stays[i.stage].append(days_between(i.entered_at, i.left_at))
    durations = [
        StageDuration(
            stage=stage,
            intervals=len(stays[stage]),
            mean_days=statistics.fmean(stays[stage]) if stays[stage] else None,
            median_days=statistics.median(stays[stage]) if stays[stage] else None,
        )
        for stage in OPEN_STAGE_ORDER
    ]

    return PipelineSummary(
        as_of=as_of,
        owner=owner,
        source=source,
        stages=stages,
        open_count=sum(s.count for s in open_stages),
        open_value=_sum_per_currency(s.value for s in open_stages),
        weighted_value=_sum_per_currency(s.weighted_value for s in open_stages),
        win_probabilities=probabilities,
        conversions=conversions,
        converted=converted,
        disqualified=disqualified,
        win_rate=converted / (converted + disqualified) if converted + disqualified else None,
        time_in_stage=durations,
    )


def _sum_per_currency(amounts: Any) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for per_currency in amounts:
        for currency, amount in per_currency.items():
            total[currency] += amount
    return dict(sorted(total.items()))


# --- the lead list ----------------------------------------------------------------------------


class LeadRow(_Frozen):
    """One lead as it stands now in `pipeline_leads` (money in minor units)."""

    lead_id: str
    name: str | None
    owner: str | None
    source: str | None
    campaign: str | None
    stage: str
    value: int | None
    """The estimate while open, the deal value once converted."""
    currency: str | None
    score: int
    """Its own score, or the highest of the duplicates merged into it when that is higher."""
    captured_at: datetime
    stage_entered_at: datetime
    last_interaction_at: datetime | None
    """Its latest interaction, or a merged duplicate's when that is later."""
    closed_at: datetime | None
    deal_value: int | None
    contact_id: str | None
    disqualified_reason: str | None
    version: int
    absorbed_interactions: int = 0
    """How many interactions the duplicates merged into this lead brought (0 when none)."""


_ABSORBED_COLUMNS = ("absorbed_score", "absorbed_last_interaction_at")
_LEAD_ROW_COLUMNS = (*LeadRow.model_fields, *_ABSORBED_COLUMNS)
_LEAD_ROW_TIMES = ("captured_at", "stage_entered_at", "last_interaction_at", "closed_at")


def list_leads(
    reader: Reader,
    *,
    stage: str | None = None,
    owner: str | None = None,
    unassigned: bool = False,
    source: str | None = None,
    min_score: int | None = None,
    after: str | None = None,
    limit: int = 50,
    among: Sequence[str] | None = None,
) -> list[LeadRow]:
    """Current leads matching every filter given (`unassigned`: only those nobody owns; `among`:
    only these lead ids; never a merged duplicate: its survivor's score and last interaction count
    it), in lead id order, starting after the lead id `after` (keyset pagination: a page never
    repeats or skips a lead that existed on the previous one), at most `limit` of them."""

    where, params = ["merged_into IS NULL"], list[Any]()
    if among is not None:
        if not among:
            return []
        where.append(f"lead_id IN ({', '.join('?' * len(among))})")
        params.extend(among)
    if unassigned:
        where.append("owner IS NULL")
    for column, value in (("stage", stage), ("owner", owner), ("source", source)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if min_score is not None:
        where.append("(score >= ? OR absorbed_score >= ?)")
        params += [min_score, min_score]
    if after is not None:
        where.append("lead_id > ?")
        params.append(after)
    rows = reader.fetch(
        f"SELECT {', '.join(_LEAD_ROW_COLUMNS)} FROM {LEADS.name} WHERE {' AND '.join(where)}"
        f" ORDER BY lead_id LIMIT {max(int(limit), 0)}",
        params,
    )
    leads = []
    for row in rows:
        values = dict(row)
        for column in _LEAD_ROW_TIMES:
            if values[column] is not None:
                values[column] = parse_time(values[column])
        values["score"] = max(int(values["score"] or 0), int(values.pop("absorbed_score") or 0))
        absorbed_last = values.pop("absorbed_last_interaction_at")
        if absorbed_last is not None:
            absorbed_last = parse_time(absorbed_last)
            last = values["last_interaction_at"]
            values["last_interaction_at"] = absorbed_last if last is None else max(last, absorbed_last)
        values["absorbed_interactions"] = int(values["absorbed_interactions"] or 0)
        values["value"] = _int_or_none(values["value"])
        values["deal_value"] = _int_or_none(values["deal_value"])
        values["version"] = int(values["version"])
        leads.append(LeadRow.model_validate(values))
    return leads


def with_current_names(reader: Reader, rows: Sequence[LeadRow]) -> list[LeadRow]:
    """`rows` (leads as they stood at some moment, from a scratch fold of the journal, which
    holds no names) with each lead's name as it is now (erased when the person was erased)."""
    if not rows:
        return []
    ids = [row.lead_id for row in rows]
    found = reader.fetch(f"SELECT lead_id, name FROM {LEADS.name} WHERE lead_id IN ({', '.join('?' * len(ids))})", ids)
    names = {str(r["lead_id"]): r["name"] for r in found}
    return [row.model_copy(update={"name": names.get(row.lead_id, row.name)}) for row in rows]


def lead_ids_owned_by(reader: Reader, owner: str) -> set[str]:
    """The ids of the leads `owner` owns now."""
    from projections.pipeline import LEADS

    return {str(r["lead_id"]) for r in reader.fetch(f"SELECT lead_id FROM {LEADS.name} WHERE owner = ?", [owner])}


# --- each owner's workload (what assignment rules balance) ---------------------------------------


def open_leads_by_owner(reader: Reader) -> dict[str, int]:
    """How many open leads each owner has now, merged duplicates left out (owners with none are
    absent)."""

    stages = ", ".join("?" for _ in OPEN_STAGE_ORDER)
    rows = reader.fetch(
        f"SELECT owner, COUNT(*) AS leads FROM {LEADS.name} WHERE owner IS NOT NULL AND merged_into IS NULL"
        f" AND stage IN ({stages})"
        " GROUP BY owner ORDER BY owner",
        list(OPEN_STAGE_ORDER),
    )
    return {row["owner"]: int(row["leads"]) for row in rows}


def last_assignments_since(reader: Reader, since: Mapping[str, datetime]) -> dict[str, datetime]:
    """When each owner named in `since` was last given a lead from that owner's own moment on, in
    business time (as `assignments_since` counts them); owners given none since are absent."""
    latest: dict[str, datetime] = {}
    for owner, at in _assignments(reader, since):
        if owner not in latest or at > latest[owner]:
            latest[owner] = at
    return latest


def _assignments(reader: Reader, since: Mapping[str, datetime]) -> list[tuple[str, datetime]]:
    """(owner, when) of every lead given to an owner named in `since`, from that owner's moment on."""
    if not since:
        return []
    starts = {owner: utc(moment) for owner, moment in since.items()}
    rows = reader.fetch(
        f"SELECT v.lead_id, v.owner, v.valid_from FROM {LEAD_VERSIONS.name} v WHERE v.lead_id IN"
        f" (SELECT lead_id FROM {LEAD_VERSIONS.name} WHERE valid_from >= ?) ORDER BY v.lead_id, v.version",
        [min(starts.values())],
    )
    found = []
    lead, previous = None, None
    for row in rows:
        if row["lead_id"] != lead:
            lead, previous = row["lead_id"], None
        owner = row["owner"]
        if owner is not None and owner != previous and owner in starts:
            at = parse_time(row["valid_from"])
            if at >= starts[owner]:
                found.append((owner, at))
        previous = owner
    return found


def assignments_since(reader: Reader, since: Mapping[str, datetime], until: datetime | None = None) -> dict[str, int]:
    """How many leads were given to each owner named in `since` from that owner's own moment on
    (e.g. the start of their day, `domain.team.User.day_start`) and before `until` (no end by
    default), in business time: a lead captured with them as its owner, or assigned to them from
    someone else or from no one. Every owner asked about is in the answer (0 when none)."""
    counts = dict.fromkeys(since, 0)
    end = None if until is None else utc(until)
    for owner, at in _assignments(reader, since):
        if end is None or at < end:
            counts[owner] += 1
    return counts


# --- the console's lists (hot leads, search by name) ----------------------------------------------

OPEN_STAGES = ("new", "contacted", "nurturing", "qualified", "proposal", "negotiation")


class LeadHit(NamedTuple):
    """A lead in a short list: its id, name, stage, owner and score (a merged duplicate's score
    counting for its survivor)."""

    lead_id: str
    name: str | None
    stage: str
    owner: str | None
    score: int


def _hits(reader: Reader, where: list[str], params: list[Any], order: str, limit: int) -> list[LeadHit]:
    rows = reader.fetch(
        f"SELECT lead_id, name, stage, owner, score, absorbed_score FROM {LEADS.name}"
        f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {max(int(limit), 0)}",
        params,
    )
    return [
        LeadHit(
            r["lead_id"], r["name"], r["stage"], r["owner"], max(int(r["score"] or 0), int(r["absorbed_score"] or 0))
        )
        for r in rows
    ]


def hottest_leads(reader: Reader, *, owner: str | None = None, limit: int = 10) -> list[LeadHit]:
    """The open leads scoring highest, highest first (then by lead id); only `owner`'s when given."""
    where = ["merged_into IS NULL", f"stage IN ({', '.join('?' for _ in OPEN_STAGES)})"]
    params: list[Any] = list(OPEN_STAGES)
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    order = "CASE WHEN absorbed_score > score THEN absorbed_score ELSE score END DESC, lead_id"
    return _hits(reader, where, params, order, limit)


def leads_named(reader: Reader, text: str, *, owner: str | None = None, limit: int = 20) -> list[LeadHit]:
    """Current leads whose name contains `text` (any case), in name order; only `owner`'s when given."""
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where, params = ["merged_into IS NULL", "LOWER(name) LIKE ? ESCAPE '\\'"], list[Any]([pattern])
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    return _hits(reader, where, params, "name, lead_id", limit)
