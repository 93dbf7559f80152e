"""Figure 8 — automation: timers fired per second, and how late a timer fires, on PostgreSQL
and SQLite.

The timers are score-decay timers, set through the application's own commands: a lead whose
demo is back-dated has its decay timer (`decay:<lead id>`) due when decay changes its rounded
score, and firing it rescores the lead as of then (`services/automation/decay.py`).

(a) Throughput. Ours: `Scheduler.run_due()` on N leads whose timer is due (one generation each):
find the due timers a batch at a time, load each lead, rescore it, append its `lead.scored` event
with the firing recorded and the timer re-armed in the same transaction; in three passes of N/3.
Baseline: the same rescore command (`rescore_lead` as of a timer's due time) called directly, on
N/2 leads set up alike in another database: the action without finding the timer or recording
its firing (median of 3 runs; each run rescores every lead once more, at its next due time).
Each baseline run follows one pass of ours, so that both sides see the same load.

(b) Delay, from a timer's due time to its firing (`fired_at - due_at` of each firing in the
firing log). Ours: the automation engine (`services.bootstrap.automation`, the same as in
`crm automate`) in a thread on the system clock, while K timers fall due one after another,
evenly spread over a few seconds. Baseline: the smallest loop of the same design, at the same
poll interval, on the same database: a table of K bare timers (id, due_at, fired_at), a loop that
selects the due ones, marks each fired in a transaction of its own, and waits one poll interval
when none was due. Both run with the shipped interval (0.5 s) and a short one (0.05 s, set by
`CRM_AUTOMATION_POLL_SECONDS`)."""

from __future__ import annotations

import base64
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from bench.common import BASELINE_RUNS, Figure, Servers, main, median_run, percentile, say, size
from domain.lead import DECAY_TIMER
from domain.scoring import LeadFacts, ScoredInteraction, next_score_change
from domain.values import InteractionKind, LeadSource
from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead, LogInteraction, RescoreLead
from services.automation.scheduler import Scheduler
from services.bootstrap import automation, bootstrap, open_read_models, timer_kinds
from services.settings import Settings

DUE_TIMERS = size(2000, 300)
"""N: the due timers one scheduler pass fires."""
BASELINE_COMMANDS = DUE_TIMERS // 2
"""The rescores of each of the 3 baseline runs (a rate needs no larger sample; setting up the
leads is what takes the time)."""
DELAY_TIMERS = size(300, 60)
"""K: the timers falling due while the engine runs."""
DELAY_SPREAD_SECONDS = size(10, 4)
"""The K due times are spread evenly over this many seconds."""
POLL_INTERVALS = (0.5, 0.05)
"""The engine's poll interval: the default of CRM_AUTOMATION_POLL_SECONDS, and a short one."""
BATCH = 200
"""As many due timers as the scheduler asks for at a time (its default)."""
BENCH = Context(actor="bench", correlation_id="bench-timers")
FACTS = LeadFacts(title="CTO", company="Acme", source=LeadSource.WEB_FORM)
CAPTURED_AGO = timedelta(days=60)
"""Every lead is captured this long ago (no interaction yet: no timer)."""


def _capture(n: int, label: str, at: datetime) -> CaptureLead:
    return CaptureLead(
        name=f"Timer Lead {label} {n}",
        email=f"timer-{label}-{n}@bench.example",
        company=FACTS.company,
        title=FACTS.title,
        source=FACTS.source,
        estimated_value=5_000_00,
        occurred_at=at,
    )


