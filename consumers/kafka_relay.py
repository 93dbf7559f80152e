"""The relay: follows the notification log from its saved position and publishes every event to
Kafka (`crm.lead.events.v1`, `crm.contact.events.v1`, `crm.workspace.events.v1`), keyed by
aggregate id so each aggregate's events stay in order. Its position is saved only after the
broker acknowledged the whole batch: a crash yields duplicates in Kafka, never a gap."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from kafka import KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from consumers.cloudevents import cloudevent_headers, timestamp_ms
from consumers.envelope import encode, envelope_of, message_key
from consumers.event_log import read_records
from consumers.kafka_clients import KafkaConnection, KafkaUnavailable, new_admin, new_producer
from consumers.ports import RelayPositions
from consumers.topics import DEFAULT_TOPICS, Topics

log = logging.getLogger("crm.relay")

DEFAULT_SOURCE = "urn:crm"
"""The CloudEvents `source` of a relay given none (the CRM's settings always give one)."""

PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "compression_type": "gzip",
    "max_in_flight_requests_per_connection": 5,
    "delivery_timeout_ms": 30_000,
    "request_timeout_ms": 10_000,
    "retry_backoff_ms": 200,
}
"""Idempotent producer, acknowledged by all in-sync replicas, batched and compressed."""

FLUSH_TIMEOUT_SECONDS = 45.0
"""The longest a flush waits for the broker: past the producer's delivery time-out every record
has an answer, so a flush still waiting then is stuck, and becomes a KafkaTimeoutError that the
relay retries from its saved position (duplicates at most) instead of a hang."""


class MissingTopics(RuntimeError):
    """Topics the CRM needs are not on the broker, and it was told not to create them."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"missing Kafka topics: {', '.join(missing)} (the CRM creates no topics here: create them first)"
        )
        self.missing = missing


@dataclass(frozen=True)
class TopicSettings:
    """How the CRM makes its topics: partitions, replication factor and the topic-level configs
    (`min.insync.replicas`, `retention.ms`; None leaves the broker's default), or not at all."""

    partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    retention_ms: int | None = None
    create: bool = True
    """False: the topics are made by someone else; the CRM checks that they exist."""

    def configs(self) -> dict[str, str]:
        """The topic-level configs a created topic gets."""
        configs = {"min.insync.replicas": self.min_insync_replicas, "retention.ms": self.retention_ms}
        return {name: str(value) for name, value in configs.items() if value is not None}


def prepare_topics(
    connection: KafkaConnection | str, settings: TopicSettings, topics: Topics = DEFAULT_TOPICS
) -> list[str]:
    """Create the event and dead-letter topics that are missing (returns those created); with
    `settings.create` off, create nothing and raise MissingTopics naming each one missing."""
    admin = new_admin(connection, "crm-admin")
    created = []
    try:
        existing = set(admin.list_topics())
        missing = [name for name in (*topics.events, topics.dead_letter) if name not in existing]
        if missing and not settings.create:
            raise MissingTopics(missing)
        for name in missing:
            topic = NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=settings.configs(),
            )
            try:
                admin.create_topics([topic])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return created


def ensure_topics(
    bootstrap: KafkaConnection | str, partitions: int, topics: Topics = DEFAULT_TOPICS, replication: int = 1
) -> list[str]:
    """Create the event and dead-letter topics when missing; returns the ones created."""
    return prepare_topics(bootstrap, TopicSettings(partitions=partitions, replication_factor=replication), topics)


@dataclass
class RelayStats:
    """What the relay has published since it started."""

    published: int = 0
    batches: int = 0
    seconds: float = 0.0
    failures: int = 0
    """Publishes that failed and were retried from the saved position with a new producer."""

    @property
    def events_per_second(self) -> float:
        """Published events per second of relaying."""
        return self.published / self.seconds if self.seconds else 0.0


