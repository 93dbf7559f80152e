"""Figure 1 — command append on PostgreSQL, 1 and 8 threads, against the peers one would pick
instead, all on the same server, at the same concurrency, in the same run.

Ours: `CrmApplication.log_lead_interaction` (load the lead, score, append its events under
eventsourcing's table lock, commit) on pre-captured leads, each thread on leads of its own, so
there are no version conflicts. Peers, each doing the same command (log an interaction on an
existing lead) the same number of times on the same number of threads:

- eventsourcing: a bare eventsourcing `Application` (its own `eventsourcing.postgres` persistence,
  the same POSTGRES_* settings as ours) with a minimal Lead aggregate whose one event is
  InteractionLogged: `repository.get`, the event, `save`;
- CRUD: psycopg, one transaction per command: UPDATE the lead row (interaction count, last
  kind, updated_at) and INSERT the interaction row, COMMIT;
- raw: a psycopg INSERT of as many rows as the command appended, of the average size of the
  events the commands wrote, into a table shaped like the events table (same columns, primary
  key and notification-id index), then COMMIT.

The runs are interleaved (ours, eventsourcing, CRUD, raw; ours, ...) three times, so the
machine's noise falls on every side; each round has fresh leads, so stream lengths stay those of
the first round. A figure's value is the median of the three rounds' ratios."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import RUNS, TARGETS, Figure, Servers, events_table, main, median, ratio_at_least, say, size
from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead, LogInteraction
from services.bootstrap import bootstrap, eventsourcing_env
from services.settings import Settings
from services.storage.group_commit import GroupStats
from services.storage.timers import PostgresTimerRecorder

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


# --- the eventsourcing peer ----------------------------------------------------------------


class PeerLead(Aggregate):
    """The least a lead needs to take the command: who it is and how many interactions it had."""

    @event("Captured")
    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email
        self.interactions = 0
        self.last_kind = ""

    @event("InteractionLogged")
    def log_interaction(self, kind: str) -> None:
        """Record one interaction."""
        self.interactions += 1
        self.last_kind = kind


class PeerLeadApplication(Application[UUID]):
    """A bare eventsourcing application: load, act, save, nothing else."""

    def capture(self, name: str, email: str) -> UUID:
        """A new lead."""
        lead = PeerLead(name=name, email=email)
        self.save(lead)
        return lead.id

    def log_interaction(self, lead_id: UUID, kind: str) -> None:
        """The command: log an interaction on an existing lead."""
        lead: PeerLead = self.repository.get(lead_id)
        lead.log_interaction(kind)
        self.save(lead)


def peer_application(url: str) -> PeerLeadApplication:
    """The eventsourcing peer on the same database, with the POSTGRES_* settings our app uses
    (eventsourcing's own postgres module instead of ours, which adds timers and fail-fast)."""
    env = {k: v for k, v in eventsourcing_env(Settings(database_url=url).database).items() if k.startswith("POSTGRES_")}
    return PeerLeadApplication(env={**env, "PERSISTENCE_MODULE": "eventsourcing.postgres"})


# --- one round of each side ----------------------------------------------------------------


@dataclass
class Round:
    """The shape every side of a round shares: threads, commands per thread, leads per thread."""

    threads: int
    per_thread: int
    leads_per_thread: int
    label: str

    @property
    def commands(self) -> int:
        return self.threads * self.per_thread


def _ours(app: CrmApplication, url: str, r: Round) -> tuple[float, list[list[int]], dict[str, Any]]:
    """Capture fresh leads (not timed), then time the commands; (seconds, events per command per
    thread, what the events looked like)."""
    leads: list[list[UUID]] = []
    versions: dict[UUID, int] = {}
    for t in range(r.threads):
        mine = []
        for i in range(r.leads_per_thread):
            result = app.capture_lead(
                CaptureLead(
                    name=f"Bench Lead {r.label}-{t}-{i}",
                    email=f"lead-{r.label}-{t}-{i}@bench.example",
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
    events_per_command: list[list[int]] = [[] for _ in range(r.threads)]

    def work(index: int) -> None:
        rng = random.Random(index)
        ctx = Context(actor="bench", correlation_id=f"bench-{index}")
        mine, counts = leads[index], events_per_command[index]
        for n in range(r.per_thread):
            lead_id = mine[n % len(mine)]
            result = app.log_lead_interaction(lead_id, LogInteraction(kind=rng.choice(KINDS)), ctx)
            counts.append(result.version - versions[lead_id])
            versions[lead_id] = result.version

    say(f"append: {r.label}: ours, {r.commands:,} commands on {r.threads} thread(s)")
    grouped = _group_stats(app)
    before = dataclasses.replace(grouped, sizes=dict(grouped.sizes))
    seconds = _run_threads(r.threads, work)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*), avg(length(state)), avg(length(topic)) FROM {events_table(app)} "
            "WHERE notification_id > %s",
            [head],
        ).fetchone()
        assert row is not None
        events, avg_state, avg_topic = row
    shape = {
        "events": int(events),
        "average_state_bytes": round(float(avg_state)),
        "average_topic_chars": round(float(avg_topic)),
        "mean_stream_length_after": round(sum(versions.values()) / len(versions), 1),
        "groups": grouped.groups - before.groups,
        "grouped_appends": grouped.appends - before.appends,
        "largest_group": max((n for n, c in grouped.sizes.items() if c > before.sizes.get(n, 0)), default=0),
        "group_wait_seconds": grouped.waited_seconds - before.waited_seconds,
    }
    return seconds, events_per_command, shape


def _group_stats(app: CrmApplication) -> GroupStats:
    """The group commit's running figures (services/storage/group_commit.py)."""
    recorder = app.recorder
    assert isinstance(recorder, PostgresTimerRecorder)
    return recorder.group_commit.stats


def _raw(url: str, r: Round, events_per_command: list[list[int]], shape: dict[str, Any]) -> float:
    """INSERT as many rows as each of our commands appended, of the same size, + COMMIT."""
    state = random.Random(0).randbytes(shape["average_state_bytes"])
    topic = "domain.lead:Lead.InteractionLogged"[: shape["average_topic_chars"]]
    raw = f"raw_append_{r.label}"
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
    connections = [psycopg.connect(url) for _ in range(r.threads)]

    def work(index: int) -> None:
        conn = connections[index]
        ids = [uuid.uuid4() for _ in range(r.leads_per_thread)]
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

    say(f"append: {r.label}: raw, {r.commands:,} INSERT+COMMIT transactions on {r.threads} thread(s)")
    try:
        return _run_threads(r.threads, work)
    finally:
        for conn in connections:
            conn.close()


def _eventsourcing(peer: PeerLeadApplication, r: Round) -> float:
    """Capture fresh peer leads (not timed), then time the same command on them."""
    leads = [
        [
            peer.capture(f"Peer Lead {r.label}-{t}-{i}", f"peer-{r.label}-{t}-{i}@bench.example")
            for i in range(r.leads_per_thread)
        ]
        for t in range(r.threads)
    ]

    def work(index: int) -> None:
        rng = random.Random(index)
        mine = leads[index]
        for n in range(r.per_thread):
            peer.log_interaction(mine[n % len(mine)], rng.choice(KINDS).value)

    say(f"append: {r.label}: eventsourcing peer, {r.commands:,} commands on {r.threads} thread(s)")
    return _run_threads(r.threads, work)


CRUD_TABLES = (
    "CREATE TABLE IF NOT EXISTS crud_leads (id uuid PRIMARY KEY, name text NOT NULL, email text NOT NULL, "
    "company text, status text NOT NULL DEFAULT 'new', score integer NOT NULL DEFAULT 0, "
    "interactions integer NOT NULL DEFAULT 0, last_kind text, updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS crud_interactions (id bigserial PRIMARY KEY, "
    "lead_id uuid NOT NULL REFERENCES crud_leads (id), kind text NOT NULL, actor text NOT NULL, "
    "occurred_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS crud_interactions_lead_idx ON crud_interactions (lead_id)",
)


def _crud(url: str, r: Round) -> float:
    """Insert fresh lead rows (not timed), then time UPDATE lead + INSERT interaction + COMMIT."""
    leads = [[uuid.uuid4() for _ in range(r.leads_per_thread)] for _ in range(r.threads)]
    with psycopg.connect(url) as conn:
        for statement in CRUD_TABLES:
            conn.execute(statement)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO crud_leads (id, name, email, company) VALUES (%s, %s, %s, 'Acme')",
                [(lead, f"Crud Lead {lead}", f"crud-{lead}@bench.example") for mine in leads for lead in mine],
            )
    connections = [psycopg.connect(url) for _ in range(r.threads)]

    def work(index: int) -> None:
        rng = random.Random(index)
        conn, mine = connections[index], leads[index]
        for n in range(r.per_thread):
            lead, kind = mine[n % len(mine)], rng.choice(KINDS).value
            conn.execute(
                "UPDATE crud_leads SET interactions = interactions + 1, last_kind = %s, updated_at = now() "
                "WHERE id = %s",
                [kind, lead],
            )
            conn.execute("INSERT INTO crud_interactions (lead_id, kind, actor) VALUES (%s, %s, 'bench')", [lead, kind])
            conn.commit()

    say(f"append: {r.label}: CRUD peer, {r.commands:,} UPDATE+INSERT transactions on {r.threads} thread(s)")
    try:
        return _run_threads(r.threads, work)
    finally:
        for conn in connections:
            conn.close()


