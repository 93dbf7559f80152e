"""Read models as they were known at a past moment (transaction time): the journaled read models
(the pipeline) rebuilt, in a scratch store in memory, from the journal entries recorded by then,
each aggregate folded from scratch in business order. What was recorded later, back-dated or
not, is left out; what was known then counts at its business time. Folded from the entries that
occurred by a date too, they are the leads as they stood then (the lead list as of a date)."""

from __future__ import annotations

from datetime import datetime

from projections.event_record import EventRecord, record_from_json
from projections.pipeline import LEAD_EVENTS, PipelineProjection
from projections.row_changes import Reader
from services.storage.read_model_store import ReadModelStore
from services.storage.recorders import read_model_recorder

_IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}


def pipeline_as_known_at(
    live: Reader, known_at: datetime | None, occurred_by: datetime | None = None
) -> ReadModelStore:
    """A scratch pipeline (in memory; close it after use) holding what the live journal says was
    recorded by `known_at` (everything when None), and with `occurred_by` only the events that
    occurred by then: each lead the fold of those events in business order, as it stood then.
    Its rows carry no personal data: names read as erased."""
    projection = PipelineProjection()
    scratch = ReadModelStore(read_model_recorder(_IN_MEMORY), [projection])
    where, params = [], []
    if known_at is not None:
        where, params = ["recorded_at <= ?"], [known_at]
    if occurred_by is not None:
        where, params = [*where, "occurred_at <= ?"], [*params, occurred_by]
    rows = live.fetch(
        f"SELECT lead_id, record FROM {LEAD_EVENTS.name}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY lead_id, version",
        params,
    )
    per_lead: dict[str, list[EventRecord]] = {}
    for row in rows:
        per_lead.setdefault(row["lead_id"], []).append(record_from_json(row["record"]))
    scratch.apply_folds(list(per_lead.values()))
    return scratch
