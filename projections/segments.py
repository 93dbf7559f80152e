"""The segments read model's projection and tables: per-contact facts for segmentation.

`SegmentsProjection` turns contact events into row changes. It stores facts only (contacts,
purchases, interactions, consent changes, reactivations), every one with its business time
(`occurred_at`) and when it was recorded (`recorded_at`), so that features can be computed as of
any date (projections.contact_features) and as known at any moment: the rows with
occurred_at <= t and recorded_at <= k are the facts of the events recorded by k, up to t, so a
read as known at k needs no rebuild (unlike the pipeline's, whose rows are folded per lead).
Nothing derived is stored: a derived value such as "last interaction" would need the current row
to update, which a projection does not see.

The rest of the read model: projections.contact_features (features as of a moment),
projections.segment_membership (segment membership over time) and projections.segment_queries
(the queries over a `Reader`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.personal_data import erased_details
from projections.event_record import EventRecord
from projections.row_changes import Insert, RowChange, Table, Update

CONTACTS = Table(
    name="segment_contacts",
    columns={
        "contact_id": "text",
        "name": "text",
        "email": "text",
        "phone": "text",
        "company": "text",
        "title": "text",
        "external_id": "text",
        "created_at": "timestamp",
        "lead_id": "text",
        "updated_position": "int",
        "merged_into": "text",
        "name_at": "timestamp",
        "email_at": "timestamp",
        "phone_at": "timestamp",
        "company_at": "timestamp",
        "title_at": "timestamp",
        "created_recorded_at": "timestamp",
    },
    primary_key=("contact_id",),
    indexes=(("external_id",), ("merged_into",)),
)
"""One row per contact. `merged_into` is set while the contact is merged into another: the queries
then count its purchases and interactions with its survivor's and leave it out itself.

