"""What the learned win probability reads from the pipeline read model: each lead's events from
the pipeline's journal (`pipeline_lead_events`), folded in business order up to a date.

A closed lead's training row is what it was just before its closing event (the stage it was in,
its owner, its interactions until then, its age at close): the closing event itself and anything
after it are never features, so the model never learns that "converted leads are in the stage
converted". An open lead is read as it was at the date asked. Everything is asked in business
time (`occurred_at`), optionally as known at a transaction time (`recorded_at`). A lead merged
into another is left out while its merge stands, as in every pipeline query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.time import utc
from domain.values import Stage
from projections.event_record import EventRecord, record_from_json
from projections.pipeline import LEAD_EVENTS, LEADS
from projections.pipeline_queries import OPEN_STAGE_ORDER, days_between
from projections.row_changes import Reader, business_key
from projections.win_model import LeadFeatures, TrainingRow

_CLOSING = {"lead.converted": True, "lead.disqualified": False}
"""The closing events and whether each is a win."""


@dataclass(frozen=True)
class LeadAt:
    """A lead folded up to an instant: its features then, its rule score then, and how it closed
    (if it had by then) with its features just before closing."""

    features: LeadFeatures
    score: int
    closed_at: datetime | None
    won: bool | None
    before_close: LeadFeatures | None

    @property
    def is_open(self) -> bool:
        """True while in an open stage."""
        return self.features.stage in OPEN_STAGE_ORDER


def _text(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def lead_at(records: Sequence[EventRecord], at: datetime) -> LeadAt | None:
    """The lead its events (any order) make of it at `at` (business time); None when it was
    not captured by then."""
    at = utc(at)
    ordered = sorted((r for r in records if r.occurred_at <= at), key=business_key)
    if not ordered or ordered[0].event_type != "lead.captured":
        return None
    first = ordered[0]
    data = first.data
    captured_at = first.occurred_at
    facts = {
        "stage": Stage.NEW.value,
        "source": _text(data.get("source")),
        "campaign": _text(data.get("campaign")),
        "owner": _text(data.get("owner")),
        "company": _text(data.get("company")),
    }
    interactions, score = 0, 0
    closed_at: datetime | None = None
    won: bool | None = None
    before_close: LeadFeatures | None = None

    def features(moment: datetime) -> LeadFeatures:
        return LeadFeatures(
            lead_id=str(first.aggregate_id),
            stage=str(facts["stage"]),
            source=facts["source"],
            campaign=facts["campaign"],
            owner=facts["owner"],
            company=facts["company"],
            interactions=interactions,
            age_days=max(days_between(captured_at, moment), 0.0),
        )

    for r in ordered[1:]:
        kind = r.event_type
        if kind in _CLOSING and closed_at is None:
            before_close = features(r.occurred_at)
            closed_at, won = r.occurred_at, _CLOSING[kind]
            facts["stage"] = Stage.CONVERTED.value if won else Stage.DISQUALIFIED.value
        elif kind == "lead.stage_changed":
            facts["stage"] = _text(r.data["stage"])
        elif kind == "lead.assigned":
            facts["owner"] = _text(r.data["owner"])
        elif kind == "lead.interaction_logged":
            interactions += 1
        elif kind == "lead.scored":
            score = int(r.data["score"])
    return LeadAt(features(at), score, closed_at, won, before_close)


def lead_histories(
    reader: Reader, known_at: datetime | None = None, lead_id: str | None = None
) -> dict[str, list[EventRecord]]:
    """Every lead's journaled events (only `lead_id`'s when given; only those recorded by
    `known_at` when given), merged duplicates left out, by lead id."""
    where = [f"lead_id NOT IN (SELECT m.lead_id FROM {LEADS.name} m WHERE m.merged_into IS NOT NULL)"]
    params: list[object] = []
    if known_at is not None:
        where.append("recorded_at <= ?")
        params.append(utc(known_at))
    if lead_id is not None:
        where.append("lead_id = ?")
        params.append(lead_id)
    rows = reader.fetch(
        f"SELECT lead_id, record FROM {LEAD_EVENTS.name} WHERE {' AND '.join(where)} ORDER BY lead_id, version",
        params,
    )
    histories: dict[str, list[EventRecord]] = {}
    for row in rows:
        histories.setdefault(str(row["lead_id"]), []).append(record_from_json(row["record"]))
    return histories


def training_rows(histories: Iterable[Sequence[EventRecord]], as_of: datetime) -> list[TrainingRow]:
    """The leads closed on or before `as_of`, each as it was just before closing."""
    rows = []
    for records in histories:
        lead = lead_at(records, as_of)
        if lead is not None and lead.before_close is not None and lead.closed_at is not None:
            rows.append(TrainingRow(lead.before_close, bool(lead.won), lead.closed_at))
    return rows


@dataclass(frozen=True)
class BacktestLead:
    """A lead open at the backtest date that has closed since: as it was then, and how it closed."""

    then: LeadAt
    won: bool


def closed_since(histories: Iterable[Sequence[EventRecord]], as_of: datetime) -> list[BacktestLead]:
    """The leads open at `as_of` that closed after it (by the newest event known), as they were at `as_of`."""
    found = []
    for records in histories:
        then = lead_at(records, as_of)
        if then is None or not then.is_open:
            continue
        latest = max(r.occurred_at for r in records)
        final = lead_at(records, latest)
        if final is not None and final.won is not None:
            found.append(BacktestLead(then, final.won))
    return found
