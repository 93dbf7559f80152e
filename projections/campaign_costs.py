"""The campaign costs read model: one row per recorded cost of a campaign (never summed here), so
that the cost of a campaign as of any business time is the sum of its rows with
`occurred_at <= as_of`. Pure: an event record in, row changes out."""

from __future__ import annotations

from projections.event_record import EventRecord
from projections.row_changes import Insert, RowChange, Table

CAMPAIGN_COSTS = Table(
    name="campaign_costs",
    columns={
        "event_id": "text",
        "campaign": "text",
        "cost_id": "text",
        "amount": "int",
        "currency": "text",
        "occurred_at": "timestamp",
        "recorded_at": "timestamp",
        "recorded_by": "text",
        "note": "text",
    },
    primary_key=("event_id",),
    indexes=(("campaign", "occurred_at"), ("occurred_at",)),
)
"""One row per `campaign.cost_recorded`, keyed by the event (campaign id and version), so a
replay writes the same rows; `recorded_at` (transaction time) answers what was known when."""


class CampaignCostsProjection:
    """`campaign.cost_recorded` -> one cost row; every other event -> nothing."""

    name: str = "campaign_costs"
    tables: tuple[Table, ...] = (CAMPAIGN_COSTS,)

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; [] for events this read model does not use."""
        if record.event_type != "campaign.cost_recorded":
            return []
        d = record.data
        row = {
            "event_id": f"{record.aggregate_id}:{record.aggregate_version}",
            "campaign": d["campaign"],
            "cost_id": d["cost_id"],
            "amount": int(d["amount"]),
            "currency": d["currency"],
            "occurred_at": record.occurred_at,
            "recorded_at": record.recorded_at,
            "recorded_by": record.actor,
            "note": d.get("note"),
        }
        return [Insert(CAMPAIGN_COSTS.name, row)]
