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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from domain.time import parse_time, utc
from domain.values import Stage
from projections.pipeline import LEAD_EVENTS, LEADS
from projections.pipeline_queries import OPEN_STAGE_ORDER, days_between
from projections.row_changes import Reader
from projections.win_model import Contribution, LeadFeatures, NoModel, TrainingRow, WinModel, auc, train

_CLOSING = {"lead.converted": True, "lead.disqualified": False}
"""The closing events and whether each is a win."""


class JournalEntry(NamedTuple):
    """One of a lead's journaled events, as much of it as the model reads."""

    event_type: str
    version: int
    occurred_at: datetime
    data: Mapping[str, Any]

    def business_key(self) -> tuple[bool, datetime, int]:
        """Its place among the lead's events: creation first, then `occurred_at`, then version."""
        return (self.version != 1, self.occurred_at, self.version)


def entry_of(record_json: str) -> JournalEntry:
    """The entry of a journal record (`projections.event_record.record_to_json`), read with the
    plain JSON decoder: only its occurrence time is turned back into a datetime."""
    record = json.loads(record_json)
    occurred = record["occurred_at"]
    return JournalEntry(
        record["event_type"],
        int(record["aggregate_version"]),
        parse_time(occurred["$datetime"] if isinstance(occurred, dict) else occurred),
        record["data"],
    )


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


def lead_at(lead_id: str, entries: Sequence[JournalEntry], at: datetime) -> LeadAt | None:
    """The lead its events (any order) make of it at `at` (business time); None when it was
    not captured by then."""
    at = utc(at)
    ordered = sorted((r for r in entries if r.occurred_at <= at), key=JournalEntry.business_key)
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
            lead_id=lead_id,
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
    reader: Reader, known_at: datetime | None = None, lead_ids: Sequence[str] | None = None
) -> dict[str, list[JournalEntry]]:
    """Every lead's journaled events (only the `lead_ids`' when given; only those recorded by
    `known_at` when given), merged duplicates left out, by lead id."""
    where = [f"lead_id NOT IN (SELECT m.lead_id FROM {LEADS.name} m WHERE m.merged_into IS NOT NULL)"]
    params: list[object] = []
    if known_at is not None:
        where.append("recorded_at <= ?")
        params.append(utc(known_at))
    step = _IDS_PER_QUERY
    chunks = [None] if lead_ids is None else [lead_ids[i : i + step] for i in range(0, len(lead_ids), step)]
    histories: dict[str, list[JournalEntry]] = {}
    for chunk in chunks:
        only = [] if chunk is None else [f"lead_id IN ({', '.join('?' * len(chunk))})"]
        rows = reader.fetch(
            f"SELECT lead_id, record FROM {LEAD_EVENTS.name} WHERE {' AND '.join(where + only)} "
            "ORDER BY lead_id, version",
            [*params, *(chunk or [])],
        )
        for row in rows:
            histories.setdefault(str(row["lead_id"]), []).append(entry_of(row["record"]))
    return histories


_IDS_PER_QUERY = 500
"""Leads named per journal query (bound parameters stay well below SQLite's limit)."""


def training_fingerprint(reader: Reader, before: datetime, known_at: datetime | None = None) -> tuple[int, str | None]:
    """What tells whether the training set as of `before` changed: how many journal entries
    occurred before it and the latest time one of them was recorded (as known at `known_at`)."""
    where, params = "occurred_at < ?", [utc(before)]
    if known_at is not None:
        where, params = where + " AND recorded_at <= ?", [*params, utc(known_at)]
    [row] = reader.fetch(
        f"SELECT COUNT(*) AS entries, MAX(recorded_at) AS latest FROM {LEAD_EVENTS.name} WHERE {where}", params
    )
    latest = row["latest"]
    return int(row["entries"]), None if latest is None else str(latest)


