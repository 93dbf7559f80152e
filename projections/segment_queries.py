"""The queries over the segments read model (projections.segments' tables, through a `Reader`):
contacts' features, segment members and summaries as of a date, and contact look-ups.

Timestamps are passed to the store as datetimes (in UTC) and read back as UTC datetimes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.time import parse_time, utc
from projections.contact_features import ContactFeatures, Purchase
from projections.row_changes import Reader
from projections.segment_membership import ConsentChange, ContactHistory, SegmentMember, members_as_of
from projections.segment_rules import SegmentRule, Unit, rule_named


def _load_histories(reader: Reader, as_of: datetime, contact_id: str | None = None) -> list[ContactHistory]:
    """The histories of the contacts created at or before `as_of`, with their events up to it.

    Timestamps are passed to the store as datetimes (in UTC); it renders them like the stored ones."""
    as_of = utc(as_of)
    only = " AND contact_id = ?" if contact_id is not None else ""
    params: tuple[Any, ...] = (as_of, contact_id) if contact_id is not None else (as_of,)

    def rows(sql: str) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in reader.fetch(sql, params):
            grouped[str(row["contact_id"])].append(row)
        return grouped

    contacts = reader.fetch(
        f"SELECT contact_id, name, created_at FROM segment_contacts WHERE created_at <= ?{only} ORDER BY contact_id",
        params,
    )
    purchases = rows(
        "SELECT contact_id, occurred_at, amount, currency FROM segment_purchases "
        f"WHERE occurred_at <= ?{only} ORDER BY contact_id, occurred_at, order_id"
    )
    interactions = rows(
        "SELECT contact_id, occurred_at FROM segment_interactions "
        f"WHERE occurred_at <= ?{only} ORDER BY contact_id, position"
    )
    consents = rows(
        "SELECT contact_id, occurred_at, channel, granted, position FROM segment_consent_changes "
        f"WHERE occurred_at <= ?{only} ORDER BY contact_id, position"
    )
    reactivations = rows(
        "SELECT contact_id, occurred_at FROM segment_reactivations "
        f"WHERE occurred_at <= ?{only} ORDER BY contact_id, position"
    )
    histories = []
    for c in contacts:
        cid = str(c["contact_id"])
        histories.append(
            ContactHistory(
                contact_id=cid,
                name=c["name"],
                created_at=parse_time(c["created_at"]),
                purchases=tuple(
                    Purchase(parse_time(r["occurred_at"]), int(r["amount"]), str(r["currency"])) for r in purchases[cid]
                ),
                interactions=tuple(parse_time(r["occurred_at"]) for r in interactions[cid]),
                consent_changes=tuple(
                    ConsentChange(
                        parse_time(r["occurred_at"]), str(r["channel"]), bool(r["granted"]), int(r["position"])
                    )
                    for r in consents[cid]
                ),
                reactivations=tuple(parse_time(r["occurred_at"]) for r in reactivations[cid]),
            )
        )
    return histories


def fetch_contact_features(
    reader: Reader, contact_id: str | UUID, as_of: datetime, unit: Unit = "days"
) -> ContactFeatures | None:
    """A contact's features as of `as_of`; None when no such contact existed then."""
    found = _load_histories(reader, as_of, str(contact_id))
    return found[0].features(as_of, unit) if found else None


def segment_members(reader: Reader, rules: Iterable[SegmentRule], name: str, as_of: datetime) -> list[SegmentMember]:
    """The members of segment `name` as of `as_of`, with when they entered; UnknownSegment if no
    rule has that name."""
    rule = rule_named(rules, name)
    return members_as_of(rule, _load_histories(reader, as_of), as_of)


def segment_summaries(reader: Reader, rules: Iterable[SegmentRule], as_of: datetime) -> list[SegmentSummary]:
    """Every segment (in the rules' order) with its number of members as of `as_of`."""
    histories = _load_histories(reader, as_of)
    return [
        SegmentSummary(name=rule.name, description=rule.description, members=len(members_as_of(rule, histories, as_of)))
        for rule in rules
    ]


class SegmentSummary(BaseModel):
    """A segment and how many members it has as of a date."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    members: int


class SegmentContact(BaseModel):
    """A contact's current details as the segments read model holds them."""

    model_config = ConfigDict(frozen=True)

    contact_id: str
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    title: str | None
    external_id: str | None
    created_at: datetime
    lead_id: str | None
    updated_position: int


def list_contacts(
    reader: Reader,
    *,
    external_id: str | None = None,
    among: Iterable[str] | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[SegmentContact]:
    """Contacts in contact id order, starting after the contact id `after` (keyset pagination),
    at most `limit`: all of them, or only those with `external_id`, and/or only those whose ids
    are `among` the given ones (e.g. a segment's members)."""
    limit = max(int(limit), 0)
    where, params = ["1 = 1"], list[Any]()
    if external_id is not None:
        where.append("external_id = ?")
        params.append(external_id)
    if after is not None:
        where.append("contact_id > ?")
        params.append(after)
    members = None if among is None else {str(c) for c in among}
    if members is not None and external_id is None:
        # the page's ids first (a segment may be large), then their rows
        page = sorted(i for i in members if after is None or i > after)[:limit]
        if not page:
            return []
        where.append(f"contact_id IN ({', '.join('?' * len(page))})")
        params.extend(page)
    rows = reader.fetch(
        "SELECT contact_id, name, email, phone, company, title, external_id, created_at, lead_id, updated_position "
        f"FROM segment_contacts WHERE {' AND '.join(where)} ORDER BY contact_id"
        + ("" if members is not None and external_id is not None else f" LIMIT {limit}"),
        params,
    )
    if members is not None:
        rows = [row for row in rows if str(row["contact_id"]) in members][:limit]
    contacts = []
    for row in rows:
        values = dict(row)
        values["created_at"] = parse_time(values["created_at"])
        values["updated_position"] = int(values["updated_position"])
        contacts.append(SegmentContact.model_validate(values))
    return contacts
