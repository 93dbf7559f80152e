"""`crm serve --workers N` on PostgreSQL: several processes answer on one port, exactly one of
them keeps the read models (the holder of its leader lock), a client reads its writes whichever
worker answers, and when the keeper dies another takes over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.storage.leader_lock import lock_key
from tests.e2e.test_serve_demo import Demo, crm, demo_server

pytestmark = pytest.mark.postgres

KEEPS = r"crm: process (\d+) keeps the read models"
READS = r"crm: another process keeps the read models; process (\d+) reads them"


def until(what: str, condition: Any, demo: Demo, seconds: float = 60) -> Any:
    """Wait for `condition()` to be truthy; its value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: {''.join(demo.stderr)[-3000:]}"
        time.sleep(0.05)
    return value


def keepers(demo: Demo) -> list[int]:
    return [int(pid) for pid in re.findall(KEEPS, "".join(demo.stderr))]


def holders(database_url: str, name: str) -> int:
    """How many sessions hold the advisory lock of that name."""
    key = lock_key(name) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
    assert row is not None
    return int(row[0])


def writes_are_read(demo: Demo, token: str, times: int) -> None:
    """Capture leads and list each at its position, every request on a new connection, so that
    the workers share them out."""
    auth = {"Authorization": f"Bearer {token}", "Connection": "close"}
    for n in range(times):
        email = f"worker-{time.monotonic_ns()}-{n}@example.com"
        made = httpx.post(
            f"{demo.base_url}/v1/leads",
            json={"name": "Ann Other", "email": email, "source": "event"},
            headers=auth,
            trust_env=False,
        )
        assert made.status_code == 201, made.text
        listed = httpx.get(
            f"{demo.base_url}/v1/leads",
            params={"min_position": made.json()["position"], "email": email},
            headers=auth,
            trust_env=False,
            timeout=30,
        )
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [made.json()["id"]]


def test_one_worker_keeps_the_read_models_every_worker_reads_its_writes_and_another_takes_over(
    postgres_url: str, tmp_path: Path
) -> None:
    lock = f"crm-projections:{postgres_url.rsplit('/', 1)[1]}"
    issued = crm(postgres_url, tmp_path, "token", "issue", "--user", "root", "--role", "admin")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    with demo_server(postgres_url, tmp_path, automation="separate", extra=("--workers", "2"), demo=False) as demo:
        # both workers up: one keeps the read models, the other reads them
        [keeper] = until("a keeper", lambda: keepers(demo), demo)
        until("a reader", lambda: re.search(READS, "".join(demo.stderr)), demo)
        assert holders(postgres_url, lock) == 1

        writes_are_read(demo, token, 20)

        # when the keeper dies, another worker (or the one started in its place) takes over
        os.kill(keeper, signal.SIGKILL)
        [successor] = until("a successor", lambda: keepers(demo)[1:], demo)
        assert successor != keeper
        writes_are_read(demo, token, 5)
        assert holders(postgres_url, lock) == 1


def test_workers_are_refused_on_the_embedded_store(tmp_path: Path) -> None:
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}"}
    refused = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--workers needs PostgreSQL" in refused.stderr
