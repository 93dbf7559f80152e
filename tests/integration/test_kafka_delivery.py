"""Delivery through a real Kafka broker into PostgreSQL read models: the relay, the projection
consumers, and the faults that must lose nothing (design: "nothing lost")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from consumers.kafka_consumer import ProjectionConsumer, partition_lags
from consumers.kafka_relay import KafkaRelay, ensure_topics
from consumers.topics import Topics
from domain.personal_data import ERASED_NAME
from domain.values import ConsentChannel
from services.app.application import CrmApplication
from services.app.commands import (
    AddTask,
    ChangeConsent,
    CompleteTask,
    DefineSequence,
    EnrolInSequence,
    ErasePerson,
    ExitSequence,
    RescheduleTask,
)
from services.automation.clock import ManualClock
from services.automation.scheduler import Scheduler
from services.bootstrap import bootstrap, kafka_relay, open_read_models, projection_consumer, timer_kinds
from services.jobs.rebuild import rebuild
from services.jobs.seed import seed_history
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.test_erasure import ALICE, NAME, a_persons_life, found_in
from tests.support.processes import free_loopback_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
END = datetime(2026, 6, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail, naming `what`, when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.05)


@dataclass
class Stack:
    """A PostgreSQL store, a Kafka broker, and a topic prefix of this test's own."""

    settings: Settings
    app: CrmApplication
    store: ReadModelStore
    topics: Topics

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CRM_DATABASE_URL": self.settings.database_url,
            "CRM_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "CRM_KAFKA_TOPIC_PREFIX": self.topics.prefix,
            "CRM_KAFKA_PARTITIONS": "3",
        }

    def relay(self, **kwargs: object) -> KafkaRelay:
        return kafka_relay(self.app, self.store, self.settings, **kwargs)

    def consumer(self, name: str, **kwargs: object) -> ProjectionConsumer:
        projection = next(p for p in self.store.projections.values() if p.name == name)
        fields = self.app.personal_fields  # the application's key ring: no second pool per consumer
        assert fields is not None
        return projection_consumer(self.settings, self.store, projection, fields, **kwargs)

    def consume_all(self) -> None:
        """Run each projection's consumer until it has applied every message in the topics (not
        until some polls came back empty, which a slow broker also does)."""
        for name in self.store.projections:
            self.consume(name)

    def consume(self, name: str) -> None:
        consumer = self.consumer(name)
        worker = threading.Thread(target=consumer.run, name=f"consume-{name}")
        worker.start()
        try:
            wait_until(lambda: not worker.is_alive() or self.caught_up(name), 120, f"{name} consumed everything")
        finally:
            consumer.stopping.set()
            worker.join(timeout=60)
            consumer.close()
        assert self.caught_up(name), f"the {name} consumer stopped early: {self.lags(name)}"

    def lags(self, name: str) -> dict[str, int]:
        """Per partition of the event topics: messages the projection has not applied yet."""
        return partition_lags(self.settings.kafka_bootstrap, self.store, [name], self.topics)[name]

    def caught_up(self, name: str) -> bool:
        return not any(self.lags(name).values())

    def caught_up_all(self) -> bool:
        return all(self.caught_up(name) for name in self.store.projections)

    def partitions(self) -> set[TopicPartition]:
        return {TopicPartition(topic, p) for topic in self.topics.events for p in range(3)}

    def crm(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def assert_identical_to_a_replay(self) -> None:
        fresh, _ = rebuild(self.app, self.settings, "kafka_check_", until_position=self.app.head_position())
        assert fresh.checksums() == self.store.checksums()
        fresh.close()

    def messages(self, topic: str) -> list[object]:
        """Every message of a topic, up to the end offsets as they are when asked (not until the
        reader has waited some seconds for more, which a slow broker makes too short)."""
        reader = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
            reader.assign(partitions)
            reader.seek_to_beginning(*partitions)
            ends = reader.end_offsets(partitions)
            found: list[object] = []
            deadline = time.monotonic() + 60
            while any(reader.position(tp) < end for tp, end in ends.items()):
                assert time.monotonic() < deadline, f"{topic}: not every message read within 60 s"
                for batch in reader.poll(timeout_ms=500).values():
                    found.extend(batch)
            return found
        finally:
            reader.close()

    def published(self) -> list[object]:
        """Every message of every event topic (leads, contacts, the workspace)."""
        return [message for topic in self.topics.events for message in self.messages(topic)]


@pytest.fixture
def stack(postgres_url: str, kafka_bootstrap: str) -> Iterator[Stack]:
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


def test_commands_reach_the_read_models_through_kafka_identical_to_a_replay(stack: Stack) -> None:
    # given a history in the store
    seed_history(stack.app, leads=40, seed=21, end=END)
    head = stack.app.head_position()
    # when the relay publishes it and the consumers project it
    relay = stack.relay()
    stats = relay.run(until_idle=True)
    relay.close()
    stack.consume_all()
    # then every event is in Kafka once, and the read models equal a replay
    assert stats.published == head and relay.position() == head
    published = stack.published()
    assert sorted(json.loads(m.value)["position"] for m in published) == list(range(1, head + 1))  # type: ignore[attr-defined]
    # the seeded team's events are on the workspace topic, and the projections passed over them
    team = [json.loads(m.value)["event_type"] for m in stack.messages(stack.topics.workspace)]  # type: ignore[attr-defined]
    assert team[0] == "workspace.created" and set(team[1:]) == {"workspace.user_added"}
    stack.assert_identical_to_a_replay()
    verified = stack.crm("verify")
    assert verified.returncode == 0 and "identical" in verified.stdout, verified.stdout + verified.stderr
    status = stack.crm("status", "--kafka")
    assert f"relay      position {head:>9}  lag 0" in status.stdout, status.stdout + status.stderr
    assert "pipeline   kafka lag 0" in status.stdout and "segments   kafka lag 0" in status.stdout


def test_two_consumers_in_one_group_split_the_partitions_and_give_the_same_read_models(stack: Stack) -> None:
    seed_history(stack.app, leads=40, seed=22, end=END)
    # given two consumers of the pipeline group running, the partitions split between them (were
    # the history published first, the one that joined first could take it all before the other)
    first, second = stack.consumer("pipeline", client_id="a"), stack.consumer("pipeline", client_id="b")
    threads = [threading.Thread(target=c.run) for c in (first, second)]
    for t in threads:
        t.start()

    def split() -> bool:
        held = (first.assigned, second.assigned)
        return all(held) and not held[0] & held[1] and held[0] | held[1] == stack.partitions()

    wait_until(split, 120, "both consumers hold their share of the partitions")
    # when the relay publishes the history
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    # then both did part of the work and the result equals a replay
    wait_until(lambda: stack.caught_up("pipeline"), 120, "the two consumers applied every message")
    for c in (first, second):
        c.stopping.set()
    for t in threads:
        t.join(timeout=60)
    assert first.stats.applied > 0 and second.stats.applied > 0
    for c in (first, second):
        c.close()
    stack.consume_all()  # segments, and anything left
    stack.assert_identical_to_a_replay()


def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_rest_flows(stack: Stack) -> None:
    seed_history(stack.app, leads=5, seed=23, end=END)
    producer = KafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    producer.send(stack.topics.lead, key=b"poison", value=b"{not json").get(timeout=30)
    producer.send(stack.topics.lead, key=b"poison", value=json.dumps({"event_type": "lead.scored"}).encode()).get(
        timeout=30
    )
    producer.close()
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    stack.consume_all()
    # then the good events are all projected and the two bad messages are parked, with the error
    stack.assert_identical_to_a_replay()
    parked = stack.messages(stack.topics.dead_letter)
    assert len(parked) == 2 * len(stack.store.projections)
    headers = dict(parked[0].headers)  # type: ignore[attr-defined]
    assert b"invalid event message" in headers["error"] or b"JSON" in headers["error"]
    assert headers["source-topic"] == stack.topics.lead.encode()


def test_a_relay_that_dies_after_the_broker_acknowledged_but_before_saving_only_duplicates(stack: Stack) -> None:
    seed_history(stack.app, leads=20, seed=24, end=END)
    head = stack.app.head_position()

    class DiesBeforeSaving(KafkaRelay):
        def _save(self, position: int) -> None:
            raise SystemExit("killed between the broker's acknowledgement and saving the position")

    sealed = stack.app.mapper.sealed()  # type: ignore[attr-defined]
    dying = DiesBeforeSaving(
        stack.app, stack.store, stack.settings.kafka_bootstrap, topics=stack.topics, batch_size=50, mapper=sealed
    )
    with pytest.raises(SystemExit):
        dying.run(until_idle=True)
    dying.close()
    assert dying.position() == 0
    # when a new relay starts from the saved position
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    stack.consume_all()
    # then Kafka holds duplicates of the first batch, never a gap, and the read models are right
    published = stack.published()
    positions = [json.loads(m.value)["position"] for m in published]  # type: ignore[attr-defined]
    assert len(positions) > head and set(positions) == set(range(1, head + 1))
    stack.assert_identical_to_a_replay()


def test_a_consumer_killed_mid_batch_applies_nothing_twice_after_a_restart(stack: Stack) -> None:
    seed_history(stack.app, leads=150, seed=25, end=END)
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    # when a consumer process is killed with SIGKILL while it works
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "consume", "--projection", "all"],
        env=stack.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: any(stack.store.sources(name) for name in stack.store.projections), 60, "a first batch")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    # and restarted until it has applied every message (then stopped with SIGTERM)
    with tempfile.TemporaryFile("w+") as errors:
        restarted = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "consume", "--projection", "all"],
            env=stack.env(),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        wait_until(stack.caught_up_all, 120, "the restarted consumer applied every message")
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
        errors.seek(0)
        assert restarted.returncode == 0, errors.read()[-4000:]
    # then every event was applied exactly once
    stack.assert_identical_to_a_replay()


