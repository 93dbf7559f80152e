"""The CRM's Kafka settings against the real broker: topics made with the replication, retention
and min.insync.replicas of the settings, or checked and never made."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from consumers.kafka_clients import (
    KafkaConnection,
    new_admin,
)
from consumers.kafka_relay import MissingTopics, TopicSettings, prepare_topics
from consumers.topics import Topics

pytestmark = [pytest.mark.kafka]


def fresh_topics() -> Topics:
    return Topics(prefix=f"t{uuid.uuid4().hex[:8]}.")


def topic_configs(connection: KafkaConnection | str, name: str) -> dict[str, str]:
    """The topic's configs as the broker reports them."""
    admin = new_admin(connection, "test-configs")
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        admin.close()
    [configs] = described["topic"].values()
    return {key: entry["value"] for key, entry in configs.items()}  # only those set on the topic


def partition_count(connection: KafkaConnection | str, name: str) -> int:
    admin = new_admin(connection, "test-partitions")
    try:
        [described] = admin.describe_topics([name])
    finally:
        admin.close()
    return len(described["partitions"])


def test_topics_are_created_with_the_partitions_replication_and_configs_of_the_settings(kafka_bootstrap: str) -> None:
    topics = fresh_topics()
    settings = TopicSettings(partitions=2, replication_factor=1, min_insync_replicas=1, retention_ms=3_600_000)
    created = prepare_topics(kafka_bootstrap, settings, topics)
    assert created == [*topics.events, topics.dead_letter]
    for name in created:
        configs = topic_configs(kafka_bootstrap, name)
        assert configs["retention.ms"] == "3600000" and configs["min.insync.replicas"] == "1"
        assert partition_count(kafka_bootstrap, name) == 2
    # a second start finds them and makes nothing
    assert prepare_topics(kafka_bootstrap, settings, topics) == []


def test_without_topic_creation_every_missing_topic_is_named_and_none_is_made(kafka_bootstrap: str) -> None:
    topics = fresh_topics()
    with pytest.raises(MissingTopics) as missing:
        prepare_topics(kafka_bootstrap, TopicSettings(create=False), topics)
    assert missing.value.missing == [*topics.events, topics.dead_letter]
    admin = new_admin(kafka_bootstrap, "test-admin")
    try:
        assert not set(missing.value.missing) & set(admin.list_topics())
        # once a platform team made some, only the others are named
        admin.create_topics([NewTopic(name, 1, 1) for name in (topics.lead, topics.dead_letter)])
    finally:
        admin.close()
    with pytest.raises(MissingTopics) as still_missing:
        prepare_topics(kafka_bootstrap, TopicSettings(create=False), topics)
    assert still_missing.value.missing == [topics.contact, topics.workspace]


def test_a_relay_that_may_not_create_topics_names_the_missing_ones(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = fresh_topics()
    env = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}",
        "CRM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CRM_KAFKA_TOPIC_PREFIX": topics.prefix,
        "CRM_KAFKA_CREATE_TOPICS": "false",
    }
    relayed = subprocess.run(
        [sys.executable, "-m", "services.cli", "relay", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert relayed.returncode == 1, relayed.stdout + relayed.stderr
    assert f"crm: missing Kafka topics: {', '.join([*topics.events, topics.dead_letter])}" in relayed.stderr
    assert "CRM_KAFKA_CREATE_TOPICS=false" in relayed.stderr and "Traceback" not in relayed.stderr
