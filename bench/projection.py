"""Figure 4 — projection: events/s from Kafka into the PostgreSQL read models.

Setup (not timed): a seeded store, relayed to topics of this benchmark's own. Ours: the pipeline
and segments `ProjectionConsumer`s running in two threads of one process, as `crm consume` runs
them (each its own consumer group: poll, decode and validate the envelope, project, apply the
rows with the position in one transaction, commit the offset), timed from start until both have
applied every event. Baseline: one raw KafkaConsumer (its own group, same max_poll_records)
reading both topics and `json.loads`-ing every value, timed the same way. Three runs of each,
interleaved; our second and third runs consume into a fresh namespace from fresh topics the store
was republished to (not timed)."""

from __future__ import annotations

import json
import threading
import time

from kafka import KafkaConsumer

from bench.common import RUNS, TARGETS, Figure, Servers, main, median, say, size
from bench.kafka_stack import open_stack
from consumers.kafka_consumer import ProjectionConsumer
from consumers.kafka_relay import KafkaRelay, ensure_topics
from consumers.topics import Topics
from services.bootstrap import open_read_models

EVENTS = size(50_000, 3_000)


def run(servers: Servers) -> list[Figure]:
    """Projected events/s against a raw consume-and-decode loop."""
    say(f"projection: seeding a store with {EVENTS:,} events and relaying it")
    stack = open_stack(servers, "projection", EVENTS)
    try:
        relay = stack.relay()
        published = relay.run(until_idle=True).published
        relay.close()

        def consume_run(run: int) -> tuple[float, dict[str, float]]:
            """Consume every event into both read models: the stack's store and topics first,
            then (runs 2, 3) a fresh namespace fed from fresh topics the store was republished to."""
            store, topics = stack.store, stack.topics
            if run:
                topics = Topics(f"{stack.topics.prefix}again{run}.")
                ensure_topics(stack.bootstrap, stack.settings.kafka_partitions, topics)
                relay = KafkaRelay(stack.app, stack.store, stack.bootstrap, topics=topics)
                relay.republish_from(1)
                relay.run(until_idle=True)
                relay.close()
                store = open_read_models(stack.settings, f"proj{run}_")
                store.reset()
            say(f"projection: run {run + 1}, {published:,} events in Kafka; consuming into pipeline + segments")
            consumers = [
                ProjectionConsumer(p, store, stack.bootstrap, topics=topics) for p in store.projections.values()
            ]
            threads = [threading.Thread(target=c.run, name=f"consume-{c.projection.name}") for c in consumers]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            done_at: dict[str, float] = {}
            next_report = began + 10
            while len(done_at) < len(consumers):
                for c in consumers:
                    if c.projection.name not in done_at and c.stats.applied + c.stats.skipped >= published:
                        done_at[c.projection.name] = time.perf_counter() - began
                if any(t.is_alive() is False for t in threads) and len(done_at) < len(consumers):
                    raise RuntimeError("a projection consumer stopped early")
                if time.perf_counter() > next_report:
                    next_report += 10
                    say("projection: " + ", ".join(f"{c.projection.name} {c.stats.applied:,}" for c in consumers))
                time.sleep(0.01)
            seconds = time.perf_counter() - began
            for c in consumers:
                c.stopping.set()
            for thread in threads:
                thread.join()
            for c in consumers:
                c.close()
            if run:
                store.drop()
                store.close()
            say(f"projection: run {run + 1}, {published:,} events into both read models in {seconds:.1f} s")
            return seconds, done_at

        def consumer_run(run: int) -> float:
            say(f"projection: baseline run {run + 1}, raw consume + json.loads loop")
            raw = KafkaConsumer(
                bootstrap_servers=stack.bootstrap,
                group_id=f"{stack.topics.prefix}raw-{run}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=500,
            )
            began = time.perf_counter()
            raw.subscribe(list(stack.topics.events))
            decoded = 0
            while decoded < published:
                for messages in raw.poll(timeout_ms=500).values():
                    for message in messages:
                        json.loads(message.value)
                        decoded += 1
            seconds = time.perf_counter() - began
            raw.close()
            return seconds

        # interleaved: ours, raw, ours, raw, ...
        ours_runs: list[float] = []
        base_runs: list[float] = []
        per_projection: list[dict[str, float]] = []
        for run in range(RUNS):
            seconds, done_at = consume_run(run)
            ours_runs.append(seconds)
            per_projection.append(done_at)
            base_runs.append(consumer_run(run))
        ours_seconds, base_seconds = median(ours_runs), median(base_runs)
        done_at = per_projection[ours_runs.index(ours_seconds)]
    finally:
        stack.close()
    return [
        Figure(
            name="4. projection, Kafka -> PostgreSQL read models",
            ours=published / ours_seconds,
            baseline=published / base_seconds,
            unit="events/s",
            higher_is_better=True,
            sample=published,
            sample_unit="events",
            what="ProjectionConsumer for pipeline and segments, two threads, until both applied every event",
            baseline_what="one KafkaConsumer (own group) + json.loads of every value (median of 3)",
            target=TARGETS["projection_vs_raw"][0],
            id="projection_vs_raw",
            value_is="ratio",
            ours_runs=[published / x for x in ours_runs],
            baseline_runs=[published / x for x in base_runs],
            details={
                "ours_runs_seconds": [round(x, 2) for x in ours_runs],
                "history": stack.history,
                "seconds_per_projection": {name: round(s, 2) for name, s in done_at.items()},
                "events_per_second_per_projection": {name: round(published / s) for name, s in done_at.items()},
                "ours_seconds": round(ours_seconds, 2),
                "baseline_seconds": round(base_seconds, 2),
                "baseline_runs_seconds": [round(x, 2) for x in base_runs],
            },
        )
    ]


if __name__ == "__main__":
    main(run, "projection")