def _caught_up_and_stopped(relay: KafkaRelay, worker: threading.Thread, head: int) -> int:
    """Wait (at most 120 s) until the running relay reached `head`, then stop and close it; returns `head`."""
    deadline = time.monotonic() + 120
    while relay.position() < head and time.monotonic() < deadline:
        time.sleep(0.2)
    relay.stopping.set()
    worker.join(timeout=60)
    relay.close()
    return head


def test_the_relay_rides_out_a_broker_restart_and_catches_up(stack: Stack, kafka_server: object) -> None:
    relay = stack.relay(batch_size=20)
    worker = threading.Thread(target=relay.run, daemon=True)
    worker.start()
    seed_history(stack.app, leads=10, seed=26, end=END)
    # when the broker goes down and comes back while commands keep arriving
    kafka_server.restart()  # type: ignore[attr-defined]
    seed_history(stack.app, leads=20, seed=27, end=END)
    head = _caught_up_and_stopped(relay, worker, stack.app.head_position())
    # then everything reached Kafka (maybe twice) and the read models are complete
    assert relay.position() == head
    stack.consume_all()
    stack.assert_identical_to_a_replay()


def test_an_outage_longer_than_the_delivery_timeout_wedges_no_producer(stack: Stack, kafka_server: object) -> None:
    # given a relay at work, and a broker that goes away for longer than a batch may wait
    relay = stack.relay(batch_size=20, producer_options={"delivery_timeout_ms": 6_000, "request_timeout_ms": 2_000})
    worker = threading.Thread(target=relay.run, daemon=True)
    worker.start()
    seed_history(stack.app, leads=5, seed=29, end=END)
    kafka_server.shutdown()  # type: ignore[attr-defined]
    seed_history(stack.app, leads=5, seed=30, end=END)
    deadline = time.monotonic() + 180
    while relay.stats.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert relay.stats.failures > 0, "the relay never gave up on a batch while the broker was away"
    # when the broker comes back and more commands arrive
    kafka_server.start()  # type: ignore[attr-defined]
    seed_history(stack.app, leads=5, seed=31, end=END)
    head = _caught_up_and_stopped(relay, worker, stack.app.head_position())
    # then the relay caught up on a new producer: everything reached Kafka, the read models agree
    assert relay.position() == head
    stack.consume_all()
    stack.assert_identical_to_a_replay()