def training_rows(histories: Mapping[str, Sequence[JournalEntry]], as_of: datetime) -> list[TrainingRow]:
    """The leads closed on or before `as_of`, each as it was just before closing."""
    rows = []
    for lead_id, entries in histories.items():
        lead = lead_at(lead_id, entries, as_of)
        if lead is not None and lead.before_close is not None and lead.closed_at is not None:
            rows.append(TrainingRow(lead.before_close, bool(lead.won), lead.closed_at))
    return rows


@dataclass(frozen=True)
class BacktestLead:
    """A lead open at the backtest date that has closed since: as it was then, and how it closed."""

    then: LeadAt
    won: bool


def closed_since(histories: Mapping[str, Sequence[JournalEntry]], as_of: datetime) -> list[BacktestLead]:
    """The leads open at `as_of` that closed after it (by the newest event known), as they were at `as_of`."""
    found = []
    for lead_id, entries in histories.items():
        then = lead_at(lead_id, entries, as_of)
        if then is None or not then.is_open:
            continue
        latest = max(r.occurred_at for r in entries)
        final = lead_at(lead_id, entries, latest)
        if final is not None and final.won is not None:
            found.append(BacktestLead(then, final.won))
    return found


# --- the answers: a lead's learned win probability, and the backtest -----------------------------


@dataclass(frozen=True)
class LeadWinProbability:
    """A lead's learned P(won) at a date with its explanation, or None and why not."""

    value: float | None
    reason: str | None
    model_version: str | None
    trained_as_of: datetime
    base_log_odds: float | None
    explanation: list[Contribution]


def learn(reader: Reader, trained_as_of: datetime, known_at: datetime | None = None) -> WinModel | NoModel:
    """The model learned from the leads closed by `trained_as_of` (as known at `known_at`)."""
    return train(training_rows(lead_histories(reader, known_at), trained_as_of), trained_as_of)


def lead_win_probability(
    reader: Reader, model: WinModel | NoModel, lead_id: str, as_of: datetime, known_at: datetime | None = None
) -> LeadWinProbability:
    """The lead as it was at `as_of` (as known at `known_at`), scored by `model`."""

    def without(reason: str) -> LeadWinProbability:
        return LeadWinProbability(None, reason, None, model.trained_as_of, None, [])

    if isinstance(model, NoModel):
        return without(model.reason)
    lead = lead_at(lead_id, lead_histories(reader, known_at, [lead_id]).get(lead_id, []), as_of)
    if lead is None:
        return without("the pipeline read model does not hold this lead at that time (yet)")
    if not lead.is_open:
        return without(f"the lead is closed ({lead.features.stage}): its outcome is known")
    explained = model.explain(lead.features)
    return LeadWinProbability(
        explained.probability,
        None,
        model.version,
        model.trained_as_of,
        explained.base_log_odds,
        explained.contributions,
    )


@dataclass(frozen=True)
class ScoringBacktest:
    """The learned probability and the rule score as of a date, judged by how the leads open
    then have closed since: the AUC of each (None when it cannot be told)."""

    as_of: datetime
    model_version: str | None
    reason: str | None
    """Why there is no learned model as of `as_of`, when there is none."""
    trained_leads: int
    leads: int
    """Leads open at `as_of` that have closed since."""
    won: int
    lost: int
    learned_auc: float | None
    rule_auc: float | None


def scoring_backtest(reader: Reader, as_of: datetime) -> ScoringBacktest:
    """Train as of `as_of`, score the leads open then with it and with their rule score then,
    and compare each with how those leads have closed since."""
    as_of = utc(as_of)
    histories = lead_histories(reader)
    model = train(training_rows(histories, as_of), as_of)
    judged = closed_since(histories, as_of)
    outcomes = [lead.won for lead in judged]
    won = sum(outcomes)
    rule_auc = auc([float(lead.then.score) for lead in judged], outcomes)
    if isinstance(model, NoModel):
        return ScoringBacktest(as_of, None, model.reason, 0, len(judged), won, len(judged) - won, None, rule_auc)
    learned = [model.probability(lead.then.features) for lead in judged]
    return ScoringBacktest(
        as_of, model.version, None, model.leads, len(judged), won, len(judged) - won, auc(learned, outcomes), rule_auc
    )