def _decay_steps(app: CrmApplication, steps: int) -> list[timedelta]:
    """How long after a demo decay changes the rounded score of a bench lead, for the first
    `steps` changes (the application's scoring model)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    demo = [ScoredInteraction(kind=InteractionKind.DEMO, occurred_at=start)]
    offsets, at = [], start
    for _ in range(steps):
        due = next_score_change(FACTS, demo, at, app.scoring)
        assert due is not None, "a demo's points decay"
        offsets.append(due - start)
        at = due
    return offsets


@dataclass
class Store:
    """A fresh store (PostgreSQL database or SQLite file) of one benchmark run."""

    backend: str
    settings: Settings
    app: CrmApplication

    def close(self) -> None:
        self.app.close()


@contextmanager
def _store(servers: Servers, backend: str, label: str) -> Iterator[Store]:
    if backend == "postgres":
        url = servers.database(label)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix=f'crm-bench-{label}-')) / 'crm.sqlite'}"
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(database_url=url, master_key=key)
    store = Store(backend, settings, bootstrap(settings))
    try:
        yield store
    finally:
        store.close()


def _leads_due(app: CrmApplication, count: int, label: str, demo_at: Callable[[int], datetime]) -> list[UUID]:
    """`count` leads captured long ago, then each given a demo at `demo_at(n)`; their ids."""
    captured_at = datetime.now(UTC) - CAPTURED_AGO
    ids = [app.capture_lead(_capture(n, label, captured_at), BENCH).id for n in range(count)]
    for n, lead_id in enumerate(ids):
        app.log_lead_interaction(lead_id, LogInteraction(kind=InteractionKind.DEMO, occurred_at=demo_at(n)), BENCH)
    return ids


# --- (a) throughput ------------------------------------------------------------------------


def _throughput(servers: Servers, backend: str) -> tuple[Figure, float]:
    """Timers fired per second by the scheduler, against the same rescores called directly;
    also the seconds one lead took to set up (capture and demo). The scheduler fires its N timers
    in three passes of N/3, each followed by one baseline run, so that a machine whose load
    changes from minute to minute slows both sides alike."""
    with _store(servers, backend, "timers_ours") as ours, _store(servers, backend, "timers_base") as base:
        first, second = _decay_steps(ours.app, 2)
        assert second - first > timedelta(hours=2)
        demo_at = datetime.now(UTC) - first - timedelta(hours=1)  # due an hour ago, the next hours away
        say(f"timers: {backend}: {DUE_TIMERS} leads with a due decay timer")
        began = time.perf_counter()
        _leads_due(ours.app, DUE_TIMERS, "ours", lambda n: demo_at)
        setup_per_lead = (time.perf_counter() - began) / DUE_TIMERS
        steps = _decay_steps(base.app, BASELINE_RUNS)
        base_demo_at = datetime.now(UTC) - steps[-1] - timedelta(hours=1)  # one change due per run
        say(f"timers: {backend}: baseline, {BASELINE_COMMANDS} leads with {BASELINE_RUNS} decay steps due")
        leads = _leads_due(base.app, BASELINE_COMMANDS, "base", lambda n: base_demo_at)
        scheduler = Scheduler(ours.app, timer_kinds(), batch_size=BATCH)
        passes = [DUE_TIMERS // BASELINE_RUNS + (k < DUE_TIMERS % BASELINE_RUNS) for k in range(BASELINE_RUNS)]
        ours_runs: list[float] = []
        outcomes: dict[str, int] = {}

        def scheduler_pass(run: int) -> None:
            say(f"timers: {backend}: scheduler pass {run + 1}, {passes[run]} of {DUE_TIMERS} due timers")
            began = time.perf_counter()
            fired = scheduler.run_due(limit=passes[run])
            ours_runs.append(time.perf_counter() - began)
            for outcome, n in fired.outcomes.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n

        def baseline_run(run: int) -> float:
            scheduler_pass(run)
            due = []
            for lead_id in leads:
                stored = base.app.timers.stored_timer(f"{DECAY_TIMER}:{lead_id}")
                assert stored is not None and stored.timer.due_at < datetime.now(UTC)
                due.append((lead_id, stored.timer.due_at))
            say(f"timers: {backend}: baseline run {run + 1}, {BASELINE_COMMANDS} rescore commands")
            began = time.perf_counter()
            for lead_id, at in due:
                base.app.rescore_lead(lead_id, RescoreLead(occurred_at=at), BENCH)
            return time.perf_counter() - began

        base_seconds, base_runs = median_run(baseline_run, BASELINE_RUNS)
        assert outcomes == {"done": DUE_TIMERS}, outcomes
        assert not ours.app.timers.due_timers(datetime.now(UTC), 1, [DECAY_TIMER]), "every due timer fired"
    ours_seconds = sum(ours_runs)
    figure = Figure(
        name=f"8. timers fired by the scheduler ({backend_name(backend)})",
        ours=DUE_TIMERS / ours_seconds,
        baseline=BASELINE_COMMANDS / base_seconds,
        unit="timers/s",
        higher_is_better=True,
        sample=DUE_TIMERS,
        sample_unit="timers",
        what="Scheduler.run_due over N due decay timers (3 passes): rescore, append, record the firing, re-arm",
        baseline_what=(
            "the same rescore_lead command called directly, as of the due times, N/2 a run "
            "(median of 3, each run after a pass)"
        ),
        details={
            "backend": backend,
            "batch_size": BATCH,
            "ours_seconds": round(ours_seconds, 2),
            "ours_passes": passes,
            "ours_passes_seconds": [round(x, 2) for x in ours_runs],
            "baseline_seconds": round(base_seconds, 2),
            "baseline_runs_seconds": [round(x, 2) for x in base_runs],
            "baseline_commands_per_run": BASELINE_COMMANDS,
            "setup_seconds_per_lead": round(setup_per_lead, 4),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    )
    say(f"timers: {backend}: {figure.ours:,.0f} timers/s against {figure.baseline:,.0f} rescores/s")
    return figure, setup_per_lead


def backend_name(backend: str) -> str:
    return "PostgreSQL" if backend == "postgres" else "SQLite"


# --- (b) delay -----------------------------------------------------------------------------


def _due_times(count: int, setup_per_lead: float) -> list[datetime]:
    """`count` due times evenly spread over the window, starting once `count` leads' demos
    (at `setup_per_lead` seconds each, with room to spare) can have been logged."""
    start = datetime.now(UTC) + timedelta(seconds=1.0 + 1.5 * count * setup_per_lead)
    step = timedelta(seconds=DELAY_SPREAD_SECONDS / count)
    return [start + n * step for n in range(count)]


def _stats(delays: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(delays, 50) * 1000, 1),
        "p99_ms": round(percentile(delays, 99) * 1000, 1),
        "max_ms": round(max(delays) * 1000, 1),
        "mean_ms": round(sum(delays) / len(delays) * 1000, 1),
    }


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.05)


def _engine_delays(servers: Servers, backend: str, poll: float, setup_per_lead: float) -> dict[str, Any]:
    """The engine running while K timers fall due: each firing's delay, in seconds."""
    with _store(servers, backend, "timers_delay") as store:
        offset = _decay_steps(store.app, 1)[0]
        captured_at = datetime.now(UTC) - CAPTURED_AGO
        say(f"timers: {backend}: poll {poll:g} s: capturing {DELAY_TIMERS} leads")
        began = time.perf_counter()
        ids = [store.app.capture_lead(_capture(n, "delay", captured_at), BENCH).id for n in range(DELAY_TIMERS)]
        per_command = (time.perf_counter() - began) / DELAY_TIMERS
        due_times = _due_times(DELAY_TIMERS, max(per_command, setup_per_lead / 2))
        for lead_id, due in zip(ids, due_times, strict=True):
            store.app.log_lead_interaction(
                lead_id, LogInteraction(kind=InteractionKind.DEMO, occurred_at=due - offset), BENCH
            )
        read_models = open_read_models(store.settings)
        engine = automation(store.app, read_models, store.settings, poll_interval=poll)
        try:
            engine.start()
            started = datetime.now(UTC)
            say(f"timers: {backend}: poll {poll:g} s: {DELAY_TIMERS} timers due over {DELAY_SPREAD_SECONDS} s")
            window = (due_times[-1] - started).total_seconds()
            _wait(
                lambda: len(store.app.timers.firing_log(limit=DELAY_TIMERS + 1)) >= DELAY_TIMERS,
                window + 60,
                "every timer fired",
            )
        finally:
            engine.stop()
            read_models.close()
        log = store.app.timers.firing_log(limit=DELAY_TIMERS + 1)
        on_time = [r for r in log if r.due_at >= started]
        delays = [(r.fired_at - r.due_at).total_seconds() for r in on_time]
        baseline = _raw_poller_delays(store, poll)
    return {
        "ours": _stats(delays),
        "baseline": _stats(baseline),
        "timers": len(delays),
        "due_before_the_engine_started": len(log) - len(on_time),
        "outcomes": sorted({r.outcome for r in log}),
    }


