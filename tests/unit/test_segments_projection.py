"""The segments read model: row changes per event, rules as data, membership over time, and the
queries (run against a small in-memory SQLite stand-in for the read-model store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from domain.money import Money
from domain.values import ConsentChannel, InteractionKind
from projections.contact_features import Purchase
from projections.event_record import EventRecord, record_of
from projections.row_changes import Insert, RowChange, Table, Update
from projections.segment_membership import (
    ContactHistory,
    MembershipInterval,
    history_intervals,
    members_as_of,
    membership_intervals,
)
from projections.segment_queries import (
    fetch_contact_features,
    list_contacts,
    segment_members,
    segment_summaries,
)
from projections.segment_rules import SegmentRule, UnknownSegment, default_rules, load_rules
from projections.segments import SegmentsProjection
from tests.unit.factories import T0, a_contact, a_lead, a_settled_contact, at, meta, pending

CONTACT_ID = UUID("00000000-0000-4000-8000-000000000001")
CID = str(CONTACT_ID)
LEAD_ID = UUID("00000000-0000-4000-8000-0000000000aa")


def records(events: Sequence[Any], first_position: int = 1) -> list[EventRecord]:
    return [record_of(e, first_position + i) for i, e in enumerate(events)]


def touch(position: int) -> Update:
    return Update(
        table="segment_contacts",
        where={"contact_id": CID},
        values={"updated_position": position},
        not_after={"updated_position": position},
    )


# --- a tiny stand-in for the read-model store ----------------------------------------------------


class SqliteStore:
    """Applies row changes to in-memory SQLite and answers `fetch`, converting datetimes to
    ISO-8601 UTC text on the way in, as the real store does."""

    SQL_TYPES = {
        "text": "TEXT",
        "int": "INTEGER",
        "float": "REAL",
        "bool": "INTEGER",
        "timestamp": "TEXT",
        "json": "TEXT",
    }

    def __init__(self, tables: Iterable[Table]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.row_factory = sqlite3.Row
        for t in tables:
            columns = ", ".join(f"{c} {self.SQL_TYPES[k]}" for c, k in t.columns.items())
            self.db.execute(f"CREATE TABLE {t.name} ({columns}, PRIMARY KEY ({', '.join(t.primary_key)}))")
            for i, index in enumerate(t.indexes):
                self.db.execute(f"CREATE INDEX {t.name}_{i} ON {t.name} ({', '.join(index)})")

    @staticmethod
    def _value(v: Any) -> Any:
        return v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v

    def apply(self, changes: Iterable[RowChange]) -> None:
        for c in changes:
            if isinstance(c, Insert):
                sql = f"INSERT INTO {c.table} ({', '.join(c.row)}) VALUES ({', '.join('?' for _ in c.row)})"
                self.db.execute(sql, [self._value(v) for v in c.row.values()])
            elif isinstance(c, Update):
                sets = ", ".join(f"{k} = ?" for k in c.values)
                where = " AND ".join(
                    [f"{k} = ?" for k in c.where]
                    + [f"{k} IS NULL" for k in c.where_null]
                    + [f"({k} IS NULL OR {k} <= ?)" for k in c.not_after]
                )
                params = [self._value(v) for v in [*c.values.values(), *c.where.values(), *c.not_after.values()]]
                self.db.execute(f"UPDATE {c.table} SET {sets} WHERE {where}", params)
            else:
                raise AssertionError(f"the segments projection does not use {type(c).__name__}")

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, [self._value(p) for p in params])]


def store_of(events: Sequence[Any]) -> SqliteStore:
    projection = SegmentsProjection()
    store = SqliteStore(projection.tables)
    for record in records(events):
        store.apply(projection.apply(record))
    return store


# --- row changes per event ---------------------------------------------------------------------


def test_the_projection_declares_its_name_and_tables() -> None:
    # given / when the projection
    projection = SegmentsProjection()

    # then its tables, keys and the external id index are as documented
    assert projection.name == "segments"
    keys = {t.name: t.primary_key for t in projection.tables}
    assert keys == {
        "segment_contacts": ("contact_id",),
        "segment_purchases": ("contact_id", "order_id"),
        "segment_interactions": ("contact_id", "position"),
        "segment_consent_changes": ("contact_id", "position"),
        "segment_reactivations": ("contact_id", "position"),
    }
    contacts = next(t for t in projection.tables if t.name == "segment_contacts")
    assert ("external_id",) in contacts.indexes
    assert contacts.columns["created_at"] == "timestamp"


def test_a_created_contact_becomes_one_contact_row() -> None:
    # given a contact created from a lead
    contact = a_contact(contact_id=CONTACT_ID, external_id="cdnow:00004", lead_id=LEAD_ID)
    (record,) = records(pending(contact), first_position=7)

    # when the projection applies the Created event
    changes = SegmentsProjection().apply(record)

    # then it inserts the contact's row
    assert changes == [
        Insert(
            table="segment_contacts",
            row={
                "contact_id": CID,
                "name": "Grace Hopper",
                "email": "grace@example.com",
                "phone": "+1 555 010 0000",
                "company": "Remington Rand",
                "title": "Director of Programming",
                "external_id": "cdnow:00004",
                "created_at": T0,
                "lead_id": str(LEAD_ID),
                "updated_position": 7,
                "merged_into": None,
                "name_at": T0,
                "email_at": T0,
                "phone_at": T0,
                "company_at": T0,
                "title_at": T0,
                "created_recorded_at": record.recorded_at,
            },
        )
    ]


def test_updated_details_update_the_contact_row() -> None:
    # given a contact whose email and title change
    contact = a_settled_contact(contact_id=CONTACT_ID)
    contact.update_details({"email": "grace@navy.mil", "title": None}, meta(at(days=1)))
    (record,) = records(pending(contact), first_position=9)

    # when the projection applies it
    changes = SegmentsProjection().apply(record)

    # then only those columns (and the position) change, each unless set later in business time
    assert changes == [
        Update(
            table="segment_contacts",
            where={"contact_id": CID},
            values={"email": "grace@navy.mil", "email_at": at(days=1)},
            not_after={"email_at": at(days=1)},
        ),
        Update(
            table="segment_contacts",
            where={"contact_id": CID},
            values={"title": None, "title_at": at(days=1)},
            not_after={"title_at": at(days=1)},
        ),
        touch(9),
    ]


def test_a_logged_interaction_is_inserted_with_its_time_and_kind() -> None:
    # given an interaction with a contact
    contact = a_settled_contact(contact_id=CONTACT_ID)
    contact.log_interaction(InteractionKind.CALL, "follow-up", meta(at(days=2)))
    (record,) = records(pending(contact), first_position=11)

    # when the projection applies it
    changes = SegmentsProjection().apply(record)

    # then one interaction row keyed by position, and the contact is touched
    assert changes == [
        Insert(
            table="segment_interactions",
            row={
                "contact_id": CID,
                "position": 11,
                "occurred_at": at(days=2),
                "kind": "call",
                "recorded_at": record.recorded_at,
            },
        ),
        touch(11),
    ]


def test_a_recorded_purchase_is_inserted_with_its_amount_in_minor_units() -> None:
    # given a purchase of 2 items for 29.33 USD
    contact = a_settled_contact(contact_id=CONTACT_ID)
    contact.record_purchase("order-1", Money(2933, "USD"), 2, meta(at(days=3)))
    (record,) = records(pending(contact), first_position=12)

    # when the projection applies it
    changes = SegmentsProjection().apply(record)

    # then one purchase row keyed by order id, and the contact is touched
    assert changes == [
        Insert(
            table="segment_purchases",
            row={
                "contact_id": CID,
                "order_id": "order-1",
                "occurred_at": at(days=3),
                "amount": 2933,
                "currency": "USD",
                "quantity": 2,
                "position": 12,
                "recorded_at": record.recorded_at,
            },
        ),
        touch(12),
    ]


def test_a_consent_change_is_kept_as_history() -> None:
    # given a contact withdrawing email consent after granting it
    contact = a_settled_contact(contact_id=CONTACT_ID)
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at(days=1)))
    contact.change_consent(ConsentChannel.EMAIL, False, meta(at(days=4)))
    granted, withdrawn = records(pending(contact), first_position=20)

    # when the projection applies the withdrawal
    changes = SegmentsProjection().apply(withdrawn)

    # then a change row is inserted (not overwritten), so consent can be read as of any date
    assert changes == [
        Insert(
            table="segment_consent_changes",
            row={
                "contact_id": CID,
                "position": 21,
                "occurred_at": at(days=4),
                "channel": "email",
                "granted": False,
                "recorded_at": withdrawn.recorded_at,
            },
        ),
        touch(21),
    ]


def test_a_reactivation_is_inserted_with_the_new_lead() -> None:
    # given a contact reactivated with a new lead
    contact = a_settled_contact(contact_id=CONTACT_ID)
    contact.reactivate(LEAD_ID, "enterprise plan", meta(at(days=30)))
    (record,) = records(pending(contact), first_position=30)

    # when the projection applies it
    changes = SegmentsProjection().apply(record)

    # then
    assert changes == [
        Insert(
            table="segment_reactivations",
            row={
                "contact_id": CID,
                "position": 30,
                "occurred_at": at(days=30),
                "lead_id": str(LEAD_ID),
                "interest": "enterprise plan",
                "recorded_at": record.recorded_at,
            },
        ),
        touch(30),
    ]


def test_lead_events_change_nothing() -> None:
    # given the events of a lead that was captured, scored and converted into a contact
    lead = a_lead()
    events = pending(lead)
    lead.convert(CONTACT_ID, Money(100_000, "USD"), meta(at(days=1)))
    events += pending(lead)

    # when the projection applies them
    changes = [c for r in records(events) for c in SegmentsProjection().apply(r)]

    # then there are no row changes (the contact's own Created event carries the lead id)
    assert [r.event_type for r in records(events)][-1] == "lead.converted"
    assert changes == []


def test_a_contact_converted_from_a_lead_has_the_lead_consent_from_its_creation_on() -> None:
    # given a lead that granted sms and withdrew email consent, converted on day 2 into a
    # contact that took its consent over, as the conversion does
    lead = a_lead()
    lead.change_consent(ConsentChannel.SMS, True, meta(at(days=1)))
    lead.change_consent(ConsentChannel.EMAIL, False, meta(at(days=1)))
    converted = meta(at(days=2))
    contact = a_contact(contact_id=CONTACT_ID, lead_id=lead.id, meta=converted)
    contact.adopt_consent(lead.own_consent_statements(), converted)
    lead.convert(CONTACT_ID, Money(100_000, "USD"), converted)

    # when the conversion's events are projected (the lead's first, as they are appended)
    store = store_of(pending(lead) + pending(contact))

    # then the contact's features hold the carried consent from the moment it exists
    features = fetch_contact_features(store, CONTACT_ID, at(days=2))
    assert features is not None
    assert features.consent == {"email": False, "sms": True}
    assert (features.value("consent_email"), features.value("consent_sms")) == (False, True)
    assert fetch_contact_features(store, CONTACT_ID, at(days=1)) is None
    # and the lead's own consent events wrote nothing here
    assert len(store.fetch("SELECT * FROM segment_consent_changes")) == 2


# --- rules as data -----------------------------------------------------------------------------


def rules_json(condition: str) -> str:
    return f'{{"segments": [{{"name": "x", "description": "d", "conditions": [{condition}]}}]}}'


def test_the_default_rules_load_from_the_shipped_file() -> None:
    # given / when the shipped rules are loaded
    rules = {r.name: r for r in default_rules()}

    # then the six documented segments are there with their thresholds
    assert list(rules) == ["prospects", "new_customers", "repeat_buyers", "high_value", "at_risk", "dormant"]
    at_risk = [(c.feature, c.op, c.value) for c in rules["at_risk"].conditions]
    assert at_risk == [("days_since_last_purchase", ">=", 90), ("days_since_last_purchase", "<", 180)]
    assert [(c.feature, c.op, c.value) for c in rules["high_value"].conditions] == [("total_value", ">=", 100000)]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{"feature": "lifetime_spend", "op": ">", "value": 1}', "unknown feature 'lifetime_spend'"),
        ('{"feature": "frequency", "op": "=>", "value": 1}', "unknown op '=>'"),
        ('{"feature": "frequency", "op": ">", "value": "many"}', "feature 'frequency' is a number"),
        ('{"feature": "frequency", "op": ">", "value": true}', "feature 'frequency' is a number"),
        ('{"feature": "lifecycle", "op": "<", "value": "new"}', "can only be compared with == or !="),
        ('{"feature": "lifecycle", "op": "==", "value": "asleep"}', "no stage 'asleep'"),
        ('{"feature": "consent_email", "op": "==", "value": 1}', "feature 'consent_email' is true or false"),
        ('{"feature": "frequency", "op": ">", "value": 1, "weight": 2}', "weight"),
    ],
)
def test_an_invalid_condition_is_rejected_with_an_error_naming_it(condition: str, message: str) -> None:
    # given a rules file with one bad condition
    text = rules_json(condition)

    # when it is loaded, then the error names what is wrong
    with pytest.raises(ValidationError) as error:
        load_rules(text)
    assert message in str(error.value)


def test_a_segment_defined_twice_or_with_no_conditions_is_rejected() -> None:
    # given two rules files: a duplicate name, and a rule without conditions
    segment = '{"name": "a", "description": "", "conditions": [{"feature": "frequency", "op": ">", "value": 0}]}'
    twice = f'{{"segments": [{segment}, {segment}]}}'
    empty = '{"segments": [{"name": "a", "description": "", "conditions": []}]}'

    # when loaded, then each is rejected
    with pytest.raises(ValidationError, match="segment 'a' is defined twice"):
        load_rules(twice)
    with pytest.raises(ValidationError, match="conditions"):
        load_rules(empty)


# --- membership over time ----------------------------------------------------------------------

RULES = {r.name: r for r in default_rules()}

# A contact created 2024-03-01 09:00, buying on 2024-03-02 09:00, quiet, then again on
# 2024-10-01 12:00. Thresholds from the first purchase: +90 days = 2024-05-31 09:00
# (Mar 2 -> Apr 2 = 31, -> May 2 = 61, -> May 31 = 90), +180 days = 2024-08-29 09:00
# (-> Jun 2 = 92, -> Jul 2 = 122, -> Aug 2 = 153, -> Aug 29 = 180). From the second purchase:
# +90 days = 2024-12-30 12:00 (Oct 1 -> Nov 1 = 31, -> Dec 1 = 61, -> Dec 30 = 90).
CREATED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
FIRST_BUY = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
SECOND_BUY = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
UNTIL = datetime(2024, 12, 31, tzinfo=UTC)
HISTORY = ContactHistory(
    contact_id=CID,
    name="Grace Hopper",
    created_at=CREATED,
    purchases=(Purchase(FIRST_BUY, 5000, "USD"), Purchase(SECOND_BUY, 7000, "USD")),
)


def test_a_quiet_buyer_enters_at_risk_then_dormant_and_leaves_on_buying_again() -> None:
    # given the contact above, when its membership is computed up to 2024-12-31
    at_risk = history_intervals(HISTORY, RULES["at_risk"], UNTIL)
    dormant = history_intervals(HISTORY, RULES["dormant"], UNTIL)

    # then at_risk from first purchase + 90 days to + 180 days, and again 90 days after the second
    assert at_risk == [
        MembershipInterval(datetime(2024, 5, 31, 9, 0, tzinfo=UTC), datetime(2024, 8, 29, 9, 0, tzinfo=UTC)),
        MembershipInterval(datetime(2024, 12, 30, 12, 0, tzinfo=UTC), None),
    ]
    # and dormant from first purchase + 180 days until the second purchase
    assert dormant == [MembershipInterval(datetime(2024, 8, 29, 9, 0, tzinfo=UTC), SECOND_BUY)]


def test_prospects_and_new_customers_change_at_the_first_purchase_and_90_days_later() -> None:
    # given the contact above, when prospects and new_customers are computed
    prospects = history_intervals(HISTORY, RULES["prospects"], UNTIL)
    new = history_intervals(HISTORY, RULES["new_customers"], UNTIL)

    # then a prospect from creation to the first purchase; new for the 90 days after it
    assert prospects == [MembershipInterval(CREATED, FIRST_BUY)]
    assert new == [MembershipInterval(FIRST_BUY, datetime(2024, 5, 31, 9, 0, tzinfo=UTC))]


def test_a_strict_threshold_is_crossed_one_microsecond_after_the_exact_time() -> None:
    # given a rule "more than 90 days since the last purchase"
    rule = SegmentRule.model_validate(
        {
            "name": "quiet",
            "description": "",
            "conditions": [{"feature": "days_since_last_purchase", "op": ">", "value": 90}],
        }
    )

    # when evaluated with the plain function over features and change points
    intervals = membership_intervals(
        lambda t: HISTORY.features(t), HISTORY.change_points(UNTIL), rule, datetime(2024, 6, 30, tzinfo=UTC)
    )

    # then the contact enters just after first purchase + 90 days
    assert intervals == [MembershipInterval(datetime(2024, 5, 31, 9, 0, 0, 1, tzinfo=UTC), None)]


def test_a_rule_on_t_in_weeks_is_crossed_at_midnight() -> None:
    # given "T >= 2 weeks": first purchase day 2024-03-02, so T = 14 days on 2024-03-16
    rule = SegmentRule.model_validate(
        {"name": "t2", "description": "", "unit": "weeks", "conditions": [{"feature": "T", "op": ">=", "value": 2}]}
    )

    # when evaluated up to April
    intervals = history_intervals(HISTORY, rule, datetime(2024, 4, 1, tzinfo=UTC))

    # then the contact enters at midnight UTC of 2024-03-16
    assert intervals == [MembershipInterval(datetime(2024, 3, 16, tzinfo=UTC), None)]


def test_members_as_of_a_date_carry_when_they_entered_and_skip_contacts_not_created_yet() -> None:
    # given the contact above and one created later in June that never bought
    later = ContactHistory(contact_id="later", name="Late Comer", created_at=datetime(2024, 6, 15, tzinfo=UTC))

    # when the at_risk and prospects members are listed as of 2024-06-01
    as_of = datetime(2024, 6, 1, tzinfo=UTC)
    at_risk = members_as_of(RULES["at_risk"], [HISTORY, later], as_of)
    prospects = members_as_of(RULES["prospects"], [HISTORY, later], as_of)

    # then only the first contact is at risk (since May 31) and nobody is a prospect yet
    assert [(m.contact_id, m.entered_at) for m in at_risk] == [(CID, datetime(2024, 5, 31, 9, 0, tzinfo=UTC))]
    assert prospects == []


# --- queries through a Reader ----------------------------------------------------------------


def a_customer_story() -> list[Any]:
    """The contact above as domain events, plus an interaction, consent changes and a reactivation."""
    contact = a_contact(contact_id=CONTACT_ID, external_id="shop:42", meta=meta(CREATED))
    contact.record_purchase("o-1", Money(5000, "USD"), 1, meta(FIRST_BUY))
    contact.change_consent(ConsentChannel.EMAIL, True, meta(FIRST_BUY))
    contact.log_interaction(InteractionKind.EMAIL_OPEN, None, meta(datetime(2024, 4, 10, tzinfo=UTC)))
    contact.change_consent(ConsentChannel.EMAIL, False, meta(datetime(2024, 7, 1, tzinfo=UTC)))
    contact.reactivate(LEAD_ID, "upgrade", meta(datetime(2024, 9, 20, tzinfo=UTC)))
    contact.record_purchase("o-2", Money(7000, "USD"), 2, meta(SECOND_BUY))
    other = a_contact(contact_id=UUID(int=2), name="Alan Turing", meta=meta(datetime(2024, 5, 1, tzinfo=UTC)))
    return pending(contact) + pending(other)


def test_features_read_back_as_of_a_date_ignore_later_events() -> None:
    # given the story stored through the projection
    store = store_of(a_customer_story())

    # when features are read as of 2024-06-01 and as of 2024-12-31
    june = fetch_contact_features(store, CONTACT_ID, datetime(2024, 6, 1, tzinfo=UTC))
    december = fetch_contact_features(store, CONTACT_ID, UNTIL)

    # then June sees one purchase, consent granted, no reactivation yet
    assert june is not None and december is not None
    assert (june.purchase_count, june.total_value, june.frequency, june.lifecycle) == (1, 5000, 0, "at_risk")
    assert june.consent == {"email": True}
    assert june.last_interaction_at == datetime(2024, 4, 10, tzinfo=UTC)
    assert june.reactivations == 0
    # and December sees both purchases: days Mar 2 and Oct 1, recency = 29+30+31+30+31+31+30+1 = 213
    assert (december.purchase_count, december.total_value, december.frequency) == (2, 12000, 1)
    assert december.recency == (datetime(2024, 10, 1) - datetime(2024, 3, 2)).days == 213
    assert december.monetary == 7000
    assert december.consent == {"email": False}
    assert december.reactivations == 1


def test_features_of_an_unknown_or_not_yet_created_contact_are_none() -> None:
    # given the story stored
    store = store_of(a_customer_story())

    # when features are asked for an unknown id, and before the contact existed
    unknown = fetch_contact_features(store, UUID(int=99), UNTIL)
    too_early = fetch_contact_features(store, CONTACT_ID, datetime(2024, 1, 1, tzinfo=UTC))

    # then there are none
    assert unknown is None and too_early is None


def test_read_as_known_at_a_moment_the_segments_answer_as_a_store_that_applied_only_what_was_recorded_by_then() -> None:
    # given the story recorded one event a minute (the second contact last, though dated earlier)
    recorded = [
        replace(r, recorded_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
        for i, r in enumerate(records(a_customer_story()))
    ]
    projection = SegmentsProjection()
    store = SqliteStore(projection.tables)
    for record in recorded:
        store.apply(projection.apply(record))
    rules = default_rules()

    for known in range(len(recorded) + 1):
        # when read as known at the recording of the `known`-th event (before the first, for 0)
        known_at = recorded[known - 1].recorded_at if known else datetime(2024, 12, 31, tzinfo=UTC)
        prefix = SqliteStore(projection.tables)
        for record in recorded[:known]:
            prefix.apply(projection.apply(record))

        # then every answer is the one of a store holding the events recorded by then only
        for as_of in (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC), UNTIL):
            assert fetch_contact_features(store, CONTACT_ID, as_of, known_at=known_at) == fetch_contact_features(
                prefix, CONTACT_ID, as_of
            ), (known, as_of)
            assert segment_summaries(store, rules, as_of, known_at) == segment_summaries(prefix, rules, as_of)
            assert segment_members(store, rules, "prospects", as_of, known_at) == segment_members(
                prefix, rules, "prospects", as_of
            )
    assert fetch_contact_features(store, CONTACT_ID, UNTIL, known_at=datetime(2024, 12, 31, tzinfo=UTC)) is None


def test_a_contact_is_found_by_its_external_id() -> None:
    # given the story stored
    store = store_of(a_customer_story())

    # when looked up by external id
    [found] = list_contacts(store, external_id="shop:42")
    missing = list_contacts(store, external_id="shop:43")

    # then the contact's current row comes back with its creation time parsed
    assert missing == []
    assert (found.contact_id, found.name, found.created_at) == (CID, "Grace Hopper", CREATED)
    assert found.updated_position == 7  # the 7th and last event of the first contact


def test_segment_members_and_summaries_are_read_as_of_a_date() -> None:
    # given the story stored
    store = store_of(a_customer_story())
    rules = default_rules()

    # when segments are read as of 2024-09-01
    as_of = datetime(2024, 9, 1, tzinfo=UTC)
    dormant = segment_members(store, rules, "dormant", as_of)
    summaries = {s.name: s.members for s in segment_summaries(store, rules, as_of)}

    # then the first contact is dormant since first purchase + 180 days; Alan is a prospect
    assert [(m.contact_id, m.name, m.entered_at) for m in dormant] == [
        (CID, "Grace Hopper", datetime(2024, 8, 29, 9, 0, tzinfo=UTC))
    ]
    assert summaries == {
        "prospects": 1,
        "new_customers": 0,
        "repeat_buyers": 0,
        "high_value": 0,
        "at_risk": 0,
        "dormant": 1,
    }


def test_an_unknown_segment_name_is_an_error_naming_it() -> None:
    # given the story stored, when an undefined segment is asked for, then the error names it
    store = store_of(a_customer_story())
    with pytest.raises(UnknownSegment, match="no segment 'vip'"):
        segment_members(store, default_rules(), "vip", UNTIL)
