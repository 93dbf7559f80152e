"""The nurture read model: one row per enrolment of a lead in a sequence (its status, how it
ended, how many steps it did, whether the lead was converted afterwards), and the per-sequence
statistics counted from those rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.time import parse_time
from projections.event_record import EventRecord
from projections.row_changes import Insert, Reader, RowChange, Table, Update

ENROLMENTS = Table(
    name="nurture_enrolments",
    columns={
        "lead_id": "text",
        "sequence": "text",
        "enrolment": "int",
        "status": "text",
        "exit_reason": "text",
        "steps_done": "int",
        "enrolled_at": "timestamp",
        "ended_at": "timestamp",
        "converted": "bool",
    },
    primary_key=("lead_id", "sequence", "enrolment"),
    indexes=(("sequence", "status"),),
)


class NurtureProjection:
    """Lead events -> nurture enrolment rows; pure: an event record in, row changes out."""

    name: str = "nurture"
    tables: tuple[Table, ...] = (ENROLMENTS,)

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; events other than nurture's and conversions change nothing."""
        handler = _HANDLERS.get(record.event_type)
        return handler(record) if handler else []


def _key(r: EventRecord) -> dict[str, Any]:
    return {"lead_id": str(r.aggregate_id), "sequence": r.data["sequence"], "enrolment": r.data["enrolment"]}


def _enrolled(r: EventRecord) -> list[RowChange]:
    row = {
        **_key(r),
        "status": "active",
        "exit_reason": None,
        "steps_done": 0,
        "enrolled_at": r.occurred_at,
        "ended_at": None,
        "converted": False,
    }
    return [Insert(ENROLMENTS.name, row)]


def _step_done(r: EventRecord) -> list[RowChange]:
    return [Update(ENROLMENTS.name, _key(r), {"steps_done": r.data["step"] + 1})]


def _completed(r: EventRecord) -> list[RowChange]:
    return [Update(ENROLMENTS.name, _key(r), {"status": "completed", "ended_at": r.occurred_at})]


def _exited(r: EventRecord) -> list[RowChange]:
    changes = {"status": "exited", "exit_reason": r.data["reason"], "ended_at": r.occurred_at}
    return [Update(ENROLMENTS.name, _key(r), changes)]


def _converted(r: EventRecord) -> list[RowChange]:
    # every enrolment of the lead so far: a lead is converted after the enrolments it had
    return [Update(ENROLMENTS.name, {"lead_id": str(r.aggregate_id)}, {"converted": True})]


_HANDLERS: dict[str, Callable[[EventRecord], list[RowChange]]] = {
    "lead.nurture_enrolled": _enrolled,
    "lead.nurture_email_requested": _step_done,
    "lead.nurture_step_skipped": _step_done,
    "lead.nurture_task_requested": _step_done,
    "lead.nurture_score_checked": _step_done,
    "lead.nurture_completed": _completed,
    "lead.nurture_exited": _exited,
    "lead.converted": _converted,
}


# --- queries -------------------------------------------------------------------------------


class SequenceStats(BaseModel):
    """How a sequence has done: its enrolments by outcome, and the leads converted after one."""

    model_config = ConfigDict(frozen=True)

    sequence: str
    enrolled: int = Field(description="enrolments ever made (a lead enrolled twice counts twice)")
    active: int = Field(description="enrolments under way")
    completed: int = Field(description="enrolments that did their last step")
    exited: dict[str, int] = Field(description="enrolments that ended early, by reason")
    converted: int = Field(description="leads converted after being enrolled (each lead once)")


def sequence_stats(reader: Reader, sequence: str) -> SequenceStats:
    """The statistics of one sequence (all zero for a sequence nobody was enrolled in)."""
    rows = reader.fetch(
        "SELECT status, exit_reason, COUNT(*) AS n FROM nurture_enrolments WHERE sequence = ? "
        "GROUP BY status, exit_reason",
        (sequence,),
    )
    by_status: dict[str, int] = {}
    exited: dict[str, int] = {}
    for row in rows:
        status, count = str(row["status"]), int(row["n"])
        by_status[status] = by_status.get(status, 0) + count
        if status == "exited":
            exited[str(row["exit_reason"])] = count
    converted = reader.fetch(
        "SELECT COUNT(DISTINCT CASE WHEN converted THEN lead_id END) AS n FROM nurture_enrolments WHERE sequence = ?",
        (sequence,),
    )
    return SequenceStats(
        sequence=sequence,
        enrolled=sum(by_status.values()),
        active=by_status.get("active", 0),
        completed=by_status.get("completed", 0),
        exited=dict(sorted(exited.items())),
        converted=int(converted[0]["n"] or 0) if converted else 0,
    )


class WaitingStep(BaseModel):
    """An enrolment under way: the lead waits for the sequence's next step."""

    model_config = ConfigDict(frozen=True)

    lead_id: str
    sequence: str
    next_step: int = Field(description="the step the lead waits for, counted from 1")
    enrolled_at: datetime


def waiting_steps(reader: Reader, *, owner: str | None = None, limit: int = 20) -> list[WaitingStep]:
    """Enrolments under way, longest enrolled first; only those of `owner`'s leads when given."""
    where, params = ["status = ?"], list[Any](["active"])
    if owner is not None:
        where.append("lead_id IN (SELECT lead_id FROM pipeline_leads WHERE owner = ?)")
        params.append(owner)
    rows = reader.fetch(
        f"SELECT lead_id, sequence, steps_done, enrolled_at FROM {ENROLMENTS.name} WHERE {' AND '.join(where)}"
        f" ORDER BY enrolled_at, lead_id LIMIT {max(int(limit), 0)}",
        params,
    )
    return [
        WaitingStep(
            lead_id=r["lead_id"],
            sequence=r["sequence"],
            next_step=int(r["steps_done"] or 0) + 1,
            enrolled_at=parse_time(r["enrolled_at"]),
        )
        for r in rows
    ]
