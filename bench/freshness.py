"""Figure 7 — freshness: from a command's commit to its visibility in the pipeline read model,
p50/p99, on PostgreSQL.

A lead is captured every 50 ms (open loop: the next command does not wait for the previous one
to become visible). The clock starts when `capture_lead` returns (its transaction has committed);
a poller thread looks for the lead's row in `pipeline_leads` every 2 ms and stops the clock when
the row is there. Two deliveries:

- in-process: the `InProcessRunner` following the log in a background thread, with the poll
  interval `crm serve` gives it (50 ms);
- via Kafka: `KafkaRelay.run()` (default poll interval 200 ms) and the pipeline and segments
  `ProjectionConsumer`s, each in a thread of this process, with the shipped settings.

Baseline: produce -> consume of a raw message of the same size through the same broker,
kafka-python producer with `PRODUCER_SETTINGS` (linger 20 ms) and a plain KafkaConsumer
polling in a thread, one message every 50 ms. Each delivery and the baseline run three times
(200 commands each); the figure is the median of the runs' p99."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from bench.common import RUNS, TARGETS, Figure, Servers, main, median, percentile, say, size
from bench.kafka_stack import Stack, open_stack
from consumers.in_process_runner import InProcessRunner
from consumers.kafka_consumer import ProjectionConsumer
from consumers.kafka_relay import PRODUCER_SETTINGS, ensure_topics
from consumers.topics import Topics
from services.app.application import Context
from services.app.commands import CaptureLead

SAMPLES = size(200, 30)
"""Commands per run; each delivery (and the raw baseline) runs RUNS times."""
INTERVAL = 0.05
POLL = 0.002
SERVE_POLL_INTERVAL = 0.05


def _capture(stack: Stack, n: int, label: str) -> tuple[UUID, float]:
    result = stack.app.capture_lead(
        CaptureLead(
            name=f"Fresh Lead {label} {n}",
            email=f"fresh-{label}-{n}@bench.example",
            source="web_form",  # type: ignore[arg-type]
            estimated_value=1_000_00,
        ),
        Context(actor="bench"),
    )
    return result.id, time.perf_counter()


def _visibility(stack: Stack, label: str, samples: int) -> list[float]:
    """Capture `samples` leads at a fixed rate; seconds from each commit to its row being visible."""
    pending: dict[str, float] = {}
    seen: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poller() -> None:
        while not done.is_set() or pending:
            with lock:
                waiting = list(pending.items())
            for lead_id, committed in waiting:
                if stack.store.fetch("SELECT lead_id FROM pipeline_leads WHERE lead_id = ?", [lead_id]):
                    now = time.perf_counter()
                    with lock:
                        del pending[lead_id]
                    seen.append(now - committed)
            time.sleep(POLL)

    thread = threading.Thread(target=poller, name="visibility-poller")
    thread.start()
    next_at = time.perf_counter()
    for n in range(samples):
        lead_id, committed = _capture(stack, n, label)
        with lock:
            pending[str(lead_id)] = committed
        next_at += INTERVAL
        time.sleep(max(0.0, next_at - time.perf_counter()))
    done.set()
    thread.join(timeout=60)
    if thread.is_alive():
        raise RuntimeError(f"{len(pending)} leads never became visible")
    return seen


def _in_process(servers: Servers) -> list[list[float]]:
    stack = open_stack(servers, "fresh_local")
    runner = InProcessRunner(stack.app, stack.store, poll_interval=SERVE_POLL_INTERVAL)
    try:
        runner.start()
        _visibility(stack, "warmup", 5)
        runs = []
        for n in range(RUNS):
            say(f"freshness: in-process, run {n + 1}, {SAMPLES} commands")
            runs.append(_visibility(stack, f"local{n}", SAMPLES))
        return runs
    finally:
        runner.stop()
        stack.close()


def _via_kafka(servers: Servers) -> list[list[float]]:
    stack = open_stack(servers, "fresh_kafka")
    relay = stack.relay()
    consumers = [
        ProjectionConsumer(p, stack.store, stack.bootstrap, topics=stack.topics)
        for p in stack.store.projections.values()
    ]
    threads = [threading.Thread(target=relay.run, name="relay")] + [
        threading.Thread(target=c.run, name=f"consume-{c.projection.name}") for c in consumers
    ]
    for thread in threads:
        thread.start()
    try:
        say("freshness: via Kafka, waiting for the consumers to join their groups")
        _visibility(stack, "warmup", 5)
        runs = []
        for n in range(RUNS):
            say(f"freshness: via Kafka, run {n + 1}, {SAMPLES} commands")
            runs.append(_visibility(stack, f"kafka{n}", SAMPLES))
        return runs
    finally:
        relay.stopping.set()
        for c in consumers:
            c.stopping.set()
        for thread in threads:
            thread.join()
        relay.close()
        for c in consumers:
            c.close()
        stack.close()


def _raw_kafka(servers: Servers, message_bytes: int) -> list[float]:
    bootstrap_servers = servers.kafka()
    topics = Topics(servers.topic_prefix("fresh_raw"))
    ensure_topics(bootstrap_servers, 6, topics)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    partitions = [TopicPartition(topics.lead, p) for p in sorted(consumer.partitions_for_topic(topics.lead) or ())]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for messages in consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                for m in messages:
                    latencies.append(now - sent[m.key])

    thread = threading.Thread(target=consume, name="raw-consumer")
    thread.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, client_id="bench-fresh", **PRODUCER_SETTINGS)
    value = b"x" * message_bytes
    say(f"freshness: baseline, {SAMPLES} raw messages")
    next_at = time.perf_counter()
    for n in range(SAMPLES + 5):
        key = f"{n}".encode()
        sent[key] = time.perf_counter()
        producer.send(topics.lead, key=key, value=value)
        next_at += INTERVAL
        time.sleep(max(0.0, next_at - time.perf_counter()))
    producer.flush()
    deadline = time.monotonic() + 30
    while len(latencies) < SAMPLES + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    producer.close()
    consumer.close()
    return latencies[5:]  # the first few include the producer's connection set-up


def _figure(name: str, id: str, ours: list[list[float]], base: list[list[float]], what: str) -> Figure:
    flat, flat_base = [x for run in ours for x in run], [x for run in base for x in run]
    ours_p99 = [percentile(run, 99) * 1000 for run in ours]
    base_p99 = [percentile(run, 99) * 1000 for run in base]
    return Figure(
        name=name,
        ours=median(ours_p99),
        baseline=median(base_p99),
        unit="ms",
        higher_is_better=False,
        sample=len(ours[0]),
        sample_unit="commands per run",
        what=what,
        baseline_what="raw produce -> consume of a same-sized message, PRODUCER_SETTINGS (p99 per run)",
        target=TARGETS[id][0],
        id=id,
        ours_runs=ours_p99,
        baseline_runs=base_p99,
        details={
            "ours_p50_ms_runs": [round(percentile(run, 50) * 1000, 1) for run in ours],
            "ours_p99_ms_all_runs_pooled": round(percentile(flat, 99) * 1000, 1),
            "ours_max_ms": round(max(flat) * 1000, 1),
            "baseline_p50_ms": round(percentile(flat_base, 50) * 1000, 1),
            "baseline_samples": len(flat_base),
            "command_interval_ms": INTERVAL * 1000,
            "visibility_poll_ms": POLL * 1000,
        },
    )


def run(servers: Servers) -> list[Figure]:
    """p99 commit -> visible in the pipeline read model, against raw produce -> consume."""
    local = _in_process(servers)
    kafka = _via_kafka(servers)
    raw = [_raw_kafka(servers, message_bytes=750) for _ in range(RUNS)]

    def measure(runs: list[list[float]]) -> str:
        return "p99 " + ", ".join(f"{percentile(xs, 99) * 1000:.0f}" for xs in runs) + " ms"

    say(f"freshness: in-process {measure(local)}; via Kafka {measure(kafka)}; raw Kafka {measure(raw)}")
    return [
        _figure(
            "7. freshness p99, in-process runner",
            "freshness_p99_ms_in_process",
            local,
            raw,
            "commit -> row in pipeline_leads, InProcessRunner in a thread (poll 50 ms)",
        ),
        _figure(
            "7. freshness p99, via Kafka",
            "freshness_p99_ms_kafka",
            kafka,
            raw,
            "commit -> row in pipeline_leads, relay + consumers in threads",
        ),
    ]


if __name__ == "__main__":
    main(run, "freshness")
