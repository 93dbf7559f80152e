"""The CloudEvents Kafka binding on a real broker: every message the relay publishes carries the
`ce_*` headers of its event and the recording time as its timestamp, the `traceparent` of the
HTTP request that caused an event reaches Kafka with it, and a dead letter keeps the headers of
the message it parks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from consumers.envelope import DEAD_LETTER_HEADERS
from consumers.kafka_relay import ensure_topics
from consumers.topics import Topics
from services.bootstrap import bootstrap, kafka_relay, open_read_models
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.e2e.conftest import LEAD, live_server
from tests.integration.test_kafka_delivery import END, Stack

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def stack(postgres_url: str, kafka_bootstrap: str) -> Iterator[Stack]:
    """A fresh store, and topics of this test's own on the session's broker."""
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:8]}.")
    settings = Settings(
        database_url=postgres_url, kafka_bootstrap=kafka_bootstrap, kafka_partitions=3, kafka_topic_prefix=topics.prefix
    )
    ensure_topics(kafka_bootstrap, 3, topics)
    app = bootstrap(settings)
    store = open_read_models(settings)
    yield Stack(settings, app, store, topics)
    store.close()
    app.close()


def _ms(moment: str) -> int:
    return (datetime.fromisoformat(moment) - EPOCH) // timedelta(milliseconds=1)


def test_every_published_message_carries_the_cloudevents_headers_and_the_recording_time(stack: Stack) -> None:
    # given a history with imported (back-dated) events, relayed to Kafka
    seed_history(stack.app, leads=4, seed=31, end=END)
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    # when a plain Kafka consumer reads every message back
    published = stack.published()
    # then each message's headers are its event's CloudEvents attributes, and its timestamp is
    # when the store recorded the event
    assert len(published) == stack.app.head_position()
    for message in published:
        envelope = json.loads(message.value)  # type: ignore[attr-defined]
        headers = dict(message.headers)  # type: ignore[attr-defined]
        assert len(headers) == len(message.headers), "no header is repeated"  # type: ignore[attr-defined]
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_id"] == envelope["event_id"].encode()
        assert headers["ce_source"] == stack.settings.event_source.encode()
        assert headers["ce_type"] == envelope["event_type"].encode()
        assert headers["ce_subject"] == envelope["aggregate_id"].encode() == message.key  # type: ignore[attr-defined]
        assert datetime.fromisoformat(headers["ce_time"].decode()) == datetime.fromisoformat(envelope["occurred_at"])
        assert headers["content-type"] == b"application/json"
        assert "traceparent" not in headers  # seeded, not caused by an HTTP request
        assert message.timestamp_type == 0  # type: ignore[attr-defined]  # CreateTime, set by the relay
        assert message.timestamp == _ms(envelope["recorded_at"])  # type: ignore[attr-defined]
    # the seed dates its events in the past: ce_time is business time, the timestamp recording time
    assert any(
        _ms(json.loads(m.value)["occurred_at"]) < m.timestamp - 60_000  # type: ignore[attr-defined]
        for m in published
    )
    assert stack.settings.event_source.startswith("urn:crm:test_")  # the test database's name


@pytest.fixture
def traced_store(postgres_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings of a fresh store with topics of its own."""
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:8]}.")
    settings = Settings(
        database_url=postgres_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_partitions=3,
        kafka_topic_prefix=topics.prefix,
        cloudevents_source="https://crm.example.com/test",
    )
    ensure_topics(kafka_bootstrap, 3, topics)
    yield settings