The details follow business time: `<detail>_at` is the business time of the event that set the
detail, and a details change dated before it leaves the detail as it is (`Update.not_after`), so a
back-dated change recorded last does not undo a later one. `updated_position` is the position of
the contact's latest recorded event (the largest position, whatever order they come in).
`created_recorded_at` is when the contact's creation was recorded: as known at an earlier moment
(transaction time), the contact did not exist yet."""
PURCHASES = Table(
    name="segment_purchases",
    columns={
        "contact_id": "text",
        "order_id": "text",
        "occurred_at": "timestamp",
        "amount": "int",
        "currency": "text",
        "quantity": "int",
        "position": "int",
        "recorded_at": "timestamp",
    },
    primary_key=("contact_id", "order_id"),
    indexes=(("occurred_at",),),
)
INTERACTIONS = Table(
    name="segment_interactions",
    columns={
        "contact_id": "text",
        "position": "int",
        "occurred_at": "timestamp",
        "kind": "text",
        "recorded_at": "timestamp",
    },
    primary_key=("contact_id", "position"),
    indexes=(("occurred_at",),),
)
CONSENT_CHANGES = Table(
    name="segment_consent_changes",
    columns={
        "contact_id": "text",
        "position": "int",
        "occurred_at": "timestamp",
        "channel": "text",
        "granted": "bool",
        "recorded_at": "timestamp",
    },
    primary_key=("contact_id", "position"),
)
REACTIVATIONS = Table(
    name="segment_reactivations",
    columns={
        "contact_id": "text",
        "position": "int",
        "occurred_at": "timestamp",
        "lead_id": "text",
        "interest": "text",
        "recorded_at": "timestamp",
    },
    primary_key=("contact_id", "position"),
)
TABLES: tuple[Table, ...] = (CONTACTS, PURCHASES, INTERACTIONS, CONSENT_CHANGES, REACTIVATIONS)

_DETAIL_COLUMNS = ("name", "email", "phone", "company", "title")


def _id(value: Any) -> str | None:
    """Ids are stored as text (events delivered over Kafka may carry them as strings already)."""
    return None if value is None else str(value)


class SegmentsProjection:
    """Contact facts for segmentation. Every contact event also stamps `updated_position` on the
    contact's row. Lead events are ignored: a contact made from a lead carries the lead's id on
    its own Created event, and a later conversion of a reactivation lead changes no contact fact."""

    name = "segments"
    tables: tuple[Table, ...] = TABLES

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; [] for events this read model does not use."""
        handler = self._handlers().get(record.event_type)
        return handler(record) if handler is not None else []

    def _handlers(self) -> dict[str, Callable[[EventRecord], list[RowChange]]]:
        return {
            "contact.created": self._created,
            "contact.details_updated": self._details_updated,
            "contact.interaction_logged": self._interaction_logged,
            "contact.purchase_recorded": self._purchase_recorded,
            "contact.consent_changed": self._consent_changed,
            "contact.reactivated": self._reactivated,
            "contact.erased": self._erased,
            "contact.merged_into": self._merged_into,
            "contact.unmerged": self._unmerged,
            "contact.absorbed": self._touched,
            "contact.released": self._touched,
        }

    @staticmethod
    def _touch(record: EventRecord) -> Update:
        # the largest position wins, so a business-order fold stamps what a log-order one does
        return Update(
            table=CONTACTS.name,
            where={"contact_id": str(record.aggregate_id)},
            values={"updated_position": record.position},
            not_after={"updated_position": record.position},
        )

    def _created(self, record: EventRecord) -> list[RowChange]:
        d = record.data
        return [
            Insert(
                table=CONTACTS.name,
                row={
                    "contact_id": str(record.aggregate_id),
                    "name": d["name"],
                    "email": d.get("email"),
                    "phone": d.get("phone"),
                    "company": d.get("company"),
                    "title": d.get("title"),
                    "external_id": d.get("external_id"),
                    "created_at": record.occurred_at,
                    "lead_id": _id(d.get("lead_id")),
                    "updated_position": record.position,
                    "merged_into": None,
                    "created_recorded_at": record.recorded_at,
                    **{f"{detail}_at": record.occurred_at for detail in _DETAIL_COLUMNS},
                },
            )
        ]

    def _details_updated(self, record: EventRecord) -> list[RowChange]:
        # one update per detail: each is set by the latest details change in business time
        changes: list[RowChange] = [
            Update(
                table=CONTACTS.name,
                where={"contact_id": str(record.aggregate_id)},
                values={detail: value, f"{detail}_at": record.occurred_at},
                not_after={f"{detail}_at": record.occurred_at},
            )
            for detail, value in record.data["changes"].items()
            if detail in _DETAIL_COLUMNS
        ]
        return [*changes, self._touch(record)]

    def _erased(self, record: EventRecord) -> list[RowChange]:
        # the details every earlier event of the contact now reads as, so a replay writes the same row
        return [
            Update(table=CONTACTS.name, where={"contact_id": str(record.aggregate_id)}, values=erased_details()),
            self._touch(record),
        ]

    def _merged_into(self, record: EventRecord) -> list[RowChange]:
        # facts stay where they are: the queries count them with the survivor while this is set
        return [
            Update(
                table=CONTACTS.name,
                where={"contact_id": str(record.aggregate_id)},
                values={"merged_into": _id(record.data["survivor_id"])},
            ),
            self._touch(record),
        ]

    def _unmerged(self, record: EventRecord) -> list[RowChange]:
        return [
            Update(table=CONTACTS.name, where={"contact_id": str(record.aggregate_id)}, values={"merged_into": None}),
            self._touch(record),
        ]

    def _touched(self, record: EventRecord) -> list[RowChange]:
        return [self._touch(record)]

    def _interaction_logged(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "kind": record.data["kind"],
            "recorded_at": record.recorded_at,
        }
        return [Insert(table=INTERACTIONS.name, row=row), self._touch(record)]

    def _purchase_recorded(self, record: EventRecord) -> list[RowChange]:
        d = record.data
        row = {
            "contact_id": str(record.aggregate_id),
            "order_id": d["order_id"],
            "occurred_at": record.occurred_at,
            "amount": d["amount"],
            "currency": d["currency"],
            "quantity": d["quantity"],
            "position": record.position,
            "recorded_at": record.recorded_at,
        }
        return [Insert(table=PURCHASES.name, row=row), self._touch(record)]

    def _consent_changed(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "channel": record.data["channel"],
            "granted": record.data["granted"],
            "recorded_at": record.recorded_at,
        }
        return [Insert(table=CONSENT_CHANGES.name, row=row), self._touch(record)]

    def _reactivated(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "lead_id": _id(record.data["lead_id"]),
            "interest": record.data.get("interest"),
            "recorded_at": record.recorded_at,
        }
        return [Insert(table=REACTIVATIONS.name, row=row), self._touch(record)]
