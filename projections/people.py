"""The identity index read model: one row per lead and per contact with the forms of their email
address and phone number that compare (`domain.identity`), their name, company and status. It
answers "who is this person?" for inbound capture (deduplication), lookups by email and
duplicate candidates. Pure: an event record in, row changes out; queries are in
`projections/people_queries.py`.

A phone written without its country code is put in E.164 form with the lead's country, else the
projection's default region (`CRM_DEFAULT_PHONE_REGION`), else not at all: a number that cannot
be told is left out of the comparison rather than compared wrongly. Changing the default region
changes what a replay writes, so rebuild this read model (`crm replay --projection people`)
after changing it.

An erasure leaves the row (the record still exists, its company and status stay) with every
personal value gone: it is found by no email, no phone and no name any more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from domain.identity import normalised_email, normalised_phone
from domain.personal_data import ERASED_NAME
from projections.event_record import EventRecord
from projections.row_changes import RowChange, Table, Update, Upsert

LEAD: Final = "lead"
CONTACT: Final = "contact"

OPEN = "open"
"""A lead still in the pipeline."""
CONVERTED = "converted"
"""A lead won: it became (or returned to, or was linked to) its contact."""
DISQUALIFIED = "disqualified"
"""A lead lost."""
ACTIVE = "active"
"""A contact."""
ERASED = "erased"
"""A lead or contact whose person was erased: it matches nobody."""
MERGED = "merged"
"""A lead or contact merged into another (`*.merged_into`): it matches nobody, the record it was
merged into does; its unmerge (`*.unmerged`) makes it open (a lead) or active (a contact) again,
the only state a record can be merged from."""

STATUSES = (OPEN, CONVERTED, DISQUALIFIED, ACTIVE, ERASED, MERGED)
UNMATCHABLE = frozenset({ERASED, MERGED})
"""Statuses whose records are no one's duplicate and no lookup's answer."""

PEOPLE = Table(
    name="people",
    columns={
        "kind": "text",
        "person_id": "text",
        "email": "text",
        "phone": "text",
        "name": "text",
        "company": "text",
        "country": "text",
        "status": "text",
        "contact_id": "text",
        "created_at": "timestamp",
        "updated_position": "int",
        "email_at": "timestamp",
        "phone_at": "timestamp",
        "name_at": "timestamp",
        "company_at": "timestamp",
    },
    primary_key=("kind", "person_id"),
    indexes=(("email",), ("phone",), ("kind", "status")),
)
"""`<detail>_at` is the business time of the event that set the detail: a contact's details
change dated before it leaves the detail as it is (`Update.not_after`), so the index holds the
details the contact has now (the latest in business time) whatever order its events were
recorded in; `updated_position` is the largest position of the record's events."""

_DETAILS = ("email", "phone", "name", "company")


class PeopleProjection:
    """Lead and contact events -> one identity row per record, with compared email and phone."""

    name: str = "people"
    tables: tuple[Table, ...] = (PEOPLE,)

    def __init__(self, default_phone_region: str | None = None) -> None:
        self.default_phone_region = default_phone_region

    def apply(self, record: EventRecord) -> list[RowChange]:
        """Row changes for one event; [] for events this read model does not use."""
        handler = self._handlers().get(record.event_type)
        return handler(record) if handler is not None else []

    def _handlers(self) -> dict[str, Callable[[EventRecord], list[RowChange]]]:
        return {
            "lead.captured": self._lead_captured,
            "lead.converted": lambda r: _set(r, LEAD, status=CONVERTED, contact_id=str(r.data["contact_id"])),
            "lead.disqualified": lambda r: _set(r, LEAD, status=DISQUALIFIED),
            "lead.erased": lambda r: _set(r, LEAD, **_ERASED),
            "lead.merged_into": lambda r: _set(r, LEAD, status=MERGED),
            "lead.unmerged": lambda r: _set(r, LEAD, status=OPEN),
            "contact.created": self._contact_created,
            "contact.details_updated": self._contact_details_updated,
            "contact.erased": lambda r: _set(r, CONTACT, **_ERASED),
            "contact.merged_into": lambda r: _set(r, CONTACT, status=MERGED),
            "contact.unmerged": lambda r: _set(r, CONTACT, status=ACTIVE),
        }

    def phone(self, phone: str | None, country: str | None) -> str | None:
        """The E.164 form of a phone, read in the country given, else in the default region."""
        return None if phone is None else normalised_phone(phone, country or self.default_phone_region)

    def _lead_captured(self, r: EventRecord) -> list[RowChange]:
        d = r.data
        contact_id = d.get("contact_id")
        row = {
            **_key(r, LEAD),
            **_identity(d),
            "phone": self.phone(d.get("phone"), d.get("country")),
            "company": d.get("company"),
            "country": d.get("country"),
            "status": OPEN,
            "contact_id": None if contact_id is None else str(contact_id),
            "created_at": r.occurred_at,
            "updated_position": r.position,
            **_set_at(r),
        }
        # an upsert, not an insert: a redelivered creation must not stop the read model
        return [Upsert(PEOPLE.name, ("kind", "person_id"), row)]

    def _contact_created(self, r: EventRecord) -> list[RowChange]:
        d = r.data
        row = {
            **_key(r, CONTACT),
            **_identity(d),
            "phone": self.phone(d.get("phone"), None),
            "company": d.get("company"),
            "country": None,
            "status": ACTIVE,
            "contact_id": str(r.aggregate_id),
            "created_at": r.occurred_at,
            "updated_position": r.position,
            **_set_at(r),
        }
        return [Upsert(PEOPLE.name, ("kind", "person_id"), row)]

    def _contact_details_updated(self, r: EventRecord) -> list[RowChange]:
        changes: dict[str, Any] = r.data["changes"]
        values: dict[str, Any] = {}
        if "email" in changes:
            values["email"] = _email(changes["email"])
        if "phone" in changes:
            values["phone"] = self.phone(changes["phone"], None)
        for field in ("name", "company"):
            if field in changes:
                values[field] = changes[field]
        if not values:
            return []
        # one update per detail: each is set by the latest details change in business time
        details: list[RowChange] = [
            Update(
                PEOPLE.name,
                _key(r, CONTACT),
                {field: value, f"{field}_at": r.occurred_at},
                not_after={f"{field}_at": r.occurred_at},
            )
            for field, value in values.items()
        ]
        return [*details, _touch(r, CONTACT)]


_ERASED: dict[str, Any] = {"email": None, "phone": None, "name": ERASED_NAME, "status": ERASED}
"""What an erased record's row holds: what its creation reads as after the erasure, so that a
replay writes the same row."""


def _key(r: EventRecord, kind: str) -> dict[str, str]:
    return {"kind": kind, "person_id": str(r.aggregate_id)}


def _email(value: str | None) -> str | None:
    return None if value is None else normalised_email(value)


def _identity(d: dict[str, Any]) -> dict[str, Any]:
    return {"email": _email(d.get("email")), "name": d.get("name")}


def _set_at(r: EventRecord) -> dict[str, Any]:
    return {f"{field}_at": r.occurred_at for field in _DETAILS}


def _touch(r: EventRecord, kind: str) -> Update:
    # the largest position wins, so a business-order fold stamps what a log-order one does
    key = _key(r, kind)
    return Update(PEOPLE.name, key, {"updated_position": r.position}, not_after={"updated_position": r.position})


def _set(r: EventRecord, kind: str, **values: Any) -> list[RowChange]:
    return [Update(PEOPLE.name, _key(r, kind), values), _touch(r, kind)]