# --- the figures -----------------------------------------------------------------------------


def run(servers: Servers) -> list[Figure]:
    """Commands/s of the application against eventsourcing, CRUD and raw INSERT+COMMIT."""
    url = servers.database("append")
    app = bootstrap(Settings(database_url=url))
    peer = peer_application(url)
    try:
        return [figure for threads in THREADS for figure in _measure(app, peer, url, threads)]
    finally:
        peer.close()
        app.close()


def _measure(app: CrmApplication, peer: PeerLeadApplication, url: str, threads: int) -> list[Figure]:
    per_thread = COMMANDS[threads] // threads
    leads_per_thread = max(1, per_thread // COMMANDS_PER_LEAD)
    with_peers = threads == max(THREADS)
    seconds: dict[str, list[float]] = {"ours": [], "raw": [], "eventsourcing": [], "crud": []}
    shapes: list[dict[str, Any]] = []
    for n in range(RUNS):
        r = Round(threads, per_thread, leads_per_thread, f"t{threads}r{n + 1}")
        ours_seconds, events_per_command, shape = _ours(app, url, r)
        seconds["ours"].append(ours_seconds)
        shapes.append(shape)
        if with_peers:
            seconds["eventsourcing"].append(_eventsourcing(peer, r))
            seconds["crud"].append(_crud(url, r))
        seconds["raw"].append(_raw(url, r, events_per_command, shape))
    commands = threads * per_thread
    rates = {side: [commands / s for s in runs] for side, runs in seconds.items()}
    appends, groups = sum(s["grouped_appends"] for s in shapes), sum(s["groups"] for s in shapes)
    say(f"append: {threads} thread(s): {appends:,} appends in {groups:,} transactions (group commit)")
    say(
        f"append: {threads} thread(s): "
        + ", ".join(f"{side} {median(r):,.0f}" for side, r in rates.items() if r)
        + " commands/s (medians)"
    )
    events = sum(s["events"] for s in shapes)
    details = {
        "threads": threads,
        "leads_per_round": threads * leads_per_thread,
        "rounds": RUNS,
        "events_appended_by_ours": events,
        "events_per_command": round(events / (commands * RUNS), 2),
        "average_state_bytes": round(median([s["average_state_bytes"] for s in shapes])),
        "mean_stream_length_after": round(median([s["mean_stream_length_after"] for s in shapes]), 1),
        "group_commit": {
            "appends_per_transaction": round(
                sum(s["grouped_appends"] for s in shapes) / max(1, sum(s["groups"] for s in shapes)), 2
            ),
            "largest_group": max(s["largest_group"] for s in shapes),
            "mean_wait_ms": round(
                1000 * sum(s["group_wait_seconds"] for s in shapes) / max(1, sum(s["grouped_appends"] for s in shapes)),
                2,
            ),
        },
        "seconds": {side: [round(x, 2) for x in runs] for side, runs in seconds.items() if runs},
        "commands_per_second": {side: [round(x) for x in r] for side, r in rates.items() if r},
    }
    plural = "s" if threads > 1 else ""
    peers = [
        (
            "raw",
            f"append_{threads}_vs_raw",
            f"1. command append, {threads} thread{plural} (PostgreSQL)",
            "psycopg INSERT of the same number of rows of the same size + COMMIT, same threads",
        )
    ]
    if with_peers:
        peers += [
            (
                "eventsourcing",
                f"append_{threads}_vs_eventsourcing",
                f"1. command append, {threads} threads, against a bare eventsourcing Application",
                "eventsourcing 9.5 Application + minimal Lead aggregate (repository.get, one event, save), "
                "eventsourcing.postgres, same POSTGRES_* settings, same threads",
            ),
            (
                "crud",
                f"append_{threads}_vs_crud",
                f"1. command append, {threads} threads, against CRUD",
                "psycopg: UPDATE the lead row + INSERT the interaction row in one transaction, same threads",
            ),
        ]
    figures = []
    for side, id, name, baseline_what in peers:
        target = TARGETS[id][0] if id in TARGETS else ratio_at_least(0.3)
        figures.append(
            Figure(
                name=name,
                ours=median(rates["ours"]),
                baseline=median(rates[side]),
                unit="commands/s",
                higher_is_better=True,
                sample=commands,
                sample_unit="commands per run",
                what="log_lead_interaction on pre-captured leads, distinct leads per thread",
                baseline_what=baseline_what + f" (runs interleaved with ours, {RUNS} rounds)",
                target=target,
                details=details,
                id=id,
                value_is="ratio",
                ours_runs=rates["ours"],
                baseline_runs=rates[side],
            )
        )
    return figures


if __name__ == "__main__":
    main(run, "append")
