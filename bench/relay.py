"""Figure 3 — relay: events/s from the PostgreSQL store to Kafka.

Ours: `KafkaRelay.run(until_idle=True)` over a seeded store (batches of 1,000 notifications:
read, decode, build and validate the envelope, encode, send, flush, wait for every
acknowledgement, save the position). Baseline: kafka-python's own producer loop sending the very
same messages (same topics, keys, values) with the relay's `PRODUCER_SETTINGS`, then one flush.
The messages are read back from the relay's topics before the clock starts. Three runs of each,
interleaved; our second and third runs republish the store from position 1 to fresh topics."""

from __future__ import annotations

import time

from kafka import KafkaProducer

from bench.common import RUNS, TARGETS, Figure, Servers, main, median, say, size
from bench.kafka_stack import open_stack, read_all
from consumers.kafka_relay import PRODUCER_SETTINGS, KafkaRelay, ensure_topics
from consumers.topics import Topics

EVENTS = size(80_000, 3_000)


def run(servers: Servers) -> list[Figure]:
    """Relayed events/s against a raw producer loop."""
    say(f"relay: seeding a store with {EVENTS:,} events")
    stack = open_stack(servers, "relay", EVENTS)
    try:
        app = stack.app
        head = app.head_position()
        ours_runs: list[float] = []
        base_runs: list[float] = []
        batches: list[int] = []
        published = 0

        def relay_run(run: int) -> float:
            """Publish the whole store once: the stack's topics first, then fresh topics of
            their own, from position 1 again (what `republish_from` is for)."""
            nonlocal published
            topics = stack.topics if run == 0 else Topics(f"{stack.topics.prefix}again{run}.")
            if run:
                ensure_topics(stack.bootstrap, stack.settings.kafka_partitions, topics)
            relay = stack.relay() if run == 0 else KafkaRelay(app, stack.store, stack.bootstrap, topics=topics)
            if run:
                relay.republish_from(1)
            say(f"relay: run {run + 1}, publishing {head:,} events")
            began = time.perf_counter()
            stats = relay.run(until_idle=True)
            seconds = time.perf_counter() - began
            relay.close()
            published = stats.published
            batches.append(stats.batches)
            say(f"relay: run {run + 1}, {stats.published:,} events in {seconds:.1f} s")
            return seconds

        ours_runs.append(relay_run(0))
        raw_topics = Topics(stack.topics.prefix + "raw.")
        ensure_topics(stack.bootstrap, stack.settings.kafka_partitions, raw_topics)
        say("relay: reading the published messages back for the baseline")
        prefix = len(stack.topics.prefix)
        messages = [
            (raw_topics.prefix + topic[prefix:], key, value)
            for topic, key, value in read_all(stack.bootstrap, stack.topics, published)
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

        # interleaved: ours, raw, ours, raw, ...
        for run in range(RUNS):
            if run:
                ours_runs.append(relay_run(run))
            base_runs.append(producer_run(run))
        ours_seconds, base_seconds = median(ours_runs), median(base_runs)
    finally:
        stack.close()
    return [
        Figure(
            name="3. relay, store -> Kafka",
            ours=published / ours_seconds,
            baseline=len(messages) / base_seconds,
            unit="events/s",
            higher_is_better=True,
            sample=published,
            sample_unit="events",
            what="KafkaRelay.run(until_idle=True) over a seeded PostgreSQL store",
            baseline_what="kafka-python producer loop, same messages and PRODUCER_SETTINGS, one flush (median of 3)",
            target=TARGETS["relay_vs_raw"][0],
            id="relay_vs_raw",
            value_is="ratio",
            ours_runs=[published / x for x in ours_runs],
            baseline_runs=[len(messages) / x for x in base_runs],
            details={
                "history": stack.history,
                "batches": batches,
                "ours_runs_seconds": [round(x, 2) for x in ours_runs],
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
