"""The sales pipeline read model: one row per lead, its versions over business time, and the
intervals it spent in each stage. Every query can be asked as of any business date."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.personal_data import ERASED_NAME
from domain.values import OPEN_STAGES, Stage
from projections.event_record import EventRecord, without_personal_data
from projections.row_changes import Insert, Journal, NewVersion, RowChange, Table, Update, Upsert

LEADS = Table(
    name="pipeline_leads",
    columns={
        "lead_id": "text",
        "name": "text",
        "owner": "text",
        "source": "text",
        "campaign": "text",
        "stage": "text",
        "value": "int",
        "currency": "text",
        "score": "int",
        "captured_at": "timestamp",
        "stage_entered_at": "timestamp",
        "last_interaction_at": "timestamp",
        "closed_at": "timestamp",
        "deal_value": "int",
        "contact_id": "text",
        "disqualified_reason": "text",
        "version": "int",
        "merged_into": "text",
        "absorbed_interactions": "int",
        "absorbed_score": "int",
        "absorbed_last_interaction_at": "timestamp",
    },
    primary_key=("lead_id",),
    indexes=(("stage",), ("owner",), ("source",)),
)
"""One row per lead as it stands now. A merged duplicate keeps its row with `merged_into` set
(the queries leave it out); a survivor's `absorbed_*` columns hold what its duplicates bring
(`domain.merging.absorbed_totals`, carried by its `lead.absorbed` and `lead.released` events)."""

_NO_ABSORBED: dict[str, Any] = {"absorbed_interactions": 0, "absorbed_score": 0, "absorbed_last_interaction_at": None}
"""A lead's absorbed figures while it holds no duplicates."""

LEAD_VERSIONS = Table(
    name="pipeline_lead_versions",
    columns={
        "lead_id": "text",
        "version": "int",
        "valid_from": "timestamp",
        "valid_to": "timestamp",
        "stage": "text",
        "owner": "text",
        "source": "text",
        "value": "int",
        "currency": "text",
    },
    primary_key=("lead_id", "version"),
    indexes=(("valid_from",), ("lead_id", "valid_to")),
)

STAGE_INTERVALS = Table(
    name="pipeline_stage_intervals",
    columns={
        "lead_id": "text",
        "version": "int",
        "stage": "text",
        "entered_at": "timestamp",
        "left_at": "timestamp",
    },
    primary_key=("lead_id", "version"),
    indexes=(("stage", "entered_at"),),
)


LEAD_EVENTS = Table(
    name="pipeline_lead_events",
    columns={
        "lead_id": "text",
        "version": "int",
        "occurred_at": "timestamp",
        "recorded_at": "timestamp",
        "record": "json",
    },
    primary_key=("lead_id", "version"),
    indexes=(("recorded_at",),),
)
"""The journal of every lead's events (`Journal`): a back-dated event rebuilds its lead's rows
from it in business order, so versions, stage intervals and the current row follow business time;
`recorded_at` says what was known when (transaction time)."""


_PERSONAL = {LEADS.name: ("name",)}
"""The pipeline's one column of personal data, which a rebuild from the journal carries over."""


class PipelineProjection:
    """Leads -> pipeline rows; pure: an event record in, row changes out."""

    name: str = "pipeline"
    tables: tuple[Table, ...] = (LEADS, LEAD_VERSIONS, STAGE_INTERVALS, LEAD_EVENTS)

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event, after its journal entry; other aggregates' events change nothing."""
        handler = _HANDLERS.get(record.event_type)
        if handler is None:
            return []
        # the row's version is the newest recorded, whatever the business order it was rebuilt in
        newest = Update(LEADS.name, _lead_key(record), {"version": record.aggregate_version})
        journal = Journal(
            LEAD_EVENTS.name, _lead_key(record), without_personal_data(record), then=(newest,), keep=_PERSONAL
        )
        return [journal, *handler(record)]


def _lead_key(r: EventRecord) -> dict[str, Any]:
    return {"lead_id": str(r.aggregate_id)}


def _captured(r: EventRecord) -> list[RowChange]:
    d = r.data
    lead = {
        "lead_id": str(r.aggregate_id),
        "name": d["name"],
        "owner": d["owner"],
        "source": d["source"],
        "campaign": d["campaign"],
        "stage": Stage.NEW.value,
        "value": d["estimated_value"],
        "currency": d["currency"],
        "score": 0,
        "captured_at": r.occurred_at,
        "stage_entered_at": r.occurred_at,
        "last_interaction_at": None,
        "closed_at": None,
        "deal_value": None,
        "contact_id": str(d["contact_id"]) if d["contact_id"] else None,
        "disqualified_reason": None,
        "version": r.aggregate_version,
        "merged_into": None,
        **_NO_ABSORBED,
    }
    version = {
        "lead_id": lead["lead_id"],
        "version": r.aggregate_version,
        "valid_from": r.occurred_at,
        "valid_to": None,
        "stage": Stage.NEW.value,
        "owner": d["owner"],
        "source": d["source"],
        "value": d["estimated_value"],
        "currency": d["currency"],
    }
    return [
        Upsert(LEADS.name, ("lead_id",), lead),
        Insert(LEAD_VERSIONS.name, version),
        _enter_stage(r, Stage.NEW.value),
    ]


