"""A PostgreSQL outage under load, end to end: a real uvicorn over a PostgreSQL server of this
test's own, stopped the hard way (`pg_ctl stop -m immediate`) while a client keeps writing, then
started again on the same port and data directory. The server is never restarted.

The promise: while the database is down every request answers 503 problem+json with
`Retry-After` within 2 s (the client's timeout), `/healthz` still answers 200 and `/readyz` 503;
once it is back `/readyz` turns 200 by itself, every write acknowledged before, during or after the
outage is in the event store exactly once, and new writes succeed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import running_postgres
from tests.e2e.conftest import LEAD, LiveServer, live_server, problem
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

PROMISE_SECONDS = 2.0
"""Every answer during the outage comes within this: the clients' timeout."""
MAX_WRITES = 5_000
LOAD_SECONDS = 120.0
"""Bounds of the write loop, whatever happens."""


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone (it is stopped mid-test), whose acknowledged
    commits survive the hard stop."""
    with running_postgres(crash_safe=True) as server:
        yield server


@dataclass(frozen=True)
class Answer:
    """One write the loop sent: when, what came back (None: no answer in time), and the lead id
    of an acknowledged one."""

    started: float
    ended: float
    status: int | None
    retry_after: str | None = None
    content_type: str = ""
    lead_id: str | None = None


@dataclass
class WriteLoop:
    """Captures leads one after another from a background thread until told to stop (or its
    bounds are reached), recording every answer."""

    client: httpx.Client
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="write-loop", daemon=True)

    def __enter__(self) -> WriteLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._thread.join(timeout=LOAD_SECONDS)
        self.client.close()

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        for index in range(MAX_WRITES):
            if self.stopping.is_set() or time.monotonic() > deadline:
                return
            self.answers.append(self._write(index))

    def _write(self, index: int) -> Answer:
        started = time.monotonic()
        try:
            response = self.client.post("/v1/leads", json={**LEAD, "email": f"writer{index}@acme.example"})
        except httpx.TimeoutException:
            return Answer(started, time.monotonic(), None)
        acknowledged = response.status_code in (200, 201)
        return Answer(
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("Retry-After"),
            response.headers.get("content-type", ""),
            response.json()["id"] if acknowledged else None,
        )

    def acknowledged(self) -> list[str]:
        """The lead ids of every write answered 201 or 200."""
        return [a.lead_id for a in list(self.answers) if a.lead_id is not None]

    def between(self, start: float, end: float) -> list[Answer]:
        """The writes sent and answered entirely within (start, end)."""
        return [a for a in list(self.answers) if a.started > start and a.ended < end]


def eventually(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until it holds; returns the seconds it took (fails after `timeout`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def answers(client: httpx.Client, path: str) -> httpx.Response | None:
    """GET `path`; None when the server does not answer within the client's timeout."""
    try:
        return client.get(path)
    except httpx.TransportError:
        return None


def crm_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A `crm` command as an operator runs it, which must be done within 10 s."""
    env = {**os.environ, "CRM_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=10
    )


def test_a_database_outage_answers_503_fast_and_the_server_recovers_by_itself_without_losing_a_write(
    own_postgres: PostgresServer,
) -> None:
    database_url = own_postgres.create_database("crm")
    with live_server(database_url) as live, client_of(live) as client:
        with WriteLoop(client_of(live)) as load:
            # given a server taking writes
            eventually(lambda: len(load.acknowledged()) >= 20, 30, "20 writes acknowledged")
            lead_id = load.acknowledged()[0]

            # when the database stops the hard way, mid-load
            own_postgres.halt()
            down_at = time.monotonic()

            # then every request answers 503 with Retry-After, in time; liveness is unaffected
            assert_outage_answers(client, lead_id)
            eventually(lambda: len(load.between(down_at, time.monotonic())) >= 3, 30, "3 writes during the outage")
            assert_a_command_says_it_cannot_reach_the_database(database_url)

            # when it is back
            own_postgres.resume()
            up_at = time.monotonic()
            eventually(lambda: status_of(answers(client, "/readyz")) == 200, 60, "/readyz answers 200 again")
            eventually(lambda: len(load.between(up_at, time.monotonic())) >= 20, 60, "writes after the outage")

        # then the outage answered 503 in time, and nothing acknowledged was lost or doubled
        assert_all_unavailable(load.between(down_at, up_at))
        assert_in_the_store_exactly_once(live, load.acknowledged())
        assert live.read_side.wait_for(live.crm.head_position(), 30), "the read models did not catch up"


def client_of(live: LiveServer) -> httpx.Client:
    """An admin client that gives up after the promised time."""
    token = live.tokens.issue("outage-admin", "admin")
    return httpx.Client(
        base_url=live.base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=PROMISE_SECONDS,
        trust_env=False,
    )


def status_of(response: httpx.Response | None) -> int | None:
    return None if response is None else response.status_code


def assert_outage_answers(client: httpx.Client, lead_id: str) -> None:
    """While the database is down: the routes answer 503 store-unavailable with Retry-After
    (each within the client's timeout), /readyz 503 naming the failed check, /healthz 200."""
    for path in (f"/v1/leads/{lead_id}", "/v1/leads", "/v1/pipeline"):
        response = answers(client, path)
        assert response is not None, f"{path} did not answer within {PROMISE_SECONDS} s"
        assert problem(response, 503)["type"].endswith("/store-unavailable"), response.text
        assert response.headers["Retry-After"].isdigit()
    ready = answers(client, "/readyz")
    assert ready is not None, f"/readyz did not answer within {PROMISE_SECONDS} s"
    assert problem(ready, 503)["checks"]["event_store"] == "failed" and ready.headers["Retry-After"].isdigit()
    alive = answers(client, "/healthz")
    assert alive is not None and alive.status_code == 200 and alive.json() == {"status": "ok"}


def assert_a_command_says_it_cannot_reach_the_database(database_url: str) -> None:
    """`crm status` says so in one line and exits 1, within 10 s."""
    failed = crm_command(database_url, "status")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith("crm: cannot reach the database ") and "Traceback" not in failed.stderr


def assert_all_unavailable(outage: list[Answer]) -> None:
    """Each write sent and answered while the database was down got 503 problem+json with
    Retry-After, and none went unanswered."""
    assert outage, "no write was sent while the database was down"
    for answer in outage:
        assert answer.status == 503, answer
        assert answer.content_type.startswith("application/problem+json") and (answer.retry_after or "").isdigit()


def assert_in_the_store_exactly_once(live: LiveServer, acknowledged: list[str]) -> None:
    """Every acknowledged lead was captured once in the event store (and only once acknowledged)."""
    assert len(set(acknowledged)) == len(acknowledged)
    head = live.crm.head_position()
    notifications = live.crm.recorder.select_notifications(start=1, limit=head)
    captured = Counter(str(n.originator_id) for n in notifications if n.topic.endswith(".Captured"))
    assert {lead: captured[lead] for lead in acknowledged} == dict.fromkeys(acknowledged, 1)
