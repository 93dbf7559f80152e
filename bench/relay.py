"""Figure 3 — relay: events/s from the PostgreSQL store to Kafka.

Ours: `KafkaRelay.run(until_idle=True)` over a seeded store (batches of 1,000 notifications:
read, decode, build and validate the envelope, encode, send, flush, wait for every
acknowledgement, save the position). Baseline: kafka-python's own producer loop sending the very
same messages (same topics, keys, values) with the relay's `PRODUCER_SETTINGS`, then one flush.
The messages are read back from the relay's topics before the clock starts."""

from __future__ import annotations

import time

from kafka import KafkaProducer

from bench.common import Figure, Servers, main, median_run, ratio_at_least, say, size
from bench.kafka_stack import open_stack, read_all
from consumers.kafka_relay import PRODUCER_SETTINGS, ensure_topics
from consumers.topics import Topics

EVENTS = size(80_000, 3_000)


def run(servers: Servers) -> list[Figure]:
    """Relayed events/s against a raw producer loop."""
    say(f"relay: seeding a store with {EVENTS:,} events")
    stack = open_stack(servers, "relay", EVENTS)
    try:
        app = stack.app
        head = app.head_position()
        relay = stack.relay()
        say(f"relay: publishing {head:,} events")
        began = time.perf_counter()
        stats = relay.run(until_idle=True)
        ours_seconds = time.perf_counter() - began
        relay.close()
        say(f"relay: {stats.published:,} events in {ours_seconds:.1f} s")

        raw_topics = Topics(stack.topics.prefix + "raw.")
        ensure_topics(stack.bootstrap, stack.settings.kafka_partitions, raw_topics)
        say("relay: reading the published messages back for the baseline")
        prefix = len(stack.topics.prefix)
        messages = [
            (raw_topics.prefix + topic[prefix:], key, value)
            for topic, key, value in read_all(stack.bootstrap, stack.topics, stats.published)
        ]
        size_bytes = sum(len(v) for _, _, v in messages)

        def producer_run(run: int) -> float:
            producer = KafkaProducer(bootstrap_servers=stack.bootstrap, client_id="bench-raw", **PRODUCER_SETTINGS)
            say(f"relay: baseline run {run + 1}, producer loop over the same {len(messages):,} messages")
            began = time.perf_counter()
            for topic, key, value in messages:
                producer.send(topic, key=key, value=value)
            producer.flush()
            seconds = time.perf_counter() - began
            producer.close()
            return seconds

        base_seconds, base_runs = median_run(producer_run)
    finally:
        stack.close()
    return [
        Figure(
            name="3. relay, store -> Kafka",
            ours=stats.published / ours_seconds,
            baseline=len(messages) / base_seconds,
            unit="events/s",
            higher_is_better=True,
            sample=stats.published,
            sample_unit="events",
            what="KafkaRelay.run(until_idle=True) over a seeded PostgreSQL store",
            baseline_what="kafka-python producer loop, same messages and PRODUCER_SETTINGS, one flush (median of 3)",
            target=ratio_at_least(0.5),
            details={
                "history": stack.history,
                "batches": stats.batches,
                "average_message_bytes": round(size_bytes / len(messages)),
                "partitions_per_topic": stack.settings.kafka_partitions,
                "ours_seconds": round(ours_seconds, 2),
                "baseline_seconds": round(base_seconds, 2),
                "baseline_runs_seconds": [round(x, 2) for x in base_runs],
            },
        )
    ]


if __name__ == "__main__":
    main(run, "relay")
