"""The CloudEvents Kafka binding of the published events: the `ce_*` headers and the record
timestamp the relay gives every message, and the W3C trace context an event keeps from the
request that caused it (a malformed one is never stored)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from consumers.cloudevents import HEADER_NAMES, cloudevent_headers, rfc3339, timestamp_ms
from consumers.envelope import DEAD_LETTER_HEADERS, encode, envelope_of
from consumers.kafka_consumer import dead_letter_headers
from domain.events import traced
from domain.lead import Lead
from domain.trace_context import valid_traceparent
from domain.values import InteractionKind
from projections.event_record import record_of
from services.settings import Settings
from tests.unit.factories import a_lead, at, meta, pending, replay

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def a_published_lead(traceparent: str | None = None) -> tuple[Lead, list[object]]:
    """A captured lead whose interaction was logged, and its events, within `traceparent`'s trace."""
    with traced(traceparent):
        lead = a_lead()
        lead.log_interaction(InteractionKind.DEMO, "demo", meta(at(days=1)))
    return lead, pending(lead)


def test_every_header_of_the_binding_names_the_event_in_binary_mode() -> None:
    # given the envelope of a lead's capture, which happened before it was recorded
    _, events = a_published_lead()
    envelope = envelope_of(record_of(events[0], position=1))  # type: ignore[arg-type]
    # when its headers are built
    headers = cloudevent_headers(envelope, "urn:crm:test")
    # then they are the binding's attributes, as UTF-8 bytes, under the binding's names
    assert [name for name, _ in headers] == list(HEADER_NAMES)
    assert all(isinstance(value, bytes) for _, value in headers)
    values = {name: value.decode() for name, value in headers}
    assert values == {
        "ce_specversion": "1.0",
        "ce_id": str(envelope.event_id),
        "ce_source": "urn:crm:test",
        "ce_type": "lead.captured",
        "ce_subject": str(envelope.aggregate_id),
        "ce_time": rfc3339(envelope.occurred_at),
        "content-type": "application/json",
    }
    # ce_time is when it happened (business time), not when it was recorded
    assert datetime.fromisoformat(values["ce_time"]) == envelope.occurred_at != envelope.recorded_at


def test_the_traceparent_header_follows_only_when_the_event_has_one() -> None:
    _, events = a_published_lead()
    envelope = envelope_of(record_of(events[0], position=1))  # type: ignore[arg-type]
    assert "traceparent" not in dict(cloudevent_headers(envelope, "urn:crm:test"))
    assert dict(cloudevent_headers(envelope, "urn:crm:test", TRACEPARENT))["traceparent"] == TRACEPARENT.encode()


def test_ce_time_is_rfc_3339_in_utc_whatever_the_offset_of_the_business_time() -> None:
    cest = datetime(2026, 3, 1, 11, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(cest) == "2026-03-01T09:30:00.250000Z"
    assert rfc3339(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00Z"


def test_the_record_timestamp_is_the_recording_time_in_exact_milliseconds() -> None:
    _, events = a_published_lead()
    envelope = envelope_of(record_of(events[0], position=1))  # type: ignore[arg-type]
    recorded = envelope.recorded_at
    assert timestamp_ms(envelope) == int(recorded.timestamp()) * 1000 + recorded.microsecond // 1000
    late = envelope.model_copy(update={"recorded_at": datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)})
    assert timestamp_ms(late) == 1767225600999  # truncated, never rounded into the next millisecond


def test_every_event_triggered_within_a_trace_carries_its_traceparent_creation_included() -> None:
    lead, events = a_published_lead(TRACEPARENT)
    assert len(events) >= 3 and {e.traceparent for e in events} == {TRACEPARENT}  # type: ignore[attr-defined]
    # and the trace is not part of the event's data, so the envelope body is unchanged
    record = record_of(events[0], position=1)  # type: ignore[arg-type]
    assert record.traceparent == TRACEPARENT and "traceparent" not in record.data
    assert "traceparent" not in json.loads(encode(envelope_of(record)))


def test_events_outside_a_trace_and_events_stored_before_traces_answer_none() -> None:
    _, events = a_published_lead()
    assert {e.traceparent for e in events} == {None}  # type: ignore[attr-defined]
    # an event stored before the field existed has no such attribute of its own
    old = events[0]
    del old.__dict__["traceparent"]
    assert old.traceparent is None  # type: ignore[attr-defined]
    assert replay([old, *events[1:]]).name == "Ada Lovelace"


def test_a_trace_ends_with_its_block() -> None:
    with traced(TRACEPARENT):
        pass
    lead = a_lead()
    assert {e.traceparent for e in pending(lead)} == {None}


@pytest.mark.parametrize(
    "value",
    [
        TRACEPARENT,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-a-later-version-adds",
    ],
)
def test_a_well_formed_traceparent_is_kept(value: str) -> None:
    assert valid_traceparent(value) == value
    assert valid_traceparent(f" {value}\t") == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has no more
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",  # a control character
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 300,  # too long
    ],
)
def test_a_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert valid_traceparent(value) is None


def test_the_cloudevents_source_defaults_to_the_store_name_and_can_be_set() -> None:
    assert Settings(database_url="sqlite:///var/acme.sqlite").event_source == "urn:crm:acme"
    assert Settings(database_url="postgresql://u:p@db:5432/crm_eu").event_source == "urn:crm:crm_eu"
    assert Settings(database_url="memory://").event_source == "urn:crm:memory"
    given = Settings(database_url="memory://", cloudevents_source="https://crm.example.com/eu")
    assert given.event_source == "https://crm.example.com/eu"
    assert Settings.from_env({"CRM_CLOUDEVENTS_SOURCE": "urn:crm:acme-eu"}).event_source == "urn:crm:acme-eu"


def test_a_dead_letter_keeps_the_original_headers_and_adds_each_reason_once() -> None:
    original = [("ce_id", b"1"), ("error", b"made up by a producer"), ("traceparent", TRACEPARENT.encode())]
    reasons = {name: f"<{name}>" for name in DEAD_LETTER_HEADERS}
    headers = dead_letter_headers(original, reasons)
    assert headers == [
        ("ce_id", b"1"),
        ("traceparent", TRACEPARENT.encode()),
        *((name, f"<{name}>".encode()) for name in DEAD_LETTER_HEADERS),
    ]
    assert dead_letter_headers(None, reasons) == dead_letter_headers([], reasons) == headers[2:]