def test_a_foreign_client_reads_the_topics_and_every_message_matches_the_published_schema(stack: Stack) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from tests.support.kafka_server import ensure_kafka_jars, find_java

    # given a seeded history relayed to Kafka
    seed_history(stack.app, leads=30, seed=28, end=END)
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    head = stack.app.head_position()
    # when Kafka's own console consumer (Java, not our code) reads both topics
    lines: list[str] = []
    for topic in stack.topics.events:
        # it stops once it has read as many messages as the topic holds (--timeout-ms only bounds a
        # failure: as the stop condition, a fixed idle time is too short on a loaded machine)
        published = len(stack.messages(topic))
        shown = subprocess.run(
            [
                find_java(),
                "-cp",
                f"{ensure_kafka_jars()}/*",
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                "--bootstrap-server",
                stack.settings.kafka_bootstrap,
                "--topic",
                topic,
                "--from-beginning",
                "--max-messages",
                str(published),
                "--timeout-ms",
                "90000",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        lines += [line for line in shown.stdout.splitlines() if line.startswith("{")]
    # then it sees every event, and each validates against docs/events/<event_type>.schema.json
    assert len(lines) == head
    schemas = {}
    for line in lines:
        message = json.loads(line)
        event_type = message["event_type"]
        if event_type not in schemas:
            schema = json.loads((ROOT / "docs" / "events" / f"{event_type}.schema.json").read_text())
            schemas[event_type] = jsonschema.Draft202012Validator(schema)
        schemas[event_type].validate(message)
    assert {"lead.captured", "lead.scored", "lead.converted", "contact.created", "contact.purchase_recorded"} <= set(
        schemas
    )


def test_read_your_writes_waits_for_the_partition_of_the_written_aggregate(stack: Stack) -> None:
    from consumers.kafka_consumer import read_your_writes
    from services.app.commands import CaptureLead

    seed_history(stack.app, leads=5, seed=29, end=END)
    wait = read_your_writes(stack.app, stack.store, partitions=3, topics=stack.topics)
    # given a command that returned its log position
    written = stack.app.capture_lead(CaptureLead(name="Ada", email="ada@example.com", source="referral"))
    assert written.position is not None
    # then the read models do not have it before it went through Kafka...
    assert not wait(written.position, 0.2)
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    stack.consume_all()
    # ...and do after
    assert wait(written.position, 5.0)
    row = stack.store.fetch("SELECT name FROM pipeline_leads WHERE lead_id = ?", [str(written.id)])
    assert row == [{"name": "Ada"}]


def test_sigterm_lets_the_relay_and_a_consumer_finish_their_batch_and_exit_cleanly(stack: Stack) -> None:
    seed_history(stack.app, leads=30, seed=30, end=END)
    head = stack.app.head_position()
    relay = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "relay"], env=stack.env(), stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while stack.store.relay_position() < head and time.monotonic() < deadline:
        time.sleep(0.1)
    relay.send_signal(signal.SIGTERM)
    relayed, _ = relay.communicate(timeout=60)
    assert relay.returncode == 0 and f"relay stopped at position {head}" in relayed

    consumer = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "consume", "--projection", "all"],
        env=stack.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    # once each projection applied a batch its consumer runs, and SIGTERM stops it (no fixed wait)
    wait_until(lambda: all(stack.store.sources(name) for name in stack.store.projections), 90, "a batch each")
    consumer.send_signal(signal.SIGTERM)
    consumed, _ = consumer.communicate(timeout=60)
    assert consumer.returncode == 0 and "pipeline: applied" in consumed and "segments: applied" in consumed
    # whatever it applied before stopping is complete per batch: finishing the work gives a replay's result
    stack.consume_all()
    stack.assert_identical_to_a_replay()


