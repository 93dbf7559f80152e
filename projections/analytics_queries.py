"""The console's manager and analyst questions of the pipeline read model, each as of a business
time: where the history starts, the leads of the pipeline board with their names, and the rep and
campaign tables.

Like `projections.pipeline_queries` (whose as-of rows every answer here is built from), the SQL
is plain, aggregation happens in Python, merged duplicates are left out, and money stays integer
minor units summed per currency. Who owns a lead, its source and its stage are read as they stood
at `as_of`; a lead's campaign is its current one (a campaign is set when the lead is captured and
no event changes it).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from domain.time import parse_time, utc
from domain.values import Stage
from projections.activities import ACTIVITIES
from projections.campaign_queries import per_lead, return_on, shared_out
from projections.pipeline import LEAD_VERSIONS, LEADS
from projections.pipeline_queries import days_between, lead_versions_at, stage_intervals_until, stages_reached
from projections.row_changes import Reader

_WON, _LOST, _NEW = Stage.CONVERTED.value, Stage.DISQUALIFIED.value, Stage.NEW.value


def first_lead_at(reader: Reader) -> datetime | None:
    """When the earliest lead of the pipeline was captured (its first version's business time);
    None while there is no lead."""
    rows = reader.fetch(f"SELECT MIN(valid_from) AS first FROM {LEAD_VERSIONS.name}")
    first = rows[0]["first"] if rows else None
    return None if first is None else parse_time(first)


def lead_names(reader: Reader, lead_ids: set[str]) -> dict[str, str | None]:
    """The current name of each of these leads (None once erased); ids not in the read model are absent."""
    if not lead_ids:
        return {}
    rows = reader.fetch(f"SELECT lead_id, name FROM {LEADS.name} WHERE merged_into IS NULL")
    return {r["lead_id"]: r["name"] for r in rows if r["lead_id"] in lead_ids}


class RepRow(NamedTuple):
    """One owner's leads as of a date (`owner` None: the leads nobody owned then)."""

    owner: str | None
    open_leads: int
    """Their leads in an open stage."""
    leads_worked: int
    """Their leads that had left `new` by then (moved to another stage, or closed)."""
    won: int
    lost: int
    win_rate: float | None
    """won / (won + lost); None while none of their leads has closed."""
    won_value: dict[str, int]
    """The deal value of their converted leads, per currency."""


def rep_table(reader: Reader, as_of: datetime, owner: str | None = None) -> list[RepRow]:
    """Per owner at `as_of` (only `owner` when given): open leads, leads worked, won, lost, win
    rate and won value; owners in name order, the leads nobody owned last."""
    as_of = utc(as_of)
    versions = lead_versions_at(reader, as_of, owner)
    reached = stages_reached(stage_intervals_until(reader, as_of, owner))
    by_owner: dict[str | None, list[str]] = defaultdict(list)
    stage_of, value_of = {}, {}
    for v in versions:
        by_owner[v.owner].append(v.lead_id)
        stage_of[v.lead_id] = v.stage
        value_of[v.lead_id] = (v.value, v.currency)
    rows = []
    for who in sorted(by_owner, key=lambda o: (o is None, o or "")):
        leads = by_owner[who]
        won = [lead for lead in leads if stage_of[lead] == _WON]
        lost = sum(1 for lead in leads if stage_of[lead] == _LOST)
        value: dict[str, int] = defaultdict(int)
        for lead in won:
            amount, currency = value_of[lead]
            if amount is not None and currency is not None:
                value[currency] += amount
        rows.append(
            RepRow(
                owner=who,
                open_leads=sum(1 for lead in leads if stage_of[lead] not in (_WON, _LOST)),
                leads_worked=sum(1 for lead in leads if reached.get(lead, set()) - {_NEW}),
                won=len(won),
                lost=lost,
                win_rate=len(won) / (len(won) + lost) if won or lost else None,
                won_value=dict(sorted(value.items())),
            )
        )
    return rows


class CampaignRow(NamedTuple):
    """The leads of one source and campaign captured by a date (`campaign` None: no campaign)."""

    source: str | None
    campaign: str | None
    leads: int
    converted: int
    conversion_rate: float | None
    """converted / leads (None for a campaign with costs and no lead yet)."""
    won_value: dict[str, int]
    """The deal value of the converted ones, per currency."""
    cost: dict[str, int] | None = None
    """What the campaign cost by then, per currency (its share, when its leads came from several
    sources); None when costs were not asked for."""
    roi: float | None = None
    """(won value - cost) / cost within one currency (`campaign_queries.return_on`)."""
    cost_per_lead: dict[str, int] | None = None
    """cost / leads per currency, in whole minor units; {} without leads."""


def campaign_table(
    reader: Reader, as_of: datetime, owner: str | None = None, costs: Mapping[str, Mapping[str, int]] | None = None
) -> list[CampaignRow]:
    """Per source and campaign, over the leads captured by `as_of` (only those `owner` owned then,
    when given): leads, conversions, conversion rate and won value; by source, then campaign (no
    campaign last). With `costs` (per campaign, per currency: `campaign_queries.costs_as_of`), each
    row has its cost, ROI and cost per lead too, and a campaign with costs but no lead has a row of
    its own (source None, 0 leads)."""
    as_of = utc(as_of)
    versions = lead_versions_at(reader, as_of, owner)
    campaigns = {
        r["lead_id"]: r["campaign"]
        for r in reader.fetch(f"SELECT lead_id, campaign FROM {LEADS.name} WHERE merged_into IS NULL")
    }
    groups: dict[tuple[str | None, str | None], list[tuple[str, int | None, str | None]]] = defaultdict(list)
    for v in versions:
        groups[v.source, campaigns.get(v.lead_id)].append((v.stage, v.value, v.currency))
    rows = []
    for source, campaign in sorted(groups, key=lambda k: (k[0] is None, k[0] or "", k[1] is None, k[1] or "")):
        leads = groups[source, campaign]
        won = [(amount, currency) for stage, amount, currency in leads if stage == _WON]
        value: dict[str, int] = defaultdict(int)
        for amount, currency in won:
            if amount is not None and currency is not None:
                value[currency] += amount
        rows.append(
            CampaignRow(
                source=source,
                campaign=campaign,
                leads=len(leads),
                converted=len(won),
                conversion_rate=len(won) / len(leads),
                won_value=dict(sorted(value.items())),
            )
        )
    return rows if costs is None else _with_costs(rows, costs)


def _with_costs(rows: list[CampaignRow], costs: Mapping[str, Mapping[str, int]]) -> list[CampaignRow]:
    """The rows with their campaign's cost: shared among the campaign's sources in proportion to
    their leads; a campaign with costs and no row gets one."""
    rows = rows + [CampaignRow(None, name, 0, 0, None, {}) for name in costs if name not in {r.campaign for r in rows}]
    shares: dict[int, dict[str, int]] = {}
    for name, cost in costs.items():
        mine = [i for i, r in enumerate(rows) if r.campaign == name]
        for i, share in zip(mine, shared_out(cost, [rows[i].leads for i in mine]), strict=True):
            shares[i] = share
    priced = []
    for i, row in enumerate(rows):
        cost = shares.get(i, {}) if row.campaign is not None else {}
        priced.append(
            row._replace(cost=cost, roi=return_on(row.won_value, cost), cost_per_lead=per_lead(cost, row.leads))
        )
    return sorted(priced, key=lambda r: (r.source is None, r.source or "", r.campaign is None, r.campaign or ""))


class RepActivityRow(NamedTuple):
    """What one owner did in a period (`owner` None: the leads nobody owned)."""

    owner: str | None
    leads_worked: int
    """Leads they owned at some moment of the period."""
    activities: int
    """Interactions logged in the period on leads they owned at the interaction's time."""
    won: int
    """Leads closed as won in the period while theirs."""
    lost: int
    """Leads closed as lost (disqualified) in the period while theirs."""
    win_rate: float | None
    """won / (won + lost); None when none of theirs closed in the period."""
    won_value: dict[str, int]
    """The deal value of those won, per currency."""
    median_days_to_first_touch: float | None
    """Median of capture -> first interaction, over the leads first touched in the period while theirs."""
    median_days_to_close: float | None
    """Median of capture -> close (won or lost), over the leads that closed in the period while theirs."""
    open_leads: int
    """Their leads in an open stage at the end of the period (`rep_table`)."""


class _Version(NamedTuple):
    lead_id: str
    valid_from: datetime
    valid_to: datetime | None
    owner: str | None
    stage: str
    value: int | None
    currency: str | None


def _versions_until(reader: Reader, end: datetime) -> dict[str, list[_Version]]:
    """Every lead's versions that began before `end`, in business order, merged duplicates left out."""
    rows = reader.fetch(
        f"SELECT lead_id, version, valid_from, valid_to, owner, stage, value, currency FROM {LEAD_VERSIONS.name}"
        f" WHERE valid_from < ? AND lead_id NOT IN (SELECT lead_id FROM {LEADS.name} WHERE merged_into IS NOT NULL)"
        " ORDER BY lead_id, valid_from, version",
        [end],
    )
    versions: dict[str, list[_Version]] = defaultdict(list)
    for r in rows:
        valid_to = parse_time(r["valid_to"]) if r["valid_to"] is not None else None
        value = None if r["value"] is None else int(r["value"])
        versions[r["lead_id"]].append(
            _Version(r["lead_id"], parse_time(r["valid_from"]), valid_to, r["owner"], r["stage"], value, r["currency"])
        )
    return versions


def owner_at(versions: list[_Version], at: datetime) -> tuple[bool, str | None]:
    """(whether the lead existed then, its owner then): the owner of its last version begun by `at`."""
    found: tuple[bool, str | None] = (False, None)
    for v in versions:
        if v.valid_from > at:
            break
        found = (True, v.owner)
    return found


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rep_activity(reader: Reader, start: datetime, end: datetime, owner: str | None = None) -> list[RepActivityRow]:
    """Per owner, over the business-time period [start, end): leads worked, activities, wins and
    losses, win rate, won value, median days to first touch and to close, and open leads at the
    end; only `owner`'s row when given (a row even when they did nothing). Owners in name order,
    the leads nobody owned last."""
    start, end = utc(start), utc(end)
    versions = _versions_until(reader, end)
    worked: dict[str | None, set[str]] = defaultdict(set)
    closes: dict[str | None, list[tuple[str, float, int | None, str | None]]] = defaultdict(list)
    for lead, history in versions.items():
        captured = history[0].valid_from
        for v in history:
            if v.valid_from < end and (v.valid_to is None or v.valid_to > start):
                worked[v.owner].add(lead)
        close = next((v for v in history if v.stage in (_WON, _LOST)), None)
        if close is not None and start <= close.valid_from < end:
            days = days_between(captured, close.valid_from)
            closes[close.owner].append((close.stage, days, close.value, close.currency))
    touches: dict[str | None, int] = defaultdict(int)
    first_touch: dict[str | None, list[float]] = defaultdict(list)
    rows = reader.fetch(
        f"SELECT lead_id, occurred_at FROM {ACTIVITIES.name} WHERE occurred_at < ? ORDER BY lead_id, occurred_at",
        [end],
    )
    touched: set[str] = set()
    for r in rows:
        lead, at = r["lead_id"], parse_time(r["occurred_at"])
        existed, who = owner_at(versions.get(lead, []), at)
        first = lead not in touched
        touched.add(lead)
        if not existed or at < start:
            continue
        touches[who] += 1
        if first:
            first_touch[who].append(days_between(versions[lead][0].valid_from, at))
    open_at_end = {r.owner: r.open_leads for r in rep_table(reader, end - timedelta(microseconds=1))}
    owners = set(worked) | set(touches) | set(closes)
    owners = {owner} if owner is not None else owners
    table = []
    for who in sorted(owners, key=lambda o: (o is None, o or "")):
        closed = closes.get(who, [])
        won = [c for c in closed if c[0] == _WON]
        value: dict[str, int] = defaultdict(int)
        for _, _, amount, currency in won:
            if amount is not None and currency is not None:
                value[currency] += amount
        table.append(
            RepActivityRow(
                owner=who,
                leads_worked=len(worked.get(who, ())),
                activities=touches.get(who, 0),
                won=len(won),
                lost=len(closed) - len(won),
                win_rate=len(won) / len(closed) if closed else None,
                won_value=dict(sorted(value.items())),
                median_days_to_first_touch=_median(first_touch.get(who, [])),
                median_days_to_close=_median([c[1] for c in closed]),
                open_leads=open_at_end.get(who, 0),
            )
        )
    return table
