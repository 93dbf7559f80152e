"""The `crm` command line, run as a user runs it: a subprocess with CRM_DATABASE_URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.bootstrap import bootstrap
from services.settings import Settings
from tests.integration.conftest import BACKENDS

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]


def crm(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_seed_writes_a_reproducible_history_and_a_rerun_appends_nothing(database_url: str) -> None:
    # when
    first = crm(database_url, "seed", "--leads", "40", "--seed", "7", "--end", "2026-06-01")
    again = crm(database_url, "seed", "--leads", "40", "--seed", "7", "--end", "2026-06-01")
    # then
    assert first.returncode == 0, first.stderr
    written = int(re.search(r"(\d+) events in", first.stdout).group(1))  # type: ignore[union-attr]
    assert written > 40 * 3
    assert "events/s" in first.stdout
    assert " 0 events in" in again.stdout
    app = bootstrap(Settings(database_url=database_url))
    try:
        assert app.head_position() == written
        types = {n.topic.rsplit(".", 1)[-1] for n in app.recorder.select_notifications(start=1, limit=written)}
        assert {"Captured", "Assigned", "StageChanged", "Converted", "Disqualified", "PurchaseRecorded"} <= types
    finally:
        app.close()


def test_the_same_seed_gives_the_same_history(tmp_path: Path) -> None:
    histories = []
    for run in ("a", "b"):
        url = f"sqlite:///{tmp_path / run}.sqlite"
        assert crm(url, "seed", "--leads", "15", "--seed", "3", "--end", "2026-06-01").returncode == 0
        app = bootstrap(Settings(database_url=url))
        try:
            histories.append(
                [(n.originator_id, n.originator_version, n.topic) for n in app.recorder.select_notifications(1, 10**6)]
            )
        finally:
            app.close()
    assert histories[0] == histories[1] and histories[0]


def test_history_prints_the_audit_trail_and_fails_for_an_unknown_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    crm(url, "seed", "--leads", "3", "--end", "2026-06-01")
    app = bootstrap(Settings(database_url=url))
    try:
        lead_id = next(iter(app.recorder.select_notifications(1, 1))).originator_id
    finally:
        app.close()
    shown = crm(url, "history", str(lead_id))
    assert shown.returncode == 0 and "lead.captured" in shown.stdout and "lead.scored" in shown.stdout
    missing = crm(url, "history", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = crm(url, "history", "not-a-uuid")
    assert bad.returncode == 2 and "not a UUID" in bad.stderr
