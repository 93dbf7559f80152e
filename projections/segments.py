"""The segments read model: per-contact facts, features (with RFM) as of any date, and segment
membership with entered/left times.

Three layers, each pure:

1. `SegmentsProjection` turns contact events into row changes. It stores facts only (contacts,
   purchases, interactions, consent changes, reactivations), every one with its business time, so
   that features can be computed as of any date. Nothing derived is stored: a derived value such as
   "last interaction" would need the current row to update, which a projection does not see.
2. `contact_features` computes a contact's features as of a moment from those facts.
3. `membership_intervals` / `members_as_of` evaluate segment rules (projections.segment_rules)
   over time; the query functions at the bottom read the facts through a `Reader`.

Conventions
- Times are timezone-aware and handled in UTC; a naive datetime is taken as UTC. "As of t" means
  every event whose business time (occurred_at) is at or before t.
- Money is in integer minor units (cents). A contact's *main currency* is the currency of most of
  their purchases (ties: the larger total, then the alphabetically first code). `total_value`,
  `average_value` and `monetary` count purchases in the main currency only; `totals_by_currency`
  has every currency. `average_value` and `monetary` are floats of minor units.
- RFM follows Fader & Hardie as implemented by `lifetimes.utils.summary_data_from_transaction_data`
  with daily periods: purchases are grouped by UTC calendar day;
    frequency = number of distinct purchase days - 1,
    recency   = days from the first to the last purchase day,
    T         = days from the first purchase day to the day of the observation date,
    monetary  = mean value of the repeat purchase days (all days but the first; a day's value is
                the sum of its purchases), 0 when frequency is 0.
  In weeks, recency and T are those day counts / 7. A contact with no purchase has frequency 0,
  monetary 0 and no recency or T (None).
- Lifecycle, from the purchase times (thresholds below): "prospect" never bought; "new" first
  purchase less than 90 days ago; "active" last purchase less than 90 days ago; "at_risk" last
  purchase 90 to less than 180 days ago; "lapsed" last purchase 180 days ago or more.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from projections.event_record import EventRecord
from projections.row_changes import Insert, Reader, RowChange, Table, Update
from projections.segment_rules import FEATURES, SegmentRule, Unit, rule_named

DAY = timedelta(days=1)
NEW_CUSTOMER_DAYS = 90
"""A buyer whose first purchase is less than this many days old is "new"."""
AT_RISK_AFTER_DAYS = 90
"""A buyer whose last purchase is at least this many days old is "at_risk"..."""
LAPSED_AFTER_DAYS = 180
"""...and "lapsed" from this many days on."""

Lifecycle = Literal["prospect", "new", "active", "at_risk", "lapsed"]

# --- tables and the projection -----------------------------------------------------------------

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
    },
    primary_key=("contact_id",),
    indexes=(("external_id",),),
)
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
    },
    primary_key=("contact_id", "order_id"),
    indexes=(("occurred_at",),),
)
INTERACTIONS = Table(
    name="segment_interactions",
    columns={"contact_id": "text", "position": "int", "occurred_at": "timestamp", "kind": "text"},
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
    },
    primary_key=("contact_id", "position"),
)
TABLES: tuple[Table, ...] = (CONTACTS, PURCHASES, INTERACTIONS, CONSENT_CHANGES, REACTIVATIONS)

_DETAIL_COLUMNS = frozenset({"name", "email", "phone", "company", "title"})


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
        }

    @staticmethod
    def _touch(record: EventRecord) -> Update:
        return Update(
            table=CONTACTS.name,
            where={"contact_id": str(record.aggregate_id)},
            values={"updated_position": record.position},
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
                },
            )
        ]

    def _details_updated(self, record: EventRecord) -> list[RowChange]:
        changes = {k: v for k, v in record.data["changes"].items() if k in _DETAIL_COLUMNS}
        return [
            Update(
                table=CONTACTS.name,
                where={"contact_id": str(record.aggregate_id)},
                values={**changes, "updated_position": record.position},
            )
        ]

    def _interaction_logged(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "kind": record.data["kind"],
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
        }
        return [Insert(table=PURCHASES.name, row=row), self._touch(record)]

    def _consent_changed(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "channel": record.data["channel"],
            "granted": record.data["granted"],
        }
        return [Insert(table=CONSENT_CHANGES.name, row=row), self._touch(record)]

    def _reactivated(self, record: EventRecord) -> list[RowChange]:
        row = {
            "contact_id": str(record.aggregate_id),
            "position": record.position,
            "occurred_at": record.occurred_at,
            "lead_id": _id(record.data["lead_id"]),
            "interest": record.data.get("interest"),
        }
        return [Insert(table=REACTIVATIONS.name, row=row), self._touch(record)]


# --- features ----------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _days(delta: timedelta) -> float:
    return delta / DAY


class Purchase(NamedTuple):
    """One purchase as features need it; a plain (occurred_at, amount, currency) tuple works too."""

    occurred_at: datetime
    amount: int
    currency: str


class ContactFeatures(BaseModel):
    """A contact's features as of one moment (see the module docstring for the conventions)."""

    model_config = ConfigDict(frozen=True)

    as_of: datetime
    unit: Unit
    created_at: datetime | None
    purchase_count: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    currency: str | None
    """The main currency (most purchases); None without purchases."""
    total_value: int
    """Minor units spent in the main currency."""
    average_value: float
    """Mean purchase amount in the main currency, in minor units (0 without purchases)."""
    totals_by_currency: dict[str, int]
    last_interaction_at: datetime | None
    consent: dict[str, bool]
    """Channel -> granted, for the channels the contact ever decided on."""
    reactivations: int
    lifecycle: Lifecycle
    frequency: int
    recency: float | None
    T: float | None
    monetary: float
    days_since_created: float | None
    days_since_first_purchase: float | None
    days_since_last_purchase: float | None
    days_since_last_interaction: float | None

    def value(self, feature: str) -> Any:
        """A feature by the name segment rules use; `consent_<channel>` is False when never given."""
        if feature not in FEATURES:
            raise KeyError(f"unknown feature {feature!r}")
        if feature.startswith("consent_"):
            return self.consent.get(feature.removeprefix("consent_"), False)
        return getattr(self, feature)


