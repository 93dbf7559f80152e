"""The scheduler under real faults on PostgreSQL: `crm automate` processes killed with SIGKILL in
the middle of firing hundreds of due timers. Whatever the moment of the kill, every due timer
fires exactly once, its action (a decay rescore) happens exactly once, and nothing due is left.

The timers are score-decay timers set through the application itself: leads whose demo is
back-dated so that decay changed their rounded score an hour ago (and will change it next only
hours from now), so exactly one generation of each lead's timer is due."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from uuid import UUID

import pytest

from domain.catalogue import event_type_of
from domain.lead import DECAY_TIMER
from domain.scoring import LeadFacts, ScoredInteraction, next_score_change
from domain.values import InteractionKind, LeadSource
from services.app.application import CrmApplication
from services.app.commands import LogInteraction
from services.app.timers import StoredTimer
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.integration.factories import ALICE, capture
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
ATTEMPT_SIZES = (300, 900, 2700)
"""Due timers per attempt: a kill that lands after the last firing proves nothing, so the
attempt is repeated with more timers."""
LEADING = "crm: automation leading"


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail, naming `what`, when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.01)


@dataclass
class DueStore:
    """A PostgreSQL store with `size` leads whose decay timers are due, as they were set."""

    settings: Settings
    app: CrmApplication
    due: dict[str, StoredTimer]
    """The due generation of each lead's decay timer, by timer id."""

    def env(self) -> dict[str, str]:
        """The environment of a `crm` process on this store."""
        master_key = self.settings.master_key
        assert master_key is not None
        return {
            **os.environ,
            "CRM_DATABASE_URL": self.settings.database_url,
            "CRM_MASTER_KEY": master_key.get_secret_value(),
        }

    def fired(self) -> int:
        """How many firings the store has recorded."""
        return len(self.app.timers.firing_log(limit=len(self.due) + 1000))

    def fired_a_tenth(self) -> bool:
        """True once a tenth of the due timers fired."""
        return self.fired() >= len(self.due) // 10

    def automate(self, *args: str, stderr: IO[str] | int = subprocess.DEVNULL) -> subprocess.Popen[str]:
        """Start `crm automate` as an operator does."""
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "automate", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )


def decay_offsets(app: CrmApplication) -> tuple[timedelta, timedelta]:
    """For a lead of `capture()` with one demo: how long after the demo decay first changes its
    rounded score, and how long after that it changes it again (the application's model)."""
    facts = LeadFacts(title="CTO", company="Analytical Engines", source=LeadSource.REFERRAL)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    demo = [ScoredInteraction(kind=InteractionKind.DEMO, occurred_at=start)]
    first = next_score_change(facts, demo, start, app.scoring)
    assert first is not None
    second = next_score_change(facts, demo, first, app.scoring)
    assert second is not None
    return first - start, second - first


