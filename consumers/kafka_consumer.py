"""Projection consumers: one Kafka consumer group per projection.

poll -> decode -> project -> rows AND the (projection, topic, partition) position in ONE database
transaction -> commit the offset to Kafka. The position stored with the rows is the event's log
position (from the envelope), so a message is skipped if that event was already applied — whether
Kafka re-delivered it or the relay published it twice after a crash; the next Kafka offset to read
is stored in the same transaction, and on assignment each partition is sought to it, so Kafka's
committed offset is only a hint. A message that cannot be decoded, or that breaks
the schema, goes to the dead-letter topic with its own headers and the error in more headers;
the partition keeps flowing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from kafka import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumers.envelope import DEAD_LETTER_HEADERS, decode, record_of_envelope
from consumers.event_log import record_at
from consumers.kafka_clients import KafkaConnection, new_consumer, new_producer
from consumers.ports import ReadModelWriter
from consumers.topics import DEFAULT_TOPICS, Topics
from projections.event_record import EventRecord
from projections.row_changes import Projection, RowChange

log = logging.getLogger("crm.consumer")


def source_of(tp: TopicPartition) -> str:
    """The tracking source of a partition: `topic:partition`."""
    return f"{tp.topic}:{tp.partition}"


@dataclass
class ConsumerStats:
    """What a consumer has done since it started."""

    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        """Applied events per second of processing."""
        return self.applied / self.seconds if self.seconds else 0.0


class _SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: ProjectionConsumer) -> None:
        self.owner = consumer

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # positions are committed with the rows; nothing to flush
        self.owner.assigned = self.owner.assigned - frozenset(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        for tp in assigned:
            stored = self.owner.store.offset(self.owner.projection.name, source_of(tp))
            if stored:
                self.owner.consumer.seek(tp, stored)
        self.owner.assigned = self.owner.assigned | frozenset(assigned)


class ProjectionConsumer:
    """Feeds one projection from the event topics, exactly once into its read-model tables."""

    def __init__(
        self,
        projection: Projection,
        store: ReadModelWriter,
        bootstrap: KafkaConnection | str,
        max_poll_records: int = 500,
        client_id: str | None = None,
        topics: Topics = DEFAULT_TOPICS,
        open_record: Callable[[EventRecord], EventRecord] | None = None,
    ) -> None:
        self.projection = projection
        self.open_record = open_record
        """Opens the sealed personal fields of a published record before it is projected."""
        self.topics = topics
        self.store = store
        self.stopping = threading.Event()
        self.stats = ConsumerStats()
        self.assigned: frozenset[TopicPartition] = frozenset()
        """The partitions this consumer holds in its group now; kept by the rebalance listener, and
        safe to read from another thread (it is replaced, never changed in place)."""
        self.consumer = new_consumer(
            bootstrap,
            client_id or f"crm-{projection.name}",
            group_id=topics.group(projection.name),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            session_timeout_ms=10_000,  # a killed member's partitions move on after 10 s
            heartbeat_interval_ms=3_000,
        )
        self.consumer.subscribe(list(topics.events), listener=_SeekToStoredPositions(self))
        self.dead_letters = new_producer(bootstrap, "crm-dead-letters", acks="all")

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One poll: apply what arrived, partition by partition; returns messages handled."""
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        handled = 0
        for tp, messages in batches.items():
            began = time.monotonic()
            batch: list[tuple[int, Sequence[RowChange]]] = []
            for message in messages:
                applied = self._changes_of(message)
                if applied is not None:
                    batch.append(applied)
            next_offset = messages[-1].offset + 1
            result = self.store.apply(self.projection.name, batch, source=source_of(tp), offset=next_offset)
            self.stats.applied += result.applied
            self.stats.skipped += result.skipped
            self.consumer.commit({tp: OffsetAndMetadata(next_offset, "", -1)})
            self.stats.seconds += time.monotonic() - began
            handled += len(messages)
        return handled

    def _changes_of(self, message: object) -> tuple[int, Sequence[RowChange]] | None:
        """(log position, row changes) of a message; None for one parked in the dead-letter topic."""
        try:
            record = record_of_envelope(decode(message.value))  # type: ignore[attr-defined]
            if self.open_record is not None:
                record = self.open_record(record)  # a sealed value that does not open is a ValueError
        except ValueError as error:
            self._dead_letter(message, error)
            return None
        return record.position, self.projection.apply(record)

    def _dead_letter(self, message: object, error: Exception) -> None:
        values = {
            "error": f"{type(error).__name__}: {error}"[:2000],
            "source-topic": message.topic,  # type: ignore[attr-defined]
            "source-partition": str(message.partition),  # type: ignore[attr-defined]
            "source-offset": str(message.offset),  # type: ignore[attr-defined]
            "projection": self.projection.name,
        }
        headers = dead_letter_headers(message.headers, values)  # type: ignore[attr-defined]
        future = self.dead_letters.send(
            self.topics.dead_letter,
            key=message.key,  # type: ignore[attr-defined]
            value=message.value,  # type: ignore[attr-defined]
            headers=headers,
        )
        future.get(timeout=30)  # parked before the position moves past it
        self.stats.dead_lettered += 1
        log.warning("dead-lettered %s:%s@%s: %s", message.topic, message.partition, message.offset, error)  # type: ignore[attr-defined]

    def run(self, idle_polls: int | None = None) -> ConsumerStats:
        """Consume until stopped (SIGTERM finishes the batch), or after `idle_polls` empty polls."""
        idle = 0
        while not self.stopping.is_set():
            if self.poll_once():
                idle = 0
            elif self.consumer.assignment():  # no partitions yet (joining the group) is not idle
                idle += 1
                if idle_polls is not None and idle >= idle_polls:
                    break
        return self.stats

    def close(self) -> None:
        """Leave the group and release the connections."""
        self.consumer.close(autocommit=False)
        self.dead_letters.close()


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]] | None, reasons: dict[str, str]
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter: the original message's (its CloudEvents attributes and
    trace context, in their order) then the reasons (`DEAD_LETTER_HEADERS`, the published
    contract). An original header under a reason's name is dropped, so each reason is there
    once and is the consumer's own, not one a producer sent."""
    kept = [(name, value) for name, value in original or () if name not in DEAD_LETTER_HEADERS]
    return kept + [(name, reasons[name].encode()) for name in DEAD_LETTER_HEADERS]