def _main_currency(purchases: Sequence[Purchase]) -> str | None:
    if not purchases:
        return None
    counts = Counter(p.currency for p in purchases)
    totals: Counter[str] = Counter()
    for p in purchases:
        totals[p.currency] += p.amount
    return min(counts, key=lambda c: (-counts[c], -totals[c], c))


def lifecycle_of(first_purchase_at: datetime | None, last_purchase_at: datetime | None, as_of: datetime) -> Lifecycle:
    """prospect / new / active / at_risk / lapsed (thresholds: the module constants)."""
    if first_purchase_at is None or last_purchase_at is None:
        return "prospect"
    if as_of - first_purchase_at < timedelta(days=NEW_CUSTOMER_DAYS):
        return "new"
    since_last = as_of - last_purchase_at
    if since_last < timedelta(days=AT_RISK_AFTER_DAYS):
        return "active"
    if since_last < timedelta(days=LAPSED_AFTER_DAYS):
        return "at_risk"
    return "lapsed"


def contact_features(
    created_at: datetime | None,
    purchases: Iterable[tuple[datetime, int, str]],
    interactions: Iterable[datetime],
    consents: Mapping[str, bool],
    as_of: datetime,
    unit: Unit = "days",
    reactivations: int = 0,
) -> ContactFeatures:
    """A contact's features as of `as_of`. Purchases and interactions after `as_of` are ignored;
    `consents` and `reactivations` are taken as given (already as of `as_of`)."""
    as_of = utc(as_of)
    bought = sorted(
        (Purchase(utc(p[0]), p[1], p[2]) for p in purchases if utc(p[0]) <= as_of),
        key=lambda p: p.occurred_at,
    )
    seen = [t for t in (utc(i) for i in interactions) if t <= as_of]
    last_interaction_at = max(seen) if seen else None

    currency = _main_currency(bought)
    in_main = [p for p in bought if p.currency == currency]
    total_value = sum(p.amount for p in in_main)
    totals_by_currency: dict[str, int] = {}
    for p in bought:
        totals_by_currency[p.currency] = totals_by_currency.get(p.currency, 0) + p.amount

    first_at = bought[0].occurred_at if bought else None
    last_at = bought[-1].occurred_at if bought else None

    # RFM on calendar days (UTC)
    day_values: dict[date, int] = {}
    for p in bought:
        day = p.occurred_at.date()
        day_values[day] = day_values.get(day, 0) + (p.amount if p.currency == currency else 0)
    days = sorted(day_values)
    scale = 7.0 if unit == "weeks" else 1.0
    frequency = max(len(days) - 1, 0)
    recency = (days[-1] - days[0]).days / scale if days else None
    big_t = (as_of.date() - days[0]).days / scale if days else None
    repeat_values = [day_values[d] for d in days[1:]]
    monetary = sum(repeat_values) / len(repeat_values) if repeat_values else 0.0

    def since(moment: datetime | None) -> float | None:
        return None if moment is None else _days(as_of - moment)

    return ContactFeatures(
        as_of=as_of,
        unit=unit,
        created_at=utc(created_at) if created_at is not None else None,
        purchase_count=len(bought),
        first_purchase_at=first_at,
        last_purchase_at=last_at,
        currency=currency,
        total_value=total_value,
        average_value=total_value / len(in_main) if in_main else 0.0,
        totals_by_currency=totals_by_currency,
        last_interaction_at=last_interaction_at,
        consent=dict(consents),
        reactivations=reactivations,
        lifecycle=lifecycle_of(first_at, last_at, as_of),
        frequency=frequency,
        recency=recency,
        T=big_t,
        monetary=float(monetary),
        days_since_created=since(utc(created_at) if created_at is not None else None),
        days_since_first_purchase=since(first_at),
        days_since_last_purchase=since(last_at),
        days_since_last_interaction=since(last_interaction_at),
    )


