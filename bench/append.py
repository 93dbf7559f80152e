"""Figure 1 — command append on PostgreSQL, 1 and 8 threads.

Ours: `CrmApplication.log_lead_interaction` (load the lead, score, append its events under
eventsourcing's table lock, commit) on pre-captured leads, each thread on leads of its own, so
there are no version conflicts. Baseline: the same number of transactions at the same
concurrency, each a psycopg INSERT of as many rows as the command appended, of the average size
of the events the commands wrote, into a table shaped like the events table (same columns,
primary key and notification-id index), then COMMIT."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from uuid import UUID

import psycopg

from bench.common import Figure, Servers, events_table, main, median_run, ratio_at_least, say, size
from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead, LogInteraction
from services.bootstrap import bootstrap
from services.settings import Settings

THREADS = (1, 8)
COMMANDS = {1: size(4000, 100), 8: size(6400, 160)}
"""Commands per run (split evenly over the threads)."""
COMMANDS_PER_LEAD = 10
"""Each lead gets about this many interactions, so streams stay near the length of a seeded
lead's (about 16 events): every command loads its lead's whole stream (there are no snapshots)."""
KINDS = [k for k in InteractionKind]


def _run_threads(threads: int, work: Callable[[int], None]) -> float:
    """Start `threads` workers on a barrier; seconds from the start signal to the last one done."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def run(servers: Servers) -> list[Figure]:
    """Commands/s of the application against raw INSERT+COMMIT transactions/s."""
    url = servers.database("append")
    app = bootstrap(Settings(database_url=url))
    try:
        return [_measure(app, url, threads) for threads in THREADS]
    finally:
        app.close()


def _measure(app: CrmApplication, url: str, threads: int) -> Figure:
    table = events_table(app)
    per_thread = COMMANDS[threads] // threads
    leads_per_thread = max(1, per_thread // COMMANDS_PER_LEAD)
    say(f"append: capturing {threads * leads_per_thread} leads for {threads} thread(s)")
    leads: list[list[UUID]] = []
    versions: dict[UUID, int] = {}
    for t in range(threads):
        mine = []
        for i in range(leads_per_thread):
            result = app.capture_lead(
                CaptureLead(
                    name=f"Bench Lead {threads}-{t}-{i}",
                    email=f"lead-{threads}-{t}-{i}@bench.example",
                    company="Acme",
                    title="CTO",
                    source="web_form",  # type: ignore[arg-type]
                    estimated_value=10_000_00,
                )
            )
            mine.append(result.id)
            versions[result.id] = result.version
        leads.append(mine)
    head = app.head_position()
    events_per_command: list[list[int]] = [[] for _ in range(threads)]

    def ours(index: int) -> None:
        rng = random.Random(index)
        ctx = Context(actor="bench", correlation_id=f"bench-{index}")
        mine, counts = leads[index], events_per_command[index]
        for n in range(per_thread):
            lead_id = mine[n % len(mine)]
            result = app.log_lead_interaction(lead_id, LogInteraction(kind=rng.choice(KINDS)), ctx)
            counts.append(result.version - versions[lead_id])
            versions[lead_id] = result.version

    say(f"append: {threads * per_thread:,} commands on {threads} thread(s)")
    ours_seconds = _run_threads(threads, ours)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*), avg(length(state)), avg(length(topic)) FROM {table} WHERE notification_id > %s",
            [head],
        ).fetchone()
        assert row is not None
        events, avg_state, avg_topic = row
    state = random.Random(0).randbytes(round(float(avg_state)))
    topic = "domain.lead:Lead.InteractionLogged"[: round(float(avg_topic))]

    def baseline_run(run: int) -> float:
        raw = f"raw_append_{threads}_{run}"
        with psycopg.connect(url) as conn:
            conn.execute(
                f"CREATE TABLE {raw} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, "
                "state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
            )
            conn.execute(f"CREATE UNIQUE INDEX {raw}_notification_id_idx ON {raw} (notification_id)")
        statements = {
            k: f"INSERT INTO {raw} (originator_id, originator_version, topic, state) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * k)
            for k in {c for counts in events_per_command for c in counts}
            if k
        }
        connections = [psycopg.connect(url) for _ in range(threads)]

        def baseline(index: int) -> None:
            conn = connections[index]
            ids = [uuid.uuid4() for _ in range(leads_per_thread)]
            version = dict.fromkeys(ids, 0)
            for n, count in enumerate(events_per_command[index]):
                aggregate = ids[n % len(ids)]
                params: list[object] = []
                for _ in range(count):
                    version[aggregate] += 1
                    params += [aggregate, version[aggregate], topic, state]
                if count:
                    conn.execute(statements[count], params)
                conn.commit()

        say(f"append: baseline run {run + 1}, {threads * per_thread:,} INSERT+COMMIT transactions, {threads} thread(s)")
        seconds = _run_threads(threads, baseline)
        for conn in connections:
            conn.close()
        return seconds

    base_seconds, base_runs = median_run(baseline_run)
    commands = threads * per_thread
    figure = Figure(
        name=f"1. command append, {threads} thread{'s' if threads > 1 else ''} (PostgreSQL)",
        ours=commands / ours_seconds,
        baseline=commands / base_seconds,
        unit="commands/s",
        higher_is_better=True,
        sample=commands,
        sample_unit="commands",
        what="log_lead_interaction on pre-captured leads, distinct leads per thread",
        baseline_what="psycopg INSERT of the same number of rows of the same size + COMMIT, same threads (median of 3)",
        target=ratio_at_least(0.3),
        details={
            "threads": threads,
            "leads": threads * leads_per_thread,
            "mean_stream_length_after": round(sum(versions.values()) / len(versions), 1),
            "events_appended": int(events),
            "events_per_command": round(int(events) / commands, 2),
            "average_state_bytes": round(float(avg_state)),
            "ours_seconds": round(ours_seconds, 2),
            "baseline_seconds": round(base_seconds, 2),
            "baseline_runs_seconds": [round(x, 2) for x in base_runs],
        },
    )
    say(f"append: {threads} thread(s): {figure.ours:,.0f} vs {figure.baseline:,.0f} commands/s")
    return figure


if __name__ == "__main__":
    main(run, "append")
