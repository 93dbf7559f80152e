"""A PostgreSQL store with a seeded history, its read-model store, and topics of its own on the
broker: what the relay, projection and freshness benchmarks start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from bench.common import Servers, seed_and_clone
from consumers.kafka_relay import KafkaRelay, ensure_topics
from consumers.topics import Topics
from services.app.application import CrmApplication
from services.bootstrap import bootstrap, open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore


@dataclass
class Stack:
    settings: Settings
    app: CrmApplication
    store: ReadModelStore
    topics: Topics
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def relay(self, **kwargs: Any) -> KafkaRelay:
        return KafkaRelay(self.app, self.store, self.bootstrap, topics=self.topics, **kwargs)

    def close(self) -> None:
        self.store.close()
        self.app.close()


def read_all(bootstrap_servers: str, topics: Topics, count: int) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of the first `count` messages of the event topics, partition by partition."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, client_id="bench-reader")
    try:
        partitions = [TopicPartition(t, p) for t in topics.events for p in sorted(reader.partitions_for_topic(t) or ())]
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        messages: list[tuple[str, bytes, bytes]] = []
        while len(messages) < count:
            for batch in reader.poll(timeout_ms=1000).values():
                messages += [(m.topic, m.key, m.value) for m in batch]
        return messages
    finally:
        reader.close()


def open_stack(servers: Servers, label: str, events: int = 0) -> Stack:
    """A fresh database with about `events` events (none for 0) and a topic prefix of its own,
    its topics created with the default number of partitions."""
    bootstrap_servers = servers.kafka()
    url = servers.database(label)
    prefix = servers.topic_prefix(label)
    settings = Settings(database_url=url, kafka_bootstrap=bootstrap_servers, kafka_topic_prefix=prefix)
    topics = Topics(prefix)
    ensure_topics(bootstrap_servers, settings.kafka_partitions, topics)
    app = bootstrap(settings)
    store = open_read_models(settings)
    stack = Stack(settings, app, store, topics)
    if events:
        stack.history = seed_and_clone(app, url, events)
    return stack
