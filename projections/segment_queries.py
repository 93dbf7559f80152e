"""The queries over the segments read model (projections.segments' tables, through a `Reader`):
contacts' features, segment members and summaries as of a date, and contact look-ups.

Timestamps are passed to the store as datetimes (in UTC) and read back as UTC datetimes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.time import parse_time, utc
from projections.contact_features import ContactFeatures, Purchase
from projections.row_changes import Reader
from projections.segment_membership import (
    ConsentChange,
    ContactHistory,
    SegmentMember,
    history_intervals,
    members_as_of,
)
from projections.segment_rules import SegmentRule, Unit, rule_named


def _load_histories(
    reader: Reader, as_of: datetime, contact_id: str | None = None, known_at: datetime | None = None
) -> list[ContactHistory]:
    """The histories of the contacts created at or before `as_of`, with their events up to it;
    with `known_at`, only the events recorded by then (transaction time).

    A contact merged into another is no history of its own: its purchases and interactions are
    its survivor's (its consent and reactivations stay its own, and so out of the survivor's).
    Asked for by id, a merged contact answers with its own facts alone.

    Timestamps are passed to the store as datetimes (in UTC); it renders them like the stored ones."""
    as_of = utc(as_of)
    ids: list[str] = []
    if contact_id is not None:
        duplicates = reader.fetch("SELECT contact_id FROM segment_contacts WHERE merged_into = ?", [contact_id])
        ids = [contact_id, *sorted(str(r["contact_id"]) for r in duplicates)]
    only = f" AND contact_id IN ({', '.join('?' * len(ids))})" if ids else ""
    # the facts of the events recorded by `known_at`; a contact whose creation was recorded later is unknown then
    known = "" if known_at is None else " AND recorded_at <= ?"
    created_known = "" if known_at is None else " AND created_recorded_at <= ?"
    params: tuple[Any, ...] = (as_of, *(() if known_at is None else (utc(known_at),)), *ids)

    def rows(sql: str) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in reader.fetch(sql, params):
            grouped[str(row["contact_id"])].append(row)
        return grouped

    contacts = reader.fetch(
        "SELECT contact_id, name, created_at, merged_into FROM segment_contacts"
        f" WHERE created_at <= ?{created_known}{only} ORDER BY contact_id",
        params,
    )
    purchases = rows(
        "SELECT contact_id, occurred_at, amount, currency FROM segment_purchases "
        f"WHERE occurred_at <= ?{known}{only} ORDER BY contact_id, occurred_at, order_id"
    )
    interactions = rows(
        "SELECT contact_id, occurred_at FROM segment_interactions "
        f"WHERE occurred_at <= ?{known}{only} ORDER BY contact_id, position"
    )
    consents = rows(
        "SELECT contact_id, occurred_at, channel, granted, position FROM segment_consent_changes "
        f"WHERE occurred_at <= ?{known}{only} ORDER BY contact_id, position"
    )
    reactivations = rows(
        "SELECT contact_id, occurred_at FROM segment_reactivations "
        f"WHERE occurred_at <= ?{known}{only} ORDER BY contact_id, position"
    )
    loaded = {str(c["contact_id"]) for c in contacts}
    counted_with: dict[str, list[str]] = defaultdict(list)
    """Whose purchases and interactions count in each contact's history: its own, its duplicates'."""
    standing = []
    for c in contacts:
        cid, survivor = str(c["contact_id"]), c["merged_into"]
        if survivor is None or (contact_id == cid and str(survivor) not in loaded):
            standing.append(c)
            counted_with[cid].append(cid)
        elif str(survivor) in loaded:
            counted_with[str(survivor)].append(cid)
    histories = []
    for c in standing:
        cid = str(c["contact_id"])
        bought = [r for counted in counted_with[cid] for r in purchases[counted]]
        engaged = [r for counted in counted_with[cid] for r in interactions[counted]]
        histories.append(
            ContactHistory(
                contact_id=cid,
                name=c["name"],
                created_at=parse_time(c["created_at"]),
                purchases=tuple(
                    Purchase(parse_time(r["occurred_at"]), int(r["amount"]), str(r["currency"])) for r in bought
                ),
                interactions=tuple(parse_time(r["occurred_at"]) for r in engaged),
                consent_changes=tuple(
                    ConsentChange(
                        parse_time(r["occurred_at"]), str(r["channel"]), bool(r["granted"]), int(r["position"])
                    )
                    for r in consents[cid]
                ),
                reactivations=tuple(parse_time(r["occurred_at"]) for r in reactivations[cid]),
            )
        )
    if contact_id is not None:
        return [h for h in histories if h.contact_id == contact_id]
    return histories


def fetch_contact_features(
    reader: Reader, contact_id: str | UUID, as_of: datetime, unit: Unit = "days", known_at: datetime | None = None
) -> ContactFeatures | None:
    """A contact's features as of `as_of` (as known at `known_at`); None when no such contact
    existed then (or none was known to)."""
    found = _load_histories(reader, as_of, str(contact_id), known_at)
    return found[0].features(as_of, unit) if found else None


def contact_segments(
    reader: Reader,
    rules: Iterable[SegmentRule],
    contact_id: str | UUID,
    as_of: datetime,
    known_at: datetime | None = None,
) -> list[ContactSegment] | None:
    """The segments one contact is in as of `as_of` (as known at `known_at`, in the rules' order),
    each with the start of its current stay; None when no such contact existed then (or none was
    known to). Only that contact's history is read."""
    found = _load_histories(reader, as_of, str(contact_id), known_at)
    if not found:
        return None
    segments = []
    for rule in rules:
        stays = history_intervals(found[0], rule, as_of)
        if stays and stays[-1].left_at is None:
            segments.append(
                ContactSegment(name=rule.name, description=rule.description, entered_at=stays[-1].entered_at)
            )
    return segments


class ContactSegment(BaseModel):
    """A segment a contact is in, and since when (the start of the current stay)."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    entered_at: datetime


def segment_members(
    reader: Reader, rules: Iterable[SegmentRule], name: str, as_of: datetime, known_at: datetime | None = None
) -> list[SegmentMember]:
    """The members of segment `name` as of `as_of` (as known at `known_at`), with when they
    entered; UnknownSegment if no rule has that name."""
    rule = rule_named(rules, name)
    return members_as_of(rule, _load_histories(reader, as_of, known_at=known_at), as_of)


def segment_summaries(
    reader: Reader, rules: Iterable[SegmentRule], as_of: datetime, known_at: datetime | None = None
) -> list[SegmentSummary]:
    """Every segment (in the rules' order) with its number of members as of `as_of` (as known at
    `known_at`)."""
    histories = _load_histories(reader, as_of, known_at=known_at)
    return [
        SegmentSummary(name=rule.name, description=rule.description, members=len(members_as_of(rule, histories, as_of)))
        for rule in rules
    ]


def segment_sizes_at(reader: Reader, rules: Iterable[SegmentRule], moments: Sequence[datetime]) -> dict[str, list[int]]:
    """Every segment's member count at each of `moments` (each as `segment_summaries` answers as of
    it), by segment in the rules' order: the histories are read once, up to the latest moment,
    and cut at each moment here rather than read again. A count needs no membership intervals:
    between two of a rule's candidate times its verdict does not change
    (`segment_membership.membership_intervals`), so the verdict as of the moment itself is the
    one its last interval ends with."""
    rules = list(rules)
    if not moments:
        return {rule.name: [] for rule in rules}
    histories = _load_histories(reader, max(utc(m) for m in moments))
    sizes: dict[str, list[int]] = {rule.name: [] for rule in rules}
    for moment in moments:
        cut = [_cut(h, utc(moment)) for h in histories if utc(h.created_at) <= utc(moment)]
        for rule in rules:
            sizes[rule.name].append(sum(1 for h in cut if rule.matches(h.features(moment, rule.unit))))
    return sizes


def _cut(history: ContactHistory, as_of: datetime) -> ContactHistory:
    """A contact's history as `_load_histories` reads it as of `as_of`: its facts up to then."""
    return replace(
        history,
        purchases=tuple(p for p in history.purchases if utc(p.occurred_at) <= as_of),
        interactions=tuple(t for t in history.interactions if utc(t) <= as_of),
        consent_changes=tuple(c for c in history.consent_changes if utc(c.occurred_at) <= as_of),
        reactivations=tuple(t for t in history.reactivations if utc(t) <= as_of),
    )


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
    """Contacts in contact id order (merged duplicates left out), starting after the contact id
    `after` (keyset pagination), at most `limit`: all of them, or only those with `external_id`,
    and/or only those whose ids are `among` the given ones (e.g. a segment's members)."""
    limit = max(int(limit), 0)
    where, params = ["merged_into IS NULL"], list[Any]()  # a merged contact is listed as its survivor
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
