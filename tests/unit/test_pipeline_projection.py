"""The pipeline projection: the row changes of every lead event, and the rows they leave behind.

Event records are written by hand here (`LeadLog`), with data shaped exactly like the domain
events' fields, so the projection is tested as a pure function of what it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from domain.catalogue import data_fields, event_classes
from domain.lead import Lead
from domain.money import Money
from domain.values import Meta, Stage
from projections.event_record import EventRecord, record_from_json, record_of, record_to_json
from projections.pipeline import LEAD_EVENTS, LEAD_VERSIONS, LEADS, STAGE_INTERVALS, PipelineProjection
from projections.row_changes import Insert, Journal, NewVersion, RowChange, Update, Upsert
from tests.unit.sqlite_reader import SqliteReader

T = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    """Midnight UTC `n` days after 2026-01-01."""
    return T + timedelta(days=n)


def on(month: int, day_of_month: int, year: int = 2026) -> datetime:
    """Midnight UTC of a calendar day."""
    return datetime(year, month, day_of_month, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A business time as the store keeps it."""
    return moment.astimezone(UTC).isoformat()


class LeadLog:
    """Hand-written lead histories as the event records a projection sees, in log order.

    Leads are named; each name maps to a fixed UUID. Every method appends one record and
    returns it."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []
        self._version: dict[str, int] = {}
        self._stage: dict[str, str] = {}
        self._owner: dict[str, str | None] = {}
        self._score: dict[str, int] = {}

    @staticmethod
    def id_of(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lead:{name}")

    @classmethod
    def key(cls, name: str) -> str:
        """The lead id as stored in the read model."""
        return str(cls.id_of(name))

    def until(self, moment: datetime) -> list[EventRecord]:
        """The records of events that occurred on or before `moment`, in log order."""
        return [r for r in self.records if r.occurred_at <= moment]

    def _add(self, name: str, event_type: str, at: datetime, data: dict[str, Any]) -> EventRecord:
        self._version[name] = self._version.get(name, 0) + 1
        record = EventRecord(
            position=len(self.records) + 1,
            event_type=event_type,
            aggregate_type="lead",
            aggregate_id=self.id_of(name),
            aggregate_version=self._version[name],
            occurred_at=at,
            recorded_at=T + timedelta(days=400, seconds=len(self.records)),
            actor="alice",
            correlation_id=f"req-{len(self.records) + 1}",
            data=data,
        )
        self.records.append(record)
        return record

    def capture(
        self,
        name: str,
        at: datetime,
        *,
        owner: str | None = "alice",
        source: str = "web_form",
        value: int | None = 100_000,
        currency: str = "USD",
        campaign: str | None = None,
    ) -> EventRecord:
        self._stage[name], self._owner[name], self._score[name] = "new", owner, 0
        return self._add(
            name,
            "lead.captured",
            at,
            {
                "name": name.title(),
                "email": f"{name}@example.com",
                "company": None,
                "phone": None,
                "title": None,
                "source": source,
                "campaign": campaign,
                "estimated_value": value,
                "currency": currency,
                "owner": owner,
                "contact_id": None,
                "interest": None,
                "country": None,
            },
        )

    def move(self, name: str, stage: str, at: datetime) -> EventRecord:
        previous, self._stage[name] = self._stage[name], stage
        return self._add(name, "lead.stage_changed", at, {"stage": stage, "previous_stage": previous})

    def disqualify(self, name: str, at: datetime, reason: str = "no budget") -> EventRecord:
        previous, self._stage[name] = self._stage[name], "disqualified"
        return self._add(name, "lead.disqualified", at, {"reason": reason, "previous_stage": previous})

    def convert(self, name: str, at: datetime, deal_value: int, currency: str = "USD") -> EventRecord:
        previous, self._stage[name] = self._stage[name], "converted"
        data = {
            "contact_id": uuid5(NAMESPACE_URL, f"contact:{name}"),
            "deal_value": deal_value,
            "currency": currency,
            "previous_stage": previous,
        }
        return self._add(name, "lead.converted", at, data)

    def assign(self, name: str, owner: str, at: datetime) -> EventRecord:
        previous, self._owner[name] = self._owner[name], owner
        return self._add(name, "lead.assigned", at, {"owner": owner, "previous_owner": previous, "reason": None})

    def score(self, name: str, score: int, at: datetime) -> EventRecord:
        previous, self._score[name] = self._score[name], score
        data = {
            "score": score,
            "previous_score": previous,
            "reason": "interaction:call",
            "model_version": "v1",
            "breakdown": {"fit": 10.0},
        }
        return self._add(name, "lead.scored", at, data)

    def interact(self, name: str, at: datetime, kind: str = "call") -> EventRecord:
        return self._add(name, "lead.interaction_logged", at, {"kind": kind, "detail": None})

    def consent(self, name: str, at: datetime, channel: str = "email", granted: bool = False) -> EventRecord:
        data = {"channel": channel, "granted": granted, "carried_from": None}
        return self._add(name, "lead.consent_changed", at, data)


def store_of(records: list[EventRecord]) -> SqliteReader:
    """The pipeline read model after projecting `records` in order."""
    return SqliteReader.of(PipelineProjection(), records)


PROJECTION = PipelineProjection()
A = LeadLog.key("ada")


def changes_of(record: EventRecord) -> list[RowChange]:
    """The row changes of a lead event after its journal entry, which comes first."""
    journal, *changes = PROJECTION.apply(record)
    assert isinstance(journal, Journal) and journal.key == {"lead_id": str(record.aggregate_id)}
    return changes


def rows(store: SqliteReader, table: str, order: str = "version") -> list[dict[str, Any]]:
    return store.fetch(f"SELECT * FROM {table} WHERE lead_id = ? ORDER BY {order}", [A])


# --- the hand-written records are shaped like the domain's events -----------------------------


def test_every_hand_written_lead_record_carries_exactly_the_fields_of_its_domain_event() -> None:
    # given one record of every lead event type
    log = LeadLog()
    log.capture("ada", day(0))
    log.interact("ada", day(1))
    log.score("ada", 30, day(1))
    log.consent("ada", day(1))
    log.assign("ada", "bob", day(2))
    log.move("ada", "contacted", day(3))
    log.convert("ada", day(4), 90_000)
    log.capture("bea", day(0))
    log.disqualify("bea", day(1))
    classes = event_classes()
    # then each record's data has the names of its event class's own fields
    for record in log.records:
        assert sorted(record.data) == sorted(name for name, _ in data_fields(classes[record.event_type]))


# --- the journal ---------------------------------------------------------------------------------


def test_every_lead_event_is_journaled_first_without_its_personal_data_and_keeps_the_name_column() -> None:
    # given a lead captured with a name and an email
    record = LeadLog().capture("ada", day(0))
    assert record.data["name"] != "[erased]"
    # when projected
    journal = PROJECTION.apply(record)[0]
    # then its journal entry holds the event as it reads once erased, and the name stays in the row
    assert isinstance(journal, Journal) and journal.table == LEAD_EVENTS.name
    assert journal.record.data["name"] == "[erased]" and journal.record.data["email"] is None
    assert journal.record.data["source"] == record.data["source"]
    assert journal.keep == {LEADS.name: ("name",)}
    assert journal.then == (Update(LEADS.name, {"lead_id": A}, {"version": 1}),)


def test_a_journaled_record_reads_back_equal_with_its_datetimes_and_ids() -> None:
    record = LeadLog().capture("ada", day(0))
    assert record_from_json(record_to_json(record)) == record


# --- the row changes of each event type -------------------------------------------------------


def test_a_captured_lead_upserts_its_row_inserts_its_first_version_and_enters_the_new_stage() -> None:
    # given a lead captured on day 0
    record = LeadLog().capture("ada", day(0), owner="alice", source="referral", value=250_000, currency="EUR")
    # when projected
    changes = changes_of(record)
    # then
    assert changes == [
        Upsert(
            LEADS.name,
            ("lead_id",),
            {
                "lead_id": A,
                "name": "Ada",
                "owner": "alice",
                "source": "referral",
                "campaign": None,
                "stage": "new",
                "value": 250_000,
                "currency": "EUR",
                "score": 0,
                "captured_at": day(0),
                "stage_entered_at": day(0),
                "last_interaction_at": None,
                "closed_at": None,
                "deal_value": None,
                "contact_id": None,
                "disqualified_reason": None,
                "version": 1,
                "merged_into": None,
                "absorbed_interactions": 0,
                "absorbed_score": 0,
                "absorbed_last_interaction_at": None,
            },
        ),
        Insert(
            LEAD_VERSIONS.name,
            {
                "lead_id": A,
                "version": 1,
                "valid_from": day(0),
                "valid_to": None,
                "stage": "new",
                "owner": "alice",
                "source": "referral",
                "value": 250_000,
                "currency": "EUR",
            },
        ),
        Insert(
            STAGE_INTERVALS.name,
            {"lead_id": A, "version": 1, "stage": "new", "entered_at": day(0), "left_at": None},
        ),
    ]


def test_a_stage_change_moves_the_row_opens_a_version_and_closes_the_previous_interval() -> None:
    # given a captured lead
    log = LeadLog()
    log.capture("ada", day(0))
    # when it moves to contacted on day 2
    changes = changes_of(log.move("ada", "contacted", day(2)))
    # then
    assert changes == [
        Update(LEADS.name, {"lead_id": A}, {"stage": "contacted", "stage_entered_at": day(2), "version": 2}),
        NewVersion(LEAD_VERSIONS.name, {"lead_id": A}, 2, day(2), {"stage": "contacted"}),
        Update(STAGE_INTERVALS.name, {"lead_id": A}, {"left_at": day(2)}, where_null=("left_at",)),
        Insert(
            STAGE_INTERVALS.name,
            {"lead_id": A, "version": 2, "stage": "contacted", "entered_at": day(2), "left_at": None},
        ),
    ]


def test_a_disqualification_closes_the_lead_with_its_reason() -> None:
    # given a captured lead
    log = LeadLog()
    log.capture("ada", day(0))
    # when it is disqualified on day 3
    changes = changes_of(log.disqualify("ada", day(3), reason="no budget"))
    # then the row is closed and the lead enters the disqualified stage
    assert changes[0] == Update(
        LEADS.name,
        {"lead_id": A},
        {
            "stage": "disqualified",
            "stage_entered_at": day(3),
            "version": 2,
            "closed_at": day(3),
            "disqualified_reason": "no budget",
        },
    )
    assert changes[1] == NewVersion(LEAD_VERSIONS.name, {"lead_id": A}, 2, day(3), {"stage": "disqualified"})
    assert changes[3] == Insert(
        STAGE_INTERVALS.name,
        {"lead_id": A, "version": 2, "stage": "disqualified", "entered_at": day(3), "left_at": None},
    )


def test_a_conversion_records_the_deal_value_currency_contact_and_close_time() -> None:
    # given a lead in proposal
    log = LeadLog()
    log.capture("ada", day(0))
    log.move("ada", "proposal", day(1))
    # when it converts on day 5 for 120_000 EUR
    record = log.convert("ada", day(5), 120_000, currency="EUR")
    changes = changes_of(record)
    # then
    assert changes[0] == Update(
        LEADS.name,
        {"lead_id": A},
        {
            "stage": "converted",
            "stage_entered_at": day(5),
            "version": 3,
            "closed_at": day(5),
            "deal_value": 120_000,
            "contact_id": str(record.data["contact_id"]),
            "value": 120_000,
            "currency": "EUR",
        },
    )
    # a won lead is worth its deal, in the deal's currency, from then on
    assert changes[1] == NewVersion(
        LEAD_VERSIONS.name, {"lead_id": A}, 3, day(5), {"stage": "converted", "value": 120_000, "currency": "EUR"}
    )
    assert changes[2] == Update(STAGE_INTERVALS.name, {"lead_id": A}, {"left_at": day(5)}, where_null=("left_at",))


def test_an_assignment_changes_the_owner_and_opens_a_version_without_touching_stage_intervals() -> None:
    log = LeadLog()
    log.capture("ada", day(0), owner=None)
    changes = changes_of(log.assign("ada", "bob", day(1)))
    assert changes == [
        Update(LEADS.name, {"lead_id": A}, {"owner": "bob", "version": 2}),
        NewVersion(LEAD_VERSIONS.name, {"lead_id": A}, 2, day(1), {"owner": "bob"}),
    ]


def test_a_score_and_an_interaction_change_only_the_current_row() -> None:
    log = LeadLog()
    log.capture("ada", day(0))
    assert changes_of(log.score("ada", 42, day(1))) == [Update(LEADS.name, {"lead_id": A}, {"score": 42, "version": 2})]
    assert changes_of(log.interact("ada", day(2))) == [
        Update(LEADS.name, {"lead_id": A}, {"last_interaction_at": day(2), "version": 3})
    ]


def test_a_consent_change_only_moves_the_current_row_to_its_version() -> None:
    # given a lead
    log = LeadLog()
    log.capture("ada", day(0))
    # when the person withdraws email consent, then the row keeps up with the lead's version only
    assert changes_of(log.consent("ada", day(1), granted=False)) == [Update(LEADS.name, {"lead_id": A}, {"version": 2})]


def test_contact_events_change_nothing_in_the_pipeline() -> None:
    record = EventRecord(
        position=1,
        event_type="contact.purchase_recorded",
        aggregate_type="contact",
        aggregate_id=uuid5(NAMESPACE_URL, "contact:x"),
        aggregate_version=2,
        occurred_at=day(0),
        recorded_at=day(0),
        actor="alice",
        correlation_id="req-1",
        data={"order_id": "o-1", "amount": 1_000, "currency": "USD", "quantity": 1},
    )
    assert PROJECTION.apply(record) == []


# --- the rows they leave behind ---------------------------------------------------------------


@pytest.fixture
def ada_history() -> SqliteReader:
    """Ada: captured day 0 (alice, 100_000 USD), assigned to bob day 1, contacted day 2, scored
    day 3, qualified day 4, converted day 9 for 120_000 EUR."""
    log = LeadLog()
    log.capture("ada", day(0))
    log.assign("ada", "bob", day(1))
    log.move("ada", "contacted", day(2))
    log.score("ada", 55, day(3))
    log.move("ada", "qualified", day(4))
    log.convert("ada", day(9), 120_000, currency="EUR")
    return store_of(log.records)


def test_the_lead_versions_chain_without_gaps_and_carry_unchanged_columns_forward(ada_history: SqliteReader) -> None:
    versions = [
        (r["version"], r["valid_from"], r["valid_to"], r["stage"], r["owner"], r["value"], r["currency"])
        for r in rows(ada_history, LEAD_VERSIONS.name)
    ]
    assert versions == [
        (1, iso(day(0)), iso(day(1)), "new", "alice", 100_000, "USD"),
        (2, iso(day(1)), iso(day(2)), "new", "bob", 100_000, "USD"),
        (3, iso(day(2)), iso(day(4)), "contacted", "bob", 100_000, "USD"),
        (5, iso(day(4)), iso(day(9)), "qualified", "bob", 100_000, "USD"),
        (6, iso(day(9)), None, "converted", "bob", 120_000, "EUR"),
    ]


def test_the_stage_intervals_cover_each_stay_and_leave_the_last_one_open(ada_history: SqliteReader) -> None:
    intervals = [(r["stage"], r["entered_at"], r["left_at"]) for r in rows(ada_history, STAGE_INTERVALS.name)]
    assert intervals == [
        ("new", iso(day(0)), iso(day(2))),
        ("contacted", iso(day(2)), iso(day(4))),
        ("qualified", iso(day(4)), iso(day(9))),
        ("converted", iso(day(9)), None),
    ]


def test_the_current_row_holds_the_latest_state_of_the_lead(ada_history: SqliteReader) -> None:
    (row,) = rows(ada_history, LEADS.name)
    assert {k: row[k] for k in ("stage", "owner", "score", "closed_at", "deal_value", "currency", "version")} == {
        "stage": "converted",
        "owner": "bob",
        "score": 55,
        "closed_at": iso(day(9)),
        "deal_value": 120_000,
        "currency": "EUR",
        "version": 6,
    }


def test_real_domain_events_project_the_same_rows_as_the_hand_written_records() -> None:
    # given a real lead captured, moved and converted (its Scored events come along)
    def meta(at: datetime) -> Meta:
        return Meta(actor="alice", correlation_id="req", occurred_at=at)

    lead = Lead.capture(
        lead_id=LeadLog.id_of("ada"),
        meta=meta(day(0)),
        name="Ada",
        email="ada@example.com",
        company=None,
        phone=None,
        title=None,
        source="web_form",
        campaign=None,
        estimated_value=100_000,
        currency="USD",
        owner="alice",
        contact_id=None,
        interest=None,
        country=None,
    )
    lead.change_stage(Stage.QUALIFIED, meta(day(2)))
    lead.convert(uuid5(NAMESPACE_URL, "contact:ada"), Money(90_000, "USD"), meta(day(5)))
    events = [e for e in lead.collect_events() if isinstance(e, Lead.Event)]
    real = store_of([record_of(e, n) for n, e in enumerate(events, start=1)])
    # and the same history written by hand
    log = LeadLog()
    log.capture("ada", day(0))
    log.move("ada", "qualified", day(2))
    log.convert("ada", day(5), 90_000)
    by_hand = store_of(log.records)
    # then the versions and intervals agree (versions numbers differ: the real lead was also scored)
    for table, columns in (
        (LEAD_VERSIONS.name, "valid_from, valid_to, stage, owner, source, value, currency"),
        (STAGE_INTERVALS.name, "stage, entered_at, left_at"),
    ):
        query = f"SELECT {columns} FROM {table} ORDER BY version"
        assert real.fetch(query) == by_hand.fetch(query)