def partition_lags(
    bootstrap: KafkaConnection | str,
    store: ReadModelWriter,
    projections: Sequence[str],
    topics: Topics = DEFAULT_TOPICS,
) -> dict[str, dict[str, int]]:
    """Per projection and partition: messages in Kafka not yet applied to the read models."""
    probe = new_consumer(bootstrap, "crm-status", enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics.events for p in sorted(probe.partitions_for_topic(topic) or ())
        ]
        ends = probe.end_offsets(partitions) if partitions else {}
    finally:
        probe.close()
    return {
        name: {source_of(tp): end - store.offset(name, source_of(tp)) for tp, end in sorted(ends.items())}
        for name in projections
    }


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the producer's default partitioner gives a key (murmur2, as the Java client)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def read_your_writes(
    app: Application[Any], store: ReadModelWriter, partitions: int, topics: Topics = DEFAULT_TOPICS
) -> Callable[[int, float], bool]:
    """`wait(position, timeout)` for read models kept by Kafka consumers: the event at `position`
    lives in the partition of its aggregate, whose stored position must reach it in every
    projection (positions in one partition only grow, as the relay publishes in log order)."""

    def wait(position: int, timeout: float) -> bool:
        record = record_at(app, position)
        if record is None:
            return False
        topic = topics.for_aggregate(record.aggregate_type)
        source = source_of(TopicPartition(topic, partition_of(str(record.aggregate_id).encode(), partitions)))
        return store.wait(position, timeout, source=source)

    return wait