class _RawTimers:
    """A bare timers table and its statements, on a connection of its own to the store's
    database (PostgreSQL or SQLite): the poller thread has one, the thread that waits another."""

    def __init__(self, store: Store) -> None:
        if store.backend == "postgres":
            self.conn: Any = psycopg.connect(store.settings.database_url)
            self.p = "%s"
        else:
            self.conn = sqlite3.connect(store.settings.database.path, timeout=10)
            self.p = "?"

    def create(self, due_times: list[datetime]) -> None:
        self.conn.execute("CREATE TABLE raw_timers (timer_id TEXT PRIMARY KEY, due_at TEXT NOT NULL, fired_at TEXT)")
        self.conn.execute("CREATE INDEX raw_timers_due ON raw_timers (due_at) WHERE fired_at IS NULL")
        self.conn.cursor().executemany(
            f"INSERT INTO raw_timers (timer_id, due_at) VALUES ({self.p}, {self.p})",
            [(f"raw:{n}", due.isoformat(timespec="microseconds")) for n, due in enumerate(due_times)],
        )
        self.conn.commit()

    def due(self, now: datetime) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            f"SELECT timer_id, due_at FROM raw_timers WHERE fired_at IS NULL AND due_at <= {self.p} "
            f"ORDER BY due_at, timer_id LIMIT {BATCH}",
            (now.isoformat(timespec="microseconds"),),
        ).fetchall()
        self.conn.commit()
        return [(str(r[0]), str(r[1])) for r in rows]

    def fire(self, timer_id: str) -> None:
        self.conn.execute(
            f"UPDATE raw_timers SET fired_at = {self.p} WHERE timer_id = {self.p} AND fired_at IS NULL",
            (datetime.now(UTC).isoformat(timespec="microseconds"), timer_id),
        )
        self.conn.commit()

    def delays(self) -> list[float]:
        rows = self.conn.execute("SELECT due_at, fired_at FROM raw_timers WHERE fired_at IS NOT NULL").fetchall()
        self.conn.commit()
        return [(datetime.fromisoformat(f) - datetime.fromisoformat(d)).total_seconds() for d, f in rows]

    def close(self) -> None:
        self.conn.close()