@dataclass(frozen=True)
class ConsentChange:
    """One grant or withdrawal; the later one (business time, then log position) wins."""

    occurred_at: datetime
    channel: str
    granted: bool
    position: int = 0


@dataclass(frozen=True)
class ContactHistory:
    """Every fact of one contact that features depend on, each with its business time."""

    contact_id: str
    name: str | None
    created_at: datetime
    purchases: tuple[Purchase, ...] = ()
    interactions: tuple[datetime, ...] = ()
    consent_changes: tuple[ConsentChange, ...] = ()
    reactivations: tuple[datetime, ...] = ()

    def consents_as_of(self, as_of: datetime) -> dict[str, bool]:
        """Channel -> granted, from the changes at or before `as_of`."""
        as_of = utc(as_of)
        consents: dict[str, bool] = {}
        for change in sorted(self.consent_changes, key=lambda c: (utc(c.occurred_at), c.position)):
            if utc(change.occurred_at) <= as_of:
                consents[change.channel] = change.granted
        return consents

    def features(self, as_of: datetime, unit: Unit = "days") -> ContactFeatures:
        """The contact's features as of `as_of`."""
        return contact_features(
            self.created_at,
            self.purchases,
            self.interactions,
            self.consents_as_of(as_of),
            as_of,
            unit,
            reactivations=sum(1 for r in self.reactivations if utc(r) <= utc(as_of)),
        )

    def change_points(self, until: datetime | None = None) -> list[datetime]:
        """The times of the contact's events (creation first), at or before `until` if given."""
        times = {utc(self.created_at)}
        times.update(utc(p.occurred_at) for p in self.purchases)
        times.update(utc(t) for t in self.interactions)
        times.update(utc(c.occurred_at) for c in self.consent_changes)
        times.update(utc(t) for t in self.reactivations)
        if until is not None:
            times = {t for t in times if t <= utc(until)}
        return sorted(times)


# --- membership over time ----------------------------------------------------------------------


class MembershipInterval(NamedTuple):
    """A stay in a segment: entered at `entered_at`, left at `left_at` (None: still a member)."""

    entered_at: datetime
    left_at: datetime | None


_TICK = timedelta(microseconds=1)


def _shifted(moment: datetime, days: float) -> datetime | None:
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return None


def candidate_times(rule: SegmentRule, change_points: Iterable[datetime], until: datetime) -> list[datetime]:
    """Every moment at which the rule's verdict for a contact can change, from the contact's first
    change point up to `until`: the event times themselves, plus the times at which a time-based
    condition crosses its threshold (an event time + the threshold, and one microsecond either
    side so that both strict and non-strict comparisons are caught). `T` counts whole days, so it
    can only cross at midnight (UTC) some whole number of days after an event's day."""
    until = utc(until)
    points = sorted({utc(p) for p in change_points if utc(p) <= until})
    if not points:
        return []
    continuous: set[float] = set()
    whole_days: set[int] = set()
    for condition in rule.conditions:
        if condition.feature.startswith("days_since_") and not isinstance(condition.value, str | bool):
            continuous.add(float(condition.value))
        elif condition.feature == "lifecycle":
            continuous.update((NEW_CUSTOMER_DAYS, AT_RISK_AFTER_DAYS, LAPSED_AFTER_DAYS))
        elif condition.feature == "T" and not isinstance(condition.value, str | bool):
            in_days = float(condition.value) * (7.0 if rule.unit == "weeks" else 1.0)
            if math.isfinite(in_days) and abs(in_days) < 10**6:
                whole_days.update((math.floor(in_days), math.floor(in_days) + 1))
    found = set(points)
    for point in points:
        for offset in continuous:
            crossing = _shifted(point, offset)
            if crossing is not None:
                found.update((crossing - _TICK, crossing, crossing + _TICK))
        midnight = point.replace(hour=0, minute=0, second=0, microsecond=0)
        for n in whole_days:
            crossing = _shifted(midnight, n)
            if crossing is not None:
                found.add(crossing)
    return sorted(t for t in found if points[0] <= t <= until)


