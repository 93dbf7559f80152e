"""The activities read model: one row per interaction logged on a lead (its business time and
channel), so that who did how much in a period is a count of rows, each credited to whoever owned
the lead at the interaction's time (read from the pipeline's lead versions when asked). Pure: an
event record in, row changes out."""

from __future__ import annotations

from projections.event_record import EventRecord
from projections.row_changes import Insert, RowChange, Table

ACTIVITIES = Table(
    name="activities",
    columns={
        "lead_id": "text",
        "version": "int",
        "occurred_at": "timestamp",
        "recorded_at": "timestamp",
        "channel": "text",
        "actor": "text",
    },
    primary_key=("lead_id", "version"),
    indexes=(("occurred_at",), ("lead_id", "occurred_at")),
)
"""One row per `lead.interaction_logged`, keyed by the event (lead id and version), so a replay
writes the same rows. A back-dated interaction is a row with an earlier `occurred_at`: nothing
here depends on the order of the lead's other events, so the table needs no journal. No personal
data: the interaction's free-text `detail` is not kept."""


class ActivitiesProjection:
    """`lead.interaction_logged` -> one activity row; every other event -> nothing."""

    name: str = "activities"
    tables: tuple[Table, ...] = (ACTIVITIES,)

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; [] for events this read model does not use."""
        if record.event_type != "lead.interaction_logged":
            return []
        row = {
            "lead_id": str(record.aggregate_id),
            "version": record.aggregate_version,
            "occurred_at": record.occurred_at,
            "recorded_at": record.recorded_at,
            "channel": record.data["kind"],
            "actor": record.actor,
        }
        return [Insert(ACTIVITIES.name, row)]