def _raw_poller_delays(store: Store, poll: float) -> list[float]:
    """The same number of bare timers due over the same window, fired by the smallest poller."""
    watcher = _RawTimers(store)
    try:
        due_times = _due_times(DELAY_TIMERS, 0.0)
        watcher.create(due_times)
        stop = threading.Event()

        def poller() -> None:
            raw = _RawTimers(store)
            try:
                while not stop.is_set():
                    due = raw.due(datetime.now(UTC))
                    for timer_id, _ in due:
                        raw.fire(timer_id)
                    if not due:
                        stop.wait(poll)
            finally:
                raw.close()

        thread = threading.Thread(target=poller, name="raw-timer-poller")
        thread.start()
        try:
            window = (due_times[-1] - datetime.now(UTC)).total_seconds()
            say(f"timers: {store.backend}: poll {poll:g} s: baseline, {DELAY_TIMERS} bare timers")
            _wait(lambda: len(watcher.delays()) >= DELAY_TIMERS, window + 60, "every bare timer fired")
        finally:
            stop.set()
            thread.join()
        return watcher.delays()
    finally:
        watcher.close()


def _delay_figure(backend: str, poll: float, measured: dict[str, Any]) -> Figure:
    ours, base = measured["ours"], measured["baseline"]
    say(
        f"timers: {backend}: poll {poll:g} s: delay p50 {ours['p50_ms']:.0f} / p99 {ours['p99_ms']:.0f} / "
        f"max {ours['max_ms']:.0f} ms; bare poller p50 {base['p50_ms']:.0f} / p99 {base['p99_ms']:.0f} / "
        f"max {base['max_ms']:.0f} ms"
    )
    return Figure(
        name=f"8. timer delay p99, poll {poll:g} s ({backend_name(backend)})",
        ours=ours["p99_ms"],
        baseline=base["p99_ms"],
        unit="ms",
        higher_is_better=False,
        sample=measured["timers"],
        sample_unit="timers",
        what=f"due time -> firing, automation engine in a thread, {DELAY_TIMERS} timers over {DELAY_SPREAD_SECONDS} s",
        baseline_what="a bare SELECT-due / UPDATE-fired loop at the same poll interval, same database and timers",
        details={
            "backend": backend,
            "poll_interval_seconds": poll,
            **measured,
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    )


def run(servers: Servers) -> list[Figure]:
    """Timers fired per second and the delay from due time to firing, PostgreSQL and SQLite."""
    figures: list[Figure] = []
    for backend in ("postgres", "sqlite"):
        throughput, setup_per_lead = _throughput(servers, backend)
        figures.append(throughput)
        for poll in POLL_INTERVALS:
            figures.append(_delay_figure(backend, poll, _engine_delays(servers, backend, poll, setup_per_lead)))
    return figures


if __name__ == "__main__":
    main(run, "timers")