def membership_intervals(
    features_at: Callable[[datetime], Any],
    change_points: Iterable[datetime],
    rule: SegmentRule,
    until: datetime,
) -> list[MembershipInterval]:
    """When the contact was in the segment, up to `until`.

    `features_at(t)` gives the contact's features as of t (in the rule's unit); `change_points` are
    the times of the contact's events, the first being its creation. Between two candidate times
    (see `candidate_times`) nothing a rule can see changes, so evaluating at those is exact. An
    interval still open at `until` has `left_at` None."""
    intervals: list[MembershipInterval] = []
    entered: datetime | None = None
    for moment in candidate_times(rule, change_points, until):
        inside = rule.matches(features_at(moment))
        if inside and entered is None:
            entered = moment
        elif not inside and entered is not None:
            intervals.append(MembershipInterval(entered, moment))
            entered = None
    if entered is not None:
        intervals.append(MembershipInterval(entered, None))
    return intervals


def history_intervals(history: ContactHistory, rule: SegmentRule, until: datetime) -> list[MembershipInterval]:
    """`membership_intervals` of one contact's history."""
    return membership_intervals(lambda t: history.features(t, rule.unit), history.change_points(until), rule, until)


class SegmentMember(BaseModel):
    """A member of a segment as of a date, and since when (the start of the current stay)."""

    model_config = ConfigDict(frozen=True)

    contact_id: str
    name: str | None
    entered_at: datetime


class SegmentSummary(BaseModel):
    """A segment and how many members it has as of a date."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    members: int


def members_as_of(rule: SegmentRule, histories: Iterable[ContactHistory], as_of: datetime) -> list[SegmentMember]:
    """The contacts (created at or before `as_of`) in the segment as of `as_of`, oldest stay first."""
    as_of = utc(as_of)
    members = []
    for history in histories:
        if utc(history.created_at) > as_of:
            continue
        intervals = history_intervals(history, rule, as_of)
        if intervals and intervals[-1].left_at is None:
            members.append(
                SegmentMember(contact_id=history.contact_id, name=history.name, entered_at=intervals[-1].entered_at)
            )
    return sorted(members, key=lambda m: (m.entered_at, m.contact_id))


# --- queries -----------------------------------------------------------------------------------


def _moment(value: Any) -> datetime:
    """A timestamp read back from the store (ISO-8601 text, or a datetime)."""
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value)))


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
                created_at=_moment(c["created_at"]),
                purchases=tuple(
                    Purchase(_moment(r["occurred_at"]), int(r["amount"]), str(r["currency"])) for r in purchases[cid]
                ),
                interactions=tuple(_moment(r["occurred_at"]) for r in interactions[cid]),
                consent_changes=tuple(
                    ConsentChange(_moment(r["occurred_at"]), str(r["channel"]), bool(r["granted"]), int(r["position"]))
                    for r in consents[cid]
                ),
                reactivations=tuple(_moment(r["occurred_at"]) for r in reactivations[cid]),
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


def find_contact_by_external_id(reader: Reader, external_id: str) -> SegmentContact | None:
    """The contact with this external id (the earliest created, should there be several)."""
    rows = reader.fetch(
        "SELECT contact_id, name, email, phone, company, title, external_id, created_at, lead_id, updated_position "
        "FROM segment_contacts WHERE external_id = ? ORDER BY created_at, contact_id",
        (external_id,),
    )
    if not rows:
        return None
    row = dict(rows[0])
    row["created_at"] = _moment(row["created_at"])
    return SegmentContact.model_validate(row)


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
        values["created_at"] = _moment(values["created_at"])
        values["updated_position"] = int(values["updated_position"])
        contacts.append(SegmentContact.model_validate(values))
    return contacts