class KafkaRelay:
    """Publishes the notification log to Kafka, at least once and in order per aggregate."""

    def __init__(
        self,
        app: Application[Any],
        positions: RelayPositions,
        bootstrap: KafkaConnection | str,
        batch_size: int = 1000,
        poll_interval: float = 0.2,
        producer: KafkaProducer | None = None,
        topics: Topics = DEFAULT_TOPICS,
        max_unacked_batches: int = 2,
        mapper: Mapper[Any] | None = None,
        source: str = DEFAULT_SOURCE,
        producer_options: Mapping[str, object] | None = None,
    ) -> None:
        self.app = app
        self.source = source
        """The CloudEvents `source` (`ce_source`) of every message."""
        self.mapper = mapper
        """Turns stored events into the ones published (by default the application's own)."""
        self.topics = topics
        self.positions = positions
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.bootstrap = bootstrap
        self.producer_settings = {**PRODUCER_SETTINGS, **(producer_options or {})}
        """The producer's settings: PRODUCER_SETTINGS with `producer_options` over them."""
        self._injected = producer is not None
        self.producer = producer or self._new_producer()
        self.stopping = threading.Event()
        self.stats = RelayStats()
        self.max_unacked_batches = max_unacked_batches
        self._next: int | None = None
        self._in_flight: deque[tuple[int, list[Any]]] = deque()

    def position(self) -> int:
        """The last position the broker acknowledged (0 before the first)."""
        return self.positions.relay_position()

    def republish_from(self, position: int) -> None:
        """Publish history again from `position` (Kafka is a rebuildable cache of the store)."""
        self._next = max(position, 1)

    def publish_batch(self) -> int:
        """Send the next batch to the broker and save the position of every earlier batch the
        broker has acknowledged in full; returns the number of events sent. Up to
        `max_unacked_batches` batches are in flight at once, so reading and encoding the next
        batch overlaps with the broker's acknowledgement of the last. When there is nothing new,
        waits for every batch in flight and saves its position."""
        start = self._next if self._next is not None else self.position() + 1
        records = read_records(self.app, start, self.batch_size, mapper=self.mapper)
        if not records:
            self._settle(wait=True)
            return 0
        began = time.monotonic()
        futures = []
        for record in records:
            envelope = envelope_of(record)
            futures.append(
                self.producer.send(
                    self.topics.for_aggregate(envelope.aggregate_type),
                    key=message_key(envelope),
                    value=encode(envelope),
                    headers=cloudevent_headers(envelope, self.source, record.traceparent),
                    timestamp_ms=timestamp_ms(envelope),
                )
            )
        last = records[-1].position
        self._in_flight.append((last, futures))
        self._next = last + 1
        self._settle(wait=len(self._in_flight) > self.max_unacked_batches)
        self.stats.published += len(records)
        self.stats.batches += 1
        self.stats.seconds += time.monotonic() - began
        return len(records)

    def _settle(self, wait: bool) -> None:
        """Save the position of the oldest batches the broker acknowledged in full, in order."""
        if wait:
            self.producer.flush(timeout=FLUSH_TIMEOUT_SECONDS)
        while self._in_flight and all(f.is_done for f in self._in_flight[0][1]):
            last, futures = self._in_flight.popleft()
            for future in futures:
                future.get(timeout=30)  # raises if the broker did not acknowledge
            self._save(last)

    def _save(self, position: int) -> None:
        self.positions.save_relay_position(position)

    def run(self, until_idle: bool = False, on_batch: Callable[[int], None] | None = None) -> RelayStats:
        """Relay until stopped (SIGTERM sets `stopping`); with `until_idle`, return when caught up.
        A broker outage is retried from the saved position, which only yields duplicates."""
        while not self.stopping.is_set():
            try:
                published = self.publish_batch()
            except KafkaError as error:
                log.warning("publishing failed (%s); retrying from position %s", error, self.position())
                self.stats.failures += 1
                self._in_flight.clear()
                self._next = None
                self._replace_producer()
                self.stopping.wait(1.0)
                continue
            if on_batch and published:
                on_batch(published)
            if not published:
                if until_idle:
                    break
                self.stopping.wait(self.poll_interval)
        try:
            self._settle(wait=True)  # stopping: what was sent and acknowledged keeps its position
        except KafkaError as error:
            log.warning("stopping with unacknowledged events (%s); they are sent again next time", error)
        return self.stats

    def close(self) -> None:
        """Flush and close the producer (bounded: what is not acknowledged by then is sent again
        from the saved position next time)."""
        try:
            self.producer.flush(timeout=FLUSH_TIMEOUT_SECONDS)
        except KafkaError as error:
            log.warning("closing with unacknowledged events (%s); they are sent again next time", error)
        _close_in_the_background(self.producer, "closing", self._delivery_seconds())

    def _new_producer(self) -> KafkaProducer:
        """An idempotent producer of our own, with a fresh producer id."""
        return new_producer(self.bootstrap, "crm-relay", **self.producer_settings)

    def _replace_producer(self) -> None:
        """After a failed publish, go on with a new producer. An idempotent producer whose batches
        expired while the broker was away can stay wedged on their sequence numbers (every later
        send times out); a new one starts from a new producer id. The old one is closed once its
        batches have expired, in the background. An injected producer is kept: it is the caller's."""
        if self._injected:
            return
        try:
            fresh = self._new_producer()
        except KafkaUnavailable as error:  # the broker is still away: try again after the next failure
            log.warning("no new producer yet (%s)", error)
            return
        old, self.producer = self.producer, fresh
        _close_in_the_background(old, "replaced", self._delivery_seconds())

    def _delivery_seconds(self) -> float:
        """How long a batch may wait for its acknowledgement before it fails."""
        return float(cast(int, self.producer_settings["delivery_timeout_ms"])) / 1000


def _close_in_the_background(producer: KafkaProducer, why: str, delivery_seconds: float) -> None:
    """Close `producer` without raising: kafka-python's close flushes first and raises when a batch
    is still unacknowledged, leaving its sender thread running. Nothing is lost by giving up on those
    batches (a position moves only on acknowledgement); a second close, in a daemon thread, waits
    until the batches expire and then stops the sender."""
    try:
        producer.close(timeout=10)
        return
    except KafkaError as error:
        log.warning("producer %s with unacknowledged events (%s); they are sent again", why, error)

    def close_later() -> None:
        try:
            producer.close(timeout=delivery_seconds + 5)
        except KafkaError as error:  # still wedged: the daemon sender goes with the process
            log.warning("producer could not be closed (%s)", error)

    threading.Thread(target=close_later, name="crm-relay-close", daemon=True).start()
