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

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from domain.time import parse_time, utc
from domain.values import Stage
from projections.pipeline import LEAD_VERSIONS, LEADS
from projections.pipeline_queries import lead_versions_at, stage_intervals_until, stages_reached
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
    """converted / leads."""
    won_value: dict[str, int]
    """The deal value of the converted ones, per currency."""


def campaign_table(reader: Reader, as_of: datetime, owner: str | None = None) -> list[CampaignRow]:
    """Per source and campaign, over the leads captured by `as_of` (only those `owner` owned then,
    when given): leads, conversions, conversion rate and won value; by source, then campaign (no
    campaign last)."""
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
    return rows