@contextmanager
def due_store(postgres_server: PostgresServer, size: int) -> Iterator[DueStore]:
    """A fresh database with `size` leads, each with exactly one generation of its decay timer
    due (an hour ago) and the next one hours away."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    master_key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(database_url=postgres_server.create_database(name), master_key=master_key)
    app = bootstrap(settings)
    try:
        first, second = decay_offsets(app)
        assert second > timedelta(hours=3), "the next change must be well after the test"
        demo_at = datetime.now(UTC) - first - timedelta(hours=1)
        due = {}
        for n in range(size):
            lead_id = app.capture_lead(capture(email=f"lead-{n}@example.com", occurred_at=demo_at), ALICE).id
            app.log_lead_interaction(lead_id, LogInteraction(kind=InteractionKind.DEMO, occurred_at=demo_at), ALICE)
            stored = app.timers.stored_timer(f"{DECAY_TIMER}:{lead_id}")
            assert stored is not None and stored.fired_at is None
            due[stored.timer.timer_id] = stored
        now = datetime.now(UTC)
        assert all(t.timer.due_at < now for t in due.values())
        assert len(app.timers.due_timers(now, size + 1, [DECAY_TIMER])) == size
        yield DueStore(settings, app, due)
    finally:
        app.close()
        try:
            postgres_server.drop_database(name)
        except Exception:
            pass  # the server and all its databases are thrown away at the end anyway


def assert_every_due_timer_fired_once_and_decayed_its_lead_once(store: DueStore) -> None:
    """One firing per due (timer, generation), one decay event per lead for that firing, nothing
    due left, and each timer re-armed for the next change."""
    app, due = store.app, store.due
    log = app.timers.firing_log(limit=len(due) + 1000)
    fired = Counter((record.timer_id, record.generation) for record in log)
    assert len(log) == len(due), f"{len(log)} firings for {len(due)} due timers"
    assert set(fired) == {(timer_id, stored.generation) for timer_id, stored in due.items()}
    assert max(fired.values()) == 1
    assert {record.outcome for record in log} == {"done"}
    for stored in due.values():
        assert_decayed_once(app, stored)
    now = datetime.now(UTC)
    assert app.timers.due_timers(now, 10, [DECAY_TIMER]) == [], "a due timer was left pending"


def assert_decayed_once(app: CrmApplication, stored: StoredTimer) -> None:
    """The lead has exactly one decay rescore, caused by the due generation's firing."""
    lead_id: UUID = stored.timer.aggregate_id
    events = list(app.events.get(lead_id))
    decays = [e for e in events if event_type_of(e) == "lead.scored" and e.reason == "decay"]  # type: ignore[attr-defined]
    assert len(decays) == 1, f"lead {lead_id} has {len(decays)} decay rescores"
    (decay,) = decays
    assert decay.actor == "automation:decay"  # type: ignore[attr-defined]
    assert decay.cause == stored.cause, "caused by the event that set the due generation"  # type: ignore[attr-defined]
    assert decay.correlation_id == f"timer:{stored.timer.timer_id}#{stored.generation}"  # type: ignore[attr-defined]
    assert decay.occurred_at == stored.timer.due_at  # type: ignore[attr-defined]
    automated = Counter(e.cause for e in events if e.actor.startswith("automation:"))  # type: ignore[attr-defined]
    assert max(automated.values()) == 1, f"lead {lead_id} was acted on twice for one cause"
    rearmed = app.timers.stored_timer(stored.timer.timer_id)
    assert rearmed is not None
    assert rearmed.generation == stored.generation + 1 and rearmed.fired_at is None
    assert rearmed.timer.due_at > datetime.now(UTC)


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: no handler runs, no transaction is finished, no lock is given back politely."""
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def leaders(logs: list[Path]) -> list[int]:
    """Which of the processes logging to these files said they lead."""
    return [n for n, path in enumerate(logs) if LEADING in path.read_text()]


def test_a_scheduler_killed_mid_batch_and_restarted_fires_every_due_timer_exactly_once(
    postgres_server: PostgresServer,
) -> None:
    for size in ATTEMPT_SIZES:
        with due_store(postgres_server, size) as store:
            # when crm automate is killed with SIGKILL once it has fired a tenth of the timers
            dying = store.automate()
            try:
                wait_until(store.fired_a_tenth, 60, "a tenth of the firings")
            finally:
                kill(dying)
            before = store.fired()
            if before == size:
                continue  # the kill came too late to prove anything: again, with more timers
            # and is started again until nothing is left to do
            restarted = subprocess.run(
                [sys.executable, "-m", "services.cli", "automate", "--until-idle"],
                cwd=ROOT,
                env=store.env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert restarted.returncode == 0, restarted.stderr[-4000:]
            # then it was killed mid-batch, and every due timer fired exactly once
            assert 0 < before < size, f"{before} of {size} fired before the kill"
            assert store.fired() - before == size - before, "the restart fired the rest"
            assert_every_due_timer_fired_once_and_decayed_its_lead_once(store)
            return
    pytest.fail(f"every attempt fired all its timers before the kill landed (sizes {ATTEMPT_SIZES})")


def test_two_automate_processes_fire_every_timer_once_and_the_waiting_one_takes_over_from_a_killed_leader(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    for size in ATTEMPT_SIZES:
        with due_store(postgres_server, size) as store:
            logs = [tmp_path / f"automate-{size}-{n}.log" for n in range(2)]
            files = [path.open("w") for path in logs]
            processes = [store.automate("--until-idle", stderr=file) for file in files]
            try:
                # given two processes started together: one leads, the other waits
                wait_until(store.fired_a_tenth, 60, "a tenth of the firings")
                assert len(leaders(logs)) == 1, "one process leads (it logs so before it fires)"
                (leader,) = leaders(logs)
                follower = 1 - leader
                assert processes[follower].poll() is None, "the waiting process is still waiting"
                # when the leader is killed with SIGKILL
                kill(processes[leader])
                before = store.fired()
                if before == size:
                    continue  # the leader was done before the kill: again, with more timers
                # then the other takes over and finishes
                assert processes[follower].wait(timeout=300) == 0, logs[follower].read_text()[-4000:]
                assert LEADING in logs[follower].read_text(), "the waiting process took over"
                assert 0 < before < size, f"{before} of {size} fired before the kill"
                assert_every_due_timer_fired_once_and_decayed_its_lead_once(store)
                return
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                        process.wait(timeout=30)
                for file in files:
                    file.close()
    pytest.fail(f"every attempt's leader fired all its timers before the kill landed (sizes {ATTEMPT_SIZES})")