def _enter_stage(r: EventRecord, stage: str) -> Insert:
    return Insert(
        STAGE_INTERVALS.name,
        {
            "lead_id": str(r.aggregate_id),
            "version": r.aggregate_version,
            "stage": stage,
            "entered_at": r.occurred_at,
            "left_at": None,
        },
    )


def _leave_stage(r: EventRecord) -> Update:
    return Update(STAGE_INTERVALS.name, _lead_key(r), {"left_at": r.occurred_at}, where_null=("left_at",))


def _stage_move(
    r: EventRecord, stage: str, version_values: dict[str, Any] | None = None, **lead_values: Any
) -> list[RowChange]:
    return [
        Update(
            LEADS.name,
            _lead_key(r),
            {"stage": stage, "stage_entered_at": r.occurred_at, "version": r.aggregate_version, **lead_values},
        ),
        NewVersion(
            LEAD_VERSIONS.name,
            _lead_key(r),
            r.aggregate_version,
            r.occurred_at,
            {"stage": stage, **(version_values or {})},
        ),
        _leave_stage(r),
        _enter_stage(r, stage),
    ]


def _stage_changed(r: EventRecord) -> list[RowChange]:
    return _stage_move(r, r.data["stage"])


def _disqualified(r: EventRecord) -> list[RowChange]:
    return _stage_move(r, Stage.DISQUALIFIED.value, closed_at=r.occurred_at, disqualified_reason=r.data["reason"])


def _converted(r: EventRecord) -> list[RowChange]:
    # A won lead is worth its deal, in the deal's currency, from the moment it converted.
    deal = {"value": r.data["deal_value"], "currency": r.data["currency"]}
    return _stage_move(
        r,
        Stage.CONVERTED.value,
        deal,
        closed_at=r.occurred_at,
        deal_value=r.data["deal_value"],
        contact_id=str(r.data["contact_id"]),
        **deal,
    )


def _assigned(r: EventRecord) -> list[RowChange]:
    owner = r.data["owner"]
    return [
        Update(LEADS.name, _lead_key(r), {"owner": owner, "version": r.aggregate_version}),
        NewVersion(LEAD_VERSIONS.name, _lead_key(r), r.aggregate_version, r.occurred_at, {"owner": owner}),
    ]


def _scored(r: EventRecord) -> list[RowChange]:
    return [Update(LEADS.name, _lead_key(r), {"score": r.data["score"], "version": r.aggregate_version})]


def _interaction_logged(r: EventRecord) -> list[RowChange]:
    return [Update(LEADS.name, _lead_key(r), {"last_interaction_at": r.occurred_at, "version": r.aggregate_version})]


def _consent_changed(r: EventRecord) -> list[RowChange]:
    # no column of its own (the send-time check is the aggregate's), but the row keeps the version
    return [Update(LEADS.name, _lead_key(r), {"version": r.aggregate_version})]


def _erased(r: EventRecord) -> list[RowChange]:
    # the name every earlier event of the lead now reads as, so a replay writes the same row
    return [Update(LEADS.name, _lead_key(r), {"name": ERASED_NAME, "version": r.aggregate_version})]


def _merged_into(r: EventRecord) -> list[RowChange]:
    return [
        Update(LEADS.name, _lead_key(r), {"merged_into": str(r.data["survivor_id"]), "version": r.aggregate_version})
    ]


def _unmerged(r: EventRecord) -> list[RowChange]:
    return [Update(LEADS.name, _lead_key(r), {"merged_into": None, "version": r.aggregate_version})]


def _absorbed_totals(r: EventRecord) -> list[RowChange]:
    # the survivor's totals after the change come with the event: no row is read to add them up
    totals = {column: r.data[column] for column in _NO_ABSORBED}
    return [Update(LEADS.name, _lead_key(r), {**totals, "version": r.aggregate_version})]


_HANDLERS: dict[str, Callable[[EventRecord], list[RowChange]]] = {
    "lead.captured": _captured,
    "lead.stage_changed": _stage_changed,
    "lead.disqualified": _disqualified,
    "lead.converted": _converted,
    "lead.assigned": _assigned,
    "lead.scored": _scored,
    "lead.interaction_logged": _interaction_logged,
    "lead.consent_changed": _consent_changed,
    "lead.erased": _erased,
    "lead.merged_into": _merged_into,
    "lead.absorbed": _absorbed_totals,
    "lead.unmerged": _unmerged,
    "lead.released": _absorbed_totals,
}

STAGE_ORDER: tuple[str, ...] = tuple(s.value for s in OPEN_STAGES) + (Stage.CONVERTED.value,)
"""Pipeline order, for stage-to-stage conversion rates (converted is the last step)."""