def scrape(port: int) -> dict[str, float]:
    """The samples of a worker's /metrics (name with labels -> value); empty while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def scrape_until(port: int, done: Callable[[dict[str, float]], bool], seconds: float = 90) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    samples = scrape(port)
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(0.2)
        samples = scrape(port)
    assert done(samples), "\n".join(f"{k} {v}" for k, v in samples.items() if k.startswith("crm_"))
    return samples


def test_the_relay_and_the_consumers_serve_their_own_metrics_with_the_real_lag(stack: Stack) -> None:
    seed_history(stack.app, leads=20, seed=31, end=END)
    head = stack.app.head_position()
    relay_port, consumer_port = free_loopback_port(), free_loopback_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "relay", "--metrics-port", str(relay_port)],
        env=stack.env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        relayed = scrape_until(relay_port, lambda s: s.get("crm_relay_lag_events") == 0)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=60)
    assert relayed["crm_relay_published_events_total"] == head and relayed["crm_relay_position"] == head
    assert any(name.startswith("crm_build_info{") for name in relayed)
    assert "process_cpu_seconds_total" in relayed

    consumer = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "consume", "--projection", "pipeline"],
        env={**stack.env(), "CRM_METRICS_PORT": str(consumer_port)},
        stdout=subprocess.DEVNULL,
    )
    try:

        def caught_up(samples: dict[str, float]) -> bool:
            lags = {k: v for k, v in samples.items() if k.startswith("crm_consumer_lag_messages{")}
            # the pipeline's own partitions only: the three event topics, 3 partitions each, nothing left;
            # the store's offsets move before the counter does, so the counter is waited for too
            applied = samples.get('crm_consumer_applied_events_total{projection="pipeline"}')
            pipeline_only = all('projection="pipeline"' in k for k in lags)
            return len(lags) == 9 and pipeline_only and not any(lags.values()) and applied == head

        consumed = scrape_until(consumer_port, caught_up)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=60)
    assert consumer.returncode == 0
    assert consumed['crm_consumer_applied_events_total{projection="pipeline"}'] == head
    assert consumed['crm_consumer_dead_letters_total{projection="pipeline"}'] == 0


def test_the_topics_hold_no_plaintext_of_a_person_and_their_erasure_reaches_the_read_models(stack: Stack) -> None:
    # given a person's life published to Kafka and consumed into the read models
    lead_id, contact_id, _ = a_persons_life(stack.app)
    relay = stack.relay()
    relay.run(until_idle=True)
    stack.consume_all()
    rows = stack.store.fetch("SELECT name FROM pipeline_leads WHERE lead_id = ?", [str(lead_id)])
    assert rows == [{"name": NAME}]  # the consumers opened the sealed name with the person's key
    # when the person is erased and the erasure is published and consumed
    stack.app.erase_person(contact_id, ErasePerson(reason="data subject request"), ALICE)
    relay.run(until_idle=True)
    relay.close()
    stack.consume_all()
    # then no message of any topic ever held their name, email or phone in plain text
    published = stack.published()
    assert len(published) == stack.app.head_position()
    dump = b"\n".join(m.value for m in published)  # type: ignore[attr-defined]
    assert b"enc:v1:" in dump and not found_in(dump)
    # and the read models fed from Kafka read as erased, exactly like a replay from the store
    assert stack.store.fetch("SELECT name FROM pipeline_leads WHERE lead_id = ?", [str(lead_id)]) == [
        {"name": ERASED_NAME}
    ]
    stack.assert_identical_to_a_replay()


def test_tasks_reach_their_read_model_through_kafka_sealed_and_equal_to_a_replay(stack: Stack) -> None:
    # given tasks on a person's (open, reactivation) lead and contact, one rescheduled and one done
    _, contact_id, lead_id = a_persons_life(stack.app)
    due = datetime(2026, 3, 3, 9, tzinfo=UTC)
    on_lead = stack.app.add_lead_task(lead_id, AddTask(title=f"Ring {NAME}", due_at=due), ALICE).related_id
    on_contact = stack.app.add_contact_task(
        contact_id, AddTask(title="Renewal", due_at=due, note=f"ask {NAME} first"), ALICE
    ).related_id
    assert on_lead is not None and on_contact is not None
    where = {on_lead: ("lead", lead_id), on_contact: ("contact", contact_id)}
    stack.app.complete_task(on_lead, CompleteTask(), ALICE, locate=where.get)
    stack.app.reschedule_task(
        on_contact, RescheduleTask(due_at=datetime(2026, 3, 9, tzinfo=UTC)), ALICE, locate=where.get
    )

    # when they are relayed and consumed
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    stack.consume("tasks")

    # then the topics hold no plaintext of them, and the Kafka-fed tasks equal a replay
    published = stack.messages(stack.topics.lead) + stack.messages(stack.topics.contact)
    dump = b"\n".join(m.value for m in published)  # type: ignore[attr-defined]
    assert b'"event_type":"contact.task_rescheduled"' in dump and NAME.encode() not in dump
    rows = stack.store.fetch("SELECT task_id, title, note, status, due_at FROM follow_up_tasks ORDER BY due_at")
    assert [(r["title"], r["note"], r["status"]) for r in rows] == [
        (f"Ring {NAME}", None, "done"),
        ("Renewal", f"ask {NAME} first", "open"),
    ]
    fresh, _ = rebuild(stack.app, stack.settings, "kafka_tasks_", names=["tasks"])
    assert fresh.checksums() == {t: c for t, c in stack.store.checksums().items() if t == "follow_up_tasks"}
    fresh.close()


def test_nurture_sequences_reach_subscribers_and_their_read_model_through_kafka_equal_to_a_replay(
    stack: Stack,
) -> None:
    # given a sequence defined in the workspace, a lead enrolled, its email requested, and an exit
    welcome = DefineSequence.model_validate(
        {
            "name": "welcome",
            "steps": [
                {"wait_days": 0, "email": {"template": "hello"}},
                {"wait_days": 1, "email": {"template": "more"}},
            ],
        }
    )
    stack.app.define_sequence(welcome, ALICE)
    _, _, lead_id = a_persons_life(stack.app)  # the open lead of a person, who then grants email consent
    stack.app.change_lead_consent(lead_id, ChangeConsent(channel=ConsentChannel.EMAIL, granted=True), ALICE)
    stack.app.enrol_lead(lead_id, EnrolInSequence(sequence="welcome"), ALICE)
    timer = stack.app.timers.stored_timer(f"nurture:{lead_id}:welcome:1:0")
    assert timer is not None
    Scheduler(stack.app, timer_kinds(), ManualClock(timer.timer.due_at)).run_due()
    stack.app.exit_sequence(lead_id, ExitSequence(sequence="welcome"), ALICE)

    # when they are relayed and the nurture read model is consumed
    relay = stack.relay()
    relay.run(until_idle=True)
    relay.close()
    stack.consume("nurture")

    # then an email tool subscribed to the lead topic gets the request, the workspace topic the
    # definition, and the Kafka-fed read model equals a replay
    on_leads = [json.loads(m.value) for m in stack.messages(stack.topics.lead)]  # type: ignore[attr-defined]
    requested = [m for m in on_leads if m["event_type"] == "lead.nurture_email_requested"]
    assert [(m["aggregate_id"], m["data"]["template"], m["actor"]) for m in requested] == [
        (str(lead_id), "hello", "automation:nurture")
    ]
    assert requested[0]["cause"] is not None
    on_workspace = [json.loads(m.value) for m in stack.messages(stack.topics.workspace)]  # type: ignore[attr-defined]
    defined = [m for m in on_workspace if m["event_type"] == "workspace.sequence_defined"]
    assert [m["data"]["steps"][1]["email"] for m in defined] == [{"template": "more"}]
    rows = stack.store.fetch("SELECT status, exit_reason, steps_done FROM nurture_enrolments")
    assert [(r["status"], r["exit_reason"], r["steps_done"]) for r in rows] == [("exited", "manual", 1)]
    fresh, _ = rebuild(stack.app, stack.settings, "kafka_nurture_", names=["nurture"])
    assert fresh.checksums() == {t: c for t, c in stack.store.checksums().items() if t == "nurture_enrolments"}
    fresh.close()