def test_the_traceparent_of_an_http_request_reaches_kafka_with_every_event_it_caused(
    traced_store: Settings, postgres_url: str
) -> None:
    settings = traced_store
    # given three requests to the API: with a trace context, with a malformed one, and without
    with live_server(postgres_url) as live:
        admin = live.client()
        traced = admin.post("/v1/leads", json=LEAD, headers={"traceparent": TRACEPARENT})
        malformed = admin.post(
            "/v1/leads", json={**LEAD, "name": "Grace Hopper"}, headers={"traceparent": "00-not-a-trace-01"}
        )
        plain = admin.post("/v1/leads", json={**LEAD, "name": "Alan Turing"})
        changed = admin.post(
            f"/v1/leads/{traced.json()['id']}/stage",
            json={"stage": "contacted"},
            headers={"traceparent": TRACEPARENT.replace("00f067aa0ba902b7", "b7ad6b7169203331")},
        )
        assert all(r.status_code in (200, 201) for r in (traced, malformed, plain, changed))
    # when the relay publishes the log
    app = bootstrap(settings)
    store = open_read_models(settings)
    try:
        relay = kafka_relay(app, store, settings)
        relay.run(until_idle=True)
        relay.close()
        stack = Stack(settings, app, store, Topics(settings.kafka_topic_prefix))
        published = stack.messages(stack.topics.lead)
    finally:
        store.close()
        app.close()
    # then every event of the traced request carries its traceparent, the malformed one was
    # never kept, and a later request's events carry their own
    by_lead: dict[str, list[tuple[str, bytes | None]]] = {}
    for message in published:
        envelope = json.loads(message.value)  # type: ignore[attr-defined]
        headers = dict(message.headers)  # type: ignore[attr-defined]
        assert headers["ce_source"] == b"https://crm.example.com/test"
        assert "traceparent" not in envelope and "traceparent" not in envelope["data"]
        by_lead.setdefault(envelope["aggregate_id"], []).append((envelope["event_type"], headers.get("traceparent")))
    traced_events = by_lead[traced.json()["id"]]
    captured = [tp for kind, tp in traced_events if kind != "lead.stage_changed"]
    assert captured and set(captured) == {TRACEPARENT.encode()}  # lead.captured, its lead.scored
    assert [tp for kind, tp in traced_events if kind == "lead.stage_changed"] == [
        TRACEPARENT.replace("00f067aa0ba902b7", "b7ad6b7169203331").encode()
    ]
    assert {tp for _, tp in by_lead[malformed.json()["id"]]} == {None}
    assert {tp for _, tp in by_lead[plain.json()["id"]]} == {None}


def test_a_dead_letter_keeps_the_headers_of_the_message_it_parks_then_gives_its_reasons(stack: Stack) -> None:
    # given a relayed event, and a copy of it with its headers (a trace context added, and an
    # `error` header a producer made up) whose value breaks the contract
    seed_history(stack.app, leads=1, seed=32, end=END)
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    original = stack.messages(stack.topics.lead)[0]
    envelope = json.loads(original.value)  # type: ignore[attr-defined]
    sent_headers = [*original.headers, ("traceparent", TRACEPARENT.encode()), ("error", b"made up")]  # type: ignore[attr-defined]
    producer = KafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    broken = json.dumps({**envelope, "schema_version": 99}).encode()
    producer.send(stack.topics.lead, key=original.key, value=broken, headers=sent_headers).get(timeout=30)  # type: ignore[attr-defined]
    producer.close()
    # when the pipeline consumer meets it
    stack.consume("pipeline")
    # then the dead letter carries the original's headers, in order, then the reasons, each once
    [parked] = stack.messages(stack.topics.dead_letter)
    assert parked.key == original.key and parked.value == broken  # type: ignore[attr-defined]
    names = [name for name, _ in parked.headers]  # type: ignore[attr-defined]
    assert names == [*(n for n, _ in sent_headers if n != "error"), *DEAD_LETTER_HEADERS]
    headers = dict(parked.headers)  # type: ignore[attr-defined]
    assert headers["ce_id"] == envelope["event_id"].encode() and headers["ce_type"] == b"lead.captured"
    assert headers["traceparent"] == TRACEPARENT.encode()
    assert b"schema_version 99" in headers["error"] and headers["projection"] == b"pipeline"
    assert headers["source-topic"] == stack.topics.lead.encode()
