"""The test harness really starts a single-node Kafka 4.x broker (KRaft) that
keeps topics, records and committed offsets across a restart."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import pytest

# Imported from their submodules: the repository's kafka/ folder (the broker's
# pom.xml) would otherwise make linters take a bare ``kafka`` for a local package.
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer import KafkaConsumer
from kafka.producer import KafkaProducer
from kafka.serializer import DefaultSerializer
from kafka.structs import TopicPartition

from tests.support.kafka_server import KafkaServer

pytestmark = pytest.mark.kafka

KEYS = [f"contact-{n}" for n in range(10)]
MESSAGES = 100  # 10 per key


def _create_topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        admin.wait_for_topics([name], timeout_ms=15000)
        (topic,) = admin.describe_topics([name])
        assert len(topic["partitions"]) == partitions
    finally:
        admin.close()
    return name


def _produce(bootstrap: str, topic: str) -> dict[str, int]:
    """Send ``MESSAGES`` keyed records, in sequence per key; return key -> partition."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        key_serializer=DefaultSerializer(),
        value_serializer=DefaultSerializer(),
    )
    partition_of: dict[str, int] = {}
    try:
        futures = []
        for i in range(MESSAGES):
            key = KEYS[i % len(KEYS)]
            futures.append((key, producer.send(topic, key=key, value=f"{key}:{i // len(KEYS)}")))
        producer.flush(timeout=30)
        for key, future in futures:
            metadata = future.get(timeout=30)
            assert partition_of.setdefault(key, metadata.partition) == metadata.partition
    finally:
        producer.close(timeout=10)
    return partition_of


def _consume_all(bootstrap: str, topic: str, group: str) -> list[tuple[str, int, int]]:
    """Read the topic in a consumer group, commit, and return (key, seq, partition) in order."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        key_deserializer=DefaultSerializer(),
        value_deserializer=DefaultSerializer(),
    )
    received: list[tuple[str, int, int]] = []
    try:
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    key, _, seq = record.value.partition(":")
                    assert key == record.key
                    received.append((record.key, int(seq), record.partition))
        consumer.commit()
        partitions = {TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)}
        end_offsets = consumer.end_offsets(list(partitions))
        committed = {tp: consumer.committed(tp) for tp in partitions}
        assert committed == end_offsets
    finally:
        consumer.close()
    return received


def _assert_in_order(received: list[tuple[str, int, int]], partition_of: dict[str, int]) -> None:
    assert len(received) == MESSAGES
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, seq, partition in received:
        per_key[key].append(seq)
        assert partition == partition_of[key]
    assert set(per_key) == set(KEYS)
    for key, seqs in per_key.items():
        assert seqs == list(range(MESSAGES // len(KEYS))), key


def test_broker_is_real_kafka_4_in_kraft_mode(kafka_server: KafkaServer, kafka_bootstrap: str) -> None:
    assert kafka_bootstrap == f"127.0.0.1:{kafka_server.port}"
    assert kafka_server.version.startswith("4.")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        cluster = admin.describe_cluster()
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    assert [broker["broker_id"] for broker in cluster["brokers"]] == [1]
    assert cluster["controller_id"] == 1  # the same node is the KRaft controller
    assert quorum["topics"][0]["partitions"][0]["leader_id"] == 1


def test_keyed_messages_round_trip_in_order_per_key(kafka_bootstrap: str) -> None:
    topic = _create_topic(kafka_bootstrap, partitions=3)
    partition_of = _produce(kafka_bootstrap, topic)
    assert len(set(partition_of.values())) > 1  # the keys really spread over partitions

    received = _consume_all(kafka_bootstrap, topic, group=f"g-{uuid.uuid4().hex[:8]}")

    _assert_in_order(received, partition_of)


@pytest.mark.parametrize("how", ["graceful", "kill"])
def test_restart_keeps_topics_records_and_offsets(kafka_server: KafkaServer, how: str) -> None:
    bootstrap = kafka_server.bootstrap
    topic = _create_topic(bootstrap, partitions=3)
    partition_of = _produce(bootstrap, topic)
    group = f"g-{uuid.uuid4().hex[:8]}"
    _assert_in_order(_consume_all(bootstrap, topic, group), partition_of)
    old_pid = kafka_server.pid

    kafka_server.restart(kill=(how == "kill"))

    assert kafka_server.running and kafka_server.pid != old_pid
    assert kafka_server.bootstrap == bootstrap  # same port: clients need no new address
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert topic in admin.list_topics()
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    assert sum(meta.offset for meta in offsets.values()) == MESSAGES
    # Every record is still there, in order, for a new consumer group.
    _assert_in_order(_consume_all(bootstrap, topic, group=f"g-{uuid.uuid4().hex[:8]}"), partition_of)
